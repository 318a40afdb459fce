"""Data preparation for the worked example as plain PySpark functions: the logic of the Glue ETL job.

The job reads the raw zone exactly as Firehose writes it and writes what SageMaker's built-in XGBoost and
Athena read from the curated zone. Every step is a function of its own (the tests call them one by one);
``run`` chains them and returns the report that it also writes::

    read_raw -> parse_records -> validate_records --(bad records)--> quarantine/
                                        | clean records
    canonical_order -> encode_features -> assign_split -> outliers -> imputation -> binning
        -> rebalance (train only) -> train/ validation/ test/ (CSV), prepared/ (Parquet), report/

Rules every step follows (the syllabus's data-preparation chapter, and what goes wrong without them):

* **Nothing vanishes.** A record that does not fit the schema goes to ``quarantine/`` with exactly one
  reason and its raw text; ``rows_in == rows_clean + rows_quarantined`` is checked in code (the seed calls
  dropping rows "always a bad choice": a silently dropped record is also a silently biased data set).
* **Fit on train only.** Every statistic (means, standard deviations, medians, regression coefficients,
  quantile edges) is computed on the training split *before* oversampling and then applied unchanged to
  all splits. Fitting on all the data would leak validation and test information into training and make
  the validation metrics optimistic.
* **Deterministic.** Same input, same parameters -> the same split, statistics and CSV bytes, however the
  input is cut into files or partitions: the split is a hash of ``event_id``, quantiles are exact, and
  floating-point sums run in a fixed order (see ``canonical_order``), because a double sum depends on the
  order of its terms and Spark does not fix that order.
* **Schema-driven.** Which column is numeric, categorical, ordinal, the label or the id comes from the
  worked example's schema through ``EtlSpec``; no column list is written down twice.

This module never imports ``worked_example`` at import time: in Glue only this file is shipped (with
``--extra-py-files``), so the schema travels as JSON in the ``--etl_spec`` job argument, built at synth time
by ``spec_from_schema()`` (which imports the schema lazily). Neither does it need pyspark to be imported:
the CDK construct imports ``EtlSpec``/``EtlParams``/``job_arguments`` at synth time, where pyspark is not
installed; only the Spark functions need it, and they only run where it is (Glue, the tests).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

try:
    from pyspark import StorageLevel
    from pyspark.sql import Column, DataFrame, SparkSession, Window
    from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention
    from pyspark.sql import types as T  # noqa: N812
except ModuleNotFoundError:  # pragma: no cover - synth-time import by the CDK construct (no pyspark there)
    pass

LOG = logging.getLogger(__name__)

#: Bump when the meaning of the spec JSON changes; ``EtlSpec.from_json`` rejects other versions.
SPEC_VERSION = 1
#: Bump when the report's structure changes (training and the endpoint read it).
REPORT_VERSION = 1

# --- Output contract: sub-prefixes of the curated path (the CDK construct and training read these) ------

#: CSV for SageMaker's built-in XGBoost: label first, no header, numeric only, same columns in every split.
CSV_PREFIXES: Mapping[str, str] = {"train": "train/", "validation": "validation/", "test": "test/"}
#: The same prepared rows as Parquet for Athena, partitioned by ``split`` and ``dt``.
PREPARED_PREFIX = "prepared/"
#: Quarantined records (Parquet, partitioned by ``dt``) with ``quarantine_reason`` and the raw record.
QUARANTINE_PREFIX = "quarantine/"
#: The JSON report (a single object with exactly this key).
REPORT_KEY = "report/etl_report.json"

SPLITS: tuple[str, ...] = ("train", "validation", "test")
PARTITION_COLUMN = "dt"  # Hive-style partition of the raw zone (event date, YYYY-MM-DD)
SPLIT_COLUMN = "split"
COPY_COLUMN = "oversample_copy"  # 0 = the original row, 1.. = copies added by oversampling (train only)
REASON_COLUMN = "quarantine_reason"
RAW_RECORD_COLUMN = "raw_record"
SOURCE_FILE_COLUMN = "source_file"
_UNPARSABLE = "_unparsable"
_EMPTY = "_empty_record"

RAW_FORMATS = ("parquet", "json")
IMPUTE_METHODS = ("median", "regression")
OUTLIER_MODES = ("flag", "clip")

#: Job arguments every run needs (Glue passes ``JOB_NAME`` itself). All other arguments are optional.
REQUIRED_ARGS: tuple[str, ...] = ("JOB_NAME", "raw_path", "curated_path", "etl_spec")

_GLUE_TYPES = ("string", "int", "bigint", "double", "boolean", "timestamp")
_KINDS = ("id", "timestamp", "numeric", "categorical", "ordinal", "label")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class EtlInvariantError(RuntimeError):
    """A count that must balance does not: a step lost or invented rows. The job fails instead of writing."""


# --- The spec: what the data is (from the schema) and which column gets which treatment -----------------


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of the event schema, as the ETL needs it (a JSON-friendly copy of ``schema.Field``)."""

    name: str
    type: str
    kind: str
    nullable: bool
    values: tuple[str | int | bool, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"etl_spec: column name {self.name!r} must match {_NAME_RE.pattern}")
        if self.type not in _GLUE_TYPES:
            raise ValueError(f"etl_spec: column {self.name!r} has type {self.type!r}, allowed: {list(_GLUE_TYPES)}")
        if self.kind not in _KINDS:
            raise ValueError(f"etl_spec: column {self.name!r} has kind {self.kind!r}, allowed: {list(_KINDS)}")


