"""The ETL's output contract: what the job is told (``EtlSpec``, ``EtlParams``, the job arguments) and what it
writes (the prefixes under the curated path, the column names and their order).

This is the part synth imports (the CDK construct builds the job arguments and the data-quality rules from it,
training and the endpoint read the column order), so it imports nothing but the standard library: no pyspark.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

#: Bump when the meaning of the spec JSON changes; ``EtlSpec.from_json`` rejects other versions.
SPEC_VERSION = 1
#: Bump when the report's structure changes (training and the endpoint read it).
REPORT_VERSION = 1

# --- What the job writes: sub-prefixes of the curated path (the CDK construct and training read these) ------

#: CSV for SageMaker's built-in XGBoost: label first, no header, numeric only, same columns in every split.
CSV_PREFIXES: Mapping[str, str] = {"train": "train/", "validation": "validation/", "test": "test/"}
#: The same prepared rows as Parquet for Athena, partitioned by ``split`` and ``dt``.
PREPARED_PREFIX = "prepared/"
#: Quarantined records (Parquet, partitioned by ``dt``) with ``quarantine_reason`` and the raw record.
QUARANTINE_PREFIX = "quarantine/"
#: The JSON report (a single object with exactly this key).
REPORT_KEY = "report/etl_report.json"
#: What the endpoint needs to serve raw events (docs/glue-etl.md, "The fitted preprocessing"): everything fitted on
#: train as one versioned JSON document, the preprocessing container's model.tar.gz (code/ + fitted.json), and the
#: raw-field drift baseline of the train split (statistics.json, constraints.json in Model Monitor's formats).
PREPROCESSING_PREFIX = "preprocessing/"
FITTED_KEY = "preprocessing/fitted.json"
#: Hyperparameters the training job must use with this preparation (JSON object of strings; ``{}`` unless
#: ``rebalance_method=class_weight`` sets ``scale_pos_weight``): the workflow merges it over its configured ones.
HYPERPARAMETERS_KEY = "preprocessing/hyperparameters.json"
PREPROCESSING_MODEL_KEY = "preprocessing/model.tar.gz"
RAW_BASELINE_PREFIX = "preprocessing/baseline/"
#: The clean raw events of validation and test, JSON Lines exactly as the producer wrote them (label included):
#: the batch-transform input of the two-container model.
RAW_SPLIT_PREFIXES: Mapping[str, str] = {"validation": "raw/validation/", "test": "raw/test/"}

SPLITS: tuple[str, ...] = ("train", "validation", "test")
PARTITION_COLUMN = "dt"  # Hive-style partition of the raw zone (event date, YYYY-MM-DD)
SPLIT_COLUMN = "split"
COPY_COLUMN = "oversample_copy"  # 0 = the original row, 1.. = rows added by rebalancing (train only): copies, or
# SMOTE rows synthesised from the positive with this id
REASON_COLUMN = "quarantine_reason"
RAW_RECORD_COLUMN = "raw_record"
SOURCE_FILE_COLUMN = "source_file"

RAW_FORMATS = ("parquet", "json")
IMPUTE_METHODS = ("median", "mean", "knn", "regression", "mice", "drop")
OUTLIER_MODES = ("flag", "clip", "drop")
REBALANCE_METHODS = ("none", "oversample", "undersample", "smote", "class_weight")
BIN_METHODS = ("quantile", "equal_width")

#: The longest training window in days (100 years, the configuration's MAX_DAYS); 0 reads the whole lake.
MAX_WINDOW_DAYS = 36_500
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Bounds of the imputation parameters: the KNN reference set travels in fitted.json and in the Spark plan (5,000
#: rows of the worked example are about 0.3 MB of JSON), and every MICE round is three passes over train.
MAX_KNN_K = 100
MAX_KNN_REFERENCE_ROWS = 5000
MAX_MICE_ROUNDS = 50

#: Job arguments every run needs (Glue passes ``JOB_NAME`` itself). All other arguments are optional.
REQUIRED_ARGS: tuple[str, ...] = ("JOB_NAME", "raw_path", "curated_path", "etl_spec")

_GLUE_TYPES = ("string", "int", "bigint", "double", "boolean", "timestamp")
_KINDS = ("id", "timestamp", "numeric", "categorical", "ordinal", "label")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


# --- The spec: what the data is (from the schema) and which column gets which treatment -----------------


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of the event schema, as the ETL needs it (a JSON-friendly copy of a schema field)."""

    name: str
    type: str
    kind: str
    nullable: bool
    values: tuple[str | int | bool, ...] = ()
    minimum: float | None = None  # plausible range of a numeric column (inclusive; None = unbounded)
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"etl_spec: column name {self.name!r} must match {_NAME_RE.pattern}")
        if self.type not in _GLUE_TYPES:
            raise ValueError(f"etl_spec: column {self.name!r} has type {self.type!r}, allowed: {list(_GLUE_TYPES)}")
        if self.kind not in _KINDS:
            raise ValueError(f"etl_spec: column {self.name!r} has kind {self.kind!r}, allowed: {list(_KINDS)}")
        bounds = [b for b in (self.minimum, self.maximum) if b is not None]
        if bounds and (self.kind != "numeric" or not all(math.isfinite(b) for b in bounds)):
            raise ValueError(f"etl_spec: column {self.name!r}: minimum/maximum need a numeric column and finite bounds")
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            raise ValueError(f"etl_spec: column {self.name!r}: minimum {bounds[0]} is above maximum {bounds[1]}")

    @property
    def is_boolean(self) -> bool:
        return self.type == "boolean"


