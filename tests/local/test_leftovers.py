"""The leftovers check (`python -m tools.leftovers`, `make leftovers`) against moto, through its command-line entry.

Resources are planted as the app leaves them: tagged ``Project=<prefix>`` (the stacks' resources and what the
training workflow creates at run time), and untagged where nothing can tag them (run-time log groups, Glue
security configurations, the lake database, job log streams). Names of run-time resources are arbitrary here on
purpose: they are found by their tags, not by their names.

moto 5.2.5 limits: its Tagging API does not list Kinesis streams (a stream's read-back is tested with a listed
ARN) and lists an endpoint config's ARN as a tuple's repr (the tool unwraps it: every test with an endpoint config
goes through that), it starts every SageMaker job as Completed (the tests set the status in moto's backend), and
it has no Glue Data Quality API (the ruleset check is given a ruleset list, or noted as skipped).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from tools import leftovers

pytestmark = pytest.mark.usefixtures("offline_aws")

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
TAGS = {"Project": "mlspec", "Profile": "sandbox"}
DEV = {"Project": "mlspec-dev", "Profile": "sandbox"}  # a copy whose prefix extends mlspec
ALICE = {"Project": "alice", "Profile": "sandbox"}
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlspec-training-TrainingJobRoleF750C0D4-1A2B3C4D5E6F"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
LAKE = "s3://mlspec-data-lake-datalakeartifactsb270b651-x"
TEMPLATE = json.dumps({"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
NOTHING_LEFT = f"Nothing left of mlspec in account {ACCOUNT} ({REGION})."

_CLIENTS: dict[tuple[str, str], Any] = {}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield
    _CLIENTS.clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = leftovers.main(["--no-progress", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def reported(lines: list[str], kind: str, name: str) -> list[str]:
    return [line for line in lines if f"  {kind}  {name}  (" in line]


def client(service: str, region: str = REGION) -> Any:
    """One client per service, region and test, from a session sharing the tool's parsed service models (parsing
    them dominates the run time)."""
    if (service, region) not in _CLIENTS:
        _CLIENTS[service, region] = leftovers._session().create_client(service, region_name=region)
    return _CLIENTS[service, region]


def tag_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def bucket(name: str, tags: dict[str, str] | None = None, region: str = REGION) -> None:
    s3 = client("s3", region)
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **extra)
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags)})


def log_group(name: str, tags: dict[str, str] | None = None, region: str = REGION) -> None:
    client("logs", region).create_log_group(logGroupName=name, **({"tags": tags} if tags else {}))


def key(tags: dict[str, str]) -> str:
    return client("kms").create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])["KeyMetadata"]["Arn"]


def stack(name: str, tags: dict[str, str] | None = None) -> None:
    client("cloudformation").create_stack(StackName=name, TemplateBody=TEMPLATE, Tags=tag_list(tags))


# SageMaker, as the training workflow creates it at run time: every call with the app's tags.


def model(name: str, tags: dict[str, str] | None) -> None:
    client("sagemaker").create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}, Tags=tag_list(tags)
    )


def endpoint_config(name: str, model_name: str, tags: dict[str, str] | None) -> None:
    variant = {"VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": 1}
    client("sagemaker").create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{**variant, "InstanceType": "ml.t2.medium"}], Tags=tag_list(tags)
    )


def _backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends  # moto starts every job as Completed

    return sagemaker_backends[ACCOUNT][REGION]


def training_job(name: str, tags: dict[str, str] | None, status: str = "InProgress") -> None:
    client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": f"{LAKE}/models/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Tags=tag_list(tags),
    )
    _backend().training_jobs[name].training_job_status = status


def transform_job(name: str, model_name: str, tags: dict[str, str] | None, status: str = "InProgress") -> None:
    client("sagemaker").create_transform_job(
        TransformJobName=name,
        ModelName=model_name,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{LAKE}/val/"}}},
        TransformOutput={"S3OutputPath": f"{LAKE}/predictions/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        Tags=tag_list(tags),
    )
    _backend().transform_jobs[name].transform_job_status = status


def tuning_job(name: str, tags: dict[str, str] | None, status: str = "InProgress") -> None:
    client("sagemaker").create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
        },
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": f"{LAKE}/models/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        Tags=tag_list(tags),
    )
    _backend().hyper_parameter_tuning_jobs[name].hyper_parameter_tuning_job_status = status


def model_package(group: str, tags: dict[str, str] | None) -> str:
    spec = {"Containers": [{"Image": IMAGE}], "SupportedContentTypes": ["text/csv"]}
    return str(
        client("sagemaker").create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={**spec, "SupportedResponseMIMETypes": ["text/csv"]},
            Tags=tag_list(tags),
        )["ModelPackageArn"]
    )


def job_stream(group: str, job: str) -> None:
    """A job's log stream in SageMaker's shared group: ``<job name>/<instance>-<epoch>``."""
    logs = client("logs")
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=f"{job}/algo-1-1767225600")


class _WithRulesets:
    """The Glue client, plus the ruleset list moto 5.2.5 lacks."""

    def __init__(self, glue: Any, names: list[str]) -> None:
        self._glue, self._names = glue, names

    def __getattr__(self, name: str) -> Any:
        return getattr(self._glue, name)

    def can_paginate(self, operation: str) -> bool:
        return operation != "list_data_quality_rulesets" and bool(self._glue.can_paginate(operation))

    def list_data_quality_rulesets(self) -> dict[str, Any]:
        return {"Rulesets": [{"Name": name} for name in self._names]}


def with_rulesets(monkeypatch: pytest.MonkeyPatch, names: list[str]) -> None:
    original = leftovers.Aws.client

    def patched(self: leftovers.Aws, service: str, region: str) -> Any:
        real = original(self, service, region)
        return _WithRulesets(real, names) if service == "glue" else real

    monkeypatch.setattr(leftovers.Aws, "client", patched)


# --- the tests ------------------------------------------------------------------------------------------------


def test_empty_account_has_nothing_left(aws, capsys):
    code, lines, _ = run(capsys)
    assert (code, lines) == (0, [NOTHING_LEFT])


def test_tagged_resources_of_each_kind_are_found_read_back_and_fail_the_check(aws, capsys):
    expected = {  # (kind, name): a phrase its line must hold besides the tag
        ("s3 bucket", "mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f"): "(us-east-1)",
        ("s3 bucket", "renamed-by-hand-bucket"): "(us-east-1)",
        ("log group", "mlspec-streaming-IngestDeliveryLogs55527FA4-Pq9rSt"): "bytes stored",
        ("sagemaker endpoint", "ServingEndpointC149CBA2-Zz8Yy7"): "bills every hour",
        ("sagemaker model package group", "mlspec-training-models"): "holds 0 model package(s)",
        ("athena workgroup", "mlspec-lake"): "tagged Project=mlspec",
        ("step functions state machine", "TrainingWorkflow3D4B1608-Ab1Cd"): "tagged Project=mlspec",
        ("sns topic", "mlspec-alerts-AlertsTopic2CC8D10E-Ef2Gh"): "tagged Project=mlspec",
        ("glue job", "EtlJob9E3C8F12-Ij3Kl"): "tagged Project=mlspec",
        ("cloudformation stack", "mlspec-network"): "CREATE_COMPLETE: still deployed",
    }
    bucket("mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f", TAGS)
    bucket("renamed-by-hand-bucket", TAGS)  # the tag counts, not the name
    arn = key(TAGS)
    log_group("mlspec-streaming-IngestDeliveryLogs55527FA4-Pq9rSt", TAGS)
    model("ServingModel-Mn4Op", TAGS)
    endpoint_config("ServingConfig-Qr5St", "ServingModel-Mn4Op", TAGS)
    client("sagemaker").create_endpoint(
        EndpointName="ServingEndpointC149CBA2-Zz8Yy7", EndpointConfigName="ServingConfig-Qr5St", Tags=tag_list(TAGS)
    )
    client("sagemaker").create_model_package_group(ModelPackageGroupName="mlspec-training-models", Tags=tag_list(TAGS))
    client("athena").create_work_group(Name="mlspec-lake", Tags=tag_list(TAGS))
    client("stepfunctions").create_state_machine(
        name="TrainingWorkflow3D4B1608-Ab1Cd",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE,
        tags=[{"key": k, "value": v} for k, v in TAGS.items()],
    )
    client("sns").create_topic(Name="mlspec-alerts-AlertsTopic2CC8D10E-Ef2Gh", Tags=tag_list(TAGS))
    client("glue").create_job(
        Name="EtlJob9E3C8F12-Ij3Kl",
        Role=ROLE,
        Command={"Name": "glueetl", "ScriptLocation": f"{LAKE}/etl.py"},
        Tags=TAGS,
    )
    stack("mlspec-network", TAGS)

    code, lines, err = run(capsys)

    assert code == 1
    for (kind, name), phrase in expected.items():
        (line,) = reported(lines, kind, name)
        assert line.startswith("LEFTOVER"), line
        assert "tagged Project=mlspec" in line, line
        assert phrase in line, line
    (key_line,) = reported(lines, "kms key", arn)
    assert key_line.startswith("LEFTOVER")
    assert "Enabled: a customer-managed key bills monthly" in key_line
    count = len(expected) + 3  # the key, the serving stack's model and endpoint config
    assert lines[-1].startswith(f"{count} leftover(s) of mlspec in account {ACCOUNT} ({REGION}): ")
    assert "docs/runbook.md#remove-what-is-left" in lines[-1]
    assert len(lines) == count + 1  # one line each (the stack found by tag and by name: still one), the summary
    (stack_line,) = reported(lines, "cloudformation stack", "mlspec-network")
    assert "  tagged Project=mlspec; stack name; CREATE_COMPLETE" in stack_line
    assert "glue data quality rulesets in us-east-1: not implemented by this endpoint" in err


def test_run_time_sagemaker_resources_are_found_by_their_tags(aws, capsys):
    """What the training workflow creates at run time, tagged as it now tags it; names play no part."""
    model("nightly-7", TAGS)
    endpoint_config("nightly-7", "nightly-7", TAGS)
    training_job("nightly-7", TAGS)
    transform_job("nightly-7-val", "nightly-7", TAGS)
    tuning_job("nightly", TAGS)
    training_job("nightly-001-5f3e2a1b", TAGS, status="Completed")  # ended: cannot be deleted, costs nothing
    transform_job("nightly-7-test", "nightly-7", TAGS, status="Stopped")
    client("sagemaker").create_model_package_group(ModelPackageGroupName="mlspec-training-models", Tags=tag_list(TAGS))
    model_package("mlspec-training-models", TAGS)

    code, lines, _ = run(capsys)

    assert code == 1
    expected = {
        ("sagemaker model", "nightly-7"): "free, but no stack deletes what the training workflow created",
        ("sagemaker endpoint config", "nightly-7"): "free, but no stack deletes what the training workflow created",
        ("sagemaker training job", "nightly-7"): "InProgress: bills until it stops",
        ("sagemaker transform job", "nightly-7-val"): "InProgress: bills until it stops",
        ("sagemaker tuning job", "nightly"): "InProgress: bills until it stops",
        ("sagemaker model package group", "mlspec-training-models"): "holds 1 model package(s)",
    }
    for (kind, name), phrase in expected.items():
        (line,) = reported(lines, kind, name)
        assert line.startswith("LEFTOVER"), line
        assert "tagged Project=mlspec" in line, line
        assert phrase in line, line
    assert not [line for line in lines if "nightly-001" in line or "nightly-7-test" in line]
    assert not [line for line in lines if "  sagemaker model package  " in line]  # counted in its group's line
    assert lines[-1].startswith(f"{len(expected)} leftover(s) of mlspec ")


def test_find_reports_what_a_local_destroy_is_expected_to_leave(aws):
    """local_sandbox.run.check_teardown splits `find`'s leftovers by kind: the model registry and the run's
    model and endpoint config must come out with the kinds it expects."""
    source = (ROOT / "local_sandbox" / "run.py").read_text()
    (assignment,) = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXPECTED_AFTER_DESTROY"
    ]
    expected_kinds = set(ast.literal_eval(assignment.value))
    client("sagemaker").create_model_package_group(ModelPackageGroupName="mlspec-training-models", Tags=tag_list(TAGS))
    model_package("mlspec-training-models", TAGS)
    model("mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f", TAGS)
    endpoint_config("mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f", "mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f", TAGS)
    training_job("mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f", TAGS, status="Completed")

    result = leftovers.find("mlspec", [REGION])

    assert sorted(f.kind for f in result.leftovers) == sorted(expected_kinds)
    assert result.problems == []


def test_untagged_resources_and_other_projects_are_not_reported(aws, capsys):
    bucket("cdk-hnb659fds-assets-123456789012-us-east-1")  # the CDK bootstrap bucket: untagged
    bucket("mlspec-data-lake-datalakeraw1f82835b-9f8e7d6c5b4a")  # our name pattern, but untagged: not the app's
    bucket("alice-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f", ALICE)
    key(ALICE)
    log_group("alice-streaming-IngestDeliveryLogs55527FA4-Pq9rSt", ALICE)
    log_group("/aws/lambda/alice-data-lake-CustomS3AutoDeleteObjectsCustomRe-Uv3wXy")
    log_group("/aws/lambda/xmlspec-data-lake-handler")
    log_group("/aws/lambda/mlspec-network-Lookalike-Ab12Cd", ALICE)  # our name pattern, another project's tag
    model("mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f", None)  # untagged: another app's, whatever its name
    endpoint_config("mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f", "mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f", None)
    training_job("mlspec-nightly-7", None)
    model("mlspec-dev-run-1", DEV)  # a copy whose prefix extends ours: its tag says whose it is
    transform_job("mlspec-dev-run-1-val", "mlspec-dev-run-1", DEV)
    tuning_job("mlspec-dev-run", ALICE)
    client("sagemaker").create_model_package_group(ModelPackageGroupName="alice-training-models", Tags=tag_list(ALICE))
    client("glue").create_security_configuration(Name="aliceglueetlEtlSecurityFC463669", EncryptionConfiguration={})
    client("glue").create_database(DatabaseInput={"Name": "alice_lake"})
    client("athena").create_work_group(Name="mlspec-lake")  # untagged: not found by its name any more
    stack("alice-network", ALICE)
    stack("mlspec-networks")  # not one of the app's stack names
    stack("mlspec-alerts", TAGS)
    client("cloudformation").delete_stack(StackName="mlspec-alerts")  # DELETE_COMPLETE: gone

    code, lines, _ = run(capsys)

    assert (code, lines) == (0, [NOTHING_LEFT])


def test_the_prefix_selects_the_copy(aws, capsys):
    model("run-1", TAGS)
    model("run-2", DEV)
    stack("mlspec-dev-network")

    code, lines, _ = run(capsys, "--prefix", "mlspec-dev")

    assert code == 1
    assert reported(lines, "sagemaker model", "run-2")
    assert reported(lines, "cloudformation stack", "mlspec-dev-network")
    assert not reported(lines, "sagemaker model", "run-1")
    assert lines[-1].startswith("2 leftover(s) of mlspec-dev ")


def test_tag_hits_of_deleted_resources_are_dropped(aws, capsys, monkeypatch):
    """The Tagging API can list a resource for a while after it is deleted: each hit is read back first."""
    gone = [
        "arn:aws:s3:::mlspec-data-lake-datalakeraw1f82835b-deleted",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:mlspec-streaming-IngestDeliveryLogs55527FA4-deleted",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/servingendpointc149cba2-deleted",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/nightly-deleted",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/nightly-deleted",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/nightly-deleted",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/mlspec-training-deleted",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/mlspec-alerts/0a1b2c3d-0000-0000-0000-000000000000",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0a1b2c3d4e5f67890",
        f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/mlspec-streaming-IngestStream404D06C0-deleted",
        f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:TrainingWorkflow3D4B1608-deleted",
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:mlspec-serving-ServingErrors5xxAlarm4096F11C-deleted",
    ]
    vpc = client("ec2").create_vpc(
        CidrBlock="10.0.0.0/24", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag_list(TAGS)}]
    )["Vpc"]["VpcId"]
    stream = "mlspec-streaming-IngestStream404D06C0-Hx2kLm"  # moto's Tagging API does not list streams; AWS's does
    client("kinesis").create_stream(StreamName=stream, ShardCount=1, Tags=TAGS)
    live = [f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{vpc}", f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"]
    unverifiable = f"arn:aws:sqs:{REGION}:{ACCOUNT}:mlspec-dead-letters"
    monkeypatch.setattr(leftovers.Scan, "_tagged_arns", lambda self, region: iter([*gone, *live, unverifiable]))

    code, lines, _ = run(capsys)

    assert code == 1
    assert lines[:3] == [
        f"LEFTOVER  ec2 vpc  {vpc}  (us-east-1)  tagged Project=mlspec",
        f"LEFTOVER  kinesis stream  {stream}  (us-east-1)  tagged Project=mlspec; a stream bills every hour (per "
        "shard, or per stream on demand)",
        "LEFTOVER  sqs queue  mlspec-dead-letters  (us-east-1)  tagged Project=mlspec (not verified: no read-back "
        "for this type, and the Tagging API can list a resource for a while after it is deleted)",
    ]
    assert lines[3].startswith("3 leftover(s)")
    assert len(lines) == 4


def test_a_key_pending_deletion_is_not_a_leftover(aws, capsys):
    arn = key(TAGS)
    client("kms").schedule_key_deletion(KeyId=arn.rsplit("/", 1)[1], PendingWindowInDays=7)  # moto: not by ARN

    code, lines, _ = run(capsys)

    assert code == 0
    (line,) = reported(lines, "kms key", arn)
    assert line.startswith("info")
    assert "PendingDeletion: deleted on " in line
    assert "not a leftover" in line
    assert lines[-1] == NOTHING_LEFT


def test_what_cannot_be_tagged_is_found_by_name(aws, capsys, monkeypatch):
    expected = {  # (kind, name): a phrase its line must hold
        ("cloudformation stack", "mlspec-serving"): "stack name; DELETE_FAILED: delete failed: see its events",
        ("log group", "/aws/lambda/mlspec-data-lake-CustomS3AutoDeleteObjectsCustomRe-Uv3wXy"): "untagged",
        (
            "log group",
            "/aws-glue/jobs/mlspecglueetlEtlSecurityFC463669-role/mlspec-glue-etl-EtlJobRole626395C9-Ab1Cd/output",
        ): "created at run time",
        ("log group", "/aws-glue/crawlers-role/mlspec-glue-etl-CrawlerRole3E4F5A6B-Cd2Ef-ab12cd"): "name holds",
        ("glue security configuration", "mlspecglueetlEtlSecurityFC463669"): "not taggable",
        ("glue database", "mlspec_lake"): "the next deploy of this prefix fails",
        ("glue data quality ruleset", "mlspec-glue-etl-curated-prepared"): "the next deploy of this prefix fails",
    }
    stack("mlspec-serving")  # untagged: the name alone finds it
    from moto.cloudformation.models import cloudformation_backends

    (serving,) = [s for s in cloudformation_backends[ACCOUNT][REGION].stacks.values() if s.name == "mlspec-serving"]
    serving.status = "DELETE_FAILED"
    log_group("/aws/lambda/mlspec-data-lake-CustomS3AutoDeleteObjectsCustomRe-Uv3wXy")
    log_group("/aws-glue/jobs/mlspecglueetlEtlSecurityFC463669-role/mlspec-glue-etl-EtlJobRole626395C9-Ab1Cd/output")
    log_group("/aws-glue/crawlers-role/mlspec-glue-etl-CrawlerRole3E4F5A6B-Cd2Ef-ab12cd")
    log_group("/aws/lambda/mlspec-serving-ServingHandler-Gh3Ij", TAGS)  # tagged: the tag check's, one line
    client("glue").create_security_configuration(Name="mlspecglueetlEtlSecurityFC463669", EncryptionConfiguration={})
    client("glue").create_database(DatabaseInput={"Name": "mlspec_lake"})
    with_rulesets(monkeypatch, ["mlspec-glue-etl-curated-prepared", "alice-glue-etl-curated-prepared"])

    code, lines, err = run(capsys)

    assert code == 1
    for (kind, name), phrase in expected.items():
        (line,) = reported(lines, kind, name)
        assert line.startswith("LEFTOVER"), line
        assert phrase in line, line
        assert "tagged" not in line.replace("untagged", ""), line
    (tagged,) = reported(lines, "log group", "/aws/lambda/mlspec-serving-ServingHandler-Gh3Ij")
    assert "tagged Project=mlspec; 0 bytes stored" in tagged
    assert lines[-1].startswith(f"{len(expected) + 1} leftover(s) of mlspec ")
    assert "not implemented" not in err


def test_job_log_streams_are_info_to_check_by_hand(aws, capsys):
    """A stream cannot be tagged, and mlspec-dev's jobs write mlspec-... streams too: counted, never a leftover."""
    for job in ("mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f", "mlspec-8d3f0c2e-001-5f3e2a1b", "mlspec-dev-run-1"):
        job_stream("/aws/sagemaker/TrainingJobs", job)
    job_stream("/aws/sagemaker/TransformJobs", "mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f-val")
    job_stream("/aws/sagemaker/TransformJobs", "alice-run-1-val")
    job_stream("/aws/sagemaker/ProcessingJobs", "mlspec-8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f-shap")  # Explain
    job_stream("/aws/sagemaker/ProcessingJobs", "model-monitoring-202612010000-abc")  # Model Monitor's: not ours

    code, lines, _ = run(capsys)

    assert code == 0
    assert lines == [
        "info      log streams  /aws/sagemaker/ProcessingJobs (1 x mlspec-*)  (us-east-1)  named like the training "
        "workflow's jobs; the shared group outlives the stacks; not taggable, and a copy whose prefix starts with "
        "mlspec- names its jobs so too: check by hand",
        "info      log streams  /aws/sagemaker/TrainingJobs (3 x mlspec-*)  (us-east-1)  named like the training "
        "workflow's jobs; the shared group outlives the stacks; not taggable, and a copy whose prefix starts with "
        "mlspec- names its jobs so too: check by hand",
        "info      log streams  /aws/sagemaker/TransformJobs (1 x mlspec-*)  (us-east-1)  named like the training "
        "workflow's jobs; the shared group outlives the stacks; not taggable, and a copy whose prefix starts with "
        "mlspec- names its jobs so too: check by hand",
        NOTHING_LEFT,
    ]

    code, lines, _ = run(capsys, "--prefix", "alice")
    assert code == 0
    assert reported(lines, "log streams", "/aws/sagemaker/TransformJobs (1 x alice-*)")[0].startswith("info")
    assert len(lines) == 2