@dataclass(frozen=True, slots=True)
class EtlSpec:
    """Column roles for the ETL. Build it with ``spec_from_schema()``; ship it with ``to_args()``.

    ``columns`` is the schema in wire order. The treatment lists name columns of that schema:

    - ``impute_columns``: nullable numeric features whose nulls are imputed (default: all of them);
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
        for column in self.columns:
            if column.kind in ("categorical", "ordinal") and len(column.values) < 2:
                raise ValueError(f"etl_spec: {column.kind} column {column.name!r} needs its allowed values")

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


def spec_from_schema(
    *,
    outlier_columns: Sequence[str] = ("amount",),
    log_scale_columns: Sequence[str] = ("amount", "distance_from_home_km"),
    bin_column: str | None = "account_age_days",
) -> EtlSpec:
    """The spec of the worked example, derived from ``worked_example.schema`` (imported here, lazily).

    Column kinds, types, nullability and allowed values come from the schema; the imputed columns are the
    nullable numeric features. The three treatment choices are the only column names written here, as
    defaults: ``amount`` carries the x100 recording errors and is log-normal, ``distance_from_home_km`` is
    log-normal too, and ``account_age_days`` is the syllabus's binning example (a skewed count of days).
    """
    from worked_example import schema  # lazy on purpose: not shipped to Glue

    columns = tuple(ColumnSpec(f.name, f.type, str(f.kind), f.nullable, tuple(f.values)) for f in schema.FIELDS)
    impute = tuple(f.name for f in schema.feature_fields() if f.kind == schema.Kind.NUMERIC and f.nullable)
    return EtlSpec(
        columns=columns,
        label=schema.LABEL,
        id_column=schema.ID_FIELD,
        timestamp_column=schema.TIMESTAMP_FIELD,
        # The schema's own validator pattern for the wire format 2026-11-20T10:15:30.123Z.
        timestamp_regex=schema.TIMESTAMP_REGEX,
        positive_class=schema.POSITIVE_CLASS,
        impute_columns=impute,
        outlier_columns=tuple(outlier_columns),
        log_scale_columns=tuple(log_scale_columns),
        bin_column=bin_column,
    )


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
    - ``impute_method``: ``regression`` (MICE-style linear regression) or ``median`` (the baseline).
    - ``ridge``: L2 penalty on the standardised regression (keeps the normal equations solvable although
      each one-hot group sums to 1, the "dummy variable trap"); tiny on purpose.
    - ``outlier_k``: a value is an outlier beyond ``k`` standard deviations of the train mean.
    - ``outlier_mode``: ``clip`` (cap at the bound and flag) or ``flag`` (flag only).
    - ``n_bins``: quantile bins of the bin column.
    - ``rebalance_ratio``: positives per negative in the train split after oversampling (0.25 = one
      positive per four negatives, a positive fraction of 20 %); ``0`` keeps the natural balance. The
      meaning is that of imbalanced-learn's float ``sampling_strategy``.
    - ``rebalance_seed``: salts the hash that picks which positives get one extra copy.
    - ``csv_files``: number of CSV files per split (rows are hash-distributed by ``event_id``).
    - ``canonical_partitions``: partitions of the canonical order that fixes the order of floating-point
      sums (see ``canonical_order``); about 2-4x the job's cores. Results are deterministic for a given
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

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ValueError:
            return ValueError(f"--{name}={getattr(self, name)!r} is not allowed: {allowed}")

        if self.raw_format not in RAW_FORMATS:
            raise bad("raw_format", f"one of {list(RAW_FORMATS)}")
        if self.impute_method not in IMPUTE_METHODS:
            raise bad("impute_method", f"one of {list(IMPUTE_METHODS)}")
        if self.outlier_mode not in OUTLIER_MODES:
            raise bad("outlier_mode", f"one of {list(OUTLIER_MODES)}")
        train, validation, test = self.split_fractions
        if not (train > 0 and validation > 0 and test >= 0 and math.isclose(train + validation + test, 1.0)):
            raise bad("split_fractions", "train > 0, validation > 0, test >= 0, summing to 1")
        if not (math.isfinite(self.outlier_k) and self.outlier_k > 0):
            raise bad("outlier_k", "a number > 0")
        if not (math.isfinite(self.ridge) and 0 < self.ridge <= 1):
            raise bad("ridge", "a number in (0, 1]")
        if not 2 <= self.n_bins <= 1000:
            raise bad("n_bins", "an integer from 2 to 1000")
        if not (math.isfinite(self.rebalance_ratio) and 0 <= self.rebalance_ratio <= 1):
            raise bad("rebalance_ratio", "a number from 0 (off) to 1 (as many positives as negatives)")
        if not 1 <= self.csv_files <= 1000:
            raise bad("csv_files", "an integer from 1 to 1000")
        if not 1 <= self.canonical_partitions <= 10_000:
            raise bad("canonical_partitions", "an integer from 1 to 10000")

    def to_args(self) -> dict[str, str]:
        """Every parameter as a Glue job argument (``--name``: string value)."""
        out = {}
        for name, value in asdict(self).items():
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


def job_arguments(raw_path: str, curated_path: str, spec: EtlSpec, params: EtlParams) -> dict[str, str]:
    """The Glue job's ``default_arguments`` (Glue adds ``--JOB_NAME`` itself). Values may be CDK tokens."""
    return {"--raw_path": raw_path, "--curated_path": curated_path, **spec.to_args(), **params.to_args()}


def job_argument_names(argv: Sequence[str]) -> list[str]:
    """The names to pass to ``getResolvedOptions``: the required ones plus the optional ones present.

    ``getResolvedOptions`` fails on a listed name that is missing from ``argv``, so optional parameters
    are only listed when given; ``EtlParams.from_args`` fills in the defaults of the others.
    """
    present = set(argv)
    return [*REQUIRED_ARGS, *(n for n in EtlParams.arg_names() if f"--{n}" in present)]


def run_from_args(spark: SparkSession, args: Mapping[str, str]) -> dict[str, Any]:
    """``run`` with everything taken from resolved job arguments (what the Glue entry calls)."""
    spec = EtlSpec.from_args(args)
    params = EtlParams.from_args(args)
    return run(spark, args["raw_path"], args["curated_path"], spec, params)


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


def _is_boolean(column: ColumnSpec) -> bool:
    return column.type == "boolean"


def encoded_base_columns(spec: EtlSpec) -> list[str]:
    """The encoded form of each feature, schema order: the inputs of the imputation regression."""
    out: list[str] = []
    for c in spec.features():
        if c.kind == "numeric" or _is_boolean(c):
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
            out.append(c.name)
            if c.name in spec.impute_columns:
                out.append(was_missing_name(c.name))
            if c.name in spec.outlier_columns:
                out.append(outlier_flag_name(c.name))
            if c.name == spec.bin_column:
                out.append(bin_name(c.name))
        elif _is_boolean(c):
            out.append(c.name)
        elif c.kind == "ordinal":
            out.append(rank_name(c.name))
        else:
            out.extend(one_hot_name(c.name, v) for v in c.values)
    if len(set(out)) != len(out):
        raise ValueError(f"etl_spec: encoded feature names collide: {out}")
    return out


def csv_columns(spec: EtlSpec) -> list[str]:
    """The XGBoost CSV columns: the label first, then ``feature_columns(spec)``."""
    return [spec.label, *feature_columns(spec)]


# --- Spark helpers ---------------------------------------------------------------------------------


def _spark_type(glue_type: str) -> T.DataType:
    return {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "bigint": T.LongType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "timestamp": T.TimestampType(),
    }[glue_type]


def _present_name(column: str) -> str:
    return f"_present_{column}"


def _join(base: str, sub: str) -> str:
    return base.rstrip("/") + "/" + sub


def _finite_or_null(col: Column) -> Column:
    """A double column with NaN and +-Infinity turned into null (JSON has neither; the schema forbids both)."""
    return F.when(~F.isnan(col) & (F.abs(col) != F.lit(float("inf"))), col)


def _ordered_aggregates(df: DataFrame, aggs: Mapping[str, tuple[str, Column]]) -> dict[str, Any]:
    """Aggregate ``{name: (sum|min|max, expression)}`` over ``df`` with a reproducible result.

    A floating-point sum depends on the order of its terms, and Spark fixes neither the order of rows in a
    partition after a shuffle nor the order in which it merges partial sums. So: ``df`` must be in the
    canonical order (``canonical_order``: hash-partitioned by the id, sorted within each partition); each
    partition is summed in its row order (one group per partition id, so the partial aggregate of a
    partition is its whole sum), and the per-partition results are merged here, in partition order.
    Spark keeps a sort below a sum of doubles (its optimizer knows such sums are order-sensitive).
    """
    functions = {"sum": F.sum, "min": F.min, "max": F.max}
    exprs = [functions[kind](expr).alias(name) for name, (kind, expr) in aggs.items()]
    rows = sorted(df.groupBy(F.spark_partition_id().alias("_pid")).agg(*exprs).collect(), key=lambda r: r["_pid"])
    out: dict[str, Any] = {}
    for name, (kind, _) in aggs.items():
        values = [r[name] for r in rows if r[name] is not None]
        if kind == "sum":
            total: Any = 0
            for v in values:  # left to right, in partition order
                total += v
            out[name] = total
        else:
            out[name] = (min if kind == "min" else max)(values) if values else None
    return out


