"""LOCAL EMULATION ONLY: run a deployed Glue crawler over the local S3, as its configuration says.

moto 5.2 stores crawlers but never crawls. ``crawl`` reads the crawler back (``GetCrawler``) and
applies what this app's two crawlers use:

- ``S3Targets`` paths, and ``Grouping.TableLevelConfiguration`` (the bucket is level 1): the folder at that
  level is one table, named ``TablePrefix`` + the folder's name;
- Hive-style ``key=value`` folders below the table root are partitions (string partition keys);
- the schema of a new table comes from the first Parquet file's footer (pyarrow), mapped to Glue types;
- ``SchemaChangePolicy.UpdateBehavior``: ``LOG`` never changes an existing table's columns (the raw crawler: its
  table belongs to the streaming stack), ``UPDATE_IN_DATABASE`` creates the table or replaces its columns;
- ``CrawlerOutput.Partitions.AddOrUpdateBehavior = InheritFromTable``: new partitions take the table's
  storage descriptor with their own location;
- ``RecrawlPolicy``: ``CRAWL_NEW_FOLDERS_ONLY`` adds only partitions the table does not have yet.

Not emulated: classifiers, JSON or CSV schema inference (a table whose files are not Parquet must already
exist), schema merging across files, ``DeleteBehavior``, sampling, the crawler's own run history and metrics.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from local_sandbox import NotEmulatedError
from ml_constructs.monitoring.runtime.drift_job import parse_s3_uri

_PARTITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=([^/]+)$")
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


@dataclass
class CrawlReport:
    crawler: str
    tables_created: list[str] = field(default_factory=list)
    tables_updated: list[str] = field(default_factory=list)
    partitions_added: dict[str, int] = field(default_factory=dict)


def glue_type(arrow_type: Any) -> str:
    """A Parquet column's Arrow type as the Glue/Hive type a crawler writes."""
    import pyarrow as pa

    checks = [
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_int8, "tinyint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "int"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_float32, "float"),
        (pa.types.is_float64, "double"),
        (pa.types.is_string, "string"),
        (pa.types.is_large_string, "string"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_date, "date"),
        (pa.types.is_binary, "binary"),
    ]
    for check, name in checks:
        if check(arrow_type):
            return name
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    raise NotEmulatedError(f"Parquet type {arrow_type} has no crawler mapping here")


def _tables(keys: list[str], prefix: str, level: int) -> dict[str, list[str]]:
    """Object keys grouped by table root: the folder at ``level`` (bucket = 1) of ``bucket/key``."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        parts = key.split("/")
        if len(parts) < level or parts[-1].startswith(("_", ".")) or key.endswith("/"):
            continue  # Spark's _SUCCESS, hidden files, folder markers: a crawler excludes them
        grouped["/".join(parts[: level - 1]) + "/"].append(key)
    return {root: found for root, found in grouped.items() if root.startswith(prefix)}


def crawl(aws: Any, crawler_name: str) -> CrawlReport:
    glue, s3 = aws.client("glue"), aws.client("s3")
    crawler = glue.get_crawler(Name=crawler_name)["Crawler"]
    configuration = json.loads(crawler.get("Configuration") or "{}")
    level = int(configuration.get("Grouping", {}).get("TableLevelConfiguration", 0))
    if not level:
        raise NotEmulatedError(f"{crawler_name}: only crawlers with Grouping.TableLevelConfiguration are emulated")
    update = crawler.get("SchemaChangePolicy", {}).get("UpdateBehavior", "UPDATE_IN_DATABASE")
    database, table_prefix = crawler["DatabaseName"], crawler.get("TablePrefix", "")
    report = CrawlReport(crawler_name)
    for target in crawler["Targets"].get("S3Targets", []):
        bucket, path_prefix = parse_s3_uri(target["Path"], "Path")
        keys = [
            obj["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=path_prefix)
            for obj in page.get("Contents", [])
        ]
        for root, files in sorted(_tables(keys, "", level).items()):
            name = table_prefix + root.rstrip("/").rsplit("/", 1)[-1]
            partitions: dict[tuple[str, ...], str] = {}
            partition_keys: list[str] = []
            for key in files:
                folders = key[len(root) :].split("/")[:-1]
                pairs = [_PARTITION.match(f) for f in folders]
                if not all(pairs):
                    continue
                keys_here = [m.group(1) for m in pairs if m]
                partition_keys = partition_keys or keys_here
                partitions[tuple(m.group(2) for m in pairs if m)] = f"s3://{bucket}/{root}{'/'.join(folders)}/"
            table = _table(glue, database, name)
            if table is None or (update == "UPDATE_IN_DATABASE" and _parquet(files)):
                columns = _parquet_columns(s3, bucket, files, partition_keys)
                table_input = {
                    "Name": name,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {"classification": "parquet"},
                    "PartitionKeys": [{"Name": k, "Type": "string"} for k in partition_keys],
                    "StorageDescriptor": {"Columns": columns, "Location": f"s3://{bucket}/{root}", **PARQUET},
                }
                if table is None:
                    glue.create_table(DatabaseName=database, TableInput=table_input)
                    report.tables_created.append(name)
                else:
                    glue.update_table(DatabaseName=database, TableInput=table_input)
                    report.tables_updated.append(name)
                table = _table(glue, database, name)
            assert table is not None
            # CRAWL_NEW_FOLDERS_ONLY reads only new folders; CRAWL_EVERYTHING re-reads all, and both leave the
            # partitions the table already has as they are (InheritFromTable)
            existing = {tuple(p["Values"]) for p in _partitions(glue, database, name)}
            descriptor = table["StorageDescriptor"]
            added = [
                {"Values": list(values), "StorageDescriptor": {**descriptor, "Location": location}}
                for values, location in sorted(partitions.items())
                if values not in existing
            ]
            for start in range(0, len(added), 100):  # BatchCreatePartition takes at most 100
                glue.batch_create_partition(
                    DatabaseName=database, TableName=name, PartitionInputList=added[start : start + 100]
                )
            report.partitions_added[name] = len(added)
    return report


def _table(glue: Any, database: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(glue.get_table(DatabaseName=database, Name=name)["Table"])
    except glue.exceptions.EntityNotFoundException:
        return None


def _partitions(glue: Any, database: str, name: str) -> list[dict[str, Any]]:
    return [
        p
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name)
        for p in page["Partitions"]
    ]


def _parquet(files: list[str]) -> bool:
    return any(key.endswith(".parquet") for key in files)


def _parquet_columns(s3: Any, bucket: str, files: list[str], partition_keys: list[str]) -> list[dict[str, str]]:
    import pyarrow.parquet as pq

    parquet = sorted(key for key in files if key.endswith(".parquet"))
    if not parquet:
        raise NotEmulatedError(f"s3://{bucket}/{files[0]}: schema inference is emulated for Parquet only")
    schema = pq.read_schema(io.BytesIO(s3.get_object(Bucket=bucket, Key=parquet[0])["Body"].read()))
    return [{"Name": f.name, "Type": glue_type(f.type)} for f in schema if f.name not in partition_keys]