def test_several_regions_each_resource_once_with_its_region(aws, capsys):
    bucket("mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f", TAGS, region="eu-west-1")
    log_group("mlspec-network-NetworkFlowLogs2BEC3212-Ab12Cd", TAGS, region="eu-west-1")
    client("sagemaker", "eu-west-1").create_model_package_group(
        ModelPackageGroupName="mlspec-training-models", Tags=tag_list(TAGS)
    )

    code, lines, _ = run(capsys, "--region", REGION, "--region", "eu-west-1")

    assert code == 1
    (bucket_line,) = reported(lines, "s3 bucket", "mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f")
    assert "(eu-west-1)  tagged Project=mlspec" in bucket_line  # moto lists it in both regions' answers: once
    assert reported(lines, "log group", "mlspec-network-NetworkFlowLogs2BEC3212-Ab12Cd")[0].count("(eu-west-1)") == 1
    assert "(eu-west-1)" in reported(lines, "sagemaker model package group", "mlspec-training-models")[0]
    assert lines[-1].startswith(f"3 leftover(s) of mlspec in account {ACCOUNT} (us-east-1, eu-west-1): ")


def test_a_check_that_cannot_run_fails_the_run(aws, capsys, monkeypatch):
    from botocore.exceptions import ClientError

    def denied(self, region):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no glue"}}, "GetDatabase")

    monkeypatch.setattr(leftovers.Scan, "databases", denied)

    code, lines, err = run(capsys)

    assert code == 1
    assert "warning: could not check glue databases in us-east-1: AccessDeniedException: no glue" in err
    assert lines == ["1 check(s) could not run (see stderr): the account may hold more leftovers."]


