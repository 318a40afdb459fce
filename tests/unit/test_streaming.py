"""StreamingStack and AlertsStack: the stream, the raw table, Firehose, alarms, read from the templates."""

from __future__ import annotations

import json

import pytest

from ml_constructs.lake_layout import ERRORS_PREFIX, EVENTS_PREFIX
from tests.conftest import resources
from worked_example import schema

STREAM = "IngestStream404D06C0"
TABLE = "IngestRawEventsTableAE23167C"


@pytest.fixture(scope="module")
def streaming(sandbox):
    return sandbox.template(sandbox.stacks.streaming)


@pytest.fixture(scope="module")
def json_mode(variant):
    return variant  # firehose.output_format=json, lake.encryption=s3


def delivery(template) -> dict:
    (stream,) = resources(template, "AWS::KinesisFirehose::DeliveryStream").values()
    return stream["Properties"]


def alarms(template) -> dict[str, dict]:
    return {
        r["Properties"]["MetricName"]: r["Properties"] for r in resources(template, "AWS::CloudWatch::Alarm").values()
    }


def test_stateful_logical_ids_are_pinned(streaming):
    assert streaming["Resources"][STREAM]["Type"] == "AWS::Kinesis::Stream"
    assert streaming["Resources"][TABLE]["Type"] == "AWS::Glue::Table"


def test_stream_is_encrypted_with_the_lake_key_explicitly(streaming):
    props = streaming["Resources"][STREAM]["Properties"]
    assert props["StreamEncryption"]["EncryptionType"] == "KMS"
    assert "DataLakeKey" in json.dumps(props["StreamEncryption"]["KeyId"])
    assert "Fn::If" not in json.dumps(props)  # the scanner trap of an implicit encryption setting


