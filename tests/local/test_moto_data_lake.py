"""The synthesized data lake template created in moto's CloudFormation, then checked with boto3.

moto 5.2.5 honours bucket encryption, tags, and the KMS key with its rotation and policy; it skips versioning,
lifecycle, public access block, ownership, logging and bucket policies (still reporting CREATE_COMPLETE).
Those are asserted on the synthesized template instead (tests/unit/test_data_lake.py). The template moto
runs differs from the real one only as local_sandbox.moto_compat lists, and the first test pins that list.
"""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from local_sandbox.moto_compat import for_moto
from tests.unit.test_data_lake import KEY, LOGS, ZONES

REGION = "us-east-1"


@pytest.fixture(scope="module")
def lake_template(sandbox):
    return sandbox.template(sandbox.stacks.data_lake)


def test_only_the_listed_moto_adaptations_are_made(lake_template):
    adapted, changes = for_moto(lake_template)
    removed = set(lake_template["Resources"]) - set(adapted["Resources"])
    custom = {k for k, v in lake_template["Resources"].items() if v["Type"].startswith("Custom::")}
    assert custom
    assert custom <= removed
    # only the custom resources and their provider function and role are removed, never a lake resource
    assert {lake_template["Resources"][r]["Type"] for r in removed - custom} == {
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
    }
    assert not removed & {KEY, LOGS, *ZONES.values()}
    assert "removed parameter BootstrapVersion" in changes
    assert f"{KEY}: KMS tags as TagKey/TagValue" in changes
    assert f"{KEY}: KMS key policy as a JSON string" in changes
    assert len(changes) == 2 + 2 + len(removed)  # parameter, rule, KMS tags and policy, one per removed resource
    for logical_id in (LOGS, *ZONES.values()):
        assert adapted["Resources"][logical_id] == lake_template["Resources"][logical_id]


@pytest.fixture(scope="module")
def deployed(lake_template):
    adapted, _ = for_moto(lake_template)
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(
            StackName="mlspec-data-lake", TemplateBody=json.dumps(adapted), Capabilities=["CAPABILITY_IAM"]
        )
        summaries = cfn.list_stack_resources(StackName="mlspec-data-lake")["StackResourceSummaries"]
        physical = {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries}
        status = cfn.describe_stacks(StackName="mlspec-data-lake")["Stacks"][0]["StackStatus"]
        yield status, physical, boto3.client("s3", region_name=REGION), boto3.client("kms", region_name=REGION)


def test_key_policy_json_string_resolves_to_the_same_policy():
    from local_sandbox.moto_compat import json_string

    policy = {"Statement": [{"Resource": {"Fn::GetAtt": ["B", "Arn"]}, "Action": ["a", "b"], "N": 1.2, "T": True}]}
    join = json_string(policy)["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "ARN" for p in join)
    assert json.loads(text) == {"Statement": [{"Resource": "ARN", "Action": ["a", "b"], "N": 1.2, "T": True}]}


def test_stack_creates_the_key_and_every_bucket(deployed):
    status, physical, s3, _ = deployed
    assert status == "CREATE_COMPLETE"
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {physical[z] for z in (*ZONES.values(), LOGS)} == names


@pytest.mark.parametrize("zone", sorted(ZONES))
def test_zone_encrypts_with_the_lake_key(deployed, zone):
    _, physical, s3, kms = deployed
    (rule,) = s3.get_bucket_encryption(Bucket=physical[ZONES[zone]])["ServerSideEncryptionConfiguration"]["Rules"]
    sse = rule["ApplyServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms"
    assert sse["KMSMasterKeyID"] == kms.describe_key(KeyId=physical[KEY])["KeyMetadata"]["Arn"]


def test_encrypted_object_round_trip(deployed):
    _, physical, s3, _ = deployed
    bucket = physical[ZONES["raw"]]
    s3.put_object(Bucket=bucket, Key="events/probe.json", Body=b'{"probe": 1}')
    head = s3.head_object(Bucket=bucket, Key="events/probe.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="events/probe.json")["Body"].read() == b'{"probe": 1}'


def test_access_log_bucket_is_sse_s3(deployed):
    _, physical, s3, _ = deployed
    (rule,) = s3.get_bucket_encryption(Bucket=physical[LOGS])["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_key_rotation_and_policy(deployed):
    _, physical, _, kms = deployed
    assert kms.get_key_rotation_status(KeyId=physical[KEY])["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=physical[KEY], PolicyName="default")["Policy"])
    assert any(s.get("Sid") == "AllowCloudWatchLogsOfThisAccount" for s in policy["Statement"])


def test_buckets_carry_the_project_tags(deployed):
    _, physical, s3, _ = deployed
    for logical_id in (*ZONES.values(), LOGS):
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=physical[logical_id])["TagSet"]}
        assert tags["Project"] == "mlspec"
        assert tags["Profile"] == "sandbox"