def _exact_quantiles(df: DataFrame, columns: list[str], probabilities: list[float]) -> list[list[float]]:
    """Exact quantiles (``approxQuantile`` with relativeError 0): for sorted non-null values ``v`` and
    probability ``q``, the observed value ``v[max(ceil(q * n), 1) - 1]``. Exact, hence independent of the
    row order; an observed value, never an interpolation."""
    return df.approxQuantile(columns, probabilities, 0.0)


# --- Step 1: read the raw zone ---------------------------------------------------------------------


def read_raw(spark: SparkSession, raw_path: str, raw_format: str) -> DataFrame:
    """Read the raw zone as Firehose writes it, keeping the ``dt`` partition and the source file name.

    - ``json``: GZIP JSON Lines. Read as *text*, one row per line, so that a line that is not valid JSON
      is still a row (a JSON reader could drop or mangle it); ``parse_records`` parses it.
    - ``parquet``: Firehose's record format conversion output, with the schema's columns and types.

    ``dt`` comes from the ``dt=YYYY-MM-DD`` directories (Spark's partition discovery; ``basePath`` keeps it
    a column) and is returned as a string whatever type Spark infers for it.
    """
    if raw_format not in RAW_FORMATS:
        raise ValueError(f"raw_format={raw_format!r}, allowed: {list(RAW_FORMATS)}")
    reader = spark.read.option("basePath", raw_path)
    df = reader.text(raw_path) if raw_format == "json" else reader.parquet(raw_path)
    if PARTITION_COLUMN not in df.columns:
        raise ValueError(f"{raw_path}: no Hive-style '{PARTITION_COLUMN}=YYYY-MM-DD' directories found")
    return df.withColumn(PARTITION_COLUMN, F.col(PARTITION_COLUMN).cast("string")).withColumn(
        SOURCE_FILE_COLUMN, F.input_file_name()
    )


# --- Step 2: parse and validate -> clean records and quarantine ------------------------------------


def parse_records(raw: DataFrame, spec: EtlSpec, raw_format: str) -> DataFrame:
    """Turn raw rows into typed columns, remembering for every field whether the raw value was present.

    Output columns: ``raw_record`` (the JSON line, or the Parquet row as JSON), ``source_file``, ``dt``,
    ``_unparsable``, ``_empty_record``, one typed column per schema column, and ``_present_<name>`` (the raw
    value was not null). ``validate_records`` compares the two: present in the raw but null after typing
    is a type error. That comparison is needed because Spark 3.5 (non-ANSI, as in Glue 5) turns a bad
    cast into a null instead of an error.

    JSON lines are parsed twice with explicit schemas, so no line can vanish:

    1. with every field as a string, wrapped as ``[<line>]`` into an array: a line that is not exactly one
       JSON object (malformed, a bare value, or two concatenated records, which a plain parse would
       silently cut to the first) gives no array of size one and is ``_unparsable``; the strings say which
       fields were present;
    2. with the real types: a JSON string in a numeric field, a fraction in an int field, ``"true"`` in a
       boolean field fails and gives null for that field only (Spark's partial results, set below).

    The timestamp is parsed from its string: it must match the schema's wire format exactly, then a cast
    (not ``to_timestamp``, whose legacy-parser fallback raises on some malformed dates) reads it, an
    impossible date giving null.
    """
    columns = spec.columns
    timestamp_regex = spec.timestamp_regex
    if raw_format == "json":
        # The default in Spark 3.5, set explicitly because the per-field reasons depend on it.
        raw.sparkSession.conf.set("spark.sql.json.enablePartialResults", "true")
        as_strings = T.StructType([T.StructField(c.name, T.StringType()) for c in columns])
        typed_schema = T.StructType(
            [T.StructField(c.name, T.StringType() if c.type == "timestamp" else _spark_type(c.type)) for c in columns]
        )
        line = F.col("value")
        wrapped = F.from_json(F.concat(F.lit("["), line, F.lit("]")), T.ArrayType(as_strings))
        staged = raw.select(
            line.alias(RAW_RECORD_COLUMN),
            F.col(SOURCE_FILE_COLUMN),
            F.col(PARTITION_COLUMN),
            (F.trim(line) == "").alias(_EMPTY),
            wrapped.alias("_strings"),
            F.from_json(line, typed_schema).alias("_typed"),
        )
        one_object = F.col("_strings").isNotNull() & (F.size("_strings") == 1) & F.col("_strings")[0].isNotNull()
        selected = [
            F.col(RAW_RECORD_COLUMN),
            F.col(SOURCE_FILE_COLUMN),
            F.col(PARTITION_COLUMN),
            F.col(_EMPTY),
            (~F.col(_EMPTY) & ~one_object).alias(_UNPARSABLE),
        ]
        for c in columns:
            raw_text = F.when(one_object, F.col("_strings")[0][c.name])
            typed = F.when(one_object, F.col("_typed")[c.name])
            if c.type == "timestamp":
                typed = F.when(raw_text.rlike(timestamp_regex), raw_text.cast("timestamp"))
            elif c.type == "double":
                typed = _finite_or_null(typed)
            selected += [typed.alias(c.name), raw_text.isNotNull().alias(_present_name(c.name))]
        return staged.select(*selected)

    # Parquet: the file already has types. A column missing from the files is null (so "missing" for a
    # non-nullable field); a column of another type is cast, and a value the cast turns into null is a
    # type error, exactly as for JSON.
    data_columns = [n for n in raw.columns if n not in (PARTITION_COLUMN, SOURCE_FILE_COLUMN)]
    selected = [
        F.to_json(F.struct(*[F.col(n) for n in data_columns])).alias(RAW_RECORD_COLUMN),
        F.col(SOURCE_FILE_COLUMN),
        F.col(PARTITION_COLUMN),
        F.lit(False).alias(_EMPTY),
        F.lit(False).alias(_UNPARSABLE),
    ]
    source_types = dict(raw.dtypes)
    for c in columns:
        if c.name not in data_columns:
            selected += [F.lit(None).cast(_spark_type(c.type)).alias(c.name), F.lit(False).alias(_present_name(c.name))]
            continue
        value = F.col(c.name)
        if c.type == "timestamp" and source_types[c.name] == "string":
            typed = F.when(value.rlike(timestamp_regex), value.cast("timestamp"))
        else:
            typed = value.cast(_spark_type(c.type))
        if c.type == "double":
            typed = _finite_or_null(typed)
        selected += [typed.alias(c.name), value.isNotNull().alias(_present_name(c.name))]
    return raw.select(*selected)


def quarantine_reason(spec: EtlSpec) -> Column:
    """The first problem of a parsed record, or null. One reason per record, checked in this order:

    ``empty_record``, ``unparsable_json``, then field by field in schema order: ``missing:<field>`` (null in
    a non-nullable field), ``wrong_type:<field>`` / ``bad_timestamp:<field>`` (present but not of the
    field's type), ``not_allowed:<field>`` (a categorical or ordinal value outside the schema's allowed
    values), ``invalid_label:<field>`` (a label other than 0/1). Unknown extra keys are ignored (the
    schema grows by appending fields, and old jobs must keep reading new records).
    """
    checks = [F.when(F.col(_EMPTY), F.lit("empty_record")), F.when(F.col(_UNPARSABLE), F.lit("unparsable_json"))]
    for c in spec.columns:
        value, present = F.col(c.name), F.col(_present_name(c.name))
        if not c.nullable:
            checks.append(F.when(~present, F.lit(f"missing:{c.name}")))
        type_reason = "bad_timestamp" if c.type == "timestamp" else "wrong_type"
        checks.append(F.when(present & value.isNull(), F.lit(f"{type_reason}:{c.name}")))
        if c.values and not _is_boolean(c):
            reason = "invalid_label" if c.kind == "label" else "not_allowed"
            checks.append(F.when(value.isNotNull() & ~value.isin(list(c.values)), F.lit(f"{reason}:{c.name}")))
    return F.coalesce(*checks)