def test_refused_credentials_during_the_scan_exit_2_in_one_line(aws, capsys, monkeypatch):
    from botocore.exceptions import ClientError

    def refused(self, region):
        raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired\nmore"}}, "GetResources")

    monkeypatch.setattr(leftovers.Scan, "tagged", refused)

    code, lines, err = run(capsys)

    assert (code, lines) == (2, [])
    assert err == "python -m tools.leftovers: error: the AWS credentials were refused: ExpiredToken: expired\n"


def test_an_interrupted_scan_exits_130(aws, capsys, monkeypatch):
    def interrupted(self, region):
        raise KeyboardInterrupt

    monkeypatch.setattr(leftovers.Scan, "stacks", interrupted)

    code, lines, err = run(capsys)

    assert (code, lines) == (130, [])
    assert err == "python -m tools.leftovers: interrupted\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prefix", "9lives"], "--prefix '9lives': prefix='9lives': allowed: a letter, then up to 19"),
        (["--region", "moon-base-1a"], "--region 'moon-base-1a': not a region name"),
        (["--endpoint-url", "localhost:5000"], "--endpoint-url must start with http:// or https://"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message):
    code, lines, err = run(capsys, *argv)
    assert code == 2
    assert lines == []
    assert err.count("\n") == 1
    assert err.startswith("python -m tools.leftovers: error: ")
    assert message in err


