"""The steps of the data preparation, each a plain PySpark function (the tests call them one by one)::

    read_raw -> parse_records -> validate_records --(bad records)--> quarantine/
                                        | clean records
    canonical_order -> encode_features -> assign_split -> apply_outliers -> apply_imputation -> apply_bins
        -> rebalance (train only) -> train/ validation/ test/ (CSV), prepared/ (Parquet)

The statistics the ``apply_*`` steps use are fitted on the train split by ``fitting``; ``pipeline.run`` chains
everything and writes the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention
from pyspark.sql import types as T  # noqa: N812

from ml_constructs.glue_etl.runtime import fitted, spark_ops, window
from ml_constructs.glue_etl.runtime.contract import (
    COPY_COLUMN,
    OUTLIER_MODES,
    PARTITION_COLUMN,
    RAW_FORMATS,
    RAW_RECORD_COLUMN,
    REASON_COLUMN,
    SOURCE_FILE_COLUMN,
    SPLIT_COLUMN,
    SPLITS,
    ColumnSpec,
    EtlSpec,
    csv_columns,
    prepared_columns,
)
from ml_constructs.glue_etl.runtime.fitting import BinFit, ImputationFit, OutlierFit

_UNPARSABLE = "_unparsable"
_BLANK = r"^\s*$"  # Java regex: empty or only space, \t, \n, \x0B, \f, \r
_EMPTY = "_empty_record"
_NO_SUCCESS_MARKER = {"mapreduce.fileoutputcommitter.marksuccessfuljobs": "false"}


class EtlInvariantError(RuntimeError):
    """A count that must balance does not: a step lost or invented rows. The job fails instead of writing."""


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


def _finite_or_null(col: Column) -> Column:
    """A double column with NaN and +-Infinity turned into null (JSON has neither; the schema forbids both)."""
    return F.when(~F.isnan(col) & (F.abs(col) != F.lit(float("inf"))), col)


def col_type(df: DataFrame, name: str) -> str:
    """The Spark SQL type name of a column (clipping keeps an int column an int)."""
    return dict(df.dtypes)[name]


# --- Read the raw zone -----------------------------------------------------------------------------------------


def read_raw(spark: SparkSession, raw_path: str, raw_format: str, days: tuple[date, date] | None = None) -> DataFrame:
    """Read the raw zone as Firehose writes it, keeping the ``dt`` partition and the source file name.

    - ``json``: GZIP JSON Lines. Read as *text*, one row per line, so that a line that is not valid JSON
      is still a row (a JSON reader could drop or mangle it); ``parse_records`` parses it. Lines end at
      ``\n`` only (``lineSep``): Spark's default also splits at ``\r`` and ``\r\n``, which would cut a record
      holding a raw carriage return in two, while the producer and Firehose delimit records with ``\n``.
    - ``parquet``: Firehose's record format conversion output, with the schema's columns and types.

    ``dt`` comes from the ``dt=YYYY-MM-DD`` directories (Spark's partition discovery; ``basePath`` keeps it
    a column) and is returned as a string whatever type Spark infers for it.

    ``days`` (first, last; inclusive) is the training window: only the ``dt=`` partitions of those days are listed
    and read (``window.window_glob``); None reads the whole raw zone.
    """
    if raw_format not in RAW_FORMATS:
        raise ValueError(f"raw_format={raw_format!r}, allowed: {list(RAW_FORMATS)}")
    path = raw_path if days is None else window.window_glob(raw_path, *days, PARTITION_COLUMN)
    reader = spark.read.option("basePath", raw_path)
    try:
        df = reader.option("lineSep", "\n").text(path) if raw_format == "json" else reader.parquet(path)
    except AnalysisException as exc:
        if days is None or "PATH_NOT_FOUND" not in str(exc):
            raise
        raise window.NoPartitionsInWindowError(
            f"{raw_path}: no '{PARTITION_COLUMN}=' partition from {days[0]} to {days[1]} (the training window)"
        ) from None
    if PARTITION_COLUMN not in df.columns:
        raise ValueError(f"{raw_path}: no Hive-style '{PARTITION_COLUMN}=YYYY-MM-DD' directories found")
    df = df.withColumn(PARTITION_COLUMN, F.col(PARTITION_COLUMN).cast("string"))
    if days is not None:  # exact days: a year or month pattern also matches a malformed dt=2026-xx directory
        df = df.filter(F.col(PARTITION_COLUMN).between(days[0].isoformat(), days[1].isoformat()))
    return df.withColumn(SOURCE_FILE_COLUMN, F.input_file_name())


# --- Parse and validate -> clean records and quarantine ----------------------------------------------------------


def parse_records(raw: DataFrame, spec: EtlSpec, raw_format: str) -> DataFrame:
    """Turn raw rows into typed columns, remembering for every field whether the raw value was present.

    Output columns: ``raw_record`` (the JSON line, or the Parquet row as JSON), ``source_file``, ``dt``,
    ``_unparsable``, ``_empty_record``, one typed column per schema column, and ``_present_<name>`` (the raw
    value was not null). ``validate_records`` compares the two: present in the raw but null after typing
    is a type error. That comparison is needed because Spark 3.5 (non-ANSI, as in Glue 5) turns a bad
    cast into a null instead of an error.
    """
    return _parse_json(raw, spec) if raw_format == "json" else _parse_parquet(raw, spec)


def _parse_json(raw: DataFrame, spec: EtlSpec) -> DataFrame:
    """JSON lines are parsed twice with explicit schemas, so no line can vanish:

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
        line.rlike(_BLANK).alias(_EMPTY),  # whitespace only, a stray \r included (trim() strips spaces only)
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
            typed = F.when(raw_text.rlike(spec.timestamp_regex), raw_text.cast("timestamp"))
        elif c.type == "double":
            typed = _finite_or_null(typed)
        selected += [typed.alias(c.name), raw_text.isNotNull().alias(_present_name(c.name))]
    return staged.select(*selected)


