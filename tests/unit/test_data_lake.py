"""DataLakeStack: every property the issue asks for, read from the synthesized template."""

from __future__ import annotations

import pytest

from ml_config.config import LakeSettings
from ml_constructs.lake_layout import QUERY_RESULTS_PREFIX
from tests.conftest import resources

# Logical IDs of stateful resources are a contract: renaming one replaces (and, with RETAIN, orphans) the
# resource in every deployed copy. Change these only on purpose, with a migration note.
PINNED = {
    "DataLakeKey6ACD72F9": "AWS::KMS::Key",
    "DataLakeAccessLogs1DA51325": "AWS::S3::Bucket",
    "DataLakeRaw1F82835B": "AWS::S3::Bucket",
    "DataLakeCuratedD6D7CE2D": "AWS::S3::Bucket",
    "DataLakeArtifactsB270B651": "AWS::S3::Bucket",
}
ZONES = {"raw": "DataLakeRaw1F82835B", "curated": "DataLakeCuratedD6D7CE2D", "artifacts": "DataLakeArtifactsB270B651"}
LOGS = "DataLakeAccessLogs1DA51325"
KEY = "DataLakeKey6ACD72F9"


@pytest.fixture(scope="module")
def lake(sandbox):
    return sandbox.template(sandbox.stacks.data_lake)


def rules_of(bucket: dict) -> dict[str, dict]:
    return {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}


def test_logical_ids_of_stateful_resources_are_pinned(lake):
    for logical_id, kind in PINNED.items():
        assert lake["Resources"][logical_id]["Type"] == kind
    assert set(resources(lake, "AWS::S3::Bucket")) == {k for k, v in PINNED.items() if v == "AWS::S3::Bucket"}
    assert set(resources(lake, "AWS::KMS::Key")) == {KEY}


def test_key_rotates_and_lets_only_this_accounts_log_groups_use_it(lake):
    key = lake["Resources"][KEY]["Properties"]
    assert key["EnableKeyRotation"] is True
    logs = next(s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchLogsOfThisAccount")
    assert "kms:Decrypt*" in logs["Action"]
    arn = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]["Fn::Join"][1]
    assert {"Ref": "AWS::Partition"} in arn  # partition-aware, never a hard-coded arn:aws:
    assert arn[-1] == ":log-group:*"


@pytest.mark.parametrize("zone", sorted(ZONES))
def test_zones_are_sse_kms_with_bucket_keys_versioned_private_and_logged(lake, zone):
    props = lake["Resources"][ZONES[zone]]["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [KEY, "Arn"]},
    }
    assert sse["BucketKeyEnabled"] is True
    assert sse["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": LOGS}, "LogFilePrefix": f"{zone}/"}


@pytest.mark.parametrize("bucket", [*sorted(ZONES.values()), LOGS])
def test_every_bucket_refuses_plain_http_and_old_tls(lake, bucket):
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(lake, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1
    denies = [s for s in policies[0] if s["Effect"] == "Deny" and s["Action"] == "s3:*"]
    conditions = [s["Condition"] for s in denies]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions


def test_access_log_bucket_is_sse_s3_and_receives_logs_through_its_policy(lake):
    props = lake["Resources"][LOGS]["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "AES256"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    policy = next(
        p for p in resources(lake, "AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": LOGS}
    )
    services = [s["Principal"].get("Service") for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert "logging.s3.amazonaws.com" in services


def test_raw_lifecycle_walks_the_storage_classes_in_configured_order(sandbox, lake):
    raw = sandbox.config.lake.raw
    rule = rules_of(lake["Resources"][ZONES["raw"]])["raw-storage-classes"]
    assert rule["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": raw.standard_ia_days},
        {"StorageClass": "GLACIER_IR", "TransitionInDays": raw.glacier_ir_days},
        {"StorageClass": "GLACIER", "TransitionInDays": raw.glacier_days},
        {"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": raw.deep_archive_days},
    ]
    days = [t["TransitionInDays"] for t in rule["Transitions"]]
    assert days == sorted(set(days))
    assert days[0] >= 30


def test_curated_goes_to_intelligent_tiering(sandbox, lake):
    rule = rules_of(lake["Resources"][ZONES["curated"]])["curated-intelligent-tiering"]
    assert rule["Transitions"] == [
        {
            "StorageClass": "INTELLIGENT_TIERING",
            "TransitionInDays": sandbox.config.lake.curated.intelligent_tiering_days,
        }
    ]


def test_query_results_expire_and_only_under_their_prefix(sandbox, lake):
    rule = rules_of(lake["Resources"][ZONES["artifacts"]])["query-results"]
    assert rule["Prefix"] == QUERY_RESULTS_PREFIX
    assert rule["ExpirationInDays"] == sandbox.config.lake.query_results.expiration_days
    assert "Transitions" not in rule  # sandbox: one_zone_ia_days = 0, expiry only


def test_production_query_results_go_to_one_zone_ia_before_expiring(production):
    template = production.template(production.stacks.data_lake)
    rule = rules_of(template["Resources"][ZONES["artifacts"]])["query-results"]
    results = production.config.lake.query_results
    assert rule["Transitions"] == [{"StorageClass": "ONEZONE_IA", "TransitionInDays": results.one_zone_ia_days}]
    assert rule["ExpirationInDays"] == results.expiration_days > results.one_zone_ia_days


@pytest.mark.parametrize("zone", sorted(ZONES))
def test_every_zone_expires_noncurrent_versions_and_aborts_multipart_uploads(sandbox, lake, zone):
    rule = rules_of(lake["Resources"][ZONES[zone]])["housekeeping"]
    settings = sandbox.config.lake
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": settings.noncurrent_version_expiration_days}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": settings.abort_incomplete_multipart_days}


