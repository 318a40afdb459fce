"""The leftovers check (`python -m tools.leftovers`, `make leftovers`) against moto, through its command-line entry.

Resources are planted with the names the app really produces (CloudFormation's generated names from the
synthesized templates, the training workflow's run-time names) and checked line by line in the output.

moto 5.2.5 limits, worked around here: its Tagging API does not list Kinesis streams (the name check finds
them, as it does in AWS), it starts every SageMaker job as Completed (the test sets one to InProgress in moto's
backend), and it does not implement Glue data quality rulesets (the tool notes the check as skipped).
"""

from __future__ import annotations

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
ALICE = {"Project": "alice", "Profile": "sandbox"}
# CloudFormation names roles <stack name>-<logical id>-<random>; the workflow's jobs and models run with this one
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlspec-training-TrainingJobRoleF750C0D4-1A2B3C4D5E6F"
SERVING_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlspec-serving-ServingModelRole28CC2AF6-6F5E4D3C2B1A"
ALICE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/alice-training-TrainingJobRoleF750C0D4-0A9B8C7D6E5F"
DEV_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlspec-dev-training-TrainingJobRoleF750C0D4-5E6F1A2B3C4D"
EXECUTION = "8d3f0c2e-5b1a-4f7e-9c6d-2a4b6c8d0e1f"  # Step Functions' default execution name: a UUID
RUN = f"mlspec-{EXECUTION}"  # Names state: <prefix>-<execution name>
TUNING = "mlspec-8d3f0c2e"  # <prefix>-<execution name up to its first hyphen>
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
TEMPLATE = json.dumps({"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})


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


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def bucket(name: str, tags: dict[str, str] | None = None, region: str = REGION) -> None:
    s3 = client("s3", region)
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **extra)
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags)})


def log_group(name: str, tags: dict[str, str] | None = None, region: str = REGION) -> None:
    client("logs", region).create_log_group(logGroupName=name, **({"tags": tags} if tags else {}))


def model(name: str, role: str, tags: dict[str, str] | None = None) -> None:
    client("sagemaker").create_model(
        ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": IMAGE}, Tags=tag_list(tags or {})
    )


def endpoint_config(name: str, model_name: str) -> None:
    variant = {"VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": 1}
    client("sagemaker").create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{**variant, "InstanceType": "ml.t2.medium"}]
    )


def endpoint(name: str, role: str, tags: dict[str, str] | None = None) -> None:
    """The serving stack's endpoint, as CloudFormation creates it: generated names, the model's role."""
    model(f"{name}-model", role)
    endpoint_config(f"{name}-config", f"{name}-model")
    client("sagemaker").create_endpoint(
        EndpointName=name, EndpointConfigName=f"{name}-config", Tags=tag_list(tags or {})
    )


def _backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends  # moto starts every job as Completed

    return sagemaker_backends[ACCOUNT][REGION]


def training_job(name: str, role: str, status: str) -> None:
    client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=role,
        OutputDataConfig={"S3OutputPath": "s3://mlspec-data-lake-datalakeartifactsb270b651-x/models/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    _backend().training_jobs[name].training_job_status = status


def tuning_job(name: str, role: str, status: str) -> None:
    client("sagemaker").create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
        },
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "RoleArn": role,
            "OutputDataConfig": {"S3OutputPath": "s3://mlspec-data-lake-datalakeartifactsb270b651-x/models/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    )
    _backend().hyper_parameter_tuning_jobs[name].hyper_parameter_tuning_job_status = status


def job_stream(group: str, job: str) -> None:
    """A job's log stream in SageMaker's shared group: ``<job name>/<instance>-<epoch>``."""
    logs = client("logs")
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=f"{job}/algo-1-1767225600")


def key(tags: dict[str, str]) -> str:
    return client("kms").create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])["KeyMetadata"]["Arn"]


def stack(name: str, tags: dict[str, str]) -> None:
    client("cloudformation").create_stack(StackName=name, TemplateBody=TEMPLATE, Tags=tag_list(tags))


# --- the tests ------------------------------------------------------------------------------------------------