def _parse_parquet(raw: DataFrame, spec: EtlSpec) -> DataFrame:
    """Parquet files already have types. A column missing from the files is null (so "missing" for a
    non-nullable field); a column of another type is cast, and a value the cast turns into null is a type
    error, exactly as for JSON."""
    data_columns = [n for n in raw.columns if n not in (PARTITION_COLUMN, SOURCE_FILE_COLUMN)]
    selected = [
        F.to_json(F.struct(*[F.col(n) for n in data_columns])).alias(RAW_RECORD_COLUMN),
        F.col(SOURCE_FILE_COLUMN),
        F.col(PARTITION_COLUMN),
        F.lit(False).alias(_EMPTY),
        F.lit(False).alias(_UNPARSABLE),
    ]
    source_types = dict(raw.dtypes)
    for c in spec.columns:
        if c.name not in data_columns:
            selected += [F.lit(None).cast(_spark_type(c.type)).alias(c.name), F.lit(False).alias(_present_name(c.name))]
            continue
        value = F.col(c.name)
        if c.type == "timestamp" and source_types[c.name] == "string":
            typed = F.when(value.rlike(spec.timestamp_regex), value.cast("timestamp"))
        else:
            typed = value.cast(_spark_type(c.type))
        if c.type == "double":
            typed = _finite_or_null(typed)
        selected += [typed.alias(c.name), value.isNotNull().alias(_present_name(c.name))]
    return raw.select(*selected)


def quarantine_reason(spec: EtlSpec, not_after: datetime | None = None) -> Column:
    """The first problem of a parsed record, or null. One reason per record, checked in this order:

    ``empty_record``, ``unparsable_json``, then field by field in schema order: ``missing:<field>`` (null in
    a non-nullable field), ``wrong_type:<field>`` / ``bad_timestamp:<field>`` (present but not of the
    field's type), ``not_allowed:<field>`` (a categorical or ordinal value outside the schema's allowed
    values), ``invalid_label:<field>`` (a label other than 0/1), then the plausibility rules:
    ``blank:<field>`` (an id that is empty or whitespace only), ``out_of_range:<field>`` (a numeric value
    outside the column's ``minimum``/``maximum``) and ``future_time:<field>`` (an event time after
    ``not_after``; None skips that rule). Unknown extra keys are ignored (the schema grows by appending
    fields, and old jobs must keep reading new records).
    """
    checks = [F.when(F.col(_EMPTY), F.lit("empty_record")), F.when(F.col(_UNPARSABLE), F.lit("unparsable_json"))]
    for c in spec.columns:
        value, present = F.col(c.name), F.col(_present_name(c.name))
        if not c.nullable:
            checks.append(F.when(~present, F.lit(f"missing:{c.name}")))
        type_reason = "bad_timestamp" if c.type == "timestamp" else "wrong_type"
        checks.append(F.when(present & value.isNull(), F.lit(f"{type_reason}:{c.name}")))
        if c.values and not c.is_boolean:
            reason = "invalid_label" if c.kind == "label" else "not_allowed"
            checks.append(F.when(value.isNotNull() & ~value.isin(list(c.values)), F.lit(f"{reason}:{c.name}")))
        checks += _plausibility_checks(c, value, not_after)
    return F.coalesce(*checks)