def test_no_credentials_or_no_region_exit_2_without_a_traceback(capsys, monkeypatch):
    # No moto here (it would supply fake keys); the endpoint is a closed local port, so nothing can leave.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    code, lines, err = run(capsys, "--endpoint-url", "http://127.0.0.1:9")
    assert (code, lines) == (2, [])
    assert err == "python -m tools.leftovers: error: NoCredentialsError: Unable to locate credentials\n"

    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    code, lines, err = run(capsys, "--endpoint-url", "http://127.0.0.1:9")
    assert (code, lines) == (2, [])
    assert "no AWS region: pass --region" in err
    assert err.count("\n") == 1


def test_the_names_it_looks_for_follow_the_app():
    """The stack names, the lake database and the jobs' names (their log streams) copy the app's naming
    (importing the stacks or constructs would start jsii): pinned to their sources, read as text."""
    stacks = (ROOT / "stacks" / "__init__.py").read_text()
    suffixes = re.search(r"^DESCRIPTIONS = \{(.*?)^\}", stacks, flags=re.MULTILINE | re.DOTALL)
    assert suffixes is not None, "stacks/__init__.py names its stacks in DESCRIPTIONS"
    assert set(re.findall(r'^    "([a-z-]+)": ', suffixes.group(1), flags=re.MULTILINE)) == set(
        leftovers.STACK_SUFFIXES
    )
    assert 'f"{config.prefix}-{suffix}"' in stacks
    training_stack = (ROOT / "stacks" / "training_stack.py").read_text()
    assert re.findall(r"job_prefix=(.+),$", training_stack, flags=re.MULTILINE) == ['f"{config.prefix}-"']
    data_lake = (ROOT / "stacks" / "data_lake_stack.py").read_text()
    assert "database_name = f\"{prefix.lower().replace('-', '_')}_lake\"" in data_lake
    scan = leftovers.Scan(None, "ml-Spec", [REGION], ACCOUNT, "aws")  # type: ignore[arg-type]  # no AWS: names only
    assert scan.database == "ml_spec_lake"