def validate_records(parsed: DataFrame, spec: EtlSpec) -> DataFrame:
    """Add ``quarantine_reason`` (null = clean) to parsed records, including ``duplicate_event_id``.

    Kinesis and Firehose deliver at least once: a producer retry can store the same event twice. Among
    otherwise clean records with the same id, the first by (raw record, source file) stays clean and the
    others are quarantined as duplicates, so a retried event is neither counted twice nor lost.
    """
    first = quarantine_reason(spec)
    staged = parsed.withColumn("_first_reason", first)
    window = Window.partitionBy(F.col(spec.id_column), F.col("_first_reason").isNull()).orderBy(
        RAW_RECORD_COLUMN, SOURCE_FILE_COLUMN
    )
    duplicate = F.when(F.col("_first_reason").isNull() & (F.row_number().over(window) > 1), F.lit("duplicate_event_id"))
    return staged.withColumn(REASON_COLUMN, F.coalesce(F.col("_first_reason"), duplicate)).drop("_first_reason")


def clean_records(validated: DataFrame, spec: EtlSpec) -> DataFrame:
    """The clean records: the schema's typed columns plus ``dt``."""
    return validated.filter(F.col(REASON_COLUMN).isNull()).select(*[c.name for c in spec.columns], PARTITION_COLUMN)


def quarantined_records(validated: DataFrame) -> DataFrame:
    """The quarantined records: reason, raw record (JSON line or Parquet row as JSON), source file, ``dt``."""
    return validated.filter(F.col(REASON_COLUMN).isNotNull()).select(
        REASON_COLUMN, RAW_RECORD_COLUMN, SOURCE_FILE_COLUMN, PARTITION_COLUMN
    )


def check_accounting(rows_in: int, rows_clean: int, rows_quarantined: int) -> None:
    """Every raw record is either clean or quarantined, never both, never neither."""
    if rows_in != rows_clean + rows_quarantined:
        raise EtlInvariantError(
            f"records do not balance: rows_in={rows_in} != rows_clean={rows_clean} + "
            f"rows_quarantined={rows_quarantined}"
        )


# --- Step 3: canonical order, encoding, split ------------------------------------------------------


def canonical_order(df: DataFrame, spec: EtlSpec, partitions: int) -> DataFrame:
    """Hash-partition by the id into ``partitions`` partitions and sort each one by the id.

    After this, which partition a row is in and where, depends on its id only, not on how the input was
    cut into files: every later floating-point sum (``_ordered_aggregates``) then adds the same terms in
    the same order. Ids are unique here (duplicates were quarantined), so the order is total.
    """
    return df.repartition(partitions, spec.id_column).sortWithinPartitions(spec.id_column)


def encode_features(df: DataFrame, spec: EtlSpec) -> DataFrame:
    """Encode the non-numeric features for XGBoost (which reads numbers only).

    - categorical -> one-hot, one 0/1 column per allowed value in the schema's order. The order is fixed by
      the schema, not discovered from the data, so every split and every run gets the same columns, and
      an unknown category cannot occur (it was quarantined). XGBoost's trees do not need the dropped
      reference level that a linear model would, so every level gets a column.
    - ordinal -> ``<name>_rank``, 0..k-1 in the schema's order, keeping the order the trees can split on.
    - boolean -> 0/1 in place.
    The original categorical and ordinal strings stay (the Parquet output keeps them for Athena).
    """
    out = df
    for c in spec.features():
        col = F.col(c.name)
        if _is_boolean(c):
            out = out.withColumn(c.name, col.cast("int"))
        elif c.kind == "ordinal":
            rank = F.lit(None).cast("int")
            for i, value in enumerate(c.values):
                rank = F.when(col == F.lit(value), F.lit(i)).otherwise(rank)
            out = out.withColumn(rank_name(c.name), rank)
        elif c.kind == "categorical":
            out = out.select("*", *[(col == F.lit(v)).cast("int").alias(one_hot_name(c.name, v)) for v in c.values])
    return out.withColumn(spec.label, F.col(spec.label).cast("int"))


def split_unit_interval(event_id: str, seed: int) -> float:
    """Pure-Python twin of the split hash: ``crc32("<seed>:<event_id>") / 2**32`` in [0, 1).

    crc32 is in Python's ``zlib``, in Spark and in Athena (``crc32(to_utf8(...))``), so anyone can
    recompute which split an event went to.
    """
    import zlib

    return zlib.crc32(f"{seed}:{event_id}".encode()) / 4294967296.0


def assign_split(df: DataFrame, spec: EtlSpec, fractions: Sequence[float], seed: int) -> DataFrame:
    """Add ``split`` (train/validation/test) from a hash of the id: deterministic, partition-independent.

    A random split (``randomSplit``) depends on the partitioning and the seed's interaction with it; a
    hash of the id gives every event the same split on every run, and all copies of a duplicated event
    would share it, so the same event can never sit in both train and test.
    """
    u = F.crc32(F.concat(F.lit(f"{seed}:"), F.col(spec.id_column)).cast("binary")) / F.lit(4294967296.0)
    train_end = float(fractions[0])
    validation_end = float(fractions[0]) + float(fractions[1])
    split = F.when(u < train_end, "train").when(u < validation_end, "validation").otherwise("test")
    return df.withColumn(SPLIT_COLUMN, split)


def _train(df: DataFrame) -> DataFrame:
    return df.filter(F.col(SPLIT_COLUMN) == "train")


# --- Step 4: outliers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutlierFit:
    """Mean and sample standard deviation of one column on train (on the ``log1p`` scale if ``log_scale``),
    and the resulting bounds in the column's own units: ``lower/upper = inverse(mean -/+ k * std)``."""

    column: str
    log_scale: bool
    k: float
    mean: float
    std: float
    lower: float
    upper: float
    n: int


def fit_outliers(train: DataFrame, spec: EtlSpec, k: float) -> dict[str, OutlierFit]:
    """Fit the k-standard-deviation rule (seed §2.9) on the train split's observed values.

    Two passes (the mean, then the centred sum of squares) instead of ``sum(x^2) - n*mean^2``, which
    cancels catastrophically when the mean is large relative to the spread. ``amount`` is judged on the
    log scale: it is log-normal, so on the raw scale the mean and standard deviation are dominated by the
    heavy tail and the x100 recording errors themselves (they inflate the very std that should expose
    them), while on the log scale a x100 error is a shift of ln(100) = 4.6, several standard deviations.
    """
    if not spec.outlier_columns:
        return {}

    def scaled(name: str) -> Column:
        return F.log1p(F.col(name)) if name in spec.log_scale_columns else F.col(name).cast("double")

    first = _ordered_aggregates(
        train,
        {
            **{f"n:{c}": ("sum", F.when(scaled(c).isNotNull(), 1).otherwise(0)) for c in spec.outlier_columns},
            **{f"s:{c}": ("sum", scaled(c)) for c in spec.outlier_columns},
        },
    )
    means = {}
    for c in spec.outlier_columns:
        if first[f"n:{c}"] < 2:
            raise ValueError(f"outliers: fewer than two observed values of {c!r} in the train split")
        means[c] = first[f"s:{c}"] / first[f"n:{c}"]
    second = _ordered_aggregates(
        train, {f"ss:{c}": ("sum", F.pow(scaled(c) - F.lit(means[c]), 2)) for c in spec.outlier_columns}
    )
    fits = {}
    for c in spec.outlier_columns:
        n = int(first[f"n:{c}"])
        std = math.sqrt(second[f"ss:{c}"] / (n - 1))
        log = c in spec.log_scale_columns
        inverse = math.expm1 if log else float
        lo, hi = means[c] - k * std, means[c] + k * std
        fits[c] = OutlierFit(c, log, float(k), means[c], std, inverse(lo), inverse(hi), n)
    return fits