@dataclass(frozen=True, slots=True)
class EtlSpec:
    """Column roles for the ETL, built from the event schema at synth time; shipped with ``to_args()``.

    ``columns`` is the schema in wire order. The treatment lists name columns of that schema:

    - ``impute_columns``: nullable numeric features whose nulls are imputed;
    - ``outlier_columns``: numeric features whose outliers are flagged or clipped;
    - ``log_scale_columns``: right-skewed, non-negative numeric features that outlier statistics and the
      imputation regression look at as ``log1p(x)`` (for a log-normal column the mean and the standard
      deviation of the raw values are dominated by the tail; on the log scale they describe the bulk);
    - ``bin_column``: the numeric feature that gets a quantile-bin column (or None).
    """

    columns: tuple[ColumnSpec, ...]
    label: str
    id_column: str
    timestamp_column: str
    timestamp_regex: str
    positive_class: int = 1
    impute_columns: tuple[str, ...] = ()
    outlier_columns: tuple[str, ...] = ()
    log_scale_columns: tuple[str, ...] = ()
    bin_column: str | None = None

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError("etl_spec: duplicate column names")
        self._check_roles(by_name)
        self._check_treatments(by_name)

    def _check_roles(self, by_name: Mapping[str, ColumnSpec]) -> None:
        for role, name, kind in (
            ("label", self.label, "label"),
            ("id_column", self.id_column, "id"),
            ("timestamp_column", self.timestamp_column, "timestamp"),
        ):
            if name not in by_name or by_name[name].kind != kind:
                raise ValueError(f"etl_spec: {role}={name!r} must name a column of kind {kind!r}")
        label = by_name[self.label]
        if set(label.values) != {0, 1} or label.type not in ("int", "bigint"):
            raise ValueError(f"etl_spec: the label {self.label!r} must be an integer column with values 0 and 1")
        if self.positive_class not in (0, 1):
            raise ValueError(f"etl_spec: positive_class={self.positive_class!r}, allowed: 0 or 1")
        re.compile(self.timestamp_regex)
        for column in self.columns:
            if column.kind in ("categorical", "ordinal") and len(column.values) < 2:
                raise ValueError(f"etl_spec: {column.kind} column {column.name!r} needs its allowed values")

    def _check_treatments(self, by_name: Mapping[str, ColumnSpec]) -> None:
        numeric = {c.name for c in self.columns if c.kind == "numeric"}
        treated = [("impute_columns", n) for n in self.impute_columns]
        treated += [("outlier_columns", n) for n in self.outlier_columns]
        treated += [("log_scale_columns", n) for n in self.log_scale_columns]
        treated += [("bin_column", self.bin_column)] if self.bin_column else []
        for role, name in treated:
            if name not in numeric:
                raise ValueError(f"etl_spec: {role} names {name!r}, which is not a numeric column")
        for name in self.impute_columns:
            if not by_name[name].nullable:
                raise ValueError(f"etl_spec: impute_columns names {name!r}, which is not nullable")

    # Role helpers (all in schema order) --------------------------------------------------------------

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def features(self) -> list[ColumnSpec]:
        """The model inputs: every column but the id, the timestamp and the label."""
        return [c for c in self.columns if c.kind in ("numeric", "categorical", "ordinal")]

    # Serialisation: the spec travels to the Glue job as JSON in one job argument -------------------------

    def to_json(self) -> str:
        """Compact JSON with sorted keys: stable bytes, so a CloudFormation diff shows only real changes."""
        body = asdict(self)
        body["spec_version"] = SPEC_VERSION
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> EtlSpec:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"etl_spec: not valid JSON ({exc.msg} at {exc.pos})") from exc
        version = body.pop("spec_version", None) if isinstance(body, dict) else None
        if version != SPEC_VERSION:
            raise ValueError(f"etl_spec: spec_version={version!r}, this job reads version {SPEC_VERSION}")
        tuples = ("impute_columns", "outlier_columns", "log_scale_columns")
        kwargs: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in body.items()}
        try:
            kwargs["columns"] = tuple(
                ColumnSpec(**{**c, "values": tuple(c.get("values", ()))}) for c in body["columns"]
            )
            return cls(**kwargs)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"etl_spec: not an ETL spec ({exc})") from exc

    def to_args(self) -> dict[str, str]:
        return {"--etl_spec": self.to_json()}

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> EtlSpec:
        """From resolved job arguments (``getResolvedOptions`` output: keys without the leading ``--``)."""
        return cls.from_json(args["etl_spec"])


