"""The recorder: one line per AWS request made inside the block, its IAM action from the table, deployed names as
placeholders, run-specific parts as stable ones; an operation the table lacks fails; nothing outside the block."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools.iam import record
from tools.iam.record import Recorder, UnknownOperationError, deployed_names, function_principal, patterns, recording

ROLE = "app/FunctionRole1234"
BUCKET = "app-bucket1234-abcdef"
NAMES = {BUCKET: "app/Bucket1234"}


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """An in-process moto account with a bucket encrypted by a KMS key, and a topic."""
    with mock_aws():
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}}
                ]
            },
        )
        topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="app-alerts-Topic-XYZ")["TopicArn"]
        yield {"key": key, "topic": topic}


def lines(sink: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def test_each_request_is_one_line_with_its_action_resource_and_context(aws):
    sink = io.StringIO()
    names = {**NAMES, aws["key"]["KeyId"]: "app/Key1234", aws["topic"]: "app/Topic1234"}
    with recording(ROLE, sink, names, source="handler"):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.put_object(Bucket=BUCKET, Key="out/report.json", Body=b"{}")
        s3.list_objects_v2(Bucket=BUCKET, Prefix="out/", Delimiter="/")
        s3.get_object(Bucket=BUCKET, Key="out/report.json")["Body"].read()
        s3.head_object(Bucket=BUCKET, Key="out/report.json")
        boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
            Namespace="app/drift", MetricData=[{"MetricName": "m", "Value": 1.0}]
        )
        boto3.client("sns", region_name="us-east-1").publish(TopicArn=aws["topic"], Message="hello")
    bucket, obj = "arn:aws:s3:::${app/Bucket1234}", "arn:aws:s3:::${app/Bucket1234}/out/report.json"
    key = "arn:aws:kms:us-east-1:123456789012:key/${app/Key1234}"
    kms = {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": obj}
    assert [(line["action"], line["resource"], line["context"]) for line in lines(sink)] == [
        ("s3:PutObject", obj, {}),
        ("kms:GenerateDataKey", key, kms),
        ("s3:ListBucket", bucket, {"s3:prefix": "out/", "s3:delimiter": "/"}),
        ("s3:GetObject", obj, {}),
        ("kms:Decrypt", key, kms),
        ("s3:GetObject", obj, {}),  # HeadObject: no KMS call
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "app/drift"}),
        ("sns:Publish", "${app/Topic1234}", {}),
    ]
    assert {(line["principal"], line["source"]) for line in lines(sink)} == {(ROLE, "handler")}


def test_a_name_inside_a_key_becomes_a_placeholder_with_its_attribute(aws):
    sink = io.StringIO()
    names = {**NAMES, "app-serving-Endpoint1234-QWERTY": "app/Endpoint1234.EndpointName"}
    with recording(ROLE, sink, names):
        boto3.client("s3", region_name="us-east-1").list_objects_v2(
            Bucket=BUCKET, Prefix="capture/app-serving-Endpoint1234-QWERTY/"
        )
    (line,) = lines(sink)
    assert line["context"] == {"s3:prefix": "capture/${app/Endpoint1234.EndpointName}/"}
    assert line["source"] == ROLE


def test_a_bucket_key_makes_the_bucket_the_encryption_context(aws):
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key="a/b", Body=b"x")
    sink = io.StringIO()
    with recording(ROLE, sink, record.Names(NAMES, bucket_keys={BUCKET})):
        boto3.client("s3", region_name="us-east-1").get_object(Bucket=BUCKET, Key="a/b")
    decrypt = next(line for line in lines(sink) if line["action"] == "kms:Decrypt")
    assert decrypt["context"]["kms:EncryptionContext:aws:s3:arn"] == "arn:aws:s3:::${app/Bucket1234}"


def test_a_function_runs_as_its_role_and_the_run_writes_its_patterns(aws, tmp_path):
    recorder = Recorder({**NAMES, "app-role-XYZ": ROLE, "app-fn-XYZ": "app/Fn1234"})
    function = {"Role": "arn:aws:iam::123456789012:role/app-role-XYZ", "FunctionName": "app-fn-XYZ", "Handler": "h"}
    for prefix in ("runs/1/", "runs/2/"):
        with recorder.as_function(function):
            boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    target = tmp_path / "recorded" / "calls.jsonl"
    assert recorder.write(target) == 2
    written = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(w["principal"], w["source"], w["context"]["s3:prefix"]) for w in written] == [
        (ROLE, "h of app/Fn1234", "runs/1/"),
        (ROLE, "h of app/Fn1234", "runs/2/"),
    ]


def test_an_operation_missing_from_the_table_fails_before_the_request(aws):
    sink = io.StringIO()
    with pytest.raises(UnknownOperationError, match=r"s3 DeleteObject has no row"), recording(ROLE, sink, NAMES):
        boto3.client("s3", region_name="us-east-1").delete_object(Bucket=BUCKET, Key="a")

    def swallowing() -> None:  # code that swallows the error: the block raises it again on exit
        with recording(ROLE, sink, NAMES), contextlib.suppress(UnknownOperationError):
            boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="q")

    with pytest.raises(UnknownOperationError, match=r"sqs CreateQueue"):
        swallowing()
    assert sink.getvalue() == ""
    assert boto3.client("sqs", region_name="us-east-1").list_queues().get("QueueUrls", []) == []


def test_nothing_is_recorded_outside_the_block_nor_from_another_thread(aws):
    sink = io.StringIO()
    before = boto3.client("s3", region_name="us-east-1")
    with recording(ROLE, sink, NAMES):
        inside = boto3.client("s3", region_name="us-east-1")
        before.list_objects_v2(Bucket=BUCKET)  # a client made before the block is not seen
        thread = threading.Thread(target=lambda: boto3.client("s3", region_name="us-east-1").list_buckets())
        thread.start()
        thread.join()
        inside.list_objects_v2(Bucket=BUCKET, Prefix="in/")
    inside.list_objects_v2(Bucket=BUCKET, Prefix="after/")
    boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET, Prefix="after/")
    boto3.client("sqs", region_name="us-east-1").list_queues()  # not in the table, and no error: not recording
    assert [line["context"] for line in lines(sink)] == [{"s3:prefix": "in/"}]


def test_a_session_made_inside_the_block_is_recorded_too(aws):
    sink = io.StringIO()
    with recording(ROLE, sink, NAMES):
        boto3.Session(region_name="us-east-1").client("s3").list_objects_v2(Bucket=BUCKET, Prefix="own/")
    assert [line["context"] for line in lines(sink)] == [{"s3:prefix": "own/"}]


def test_patterns_replace_what_differs_between_runs_and_deduplicate():
    def line(resource: str, **context: str) -> str:
        return json.dumps({"principal": ROLE, "action": "s3:GetObject", "resource": resource, "context": context})

    raw = [
        line(
            "arn:aws:s3:::b/evaluation/2b0f4c7e-1d2a-4f4e-9a51-1c2d3e4f5a6b/part-00000-0a1b2c3d-1d2a-4f4e-9a51-1c2d3e4f5a6b-c000.csv.out"
        ),
        line(
            "arn:aws:s3:::b/evaluation/9c0f4c7e-1d2a-4f4e-9a51-1c2d3e4f5a6b/part-00003-7a1b2c3d-1d2a-4f4e-9a51-1c2d3e4f5a6b-c000.csv.out"
        ),
        line("arn:aws:s3:::b/capture/e/AllTraffic/2026/11/24/10/30-00-000-2b0f4c7e-1d2a-4f4e-9a51-1c2d3e4f5a6b.jsonl"),
        line("arn:aws:s3:::b", **{"s3:prefix": "capture/e/AllTraffic/2026/11/24/11/"}),
        line("arn:aws:s3:::b", **{"s3:prefix": "capture/e/AllTraffic/2026/11/24/12/"}),
        "",
    ]
    assert [(json.loads(p)["resource"], json.loads(p)["context"]) for p in patterns(raw)] == [
        ("arn:aws:s3:::b", {"s3:prefix": "capture/e/AllTraffic/{yyyy}/{mm}/{dd}/{hh}/"}),
        ("arn:aws:s3:::b/capture/e/AllTraffic/{yyyy}/{mm}/{dd}/{hh}/{MM}-{ss}-{mmm}-{uuid}.jsonl", {}),
        ("arn:aws:s3:::b/evaluation/{uuid}/part-{n}-{uuid}-c000.csv.out", {}),
    ]


class _CloudFormation:
    def get_template(self, StackName: str) -> dict[str, Any]:  # noqa: N803
        encryption = {"ServerSideEncryptionConfiguration": [{"BucketKeyEnabled": True}]}
        resources = {
            "Bucket1": {"Type": "AWS::S3::Bucket", "Properties": {"BucketEncryption": encryption}},
            "Role1": {"Type": "AWS::IAM::Role", "Properties": {}},
        }
        return {"TemplateBody": json.dumps({"Resources": resources})}

    def describe_stack_resources(self, StackName: str) -> dict[str, Any]:  # noqa: N803 (boto3's parameter name)
        return {
            "StackResources": [
                {"LogicalResourceId": "Bucket1", "ResourceType": "AWS::S3::Bucket", "PhysicalResourceId": "b-1"},
                {"LogicalResourceId": "Policy1", "ResourceType": "AWS::S3::BucketPolicy", "PhysicalResourceId": "b-1"},
                {"LogicalResourceId": "Role1", "ResourceType": "AWS::IAM::Role", "PhysicalResourceId": "r-1"},
                {
                    "LogicalResourceId": "Topic1",
                    "ResourceType": "AWS::SNS::Topic",
                    "PhysicalResourceId": "arn:aws:sns:us-east-1:123456789012:t-1",
                },
                {
                    "LogicalResourceId": "Endpoint1",
                    "ResourceType": "AWS::SageMaker::Endpoint",
                    "PhysicalResourceId": "e-1",
                },
            ]
        }


def test_deployed_names_map_physical_names_to_references_and_roles_to_principals():
    names = deployed_names(_CloudFormation(), ["app"])
    assert names == {
        "b-1": "app/Bucket1",  # not its bucket policy, whose physical id is the bucket's name too
        "r-1": "app/Role1",
        "arn:aws:sns:us-east-1:123456789012:t-1": "app/Topic1",
        "t-1": "app/Topic1.TopicName",
        "e-1": "app/Endpoint1.EndpointName",
    }
    assert function_principal({"Role": "arn:aws:iam::123456789012:role/r-1"}, names) == "app/Role1"
    assert record.buckets_with_bucket_keys(_CloudFormation(), ["app"]) == {"b-1"}
    with pytest.raises(LookupError, match="is in no stack"):
        function_principal({"Role": "arn:aws:iam::123456789012:role/other", "FunctionName": "f"}, names)
