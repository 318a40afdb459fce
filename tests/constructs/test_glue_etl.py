"""GlueEtl alone in a bare stack: its own defaults, every prop the caller controls, and what is fixed.

Expected values come from the props and the contract (``EtlParams().to_args()``, ``spec.to_json()``,
``curated_dqdl(spec)``), not from a synthesized template."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from ml_constructs.glue_etl.construct import CatalogEncryption, GlueEtl
from ml_constructs.glue_etl.job import JobSettings
from ml_constructs.glue_etl.quality import curated_dqdl
from ml_constructs.glue_etl.runtime.contract import PREPARED_PREFIX, EtlParams
from ml_constructs.lake_layout import CURATED_ROOT, EVENTS_PREFIX, QUERY_RESULTS_PREFIX
from stacks.mapping import etl_spec

SPEC = etl_spec()


def etl(stack: cdk.Stack, **props: Any) -> Template:
    """A GlueEtl over fresh buckets, a key and a database, with ``props``; its template."""
    key = kms.Key(stack, "Key")
    GlueEtl(
        stack,
        "Etl",
        raw=s3.Bucket(stack, "Raw"),
        curated=s3.Bucket(stack, "Curated"),
        artifacts=s3.Bucket(stack, "Artifacts"),
        database=glue.Database(stack, "Lake", database_name="lake"),
        key=key,
        spec=SPEC,
        **props,
    )
    return Template.from_stack(stack)


def properties(template: Template, kind: str, **where: Any) -> list[dict[str, Any]]:
    found = template.find_resources(kind, {"Properties": Match.object_like(where)} if where else None)
    return [resource["Properties"] for resource in found.values()]


def path_suffix(value: Any) -> str:
    """The literal tail of a value built from a token and a prefix (a Fn::Join whose last part is the prefix)."""
    return value if isinstance(value, str) else value["Fn::Join"][1][-1]


def statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    (role,) = [k for k in template.find_resources("AWS::IAM::Role") if k.startswith(role_prefix)]
    (policy,) = properties(template, "AWS::IAM::Policy", Roles=[{"Ref": role}])
    return policy["PolicyDocument"]["Statement"]


# --- The construct's own defaults -----------------------------------------------------------------------------


@pytest.fixture
def defaults(stack: cdk.Stack) -> Template:
    return etl(stack)


def test_defaults_build_one_job_two_crawlers_a_workgroup_and_a_ruleset(defaults: Template) -> None:
    for kind, count in {
        "AWS::Glue::SecurityConfiguration": 1,
        "AWS::Glue::DataCatalogEncryptionSettings": 1,
        "AWS::Glue::Job": 1,
        "AWS::Glue::Crawler": 2,
        "AWS::Athena::WorkGroup": 1,
        "AWS::Athena::NamedQuery": 3,
        "AWS::Glue::DataQualityRuleset": 1,
        "AWS::IAM::Role": 2,
        "AWS::Logs::LogGroup": 1,
    }.items():
        defaults.resource_count_is(kind, count)


def test_default_job_is_the_smallest_glue_5_job_with_an_hour_timeout(defaults: Template) -> None:
    settings = JobSettings()
    defaults.has_resource_properties(
        "AWS::Glue::Job",
        Match.object_like(
            {
                "GlueVersion": "5.0",
                "WorkerType": "G.1X",
                "NumberOfWorkers": settings.workers,
                "MaxRetries": settings.max_retries,
                "Timeout": settings.timeout.to_minutes(),
                "ExecutionProperty": {"MaxConcurrentRuns": 1},
                "Command": Match.object_like({"Name": "glueetl"}),
                "DefaultArguments": Match.object_like(
                    {
                        "--job-bookmark-option": "job-bookmark-disable",
                        "--etl_spec": SPEC.to_json(),
                        **EtlParams().to_args(),  # every parameter at its default
                    }
                ),
            }
        ),
    )
    (job,) = properties(defaults, "AWS::Glue::Job")
    assert path_suffix(job["DefaultArguments"]["--raw_path"]) == f"/{EVENTS_PREFIX}"
    assert path_suffix(job["DefaultArguments"]["--curated_path"]) == f"/{CURATED_ROOT}"
    assert path_suffix(job["DefaultArguments"]["--extra-py-files"]).endswith(".zip")  # the runtime package
    assert path_suffix(job["Command"]["ScriptLocation"]).endswith(".py")  # the entry script


def test_default_encryption_uses_the_key_for_s3_logs_bookmarks_and_the_aws_managed_catalog_key(
    defaults: Template,
) -> None:
    key = {"Fn::GetAtt": [Match.string_like_regexp("^Key"), "Arn"]}
    defaults.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "EncryptionConfiguration": {
                "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": key}],
                "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": key},
                "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": key},
            },
            "Name": Match.any_value(),
        },
    )
    defaults.has_resource_properties(
        "AWS::Glue::DataCatalogEncryptionSettings",
        Match.object_like(
            {
                "DataCatalogEncryptionSettings": {
                    "EncryptionAtRest": {"CatalogEncryptionMode": "SSE-KMS"},  # no key id: aws/glue
                    "ConnectionPasswordEncryption": {"ReturnConnectionPasswordEncrypted": True},
                }
            }
        ),
    )


def test_default_crawlers_raw_incremental_on_demand_curated_full(defaults: Template) -> None:
    (raw,) = properties(defaults, "AWS::Glue::Crawler", TablePrefix="raw_")
    assert raw["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
    assert raw["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
    assert "Schedule" not in raw  # on demand
    partitions = json.loads(raw["Configuration"])["CrawlerOutput"]["Partitions"]
    assert partitions == {"AddOrUpdateBehavior": "InheritFromTable"}  # new partitions take the table's schema
    assert path_suffix(raw["Targets"]["S3Targets"][0]["Path"]) == f"/{EVENTS_PREFIX}"

    (curated,) = properties(defaults, "AWS::Glue::Crawler", TablePrefix="curated_")
    assert curated["SchemaChangePolicy"]["UpdateBehavior"] == "UPDATE_IN_DATABASE"
    assert curated["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    assert path_suffix(curated["Targets"]["S3Targets"][0]["Path"]) == f"/{CURATED_ROOT}{PREPARED_PREFIX}"
    for crawler in (raw, curated):
        assert crawler["CrawlerSecurityConfiguration"]["Ref"].startswith("EtlSecurity")


def test_default_workgroup_is_named_after_the_stack_and_enforces_a_1_gb_cutoff(defaults: Template) -> None:
    defaults.has_resource_properties(
        "AWS::Athena::WorkGroup",
        Match.object_like(
            {
                "Name": "Test-lake",
                "RecursiveDeleteOption": True,  # destroyed with the stack by default
                "WorkGroupConfiguration": Match.object_like(
                    {
                        "EnforceWorkGroupConfiguration": True,
                        "PublishCloudWatchMetricsEnabled": True,
                        "BytesScannedCutoffPerQuery": 1024 * 1_000_000,
                        "ResultConfiguration": Match.object_like(
                            {"EncryptionConfiguration": Match.object_like({"EncryptionOption": "SSE_KMS"})}
                        ),
                    }
                ),
            }
        ),
    )
    (group,) = properties(defaults, "AWS::Athena::WorkGroup")
    location = group["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"]
    assert path_suffix(location) == f"/{QUERY_RESULTS_PREFIX}"


def test_default_queries_read_raw_events_and_the_ruleset_checks_the_contract(defaults: Template) -> None:
    queries = {q["Name"]: q["QueryString"] for q in properties(defaults, "AWS::Athena::NamedQuery")}
    assert set(queries) == {"RawClassBalance", "RawDailyCount", "CuratedClassBalance"}
    assert "FROM raw_events" in queries["RawClassBalance"]
    assert "FROM curated_prepared" in queries["CuratedClassBalance"]
    defaults.has_resource_properties(
        "AWS::Glue::DataQualityRuleset",
        Match.object_like(
            {
                "Name": "Test-curated-prepared",
                "Ruleset": curated_dqdl(SPEC),
                "TargetTable": {"DatabaseName": Match.any_value(), "TableName": "curated_prepared"},
            }
        ),
    )


def test_default_job_logs_are_encrypted_kept_a_month_and_destroyed(defaults: Template) -> None:
    defaults.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": Match.object_like({"RetentionInDays": 30, "KmsKeyId": Match.any_value()}),
            "DeletionPolicy": "Delete",
        },
    )


# --- What the caller controls --------------------------------------------------------------------------------


def test_job_settings_and_params_reach_the_job(stack: cdk.Stack) -> None:
    params = EtlParams(raw_format="json", n_bins=7, outlier_k=2.5, split_fractions=(0.8, 0.1, 0.1))
    settings = JobSettings(
        glue_version=glue.GlueVersion.V5_1,
        worker_type=glue.WorkerType.G_2X,
        workers=5,
        max_retries=2,
        timeout=cdk.Duration.minutes(120),
    )
    template = etl(stack, params=params, job=settings)
    template.has_resource_properties(
        "AWS::Glue::Job",
        Match.object_like(
            {
                "GlueVersion": "5.1",
                "WorkerType": "G.2X",
                "NumberOfWorkers": 5,
                "MaxRetries": 2,
                "Timeout": 120,
                "DefaultArguments": Match.object_like(params.to_args()),
            }
        ),
    )


def test_schedule_catalog_key_workgroup_and_retention_follow_the_props(stack: cdk.Stack) -> None:
    template = etl(
        stack,
        raw_table_name="events_v2",
        crawler_schedule="cron(15 * * * ? *)",
        catalog_encryption=CatalogEncryption.LAKE_KEY,
        workgroup_name="analysts",
        bytes_scanned_cutoff_mb=50,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    (raw,) = properties(template, "AWS::Glue::Crawler", TablePrefix="raw_")
    assert raw["Schedule"] == {"ScheduleExpression": "cron(15 * * * ? *)"}
    (settings,) = properties(template, "AWS::Glue::DataCatalogEncryptionSettings")
    at_rest = settings["DataCatalogEncryptionSettings"]["EncryptionAtRest"]
    assert at_rest["SseAwsKmsKeyId"]["Fn::GetAtt"][0].startswith("Key")
    # the crawlers read and write the catalog through Glue with the lake key; the job never touches the catalog
    catalog = next(s for s in statements(template, "EtlCrawlerRole") if s.get("Sid") == "LakeKeyThroughGlue")
    assert catalog["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert catalog["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Join"][1][0].startswith("glue.")
    assert "LakeKeyThroughGlue" not in [s.get("Sid") for s in statements(template, "EtlJobRole")]
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        Match.object_like(
            {
                "Name": "analysts",
                "RecursiveDeleteOption": False,  # retained: saved queries and history stay
                "WorkGroupConfiguration": Match.object_like({"BytesScannedCutoffPerQuery": 50_000_000}),
            }
        ),
    )
    template.has_resource("AWS::Logs::LogGroup", {"DeletionPolicy": "Retain"})
    template.has_resource("AWS::Glue::SecurityConfiguration", {"DeletionPolicy": "Retain"})
    queries = {q["Name"]: q["QueryString"] for q in properties(template, "AWS::Athena::NamedQuery")}
    assert "FROM events_v2" in queries["RawDailyCount"]


def test_unmanaged_catalog_encryption_creates_no_setting(stack: cdk.Stack) -> None:
    etl(stack, catalog_encryption=CatalogEncryption.UNMANAGED).resource_count_is(
        "AWS::Glue::DataCatalogEncryptionSettings", 0
    )


def test_s3_managed_lake_encryption_keeps_the_key_off_s3(stack: cdk.Stack) -> None:
    template = etl(stack, s3_kms=False)
    template.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        Match.object_like(
            {"EncryptionConfiguration": Match.object_like({"S3Encryptions": [{"S3EncryptionMode": "SSE-S3"}]})}
        ),
    )
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        Match.object_like(
            {
                "WorkGroupConfiguration": Match.object_like(
                    {
                        "ResultConfiguration": Match.object_like(
                            {"EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}}
                        )
                    }
                )
            }
        ),
    )
    # the buckets do not use the key, and the job neither reads the catalog nor keeps bookmarks: no key at all
    assert not [s for s in statements(template, "EtlJobRole") if str(s.get("Sid", "")).startswith("LakeKey")]
    assert not [s for s in statements(template, "EtlCrawlerRole") if str(s.get("Sid", "")).startswith("LakeKey")]


# --- Fixed: least privilege ----------------------------------------------------------------------------------


def test_job_role_reads_events_and_writes_only_below_the_curated_root(defaults: Template) -> None:
    job = statements(defaults, "EtlJobRole")
    writes = [s for s in job if "s3:PutObject" in s["Action"]]
    assert [path_suffix(s["Resource"]) for s in writes] == [f"/{CURATED_ROOT}*"]
    reads = [s for s in job if s["Action"] == "s3:GetObject" and not s.get("Sid", "").startswith("ReadCode")]
    assert [path_suffix(s["Resource"]) for s in reads] == [f"/{EVENTS_PREFIX}*"]
    key = next(s for s in job if s.get("Sid") == "LakeKeyThroughS3")
    assert key["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "LakeKeyThroughGlue" not in [s.get("Sid") for s in job]
    assert "s3:AbortMultipartUpload" not in json.dumps(job)  # the lake's lifecycle rule clears incomplete uploads
    metrics = next(s for s in job if s.get("Sid") == "JobMetrics")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Glue"}}


def test_crawler_role_reads_two_prefixes_and_updates_the_catalog_only(defaults: Template) -> None:
    crawler = statements(defaults, "EtlCrawlerRole")
    actions = [a for s in crawler for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert {a for a in actions if a.startswith("s3:")} == {"s3:GetObject", "s3:ListBucket"}
    reads = [path_suffix(s["Resource"]) for s in crawler if s["Action"] == "s3:GetObject"]
    assert reads == [f"/{EVENTS_PREFIX}*", f"/{CURATED_ROOT}{PREPARED_PREFIX}*"]
    catalog = next(s for s in crawler if s.get("Sid") == "LakeCatalog")
    assert "glue:DeleteTable" not in catalog["Action"]
    key = next(s for s in crawler if s.get("Sid") == "LakeKeyThroughS3")
    assert key["Action"] == "kms:Decrypt"  # reads only
    assert "LakeKeyThroughGlue" not in [s.get("Sid") for s in crawler]  # the catalog uses the aws/glue key


def test_the_job_reads_exactly_its_two_code_objects(defaults: Template) -> None:
    """glue.Code.from_bucket would grant read on the whole assets bucket (s3:GetBucket*, s3:List*); the job gets
    s3:GetObject on its entry script and its runtime zip only."""
    (job,) = properties(defaults, "AWS::Glue::Job")
    code = [s for s in statements(defaults, "EtlJobRole") if str(s.get("Sid", "")).startswith("ReadCode")]
    assert sorted(s["Sid"] for s in code) == ["ReadCodeEntryScript", "ReadCodeRuntime"]
    assert {s["Action"] for s in code} == {"s3:GetObject"}
    objects = json.dumps([s["Resource"] for s in code])
    for location in (job["Command"]["ScriptLocation"], job["DefaultArguments"]["--extra-py-files"]):
        assert json.dumps(location).split("/")[-1].rstrip('"') in objects
    actions = json.dumps(statements(defaults, "EtlJobRole"))
    assert "s3:GetBucket" not in actions
    assert "s3:List*" not in actions