def test_empty_account_has_nothing_left(aws, capsys):
    code, lines, _ = run(capsys)
    assert code == 0
    assert lines == [f"Nothing left of mlspec in account {ACCOUNT} ({REGION})."]


def test_every_kind_of_leftover_is_reported_and_fails_the_check(aws, capsys):
    expected = {  # (kind, name): a phrase its line must hold
        ("s3 bucket", "mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f"): "tagged Project=mlspec",
        ("s3 bucket", "mlspec-data-lake-datalakeaccesslogs1da51325-0f9e8d"): "name starts with mlspec-",
        ("s3 bucket", "renamed-by-hand-bucket"): "tagged Project=mlspec",
        ("kinesis stream", "mlspec-streaming-IngestStream404D06C0-Hx2kLm"): "bills every hour",
        ("log group", "mlspec-streaming-IngestDeliveryLogs55527FA4-Pq9rSt"): "tagged Project=mlspec",
        ("log group", "/aws/lambda/mlspec-data-lake-CustomS3AutoDeleteObjectsCustomRe-Uv3wXy"): "name holds",
        (
            "log group",
            "/aws-glue/jobs/mlspecglueetlEtlSecurityFC463669-role/mlspec-glue-etl-EtlJobRole626395C9-Ab1Cd/output",
        ): "name holds",
        ("log streams", "/aws/sagemaker/TrainingJobs (3 x mlspec-*)"): "training workflow",
        ("sagemaker endpoint", "ServingEndpointC149CBA2-Zz8Yy7"): "bills every hour",
        ("sagemaker model", RUN): "created at run time by the training workflow",
        ("sagemaker endpoint config", RUN): "created at run time by the training workflow",
        ("sagemaker training job", RUN): "still running",
        ("sagemaker tuning job", TUNING): "still running",
        ("sagemaker model package group", "mlspec-training-models"): "the next deploy of this prefix fails",
        ("glue security configuration", "mlspecglueetlEtlSecurityFC463669"): "not taggable",
        ("glue database", "mlspec_lake"): "the next deploy of this prefix fails",
        ("athena workgroup", "mlspec-lake"): "the next deploy of this prefix fails",
        ("cloudformation stack", "mlspec-network"): "CREATE_COMPLETE",
    }
    bucket("mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f", TAGS)
    bucket("mlspec-data-lake-datalakeaccesslogs1da51325-0f9e8d")
    bucket("renamed-by-hand-bucket", TAGS)
    client("kinesis").create_stream(StreamName="mlspec-streaming-IngestStream404D06C0-Hx2kLm", ShardCount=1)
    arn = key(TAGS)
    log_group("mlspec-streaming-IngestDeliveryLogs55527FA4-Pq9rSt", TAGS)
    log_group("/aws/lambda/mlspec-data-lake-CustomS3AutoDeleteObjectsCustomRe-Uv3wXy")
    log_group("/aws-glue/jobs/mlspecglueetlEtlSecurityFC463669-role/mlspec-glue-etl-EtlJobRole626395C9-Ab1Cd/output")
    for job in (RUN, f"{TUNING}-001-5f3e2a1b", f"{TUNING}-002-0c9d8e7f"):  # SageMaker names the tuning's jobs
        job_stream("/aws/sagemaker/TrainingJobs", job)
    endpoint("ServingEndpointC149CBA2-Zz8Yy7", SERVING_ROLE, TAGS)
    model(RUN, ROLE)
    endpoint_config(RUN, RUN)
    training_job(RUN, ROLE, "InProgress")
    tuning_job(TUNING, ROLE, "InProgress")
    client("sagemaker").create_model_package_group(ModelPackageGroupName="mlspec-training-models", Tags=tag_list(TAGS))
    client("glue").create_security_configuration(Name="mlspecglueetlEtlSecurityFC463669", EncryptionConfiguration={})
    client("glue").create_database(DatabaseInput={"Name": "mlspec_lake"})
    client("athena").create_work_group(Name="mlspec-lake", Tags=tag_list(TAGS))
    stack("mlspec-network", TAGS)

    code, lines, err = run(capsys)

    assert code == 1
    for (kind, name), phrase in expected.items():
        (line,) = reported(lines, kind, name)
        assert line.startswith("LEFTOVER"), line
        assert phrase in line, line
    (key_line,) = reported(lines, "kms key", arn)
    assert key_line.startswith("LEFTOVER")
    assert "Enabled" in key_line
    assert lines[-1].startswith(f"{len(expected) + 1} leftover(s) of mlspec in account {ACCOUNT} ({REGION}): ")
    assert "docs/runbook.md" in lines[-1]
    assert len(lines) == len(expected) + 2  # one line each (found by tag and by name: still one), the summary
    assert "glue data quality rulesets in us-east-1: not implemented by this endpoint" in err


