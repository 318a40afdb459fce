"""The imputation methods beyond the median and one round of regression (``fitting``): the train mean, KNN, MICE
and dropping incomplete train rows. docs/glue-etl.md ("Imputation") says when each one fits.

Every method is fitted on the train split only and written as ``impute`` steps of ``fitted.json``
(``fitted.imputation_steps``); the Glue job and the endpoint apply those steps with the same formulas
(``preprocessing.imputed_value``), so what training saw is what serving computes. Determinism: sums in the fixed
order of ``fitting.ordered_aggregates``, maxima (order-free), and a reference sample chosen by a hash of the id.

- ``mean``: the mean of the observed train values, summed in the canonical order.
- ``knn``: ``preprocessing.knn_value`` (scikit-learn's ``KNNImputer`` on standardised features) against a reference
  set of at most ``knn_reference_rows`` train rows complete in every imputed column: the rows with the smallest
  ``crc32("<split_seed>:knn:<event_id>")``. Each missing value is compared with every reference row (a cross
  join with a broadcast set: O(missing rows x R), linear in the data); with no more complete train rows than R
  it is exact KNN over them. pyspark.ml has no KNN imputer (``Imputer`` does mean, median and mode only).
- ``mice``: chained regressions repeated: round 1 is ``regression`` (median start); each later round refits
  every column's regression on the train rows where it was observed, its predictors at their values imputed
  so far, and re-imputes the values that were missing. It stops when the largest change of an imputed train
  value in a round, divided by the column's largest observed absolute value (scikit-learn's
  ``IterativeImputer`` rule, per column), is below ``mice_tolerance``, or after ``mice_max_rounds`` rounds.
  All rounds are kept and applied in order everywhere.
- ``drop``: fitted as the median (validation, test and the endpoint fill with it: an endpoint must answer every
  request); train rows missing a value in an imputed column are left out of the training data
  (``training_rows``), counted in the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

from ml_constructs.glue_etl.runtime import fitted, spark_ops
from ml_constructs.glue_etl.runtime.contract import (
    SPLIT_COLUMN,
    EtlParams,
    EtlSpec,
    encoded_base_columns,
    was_missing_name,
)
from ml_constructs.glue_etl.runtime.fitting import ImputationFit, _fit_regression, ordered_aggregates


def extend(
    train: DataFrame, spec: EtlSpec, fits: dict[str, ImputationFit], ridge: float, params: EtlParams
) -> dict[str, ImputationFit]:
    """Add what ``mean``, ``knn`` or ``mice`` fit to the medians (and MICE's first round) of ``fitting``."""
    method = next(iter(fits.values())).method
    if method == "mean":
        return fit_means(train, fits)
    if method == "knn":
        return fit_knn(train, spec, fits, params)
    if method == "mice":
        return fit_mice(train, spec, fits, ridge, params)
    return fits


# --- mean ------------------------------------------------------------------------------------------------------


def fit_means(train: DataFrame, fits: dict[str, ImputationFit]) -> dict[str, ImputationFit]:
    """The arithmetic mean of each column's observed train values: a fixed-order sum divided by the count."""
    sums = ordered_aggregates(
        train,
        {
            **{f"n:{c}": ("sum", F.when(F.col(c).isNotNull(), 1).otherwise(0)) for c in fits},
            **{f"s:{c}": ("sum", F.col(c).cast("double")) for c in fits},
        },
    )
    return {c: replace(fit, value=sums[f"s:{c}"] / sums[f"n:{c}"]) for c, fit in fits.items()}


# --- KNN --------------------------------------------------------------------------------------------------------


def knn_features(spec: EtlSpec) -> list[tuple[str, str]]:
    """(column, transform) of the KNN distance: every encoded feature, ``log1p`` for a log-scale column."""
    return [(n, "log1p" if n in spec.log_scale_columns else "none") for n in encoded_base_columns(spec)]


def _transformed(name: str, transform: str) -> Any:
    col = F.col(name).cast("double")
    return F.log1p(col) if transform == "log1p" else col


def fit_knn(
    train: DataFrame, spec: EtlSpec, fits: dict[str, ImputationFit], params: EtlParams
) -> dict[str, ImputationFit]:
    """Standardisation (train mean and population standard deviation of each transformed feature, two ordered
    passes) and the reference set (the ``knn_reference_rows`` complete train rows of smallest id hash: a top-R,
    so only R rows reach the driver). A feature constant on train is left out of the distance (it adds nothing)."""
    features = knn_features(spec)
    first = ordered_aggregates(
        train,
        {
            **{f"n:{n}": ("sum", F.when(_transformed(n, t).isNotNull(), 1).otherwise(0)) for n, t in features},
            **{f"s:{n}": ("sum", _transformed(n, t)) for n, t in features},
        },
    )
    means = {n: first[f"s:{n}"] / first[f"n:{n}"] for n, _ in features if first[f"n:{n}"]}
    second = ordered_aggregates(
        train, {f"ss:{n}": ("sum", F.pow(_transformed(n, t) - F.lit(means[n]), 2)) for n, t in features if n in means}
    )
    stds = {n: math.sqrt(second[f"ss:{n}"] / first[f"n:{n}"]) for n in means}
    used = [(n, t) for n, t in features if stds.get(n, 0.0) > 0 or n in fits]
    complete = train
    for c in fits:
        complete = complete.filter(F.col(c).isNotNull())
    order = F.crc32(F.concat(F.lit(f"{params.split_seed}:knn:"), F.col(spec.id_column)).cast("binary"))
    rows = (
        complete.select(order.alias("_h"), F.col(spec.id_column), *[F.col(n).cast("double").alias(n) for n, _ in used])
        .orderBy("_h", spec.id_column)
        .limit(params.knn_reference_rows)
        .collect()
    )
    if not rows:
        raise ValueError("imputation: knn needs train rows with every imputed column observed; there are none")
    entry = {
        "k": params.knn_k,
        "sample": f"the {len(rows)} complete train rows of smallest crc32('<split_seed>:knn:<event_id>')",
        "features": [
            {
                "column": n,
                "transform": t,
                "mean": means[n],
                "std": stds[n] or 1.0,  # only an imputed column constant on train gets here: z = 0 everywhere
                **({"indicator": was_missing_name(n)} if n in fits else {}),
            }
            for n, t in used
        ],
        "reference": [",".join(_number(r[n]) for n, _ in used) for r in rows],
    }
    return {c: replace(fit, knn=entry) for c, fit in fits.items()}


def _number(value: float) -> str:
    """A double as its shortest exact text (``repr``); integral ones without ``.0`` (one-hot 0/1, counts)."""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


# --- MICE -------------------------------------------------------------------------------------------------------


def fit_mice(
    train: DataFrame, spec: EtlSpec, fits: dict[str, ImputationFit], ridge: float, params: EtlParams
) -> dict[str, ImputationFit]:
    """Rounds 2.. of MICE on top of round 1 (``fitting``'s chained regressions); see the module docstring.

    Each round runs on the train data as the steps left it (persisted per round, so a round's plan does not
    nest all the previous ones): for each column in order, the regression is refitted on the rows where the
    column was observed (``<col>_was_missing`` = 0) and applied at once, so the next column sees it (Gauss-Seidel,
    as ``IterativeImputer``). The change of a round is measured against the values before it (the median fill
    for round 1)."""
    types = dict(train.dtypes)
    scale = {c: max(abs(f.model.lower), abs(f.model.upper)) or 1.0 for c, f in fits.items() if f.model}
    start = train.withColumns({_prev(c): F.coalesce(F.col(c).cast("double"), F.lit(f.median)) for c, f in fits.items()})
    current = start
    for step in fitted.imputation_steps(fits, types):
        current = spark_ops.apply_step(current, step)
    kept = _Kept()
    current = kept.keep(current)
    changes = {c: [v] for c, v in _changes(current, fits, scale).items()}
    rounds: dict[str, list[Any]] = {c: [] for c in fits}
    try:
        while len(next(iter(changes.values()))) < params.mice_max_rounds:
            if max(v[-1] for v in changes.values()) < params.mice_tolerance:
                break
            r = len(next(iter(changes.values()))) + 1
            current = current.withColumns({_prev(c): F.col(c).cast("double") for c in fits})
            for c, fit in fits.items():
                observed = current.withColumn(c, F.when(F.col(was_missing_name(c)) == 0, F.col(c)))
                rounds[c].append(_fit_regression(observed, spec, c, ridge, {}))
                so_far = replace(fit, rounds=tuple(rounds[c]))
                current = spark_ops.apply_step(current, fitted.imputation_step(so_far, {}, types[c], r))
            current = kept.keep(current)
            for c, v in _changes(current, fits, scale).items():
                changes[c].append(v)
    finally:
        kept.release()
    return {c: replace(f, rounds=tuple(rounds[c]), changes=tuple(changes[c])) for c, f in fits.items()}


def _prev(column: str) -> str:
    return f"_mice_prev_{column}"


def _changes(df: DataFrame, fits: Mapping[str, ImputationFit], scale: Mapping[str, float]) -> dict[str, float]:
    """Per column: the largest |value - value before the round| of an imputed train value, over ``scale``."""
    aggs = [
        F.max(F.when(F.col(was_missing_name(c)) == 1, F.abs(F.col(c).cast("double") - F.col(_prev(c))))).alias(c)
        for c in fits
    ]
    row = df.agg(*aggs).collect()[0]
    return {c: float(row[c] or 0.0) / scale[c] for c in fits}


@dataclass
class _Kept:
    frames: list[DataFrame] | None = None

    def keep(self, df: DataFrame) -> DataFrame:
        """Persist ``df`` and release the frame kept before it (its data is no longer read)."""
        df.persist(StorageLevel.MEMORY_AND_DISK)
        df.count()
        self.release()
        self.frames = [df]
        return df

    def release(self) -> None:
        for df in self.frames or []:
            df.unpersist()
        self.frames = None


# --- drop ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dropped:
    """Train rows left out of training by ``drop`` (a missing value in an imputed column), and their positives."""

    rows: int
    positives: int


def training_rows(
    prepared: DataFrame, spec: EtlSpec, method: str, stats: Mapping[str, Mapping[str, int]]
) -> tuple[DataFrame, dict[str, dict[str, int]], Dropped]:
    """For ``drop``: the prepared rows without the train rows that had a missing value in an imputed column, the
    split statistics with train's rows and positives reduced accordingly, and what was dropped. Any other method:
    everything unchanged. Validation and test keep every row (filled with the train median, as the endpoint)."""
    adjusted = {s: dict(v) for s, v in stats.items()}
    if method != "drop" or not spec.impute_columns:
        return prepared, adjusted, Dropped(0, 0)
    missing = F.greatest(F.lit(0), *[F.col(was_missing_name(c)) for c in spec.impute_columns]) == 1
    dropped_rows = (F.col(SPLIT_COLUMN) == "train") & missing
    positive = (F.col(spec.label) == F.lit(spec.positive_class)).cast("int")
    row = prepared.filter(dropped_rows).agg(F.count(F.lit(1)).alias("n"), F.sum(positive).alias("p")).collect()[0]
    dropped = Dropped(int(row["n"]), int(row["p"] or 0))
    adjusted["train"]["rows"] -= dropped.rows
    adjusted["train"]["positives"] -= dropped.positives
    return prepared.filter(~dropped_rows), adjusted, dropped


# --- the report -------------------------------------------------------------------------------------------------


def report_entry(fit: ImputationFit, params: EtlParams, dropped: Dropped) -> dict[str, Any]:
    """What the report adds for a column, beyond the median and the first regression: the method's parameters
    and fill statistics, MICE's rounds and changes, the rows ``drop`` left out."""
    entry: dict[str, Any] = {}
    if fit.method == "mean":
        entry["mean"] = fit.value
    elif fit.method == "knn" and fit.knn is not None:
        entry["knn"] = {
            "k": fit.knn["k"],
            "reference_rows": len(fit.knn["reference"]),
            "reference_rows_max": params.knn_reference_rows,
            "sample": fit.knn["sample"],
            "distance": "nan_euclidean on standardised features (train mean, population std)",
            "features": [{k: f[k] for k in ("column", "transform", "mean", "std")} for f in fit.knn["features"]],
        }
    elif fit.method == "mice":
        entry["mice"] = {
            "rounds": len(fit.changes),
            "max_rounds": params.mice_max_rounds,
            "tolerance": params.mice_tolerance,
            "changes": list(fit.changes),
            "final_change": fit.changes[-1] if fit.changes else None,
            "converged": bool(fit.changes) and fit.changes[-1] < params.mice_tolerance,
            "change_rule": "max |imputed - imputed one round earlier| over max |observed train value|",
            "intercepts_by_round": [m.intercept for m in (fit.model, *fit.rounds) if m is not None],
        }
    elif fit.method == "drop":
        entry["dropped_from_training"] = {
            "rows": dropped.rows,
            "positives": dropped.positives,
            "rule": "train rows with a missing value in any imputed column; validation, test and serving fill "
            "with the train median",
        }
    return entry
