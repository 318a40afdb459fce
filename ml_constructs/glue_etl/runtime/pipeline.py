"""The whole job: every step in order, the counts that must balance checked in code, the outputs and the report.

Rules every step follows (the syllabus's data-preparation chapter, and what goes wrong without them):

* **Nothing vanishes.** A record that does not fit the schema goes to ``quarantine/`` with exactly one
  reason and its raw text; ``rows_in == rows_clean + rows_quarantined`` is checked in code (the syllabus calls
  dropping rows "always a bad choice": a silently dropped record is also a silently biased data set).
* **Fit on train only.** Every statistic is computed on the training split *before* oversampling and then
  applied unchanged to all splits (``fitting``).
* **Deterministic.** Same input, same parameters -> the same split, statistics and CSV bytes, however the
  input is cut into files or partitions: the split is a hash of ``event_id``, quantiles are exact, and
  floating-point sums run in a fixed order (``steps.canonical_order``).
* **Schema-driven.** Which column is numeric, categorical, ordinal, the label or the id comes from the
  ``EtlSpec`` the job receives as an argument; no column list is written down twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

from ml_constructs.glue_etl.runtime import exports, fitted, rebalancing, treatments
from ml_constructs.glue_etl.runtime.contract import (
    COPY_COLUMN,
    CSV_PREFIXES,
    HYPERPARAMETERS_KEY,
    PARTITION_COLUMN,
    PREPARED_PREFIX,
    QUARANTINE_PREFIX,
    RAW_RECORD_COLUMN,
    REASON_COLUMN,
    REPORT_KEY,
    REPORT_VERSION,
    SOURCE_FILE_COLUMN,
    SPLIT_COLUMN,
    SPLITS,
    EtlParams,
    EtlSpec,
    bin_name,
    csv_columns,
    feature_columns,
    one_hot_name,
    outlier_flag_name,
    prepared_columns,
    rank_name,
    was_missing_name,
)
from ml_constructs.glue_etl.runtime.fitting import (
    BinFit,
    ImputationFit,
    OutlierFit,
    fit_bins,
    fit_imputation,
    fit_outliers,
)
from ml_constructs.glue_etl.runtime.steps import (
    EtlInvariantError,
    RebalanceResult,
    apply_bins,
    apply_imputation,
    apply_outliers,
    assign_split,
    canonical_order,
    check_accounting,
    check_positives,
    clean_records,
    encode_features,
    parse_records,
    quarantined_records,
    read_raw,
    validate_records,
    write_prepared_parquet,
    write_quarantine,
    write_text,
    write_xgboost_csv,
)

LOG = logging.getLogger(__name__)


def run_from_args(spark: SparkSession, args: Mapping[str, str]) -> dict[str, Any]:
    """``run`` with everything taken from resolved job arguments (what the Glue entry calls)."""
    spec = EtlSpec.from_args(args)
    params = EtlParams.from_args(args)
    return run(spark, args["raw_path"], args["curated_path"], spec, params)


def run(
    spark: SparkSession,
    raw_path: str,
    curated_path: str,
    spec: EtlSpec,
    params: EtlParams,
    run_time: datetime | None = None,
) -> dict[str, Any]:
    """Run every step, write every output under ``curated_path``, return (and write) the report.

    ``run_time`` (default: now, UTC) is the reference of the ``future_time`` rule: an event time after
    ``run_time + future_tolerance_minutes`` is quarantined. Pass it to replay a run exactly.

    Outputs (``curated_path`` + ...): ``train/``, ``validation/``, ``test/`` (XGBoost CSV),
    ``prepared/split=<split>/dt=<date>/`` (Parquet), ``quarantine/dt=<date>/`` (Parquet) and
    ``report/etl_report.json``. Each run rebuilds them all (mode overwrite): the statistics are fitted on
    the whole training split, so an incremental run would not be the same model input.
    """
    if run_time is not None and run_time.utcoffset() is None:
        raise ValueError(f"run_time={run_time.isoformat()} has no time zone: pass an aware datetime (UTC)")
    persisted = _Persisted()
    try:
        return _run(spark, raw_path, curated_path, spec, params, persisted, run_time or datetime.now(UTC))
    finally:
        persisted.release()


def _run(
    spark: SparkSession,
    raw_path: str,
    curated_path: str,
    spec: EtlSpec,
    params: EtlParams,
    persisted: _Persisted,
    run_time: datetime,
) -> dict[str, Any]:
    not_after = run_time + timedelta(minutes=params.future_tolerance_minutes)
    validated, counts = _validate(spark, raw_path, curated_path, spec, params, persisted, not_after)
    _step("encoding and splitting")
    base = canonical_order(clean_records(validated, spec), spec, params.canonical_partitions)
    base = persisted.keep(assign_split(encode_features(base, spec), spec, params.split_fractions, params.split_seed))
    # One pass materialises the cache (so the validated records can be released) and counts rows and
    # positives per split: too few positives stop the job here, before any fitting and any output.
    per_split = _rows_and_positives(base, spec)
    rows_base = sum(rows for rows, _ in per_split.values())
    if rows_base != counts.rows_clean:
        raise EtlInvariantError(
            f"{rows_base} rows after the canonical reordering, expected rows_clean={counts.rows_clean}"
        )
    check_positives(
        {s: positives for s, (_, positives) in per_split.items()}, params.min_positives, spec, params.split_fractions[2]
    )
    validated.unpersist()

    prepared, fits = _fit_and_apply(base, spec, params)
    stats = _split_statistics(prepared, spec, fits.bins)
    _check_splits(stats, counts.rows_clean - fits.outliers_dropped)

    _step(f"rebalancing train ({params.rebalance_method})")
    final, balance, written = _rebalance(prepared, spec, params, stats, persisted, fits.bins)

    _step(f"writing outputs under {curated_path}")
    for split in SPLITS:
        split_rows = final.filter(F.col(SPLIT_COLUMN) == split)
        write_xgboost_csv(split_rows, _join(curated_path, CSV_PREFIXES[split]), spec, params.csv_files)
    write_prepared_parquet(final, _join(curated_path, PREPARED_PREFIX), spec)
    serving = _write_serving(spark, base, curated_path, spec, params, fits)
    report = _report(raw_path, curated_path, spec, params, counts, stats, fits, balance.result, written)
    report["outputs"]["serving"] = serving
    _add_alternatives(report, params, fits, balance)
    write_text(spark, _join(curated_path, HYPERPARAMETERS_KEY), json.dumps(balance.hyperparameters()) + "\n")
    write_text(spark, _join(curated_path, REPORT_KEY), json.dumps(report, indent=2, allow_nan=False) + "\n")
    _step(f"done: {counts.rows_clean} clean, {counts.rows_quarantined} quarantined, written {written}")
    return report


def _validate(
    spark: SparkSession,
    raw_path: str,
    curated_path: str,
    spec: EtlSpec,
    params: EtlParams,
    persisted: _Persisted,
    not_after: datetime,
) -> tuple[DataFrame, _Counts]:
    """Read, parse and validate; write the quarantine; check that every record is clean or quarantined."""
    _step(f"reading {params.raw_format} from {raw_path}")
    raw = read_raw(spark, raw_path, params.raw_format)
    rows_in = raw.count()  # an independent count of the input, to check the accounting against

    _step("parsing and validating")
    validated = validate_records(parse_records(raw, spec, params.raw_format), spec, not_after)
    # Cache only what the next steps read: the raw text and the file name only for quarantined records
    # (on 10^6 events the raw lines of the clean records would be most of the cached bytes).
    quarantined = F.col(REASON_COLUMN).isNotNull()
    validated = persisted.keep(
        validated.select(
            *[c.name for c in spec.columns],
            PARTITION_COLUMN,
            REASON_COLUMN,
            F.when(quarantined, F.col(RAW_RECORD_COLUMN)).alias(RAW_RECORD_COLUMN),
            F.when(quarantined, F.col(SOURCE_FILE_COLUMN)).alias(SOURCE_FILE_COLUMN),
        )
    )
    by_reason = {row[REASON_COLUMN]: int(row["count"]) for row in validated.groupBy(REASON_COLUMN).count().collect()}
    counts = _Counts(rows_in, by_reason.pop(None, 0), by_reason, not_after)
    check_accounting(rows_in, counts.rows_clean, counts.rows_quarantined)
    if counts.rows_clean == 0:
        raise ValueError(f"{raw_path}: no clean records ({counts.rows_quarantined} quarantined): nothing to prepare")
    write_quarantine(quarantined_records(validated), _join(curated_path, QUARANTINE_PREFIX))
    return validated, counts


def _fit_and_apply(base: DataFrame, spec: EtlSpec, params: EtlParams) -> tuple[DataFrame, _Fits]:
    """Outliers, imputation, binning: each fitted on train (after the previous one), applied to every split."""
    _step("outliers: fitting on train")
    outlier_fits = fit_outliers(_train(base), spec, params.outlier_k)
    with_outliers = apply_outliers(base, outlier_fits, params.outlier_mode)
    dropped = 0
    if params.outlier_mode == "drop":  # train rows beyond the bounds go; the fits below see the rest
        dropped = treatments.count_train_outliers(with_outliers, outlier_fits)
        with_outliers = treatments.drop_train_outliers(with_outliers, outlier_fits)
    _step(f"imputation ({params.impute_method}): fitting on train")
    imputation_fits = fit_imputation(_train(with_outliers), spec, params.impute_method, params.ridge)
    imputed = apply_imputation(with_outliers, imputation_fits)
    _step(f"binning ({params.bin_method}): fitting on train")
    bin_fit = fit_bins(_train(imputed), spec, params.n_bins, params.bin_method)
    # Not cached: everything after `base` is per-row arithmetic, cheaper to recompute than to keep.
    return apply_bins(imputed, bin_fit), _Fits(outlier_fits, imputation_fits, bin_fit, dropped)


def _rows_and_positives(df: DataFrame, spec: EtlSpec) -> dict[str, tuple[int, int]]:
    """Split -> (rows, positives)."""
    positive = (F.col(spec.label) == F.lit(spec.positive_class)).cast("int")
    rows = df.groupBy(SPLIT_COLUMN).agg(F.count(F.lit(1)).alias("n"), F.sum(positive).alias("p")).collect()
    return {r[SPLIT_COLUMN]: (int(r["n"]), int(r["p"] or 0)) for r in rows}


def _write_serving(
    spark: SparkSession, base: DataFrame, curated_path: str, spec: EtlSpec, params: EtlParams, fits: _Fits
) -> dict[str, Any]:
    """What serving raw events needs: the fitted preprocessing and its container's archive, the clean raw events
    of validation and test (batch transform's input through the two-container model), and the raw-field drift
    baseline of train (before oversampling: the endpoint sees the natural balance)."""
    _step("writing the fitted preprocessing and the raw validation and test events")
    document = fitted.document(spec, exports.fitted_steps(spec, fits, params.outlier_mode))
    paths: dict[str, Any] = exports.write_preprocessing(spark, curated_path, document)
    paths["raw"] = exports.write_raw_splits(base, curated_path, spec, params.csv_files)
    baseline = exports.raw_baseline(_train(base), spec)
    paths["baseline"] = exports.write_raw_baseline(spark, curated_path, baseline)
    return paths


def _split_statistics(prepared: DataFrame, spec: EtlSpec, bins: BinFit | None) -> dict[str, dict[str, Any]]:
    """Per split, in one pass: rows, positives, imputed values, outliers, rows per bin, nulls left."""
    positive = (F.col(spec.label) == F.lit(spec.positive_class)).cast("int")
    csv_nulls = F.greatest(*[F.col(c).isNull().cast("int") for c in csv_columns(spec)])
    aggs = [F.count(F.lit(1)).alias("rows"), F.sum(positive).alias("positives"), F.sum(csv_nulls).alias("nulls")]
    aggs += [F.sum(F.col(was_missing_name(c))).alias(f"imputed:{c}") for c in spec.impute_columns]
    aggs += [F.sum(F.col(outlier_flag_name(c))).alias(f"outliers:{c}") for c in spec.outlier_columns]
    if bins is not None:
        b = F.col(bin_name(bins.column))
        aggs += [F.sum((b == i).cast("int")).alias(f"bin:{i}") for i in range(bins.n_bins)]
    stats: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for row in prepared.groupBy(SPLIT_COLUMN).agg(*aggs).collect():
        stats[row[SPLIT_COLUMN]] = {k: int(v or 0) for k, v in row.asDict().items() if k != SPLIT_COLUMN}
    empty = {"rows": 0, "positives": 0, "nulls": 0}
    return {s: stats[s] or dict(empty) for s in SPLITS}


def _check_splits(stats: Mapping[str, Mapping[str, int]], rows_clean: int) -> None:
    split_rows = {s: stats[s]["rows"] for s in SPLITS}
    if sum(split_rows.values()) != rows_clean:
        raise EtlInvariantError(f"split sizes {split_rows} do not add up to rows_clean={rows_clean}")
    if any(stats[s]["nulls"] for s in SPLITS):
        raise EtlInvariantError(f"null values left in the CSV columns: { {s: stats[s]['nulls'] for s in SPLITS} }")
    if split_rows["train"] == 0:
        raise ValueError("the train split is empty")


def _rebalance(
    prepared: DataFrame,
    spec: EtlSpec,
    params: EtlParams,
    stats: Mapping[str, Mapping[str, int]],
    persisted: _Persisted,
    bins: BinFit | None = None,
) -> tuple[DataFrame, rebalancing.Rebalanced, dict[str, int]]:
    """Rebalance train (``rebalancing``), keep validation and test as they are; return the rows and their counts."""
    train_positives = stats["train"]["positives"]
    train_rb, balance = rebalancing.rebalance_train(
        _train(prepared), spec, params, (train_positives, stats["train"]["rows"] - train_positives), bins
    )
    others = prepared.filter(F.col(SPLIT_COLUMN) != "train").withColumn(COPY_COLUMN, F.lit(0))
    final = persisted.keep(train_rb.unionByName(others))
    written = {row[SPLIT_COLUMN]: int(row["count"]) for row in final.groupBy(SPLIT_COLUMN).count().collect()}
    expected_train = balance.result.positives_after + balance.result.negatives_after
    if written.get("train", 0) != expected_train:
        raise EtlInvariantError(f"train has {written.get('train')} rows after rebalancing, expected {expected_train}")
    return final, balance, written


# --- What the steps above pass around ---------------------------------------------------------------------------


@dataclass
class _Persisted:
    frames: list[DataFrame] = field(default_factory=list)

    def keep(self, df: DataFrame) -> DataFrame:
        self.frames.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    def release(self) -> None:
        for df in self.frames:
            df.unpersist()


@dataclass(frozen=True)
class _Counts:
    """What validation found: the input rows, the clean rows, and the quarantined rows by reason."""

    rows_in: int
    rows_clean: int
    by_reason: Mapping[str | None, int]
    not_after: datetime  # the future_time rule's limit: the run's start plus the tolerance

    @property
    def rows_quarantined(self) -> int:
        return sum(self.by_reason.values())


@dataclass(frozen=True)
class _Fits:
    outliers: Mapping[str, OutlierFit]
    imputation: Mapping[str, ImputationFit]
    bins: BinFit | None
    outliers_dropped: int = 0  # train rows removed by outlier_mode=drop


def _step(message: str) -> None:
    LOG.info("etl: %s", message)


def _join(base: str, sub: str) -> str:
    return base.rstrip("/") + "/" + sub


def _train(df: DataFrame) -> DataFrame:
    return df.filter(F.col(SPLIT_COLUMN) == "train")


# --- The report ---------------------------------------------------------------------------------------------------


def _report(
    raw_path: str,
    curated_path: str,
    spec: EtlSpec,
    params: EtlParams,
    counts: _Counts,
    stats: Mapping[str, Mapping[str, int]],
    fits: _Fits,
    balance: RebalanceResult,
    written: Mapping[str, int],
) -> dict[str, Any]:
    """The report: counts per step and everything fitted, enough to replay the preparation at inference."""
    split_rows = {s: stats[s]["rows"] for s in SPLITS}
    rows_out = sum(written.get(s, 0) for s in SPLITS)
    return {
        "report_version": REPORT_VERSION,
        "input": {"raw_path": raw_path, "raw_format": params.raw_format, "rows_in": counts.rows_in},
        "steps": _steps_report(counts, split_rows, written, rows_out),
        "quarantine": {
            "rows": counts.rows_quarantined,
            "by_reason": dict(sorted((str(k), v) for k, v in counts.by_reason.items())),
            "path": _join(curated_path, QUARANTINE_PREFIX),
            "event_time_not_after": counts.not_after.astimezone(UTC).isoformat(timespec="milliseconds"),
            "ranges": {c.name: [c.minimum, c.maximum] for c in spec.columns if (c.minimum, c.maximum) != (None, None)},
            "duplicates": "per event id the record with the smallest sha256 of its stripped raw text survives",
        },
        "split": {
            "method": "crc32('<split_seed>:<event_id>') / 2^32 against the cumulative fractions",
            "fractions": dict(zip(SPLITS, params.split_fractions, strict=True)),
            "seed": params.split_seed,
            "rows": split_rows,
        },
        "imputation": {c: _imputation_report(fit, stats) for c, fit in fits.imputation.items()},
        "outliers": {c: _outlier_report(fit, params, stats) for c, fit in fits.outliers.items()},
        "binning": _binning_report(fits.bins, stats),
        "class_balance": _class_balance_report(balance, params, stats),
        "encoding": _encoding_report(spec),
        "csv": {
            "format": "text/csv, no header, label in the first column, numbers only",
            "label": spec.label,
            "columns": csv_columns(spec),
            "feature_columns": feature_columns(spec),
            "files_per_split": params.csv_files,
        },
        "outputs": _outputs_report(curated_path, spec, written, rows_out, counts.rows_quarantined),
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()},
    }


def _add_alternatives(report: dict[str, Any], params: EtlParams, fits: _Fits, balance: rebalancing.Rebalanced) -> None:
    """The report entries of the chosen alternatives: rows dropped (outliers, undersampling) and synthesised (SMOTE),
    the class weight, the binning method. None of these rows is an input row: ``rows_in = clean + quarantined``."""
    balance_report = report["class_balance"]
    if balance.method != "oversample":
        balance_report.pop("oversampling")
    balance_report.update(
        method=balance.method,
        negatives_dropped=balance.negatives_dropped,
        synthesised=balance.synthesised,
        scale_pos_weight=balance.scale_pos_weight,
        details=balance.details,
        training_hyperparameters=balance.hyperparameters(),
    )
    if report["binning"] is not None:
        report["binning"]["method"] = params.bin_method
    for entry in report["outliers"].values():
        entry["train_rows_dropped"] = fits.outliers_dropped  # rows beyond the bounds of any outlier column
    for step in report["steps"]:
        if step["step"] == "outliers":
            step.update(rows_out=step["rows_in"] - fits.outliers_dropped, rows_dropped=fits.outliers_dropped)
        if step["step"] in ("impute", "bin"):
            step.update(
                rows_in=step["rows_in"] - fits.outliers_dropped, rows_out=step["rows_out"] - fits.outliers_dropped
            )
        if step["step"] == "rebalance":
            step.update(rows_dropped=balance.negatives_dropped, rows_synthesised=balance.synthesised)


def _per_split(stats: Mapping[str, Mapping[str, int]], key: str) -> dict[str, int]:
    return {s: int(stats[s].get(key, 0)) for s in SPLITS}


def _steps_report(
    counts: _Counts, split_rows: Mapping[str, int], written: Mapping[str, int], rows_out: int
) -> list[dict[str, Any]]:
    rows_in, rows_clean = counts.rows_in, counts.rows_clean
    return [
        {"step": "read", "rows_out": rows_in},
        {"step": "validate", "rows_in": rows_in, "rows_out": rows_clean, "rows_quarantined": counts.rows_quarantined},
        {"step": "split", "rows_in": rows_clean, "rows_out": dict(split_rows)},
        {"step": "outliers", "rows_in": rows_clean, "rows_out": rows_clean},
        {"step": "impute", "rows_in": rows_clean, "rows_out": rows_clean},
        {"step": "bin", "rows_in": rows_clean, "rows_out": rows_clean},
        {"step": "rebalance", "rows_in": split_rows["train"], "rows_out": written.get("train", 0)},
        {"step": "write", "rows_out": rows_out},
    ]


def _imputation_report(fit: ImputationFit, stats: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "method": fit.method,
        "median": fit.median,
        "observed_in_train": fit.n_observed,
        "imputed": _per_split(stats, f"imputed:{fit.column}"),
        "indicator_column": was_missing_name(fit.column),
    }
    if fit.model is not None:
        m = fit.model
        entry["model"] = {
            "kind": "linear regression (MICE-style chained equation), ridge on standardised predictors",
            "target_transform": m.target_transform,
            "intercept": m.intercept,
            "predictors": [
                {"column": name, "transform": t, "coefficient": coef}
                for (name, t), coef in zip(m.predictors, m.coefficients, strict=True)
            ],
            "clamp": [m.lower, m.upper],
            "ridge": m.ridge,
            "fitted_rows": m.n,
            "r2_train": m.r2_train,
        }
    return entry


def _outlier_report(fit: OutlierFit, params: EtlParams, stats: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    flagged = _per_split(stats, f"outliers:{fit.column}")
    return {
        "scale": "log1p" if fit.log_scale else "linear",
        "k": fit.k,
        "mode": params.outlier_mode,
        "mean": fit.mean,
        "std": fit.std,
        "lower": fit.lower,
        "upper": fit.upper,
        "fitted_rows": fit.n,
        "flagged": flagged,
        "clipped": dict(flagged) if params.outlier_mode in ("clip", "drop") else dict.fromkeys(SPLITS, 0),
        "flag_column": outlier_flag_name(fit.column),
    }


def _binning_report(fit: BinFit | None, stats: Mapping[str, Mapping[str, int]]) -> dict[str, Any] | None:
    if fit is None:
        return None
    return {
        "column": fit.column,
        "bin_column": bin_name(fit.column),
        "n_bins_requested": fit.n_bins_requested,
        "n_bins": fit.n_bins,
        "edges": list(fit.edges),
        "rule": "bin 0 = (-inf, edges[0]), bin i = [edges[i-1], edges[i]), last = [edges[-1], +inf)",
        "train_rows_per_bin": [int(stats["train"].get(f"bin:{i}", 0)) for i in range(fit.n_bins)],
    }


def _balance(positives: int, rows: int) -> dict[str, Any]:
    return {
        "rows": rows,
        "positives": positives,
        "negatives": rows - positives,
        "positive_fraction": positives / rows if rows else 0.0,
    }


def _class_balance_report(
    balance: RebalanceResult, params: EtlParams, stats: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    return {
        "target_ratio": balance.target_ratio,
        "train_before": _balance(balance.positives_before, balance.positives_before + balance.negatives_before),
        "train_after": _balance(balance.positives_after, balance.positives_after + balance.negatives_after),
        "validation": _balance(stats["validation"]["positives"], stats["validation"]["rows"]),
        "test": _balance(stats["test"]["positives"], stats["test"]["rows"]),
        "oversampling": {
            "method": "random oversampling by copies, extra copies chosen by crc32('<seed>:oversample:<id>')",
            "seed": params.rebalance_seed,
            "copies_per_positive": balance.copies_per_positive,
            "positives_with_extra_copy": balance.positives_with_extra_copy,
        },
    }


def _encoding_report(spec: EtlSpec) -> dict[str, Any]:
    encoding: dict[str, Any] = {}
    for feature in spec.features():
        name, values = feature.name, list(feature.values)
        if feature.is_boolean:
            encoding[name] = {"encoding": "boolean 0/1", "columns": [name]}
        elif feature.kind == "ordinal":
            encoding[name] = {"encoding": "ordinal rank", "column": rank_name(name), "order": values}
        elif feature.kind == "categorical":
            encoding[name] = {
                "encoding": "one-hot",
                "columns": [one_hot_name(name, v) for v in values],
                "values": values,
            }
    return encoding


def _outputs_report(
    curated_path: str, spec: EtlSpec, written: Mapping[str, int], rows_out: int, rows_quarantined: int
) -> dict[str, Any]:
    return {
        **{s: {"path": _join(curated_path, CSV_PREFIXES[s]), "rows": written.get(s, 0)} for s in SPLITS},
        "prepared": {"path": _join(curated_path, PREPARED_PREFIX), "rows": rows_out, "columns": prepared_columns(spec)},
        "quarantine": {"path": _join(curated_path, QUARANTINE_PREFIX), "rows": rows_quarantined},
        "report": _join(curated_path, REPORT_KEY),
    }