def test_other_projects_and_the_cdk_bootstrap_bucket_are_not_reported(aws, capsys):
    bucket("cdk-hnb659fds-assets-123456789012-us-east-1")
    bucket("alice-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f", ALICE)
    bucket("mlspec-data-lake-lookalike", ALICE)  # our name pattern, another project's tag
    bucket("mlspec2-data-lake-datalakeraw1f82835b-9f8e7d6c5b4a")  # another prefix that starts like ours
    bucket("unrelated-bucket", {"Project": "mlspec2"})
    key(ALICE)
    client("kinesis").create_stream(StreamName="alice-streaming-IngestStream404D06C0-Hx2kLm", ShardCount=1)
    log_group("alice-streaming-IngestDeliveryLogs55527FA4-Pq9rSt", ALICE)
    log_group("/aws/lambda/alice-data-lake-CustomS3AutoDeleteObjectsCustomRe-Uv3wXy")
    log_group("/aws/lambda/xmlspec-data-lake-handler")
    log_group("mlspec-network-lookalike-group", ALICE)
    endpoint("ServingEndpointC149CBA2-Other1", ALICE_ROLE, ALICE)
    model(f"alice-{EXECUTION}", ALICE_ROLE)
    model(f"mlspec2-{EXECUTION}", ROLE)  # another prefix that starts like ours, not like <prefix>-
    model(f"mlspec-dev-{EXECUTION}", DEV_ROLE)  # starts with mlspec- too: its role tells
    training_job(f"mlspec-dev-{EXECUTION}", DEV_ROLE, "InProgress")
    job_stream("/aws/sagemaker/TrainingJobs", f"mlspec-dev-{EXECUTION}")
    training_job(RUN, ROLE, "Completed")  # ended: cannot be deleted, costs nothing
    tuning_job(f"tune-{EXECUTION[:8]}", ROLE, "InProgress")  # the old naming: not this app's any more
    client("sagemaker").create_model_package_group(ModelPackageGroupName="alice-training-models")
    client("glue").create_security_configuration(Name="aliceglueetlEtlSecurityFC463669", EncryptionConfiguration={})
    client("glue").create_database(DatabaseInput={"Name": "alice_lake"})
    client("athena").create_work_group(Name="alice-lake")
    stack("alice-network", ALICE)
    stack("mlspec-network", TAGS)
    client("cloudformation").delete_stack(StackName="mlspec-network")  # DELETE_COMPLETE: gone

    code, lines, _ = run(capsys)

    assert (code, lines) == (0, [f"Nothing left of mlspec in account {ACCOUNT} ({REGION})."])


def test_the_prefix_selects_the_copy(aws, capsys):
    bucket("mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f", TAGS)
    bucket("alice-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f", ALICE)
    model(f"alice-{EXECUTION}", ALICE_ROLE)
    model(RUN, ROLE)

    code, lines, _ = run(capsys, "--prefix", "alice")

    assert code == 1
    assert reported(lines, "s3 bucket", "alice-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f")
    assert reported(lines, "sagemaker model", f"alice-{EXECUTION}")
    assert not reported(lines, "s3 bucket", "mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f")
    assert not reported(lines, "sagemaker model", RUN)
    assert lines[-1].startswith("2 leftover(s) of alice")


