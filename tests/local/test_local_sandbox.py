"""`make local` in the test suite: every stack deployed into a moto server through the CDK CLI, checked with boto3,
then the worked example end to end on a small event count.

One server for the module (started and stopped by the ``deployed`` fixture, whatever the tests do); the CLI
synthesizes the sandbox profile with strong cross-stack references (the one context value the local deploy
adds) into a temporary directory, and those templates are compared with the sandbox's to pin how they differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_sandbox.deploy import bootstrap, deploy
from local_sandbox.run import DRIFT_COLUMN, RunResult, run_worked_example
from local_sandbox.server import LocalAws, local_aws
from ml_config import load_config
from worked_example.generator import generate_events, relative_start
from worked_example.schema import FIELDS, feature_fields

EVENTS = 8_000
SEED = 20261124
CONFIG = load_config({})
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "ml_constructs" / "serving" / "default_model"


@dataclass
class Deployment:
    aws: LocalAws
    outputs: dict[str, dict[str, str]]
    outdir: Path

    def template(self, stack: str) -> dict[str, Any]:
        return json.loads((self.outdir / f"{CONFIG.prefix}-{stack}.template.json").read_text())

    def physical(self, stack: str, resource_type: str) -> list[str]:
        cloudformation = self.aws.client("cloudformation")
        resources = cloudformation.list_stack_resources(StackName=f"{CONFIG.prefix}-{stack}")["StackResourceSummaries"]
        return [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == resource_type]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    outdir = tmp_path_factory.mktemp("cdk-local-out")
    with local_aws() as aws:
        bootstrap(aws, outdir, outdir / "deploy.log")
        outputs = deploy(aws, outdir, outdir / "deploy.log")
        yield Deployment(aws, outputs, outdir)


RECORDED = Path(__file__).resolve().parents[2] / "tools" / "iam" / "recorded" / "sandbox.jsonl"


@pytest.fixture(scope="module")
def recorded_calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the run records our own code's calls (``record_iam``)."""
    return tmp_path_factory.mktemp("iam") / "recorded.jsonl"


@pytest.fixture(scope="module")
def run(deployed: Deployment, tmp_path_factory: pytest.TempPathFactory, recorded_calls: Path) -> RunResult:
    work = tmp_path_factory.mktemp("work")
    return run_worked_example(deployed.aws, work, events=EVENTS, seed=SEED, progress=print, record_iam=recorded_calls)


def run_day() -> date:
    """Today, UTC: the day the module's run began (or the next, when it began before midnight)."""
    return datetime.now(UTC).date()


def bucket(deployed: Deployment, output_uri_key: str) -> str:
    """A lake bucket's name, from the data-lake stack's outputs (as an operator finds it)."""
    return deployed.outputs[f"{CONFIG.prefix}-data-lake"][output_uri_key]


# --- The local deploy: its templates differ from the sandbox's only where moto needs it --------------------------


