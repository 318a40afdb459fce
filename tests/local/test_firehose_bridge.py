"""The Firehose bridge (local emulation) against moto, configured with the synthesized delivery stream's own settings.

Good events land as Parquet in their event-date partition; records Firehose would reject land in the error prefix
with their bytes; nothing is dropped.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_sandbox import NotEmulatedError, firehose_bridge
from worked_example.generator import generate_events, to_json_line
from worked_example.schema import FIELDS

REGION = "us-east-1"


class MotoAws:
    region = REGION

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


def literal(value: Any) -> Any:
    """The template's value with every intrinsic function replaced by a marker (to be filled in by the test)."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            return "TOKEN"
        return {k: literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal(v) for v in value]
    return value


@pytest.fixture
def delivery(sandbox) -> Any:
    template = sandbox.template(sandbox.stacks.streaming)
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::KinesisFirehose::DeliveryStream"]
    destination = literal(resource["Properties"]["ExtendedS3DestinationConfiguration"])
    with mock_aws():
        aws = MotoAws()
        kinesis, s3, glue, kms = (aws.client(s) for s in ("kinesis", "s3", "glue", "kms"))
        kinesis.create_stream(StreamName="events", ShardCount=1)
        stream_arn = kinesis.describe_stream(StreamName="events")["StreamDescription"]["StreamARN"]
        s3.create_bucket(Bucket="raw")
        key = kms.create_key()["KeyMetadata"]["Arn"]
        glue.create_database(DatabaseInput={"Name": "lake"})
        glue.create_table(
            DatabaseName="lake",
            TableInput={
                "Name": "raw_events",
                "StorageDescriptor": {"Columns": [{"Name": f.name, "Type": f.type} for f in FIELDS]},
                "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            },
        )
        role = "arn:aws:iam::123456789012:role/firehose"
        destination.update(BucketARN="arn:aws:s3:::raw", RoleARN=role)
        destination["EncryptionConfiguration"] = {"KMSEncryptionConfig": {"AWSKMSKeyARN": key}}
        destination.pop("CloudWatchLoggingOptions", None)
        schema = destination["DataFormatConversionConfiguration"]["SchemaConfiguration"]
        schema.update(
            DatabaseName="lake", TableName="raw_events", RoleARN=role, CatalogId="123456789012", Region=REGION
        )
        aws.client("firehose").create_delivery_stream(
            DeliveryStreamName="delivery",
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": role},
            ExtendedS3DestinationConfiguration=destination,
        )
        yield aws, key


def test_events_land_in_their_date_partition_and_rejects_in_the_error_prefix(delivery):
    import pyarrow.parquet as pq

    aws, key = delivery
    events = list(generate_events(40, 5))
    bad = [
        b"{not json\n",
        json.dumps({"event_id": "x"}).encode() + b"\n",  # no event_time: no partition key
        to_json_line({**events[0], "event_id": "typed", "amount": "12.50"}),  # a string where Parquet has a double
    ]
    records = [to_json_line(e) for e in events] + bad
    kinesis = aws.client("kinesis")
    for i, data in enumerate(records):
        kinesis.put_record(StreamName="events", Data=data, PartitionKey=str(i))
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    report = firehose_bridge.run(aws, "delivery", now=lambda: now)

    assert (report.records, report.delivered) == (len(records), len(events))
    assert report.failed == {"processing-failed": 2, "format-conversion-failed": 1}
    s3 = aws.client("s3")
    dates = sorted({str(e["event_time"])[:10] for e in events})
    assert sorted(report.partitions) == [f"events/dt={d}/" for d in dates]
    rows = 0
    for object_key in report.objects:
        assert object_key.startswith("events/dt=")
        assert object_key.endswith(".parquet")
        assert "/delivery-1-2026-11-24-10-00-00-" in object_key  # <stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>
        head = s3.head_object(Bucket="raw", Key=object_key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket="raw", Key=object_key)["Body"].read()))
        assert table.column_names == [f.name for f in FIELDS]
        assert {str(t)[:10] for t in table.column("event_time").to_pylist()} == {object_key[10:20]}
        rows += table.num_rows
    assert rows == len(events)
    rejected = []
    for object_key in report.error_objects:
        kind = object_key.split("/")[1]
        assert object_key.startswith(f"errors/{kind}/dt=")
        for line in s3.get_object(Bucket="raw", Key=object_key)["Body"].read().splitlines():
            rejected.append((kind, base64.b64decode(json.loads(line)["rawData"])))
    assert sorted(rejected) == sorted(
        [("processing-failed", bad[0]), ("processing-failed", bad[1]), ("format-conversion-failed", bad[2])]
    )


def test_prefix_placeholders():
    when = datetime(2026, 11, 24, 9, 5, tzinfo=UTC)
    assert firehose_bridge.expand_prefix(
        "events/dt=!{partitionKeyFromQuery:dt}/", keys={"dt": "2026-11-20"}, when=when
    ) == ("events/dt=2026-11-20/")
    errors = "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    assert firehose_bridge.expand_prefix(errors, keys={}, when=when, error_type="processing-failed") == (
        "errors/processing-failed/dt=2026-11-24/"
    )
    with pytest.raises(NotEmulatedError, match="partitionKeyFromLambda"):
        firehose_bridge.expand_prefix("x/!{partitionKeyFromLambda:dt}/", keys={}, when=when)
    with pytest.raises(NotEmulatedError, match="JQ query"):
        firehose_bridge.partition_extractor(
            {
                "DynamicPartitioningConfiguration": {"Enabled": True},
                "ProcessingConfiguration": {
                    "Processors": [
                        {
                            "Type": "MetadataExtraction",
                            "Parameters": [
                                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{dt: .a | x}"}
                            ],
                        }
                    ]
                },
            }
        )