def apply_outliers(df: DataFrame, fits: Mapping[str, OutlierFit], mode: str) -> DataFrame:
    """Add ``<col>_is_outlier`` (value outside ``[lower, upper]``) and, in ``clip`` mode, cap the value.

    Why clip (winsorise) rather than drop (the seed's "responsibly remove"): a dropped row takes its label
    with it, and here the recording errors are rows whose label is real; capping keeps the row and removes
    the leverage of the wrong value, and the flag keeps the information that it was extreme. Rows of
    validation and test are flagged and clipped with the train bounds, as the endpoint would do.
    """
    if mode not in OUTLIER_MODES:
        raise ValueError(f"outlier_mode={mode!r}, allowed: {list(OUTLIER_MODES)}")
    out = df
    for fit in fits.values():
        col = F.col(fit.column)
        outside = (col < F.lit(fit.lower)) | (col > F.lit(fit.upper))
        out = out.withColumn(outlier_flag_name(fit.column), F.coalesce(outside, F.lit(False)).cast("int"))
        if mode == "clip":
            clipped = F.least(F.greatest(col, F.lit(fit.lower)), F.lit(fit.upper))
            out = out.withColumn(
                fit.column, F.when(col.isNull(), col).otherwise(clipped).cast(col_type(df, fit.column))
            )
    return out


def col_type(df: DataFrame, name: str) -> str:
    """The Spark SQL type name of a column (clipping keeps an int column an int)."""
    return dict(df.dtypes)[name]


# --- Step 5: imputation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegressionModel:
    """``target_hat = intercept + sum(coefficient * predictor)``, with ``target = log1p(x)`` if
    ``target_transform == "log1p"``; the imputed value is the back-transformed prediction clamped to the
    observed train range ``[lower, upper]``. ``predictors`` are ``(column, transform)`` pairs."""

    target_transform: str
    predictors: tuple[tuple[str, str], ...]
    coefficients: tuple[float, ...]
    intercept: float
    lower: float
    upper: float
    ridge: float
    n: int
    r2_train: float


@dataclass(frozen=True, slots=True)
class ImputationFit:
    column: str
    method: str
    median: float
    n_observed: int
    model: RegressionModel | None = None


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve ``A x = b`` by Gaussian elimination with partial pivoting (A is small and positive definite)."""
    n = len(vector)
    a = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-300:
            raise ValueError("imputation: singular normal equations")
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            if factor:
                for j in range(col, n + 1):
                    a[r][j] -= factor * a[col][j]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (a[i][n] - sum(a[i][j] * x[j] for j in range(i + 1, n))) / a[i][i]
    return x


def _predictor_columns(spec: EtlSpec, target: str) -> list[tuple[str, str]]:
    """(column, transform) of the regression's inputs: every encoded feature but the target."""
    return [
        (name, "log1p" if name in spec.log_scale_columns else "none")
        for name in encoded_base_columns(spec)
        if name != target
    ]


def _transformed(name: str, transform: str, fill: Mapping[str, float]) -> Column:
    col = F.col(name).cast("double")
    if name in fill:  # a nullable predictor not yet imputed: its median (MICE's starting point)
        col = F.coalesce(col, F.lit(fill[name]))
    return F.log1p(col) if transform == "log1p" else col


def _fit_regression(
    train: DataFrame, spec: EtlSpec, target: str, ridge: float, fill: Mapping[str, float]
) -> RegressionModel:
    """Ridge-regularised least squares, closed form, from sums computed by Spark (two passes).

    Pass 1: counts, means of the predictors and the target, the target's range. Pass 2: centred cross
    products. The normal equations are solved on the standardised predictors (the correlation matrix, well
    scaled whatever the units: days, km, counts) with ``ridge`` added to the diagonal; a predictor that is
    constant on train gets coefficient 0. The coefficients are then expressed in the original units.
    """
    predictors = _predictor_columns(spec, target)
    transform = "log1p" if target in spec.log_scale_columns else "none"
    observed = train.filter(F.col(target).isNotNull())
    y = _transformed(target, transform, {})
    xs = [_transformed(n, t, fill) for n, t in predictors]
    p = len(xs)
    first = _ordered_aggregates(
        observed,
        {
            "n": ("sum", F.lit(1)),
            "y": ("sum", y),
            "min": ("min", F.col(target).cast("double")),
            "max": ("max", F.col(target).cast("double")),
            **{f"x{j}": ("sum", x) for j, x in enumerate(xs)},
        },
    )
    n = int(first["n"])
    if n < p + 2:
        raise ValueError(f"imputation: {n} observed values of {target!r} in train, too few for {p} predictors")
    mean_y = first["y"] / n
    means = [first[f"x{j}"] / n for j in range(p)]
    centred = [x - F.lit(m) for x, m in zip(xs, means, strict=True)]
    cy = y - F.lit(mean_y)
    pairs = {f"c{j}_{k}": ("sum", centred[j] * centred[k]) for j in range(p) for k in range(j, p)}
    second = _ordered_aggregates(
        observed, {**pairs, **{f"cy{j}": ("sum", centred[j] * cy) for j in range(p)}, "yy": ("sum", cy * cy)}
    )
    stds = [math.sqrt(second[f"c{j}_{j}"] / n) for j in range(p)]
    active = [j for j in range(p) if stds[j] > 0]
    corr = [
        [second[f"c{min(j, k)}_{max(j, k)}"] / (n * stds[j] * stds[k]) + (ridge if j == k else 0.0) for k in active]
        for j in active
    ]
    rhs = [second[f"cy{j}"] / (n * stds[j]) for j in active]
    beta_std = _solve(corr, rhs) if active else []
    coefficients = [0.0] * p
    for j, b in zip(active, beta_std, strict=True):
        coefficients[j] = b / stds[j]
    intercept = mean_y - sum(c * m for c, m in zip(coefficients, means, strict=True))
    var_y = second["yy"] / n
    explained = sum(b * r for b, r in zip(beta_std, rhs, strict=True))
    return RegressionModel(
        target_transform=transform,
        predictors=tuple(predictors),
        coefficients=tuple(coefficients),
        intercept=intercept,
        lower=float(first["min"]),
        upper=float(first["max"]),
        ridge=ridge,
        n=n,
        r2_train=explained / var_y if var_y > 0 else 0.0,
    )


def _prediction(model: RegressionModel, fill: Mapping[str, float]) -> Column:
    y_hat = F.lit(model.intercept)
    for (name, transform), coefficient in zip(model.predictors, model.coefficients, strict=True):
        if coefficient:
            y_hat = y_hat + F.lit(coefficient) * _transformed(name, transform, fill)
    value = F.expm1(y_hat) if model.target_transform == "log1p" else y_hat
    return F.least(F.greatest(value, F.lit(model.lower)), F.lit(model.upper))