def _normalise(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Cross-stack references by producing stack only, the outputs that carry them dropped; returns the counts
    of each replacement."""
    counts = {"import_value": 0, "get_stack_output": 0, "reference_outputs": 0}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Fn::ImportValue"} and isinstance(value["Fn::ImportValue"], str):
                counts["import_value"] += 1
                return f"<reference to {value['Fn::ImportValue'].split(':')[0]}>"
            if set(value) == {"Fn::GetStackOutput"}:
                counts["get_stack_output"] += 1
                return f"<reference to {value['Fn::GetStackOutput']['StackName']}>"
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    result = walk(template)
    for resource in result.get("Resources", {}).values():
        # the CLI turns on construct-path and asset metadata (aws:cdk:path, aws:asset:*); the in-process synth
        # of the test fixtures does not: a difference of how the templates were made, not of the profile
        metadata = {
            k: v for k, v in resource.get("Metadata", {}).items() if not k.startswith(("aws:cdk:path", "aws:asset:"))
        }
        if metadata:
            resource["Metadata"] = metadata
        else:
            resource.pop("Metadata", None)
    outputs = result.get("Outputs", {})
    for key in [k for k in outputs if k.startswith(("ExportsOutput", "PublishOutput"))]:
        counts["reference_outputs"] += 1
        del outputs[key]
    if "Outputs" in result and not outputs:
        del result["Outputs"]
    return result, counts


def test_local_templates_differ_from_the_sandbox_only_in_cross_stack_references(deployed, sandbox):
    """The one listed difference: strong references (Fn::ImportValue + exports) where the sandbox has weak ones
    (Fn::GetStackOutput + published outputs). Nothing else: the product does not know about the sandbox."""
    for stack in sandbox.stacks.all():
        local_template, local_counts = _normalise(deployed.template(stack.stack_name.split("-", 1)[1]))
        sandbox_template, sandbox_counts = _normalise(sandbox.template(stack))
        assert local_template == sandbox_template, stack.stack_name
        assert local_counts["get_stack_output"] == sandbox_counts["import_value"] == 0
        assert local_counts["import_value"] == sandbox_counts["get_stack_output"], stack.stack_name
    # and the references exist: the consuming stacks really import from the lake
    _, training = _normalise(deployed.template("training"))
    assert training["import_value"] > 0


# --- Deployed resources, checked with boto3 ---------------------------------------------------------------------


def test_every_stack_and_the_bootstrap_stack_are_created(deployed):
    stacks = {
        s["StackName"]: s["StackStatus"] for s in deployed.aws.client("cloudformation").describe_stacks()["Stacks"]
    }
    expected = {f"{CONFIG.prefix}-{name}" for name in ("data-lake", "network", "alerts", "streaming", "glue-etl")}
    expected |= {f"{CONFIG.prefix}-serving", f"{CONFIG.prefix}-training", "CDKToolkit"}
    assert {name: stacks.get(name) for name in expected} == dict.fromkeys(expected, "CREATE_COMPLETE")


def test_buckets_have_the_templates_encryption_lifecycle_and_protection(deployed):
    s3 = deployed.aws.client("s3")
    template = deployed.template("data-lake")
    key_arn = deployed.aws.client("kms").describe_key(KeyId=deployed.physical("data-lake", "AWS::KMS::Key")[0])[
        "KeyMetadata"
    ]["Arn"]
    buckets = {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in _resources(deployed, "data-lake", "AWS::S3::Bucket")
    }
    assert len(buckets) == 4
    for logical_id, name in buckets.items():
        props = template["Resources"][logical_id]["Properties"]
        rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        assert [r["ID"] for r in rules] == [r["Id"] for r in props["LifecycleConfiguration"]["Rules"]]
        for api, cfn in zip(rules, props["LifecycleConfiguration"]["Rules"], strict=True):
            transitions = [(t["Days"], t["StorageClass"]) for t in api.get("Transitions", [])]
            assert transitions == [(t["TransitionInDays"], t["StorageClass"]) for t in cfn.get("Transitions", [])]
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        assert len(block) == 4
        sse = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
        expected = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == expected["SSEAlgorithm"]
        if expected["SSEAlgorithm"] == "aws:kms":
            assert sse["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key_arn
            assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        assert any(
            st["Effect"] == "Deny" and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for st in policy["Statement"]
        ), logical_id


def _resources(deployed: Deployment, stack: str, resource_type: str) -> list[dict[str, Any]]:
    summaries = deployed.aws.client("cloudformation").list_stack_resources(StackName=f"{CONFIG.prefix}-{stack}")
    return [r for r in summaries["StackResourceSummaries"] if r["ResourceType"] == resource_type]


def test_stream_and_delivery_stream_are_configured_as_synthesized(deployed):
    kinesis, firehose = deployed.aws.client("kinesis"), deployed.aws.client("firehose")
    (stream_name,) = deployed.physical("streaming", "AWS::Kinesis::Stream")
    stream = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]
    assert stream["EncryptionType"] == "KMS"
    (template_stream,) = [
        r for r in deployed.template("streaming")["Resources"].values() if r["Type"] == "AWS::Kinesis::Stream"
    ]
    assert len(stream["Shards"]) == template_stream["Properties"]["ShardCount"]
    assert stream["RetentionPeriodHours"] == CONFIG.stream.retention_hours
    (delivery,) = deployed.physical("streaming", "AWS::KinesisFirehose::DeliveryStream")
    description = firehose.describe_delivery_stream(DeliveryStreamName=delivery)["DeliveryStreamDescription"]
    assert description["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == stream["StreamARN"]
    destination = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    raw = [
        r["PhysicalResourceId"]
        for r in _resources(deployed, "data-lake", "AWS::S3::Bucket")
        if "Raw" in r["LogicalResourceId"]
    ]
    assert destination["BucketARN"] == f"arn:aws:s3:::{raw[0]}"
    assert destination["Prefix"] == "events/dt=!{partitionKeyFromQuery:dt}/"
    assert destination["DataFormatConversionConfiguration"]["Enabled"] is (
        CONFIG.firehose.output_format.value == "parquet"
    )
    assert destination["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"].startswith("arn:aws:kms:")


def test_glue_catalog_crawlers_and_job_exist_with_their_configuration(deployed):
    glue = deployed.aws.client("glue")
    database = f"{CONFIG.prefix}_lake"
    assert glue.get_database(Name=database)["Database"]["Name"] == database
    table = glue.get_table(DatabaseName=database, Name="raw_events")["Table"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [(f.name, f.type) for f in FIELDS]
    crawlers = {c["Name"]: c for c in glue.get_crawlers()["Crawlers"]}
    assert set(crawlers) == set(deployed.physical("glue-etl", "AWS::Glue::Crawler"))
    assert len(crawlers) == 2
    assert {c["RecrawlPolicy"]["RecrawlBehavior"] for c in crawlers.values()} == {
        "CRAWL_NEW_FOLDERS_ONLY",
        "CRAWL_EVERYTHING",
    }
    job = glue.get_job(JobName=deployed.outputs[f"{CONFIG.prefix}-glue-etl"]["JobName"])["Job"]
    assert job["DefaultArguments"]["--raw_path"].endswith("/events/")
    assert job["DefaultArguments"]["--raw_format"] == CONFIG.firehose.output_format.value
    assert job["GlueVersion"] == "5.0"
    workgroup = deployed.aws.client("athena").get_work_group(WorkGroup=f"{CONFIG.prefix}-lake")["WorkGroup"]
    assert workgroup["Configuration"]["EnforceWorkGroupConfiguration"] is True


def test_state_machine_endpoint_capture_and_alarms(deployed):
    sfn, sagemaker = deployed.aws.client("stepfunctions"), deployed.aws.client("sagemaker")
    arn = deployed.outputs[f"{CONFIG.prefix}-training"]["StateMachineArn"]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert definition["StartAt"] == "Names"
    assert "QualityGate" in definition["States"]
    endpoint = sagemaker.describe_endpoint(EndpointName=deployed.outputs[f"{CONFIG.prefix}-serving"]["EndpointName"])
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == CONFIG.serving.capture_percentage
    assert capture["DestinationS3Uri"] == deployed.outputs[f"{CONFIG.prefix}-serving"]["CaptureUri"]
    cloudwatch = deployed.aws.client("cloudwatch")
    topic = deployed.physical("alerts", "AWS::SNS::Topic")[0]
    for stack in ("streaming", "training", "serving"):
        names = deployed.physical(stack, "AWS::CloudWatch::Alarm")
        alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        template_metrics = sorted(
            _metric_names(r["Properties"])
            for r in deployed.template(stack)["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
        )
        assert sorted(_metric_names(a) for a in alarms) == template_metrics
        assert all(a["AlarmActions"] == [topic] for a in alarms)


def _metric_names(alarm: dict) -> str:
    """An alarm's metric, or a metric-math alarm's metrics joined (the heartbeats: Errors+Invocations)."""
    if "MetricName" in alarm:
        return str(alarm["MetricName"])
    return "+".join(sorted(m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m))


def test_custom_resources_were_answered(deployed):
    """The responder did what CDK's handlers do: the default model is in the artifacts zone, byte for byte, and the
    VPC's default security group keeps no rule."""
    s3, ec2 = deployed.aws.client("s3"), deployed.aws.client("ec2")
    capture_uri = deployed.outputs[f"{CONFIG.prefix}-serving"]["CaptureUri"]
    artifacts = capture_uri[5:].split("/", 1)[0]
    body = s3.get_object(Bucket=artifacts, Key="models/default/model.tar.gz")["Body"].read()
    manifest = json.loads((DEFAULT_MODEL / "manifest.json").read_text())
    assert hashlib.sha256(body).hexdigest() == manifest["artifact_sha256"]
    (vpc,) = deployed.physical("network", "AWS::EC2::VPC")
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )
    assert groups["SecurityGroups"][0]["IpPermissions"] == []
    assert groups["SecurityGroups"][0]["IpPermissionsEgress"] == []