def _plausibility_checks(c: ColumnSpec, value: Column, not_after: datetime | None) -> list[Column]:
    """Well-typed but impossible values: a blank id, a number outside its range, an event from the future."""
    checks = []
    if c.kind == "id":
        checks.append(F.when(value.cast("string").rlike(_BLANK), F.lit(f"blank:{c.name}")))
    if c.minimum is not None:
        checks.append(F.when(value < F.lit(c.minimum), F.lit(f"out_of_range:{c.name}")))
    if c.maximum is not None:
        checks.append(F.when(value > F.lit(c.maximum), F.lit(f"out_of_range:{c.name}")))
    if c.type == "timestamp" and not_after is not None:
        checks.append(F.when(value > F.lit(not_after), F.lit(f"future_time:{c.name}")))
    return checks


def content_hash(raw_record: Column) -> Column:
    """SHA-256 (hex) of a raw record without leading and trailing whitespace: what tells an exact duplicate
    (a producer retry re-sends the same bytes) from a conflicting one. Pure-Python twin:
    ``hashlib.sha256(line.strip()).hexdigest()`` on the line's bytes."""
    return F.sha2(F.regexp_replace(raw_record, r"^\s+|\s+$", ""), 256)


def validate_records(parsed: DataFrame, spec: EtlSpec, not_after: datetime | None = None) -> DataFrame:
    """Add ``quarantine_reason`` (null = clean) to parsed records, including the two duplicate reasons.

    Kinesis and Firehose deliver at least once: a producer retry can store the same event twice. Among
    otherwise clean records with the same id, one survives: the one with the smallest ``content_hash``
    (then the smallest raw record and source file, which only matter between identical copies). The others
    are quarantined as ``duplicate_event_id`` when their content equals the survivor's (a retry: neither
    counted twice nor lost) and as ``conflicting_duplicate_event_id`` when it differs (two different events
    under one id: one is kept, the other can be inspected). The rule reads the records' content only, never
    the file they came in, so the survivor is the same however the raw zone is cut into files.
    """
    staged = parsed.withColumn("_first_reason", quarantine_reason(spec, not_after)).withColumn(
        "_hash", content_hash(F.col(RAW_RECORD_COLUMN))
    )
    window = Window.partitionBy(F.col(spec.id_column), F.col("_first_reason").isNull()).orderBy(
        "_hash", RAW_RECORD_COLUMN, SOURCE_FILE_COLUMN
    )
    later = F.col("_first_reason").isNull() & (F.row_number().over(window) > 1)
    same = F.col("_hash") == F.first("_hash").over(window)
    duplicate = F.when(later, F.when(same, F.lit("duplicate_event_id")).otherwise("conflicting_duplicate_event_id"))
    return staged.withColumn(REASON_COLUMN, F.coalesce(F.col("_first_reason"), duplicate)).drop(
        "_first_reason", "_hash"
    )


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


class TooFewPositivesError(ValueError):
    """A split holds fewer positives than ``min_positives``: nothing is written for training."""


def check_positives(positives: Mapping[str, int], minimum: int, spec: EtlSpec, test_fraction: float) -> None:
    """Fail with one line when train, validation or a non-empty test split has fewer than ``minimum`` positives.

    Checked on the splits before rebalancing (oversampling copies positives, it cannot create information)
    and before any output a training job reads is written.
    """
    checked = [s for s in SPLITS if s != "test" or test_fraction > 0]
    short = {s: positives.get(s, 0) for s in checked if positives.get(s, 0) < minimum}
    if short:
        found = ", ".join(f"{s}={positives.get(s, 0)}" for s in checked)
        raise TooFewPositivesError(
            f"too few positives ({spec.label}={spec.positive_class}) to train and evaluate: {found}; "
            f"--min_positives={minimum} needs at least {minimum} in each of {', '.join(checked)} "
            "(send more events, or lower etl.min_positives_per_split)"
        )


# --- Canonical order, encoding, split ---------------------------------------------------------------------------


def canonical_order(df: DataFrame, spec: EtlSpec, partitions: int) -> DataFrame:
    """Hash-partition by the id into ``partitions`` partitions and sort each one by the id.

    After this, which partition a row is in and where, depends on its id only, not on how the input was
    cut into files: every later floating-point sum (``fitting.ordered_aggregates``) then adds the same terms
    in the same order. Ids are unique here (duplicates were quarantined), so the order is total.
    """
    return df.repartition(partitions, spec.id_column).sortWithinPartitions(spec.id_column)


