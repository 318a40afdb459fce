"""LOCAL EMULATION ONLY: do what the deployed Firehose delivery stream would do with the stream's records.

moto 5.2's Firehose never reads a Kinesis source and converts nothing, so this bridge reads the
delivery stream's *deployed* configuration (``DescribeDeliveryStream``) and applies it:

- source: every shard of the configured Kinesis stream, from TRIM_HORIZON;
- dynamic partitioning: the ``MetadataExtraction`` processor's JQ query, in the one form this app uses
  (``{"<key>":.<field>[<from>:<to>]}``), fills ``!{partitionKeyFromQuery:<key>}`` in the ``Prefix``;
- record format conversion: when enabled, the records are deserialized as JSON against the Glue table the
  configuration names (``SchemaConfiguration``) and written as Snappy Parquet with that table's columns
  (pyarrow); otherwise the records are concatenated, GZIP-compressed when ``CompressionFormat`` says so;
- object names: ``<prefix><stream name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><FileExtension>``;
- buffering: an object per partition per ``BufferingHints.SizeInMBs`` of input, the rest when the bridge
  ends (the interval elapsing);
- encryption: the destination's KMS key on every object (SSE-KMS);
- failures: a record whose partition key cannot be extracted, or that does not convert, goes to the
  ``ErrorOutputPrefix`` (``processing-failed`` / ``format-conversion-failed``) as Firehose's error record
  JSON, with its data base64-encoded. No record is dropped: ``records == delivered + failed``.

Not emulated (stated in docs/local-sandbox.md): the buffering interval in time, retries, the exact
leniency of the Hive JSON SerDe (a JSON value of the wrong type is a conversion failure here), Parquet
writer details beyond the schema (row groups, timestamp encoding), CloudWatch delivery metrics.
"""

from __future__ import annotations

import base64
import functools
import gzip
import io
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local_sandbox import NotEmulatedError
from worked_example.schema import parse_timestamp

_QUERY = re.compile(r'^\{\s*"?(?P<key>\w+)"?\s*:\s*\.(?P<field>\w+)\[(?P<start>\d+):(?P<end>\d+)\]\s*\}$')
_PLACEHOLDER = re.compile(r"!\{([^}]*)\}")
#: The TimestampFormats value this app configures (Java pattern), read with the schema's own parser.
SUPPORTED_TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"


@dataclass
class BridgeReport:
    records: int = 0
    delivered: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)
    error_objects: list[str] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)

    @property
    def accounted(self) -> bool:
        return self.records == self.delivered + sum(self.failed.values())


@dataclass(frozen=True)
class _Record:
    data: bytes
    arrival: datetime


def read_stream(kinesis: Any, stream_arn: str) -> Iterator[_Record]:
    """Every record of every shard, oldest first within a shard."""
    name = stream_arn.rsplit("/", 1)[-1]
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in page["Records"]:
                yield _Record(record["Data"], record["ApproximateArrivalTimestamp"].astimezone(UTC))
            if not page["Records"] or (page.get("MillisBehindLatest", 0) == 0 and len(page["Records"]) < 10_000):
                break
            iterator = page.get("NextShardIterator")


def _java_date(pattern: str, when: datetime) -> str:
    out = pattern
    for java, python in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):
        out = out.replace(java, python)
    if re.search(r"[a-zA-Z]", re.sub(r"%[YmdHMS]", "", out)):
        raise NotEmulatedError(f"timestamp pattern {pattern!r}: only yyyy, MM, dd, HH, mm, ss are emulated")
    return when.strftime(out)


def expand_prefix(prefix: str, *, keys: Mapping[str, str], when: datetime, error_type: str | None = None) -> str:
    """Fill Firehose's ``!{...}`` placeholders: partition keys, timestamps and the error output type."""

    def fill(match: re.Match[str]) -> str:
        namespace, _, name = match.group(1).partition(":")
        if namespace == "partitionKeyFromQuery" and name in keys:
            return keys[name]
        if namespace == "timestamp":
            return _java_date(name, when)
        if namespace == "firehose" and name == "error-output-type" and error_type:
            return error_type
        raise NotEmulatedError(f"prefix placeholder {match.group(0)!r} is not emulated (or has no value here)")

    return _PLACEHOLDER.sub(fill, prefix)


def partition_extractor(destination: Mapping[str, Any]) -> Callable[[dict[str, Any]], dict[str, str]] | None:
    """The MetadataExtraction processor as a function of the parsed record (None: no dynamic partitioning)."""
    if not destination.get("DynamicPartitioningConfiguration", {}).get("Enabled"):
        return None
    for processor in destination.get("ProcessingConfiguration", {}).get("Processors", []):
        if processor["Type"] != "MetadataExtraction":
            continue
        params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
        match = _QUERY.match(params["MetadataExtractionQuery"])
        if not match:
            raise NotEmulatedError(
                f"JQ query {params['MetadataExtractionQuery']!r}: only {{key: .field[a:b]}} is emulated"
            )
        return functools.partial(
            _extract, key=match["key"], name=match["field"], start=int(match["start"]), end=int(match["end"])
        )
    raise NotEmulatedError("dynamic partitioning is enabled without a MetadataExtraction processor")