def test_sandbox_destroys_everything_it_created(lake):
    for logical_id in PINNED:
        assert lake["Resources"][logical_id]["DeletionPolicy"] == "Delete", logical_id
    emptied = {r["Properties"]["BucketName"]["Ref"] for r in resources(lake, "Custom::S3AutoDeleteObjects").values()}
    assert emptied == {*ZONES.values(), LOGS}
    assert lake["Resources"][KEY]["Properties"]["PendingWindowInDays"] == 7
    assert "ObjectLockEnabled" not in lake["Resources"][ZONES["raw"]]["Properties"]


def test_production_retains_data_and_locks_raw(production):
    template = production.template(production.stacks.data_lake)
    for logical_id in PINNED:
        assert template["Resources"][logical_id]["DeletionPolicy"] == "Retain", logical_id
    assert resources(template, "Custom::S3AutoDeleteObjects") == {}
    raw = template["Resources"][ZONES["raw"]]["Properties"]
    assert raw["ObjectLockEnabled"] is True
    assert raw["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": production.config.lake.object_lock.retention_days}},
    }
    for zone in ("curated", "artifacts"):
        assert "ObjectLockEnabled" not in template["Resources"][ZONES[zone]]["Properties"]


def test_lifecycle_days_follow_the_config(variant):
    """The rules are derived from the config, not fixed: other day counts give other rules."""
    custom = variant
    template = custom.template(custom.stacks.data_lake)
    raw = template["Resources"][ZONES["raw"]]["Properties"]
    days = [
        t["TransitionInDays"]
        for t in rules_of(template["Resources"][ZONES["raw"]])["raw-storage-classes"]["Transitions"]
    ]
    assert days == [45, 100, 200, 400]
    # SSE-S3 mode: no KMS on the zones (the key stays for log groups and, later, the stream).
    assert raw["BucketEncryption"]["ServerSideEncryptionConfiguration"][0] == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
    }


def test_construct_takes_validated_settings_only():
    with pytest.raises(ValueError, match="standard_ia_days"):
        LakeSettings.model_validate({"raw": {"standard_ia_days": 10}})


def test_outputs_name_the_zones_and_the_database(sandbox, lake):
    outputs = lake["Outputs"]
    for zone in ZONES:
        assert outputs[f"{zone.capitalize()}BucketName"]["Value"] == {"Ref": ZONES[zone]}
    assert outputs["DatabaseName"]["Value"] == f"{sandbox.config.prefix}_lake"
    assert not [o for o in outputs.values() if "Export" in o]  # plain outputs, no hand-named exports
    (database,) = resources(lake, "AWS::Glue::Database").values()
    assert database["Properties"]["DatabaseInput"]["Name"] == f"{sandbox.config.prefix}_lake"