def test_a_prefix_and_a_longer_one_each_find_their_own(aws, capsys):
    """mlspec-dev's runs start with mlspec- too: with default (UUID) execution names each copy's are told apart
    by name, and an ambiguous name by the role the resource runs with."""
    dev_run = f"mlspec-dev-{EXECUTION}"
    for name, role in ((RUN, ROLE), (dev_run, DEV_ROLE)):
        model(name, role)
        endpoint_config(name, name)
        training_job(name, role, "Completed")
        job_stream("/aws/sagemaker/TrainingJobs", name)

    code, lines, _ = run(capsys)

    assert code == 1
    assert reported(lines, "sagemaker model", RUN)
    assert reported(lines, "sagemaker endpoint config", RUN)
    assert reported(lines, "log streams", "/aws/sagemaker/TrainingJobs (1 x mlspec-*)")
    assert not [line for line in lines if dev_run in line]
    assert lines[-1].startswith("3 leftover(s) of mlspec ")

    code, lines, _ = run(capsys, "--prefix", "mlspec-dev")

    assert code == 1
    assert reported(lines, "sagemaker model", dev_run)
    assert reported(lines, "sagemaker endpoint config", dev_run)
    assert reported(lines, "log streams", "/aws/sagemaker/TrainingJobs (1 x mlspec-dev-*)")
    assert not reported(lines, "sagemaker model", RUN)
    assert lines[-1].startswith("3 leftover(s) of mlspec-dev ")


def test_an_ambiguous_name_whose_role_is_gone_is_left_to_a_human(aws, capsys):
    """A custom execution name: mlspec-nightly-7 is mlspec's run nightly-7 or mlspec-nightly's run 7."""
    for name in ("mlspec-nightly-7", RUN):
        model(name, ROLE)
        endpoint_config(name, name)
        client("sagemaker").delete_model(ModelName=name)  # as the quality gate does: the role is gone
    job_stream("/aws/sagemaker/TransformJobs", "mlspec-nightly-7-val")  # its job is gone from moto too

    code, lines, _ = run(capsys)

    assert code == 1
    (line,) = reported(lines, "sagemaker endpoint config", "mlspec-nightly-7")
    assert line.startswith("info")
    assert "a copy with a longer prefix (mlspec-...) could have named it too" in line
    assert "check manually" in line
    (line,) = reported(lines, "log streams", "/aws/sagemaker/TransformJobs (1 x mlspec-* of jobs it cannot attribute)")
    assert line.startswith("info")
    assert reported(lines, "sagemaker endpoint config", RUN)[0].startswith("LEFTOVER")  # a UUID: mlspec's by name
    assert lines[-1].startswith("1 leftover(s) of mlspec ")

    code, lines, _ = run(capsys, "--prefix", "mlspec-nightly")  # its names are not ambiguous: counted
    assert code == 1
    assert reported(lines, "sagemaker endpoint config", "mlspec-nightly-7")[0].startswith("LEFTOVER")
    # mlspec-nightly-7-val could still be the run val of a copy mlspec-nightly-7
    label = "/aws/sagemaker/TransformJobs (1 x mlspec-nightly-* of jobs it cannot attribute)"
    assert reported(lines, "log streams", label)[0].startswith("info")
    assert not reported(lines, "sagemaker endpoint config", RUN)


def test_an_endpoint_whose_model_is_gone_is_attributed_by_the_config_it_was_rolled_to(aws, capsys):
    model(RUN, ROLE)
    endpoint_config(RUN, RUN)
    client("sagemaker").create_endpoint(EndpointName="ServingEndpointC149CBA2-Zz8Yy7", EndpointConfigName=RUN)
    client("sagemaker").delete_model(ModelName=RUN)

    code, lines, _ = run(capsys)
    assert code == 1
    assert reported(lines, "sagemaker endpoint", "ServingEndpointC149CBA2-Zz8Yy7")[0].startswith("LEFTOVER")

    code, lines, _ = run(capsys, "--prefix", "alice")
    assert (code, lines) == (0, [f"Nothing left of alice in account {ACCOUNT} ({REGION})."])