def test_the_runbook_section_it_points_to_exists():
    path, anchor = leftovers.RUNBOOK.split("#")
    headings = re.findall(r"^#+ (.+)$", (ROOT / path).read_text(), flags=re.MULTILINE)
    slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    assert anchor in slugs


@pytest.mark.parametrize(
    ("arn", "parsed"),
    [
        ("arn:aws:s3:::b", ("s3", "", "", "b")),
        ("arn:aws:logs:us-east-1:1:log-group:/aws/lambda/f", ("logs", "us-east-1", "log-group", "/aws/lambda/f")),
        ("arn:aws:kms:eu-west-1:1:key/k-1", ("kms", "eu-west-1", "key", "k-1")),
        (
            "arn:aws:cloudformation:us-east-1:1:stack/mlspec-network/uuid",
            ("cloudformation", "us-east-1", "stack", "mlspec-network"),
        ),
        ("arn:aws-cn:states:cn-north-1:1:stateMachine:Workflow", ("states", "cn-north-1", "stateMachine", "Workflow")),
        ("arn:aws:sns:us-east-1:1:topic-name", ("sns", "us-east-1", "", "topic-name")),
        (
            "arn:aws:sagemaker:us-east-1:1:model-package/mlspec-training-models/3",
            ("sagemaker", "us-east-1", "model-package", "mlspec-training-models/3"),
        ),
    ],
)
def test_parse_arn(arn, parsed):
    assert leftovers.parse_arn(arn) == parsed