# --- The parameters: numeric knobs, one optional job argument each --------------------------------------


def _parse_fractions(text: str) -> tuple[float, float, float]:
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 3:
        raise ValueError("three comma-separated numbers")
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True, slots=True)
class EtlParams:
    """The job's tunable parameters; each one is an optional job argument ``--<name>`` (defaults here).

    - ``raw_format``: ``parquet`` (Firehose record format conversion) or ``json`` (GZIP JSON Lines).
    - ``split_fractions``: train, validation, test; ``--split_fractions 0.7,0.15,0.15``.
    - ``split_seed``: salts the ``event_id`` hash that assigns the split.
    - ``impute_method``: ``median`` (the baseline), ``mean``, ``knn``, ``regression`` (one round of chained
      linear regressions), ``mice`` (rounds until they converge) or ``drop`` (train rows with a missing value are
      left out of training; validation, test and serving fill with the train median); docs/glue-etl.md.
    - ``knn_k``, ``knn_reference_rows``: neighbours averaged, and the most train rows searched (a deterministic
      sample by the hash of the id; exact KNN when train has no more complete rows than this).
    - ``mice_max_rounds``, ``mice_tolerance``: MICE stops once the largest change of an imputed train value in a
      round, relative to the column's largest observed absolute value, is below the tolerance, or after the
      rounds.
    - ``ridge``: L2 penalty on the standardised regression (keeps the normal equations solvable although
      each one-hot group sums to 1, the "dummy variable trap"); tiny on purpose.
    - ``outlier_k``: a value is an outlier beyond ``k`` standard deviations of the train mean.
    - ``outlier_mode``: ``clip`` (cap at the bound and flag), ``flag`` (flag only) or ``drop`` (train rows beyond
      the bounds are removed; validation, test and the endpoint clip and flag).
    - ``n_bins``: quantile bins of the bin column.
    - ``rebalance_ratio``: positives per negative in the train split after oversampling (0.25 = one
      positive per four negatives, a positive fraction of 20 %); ``0`` keeps the natural balance. The
      meaning is that of imbalanced-learn's float ``sampling_strategy``.
    - ``rebalance_seed``: salts the hashes of rebalancing (extra copies, kept negatives, SMOTE's draws).
    - ``rebalance_method``: ``oversample`` (copies), ``undersample`` (drops negatives), ``smote`` (synthetic
      positives), ``class_weight`` (no resampling: XGBoost's ``scale_pos_weight``) or ``none``; all but ``none``
      aim at ``rebalance_ratio`` (``runtime/rebalancing.py``).
    - ``smote_k``: SMOTE's neighbours per positive (imbalanced-learn's default, 5).
    - ``smote_max_positives``: above this many train positives SMOTE's O(P^2) neighbour search is not run and
      the job oversamples instead (said in the report).
    - ``bin_method``: ``quantile`` (equal counts) or ``equal_width`` (equal widths between the train min and max).
    - ``csv_files``: number of CSV files per split (rows are hash-distributed by ``event_id``).
    - ``min_positives``: the fewest positives the train and validation splits (and the test split, when its
      fraction is above 0) may hold; fewer fails the job before anything is written for training (a model
      trained or evaluated on one or two positives says nothing, and the evaluation would only fail after a
      paid training job).
    - ``future_tolerance_minutes``: an ``event_time`` later than the run's start plus this tolerance is
      quarantined as ``future_time:<field>`` (clock skew of producers is tolerated, a year 2099 is not).
    - ``window_days``: the training window, in ``dt=`` partitions (event dates, UTC) ending at ``window_end``
      inclusive: ``7`` reads the 7 days ``window_end - 6 .. window_end``; ``0`` reads the whole lake (every run
      then costs more as the lake grows). Only the in-window partitions are listed and read
      (``steps.window_paths``, docs/glue-etl.md "The training window").
    - ``window_end``: the window's last day, ``YYYY-MM-DD``; empty (the default) is the run's date, UTC. The
      training workflow passes the date its execution started, so a retried job reads the same days.
    - ``canonical_partitions``: partitions of the canonical order that fixes the order of floating-point
      sums (see ``steps.canonical_order``); about 2-4x the job's cores. Results are deterministic for a given
      value; changing it may change the last bits of a statistic (and so of an imputed or clipped value).
    """

    raw_format: str = "parquet"
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_seed: int = 20261120
    impute_method: str = "regression"
    ridge: float = 1e-4
    outlier_k: float = 3.0
    outlier_mode: str = "clip"
    n_bins: int = 10
    rebalance_ratio: float = 0.25
    rebalance_seed: int = 7
    csv_files: int = 2
    canonical_partitions: int = 16
    min_positives: int = 10
    future_tolerance_minutes: int = 60
    window_days: int = 0
    window_end: str = ""
    knn_k: int = 5
    knn_reference_rows: int = 1000
    mice_max_rounds: int = 10
    mice_tolerance: float = 1e-3
    rebalance_method: str = "oversample"
    smote_k: int = 5
    smote_max_positives: int = 20_000
    bin_method: str = "quantile"

    def __post_init__(self) -> None:
        self._check_window()
        train, validation, test = self.split_fractions
        checks: tuple[tuple[str, bool, str], ...] = (
            ("raw_format", self.raw_format in RAW_FORMATS, f"one of {list(RAW_FORMATS)}"),
            ("impute_method", self.impute_method in IMPUTE_METHODS, f"one of {list(IMPUTE_METHODS)}"),
            ("outlier_mode", self.outlier_mode in OUTLIER_MODES, f"one of {list(OUTLIER_MODES)}"),
            ("rebalance_method", self.rebalance_method in REBALANCE_METHODS, f"one of {list(REBALANCE_METHODS)}"),
            ("bin_method", self.bin_method in BIN_METHODS, f"one of {list(BIN_METHODS)}"),
            ("smote_k", 1 <= self.smote_k <= 100, "an integer from 1 to 100"),
            ("smote_max_positives", 2 <= self.smote_max_positives <= 200_000, "an integer from 2 to 200000"),
            (
                "split_fractions",
                train > 0 and validation > 0 and test >= 0 and math.isclose(train + validation + test, 1.0),
                "train > 0, validation > 0, test >= 0, summing to 1",
            ),
            ("outlier_k", math.isfinite(self.outlier_k) and self.outlier_k > 0, "a number > 0"),
            ("ridge", math.isfinite(self.ridge) and 0 < self.ridge <= 1, "a number in (0, 1]"),
            ("n_bins", 2 <= self.n_bins <= 1000, "an integer from 2 to 1000"),
            (
                "rebalance_ratio",
                math.isfinite(self.rebalance_ratio) and 0 <= self.rebalance_ratio <= 1,
                "a number from 0 (off) to 1 (as many positives as negatives)",
            ),
            ("csv_files", 1 <= self.csv_files <= 1000, "an integer from 1 to 1000"),
            ("canonical_partitions", 1 <= self.canonical_partitions <= 10_000, "an integer from 1 to 10000"),
            ("min_positives", 1 <= self.min_positives <= 1_000_000, "an integer from 1 to 1000000"),
            (
                "future_tolerance_minutes",
                0 <= self.future_tolerance_minutes <= 10_080,
                "an integer from 0 to 10080 (one week)",
            ),
        )
        checks += (
            ("knn_k", 1 <= self.knn_k <= MAX_KNN_K, f"an integer from 1 to {MAX_KNN_K}"),
            (
                "knn_reference_rows",
                self.knn_k <= self.knn_reference_rows <= MAX_KNN_REFERENCE_ROWS,
                f"an integer from knn_k ({self.knn_k}) to {MAX_KNN_REFERENCE_ROWS}",
            ),
            ("mice_max_rounds", 1 <= self.mice_max_rounds <= MAX_MICE_ROUNDS, f"1 to {MAX_MICE_ROUNDS} rounds"),
            (
                "mice_tolerance",
                math.isfinite(self.mice_tolerance) and 0 < self.mice_tolerance <= 1,
                "a number in (0, 1]",
            ),
        )
        for name, allowed, values in checks:
            if not allowed:
                raise ValueError(f"--{name}={getattr(self, name)!r} is not allowed: {values}")

    def _check_window(self) -> None:
        if not 0 <= self.window_days <= MAX_WINDOW_DAYS:
            raise ValueError(
                f"--window_days={self.window_days!r} is not allowed: an integer from 0 (the whole lake) to "
                f"{MAX_WINDOW_DAYS}"
            )
        if self.window_end:
            try:
                end = date.fromisoformat(self.window_end) if _DATE_RE.match(self.window_end) else None
                valid = end is not None and end - timedelta(days=max(self.window_days - 1, 0)) >= date.min
            except (ValueError, OverflowError):
                valid = False
            if not valid:
                raise ValueError(
                    f"--window_end={self.window_end!r} is not allowed: a date YYYY-MM-DD after 0001-01-01 plus "
                    "window_days (or empty: the run's date)"
                )

    def window(self, run_date: date) -> tuple[date, date] | None:
        """The first and last day of the training window (both inclusive), or None for the whole lake."""
        if self.window_days == 0:
            return None
        end = date.fromisoformat(self.window_end) if self.window_end else run_date
        return end - timedelta(days=self.window_days - 1), end

    def to_args(self) -> dict[str, str]:
        """Every parameter as a Glue job argument (``--name``: string value); an empty ``window_end`` (the run's
        date) is left out, so a run without the argument takes its own date."""
        out = {}
        for name, value in asdict(self).items():
            if name == "window_end" and not value:
                continue
            text = ",".join(repr(float(v)) for v in value) if name == "split_fractions" else str(value)
            out[f"--{name}"] = text
        return out

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> EtlParams:
        """From resolved job arguments; a missing one keeps its default, a malformed one is a clear error."""
        kwargs: dict[str, Any] = {}
        for name, default in asdict(cls()).items():
            if name not in args:
                continue
            text = str(args[name]).strip()
            try:
                if name == "split_fractions":
                    kwargs[name] = _parse_fractions(text)
                else:
                    kwargs[name] = type(default)(text)
            except ValueError as exc:
                raise ValueError(f"--{name}={text!r} is not a valid {type(default).__name__} ({exc})") from exc
        return cls(**kwargs)

    @classmethod
    def arg_names(cls) -> tuple[str, ...]:
        return tuple(asdict(cls()))