@pytest.mark.parametrize(
    ("prefix", "name", "ours"),
    [
        ("mlspec", RUN, True),
        ("mlspec", f"{RUN}-val", True),
        ("mlspec", f"{RUN}-test", True),
        ("mlspec", TUNING, True),
        ("mlspec", f"{TUNING}-001-5f3e2a1b", True),  # a tuning job's training job
        ("mlspec", "mlspec-nightly", True),  # no hyphen: no longer prefix could have given it
        ("mlspec", f"mlspec-dev-{EXECUTION}", None),  # mlspec-dev's run, or mlspec's run dev-<uuid>
        ("mlspec", "mlspec-nightly-7", None),
        ("mlspec", f"mlspec--{EXECUTION}", None),  # a prefix may end in a hyphen: mlspec-
        ("mlspec", f"mlspec2-{EXECUTION}", False),
        ("mlspec", f"tune-{EXECUTION[:8]}", False),
        ("mlspec", f"MLSPEC-{EXECUTION}", False),
        ("mlspec-dev", f"mlspec-dev-{EXECUTION}", True),
        ("mlspec-dev", RUN, False),
        ("a" * 20, f"{'a' * 20}-nightly-7", True),  # a longer prefix would pass 20 characters
        ("a" * 18, f"{'a' * 18}-x-7", None),  # aaa...-x is a valid prefix (20 characters)
        ("a" * 18, f"{'a' * 18}-xy-7", True),  # aaa...-xy is not (21)
    ],
)
def test_run_time_names_are_told_apart_by_prefix(prefix, name, ours):
    scan = leftovers.Scan(None, prefix, [REGION], ACCOUNT, "aws")  # type: ignore[arg-type]  # no AWS: names only
    assert scan._name_is_ours(name) is ours


def test_a_key_pending_deletion_is_not_a_leftover(aws, capsys):
    arn = key(TAGS)
    client("kms").schedule_key_deletion(KeyId=arn.rsplit("/", 1)[1], PendingWindowInDays=7)  # moto: not by ARN

    code, lines, _ = run(capsys)

    assert code == 0
    (line,) = reported(lines, "kms key", arn)
    assert line.startswith("info")
    assert "PendingDeletion" in line
    assert "not a leftover" in line
    assert lines[-1] == f"Nothing left of mlspec in account {ACCOUNT} ({REGION})."


def test_several_regions_each_resource_once_with_its_region(aws, capsys):
    bucket("mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f", TAGS, region="eu-west-1")
    log_group("mlspec-network-NetworkFlowLogs2BEC3212-Ab12Cd", TAGS, region="eu-west-1")

    code, lines, _ = run(capsys, "--region", REGION, "--region", "eu-west-1")

    assert code == 1
    (bucket_line,) = reported(lines, "s3 bucket", "mlspec-data-lake-datalakeraw1f82835b-1a2b3c4d5e6f")
    assert (
        "(eu-west-1)  name starts with mlspec-<stack>- (generated from the stack); tagged Project=mlspec" in bucket_line
    )
    (group_line,) = reported(lines, "log group", "mlspec-network-NetworkFlowLogs2BEC3212-Ab12Cd")
    assert "(eu-west-1)" in group_line
    assert f"in account {ACCOUNT} (us-east-1, eu-west-1)" in lines[-1]


def test_tag_hits_of_deleted_resources_are_dropped(aws, capsys, monkeypatch):
    """The Tagging API can list a resource for a while after it is deleted: each hit is read back first."""
    gone = [
        "arn:aws:s3:::mlspec-data-lake-datalakeraw1f82835b-deleted",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:mlspec-streaming-IngestDeliveryLogs55527FA4-deleted",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/servingendpointc149cba2-deleted",
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/mlspec-alerts/0a1b2c3d-0000-0000-0000-000000000000",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0a1b2c3d4e5f67890",
        f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:TrainingWorkflow3D4B1608-deleted",
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:mlspec-serving-ServingErrors5xxAlarm4096F11C-deleted",
    ]
    vpc = client("ec2").create_vpc(
        CidrBlock="10.0.0.0/24", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag_list(TAGS)}]
    )["Vpc"]["VpcId"]
    live = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{vpc}"
    unverifiable = f"arn:aws:sqs:{REGION}:{ACCOUNT}:mlspec-dead-letters"
    monkeypatch.setattr(leftovers.Scan, "_tagged_arns", lambda self, region: iter([*gone, live, unverifiable]))

    code, lines, _ = run(capsys)

    assert code == 1
    assert lines[:2] == [
        f"LEFTOVER  ec2 vpc  {vpc}  (us-east-1)  tagged Project=mlspec",
        "LEFTOVER  sqs queue  mlspec-dead-letters  (us-east-1)  tagged Project=mlspec (not verified: no read-back "
        "for this type, and the Tagging API can list a resource for a while after it is deleted)",
    ]
    assert lines[2].startswith("2 leftover(s)")


