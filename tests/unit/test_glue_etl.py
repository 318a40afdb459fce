"""GlueEtlStack: security configuration, catalog encryption, crawlers, the job, Athena and data quality."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from ml_constructs.glue_etl.crawlers import CURATED_TABLE_NAME
from ml_constructs.glue_etl.job import RUNTIME_DIR
from ml_constructs.glue_etl.quality import curated_dqdl
from ml_constructs.glue_etl.runtime.contract import PREPARED_PREFIX, EtlParams, EtlSpec, feature_columns
from ml_constructs.lake_layout import CURATED_ROOT
from stacks.mapping import etl_spec
from tests.conftest import resources


@pytest.fixture(scope="module")
def glue_t(sandbox):
    return sandbox.template(sandbox.stacks.glue_etl)


def one(template, kind) -> dict:
    (resource,) = resources(template, kind).values()
    return resource["Properties"]


def crawlers(template) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in resources(template, "AWS::Glue::Crawler").items()}


def test_security_configuration_encrypts_s3_logs_and_bookmarks_with_the_lake_key(glue_t):
    config = one(glue_t, "AWS::Glue::SecurityConfiguration")["EncryptionConfiguration"]
    assert config["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert config["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert config["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    for part in (config["S3Encryptions"][0], config["CloudWatchEncryption"], config["JobBookmarksEncryption"]):
        assert "DataLakeKey" in json.dumps(part["KmsKeyArn"])


def test_catalog_encryption_uses_the_aws_managed_key_in_the_sandbox(glue_t):
    settings = one(glue_t, "AWS::Glue::DataCatalogEncryptionSettings")["DataCatalogEncryptionSettings"]
    assert settings["EncryptionAtRest"] == {"CatalogEncryptionMode": "SSE-KMS"}  # no key id: aws/glue
    assert settings["ConnectionPasswordEncryption"]["ReturnConnectionPasswordEncrypted"] is True


def test_production_catalog_uses_the_retained_lake_key(production):
    template = production.template(production.stacks.glue_etl)
    settings = one(template, "AWS::Glue::DataCatalogEncryptionSettings")["DataCatalogEncryptionSettings"]
    assert "DataLakeKey" in json.dumps(settings["EncryptionAtRest"]["SseAwsKmsKeyId"])


def test_unmanaged_catalog_encryption_leaves_the_account_setting_alone(variant):
    result = variant
    assert resources(result.template(result.stacks.glue_etl), "AWS::Glue::DataCatalogEncryptionSettings") == {}


def test_raw_crawler_is_incremental_because_its_schema_policy_only_logs(sandbox, glue_t):
    raw = next(c for k, c in crawlers(glue_t).items() if k.startswith("EtlRawCrawler"))
    assert raw["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
    assert raw["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
    assert raw["TablePrefix"] + "events" == "raw_events"  # finds the streaming pipeline's table
    (target,) = raw["Targets"]["S3Targets"]
    assert target["Path"]["Fn::Join"][1][-1] == "/events/"
    configuration = json.loads(raw["Configuration"])
    assert configuration["CrawlerOutput"]["Partitions"]["AddOrUpdateBehavior"] == "InheritFromTable"
    assert "Schedule" not in raw  # sandbox: on demand
    assert raw["CrawlerSecurityConfiguration"] == {
        "Ref": next(iter(resources(glue_t, "AWS::Glue::SecurityConfiguration")))
    }


def test_curated_crawler_updates_the_schema_and_so_crawls_everything(glue_t):
    curated = next(c for k, c in crawlers(glue_t).items() if k.startswith("EtlCuratedCrawler"))
    assert curated["SchemaChangePolicy"]["UpdateBehavior"] == "UPDATE_IN_DATABASE"
    assert curated["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    assert curated["TablePrefix"] + PREPARED_PREFIX.rstrip("/") == CURATED_TABLE_NAME
    (target,) = curated["Targets"]["S3Targets"]
    assert target["Path"]["Fn::Join"][1][-1] == f"/{CURATED_ROOT}{PREPARED_PREFIX}"


def test_production_crawler_runs_on_the_configured_schedule(production):
    template = production.template(production.stacks.glue_etl)
    raw = next(c for k, c in crawlers(template).items() if k.startswith("EtlRawCrawler"))
    assert raw["Schedule"] == {"ScheduleExpression": production.config.catalog.crawler_schedule}


def test_job_runtime_settings_come_from_the_config(sandbox, glue_t):
    job = one(glue_t, "AWS::Glue::Job")
    etl = sandbox.config.etl
    assert job["GlueVersion"] == etl.glue_version.value
    assert job["WorkerType"] == etl.worker_type.value
    assert job["NumberOfWorkers"] == etl.workers
    assert job["MaxRetries"] == etl.max_retries
    assert job["Timeout"] == etl.timeout_minutes
    assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert job["Command"]["Name"] == "glueetl"
    assert job["SecurityConfiguration"]["Ref"].startswith("EtlSecurity")
    args = job["DefaultArguments"]
    assert args["--job-bookmark-option"] == "job-bookmark-disable"  # a full refit every run, see the docs
    assert args["--enable-metrics"] == ""  # Glue reads the flag by its presence
    assert args["--enable-continuous-cloudwatch-log"] == "true"
    assert "EtlJobLogs" in json.dumps(args["--continuous-log-logGroup"])


def test_job_arguments_carry_the_schema_and_the_preparation_parameters(sandbox, glue_t):
    args = one(glue_t, "AWS::Glue::Job")["DefaultArguments"]
    spec = EtlSpec.from_json(args["--etl_spec"])
    assert spec == etl_spec()  # the single source: the worked example's schema
    resolved = {name.removeprefix("--"): value for name, value in args.items() if isinstance(value, str)}
    params = EtlParams.from_args(resolved)
    etl = sandbox.config.etl
    assert params.raw_format == sandbox.config.firehose.output_format.value
    assert (params.outlier_k, params.outlier_mode, params.n_bins) == (etl.outlier_k, etl.outlier_mode, etl.n_bins)
    assert params.rebalance_ratio == etl.rebalance_ratio
    assert (params.impute_method, params.knn_k, params.knn_reference_rows) == (
        etl.impute_method.value,
        etl.knn_k,
        etl.knn_reference_rows,
    )
    assert (params.mice_max_rounds, params.mice_tolerance) == (etl.mice_max_rounds, etl.mice_tolerance)
    assert params.split_fractions[:2] == (etl.train_fraction, etl.validation_fraction)
    assert sum(params.split_fractions) == pytest.approx(1.0)
    assert args["--raw_path"]["Fn::Join"][1][-1] == "/events/"
    assert args["--curated_path"]["Fn::Join"][1][-1] == f"/{CURATED_ROOT}"


def test_job_ships_the_entry_script_and_a_zip_of_the_runtime_package(sandbox, glue_t, tmp_path):
    job = one(glue_t, "AWS::Glue::Job")
    assert job["Command"]["ScriptLocation"]["Fn::Join"][1][-1].endswith(".py")
    assert job["DefaultArguments"]["--extra-py-files"]["Fn::Join"][1][-1].endswith(".zip")
    manifest = json.loads((sandbox.outdir / f"{sandbox.stacks.glue_etl.stack_name}.assets.json").read_text())
    (package,) = [f for f in manifest["files"].values() if f["displayName"].endswith("Etl/Runtime")]
    archive = sandbox.outdir / package["source"]["path"]
    shipped = sorted(n for n in zipfile.ZipFile(archive).namelist() if not n.endswith("/"))
    expected = sorted(p.relative_to(RUNTIME_DIR).as_posix() for p in RUNTIME_DIR.glob("*.py"))
    shared = ["ml_constructs/shared_runtime/__init__.py", "ml_constructs/shared_runtime/bias.py"]
    # the whole folder, and the runtime code shared with the Lambda functions
    assert shipped == sorted([f"ml_constructs/glue_etl/runtime/{name}" for name in expected] + shared)
    # As in Glue: with only the zip on the path (outside the repository), the repository's import names work.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from ml_constructs.glue_etl.runtime import pipeline\n"
        "assert pipeline.__file__.startswith(sys.argv[1]), pipeline.__file__\n"
        "assert pipeline.bias.__file__.startswith(sys.argv[1]), pipeline.bias.__file__\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(archive)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _statements(template, role_prefix):
    role_id = next(k for k in resources(template, "AWS::IAM::Role") if k.startswith(role_prefix))
    policy = next(
        p for p in resources(template, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    )
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_job_role_reads_raw_events_and_writes_only_the_curated_etl_prefix(glue_t):
    statements = _statements(glue_t, "EtlJobRole")
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert len(writes) == 1
    assert writes[0]["Resource"]["Fn::Join"][1][-1] == f"/{CURATED_ROOT}*"
    assert "DataLakeCurated" in json.dumps(writes[0]["Resource"])
    reads = [s for s in statements if s["Action"] == "s3:GetObject" and not s.get("Sid", "").startswith("ReadCode")]
    assert [r["Resource"]["Fn::Join"][1][-1] for r in reads] == ["/events/*"]
    assert not [
        s
        for s in statements
        if "DataLakeArtifacts" in json.dumps(s) or ("DataLakeRaw" in json.dumps(s) and "Put" in json.dumps(s["Action"]))
    ]
    key = next(s for s in statements if s.get("Sid") == "LakeKeyThroughS3")
    assert key["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Join"][1][0] == "s3."
    assert key["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_crawler_role_cannot_write_data(glue_t):
    statements = _statements(glue_t, "EtlCrawlerRole")
    actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if a.startswith("s3:") and a not in ("s3:GetObject", "s3:ListBucket")]


def test_athena_workgroup_enforces_encrypted_results_and_a_scan_cutoff(sandbox, glue_t):
    workgroup = one(glue_t, "AWS::Athena::WorkGroup")
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["BytesScannedCutoffPerQuery"] == sandbox.config.athena.bytes_scanned_cutoff_mb * 1_000_000
    result = config["ResultConfiguration"]
    assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert "DataLakeKey" in json.dumps(result["EncryptionConfiguration"]["KmsKey"])
    assert result["OutputLocation"]["Fn::Join"][1][-1] == "/athena-results/"  # the prefix the lifecycle rule expires
    assert workgroup["Name"] == f"{sandbox.config.prefix}-lake"
    assert workgroup["RecursiveDeleteOption"] is True  # sandbox: destroy removes saved queries and history


def test_named_queries_cover_raw_balance_partition_pruning_and_curated_balance(glue_t):
    queries = {q["Properties"]["Name"]: q["Properties"] for q in resources(glue_t, "AWS::Athena::NamedQuery").values()}
    assert set(queries) == {"RawClassBalance", "RawDailyCount", "CuratedClassBalance"}
    assert "FROM raw_events" in queries["RawClassBalance"]["QueryString"]
    assert "WHERE dt >=" in queries["RawDailyCount"]["QueryString"]  # predicate on the partition key
    assert f"FROM {CURATED_TABLE_NAME}" in queries["CuratedClassBalance"]["QueryString"]
    assert all(q["WorkGroup"]["Ref"].startswith("EtlWorkgroup") for q in queries.values())


def test_data_quality_ruleset_checks_the_curated_contract(glue_t):
    ruleset = one(glue_t, "AWS::Glue::DataQualityRuleset")
    assert ruleset["TargetTable"]["TableName"] == CURATED_TABLE_NAME
    spec = etl_spec()
    assert ruleset["Ruleset"] == curated_dqdl(spec)
    for column in feature_columns(spec):
        assert f'IsComplete "{column}"' in ruleset["Ruleset"]
    assert 'ColumnValues "is_fraud" in [0, 1]' in ruleset["Ruleset"]


def test_job_and_logs_follow_the_profile(production, glue_t):
    assert one(glue_t, "AWS::Logs::LogGroup")["KmsKeyId"]
    template = production.template(production.stacks.glue_etl)
    job = one(template, "AWS::Glue::Job")
    assert job["MaxRetries"] == production.config.etl.max_retries == 1
    assert one(template, "AWS::Athena::WorkGroup")["RecursiveDeleteOption"] is False


def test_the_config_offers_exactly_the_imputation_methods_the_job_knows() -> None:
    from ml_config.config import ImputeMethod
    from ml_constructs.glue_etl.runtime.contract import IMPUTE_METHODS

    assert tuple(m.value for m in ImputeMethod) == IMPUTE_METHODS