def job_arguments(
    raw_path: str, curated_path: str, spec: EtlSpec, params: EtlParams, bias_facets: Sequence[str] = ()
) -> dict[str, str]:
    """The Glue job's ``default_arguments`` (Glue adds ``--JOB_NAME`` itself). Values may be CDK tokens."""
    return {
        "--raw_path": raw_path,
        "--curated_path": curated_path,
        **spec.to_args(),
        **params.to_args(),
        **bias_facet_args(spec, bias_facets),
    }


def job_argument_names(argv: Sequence[str]) -> list[str]:
    """The names to pass to ``getResolvedOptions``: the required ones plus the optional ones present.

    ``getResolvedOptions`` fails on a listed name that is missing from ``argv``, so optional parameters
    are only listed when given; ``EtlParams.from_args`` fills in the defaults of the others.
    """
    present = set(argv)
    optional = (*EtlParams.arg_names(), BIAS_FACETS_ARG)
    return [*REQUIRED_ARGS, *(n for n in optional if f"--{n}" in present)]


# --- Bias facets: the raw fields whose pre-training bias the job reports (docs/bias-and-explainability.md) ----------

#: Optional job argument: comma-separated facets (categorical or ordinal columns of the spec); absent: none.
BIAS_FACETS_ARG = "bias_facets"
#: Clarify's analysis.json layout (``pre_training_bias_metrics``), beside the report.
BIAS_ANALYSIS_KEY = "report/analysis.json"


