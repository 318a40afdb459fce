"""The whole job: every step in order, the counts that must balance checked in code, the outputs and the report.

Rules every step follows (the syllabus's data-preparation chapter, and what goes wrong without them):

* **Nothing vanishes.** A record that does not fit the schema goes to ``quarantine/`` with exactly one
  reason and its raw text; ``rows_in == rows_clean + rows_quarantined`` is checked in code (the syllabus calls
  dropping rows "always a bad choice": a silently dropped record is also a silently biased data set). The
  ``drop`` imputation leaves incomplete train rows out of training only, counted in the report's steps.
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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

from ml_constructs.glue_etl.runtime import exports, fitted, imputation, rebalancing, treatments
from ml_constructs.glue_etl.runtime.contract import (
    BIAS_ANALYSIS_KEY,
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
    bias_facets_from_args,
    bin_name,
    check_bias_facets,
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
from ml_constructs.shared_runtime import bias

LOG = logging.getLogger(__name__)


def run_from_args(spark: SparkSession, args: Mapping[str, str]) -> dict[str, Any]:
    """``run`` with everything taken from resolved job arguments (what the Glue entry calls)."""
    spec = EtlSpec.from_args(args)
    params = EtlParams.from_args(args)
    facets = bias_facets_from_args(spec, args)
    return run(spark, args["raw_path"], args["curated_path"], spec, params, bias_facets=facets)


def run(
    spark: SparkSession,
    raw_path: str,
    curated_path: str,
    spec: EtlSpec,
    params: EtlParams,
    run_time: datetime | None = None,
    bias_facets: Sequence[str] = (),
) -> dict[str, Any]:
    """Run every step, write every output under ``curated_path``, return (and write) the report.

    ``bias_facets``: categorical or ordinal columns whose pre-training bias (Clarify's CI, DPL, KL, JS) is measured
    on the train split before rebalancing, into the report's ``bias`` and ``report/analysis.json``.

    ``run_time`` (default: now, UTC) is the reference of the ``future_time`` rule: an event time after
    ``run_time + future_tolerance_minutes`` is quarantined. Pass it to replay a run exactly. Its UTC date is also
    the training window's last day when ``params.window_end`` is empty (``params.window_days`` > 0).

    Outputs (``curated_path`` + ...): ``train/``, ``validation/``, ``test/`` (XGBoost CSV),
    ``prepared/split=<split>/dt=<date>/`` (Parquet), ``quarantine/dt=<date>/`` (Parquet) and
    ``report/etl_report.json``. Each run rebuilds them all (mode overwrite) from the raw records of its training
    window (``params.window``: the last ``window_days`` ``dt=`` partitions, or the whole raw zone): the
    statistics are fitted on the whole training split of the window, so an incremental run would not be the
    same model input, and the cost of a run follows the window, not the lake's age.
    """
    if run_time is not None and run_time.utcoffset() is None:
        raise ValueError(f"run_time={run_time.isoformat()} has no time zone: pass an aware datetime (UTC)")
    facets = check_bias_facets(spec, bias_facets)
    persisted = _Persisted()
    try:
        return _run(spark, raw_path, curated_path, spec, params, persisted, run_time or datetime.now(UTC), facets)
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
    bias_facets: Sequence[str],
) -> dict[str, Any]:
    not_after = run_time + timedelta(minutes=params.future_tolerance_minutes)
    days = params.window(run_time.astimezone(UTC).date())
    validated, counts = _validate(spark, raw_path, curated_path, spec, params, persisted, not_after, days)
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

    bias_report = _pre_training_bias(base, spec, bias_facets, curated_path)  # before any treatment or rebalancing
    ready = prepare_training(base, spec, params, persisted, counts.rows_clean)
    final, fits = ready.final, ready.fits

    _step(f"writing outputs under {curated_path}")
    for split in SPLITS:
        split_rows = final.filter(F.col(SPLIT_COLUMN) == split)
        write_xgboost_csv(split_rows, _join(curated_path, CSV_PREFIXES[split]), spec, params.csv_files)
    write_prepared_parquet(final, _join(curated_path, PREPARED_PREFIX), spec)
    serving = _write_serving(spark, base, curated_path, spec, params, fits)
    report = _report(
        raw_path, curated_path, spec, params, counts, ready.stats, fits, ready.balance.result, ready.written
    )
    _add_imputation_report(report, fits, params, ready.dropped)
    report["outputs"]["serving"] = serving
    _add_alternatives(report, params, fits, ready.balance)
    report["input"]["window"] = counts.window
    if bias_report is not None:
        report["bias"] = bias_report
        analysis = bias.analysis(pre_training_bias_metrics=bias_report.pop("clarify"))
        write_text(spark, bias_report["analysis"], json.dumps(analysis, indent=2, allow_nan=False) + "\n")
    write_text(spark, _join(curated_path, HYPERPARAMETERS_KEY), json.dumps(ready.balance.hyperparameters()) + "\n")
    write_text(spark, _join(curated_path, REPORT_KEY), json.dumps(report, indent=2, allow_nan=False) + "\n")
    _step(f"done: {counts.rows_clean} clean, {counts.rows_quarantined} quarantined, written {ready.written}")
    return report


@dataclass
class Prepared:
    """What the fitted steps and the rebalancing made of the split records (``prepare_training``)."""

    final: DataFrame  # every split, train rebalanced
    fits: _Fits
    stats: dict[str, dict[str, Any]]  # per split, before `drop` imputation and rebalancing
    dropped: imputation.Dropped  # train rows `drop` imputation left out
    balance: rebalancing.Rebalanced
    written: dict[str, int]  # rows per split of `final`


def prepare_training(
    base: DataFrame, spec: EtlSpec, params: EtlParams, persisted: _Persisted, rows_clean: int
) -> Prepared:
    """Outliers, imputation and binning fitted on train and applied to every split, the row counts checked
    (``rows_clean`` = the split rows plus outlier ``drop``'s train rows), ``drop`` imputation's incomplete train rows
    left out, then train rebalanced. The job and ``make tradeoffs`` both run exactly this."""
    prepared, fits = _fit_and_apply(base, spec, params)
    stats = _split_statistics(prepared, spec, fits.bins)
    _check_splits(stats, rows_clean - fits.outliers_dropped)
    # `drop` imputation: incomplete train rows leave the training data here (counted; every split was filled)
    training, training_stats, dropped = imputation.training_rows(prepared, spec, params.impute_method, stats)
    if dropped.rows:
        positives = {s: training_stats[s]["positives"] for s in SPLITS}
        check_positives(positives, params.min_positives, spec, params.split_fractions[2])
    _step(f"rebalancing train ({params.rebalance_method})")
    final, balance, written = _rebalance(training, spec, params, training_stats, persisted, fits.bins)
    return Prepared(final, fits, stats, dropped, balance, written)


def _validate(
    spark: SparkSession,
    raw_path: str,
    curated_path: str,
    spec: EtlSpec,
    params: EtlParams,
    persisted: _Persisted,
    not_after: datetime,
    days: tuple[date, date] | None,
) -> tuple[DataFrame, _Counts]:
    """Read (the window's ``dt=`` partitions only), parse and validate; write the quarantine; check that every
    record is clean or quarantined."""
    where = "the whole lake" if days is None else f"the window {days[0]} .. {days[1]}"
    _step(f"reading {params.raw_format} from {raw_path}: {where}")
    raw = read_raw(spark, raw_path, params.raw_format, days)
    # An independent count of the input, to check the accounting against; per partition, for the report.
    per_day = {str(r[PARTITION_COLUMN]): int(r["count"]) for r in raw.groupBy(PARTITION_COLUMN).count().collect()}
    rows_in = sum(per_day.values())

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
    counts = _Counts(rows_in, by_reason.pop(None, 0), by_reason, not_after, window_report(days, per_day, raw))
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
    imputation_fits = fit_imputation(_train(with_outliers), spec, params.impute_method, params.ridge, params)
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
    window: dict[str, Any] = field(default_factory=dict)  # what was read: the window, its partitions and files

    @property
    def rows_quarantined(self) -> int:
        return sum(self.by_reason.values())


@dataclass(frozen=True)
class _Fits:
    outliers: Mapping[str, OutlierFit]
    imputation: Mapping[str, ImputationFit]
    bins: BinFit | None
    outliers_dropped: int = 0  # train rows removed by outlier_mode=drop


def window_report(days: tuple[date, date] | None, per_day: Mapping[str, int], raw: DataFrame) -> dict[str, Any]:
    """The training window of the run: its days (None for the whole lake), the partitions and files read, rows."""
    return {
        "start": days[0].isoformat() if days else None,
        "end": days[1].isoformat() if days else None,
        "days": (days[1] - days[0]).days + 1 if days else 0,
        "meaning": "dt= partitions (the event's UTC date) from start to end, both inclusive"
        if days
        else "the whole raw zone (window_days=0)",
        "partitions": dict(sorted(per_day.items())),
        "files": len(raw.inputFiles()),
        "rows": sum(per_day.values()),
    }


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


def _add_imputation_report(report: dict[str, Any], fits: _Fits, params: EtlParams, dropped: imputation.Dropped) -> None:
    """The method's parameters, fill statistics, MICE's rounds; for ``drop`` the rows left out of training, also as
    a step between ``impute`` and ``rebalance`` (the rows still balance: rebalance starts from what is left)."""
    for column, fit in fits.imputation.items():
        report["imputation"][column].update(imputation.report_entry(fit, params, dropped))
    if params.impute_method == "drop":
        steps = report["steps"]
        at = next(i for i, s in enumerate(steps) if s["step"] == "rebalance")
        train = report["split"]["rows"]["train"]
        steps.insert(at, {"step": "drop_incomplete_train", "rows_in": train, "rows_out": train - dropped.rows})
        steps[at + 1]["rows_in"] = train - dropped.rows


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


# --- Pre-training bias ----------------------------------------------------------------------------------------------


def _pre_training_bias(
    base: DataFrame, spec: EtlSpec, facets: Sequence[str], curated_path: str
) -> dict[str, Any] | None:
    """Clarify's pre-training metrics (CI, DPL, KL, JS) of each facet value against the rest of its facet, on the
    train split before rebalancing (oversampling changes the label proportions the metrics measure). One Spark
    aggregation counts rows and positive labels per (facet, value); the formulas run on those counts
    (``shared_runtime.bias``). Values the schema allows but train lacks are reported with null metrics."""
    if not facets:
        return None
    _step(f"pre-training bias of {', '.join(facets)} on train")
    positive = (F.col(spec.label) == F.lit(spec.positive_class)).cast("int")
    pairs = F.explode(
        F.array(*[F.struct(F.lit(f).alias("facet"), F.col(f).cast("string").alias("value")) for f in facets])
    )
    rows = (
        _train(base)
        .select(pairs.alias("pair"), positive.alias("positive"))
        .groupBy(F.col("pair.facet").alias("facet"), F.col("pair.value").alias("value"))
        .agg(F.count(F.lit(1)).alias("n"), F.sum("positive").alias("positives"))
        .collect()
    )
    counts: dict[str, dict[str, bias.Counts]] = {f: {} for f in facets}
    for row in rows:
        counts[row["facet"]][bias.facet_value(row["value"])] = bias.Counts(int(row["n"]), int(row["positives"] or 0))
    metrics = {f: bias.pre_training(counts[f], [bias.facet_value(v) for v in spec.column(f).values]) for f in facets}
    return {
        "split": "train",
        "before_rebalancing": True,
        "label": spec.label,
        "positive_class": spec.positive_class,
        "metrics": list(bias.PRE_TRAINING),
        "facets": {
            f: {
                v: {"rows": counts[f].get(v, bias.Counts()).n, "positives": counts[f].get(v, bias.Counts()).labels, **m}
                for v, m in metrics[f].items()
            }
            for f in facets
        },
        "analysis": _join(curated_path, BIAS_ANALYSIS_KEY),
        "clarify": bias.analysis_section(spec.label, metrics, spec.positive_class),
    }