# --- The worked example, end to end -----------------------------------------------------------------------------


def test_bridge_delivered_every_event_into_its_event_date_partition(run, deployed):
    assert run.bridge is not None
    assert run.bridge.records == EVENTS
    assert run.bridge.delivered == EVENTS
    assert run.bridge.failed == {}
    # the producer's events fill the 3 days before the run's day (UTC); the run may have begun the day before
    expected = [
        {f"events/dt={str(e['event_time'])[:10]}/" for e in generate_events(EVENTS, SEED, start=relative_start(day))}
        for day in (run_day(), run_day() - timedelta(days=1))
    ]
    assert set(run.bridge.partitions) in expected
    assert all(key.endswith(".parquet") for key in run.bridge.objects)


def test_workflow_ran_every_stage_and_the_gate_passed(run, deployed):
    execution = run.execution
    assert execution is not None
    assert execution.status == "SUCCEEDED", execution
    visited = [name for name, _, _ in execution.history]
    assert visited[:20] == [
        "Names",
        "EtlWindow",
        "EtlWindowFromStart",
        "RunEtl",
        "PinPreprocessing",
        "PinStatistics",
        "PinConstraints",
        "EtlHyperparameters",
        "Train",
        "PinExplainScript",
        "Explain",
        "CreateModel",
        "EvaluateTransform",
        "EvaluateMetrics",
        "QualityGate",
        "DescribeServingEndpoint",
        "DescribeServingConfig",
        "ChampionTransform",
        "EvaluateChampion",
        "ChallengerNotWorse",
    ]
    assert "DeleteRejectedModel" not in visited
    state = execution.last_state
    rolled = visited[-1] == "Done"
    if rolled:  # the handover is the run's output
        output = execution.output
        metrics, run_name, model_url = output["metrics"], output["model_name"], output["model_data_url"]
        package = output["model_package_arn"]
    else:  # the serving model was kept: the run's state when it ended
        metrics, run_name, model_url = (
            state["evaluation"]["metrics"],
            state["names"]["run"],
            state["training"]["model_data_url"],
        )
        package = state["package"]["arn"]
        comparison = state["champion"]["evaluation"]["challenger"]
        assert comparison["not_worse"] is False
        assert comparison["auc"] < comparison["champion_auc"] - comparison["margin"]
        assert visited[-1] == "ChampionKept"
    for name, minimum in CONFIG.training.gate.model_dump().items():
        assert metrics[name] >= minimum, name
    assert metrics["count"] > 0.1 * EVENTS  # the raw validation split, scored through both containers
    # every stage's output is where the deployed stacks say it lives
    s3, sagemaker = deployed.aws.client("s3"), deployed.aws.client("sagemaker")
    assert model_url.endswith(f"/models/{run_name}/output/model.tar.gz")
    bucket_name, key = model_url[5:].split("/", 1)
    assert s3.head_object(Bucket=bucket_name, Key=key)["ServerSideEncryption"] == "aws:kms"
    pinned = s3.list_objects_v2(Bucket=bucket_name, Prefix=f"models/{run_name}/")["Contents"]
    assert {o["Key"].split(f"models/{run_name}/", 1)[1] for o in pinned} >= {
        "preprocessing/model.tar.gz",
        "baseline/statistics.json",
        "baseline/constraints.json",
    }
    # the Explain step's attributions, in Clarify's layout, beside the model with the script that wrote them
    analysis = json.loads(
        s3.get_object(Bucket=bucket_name, Key=f"models/{run_name}/explainability/analysis.json")["Body"].read()
    )
    shap = analysis["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    assert list(shap) == [f.name for f in feature_fields()]  # every raw feature field, in schema order
    assert analysis["treeshap"]["identity_check"]["max_abs_error_columns"] < 1e-4
    assert analysis["treeshap"]["rows"] > 0.1 * EVENTS
    packages = sagemaker.list_model_packages(ModelPackageGroupName=f"{CONFIG.prefix}-training-models")
    assert [p["ModelPackageArn"] for p in packages["ModelPackageSummaryList"]] == [package]
    endpoint = sagemaker.describe_endpoint(EndpointName=deployed.outputs[f"{CONFIG.prefix}-serving"]["EndpointName"])
    # rolled: the endpoint serves the run's config; kept: it still serves the stack's
    assert (endpoint["EndpointConfigName"] == run_name) is rolled


def test_curated_zone_holds_every_etl_output(run, deployed):
    s3 = deployed.aws.client("s3")
    glue = deployed.aws.client("glue")
    curated = glue.get_job(JobName=deployed.outputs[f"{CONFIG.prefix}-glue-etl"]["JobName"])["Job"]["DefaultArguments"][
        "--curated_path"
    ]
    bucket_name, prefix = curated[5:].split("/", 1)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket_name, Prefix=prefix)["Contents"]]
    for part in ("train/", "validation/", "test/", "prepared/", "report/etl_report.json"):
        assert any(k.startswith(prefix + part) for k in keys), part
    report = json.loads(s3.get_object(Bucket=bucket_name, Key=prefix + "report/etl_report.json")["Body"].read())
    assert report["input"]["rows_in"] == EVENTS
    # the training window: etl.window_days days ending on the execution's day, holding the 3 days of events
    window = report["input"]["window"]
    assert window["days"] == CONFIG.etl.window_days
    assert window["end"] in (run_day().isoformat(), (run_day() - timedelta(days=1)).isoformat())
    assert len(window["partitions"]) == 3
    assert sum(window["partitions"].values()) == window["rows"] == EVENTS