def test_a_check_that_cannot_run_fails_the_run(aws, capsys, monkeypatch):
    from botocore.exceptions import ClientError

    def denied(self, region):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no athena"}}, "ListWorkGroups")

    monkeypatch.setattr(leftovers.Scan, "workgroups", denied)

    code, lines, err = run(capsys)

    assert code == 1
    assert "warning: could not check athena workgroups in us-east-1: AccessDeniedException: no athena" in err
    assert lines == ["1 check(s) could not run (see stderr): the account may hold more leftovers."]


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
    """STACK_SUFFIXES, run_prefix and DEFAULT_RUN copy the app's naming (importing the stacks or constructs would
    start jsii): pinned to their sources, read as text."""
    from ml_config.config import ConfigError, load_config

    stacks = (ROOT / "stacks" / "__init__.py").read_text()
    assert set(re.findall(r'f"\{config\.prefix\}-([a-z-]+)"', stacks)) == set(leftovers.STACK_SUFFIXES)
    # run-time names: <config prefix>- in the training stack, the default copy's prefix in the construct
    training_stack = (ROOT / "stacks" / "training_stack.py").read_text()
    assert re.findall(r"job_prefix=(.+),$", training_stack, flags=re.MULTILINE) == ['f"{config.prefix}-"']
    assert leftovers.run_prefix("alice") == "alice-"
    training = (ROOT / "ml_constructs" / "training" / "construct.py").read_text()
    (default,) = re.findall(r'^DEFAULT_JOB_PREFIX = "([^"]+)"$', training, flags=re.MULTILINE)
    assert default == leftovers.run_prefix(load_config({}).prefix)
    # the names DEFAULT_RUN expects after the prefix: the execution name, -val, -test, its first part (tuning)
    states = (ROOT / "ml_constructs" / "training" / "states.py").read_text()
    training += states
    assert '"run.$": f"States.Format(\'{job_prefix}{{}}\', $$.Execution.Name)"' in states
    assert "States.Format('{}-val', $.names.run)" in training
    assert "States.Format('{}-test', $.names.run)" in training
    assert (
        "f\"States.Format('{job_prefix}{{}}', \"\n"
        "                    \"States.ArrayGetItem(States.StringSplit($$.Execution.Name, '-'), 0))\""
    ) in states
    for field in ("TrainingJobName", "ModelName", "EndpointConfigName"):  # or the best of the tuning's jobs
        assert set(re.findall(rf'"{field}\.\$": "([^"]+)"', training)) <= {"$.names.run", "$.tuning.best"}, field
    # MAX_PREFIX is the config's longest prefix
    load_config({"prefix": "a" * leftovers.MAX_PREFIX})
    with pytest.raises(ConfigError):
        load_config({"prefix": "a" * (leftovers.MAX_PREFIX + 1)})
    assert 'model_package_group_name=f"{cdk.Stack.of(self).stack_name}-models"' in training
    data_lake = (ROOT / "stacks" / "data_lake_stack.py").read_text()
    assert "database_name = f\"{prefix.lower().replace('-', '_')}_lake\"" in data_lake
    glue_stack = (ROOT / "stacks" / "glue_etl_stack.py").read_text()
    assert 'workgroup_name=f"{config.prefix}-lake"' in glue_stack


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
    ],
)
def test_parse_arn(arn, parsed):
    assert leftovers.parse_arn(arn) == parsed