def fit_imputation(train: DataFrame, spec: EtlSpec, method: str, ridge: float = 1e-4) -> dict[str, ImputationFit]:
    """Fit the imputation of every column in ``spec.impute_columns`` on train (seed §2.7).

    The median is always computed: it is the baseline, and the starting value of not-yet-imputed
    predictors. ``method="regression"`` then fits a MICE-style chained equation per column: a linear
    regression of the column (``log1p`` scale for a log-normal column) on every other encoded feature,
    the columns imputed one after another, each regression seeing the previous ones already imputed.
    With one nullable column (the worked example) this is regression imputation; full MICE would repeat
    the rounds and draw from the predictive distribution to make several imputed data sets.

    Why not the mean (the seed's bad choice): it ignores the correlations between columns (here the
    distance from home depends strongly on card-present and the channel) and, for a skewed column, sits
    far above the typical value. Why not dropping the rows: 5 % of the data and its labels would go.
    Why not KNN: exact nearest neighbours need every missing row compared with every train row, a
    cross join that does not scale in Spark; the regression needs two aggregation passes.
    """
    if method not in IMPUTE_METHODS:
        raise ValueError(f"impute_method={method!r}, allowed: {list(IMPUTE_METHODS)}")
    columns = list(spec.impute_columns)
    if not columns:
        return {}
    quantiles = _exact_quantiles(train, columns, [0.5])
    medians: dict[str, float] = {}
    for c, q in zip(columns, quantiles, strict=True):
        if not q:
            raise ValueError(f"imputation: no observed value of {c!r} in the train split")
        medians[c] = float(q[0])
    counts = train.agg(*[F.count(F.col(c)).alias(c) for c in columns]).collect()[0]
    fits: dict[str, ImputationFit] = {}
    current = train
    for c in columns:
        model = None
        if method == "regression":
            pending = {other: float(medians[other]) for other in columns if other not in fits and other != c}
            model = _fit_regression(current, spec, c, ridge, pending)
        fits[c] = ImputationFit(c, method, float(medians[c]), int(counts[c]), model)
        current = apply_imputation(current, {c: fits[c]}, medians)
    return fits


def apply_imputation(
    df: DataFrame, fits: Mapping[str, ImputationFit], medians: Mapping[str, float] | None = None
) -> DataFrame:
    """Add ``<col>_was_missing`` and fill the nulls, column by column in the fitted order.

    The indicator keeps the fact that the value was missing (it can be informative: "no location" may
    itself relate to fraud), which any imputation would otherwise erase.
    """
    all_medians = {c: f.median for c, f in fits.items()}
    all_medians.update(medians or {})
    out = df
    done: set[str] = set()
    for c, fit in fits.items():
        col = F.col(c)
        out = out.withColumn(was_missing_name(c), col.isNull().cast("int"))
        if fit.model is None:
            value = F.lit(fit.median)
        else:
            pending = {o: all_medians[o] for o in all_medians if o not in done and o != c}
            value = _prediction(fit.model, pending)
        out = out.withColumn(c, F.coalesce(col.cast("double"), value).cast(col_type(df, c)))
        done.add(c)
    return out


# --- Step 6: quantile binning ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinFit:
    """Interior quantile edges of the train values: bin 0 is ``(-inf, edges[0])``, bin i is
    ``[edges[i-1], edges[i])``, the last bin ``[edges[-1], +inf)``. Equal edges (ties) are merged, so
    ``n_bins`` can be below ``n_bins_requested`` for a column with few distinct values."""

    column: str
    n_bins_requested: int
    edges: tuple[float, ...]
    n_bins: int


def fit_bins(train: DataFrame, spec: EtlSpec, n_bins: int) -> BinFit | None:
    """Quantile binning (seed §2.10): edges at the train quantiles 1/n, ..., (n-1)/n, so each bin holds
    about the same number of train rows ("even sizes in each bin"), whatever the skew of the column.
    Exact quantiles (relativeError 0): deterministic, and an approximation could move an edge by up to
    relativeError * n ranks."""
    if spec.bin_column is None:
        return None
    probabilities = [i / n_bins for i in range(1, n_bins)]
    (edges,) = _exact_quantiles(train, [spec.bin_column], probabilities)
    if not edges:
        raise ValueError(f"binning: no observed value of {spec.bin_column!r} in the train split")
    unique = tuple(sorted({float(e) for e in edges}))
    return BinFit(spec.bin_column, n_bins, unique, len(unique) + 1)


def apply_bins(df: DataFrame, fit: BinFit | None) -> DataFrame:
    """Add ``<col>_bin``: the number of edges at or below the value (0..n_bins-1)."""
    if fit is None:
        return df
    col = F.col(fit.column)
    index = F.lit(0)
    for edge in fit.edges:
        index = index + (col >= F.lit(edge)).cast("int")
    return df.withColumn(bin_name(fit.column), F.when(col.isNotNull(), index))


# --- Step 7: rebalancing the train split -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RebalanceResult:
    target_ratio: float
    positives_before: int
    negatives_before: int
    positives_after: int
    negatives_after: int
    copies_per_positive: int
    positives_with_extra_copy: int


def rebalance(
    train: DataFrame, spec: EtlSpec, ratio: float, seed: int, counts: tuple[int, int] | None = None
) -> tuple[DataFrame, RebalanceResult]:
    """Random oversampling of the positives in train (seed §2.8), made deterministic; adds ``oversample_copy``.

    Target: ``positives_after = round(ratio * negatives)``. Every positive appears
    ``target // positives`` times, and the ``target % positives`` positives with the smallest
    ``crc32("<seed>:oversample:<id>")`` once more: the count is exact and the choice reproducible.
    Nothing is removed (undersampling throws data away, the seed warns) and nothing is synthesised.

    Why not SMOTE: it needs the k nearest positive neighbours of each positive, a pairwise distance
    computation, and its interpolated rows mix one-hot columns into fractions that never occur; XGBoost's
    trees gain little from it over plain copies. Validation and test keep the natural balance: metrics
    must be measured on the distribution the endpoint will see. (An alternative to oversampling is
    XGBoost's ``scale_pos_weight``; ``rebalance_ratio=0`` turns oversampling off for that.)
    """
    label = F.col(spec.label)
    is_positive = label == F.lit(spec.positive_class)
    if counts is None:
        row = train.agg(F.sum(is_positive.cast("int")).alias("p"), F.count(F.lit(1)).alias("n")).collect()[0]
        counts = (int(row["p"] or 0), int(row["n"]) - int(row["p"] or 0))
    positives, negatives = counts
    target = round(ratio * negatives)
    if ratio <= 0 or positives == 0 or target <= positives:
        result = RebalanceResult(ratio, positives, negatives, positives, negatives, 1, 0)
        return train.withColumn(COPY_COLUMN, F.lit(0)), result
    copies, extra = divmod(target, positives)
    order = Window.orderBy(
        F.crc32(F.concat(F.lit(f"{seed}:oversample:"), F.col(spec.id_column)).cast("binary")), F.col(spec.id_column)
    )
    ranked = train.filter(is_positive).withColumn("_rank", F.row_number().over(order))
    n_copies = F.lit(copies) + (F.col("_rank") <= F.lit(extra)).cast("int")
    expanded = ranked.withColumn(COPY_COLUMN, F.explode(F.sequence(F.lit(0), n_copies - 1))).drop("_rank")
    kept = train.filter(~is_positive).withColumn(COPY_COLUMN, F.lit(0))
    result = RebalanceResult(ratio, positives, negatives, target, negatives, copies, extra)
    return kept.unionByName(expanded), result


# --- Step 8: outputs -------------------------------------------------------------------------------

_NO_SUCCESS_MARKER = {"mapreduce.fileoutputcommitter.marksuccessfuljobs": "false"}