def encode_features(df: DataFrame, spec: EtlSpec) -> DataFrame:
    """Encode the non-numeric features for XGBoost (which reads numbers only), with the shared definitions of
    ``preprocessing.encode`` (the endpoint's preprocessor runs the same ones; entries from ``fitted``).

    - categorical -> one-hot, one 0/1 column per allowed value in the schema's order. The order is fixed by
      the schema, not discovered from the data, so every split and every run gets the same columns (an unknown
      category was quarantined; at the endpoint it is all zeros). XGBoost's trees do not need the dropped
      reference level that a linear model would, so every level gets a column.
    - ordinal -> ``<name>_rank``, 0..k-1 in the schema's order, keeping the order the trees can split on.
    - boolean -> 0/1 in place.
    The original categorical and ordinal strings stay (the Parquet output keeps them for Athena).
    """
    out = df
    for entry in fitted.encoding_entries(spec):
        out = spark_ops.apply_encoding(out, entry)
    return out.withColumn(spec.label, F.col(spec.label).cast("int"))


def assign_split(df: DataFrame, spec: EtlSpec, fractions: Sequence[float], seed: int) -> DataFrame:
    """Add ``split`` (train/validation/test) from a hash of the id: deterministic, partition-independent.

    A random split (``randomSplit``) depends on the partitioning and on how its seed interacts with it; a
    hash of the id gives every event the same split on every run, and all copies of a duplicated event
    would share it, so the same event can never sit in both train and test. ``contract.split_unit_interval``
    is the pure-Python twin.
    """
    u = F.crc32(F.concat(F.lit(f"{seed}:"), F.col(spec.id_column)).cast("binary")) / F.lit(4294967296.0)
    train_end = float(fractions[0])
    validation_end = float(fractions[0]) + float(fractions[1])
    split = F.when(u < train_end, "train").when(u < validation_end, "validation").otherwise("test")
    return df.withColumn(SPLIT_COLUMN, split)


# --- Outliers, imputation, binning: the fitted statistics applied to every split ---------------------------------


def apply_outliers(df: DataFrame, fits: Mapping[str, OutlierFit], mode: str) -> DataFrame:
    """Add ``<col>_is_outlier`` (value outside ``[lower, upper]``) and, in ``clip`` mode, cap the value
    (``preprocessing._outliers``, the definition the endpoint shares).

    Why clip (winsorise) rather than drop (the syllabus's "responsibly remove"): a dropped row takes its label
    with it, and here the recording errors are rows whose label is real; capping keeps the row and removes
    the leverage of the wrong value, and the flag keeps the information that it was extreme. Rows of
    validation and test are flagged and clipped with the train bounds, as the endpoint would do.
    """
    if mode not in OUTLIER_MODES:
        raise ValueError(f"outlier_mode={mode!r}, allowed: {list(OUTLIER_MODES)}")
    out = df
    for fit in fits.values():
        out = spark_ops.apply_step(out, fitted.outlier_step(fit, mode, col_type(df, fit.column)))
    return out


def apply_imputation(df: DataFrame, fits: Mapping[str, ImputationFit]) -> DataFrame:
    """Add ``<col>_was_missing`` and fill the nulls, step by step in the fitted order (MICE: every round)
    (``preprocessing._impute``, the definition the endpoint shares; ``fitted.imputation_steps``).

    The indicator keeps the fact that the value was missing (it can be informative: "no location" may
    itself relate to fraud), which any imputation would otherwise erase.
    """
    out = df
    for step in fitted.imputation_steps(fits, {c: col_type(df, c) for c in fits}):
        out = spark_ops.apply_step(out, step)
    return out


def apply_bins(df: DataFrame, fit: BinFit | None) -> DataFrame:
    """Add ``<col>_bin``: the number of edges at or below the value (0..n_bins-1; ``preprocessing._bin``)."""
    if fit is None:
        return df
    return spark_ops.apply_step(df, fitted.bin_step(fit))


# --- Rebalancing the train split ----------------------------------------------------------------------------------


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
    """Random oversampling of the positives in train (syllabus §2.8), made deterministic; adds ``oversample_copy``.

    Target: ``positives_after = round(ratio * negatives)``. Every positive appears
    ``target // positives`` times, and the ``target % positives`` positives with the smallest
    ``crc32("<seed>:oversample:<id>")`` once more: the count is exact and the choice reproducible.
    Nothing is removed (undersampling throws data away, the syllabus warns) and nothing is synthesised.

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


# --- Writers -----------------------------------------------------------------------------------------------------


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