def test_sandbox_stream_is_one_provisioned_shard_for_a_day(sandbox, streaming):
    props = streaming["Resources"][STREAM]["Properties"]
    assert props["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert props["ShardCount"] == sandbox.config.stream.shards == 1
    assert props["RetentionPeriodHours"] == sandbox.config.stream.retention_hours


def test_production_stream_is_on_demand_for_a_week(production):
    props = production.template(production.stacks.streaming)["Resources"][STREAM]["Properties"]
    assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in props
    assert props["RetentionPeriodHours"] == production.config.stream.retention_hours >= 168
    assert production.template(production.stacks.streaming)["Resources"][STREAM]["DeletionPolicy"] == "Retain"


def test_raw_table_schema_is_the_generators_schema_field_by_field(streaming):
    table = streaming["Resources"][TABLE]["Properties"]["TableInput"]
    assert table["Name"] == "raw_events"
    columns = table["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == schema.field_names()
    for column, field in zip(columns, schema.FIELDS, strict=True):
        assert column["Type"] == field.type, field.name
        assert column["Comment"] == field.description
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string", "Comment": "Event date, UTC"}]
    assert table["StorageDescriptor"]["Location"]["Fn::Join"][1][-1] == f"/{EVENTS_PREFIX}"


def test_parquet_mode_converts_with_the_raw_table_and_the_producers_timestamp_format(streaming):
    s3 = delivery(streaming)["ExtendedS3DestinationConfiguration"]
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["OutputFormatConfiguration"]["Serializer"] == {"ParquetSerDe": {}}
    assert conversion["InputFormatConfiguration"]["Deserializer"]["HiveJsonSerDe"]["TimestampFormats"] == [
        schema.TIMESTAMP_JODA_FORMAT
    ]
    assert conversion["SchemaConfiguration"]["TableName"] == {"Ref": TABLE}
    assert s3["FileExtension"] == ".parquet"
    assert "CompressionFormat" not in s3 or s3["CompressionFormat"] == "UNCOMPRESSED"


def test_partitions_by_event_date_and_keeps_errors(sandbox, streaming):
    s3 = delivery(streaming)["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == f"{EVENTS_PREFIX}dt=!{{partitionKeyFromQuery:dt}}/"
    assert s3["ErrorOutputPrefix"].startswith(f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/")
    assert s3["DynamicPartitioningConfiguration"] == {"Enabled": True}
    (extraction,) = [p for p in s3["ProcessingConfiguration"]["Processors"] if p["Type"] == "MetadataExtraction"]
    query = {p["ParameterName"]: p["ParameterValue"] for p in extraction["Parameters"]}["MetadataExtractionQuery"]
    assert query == '{"dt":.event_time[0:10]}'
    # the JQ slice is the date part of the generator's timestamp format
    assert schema.TIMESTAMP_EXAMPLE[0:10] == "2026-11-20"
    hints = s3["BufferingHints"]
    assert hints == {
        "IntervalInSeconds": sandbox.config.firehose.buffer_interval_seconds,
        "SizeInMBs": sandbox.config.firehose.buffer_size_mib,
    }
    assert hints["SizeInMBs"] >= 64


def test_json_mode_writes_gzip_json_lines_with_dynamic_partitioning(json_mode):
    template = json_mode.template(json_mode.stacks.streaming)
    s3 = delivery(template)["ExtendedS3DestinationConfiguration"]
    assert "DataFormatConversionConfiguration" not in s3
    assert s3["CompressionFormat"] == "GZIP"
    assert s3["FileExtension"] == ".json.gz"
    assert s3["DynamicPartitioningConfiguration"] == {"Enabled": True}
    types = [p["Type"] for p in s3["ProcessingConfiguration"]["Processors"]]
    assert types == ["MetadataExtraction"]  # records arrive newline-terminated from the producer
    from worked_example.generator import generate_events, to_json_line

    assert to_json_line(next(iter(generate_events(1, seed=1)))).endswith(b"\n")
    table = template["Resources"][TABLE]["Properties"]["TableInput"]["StorageDescriptor"]
    assert "json" in table["SerdeInfo"]["SerializationLibrary"].lower()
    assert table["Compressed"] is True
    # SSE-S3 lake: Firehose writes without a KMS key and gets no KMS permission
    assert "EncryptionConfiguration" not in s3 or "KMSEncryptionConfig" not in s3["EncryptionConfiguration"]
    policy = next(p for k, p in resources(template, "AWS::IAM::Policy").items() if k.startswith("IngestDeliveryPolicy"))
    assert not [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "kms" in json.dumps(s["Action"])]


def test_firehose_writes_with_the_lake_key_and_logs_to_an_encrypted_group(sandbox, streaming):
    s3 = delivery(streaming)["ExtendedS3DestinationConfiguration"]
    assert "DataLakeKey" in json.dumps(s3["EncryptionConfiguration"]["KMSEncryptionConfig"])
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
    group_id = s3["CloudWatchLoggingOptions"]["LogGroupName"]["Ref"]
    group = streaming["Resources"][group_id]["Properties"]
    assert "DataLakeKey" in json.dumps(group["KmsKeyId"])
    assert group["RetentionInDays"] == sandbox.config.logs.retention_days


def test_firehose_role_is_least_privilege(streaming):
    s3 = delivery(streaming)["ExtendedS3DestinationConfiguration"]
    role_id = s3["RoleARN"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]
        for p in resources(streaming, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    assert len(policies) == 1  # ours only: the L2's broad grants cannot attach to an immutable role
    statements = {s["Sid"]: s for s in policies[0]["PolicyDocument"]["Statement"]}
    writes = statements["WriteRawZonePrefixes"]
    assert sorted(writes["Action"]) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    assert sorted(r["Fn::Join"][1][-1] for r in writes["Resource"]) == sorted(
        [f"/{EVENTS_PREFIX}*", f"/{ERRORS_PREFIX}*"]
    )
    every_action = [
        a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [a for a in every_action if "*" in a or "Delete" in a]
    assert statements["EncryptThroughS3Only"]["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Join"][1][0] == "s3."
    # the delivery stream is created only after its permissions exist
    (stream_id,) = resources(streaming, "AWS::KinesisFirehose::DeliveryStream")
    policy_id = next(
        k for k, p in resources(streaming, "AWS::IAM::Policy").items() if {"Ref": role_id} in p["Properties"]["Roles"]
    )
    assert policy_id in streaming["Resources"][stream_id]["DependsOn"]


def test_unused_firehose_cidr_mapping_is_removed(streaming):
    assert "Mappings" not in streaming


def test_every_alarm_notifies_the_alerts_topic_on_alarm_and_ok(sandbox, streaming):
    found = alarms(streaming)
    assert set(found) == {
        "GetRecords.IteratorAgeMilliseconds",
        "DeliveryToS3.DataFreshness",
        "ThrottledGetRecords",
        "WriteProvisionedThroughputExceeded",
        "FailedConversion.Records",
    }
    for name, alarm in found.items():
        for actions in (alarm["AlarmActions"], alarm["OKActions"]):
            assert len(actions) == 1, name
            assert "AlertsTopic" in json.dumps(actions[0]), name
    assert (
        found["GetRecords.IteratorAgeMilliseconds"]["Threshold"] == sandbox.config.alerts.iterator_age_minutes * 60_000
    )
    assert found["DeliveryToS3.DataFreshness"]["Threshold"] == sandbox.config.alerts.data_freshness_seconds
    assert found["FailedConversion.Records"]["Threshold"] == 1


def test_on_demand_json_mode_has_no_provisioned_or_conversion_alarms(production, json_mode):
    assert "WriteProvisionedThroughputExceeded" not in alarms(production.template(production.stacks.streaming))
    assert "FailedConversion.Records" not in alarms(json_mode.template(json_mode.stacks.streaming))


def test_outputs_tell_the_producer_where_to_send(streaming):
    assert {"StreamName", "StreamArn", "DeliveryStreamName", "RawEventsTable"} <= set(streaming["Outputs"])
    assert not [o for o in streaming["Outputs"].values() if "Export" in o]


def test_alerts_topic_is_encrypted_tls_only_and_usable_by_cloudwatch(sandbox):
    template = sandbox.template(sandbox.stacks.alerts)
    (topic,) = resources(template, "AWS::SNS::Topic").values()
    assert "DataLakeKey" in json.dumps(topic["Properties"]["KmsMasterKeyId"])
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in denies]
    # the topic policy replaces SNS's default one: CloudWatch publishes only because a statement says so
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    # CloudWatch alarms, and AWS Budgets (the sandbox's budget.enabled), each scoped to this account
    assert [(s["Principal"], s["Action"]) for s in allows] == [
        ({"Service": "cloudwatch.amazonaws.com"}, "sns:Publish"),
        ({"Service": "budgets.amazonaws.com"}, "sns:Publish"),
    ]
    assert all(set(s["Condition"]) == {"StringEquals", "ArnLike"} for s in allows)
    lake = sandbox.template(sandbox.stacks.data_lake)
    key_policy = lake["Resources"]["DataLakeKey6ACD72F9"]["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = next(s for s in key_policy if s.get("Sid") == "AllowCloudWatchAlarmsToPublishToEncryptedTopics")
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert "Condition" not in cloudwatch  # as AWS documents it; the topic policy restricts to this account
    assert resources(template, "AWS::SNS::Subscription") == {}  # no e-mail configured


def test_alert_email_subscribes(variant):
    result = variant
    (subscription,) = resources(result.template(result.stacks.alerts), "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


def test_firehose_decrypts_the_catalog_only_where_the_lake_key_encrypts_it(sandbox, production):
    def sids(synth):
        template = synth.template(synth.stacks.streaming)
        policy = next(
            p for k, p in resources(template, "AWS::IAM::Policy").items() if k.startswith("IngestDeliveryPolicy")
        )
        return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}

    assert "ReadEncryptedCatalog" not in sids(sandbox)  # aws/glue key: its key policy admits Glue callers
    statement = sids(production)["ReadEncryptedCatalog"]
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Join"][1][0] == "glue."
