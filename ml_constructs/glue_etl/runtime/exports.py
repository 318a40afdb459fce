"""What the job writes for serving: the fitted preprocessing (``fitted.json``, the preprocessing container's
``model.tar.gz``), the clean raw events of validation and test as JSON Lines, and the raw-field baseline.

The document and the archive are built by ``fitted`` (standard library); this module only writes them, and reads
the raw events back out of the typed, split records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

from ml_constructs.glue_etl.runtime import fitted
from ml_constructs.glue_etl.runtime import raw_baseline as raw_baseline_files
from ml_constructs.glue_etl.runtime.contract import (
    FITTED_KEY,
    PREPROCESSING_MODEL_KEY,
    RAW_BASELINE_PREFIX,
    RAW_SPLIT_PREFIXES,
    SPLIT_COLUMN,
    EtlSpec,
)
from ml_constructs.glue_etl.runtime.fitting import exact_quantiles, ordered_aggregates

#: The wire format of the timestamp (``worked_example.schema.TIMESTAMP_JODA_FORMAT``) as a Spark pattern; the
#: session time zone is UTC (Glue's default, and ``local.local_spark``'s).
_WIRE_TIMESTAMP = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
_NO_SUCCESS_MARKER = {"mapreduce.fileoutputcommitter.marksuccessfuljobs": "false"}


def write_bytes(spark: SparkSession, path: str, data: bytes) -> None:
    """Write one object through Hadoop's FileSystem (s3:// in Glue, a local path in tests), overwriting."""
    jvm = spark.sparkContext._jvm
    if jvm is None:  # pragma: no cover - only on a stopped context
        raise RuntimeError("write_bytes needs an active SparkContext")
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def fitted_steps(spec: EtlSpec, fits: Any, outlier_mode: str) -> list[dict[str, Any]]:
    """The fitted steps in the order the job applied them: outliers, imputation, binning."""
    types = {c.name: c.type for c in spec.columns}
    steps = [fitted.outlier_step(fit, outlier_mode, types[c]) for c, fit in fits.outliers.items()]
    steps += fitted.imputation_steps(fits.imputation, types)
    if fits.bins is not None:
        steps.append(fitted.bin_step(fits.bins))
    return steps


def write_preprocessing(spark: SparkSession, curated_path: str, document: Mapping[str, Any]) -> dict[str, str]:
    """Write ``fitted.json`` and the preprocessing container's ``model.tar.gz``; return their paths."""
    text = fitted.document_json(document)
    paths = {"fitted": _join(curated_path, FITTED_KEY), "model": _join(curated_path, PREPROCESSING_MODEL_KEY)}
    write_bytes(spark, paths["fitted"], text.encode("utf-8"))
    write_bytes(spark, paths["model"], fitted.model_archive(text))
    return paths


def raw_events(df: DataFrame, spec: EtlSpec) -> DataFrame:
    """One column ``value``: each record as the producer's JSON event (schema order, nulls kept, the timestamp
    in its wire format, booleans as JSON booleans although the encoding made them 0/1)."""
    fields = []
    for c in spec.columns:
        col = F.col(c.name)
        if c.type == "timestamp":
            col = F.date_format(col, _WIRE_TIMESTAMP)
        elif c.is_boolean:
            col = col.cast("boolean")
        fields.append(col.alias(c.name))
    return df.select(F.to_json(F.struct(*fields), {"ignoreNullFields": "false"}).alias("value"))


def write_raw_splits(df: DataFrame, curated_path: str, spec: EtlSpec, files: int) -> dict[str, str]:
    """Write the clean raw events of validation and test as JSON Lines (``raw/<split>/``), ``files`` files per
    split, hash-distributed and sorted by the id (bytes depend on the data only); return the paths."""
    paths = {}
    for split, prefix in RAW_SPLIT_PREFIXES.items():
        path = paths[split] = _join(curated_path, prefix)
        rows = df.filter(F.col(SPLIT_COLUMN) == split).repartition(files, spec.id_column)
        (
            raw_events(rows.sortWithinPartitions(spec.id_column), spec)
            .write.mode("overwrite")
            .options(compression="none", **_NO_SUCCESS_MARKER)
            .text(path)
        )
    return paths


def _join(base: str, sub: str) -> str:
    return base.rstrip("/") + "/" + sub


