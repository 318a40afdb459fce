"""Streaming ingest: Kinesis Data Streams -> Amazon Data Firehose -> the raw zone (syllabus §1.2).

* A Kinesis data stream, encrypted with the lake key (set explicitly: without ``encryption`` CDK renders it
  inside ``Fn::If``, which scanners read as unencrypted), on-demand or provisioned.
* The raw events table in the lake's Data Catalog, with the worked example's schema
  (``worked_example.schema``, the single source): Firehose converts records with it, and the crawler and
  Athena read the same table.
* A Firehose delivery stream reading the stream and writing the raw zone under
  ``events/dt=YYYY-MM-DD/`` (Hive-style partitions by *event* date, extracted from each record with
  dynamic partitioning), as Parquet (record format conversion) or as GZIP JSON Lines; failed records under
  ``errors/<error-type>/dt=<arrival date>/``, never dropped; CloudWatch logging to a KMS-encrypted log group.
* Alarms to the alerts topic: iterator age, write throttling (provisioned mode), delivery freshness,
  Firehose's read throttling, and failed conversions (Parquet mode).

Precedence: the caller's settings (validated ``StreamSettings``/``FirehoseSettings``/``AlertSettings``); the
encryption, error prefix, logging and alarm actions are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_config.config import AlertSettings, CapacityMode, FirehoseSettings, OutputFormat, StreamSettings
from ml_constructs.common import via_service
from ml_constructs.nag import acknowledge, acknowledge_wildcard_resources
from worked_example import schema

EVENTS_PREFIX = "events/"
# Named: Athena queries and the crawler (which names tables "raw_" + folder) refer to it.
RAW_TABLE_NAME = "raw_events"
ERRORS_PREFIX = "errors/"
PARTITION_KEY = "dt"

_GLUE_TYPES = {
    "string": glue.Schema.STRING,
    "int": glue.Schema.INTEGER,
    "bigint": glue.Schema.BIG_INT,
    "double": glue.Schema.DOUBLE,
    "boolean": glue.Schema.BOOLEAN,
    "timestamp": glue.Schema.TIMESTAMP,
}


def table_columns() -> list[glue.Column]:
    """The raw table's columns, straight from the worked example's schema (same order, types, comments)."""
    return [
        glue.Column(name=field.name, type=_GLUE_TYPES[field.type], comment=field.description) for field in schema.FIELDS
    ]


@dataclass(frozen=True)
class Encryption:
    """The lake key, and whether the raw zone uses it (SSE-KMS) or SSE-S3."""

    key: kms.IKey
    s3_kms: bool
    catalog_kms: bool = False  # the Data Catalog is encrypted with this key too (then Firehose must decrypt it)


class StreamingIngest(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream_settings: StreamSettings,
        firehose_settings: FirehoseSettings,
        alert_settings: AlertSettings,
        raw_bucket: s3.IBucket,
        database: glue.IDatabase,
        encryption: Encryption,
        alerts: sns.ITopic,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        provisioned = stream_settings.capacity_mode is CapacityMode.PROVISIONED
        self.stream = kinesis.Stream(
            self,
            "Stream",
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=encryption.key,
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            shard_count=stream_settings.shards,
            retention_period=cdk.Duration.hours(stream_settings.retention_hours),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.stream,
            "AwsSolutions-KDS3",
            "The stream uses the lake's customer-managed key on purpose: one key policy decides who can read "
            "the worked example's data in every service, and CloudTrail logs each use. The extra KMS request "
            "cost is small at the example's volume and is stated in docs/streaming.md.",
        )

        parquet = firehose_settings.output_format is OutputFormat.PARQUET
        self.table = glue.S3Table(
            self,
            "RawEvents",
            database=database,
            table_name=RAW_TABLE_NAME,
            storage=glue.S3TableStorage.from_bucket(raw_bucket),
            s3_prefix=EVENTS_PREFIX,
            columns=table_columns(),
            partition_keys=[glue.Column(name=PARTITION_KEY, type=glue.Schema.STRING, comment="Event date, UTC")],
            data_format=glue.DataFormat.PARQUET if parquet else glue.DataFormat.JSON,
            compressed=not parquet,
            description="Raw card-transaction events as Firehose delivers them (worked example)",
            has_encrypted_data=True,
        )

        self.log_group = logs.LogGroup(
            self,
            "DeliveryLogs",
            encryption_key=encryption.key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        # Partition by the event's own date (not the arrival time Firehose's !{timestamp} namespace gives),
        # so that a late event lands in the partition Athena and the ETL expect.
        partitioning = firehose.MetadataExtractionProcessor.jq16({PARTITION_KEY: ".event_time[0:10]"})
        conversion = None
        if parquet:
            conversion = firehose.DataFormatConversionProps(
                # Hive's JSON SerDe with the producer's exact timestamp format, so event_time becomes a
                # Parquet timestamp instead of a conversion error.
                input_format=firehose.HiveJsonInputFormat(
                    timestamp_parsers=[firehose.TimestampParser.from_format_string(schema.TIMESTAMP_JODA_FORMAT)]
                ),
                output_format=firehose.OutputFormat.PARQUET,
                schema_configuration=firehose.SchemaConfiguration.from_cfn_table(
                    self.table.node.default_child  # type: ignore[arg-type]
                ),
            )
        # Least privilege: the L2 would grant read-write on the whole bucket (deletes included). Firehose
        # gets a role whose grants cannot be widened, and exactly the permissions AWS documents for an S3
        # destination, on the two prefixes it writes.
        self.delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
            description="Firehose: write the raw zone's events/ and errors/ prefixes, read the raw table",
        )
        stack = cdk.Stack.of(self)
        prefixes = [raw_bucket.arn_for_objects(f"{EVENTS_PREFIX}*"), raw_bucket.arn_for_objects(f"{ERRORS_PREFIX}*")]
        statements = [
            iam.PolicyStatement(
                sid="WriteRawZonePrefixes",
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                resources=prefixes,
            ),
            iam.PolicyStatement(
                sid="ListRawZone",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[raw_bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="ReadRawTableSchema",
                actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    database.database_arn,
                    self.table.table_arn,
                ],
            ),
            iam.PolicyStatement(
                sid="DeliveryLogs",
                actions=["logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
        ]
        if encryption.s3_kms:
            statements.append(
                iam.PolicyStatement(
                    sid="EncryptThroughS3Only",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[encryption.key.key_arn],
                    conditions=via_service(self, "s3"),
                )
            )
        if encryption.catalog_kms:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadEncryptedCatalog",
                    actions=["kms:Decrypt"],
                    resources=[encryption.key.key_arn],
                    conditions=via_service(self, "glue"),
                )
            )
        self.delivery_policy = iam.Policy(self, "DeliveryPolicy", roles=[self.delivery_role], statements=statements)
        acknowledge_wildcard_resources(
            self.delivery_policy.node.default_child,  # type: ignore[arg-type]
            prefixes,
            "The only wildcards are the object keys under events/ and errors/ of the raw bucket: Firehose "
            "generates a new key for every delivery, so the objects cannot be listed in advance.",
        )

        destination = firehose.S3Bucket(
            raw_bucket,
            data_output_prefix=f"{EVENTS_PREFIX}{PARTITION_KEY}=!{{partitionKeyFromQuery:{PARTITION_KEY}}}/",
            # Failed records (conversion, partitioning or delivery errors) are kept here, never dropped.
            error_output_prefix=f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/",
            buffering_interval=cdk.Duration.seconds(firehose_settings.buffer_interval_seconds),
            buffering_size=cdk.Size.mebibytes(firehose_settings.buffer_size_mib),
            # Parquet compresses inside the file (Snappy by default); S3-level compression must stay unset.
            compression=None if parquet else firehose.Compression.GZIP,
            file_extension=".parquet" if parquet else ".json.gz",
            data_format_conversion=conversion,
            dynamic_partitioning=firehose.DynamicPartitioningProps(enabled=True),
            # No AppendDelimiterToRecord processor: the producer sends each event as one JSON line ending in
            # a newline (worked_example.generator.to_json_line), so the raw files are JSON Lines already.
            processors=[partitioning],
            encryption_key=encryption.key if encryption.s3_kms else None,
            logging_config=firehose.EnableLogging(self.log_group),
            role=self.delivery_role.without_policy_updates(),
        )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "Delivery",
            source=firehose.KinesisStreamSource(self.stream),
            destination=destination,
        )
        # Firehose checks its permissions when the stream is created: the policy must exist first.
        self.delivery_stream.node.add_dependency(self.delivery_policy)
        # The L2 adds the destination's log stream to our group with RETAIN; it follows the group's policy.
        for child in self.log_group.node.find_all():
            if isinstance(child, logs.CfnLogStream):
                child.apply_removal_policy(removal_policy)
        acknowledge(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "Firehose cannot apply its own server-side encryption when its source is a Kinesis stream; the "
            "records are encrypted at rest in the stream (lake key) and written to S3 with SSE-KMS.",
        )

        self.alarms = self._alarms(alerts, alert_settings, provisioned=provisioned, parquet=parquet)

    def _alarms(
        self, topic: sns.ITopic, settings: AlertSettings, *, provisioned: bool, parquet: bool
    ) -> dict[str, cloudwatch.Alarm]:
        five_minutes = cdk.Duration.minutes(5)
        metrics: dict[str, tuple[cloudwatch.IMetric, float, int, str]] = {
            # The oldest record nobody has read yet: Firehose is falling behind, and data nears the end of
            # the stream's retention (then it is lost for good).
            "IteratorAge": (
                self.stream.metric_get_records_iterator_age_milliseconds(statistic="Maximum", period=five_minutes),
                settings.iterator_age_minutes * 60_000,
                2,
                "Records wait in the stream longer than alerts.iterator_age_minutes",
            ),
            # The oldest record inside Firehose: delivery to S3 is late or failing.
            "DeliveryFreshness": (
                self.delivery_stream.metric("DeliveryToS3.DataFreshness", statistic="Maximum", period=five_minutes),
                settings.data_freshness_seconds,
                2,
                "Firehose holds records longer than alerts.data_freshness_seconds",
            ),
            # Firehose's reads from the stream are throttled (too many consumers on too few shards).
            "ReadThrottled": (
                self.delivery_stream.metric("ThrottledGetRecords", statistic="Sum", period=five_minutes),
                1,
                3,
                "Firehose is throttled reading from the stream",
            ),
        }
        if provisioned:
            # Producers exceed the shards' write capacity (1 MB/s or 1,000 records/s each). The producer
            # retries, so one blip is fine; throttling in 3 periods in a row means: add shards.
            metrics["WriteThrottled"] = (
                self.stream.metric_write_provisioned_throughput_exceeded(statistic="Sum", period=five_minutes),
                1,
                3,
                "Writes to the stream are throttled: add shards or use on-demand",
            )
        if parquet:
            # Records that failed Parquet conversion go to errors/format-conversion-failed/: alarm at once.
            metrics["ConversionFailed"] = (
                self.delivery_stream.metric("FailedConversion.Records", statistic="Sum", period=five_minutes),
                1,
                1,
                "Records failed Parquet conversion and were written to the errors/ prefix",
            )
        alarms = {}
        for name, (metric, threshold, periods, description) in metrics.items():
            alarm = cloudwatch.Alarm(
                self,
                f"{name}Alarm",
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            alarm.add_alarm_action(actions.SnsAction(topic))
            alarm.add_ok_action(actions.SnsAction(topic))
            alarms[name] = alarm
        return alarms
