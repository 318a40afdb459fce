"""StreamingIngest alone in a bare stack: the stream, the raw table, Firehose and its role, the alarms."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from ml_constructs.lake_layout import ERRORS_PREFIX, EVENTS_PREFIX
from ml_constructs.streaming.construct import (
    ISO_MILLIS_UTC,
    PARTITION_KEY,
    RAW_TABLE_NAME,
    EventColumn,
    StreamingIngest,
)

COLUMNS = [
    EventColumn("event_id", "string", "Unique id"),
    EventColumn("event_time", "timestamp", "When it happened, ISO-8601 UTC"),
    EventColumn("amount", "double"),
    EventColumn("label", "int", "0 or 1"),
]


def ingest(stack: cdk.Stack, **props) -> Template:
    """The construct with its collaborators (key, raw bucket, database, topic) and ``props``; its template."""
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Raw", encryption=s3.BucketEncryption.KMS, encryption_key=key)
    database = glue.Database(stack, "Catalog", database_name="lake")
    topic = sns.Topic(stack, "Alerts")
    StreamingIngest(
        stack, "Ingest", raw_bucket=bucket, database=database, key=key, alerts=topic, columns=COLUMNS, **props
    )
    return Template.from_stack(stack)


def ref(template: Template, resource_type: str, path: str) -> str:
    """The logical id of the one resource of ``resource_type`` whose id starts with ``path``."""
    (logical_id,) = [k for k in template.find_resources(resource_type) if k.startswith(path)]
    return logical_id


def destination(template: Template) -> dict:
    (stream,) = template.find_resources("AWS::KinesisFirehose::DeliveryStream").values()
    return stream["Properties"]["ExtendedS3DestinationConfiguration"]


def policy_statements(template: Template) -> dict[str, dict]:
    (policy,) = [
        p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("IngestDeliveryPolicy")
    ]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_defaults_one_provisioned_shard_for_a_day_encrypted_with_the_key(stack):
    template = ingest(stack)
    key = ref(template, "AWS::KMS::Key", "Key")
    template.resource_count_is("AWS::Kinesis::Stream", 1)
    template.has_resource(
        "AWS::Kinesis::Stream",
        {
            "Properties": Match.object_like(
                {
                    "StreamEncryption": {"EncryptionType": "KMS", "KeyId": {"Fn::GetAtt": [key, "Arn"]}},
                    "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                    "ShardCount": 1,
                    "RetentionPeriodHours": 24,
                }
            ),
            "DeletionPolicy": "Delete",  # the raw zone keeps the data, the stream is transit
        },
    )


def test_raw_table_has_the_given_columns_in_order_and_the_event_date_partition(stack):
    template = ingest(stack)
    columns = [{"Name": c.name, "Type": c.glue_type, **({"Comment": c.comment} if c.comment else {})} for c in COLUMNS]
    template.has_resource_properties(
        "AWS::Glue::Table",
        Match.object_like(
            {
                "TableInput": Match.object_like(
                    {
                        "Name": RAW_TABLE_NAME,
                        "PartitionKeys": [{"Name": PARTITION_KEY, "Type": "string", "Comment": "Event date, UTC"}],
                        "StorageDescriptor": Match.object_like(
                            {
                                "Columns": columns,
                                "Location": {"Fn::Join": ["", ["s3://", Match.any_value(), f"/{EVENTS_PREFIX}"]]},
                                "Compressed": False,
                            }
                        ),
                    }
                )
            }
        ),
    )


def test_defaults_deliver_parquet_partitioned_by_event_date_and_keep_errors(stack):
    template = ingest(stack)
    key = ref(template, "AWS::KMS::Key", "Key")
    s3_destination = destination(template)
    assert s3_destination["Prefix"] == f"{EVENTS_PREFIX}{PARTITION_KEY}=!{{partitionKeyFromQuery:{PARTITION_KEY}}}/"
    assert s3_destination["ErrorOutputPrefix"].startswith(f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/")
    assert s3_destination["BufferingHints"] == {"IntervalInSeconds": 300, "SizeInMBs": 128}
    assert s3_destination["DynamicPartitioningConfiguration"] == {"Enabled": True}
    (extraction,) = s3_destination["ProcessingConfiguration"]["Processors"]
    query = {p["ParameterName"]: p["ParameterValue"] for p in extraction["Parameters"]}["MetadataExtractionQuery"]
    assert query == f'{{"{PARTITION_KEY}":.event_time[0:10]}}'  # the date part of the ISO-8601 timestamp
    conversion = s3_destination["DataFormatConversionConfiguration"]
    assert conversion["InputFormatConfiguration"]["Deserializer"]["HiveJsonSerDe"]["TimestampFormats"] == [
        ISO_MILLIS_UTC
    ]
    assert conversion["OutputFormatConfiguration"]["Serializer"] == {"ParquetSerDe": {}}
    assert conversion["SchemaConfiguration"]["TableName"] == {"Ref": ref(template, "AWS::Glue::Table", "Ingest")}
    assert s3_destination["FileExtension"] == ".parquet"
    assert "CompressionFormat" not in s3_destination  # Parquet compresses inside the file
    assert s3_destination["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"] == {
        "Fn::GetAtt": [key, "Arn"]
    }


def test_firehose_waits_for_a_policy_limited_to_the_two_prefixes(stack):
    template = ingest(stack)
    bucket = ref(template, "AWS::S3::Bucket", "Raw")
    statements = policy_statements(template)
    assert list(statements) == [
        "WriteRawZonePrefixes",
        "ListRawZone",
        "ReadRawTableSchema",
        "DeliveryLogs",
        "EncryptThroughS3Only",
    ]
    writes = statements["WriteRawZonePrefixes"]
    assert sorted(writes["Action"]) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    assert writes["Resource"] == [
        {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, f"/{prefix}*"]]}
        for prefix in (EVENTS_PREFIX, ERRORS_PREFIX)
    ]
    assert statements["EncryptThroughS3Only"]["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["s3.us-east-1.", {"Ref": "AWS::URLSuffix"}]]}}
    }
    policy = ref(template, "AWS::IAM::Policy", "IngestDeliveryPolicy")
    (delivery,) = template.find_resources("AWS::KinesisFirehose::DeliveryStream").values()
    assert policy in delivery["DependsOn"]


def test_firehose_reads_the_stream_with_exactly_the_documented_source_permissions(stack):
    """The source role keeps its logical id (a delivery stream's source cannot change without replacing it), and
    its policy is what Firehose documents for a Kinesis source: no consumer or listing actions, the key only
    through Kinesis for this stream."""
    template = ingest(stack)
    stream, key = ref(template, "AWS::Kinesis::Stream", "IngestStream"), ref(template, "AWS::KMS::Key", "Key")
    role = ref(template, "AWS::IAM::Role", "IngestDeliveryServiceRole")
    (source,) = template.find_resources("AWS::KinesisFirehose::DeliveryStream").values()
    assert source["Properties"]["KinesisStreamSourceConfiguration"]["RoleARN"] == {"Fn::GetAtt": [role, "Arn"]}
    (policy,) = [
        p for p in template.find_resources("AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
    ]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Sid": "ReadTheStream",
            "Effect": "Allow",
            "Action": [
                "kinesis:DescribeStream",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
                "kinesis:ListShards",
            ],
            "Resource": {"Fn::GetAtt": [stream, "Arn"]},
        },
        {
            "Sid": "DecryptTheStream",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": {"Fn::GetAtt": [key, "Arn"]},
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": {"Fn::Join": ["", ["kinesis.us-east-1.", {"Ref": "AWS::URLSuffix"}]]},
                    "kms:EncryptionContext:aws:kinesis:arn": {"Fn::GetAtt": [stream, "Arn"]},
                }
            },
        },
    ]


def test_delivery_logs_go_to_a_log_group_encrypted_with_the_key(stack):
    template = ingest(stack)
    key = ref(template, "AWS::KMS::Key", "Key")
    group = ref(template, "AWS::Logs::LogGroup", "IngestDeliveryLogs")
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": {"Fn::GetAtt": [key, "Arn"]}, "RetentionInDays": 30}
    )
    logging = destination(template)["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True
    assert logging["LogGroupName"] == {"Ref": group}
    template.has_resource("AWS::Logs::LogStream", {"DeletionPolicy": "Delete"})


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(stack):
    template = ingest(stack)
    topic = ref(template, "AWS::SNS::Topic", "Alerts")
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {
        "GetRecords.IteratorAgeMilliseconds",
        "DeliveryToS3.DataFreshness",
        "ThrottledGetRecords",
        "WriteProvisionedThroughputExceeded",  # provisioned (the default)
        "FailedConversion.Records",  # Parquet (the default)
    }
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": topic}], name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert alarm["TreatMissingData"] == "notBreaching", name
    assert alarms["GetRecords.IteratorAgeMilliseconds"]["Threshold"] == 10 * 60 * 1000  # 10 minutes
    assert alarms["DeliveryToS3.DataFreshness"]["Threshold"] == 15 * 60  # 15 minutes
    conversion = alarms["FailedConversion.Records"]
    assert (conversion["Threshold"], conversion["EvaluationPeriods"]) == (1, 1)  # one failed record: at once
    assert alarms["WriteProvisionedThroughputExceeded"]["DatapointsToAlarm"] == 3


def test_on_demand_json_sse_s3_and_an_encrypted_catalog(stack):
    template = ingest(
        stack,
        stream_mode=kinesis.StreamMode.ON_DEMAND,
        parquet=False,
        objects_encrypted_with_key=False,
        catalog_encrypted_with_key=True,
    )
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        Match.object_like({"StreamModeDetails": {"StreamMode": "ON_DEMAND"}, "ShardCount": Match.absent()}),
    )
    s3_destination = destination(template)
    assert "DataFormatConversionConfiguration" not in s3_destination
    assert (s3_destination["CompressionFormat"], s3_destination["FileExtension"]) == ("GZIP", ".json.gz")
    assert "EncryptionConfiguration" not in s3_destination  # the bucket's SSE-S3 applies
    template.has_resource_properties(
        "AWS::Glue::Table",
        {
            "TableInput": Match.object_like(
                {
                    "StorageDescriptor": Match.object_like(
                        {
                            "Compressed": True,
                            "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
                        }
                    )
                }
            )
        },
    )
    statements = policy_statements(template)
    assert "EncryptThroughS3Only" not in statements
    # no record format conversion: Firehose never reads the table's schema, nor the catalog's key
    assert list(statements) == ["WriteRawZonePrefixes", "ListRawZone", "DeliveryLogs"]
    metrics = {a["Properties"]["MetricName"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()}
    assert metrics == {"GetRecords.IteratorAgeMilliseconds", "DeliveryToS3.DataFreshness", "ThrottledGetRecords"}


def test_conversion_reads_the_schema_of_an_encrypted_catalog_through_glue(stack):
    statements = policy_statements(ingest(stack, catalog_encrypted_with_key=True))
    assert "ReadRawTableSchema" in statements
    assert statements["ReadEncryptedCatalog"]["Action"] == "kms:Decrypt"
    assert statements["ReadEncryptedCatalog"]["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["glue.us-east-1.", {"Ref": "AWS::URLSuffix"}]]}}
    }


def test_capacity_buffering_thresholds_and_retention_follow_the_props(stack):
    template = ingest(
        stack,
        shard_count=4,
        retention_hours=168,
        buffer_interval_seconds=60,
        buffer_size_mib=64,
        iterator_age_minutes=3,
        data_freshness_seconds=450,
        timestamp_format="yyyy-MM-dd HH:mm:ss",
        table_description="Card transactions",
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    template.has_resource(
        "AWS::Kinesis::Stream",
        {
            "Properties": Match.object_like({"ShardCount": 4, "RetentionPeriodHours": 168}),
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource(
        "AWS::Logs::LogGroup", {"Properties": Match.object_like({"RetentionInDays": 7}), "DeletionPolicy": "Retain"}
    )
    template.has_resource("AWS::Logs::LogStream", {"DeletionPolicy": "Retain"})
    template.has_resource_properties(
        "AWS::Glue::Table", {"TableInput": Match.object_like({"Description": "Card transactions"})}
    )
    s3_destination = destination(template)
    assert s3_destination["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 64}
    conversion = s3_destination["DataFormatConversionConfiguration"]
    assert conversion["InputFormatConfiguration"]["Deserializer"]["HiveJsonSerDe"]["TimestampFormats"] == [
        "yyyy-MM-dd HH:mm:ss"
    ]
    thresholds = {
        a["Properties"]["MetricName"]: a["Properties"]["Threshold"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert thresholds["GetRecords.IteratorAgeMilliseconds"] == 3 * 60_000
    assert thresholds["DeliveryToS3.DataFreshness"] == 450


def test_the_time_column_must_be_a_column_and_types_glue_types(stack):
    key = kms.Key(stack, "Key")
    common = {
        "raw_bucket": s3.Bucket(stack, "Raw"),
        "database": glue.Database(stack, "Catalog", database_name="lake"),
        "key": key,
        "alerts": sns.Topic(stack, "Alerts"),
    }
    with pytest.raises(ValueError, match="event_time_column 'ts'"):
        StreamingIngest(stack, "NoTime", columns=COLUMNS, event_time_column="ts", **common)
    with pytest.raises(ValueError, match="amount"):
        StreamingIngest(stack, "BadType", columns=[*COLUMNS[:2], EventColumn("amount", "float64")], **common)
