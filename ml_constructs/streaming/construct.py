"""Streaming ingest: a Kinesis data stream, the raw events table, and a Firehose delivery stream that writes
the stream into the raw zone, with alarms (syllabus §1.2).

The caller controls the events' columns, the stream's capacity and retention, the output format (Parquet,
converted with the table's schema, or GZIP JSON Lines), the buffering, the alarm thresholds, log retention
and removal policy. Fixed: the stream and the delivery logs are encrypted with the caller's key; events land
under ``events/dt=<event date>/`` and failed records under ``errors/`` (``lake_layout``), never dropped;
Firehose's role can do exactly what an S3 destination needs on those two prefixes; every alarm notifies the
topic. The reasons, and the alarms' thresholds, are in docs/streaming.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_constructs.common import default_policy, encrypted_log_group, key_through
from ml_constructs.lake_layout import ERRORS_PREFIX, EVENTS_PREFIX
from ml_constructs.nag import acknowledge, acknowledge_grant_policy, acknowledge_wildcard_resources
from ml_constructs.streaming.alarms import ingest_alarms

#: Named: the raw zone's crawler (which names tables "raw_" + folder) and Athena queries refer to it.
RAW_TABLE_NAME = "raw_events"
#: The Hive-style partition key of the raw table: the event's date, ``YYYY-MM-DD``.
PARTITION_KEY = "dt"
#: ISO-8601 UTC with milliseconds (``2026-11-20T10:15:30.123Z``) in Joda-Time notation, the notation of
#: Firehose's Hive JSON deserializer (its default parser does not accept the ``T`` and the ``Z``).
ISO_MILLIS_UTC = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"


@dataclass(frozen=True)
class EventColumn:
    """One field of the events, in the order the records carry them: a column of the raw table."""

    name: str
    glue_type: str  # string, int, bigint, double, boolean or timestamp (Glue/Hive names)
    comment: str | None = None


class StreamingIngest(Construct):
    """Kinesis data stream -> Firehose -> ``events/`` of ``raw_bucket``; the raw table in ``database``.

    Each record is one JSON object; ``event_time_column`` holds its ISO-8601 timestamp (``timestamp_format``),
    whose date is the partition. The key encrypts the stream and the logs; ``objects_encrypted_with_key``: the
    raw bucket is SSE-KMS with it (else SSE-S3); ``catalog_encrypted_with_key``: so is the Data Catalog.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        raw_bucket: s3.IBucket,
        database: glue.IDatabase,
        key: kms.IKey,
        alerts: sns.ITopic,
        columns: Sequence[EventColumn],
        event_time_column: str = "event_time",
        timestamp_format: str = ISO_MILLIS_UTC,
        table_description: str = "Raw events as Firehose delivers them",
        stream_mode: kinesis.StreamMode = kinesis.StreamMode.PROVISIONED,
        shard_count: int | None = None,  # provisioned mode only (None: one shard)
        retention_hours: int = 24,
        parquet: bool = True,  # False: GZIP JSON Lines, as the records arrive
        buffer_interval_seconds: int = 300,
        buffer_size_mib: int = 128,
        objects_encrypted_with_key: bool = True,
        catalog_encrypted_with_key: bool = False,
        iterator_age_minutes: int = 10,
        data_freshness_seconds: int = 900,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,  # the raw zone keeps the data
    ) -> None:
        super().__init__(scope, construct_id)
        self.stream = kinesis.Stream(
            self,
            "Stream",
            # Explicit: without ``encryption`` CDK renders it inside Fn::If, which scanners read as unencrypted.
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            stream_mode=stream_mode,
            shard_count=shard_count,
            retention_period=cdk.Duration.hours(retention_hours),
            removal_policy=removal_policy,
        )
        self.table = glue.S3Table(
            self,
            "RawEvents",
            database=database,
            table_name=RAW_TABLE_NAME,
            storage=glue.S3TableStorage.from_bucket(raw_bucket),
            s3_prefix=EVENTS_PREFIX,
            columns=_glue_columns(columns, event_time_column),
            partition_keys=[glue.Column(name=PARTITION_KEY, type=glue.Schema.STRING, comment="Event date, UTC")],
            data_format=glue.DataFormat.PARQUET if parquet else glue.DataFormat.JSON,
            compressed=not parquet,
            description=table_description,
            has_encrypted_data=True,
        )
        self.log_group = encrypted_log_group(
            self, "DeliveryLogs", key=key, retention=log_retention, removal_policy=removal_policy
        )
        self.parquet = parquet  # converted with the raw table's schema (Firehose reads it), or JSON as it arrives
        self.delivery_role, self.delivery_policy = self._delivery_role(
            raw_bucket, database, key, objects=objects_encrypted_with_key, catalog=catalog_encrypted_with_key
        )
        self.delivery_stream = self._delivery_stream(
            raw_bucket,
            key=key if objects_encrypted_with_key else None,
            partition_query=f".{event_time_column}[0:10]",  # the date part of an ISO-8601 timestamp
            conversion=self._parquet_conversion(timestamp_format) if parquet else None,
            buffer_interval_seconds=buffer_interval_seconds,
            buffer_size_mib=buffer_size_mib,
            removal_policy=removal_policy,
        )
        self.alarms = ingest_alarms(
            self,
            self.stream,
            self.delivery_stream,
            alerts,
            iterator_age_minutes=iterator_age_minutes,
            data_freshness_seconds=data_freshness_seconds,
            provisioned=stream_mode == kinesis.StreamMode.PROVISIONED,
            parquet=parquet,
        )
        self._acknowledge()

    def _delivery_stream(
        self,
        bucket: s3.IBucket,
        *,
        key: kms.IKey | None,
        partition_query: str,
        conversion: firehose.DataFormatConversionProps | None,
        buffer_interval_seconds: int,
        buffer_size_mib: int,
        removal_policy: cdk.RemovalPolicy,
    ) -> firehose.DeliveryStream:
        """Firehose from the stream to ``events/dt=<event date>/`` of ``bucket``, failed records to ``errors/``."""
        destination = firehose.S3Bucket(
            bucket,
            # Partition by the event's own date (Firehose's !{timestamp} is the arrival time): a late event
            # lands in the partition Athena and the ETL expect.
            data_output_prefix=f"{EVENTS_PREFIX}{PARTITION_KEY}=!{{partitionKeyFromQuery:{PARTITION_KEY}}}/",
            processors=[firehose.MetadataExtractionProcessor.jq16({PARTITION_KEY: partition_query})],
            dynamic_partitioning=firehose.DynamicPartitioningProps(enabled=True),
            # Failed records (conversion, partitioning or delivery errors) are kept here, never dropped.
            error_output_prefix=f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/",
            buffering_interval=cdk.Duration.seconds(buffer_interval_seconds),
            buffering_size=cdk.Size.mebibytes(buffer_size_mib),
            data_format_conversion=conversion,
            # Parquet compresses inside the file (Snappy); S3-level compression must then stay unset. No
            # delimiter processor: each record ends in a newline, so the JSON files are JSON Lines already.
            compression=None if conversion else firehose.Compression.GZIP,
            file_extension=".parquet" if conversion else ".json.gz",
            encryption_key=key,
            logging_config=firehose.EnableLogging(self.log_group),
            role=self.delivery_role.without_policy_updates(),
        )
        delivery = firehose.DeliveryStream(
            self, "Delivery", source=firehose.KinesisStreamSource(self.stream), destination=destination
        )
        # Firehose checks its permissions when the stream is created: the policy must exist first.
        delivery.node.add_dependency(self.delivery_policy)
        self._read_the_stream_only(delivery)
        # The L2 adds the destination's log stream to the group with RETAIN; it follows the group's policy.
        for child in self.log_group.node.find_all():
            if isinstance(child, logs.CfnLogStream):
                child.apply_removal_policy(removal_policy)
        return delivery

    def _parquet_conversion(self, timestamp_format: str) -> firehose.DataFormatConversionProps:
        """JSON -> Parquet with the raw table's schema; the Hive JSON SerDe parses ``timestamp_format``, so
        timestamps become Parquet timestamps instead of conversion errors."""
        return firehose.DataFormatConversionProps(
            input_format=firehose.HiveJsonInputFormat(
                timestamp_parsers=[firehose.TimestampParser.from_format_string(timestamp_format)]
            ),
            output_format=firehose.OutputFormat.PARQUET,
            schema_configuration=firehose.SchemaConfiguration.from_cfn_table(
                self.table.node.default_child  # type: ignore[arg-type]
            ),
        )

    def _read_the_stream_only(self, delivery: firehose.DeliveryStream) -> None:
        """The source role's policy: exactly what AWS documents for a Kinesis source
        (https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html, checked 2026-12), the key only
        through Kinesis and for this stream.

        The L2 grants its source role ``grantRead`` on the stream, which adds consumer and listing actions
        (``SubscribeToShard``, ``DescribeStreamConsumer``, ``DescribeStreamSummary``, ``ListStreams``) Firehose
        never calls. The role itself stays the L2's: a delivery stream's source configuration, its role included,
        cannot change without replacing the delivery stream; so its policy document is replaced instead."""
        stream = self.stream.stream_arn
        read = iam.PolicyStatement(
            sid="ReadTheStream",
            actions=["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"],
            resources=[stream],
        )
        key = self.stream.encryption_key
        assert key is not None, "the stream is always encrypted with the caller's key"
        decrypt = key_through(self, key, ["kms:Decrypt"], "kinesis", sid="DecryptTheStream")
        decrypt.add_condition("StringEquals", {"kms:EncryptionContext:aws:kinesis:arn": stream})
        policy = default_policy(delivery.node.find_child("Service Role"))  # type: ignore[arg-type]
        policy.add_property_override(
            "PolicyDocument.Statement", [read.to_statement_json(), decrypt.to_statement_json()]
        )

    def _delivery_role(
        self, bucket: s3.IBucket, database: glue.IDatabase, key: kms.IKey, *, objects: bool, catalog: bool
    ) -> tuple[iam.Role, iam.Policy]:
        """Firehose's role, and exactly what AWS documents for an S3 destination, on the two prefixes it writes.

        The L2 would grant read-write on the whole bucket (deletes included); it gets this role without policy
        updates, so the policy is all Firehose may do. Record format conversion (Parquet output only) reads the
        raw table's schema. The key only through S3 (and Glue, for an encrypted catalog the conversion reads)."""
        role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
            description="Firehose: write the raw zone's events/ and errors/ prefixes, read the raw table",
        )
        prefixes = [bucket.arn_for_objects(f"{EVENTS_PREFIX}*"), bucket.arn_for_objects(f"{ERRORS_PREFIX}*")]
        statements = [
            iam.PolicyStatement(
                sid="WriteRawZonePrefixes",
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                resources=prefixes,
            ),
            iam.PolicyStatement(
                sid="ListRawZone",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="DeliveryLogs", actions=["logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
            ),
        ]
        if self.parquet:
            statements.insert(
                2,
                iam.PolicyStatement(
                    sid="ReadRawTableSchema",
                    actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                    resources=[
                        cdk.Stack.of(self).format_arn(service="glue", resource="catalog"),
                        database.database_arn,
                        self.table.table_arn,
                    ],
                ),
            )
        if objects:
            statements.append(
                key_through(self, key, ["kms:GenerateDataKey", "kms:Decrypt"], "s3", sid="EncryptThroughS3Only")
            )
        if catalog and self.parquet:
            statements.append(key_through(self, key, ["kms:Decrypt"], "glue", sid="ReadEncryptedCatalog"))
        policy = iam.Policy(self, "DeliveryPolicy", roles=[role], statements=statements)
        acknowledge_wildcard_resources(
            policy.node.default_child,  # type: ignore[arg-type]
            prefixes,
            "The only wildcards are the object keys under events/ and errors/ of the raw bucket: Firehose "
            "generates a new key for every delivery, so the objects cannot be listed in advance.",
        )
        return role, policy

    def _acknowledge(self) -> None:
        acknowledge(
            self.stream,
            "AwsSolutions-KDS3",
            "The stream uses the caller's customer-managed key on purpose: one key policy decides who can read "
            "the data in every service, and CloudTrail logs each use. The extra KMS request cost is small at "
            "this volume and is stated in docs/streaming.md.",
        )
        acknowledge(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "Firehose cannot apply its own server-side encryption when its source is a Kinesis stream; the "
            "records are encrypted at rest in the stream (the caller's key) and written to S3 with the raw "
            "bucket's encryption.",
        )
        acknowledge_grant_policy(self.delivery_stream.node.find_child("Service Role"))
        acknowledge_grant_policy(
            self.node.find_child("DeliveryPolicy"),
            "The delivery role's policy, statement by statement what Firehose calls for this stream, attached to "
            "this one role; a customer-managed policy would add an attachable copy without narrowing it.",
        )


_GLUE_TYPES = {
    "string": glue.Schema.STRING,
    "int": glue.Schema.INTEGER,
    "bigint": glue.Schema.BIG_INT,
    "double": glue.Schema.DOUBLE,
    "boolean": glue.Schema.BOOLEAN,
    "timestamp": glue.Schema.TIMESTAMP,
}


def _glue_columns(columns: Sequence[EventColumn], event_time_column: str) -> list[glue.Column]:
    """The table's columns, in the records' order; the time column must be one of them."""
    if event_time_column not in [column.name for column in columns]:
        raise ValueError(f"event_time_column {event_time_column!r} is not one of the columns")
    unknown = [column.name for column in columns if column.glue_type not in _GLUE_TYPES]
    if unknown:
        raise ValueError(f"columns {unknown}: the Glue type is not one of {sorted(_GLUE_TYPES)}")
    return [glue.Column(name=c.name, type=_GLUE_TYPES[c.glue_type], comment=c.comment) for c in columns]