def write_xgboost_csv(df: DataFrame, path: str, spec: EtlSpec, files: int) -> None:
    """Write one split as CSV for SageMaker's built-in XGBoost: label first, no header, numbers only.

    Rows are hash-distributed over ``files`` files by the id and sorted by (id, copy) inside each file:
    the bytes depend on the data only, and the order is shuffled with respect to time and label (ids are
    hashes). No ``_SUCCESS`` marker: the training channel reads every object under the prefix.
    """
    columns = csv_columns(spec)
    (
        df.repartition(files, spec.id_column)
        .sortWithinPartitions(spec.id_column, COPY_COLUMN)
        .select(*columns)
        .write.mode("overwrite")
        .options(header="false", compression="none", **_NO_SUCCESS_MARKER)
        .csv(path)
    )


def prepared_columns(spec: EtlSpec) -> list[str]:
    """Columns of the Parquet output for Athena (``split`` and ``dt`` are its partition directories)."""
    originals = [c.name for c in spec.features() if c.kind in ("categorical", "ordinal") and not _is_boolean(c)]
    return [spec.id_column, spec.timestamp_column, spec.label, *feature_columns(spec), *originals, COPY_COLUMN]


def write_prepared_parquet(df: DataFrame, path: str, spec: EtlSpec) -> None:
    """The same rows as the CSVs (train with its oversampled copies, ``oversample_copy`` > 0) as Parquet,
    partitioned by ``split`` and ``dt``, with readable names and the original category strings."""
    (
        df.select(*prepared_columns(spec), SPLIT_COLUMN, PARTITION_COLUMN)
        .repartition(SPLIT_COLUMN, PARTITION_COLUMN)
        .write.mode("overwrite")
        .options(compression="snappy", **_NO_SUCCESS_MARKER)
        .partitionBy(SPLIT_COLUMN, PARTITION_COLUMN)
        .parquet(path)
    )


def write_quarantine(quarantine: DataFrame, path: str) -> None:
    (
        quarantine.repartition(PARTITION_COLUMN)
        .write.mode("overwrite")
        .options(compression="snappy", **_NO_SUCCESS_MARKER)
        .partitionBy(PARTITION_COLUMN)
        .parquet(path)
    )


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write one object through Hadoop's FileSystem (s3:// in Glue, a local path in tests), overwriting."""
    jvm = spark.sparkContext._jvm
    if jvm is None:  # pragma: no cover - only on a stopped context
        raise RuntimeError("write_text needs an active SparkContext")
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


# --- The whole job ---------------------------------------------------------------------------------


@dataclass
class _Persisted:
    frames: list[DataFrame] = field(default_factory=list)

    def keep(self, df: DataFrame) -> DataFrame:
        self.frames.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    def release(self) -> None:
        for df in self.frames:
            df.unpersist()


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


def _balance(positives: int, rows: int) -> dict[str, Any]:
    return {
        "rows": rows,
        "positives": positives,
        "negatives": rows - positives,
        "positive_fraction": positives / rows if rows else 0.0,
    }


def run(spark: SparkSession, raw_path: str, curated_path: str, spec: EtlSpec, params: EtlParams) -> dict[str, Any]:
    """Run every step, write every output under ``curated_path``, return (and write) the report.

    Outputs (``curated_path`` + ...): ``train/``, ``validation/``, ``test/`` (XGBoost CSV),
    ``prepared/split=<split>/dt=<date>/`` (Parquet), ``quarantine/dt=<date>/`` (Parquet) and
    ``report/etl_report.json``. Each run rebuilds them all (mode overwrite): the statistics are fitted on
    the whole training split, so an incremental run would not be the same model input.
    """
    persisted = _Persisted()
    try:
        return _run(spark, raw_path, curated_path, spec, params, persisted)
    finally:
        persisted.release()


def _run(
    spark: SparkSession,
    raw_path: str,
    curated_path: str,
    spec: EtlSpec,
    params: EtlParams,
    persisted: _Persisted,
) -> dict[str, Any]:
    def step(message: str) -> None:
        LOG.info("etl: %s", message)

    step(f"reading {params.raw_format} from {raw_path}")
    raw = read_raw(spark, raw_path, params.raw_format)
    rows_in = raw.count()  # an independent count of the input, to check the accounting against

    step("parsing and validating")
    validated = validate_records(parse_records(raw, spec, params.raw_format), spec)
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
    rows_clean = by_reason.pop(None, 0)
    rows_quarantined = sum(by_reason.values())
    check_accounting(rows_in, rows_clean, rows_quarantined)
    if rows_clean == 0:
        raise ValueError(f"{raw_path}: no clean records ({rows_quarantined} quarantined): nothing to prepare")
    write_quarantine(quarantined_records(validated), _join(curated_path, QUARANTINE_PREFIX))

    step("encoding and splitting")
    base = canonical_order(clean_records(validated, spec), spec, params.canonical_partitions)
    base = persisted.keep(assign_split(encode_features(base, spec), spec, params.split_fractions, params.split_seed))
    rows_base = base.count()  # materialises the cache, so the validated records can be released
    if rows_base != rows_clean:
        raise EtlInvariantError(f"{rows_base} rows after the canonical reordering, expected rows_clean={rows_clean}")
    validated.unpersist()

    step("outliers: fitting on train")
    outlier_fits = fit_outliers(_train(base), spec, params.outlier_k)
    with_outliers = apply_outliers(base, outlier_fits, params.outlier_mode)
    step(f"imputation ({params.impute_method}): fitting on train")
    imputation_fits = fit_imputation(_train(with_outliers), spec, params.impute_method, params.ridge)
    imputed = apply_imputation(with_outliers, imputation_fits)
    step("binning: fitting on train")
    bin_fit = fit_bins(_train(imputed), spec, params.n_bins)
    # Not cached: everything after `base` is per-row arithmetic, cheaper to recompute than to keep.
    prepared = apply_bins(imputed, bin_fit)

    stats = _split_statistics(prepared, spec, bin_fit)
    split_rows = {s: stats[s]["rows"] for s in SPLITS}
    if sum(split_rows.values()) != rows_clean:
        raise EtlInvariantError(f"split sizes {split_rows} do not add up to rows_clean={rows_clean}")
    if any(stats[s]["nulls"] for s in SPLITS):
        raise EtlInvariantError(f"null values left in the CSV columns: { {s: stats[s]['nulls'] for s in SPLITS} }")
    if split_rows["train"] == 0:
        raise ValueError("the train split is empty")

    step("rebalancing train")
    train_positives = stats["train"]["positives"]
    train_rb, balance = rebalance(
        _train(prepared),
        spec,
        params.rebalance_ratio,
        params.rebalance_seed,
        (train_positives, split_rows["train"] - train_positives),
    )
    others = prepared.filter(F.col(SPLIT_COLUMN) != "train").withColumn(COPY_COLUMN, F.lit(0))
    final = persisted.keep(train_rb.unionByName(others))
    written = {row[SPLIT_COLUMN]: int(row["count"]) for row in final.groupBy(SPLIT_COLUMN).count().collect()}
    expected_train = balance.positives_after + balance.negatives_after
    if written.get("train", 0) != expected_train:
        raise EtlInvariantError(f"train has {written.get('train')} rows after rebalancing, expected {expected_train}")

    step(f"writing outputs under {curated_path}")
    for split in SPLITS:
        write_xgboost_csv(
            final.filter(F.col(SPLIT_COLUMN) == split), _join(curated_path, CSV_PREFIXES[split]), spec, params.csv_files
        )
    write_prepared_parquet(final, _join(curated_path, PREPARED_PREFIX), spec)

    report = _report(
        raw_path=raw_path,
        curated_path=curated_path,
        spec=spec,
        params=params,
        rows_in=rows_in,
        rows_clean=rows_clean,
        by_reason=by_reason,
        stats=stats,
        outlier_fits=outlier_fits,
        imputation_fits=imputation_fits,
        bin_fit=bin_fit,
        balance=balance,
        written=written,
    )
    write_text(spark, _join(curated_path, REPORT_KEY), json.dumps(report, indent=2, allow_nan=False) + "\n")
    step(f"done: {rows_clean} clean, {rows_quarantined} quarantined, written {written}")
    return report