def check_bias_facets(spec: EtlSpec, facets: Sequence[str]) -> tuple[str, ...]:
    """The facets, each a categorical or ordinal column of ``spec`` named once; ``ValueError`` otherwise."""
    allowed = [c.name for c in spec.columns if c.kind in ("categorical", "ordinal")]
    out = tuple(facets)
    for name in out:
        if name not in allowed:
            raise ValueError(f"--{BIAS_FACETS_ARG}: {name!r} is not allowed: one of {allowed}")
    if len(set(out)) != len(out):
        raise ValueError(f"--{BIAS_FACETS_ARG}={','.join(out)!r}: each facet at most once")
    return out


def bias_facet_args(spec: EtlSpec, facets: Sequence[str]) -> dict[str, str]:
    """``--bias_facets`` when there are facets (checked against the spec), nothing otherwise."""
    checked = check_bias_facets(spec, facets)
    return {f"--{BIAS_FACETS_ARG}": ",".join(checked)} if checked else {}


def bias_facets_from_args(spec: EtlSpec, args: Mapping[str, str]) -> tuple[str, ...]:
    """The facets from resolved job arguments (none when the argument is absent or empty)."""
    text = str(args.get(BIAS_FACETS_ARG, ""))
    return check_bias_facets(spec, [part.strip() for part in text.split(",") if part.strip()])