def test_capture_files_hold_every_request_in_the_hour_they_were_sent(run, deployed):
    s3 = deployed.aws.client("s3")
    lines = 0
    for uri in run.capture_objects:
        bucket_name, key = uri[5:].split("/", 1)
        assert "/AllTraffic/" in key
        assert key.endswith(".jsonl")
        lines += len(s3.get_object(Bucket=bucket_name, Key=key)["Body"].read().splitlines())
    assert lines == 2 * run.traffic_rows > 0


def test_drift_is_detected_only_on_the_drifted_hour_and_the_alarm_fires(run, deployed):
    normal, drifted = run.drift_runs["normal"], run.drift_runs["drifted"]
    assert normal["status"] == "Completed"
    assert normal["violations"] == 0
    assert drifted["status"] == "CompletedWithViolations"
    assert DRIFT_COLUMN in drifted["drifted_features"]
    assert normal["records"] == drifted["records"] == run.traffic_rows
    assert run.alarm_states == {"normal": "OK", "drifted": "ALARM"}
    cloudwatch = deployed.aws.client("cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNames=deployed.physical("serving", "AWS::CloudWatch::Alarm"))[
        "MetricAlarms"
    ]
    assert {a.get("MetricName"): a["StateValue"] for a in alarms}["ViolationCount"] == "ALARM"
    messages = [json.loads(n["Message"]) for n in run.notifications]
    assert [m["NewStateValue"] for m in messages] == ["ALARM"]
    s3 = deployed.aws.client("s3")
    bucket_name, key = drifted["report_s3_uri"][5:].split("/", 1)
    report = json.loads(s3.get_object(Bucket=bucket_name, Key=key)["Body"].read())
    assert any(v["feature_name"] == DRIFT_COLUMN for v in report["violations"])