def _report(
    *,
    raw_path: str,
    curated_path: str,
    spec: EtlSpec,
    params: EtlParams,
    rows_in: int,
    rows_clean: int,
    by_reason: Mapping[str | None, int],
    stats: Mapping[str, Mapping[str, int]],
    outlier_fits: Mapping[str, OutlierFit],
    imputation_fits: Mapping[str, ImputationFit],
    bin_fit: BinFit | None,
    balance: RebalanceResult,
    written: Mapping[str, int],
) -> dict[str, Any]:
    """The report: counts per step and everything fitted, enough to replay the preparation at inference."""
    rows_quarantined = sum(by_reason.values())
    split_rows = {s: stats[s]["rows"] for s in SPLITS}
    rows_out = sum(written.get(s, 0) for s in SPLITS)

    def per_split(key: str) -> dict[str, int]:
        return {s: int(stats[s].get(key, 0)) for s in SPLITS}

    imputation: dict[str, Any] = {}
    for c, fit in imputation_fits.items():
        entry: dict[str, Any] = {
            "method": fit.method,
            "median": fit.median,
            "observed_in_train": fit.n_observed,
            "imputed": per_split(f"imputed:{c}"),
            "indicator_column": was_missing_name(c),
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
        imputation[c] = entry
    outliers = {
        c: {
            "scale": "log1p" if f.log_scale else "linear",
            "k": f.k,
            "mode": params.outlier_mode,
            "mean": f.mean,
            "std": f.std,
            "lower": f.lower,
            "upper": f.upper,
            "fitted_rows": f.n,
            "flagged": per_split(f"outliers:{c}"),
            "clipped": per_split(f"outliers:{c}") if params.outlier_mode == "clip" else dict.fromkeys(SPLITS, 0),
            "flag_column": outlier_flag_name(c),
        }
        for c, f in outlier_fits.items()
    }
    binning = None
    if bin_fit is not None:
        binning = {
            "column": bin_fit.column,
            "bin_column": bin_name(bin_fit.column),
            "n_bins_requested": bin_fit.n_bins_requested,
            "n_bins": bin_fit.n_bins,
            "edges": list(bin_fit.edges),
            "rule": "bin 0 = (-inf, edges[0]), bin i = [edges[i-1], edges[i]), last = [edges[-1], +inf)",
            "train_rows_per_bin": [int(stats["train"].get(f"bin:{i}", 0)) for i in range(bin_fit.n_bins)],
        }
    encoding: dict[str, Any] = {}
    for feature in spec.features():
        name, values = feature.name, list(feature.values)
        if _is_boolean(feature):
            encoding[name] = {"encoding": "boolean 0/1", "columns": [name]}
        elif feature.kind == "ordinal":
            encoding[name] = {"encoding": "ordinal rank", "column": rank_name(name), "order": values}
        elif feature.kind == "categorical":
            encoding[name] = {
                "encoding": "one-hot",
                "columns": [one_hot_name(name, v) for v in values],
                "values": values,
            }
    return {
        "report_version": REPORT_VERSION,
        "input": {"raw_path": raw_path, "raw_format": params.raw_format, "rows_in": rows_in},
        "steps": [
            {"step": "read", "rows_out": rows_in},
            {"step": "validate", "rows_in": rows_in, "rows_out": rows_clean, "rows_quarantined": rows_quarantined},
            {"step": "split", "rows_in": rows_clean, "rows_out": split_rows},
            {"step": "outliers", "rows_in": rows_clean, "rows_out": rows_clean},
            {"step": "impute", "rows_in": rows_clean, "rows_out": rows_clean},
            {"step": "bin", "rows_in": rows_clean, "rows_out": rows_clean},
            {"step": "rebalance", "rows_in": split_rows["train"], "rows_out": written.get("train", 0)},
            {"step": "write", "rows_out": rows_out},
        ],
        "quarantine": {
            "rows": rows_quarantined,
            "by_reason": dict(sorted((str(k), v) for k, v in by_reason.items())),
            "path": _join(curated_path, QUARANTINE_PREFIX),
        },
        "split": {
            "method": "crc32('<split_seed>:<event_id>') / 2^32 against the cumulative fractions",
            "fractions": dict(zip(SPLITS, params.split_fractions, strict=True)),
            "seed": params.split_seed,
            "rows": split_rows,
        },
        "imputation": imputation,
        "outliers": outliers,
        "binning": binning,
        "class_balance": {
            "target_ratio": balance.target_ratio,
            "train_before": _balance(balance.positives_before, balance.positives_before + balance.negatives_before),
            "train_after": _balance(balance.positives_after, balance.positives_after + balance.negatives_after),
            "validation": _balance(stats["validation"]["positives"], split_rows["validation"]),
            "test": _balance(stats["test"]["positives"], split_rows["test"]),
            "oversampling": {
                "method": "random oversampling by copies, extra copies chosen by crc32('<seed>:oversample:<id>')",
                "seed": params.rebalance_seed,
                "copies_per_positive": balance.copies_per_positive,
                "positives_with_extra_copy": balance.positives_with_extra_copy,
            },
        },
        "encoding": encoding,
        "csv": {
            "format": "text/csv, no header, label in the first column, numbers only",
            "label": spec.label,
            "columns": csv_columns(spec),
            "feature_columns": feature_columns(spec),
            "files_per_split": params.csv_files,
        },
        "outputs": {
            **{s: {"path": _join(curated_path, CSV_PREFIXES[s]), "rows": written.get(s, 0)} for s in SPLITS},
            "prepared": {
                "path": _join(curated_path, PREPARED_PREFIX),
                "rows": rows_out,
                "columns": prepared_columns(spec),
            },
            "quarantine": {"path": _join(curated_path, QUARANTINE_PREFIX), "rows": rows_quarantined},
            "report": _join(curated_path, REPORT_KEY),
        },
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()},
    }


__all__ = [
    "CSV_PREFIXES",
    "PREPARED_PREFIX",
    "QUARANTINE_PREFIX",
    "REPORT_KEY",
    "REQUIRED_ARGS",
    "BinFit",
    "ColumnSpec",
    "EtlInvariantError",
    "EtlParams",
    "EtlSpec",
    "ImputationFit",
    "OutlierFit",
    "RebalanceResult",
    "RegressionModel",
    "apply_bins",
    "apply_imputation",
    "apply_outliers",
    "assign_split",
    "canonical_order",
    "check_accounting",
    "clean_records",
    "csv_columns",
    "encode_features",
    "feature_columns",
    "fit_bins",
    "fit_imputation",
    "fit_outliers",
    "job_argument_names",
    "job_arguments",
    "parse_records",
    "quarantine_reason",
    "quarantined_records",
    "read_raw",
    "rebalance",
    "run",
    "run_from_args",
    "spec_from_schema",
    "split_unit_interval",
    "validate_records",
    "write_xgboost_csv",
]
