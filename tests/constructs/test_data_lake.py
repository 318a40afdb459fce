"""DataLake alone in a bare stack: the key, the zones, their lifecycle rules, the access logs, the database."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from ml_constructs.data_lake.construct import RAW_TRANSITIONS, DataLake
from ml_constructs.lake_layout import QUERY_RESULTS_PREFIX

ZONES = ("Raw", "Curated", "Artifacts")


def lake(stack: cdk.Stack, **props) -> Template:
    DataLake(stack, "Lake", database_name="lake_db", **props)
    return Template.from_stack(stack)


def bucket(template: Template, name: str) -> dict:
    """The bucket whose logical id starts with Lake<name>."""
    (found,) = [b for k, b in template.find_resources("AWS::S3::Bucket").items() if k.startswith(f"Lake{name}")]
    return found


def key_id(template: Template) -> str:
    (logical_id,) = template.find_resources("AWS::KMS::Key")
    return logical_id


def rules(zone: dict) -> dict[str, dict]:
    return {rule["Id"]: rule for rule in zone["Properties"]["LifecycleConfiguration"]["Rules"]}


def test_defaults_keep_everything_and_encrypt_the_zones_with_a_rotating_key(stack):
    template = lake(stack)
    template.resource_count_is("AWS::KMS::Key", 1)
    template.resource_count_is("AWS::S3::Bucket", 4)  # three zones and the access logs
    template.has_resource(
        "AWS::KMS::Key",
        {
            "Properties": Match.object_like({"EnableKeyRotation": True, "PendingWindowInDays": Match.absent()}),
            "DeletionPolicy": "Retain",
        },
    )
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    key = key_id(template)
    for name in ZONES:
        zone = bucket(template, name)
        assert zone["DeletionPolicy"] == "Retain", name
        props = zone["Properties"]
        (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert sse == {
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]},
            },
            "BucketKeyEnabled": True,
            "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
        }, name
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert props["LoggingConfiguration"]["LogFilePrefix"] == f"{name.lower()}/", name
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert "ObjectLockEnabled" not in props, name
    template.has_resource_properties("AWS::Glue::Database", {"DatabaseInput": Match.object_like({"Name": "lake_db"})})


def test_default_lifecycle_rules(stack):
    template = lake(stack)
    raw = rules(bucket(template, "Raw"))
    assert raw["raw-storage-classes"]["Transitions"] == [
        {"StorageClass": storage_class.value, "TransitionInDays": days} for storage_class, days in RAW_TRANSITIONS
    ]
    assert [days for _, days in RAW_TRANSITIONS] == [30, 90, 180, 365]  # each class kept at least its minimum
    curated = rules(bucket(template, "Curated"))
    assert curated["curated-intelligent-tiering"]["Transitions"] == [
        {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 0}
    ]
    results = rules(bucket(template, "Artifacts"))["query-results"]
    assert results["Prefix"] == QUERY_RESULTS_PREFIX
    assert results["ExpirationInDays"] == 30
    assert "Transitions" not in results  # One Zone-IA is opt-in
    for name in ZONES:
        housekeeping = rules(bucket(template, name))["housekeeping"]
        assert housekeeping["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}, name
        assert housekeeping["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}, name


def test_access_log_bucket_is_sse_s3_and_expires_its_logs(stack):
    template = lake(stack)
    logs = bucket(template, "AccessLogs")["Properties"]
    (sse,) = logs["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert rules(bucket(template, "AccessLogs"))["expire-access-logs"]["ExpirationInDays"] == 90
    assert "LoggingConfiguration" not in logs  # it would log into itself
    # versioned like the zones (a deleted log stays recoverable), old versions expiring as the zones' do
    assert logs["VersioningConfiguration"] == {"Status": "Enabled"}
    zones_noncurrent = rules(bucket(template, "Raw"))["housekeeping"]["NoncurrentVersionExpiration"]
    assert rules(bucket(template, "AccessLogs"))["housekeeping"]["NoncurrentVersionExpiration"] == zones_noncurrent


def test_every_bucket_refuses_plain_http_and_old_tls(stack):
    template = lake(stack)
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 4
    for logical_id, policy in policies.items():
        denies = [s["Condition"] for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in denies, logical_id
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in denies, logical_id


def test_s3_delivers_each_zones_access_logs_through_the_log_buckets_policy(stack):
    template = lake(stack)
    (policy,) = [
        p for k, p in template.find_resources("AWS::S3::BucketPolicy").items() if k.startswith("LakeAccessLogs")
    ]
    deliveries = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    ]
    assert [s["Resource"]["Fn::Join"][1][-1] for s in deliveries] == [f"/{zone.lower()}/*" for zone in ZONES]
    assert all(s["Action"] == "s3:PutObject" for s in deliveries)
    assert bucket(template, "AccessLogs")["Properties"]["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
    }


def test_key_lets_only_this_accounts_log_groups_use_it(stack):
    template = lake(stack)
    (key,) = template.find_resources("AWS::KMS::Key").values()
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    logs = statements["AllowCloudWatchLogsOfThisAccount"]
    assert logs["Principal"] == {"Service": {"Fn::Join": ["", ["logs.us-east-1.", {"Ref": "AWS::URLSuffix"}]]}}
    arn = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert arn == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":logs:us-east-1:123456789012:log-group:*"]]}


def test_destroy_sse_s3_and_every_day_count_from_the_props(stack):
    template = lake(
        stack,
        encryption=s3.BucketEncryption.S3_MANAGED,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        raw_transitions=[(s3.StorageClass.INFREQUENT_ACCESS, 45), (s3.StorageClass.DEEP_ARCHIVE, 400)],
        curated_intelligent_tiering_days=3,
        query_results_one_zone_ia_days=30,
        query_results_expiration_days=90,
        noncurrent_version_expiration_days=9,
        abort_incomplete_multipart_days=2,
        access_log_expiration_days=11,
    )
    # the shortest wait before a deleted key is gone; every bucket emptied by the auto-delete handler
    template.has_resource(
        "AWS::KMS::Key", {"Properties": Match.object_like({"PendingWindowInDays": 7}), "DeletionPolicy": "Delete"}
    )
    template.resource_count_is("Custom::S3AutoDeleteObjects", 4)
    for name in ZONES:
        zone = bucket(template, name)
        assert zone["DeletionPolicy"] == "Delete", name
        (sse,) = zone["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}, name
        assert "BucketKeyEnabled" not in sse, name
        housekeeping = rules(zone)["housekeeping"]
        assert housekeeping["NoncurrentVersionExpiration"] == {"NoncurrentDays": 9}, name
        assert housekeeping["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}, name
    assert rules(bucket(template, "Raw"))["raw-storage-classes"]["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 45},
        {"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 400},
    ]
    assert rules(bucket(template, "Curated"))["curated-intelligent-tiering"]["Transitions"][0]["TransitionInDays"] == 3
    results = rules(bucket(template, "Artifacts"))["query-results"]
    assert results["Transitions"] == [{"StorageClass": "ONEZONE_IA", "TransitionInDays": 30}]
    assert results["ExpirationInDays"] == 90
    assert rules(bucket(template, "AccessLogs"))["expire-access-logs"]["ExpirationInDays"] == 11


def test_object_lock_is_on_the_raw_zone_only(stack):
    template = lake(stack, object_lock_days=30)
    raw = bucket(template, "Raw")["Properties"]
    assert raw["ObjectLockEnabled"] is True
    assert raw["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
    }
    for name in ("Curated", "Artifacts"):
        assert "ObjectLockEnabled" not in bucket(template, name)["Properties"], name


def test_only_kms_or_sse_s3(stack):
    with pytest.raises(ValueError, match="S3_MANAGED"):
        DataLake(stack, "Lake", database_name="lake_db", encryption=s3.BucketEncryption.DSSE)