def test_crawlers_add_the_raw_partitions_and_create_the_curated_table(run, deployed):
    glue = deployed.aws.client("glue")
    database = f"{CONFIG.prefix}_lake"
    raw = {tuple(p["Values"]) for p in glue.get_partitions(DatabaseName=database, TableName="raw_events")["Partitions"]}
    assert raw == {(key[len("events/dt=") : -1],) for key in run.bridge.partitions}  # one per delivered dt= folder
    raw_table = glue.get_table(DatabaseName=database, Name="raw_events")["Table"]
    assert [(c["Name"], c["Type"]) for c in raw_table["StorageDescriptor"]["Columns"]] == [
        (f.name, f.type) for f in FIELDS
    ]
    curated = glue.get_table(DatabaseName=database, Name="curated_prepared")["Table"]
    assert [k["Name"] for k in curated["PartitionKeys"]] == ["split", "dt"]
    columns = {c["Name"]: c["Type"] for c in curated["StorageDescriptor"]["Columns"]}
    assert columns["is_fraud"] == "int"
    assert columns["amount"] == "double"
    splits = {
        p["Values"][0] for p in glue.get_partitions(DatabaseName=database, TableName="curated_prepared")["Partitions"]
    }
    assert splits == {"train", "validation", "test"}
    crawled = {report.crawler: report for report in run.crawls}
    assert sorted(crawled) == sorted(deployed.physical("glue-etl", "AWS::Glue::Crawler"))
    assert sum(len(r.tables_created) for r in run.crawls) == 1  # the curated table; raw_events is the stack's