def _extract(record: dict[str, Any], *, key: str, name: str, start: int, end: int) -> dict[str, str]:
    """``{"<key>":.<name>[start:end]}`` on one record; ``ValueError`` when the field cannot be sliced."""
    value = record.get(name)
    if not isinstance(value, str) or len(value) < end:
        raise ValueError(f"{name} is missing or not a string of at least {end} characters")
    return {key: value[start:end]}


# --- Record format conversion ----------------------------------------------------------------------------


def _arrow_type(hive_type: str) -> Any:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "double": pa.float64(),
        "float": pa.float32(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "boolean": pa.bool_(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
    }
    if hive_type not in types:
        raise NotEmulatedError(f"Glue column type {hive_type!r} is not emulated")
    return types[hive_type]


def _convert(value: Any, hive_type: str) -> Any:
    """One JSON value as the column's type; ``ValueError`` when it does not convert."""
    if value is None:
        return None
    if hive_type == "string" and isinstance(value, str):
        return value
    if hive_type == "timestamp" and isinstance(value, str):
        return parse_timestamp(value)
    if hive_type in ("double", "float") and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hive_type in ("int", "bigint") and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hive_type == "boolean" and isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is not a {hive_type}")


class ParquetConverter:
    """Records -> Parquet bytes with the Glue table's columns (what OpenX/Hive SerDe + ParquetSerDe produce)."""

    def __init__(self, columns: list[dict[str, str]], timestamp_formats: list[str]) -> None:
        unsupported = [f for f in timestamp_formats if f != SUPPORTED_TIMESTAMP_FORMAT]
        if unsupported:
            raise NotEmulatedError(f"TimestampFormats {unsupported}: only {SUPPORTED_TIMESTAMP_FORMAT!r} is emulated")
        self.columns = [(c["Name"].lower(), c["Type"].lower()) for c in columns]
        self.schema = _schema(self.columns)

    def row(self, record: dict[str, Any]) -> dict[str, Any]:
        lowered = {k.lower(): v for k, v in record.items()}
        return {name: _convert(lowered.get(name), kind) for name, kind in self.columns}

    def to_bytes(self, rows: list[dict[str, Any]]) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=self.schema)
        out = io.BytesIO()
        pq.write_table(table, out, compression="snappy")
        return out.getvalue()


def _schema(columns: list[tuple[str, str]]) -> Any:
    import pyarrow as pa

    return pa.schema([(name, _arrow_type(kind)) for name, kind in columns])


# --- The bridge ------------------------------------------------------------------------------------------------


def _error_record(record: _Record, code: str, message: str) -> bytes:
    body = {
        "attemptsMade": 1,
        "arrivalTimestamp": int(record.arrival.timestamp() * 1000),
        "errorCode": code,
        "errorMessage": message,
        "rawData": base64.b64encode(record.data).decode(),
    }
    return (json.dumps(body) + "\n").encode()


@dataclass(frozen=True)
class _Delivery:
    """The deployed delivery stream's destination, as the bridge applies it."""

    name: str
    version: str
    destination: Mapping[str, Any]
    bucket: str
    extract: Callable[[dict[str, Any]], dict[str, str]] | None
    converter: ParquetConverter | None
    compression: str
    extension: str
    encryption: dict[str, str]
    limit: int

    def key(self, prefix: str, when: datetime, extension: str = "") -> str:
        """An object name as Firehose gives it: ``<prefix><stream name>-<version>-<time>-<uuid><extension>``."""
        return f"{prefix}{self.name}-{self.version}-{when:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{extension}"


def _converter(conversion: Mapping[str, Any], glue: Any) -> ParquetConverter | None:
    """The record format conversion the configuration enables, with its Glue table's columns (None: disabled)."""
    if not conversion.get("Enabled"):
        return None
    schema = conversion["SchemaConfiguration"]
    table = glue.get_table(DatabaseName=schema["DatabaseName"], Name=schema["TableName"])["Table"]
    deserializer = conversion["InputFormatConfiguration"]["Deserializer"]
    formats = deserializer.get("HiveJsonSerDe", {}).get("TimestampFormats", [])
    return ParquetConverter(table["StorageDescriptor"]["Columns"], formats)