# --- Column naming: one place decides every output column name and the CSV order --------------------


def _slug(value: str | int | bool) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", str(value).lower())


def one_hot_name(column: str, value: str | int | bool) -> str:
    return f"{column}__{_slug(value)}"


def rank_name(column: str) -> str:
    return f"{column}_rank"


def was_missing_name(column: str) -> str:
    return f"{column}_was_missing"


def outlier_flag_name(column: str) -> str:
    return f"{column}_is_outlier"


def bin_name(column: str) -> str:
    return f"{column}_bin"


def encoded_base_columns(spec: EtlSpec) -> list[str]:
    """The encoded form of each feature, schema order: the inputs of the imputation regression."""
    out: list[str] = []
    for c in spec.features():
        if c.kind == "numeric" or c.is_boolean:
            out.append(c.name)
        elif c.kind == "ordinal":
            out.append(rank_name(c.name))
        else:
            out.extend(one_hot_name(c.name, v) for v in c.values)
    return out


def feature_columns(spec: EtlSpec) -> list[str]:
    """The model's feature columns in CSV order (after the label). The order rule, a contract:

    features in schema order; a numeric feature is followed by its derived columns in the order
    ``<name>_was_missing`` (imputed columns), ``<name>_is_outlier`` (outlier columns), ``<name>_bin`` (the
    bin column); a boolean is one 0/1 column; an ordinal is ``<name>_rank`` (0..k-1 in schema order); a
    categorical is one ``<name>__<value>`` 0/1 column per allowed value, in schema order. It depends on
    the spec only, never on the data or the parameters, so every split and every run has the same columns.
    """
    out: list[str] = []
    for c in spec.features():
        if c.kind == "numeric":
            out += [c.name, *_derived_columns(spec, c.name)]
        elif c.is_boolean:
            out.append(c.name)
        elif c.kind == "ordinal":
            out.append(rank_name(c.name))
        else:
            out.extend(one_hot_name(c.name, v) for v in c.values)
    if len(set(out)) != len(out):
        raise ValueError(f"etl_spec: encoded feature names collide: {out}")
    return out


def _derived_columns(spec: EtlSpec, name: str) -> list[str]:
    """The columns the treatments add after a numeric feature, in the order of ``feature_columns``."""
    derived = []
    if name in spec.impute_columns:
        derived.append(was_missing_name(name))
    if name in spec.outlier_columns:
        derived.append(outlier_flag_name(name))
    if name == spec.bin_column:
        derived.append(bin_name(name))
    return derived


def csv_columns(spec: EtlSpec) -> list[str]:
    """The XGBoost CSV columns: the label first, then ``feature_columns(spec)``."""
    return [spec.label, *feature_columns(spec)]


def prepared_columns(spec: EtlSpec) -> list[str]:
    """Columns of the Parquet output for Athena (``split`` and ``dt`` are its partition directories)."""
    originals = [c.name for c in spec.features() if c.kind in ("categorical", "ordinal") and not c.is_boolean]
    return [spec.id_column, spec.timestamp_column, spec.label, *feature_columns(spec), *originals, COPY_COLUMN]


def split_unit_interval(event_id: str, seed: int) -> float:
    """Pure-Python twin of the split hash: ``crc32("<seed>:<event_id>") / 2**32`` in [0, 1).

    crc32 is in Python's ``zlib``, in Spark and in Athena (``crc32(to_utf8(...))``), so anyone can
    recompute which split an event went to.
    """
    return zlib.crc32(f"{seed}:{event_id}".encode()) / 4294967296.0