def raw_baseline(train: DataFrame, spec: EtlSpec, bins: int = raw_baseline_files.DEFAULT_BINS) -> tuple[dict, dict]:
    """The raw-field baseline of the train split (before oversampling) from Spark aggregates only: counts, sums,
    exact quantile edges, bucket counts and category counts reach the driver, never the rows. Three jobs: the
    first pass (counts, sums, ranges, category counts over the schema's values: a clean record holds no other),
    the quantiles, the second pass (centred squares, bucket counts). ``train`` must be in the canonical order (its
    sums are then reproducible, ``fitting.ordered_aggregates``)."""
    fields = raw_baseline_files.baseline_fields(fitted.document(spec, [])["fields"])
    numeric = [f["name"] for f in fields if raw_baseline_files.is_numeric(f)]
    categories = {f["name"]: list(f["values"]) for f in fields if not raw_baseline_files.is_numeric(f)}
    first = ordered_aggregates(train, {"rows": ("sum", F.lit(1)), **_first_pass(numeric, categories, spec)})
    rows = int(first["rows"])
    means = {c: first[f"s:{c}"] / first[f"n:{c}"] for c in numeric}
    quantiles = exact_quantiles(train, numeric, raw_baseline_files.quantile_probabilities(bins))
    edges = {c: raw_baseline_files.dedup(q) for c, q in zip(numeric, quantiles, strict=True)}
    second = ordered_aggregates(
        train,
        {
            **{f"m2:{c}": ("sum", F.pow(F.col(c) - F.lit(means[c]), 2)) for c in numeric},
            **{
                f"b:{c}:{i}": ("sum", _in_bucket(c, edges[c], i).cast("int"))
                for c in numeric
                for i in range(len(edges[c]) - 1)
            },
        },
    )
    aggregates: dict[str, Any] = {
        c: raw_baseline_files.NumericAggregate(
            present=int(first[f"n:{c}"]),
            missing=rows - int(first[f"n:{c}"]),
            total=first[f"s:{c}"],
            minimum=first[f"min:{c}"],
            maximum=first[f"max:{c}"],
            m2=second[f"m2:{c}"],
            edges=edges[c],
            counts=[int(second[f"b:{c}:{i}"]) for i in range(len(edges[c]) - 1)],
        )
        for c in numeric
    }
    for name, values in categories.items():
        counts = {raw_baseline_files.category(v): int(first[f"c:{name}:{i}"]) for i, v in enumerate(values)}
        present = int(first[f"n:{name}"])
        aggregates[name] = raw_baseline_files.CategoryAggregate(
            present, rows - present, {k: v for k, v in counts.items() if v}
        )
    return raw_baseline_files.files(rows, fields, aggregates)


def _first_pass(numeric: list[str], categories: Mapping[str, list[Any]], spec: EtlSpec) -> dict[str, Any]:
    """Counts, sums and ranges of the numeric fields; present count and count per allowed value of the others
    (a boolean was encoded 0/1 in place: compared as a boolean again)."""
    aggs: dict[str, Any] = {}
    for c in numeric:
        aggs[f"n:{c}"] = ("sum", F.col(c).isNotNull().cast("int"))
        aggs[f"s:{c}"] = ("sum", F.col(c).cast("double"))
        aggs[f"min:{c}"] = ("min", F.col(c).cast("double"))
        aggs[f"max:{c}"] = ("max", F.col(c).cast("double"))
    for name, values in categories.items():
        col = F.col(name).cast("boolean") if spec.column(name).is_boolean else F.col(name)
        aggs[f"n:{name}"] = ("sum", col.isNotNull().cast("int"))
        for i, value in enumerate(values):
            aggs[f"c:{name}:{i}"] = ("sum", F.coalesce(col == F.lit(value), F.lit(False)).cast("int"))
    return aggs


def _in_bucket(column: str, edges: list[float], i: int) -> Any:
    """Bucket ``i`` of ``raw_baseline.bucket_index``: ``[e_i, e_i+1)``, the last one closed."""
    x = F.col(column).cast("double")
    upper = (x <= F.lit(edges[i + 1])) if i == len(edges) - 2 else (x < F.lit(edges[i + 1]))
    return F.coalesce((x >= F.lit(edges[i])) & upper, F.lit(False))


def write_raw_baseline(spark: SparkSession, curated_path: str, baseline: tuple[dict, dict]) -> dict[str, str]:
    """Write ``statistics.json`` and ``constraints.json`` under ``preprocessing/baseline/``."""
    paths = {}
    for name, body in zip(("statistics", "constraints"), baseline, strict=True):
        paths[name] = _join(curated_path, f"{RAW_BASELINE_PREFIX}{name}.json")
        write_bytes(spark, paths[name], (json.dumps(body, indent=2, allow_nan=False) + "\n").encode("utf-8"))
    return paths