def _delivery(description: Mapping[str, Any], name: str, glue: Any) -> _Delivery:
    """The destination configuration of a ``DescribeDeliveryStream`` answer, read before the first record."""
    destination = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    bucket = destination["BucketARN"].split(":::")[-1]
    version = description.get("VersionId", "1")
    extract = partition_extractor(destination)
    converter = _converter(destination.get("DataFormatConversionConfiguration", {}), glue)
    compression = destination.get("CompressionFormat", "UNCOMPRESSED")
    extension = destination.get("FileExtension") or (".gz" if compression == "GZIP" and not converter else "")
    kms = destination.get("EncryptionConfiguration", {}).get("KMSEncryptionConfig", {}).get("AWSKMSKeyARN")
    return _Delivery(
        name=name,
        version=version,
        destination=destination,
        bucket=bucket,
        extract=extract,
        converter=converter,
        compression=compression,
        extension=extension,
        encryption={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {},
        limit=destination["BufferingHints"]["SizeInMBs"] * 1024 * 1024,
    )


class _Bridge:
    """Records in, objects out: buffers per partition prefix, error records per error prefix, and the report."""

    def __init__(self, delivery: _Delivery, s3: Any, now: Callable[[], datetime]) -> None:
        self.delivery = delivery
        self.s3 = s3
        self.now = now
        self.report = BridgeReport()
        self.buffers: dict[str, list[Any]] = defaultdict(list)
        self.sizes: dict[str, int] = defaultdict(int)
        self.errors: dict[tuple[str, str], list[bytes]] = defaultdict(list)

    def take(self, record: _Record) -> None:
        """Buffer one record under its partition's prefix, or keep its error record."""
        self.report.records += 1
        try:
            parsed = json.loads(record.data)
            if not isinstance(parsed, dict):
                raise ValueError("not a JSON object")
            keys = self.delivery.extract(parsed) if self.delivery.extract else {}
        except ValueError as exc:
            self._fail(record, "processing-failed", "DynamicPartitioning.MetadataExtractionFailed", str(exc))
            return
        item: Any = record.data
        if self.delivery.converter:
            try:
                item = self.delivery.converter.row(parsed)
            except ValueError as exc:
                self._fail(record, "format-conversion-failed", "DataFormatConversion.MalformedData", str(exc))
                return
        self._buffer(record, item, keys)

    def finish(self) -> BridgeReport:
        """Write what is still buffered and the error records (the buffering interval elapsing)."""
        for prefix in list(self.buffers):
            self._flush(prefix)
        for (prefix, _), lines in self.errors.items():
            key = self.delivery.key(prefix, self.now())
            self._put(key, b"".join(lines))
            self.report.error_objects.append(key)
        if not self.report.accounted:  # pragma: no cover - a bug in this module, never data
            raise AssertionError(f"bridge lost records: {self.report}")
        return self.report

    def _buffer(self, record: _Record, item: Any, keys: Mapping[str, str]) -> None:
        prefix = expand_prefix(self.delivery.destination["Prefix"], keys=keys, when=record.arrival)
        self.buffers[prefix].append(item)
        self.sizes[prefix] += len(record.data)
        self.report.delivered += 1
        self.report.partitions[prefix] = self.report.partitions.get(prefix, 0) + 1
        if self.sizes[prefix] >= self.delivery.limit:
            self._flush(prefix)

    def _put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.delivery.bucket, Key=key, Body=body, **self.delivery.encryption)

    def _flush(self, prefix: str) -> None:
        """One object of the prefix's buffered records, converted or compressed as configured."""
        items = self.buffers.pop(prefix, [])
        self.sizes.pop(prefix, None)
        if not items:
            return
        key = self.delivery.key(prefix, self.now(), self.delivery.extension)
        if self.delivery.converter:
            body = self.delivery.converter.to_bytes(items)
        else:
            body = b"".join(items)
            body = gzip.compress(body, mtime=0) if self.delivery.compression == "GZIP" else body
        self._put(key, body)
        self.report.objects.append(key)

    def _fail(self, record: _Record, error_type: str, code: str, message: str) -> None:
        error_prefix = self.delivery.destination["ErrorOutputPrefix"]
        prefix = expand_prefix(error_prefix, keys={}, when=record.arrival, error_type=error_type)
        self.errors[(prefix, error_type)].append(_error_record(record, code, message))
        self.report.failed[error_type] = self.report.failed.get(error_type, 0) + 1


def run(aws: Any, delivery_stream: str, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> BridgeReport:
    """Deliver every record of the delivery stream's source as its deployed configuration says."""
    firehose, kinesis, s3, glue = (aws.client(s) for s in ("firehose", "kinesis", "s3", "glue"))
    description = firehose.describe_delivery_stream(DeliveryStreamName=delivery_stream)["DeliveryStreamDescription"]
    source = description["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"]
    bridge = _Bridge(_delivery(description, delivery_stream, glue), s3, now)
    for record in read_stream(kinesis, source):
        bridge.take(record)
    return bridge.finish()