def test_lake_key_rotates_admits_cloudwatch_logs_and_objects_round_trip_encrypted(deployed):
    kms, s3 = deployed.aws.client("kms"), deployed.aws.client("s3")
    (key_id,) = deployed.physical("data-lake", "AWS::KMS::Key")
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert any(s.get("Sid") == "AllowCloudWatchLogsOfThisAccount" for s in policy["Statement"])
    raw = bucket(deployed, "RawBucketName")
    s3.put_object(Bucket=raw, Key="probe/probe.json", Body=b'{"probe": 1}')
    assert s3.head_object(Bucket=raw, Key="probe/probe.json")["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=raw, Key="probe/probe.json")["Body"].read() == b'{"probe": 1}'
    s3.delete_object(Bucket=raw, Key="probe/probe.json")


def test_lake_buckets_carry_the_project_tags(deployed):
    s3 = deployed.aws.client("s3")
    for resource in _resources(deployed, "data-lake", "AWS::S3::Bucket"):
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=resource["PhysicalResourceId"])["TagSet"]}
        assert (tags["Project"], tags["Profile"]) == (CONFIG.prefix, "sandbox"), resource["LogicalResourceId"]


def test_our_code_made_exactly_the_calls_of_the_committed_recording(run, recorded_calls):
    """What the evaluation and drift-job handlers called, as their roles, is what tools/iam/recorded/sandbox.jsonl
    (which `make verify-iam` checks) says: a new call, or one no longer made, means the recording is stale."""
    recorded = set(recorded_calls.read_text().splitlines())
    committed = set(RECORDED.read_text().splitlines())
    assert run.recorded_calls == len(recorded) > 0
    refresh = 'refresh it with make local LOCAL_ARGS="--record-iam tools/iam/recorded/sandbox.jsonl"'
    new, gone = sorted(recorded - committed), sorted(committed - recorded)
    assert not new, f"our code makes calls {RECORDED.name} lacks; {refresh}:\n" + "\n".join(new)
    assert not gone, f"{RECORDED.name} lists calls our code no longer makes; {refresh}:\n" + "\n".join(gone)


# --- Teardown: keep this test last in the module (it destroys what the tests above read) -----------------------


def test_destroy_leaves_only_what_the_runbook_lists(run, deployed):
    """`cdk destroy --all` through the CLI, then `make leftovers`' scan: only the retained model registry and the
    workflow's run-time model and endpoint config remain (docs/runbook.md); the lake key is no leftover."""
    from local_sandbox.deploy import destroy
    from local_sandbox.run import check_teardown

    before = check_teardown(deployed.aws, CONFIG.prefix)
    assert any("cloudformation stack" in line for line in before.unexpected)  # the scan sees the live stacks
    destroy(deployed.aws, deployed.outdir, deployed.outdir / "deploy.log")
    stacks = deployed.aws.client("cloudformation").describe_stacks()["Stacks"]
    assert [s["StackName"] for s in stacks] == ["CDKToolkit"]
    after = check_teardown(deployed.aws, CONFIG.prefix)
    assert after.unexpected == []
    run_name = run.execution.output["model_name"]
    assert sorted(line.split("  ")[1:3] for line in after.expected) == [
        ["sagemaker endpoint config", run_name],
        ["sagemaker model", run_name],
        ["sagemaker model package group", f"{CONFIG.prefix}-training-models"],
    ]
