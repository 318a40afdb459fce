"""Restoring the endpoint the idle guard deleted (``tools.restore_endpoint``): the plan read from the synthesized
serving template, and the restore against moto: the same name, config and tags, and the autoscaling SageMaker
deregistered with the endpoint; nothing to do when it exists."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from ml_constructs.serving.construct import VARIANT
from ml_constructs.serving.runtime import idle_guard
from tests.conftest import resources
from tests.serving.test_idle_guard import create_endpoint
from tools import restore_endpoint

pytestmark = pytest.mark.usefixtures("offline_aws")

CONFIG_ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/config"


def sandbox_plan(sandbox, endpoint_name: str = "ep") -> restore_endpoint.Plan:
    template = sandbox.template(sandbox.stacks.serving)
    (config_id,) = resources(template, "AWS::SageMaker::EndpointConfig")
    return restore_endpoint.plan_from(template, {config_id: CONFIG_ARN}, endpoint_name)


def test_the_plan_is_what_the_serving_stack_deploys(sandbox):
    plan = sandbox_plan(sandbox)
    serving = sandbox.config.serving
    key = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/ep/variant/{VARIANT}",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    assert plan.endpoint_config_arn == CONFIG_ARN
    assert {t["Key"]: t["Value"] for t in plan.tags} == {"Project": "mlspec", "Profile": "sandbox"}
    assert plan.target == {**key, "MinCapacity": serving.min_capacity, "MaxCapacity": serving.max_capacity}
    ((policy),) = plan.policies
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == serving.target_invocations_per_instance


class Scaling:
    """Application Auto Scaling as far as the restore uses it: what was registered and put. (moto's backend for it
    imports its EC2 backend, seconds of loading for two calls whose arguments are the point here.)"""

    def __init__(self) -> None:
        self.targets: list[dict] = []
        self.policies: list[dict] = []

    def register_scalable_target(self, **target: object) -> None:
        self.targets.append(target)

    def put_scaling_policy(self, **policy: object) -> None:
        self.policies.append(policy)


def test_guard_then_restore_brings_the_same_endpoint_back_with_its_scaling(sandbox):
    plan = sandbox_plan(sandbox, "mlspec-endpoint")
    messages: list[str] = []
    scaling = Scaling()
    with mock_aws():
        sagemaker = boto3.client("sagemaker")
        create_endpoint(sagemaker, "mlspec-endpoint")
        topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
        created = sagemaker.describe_endpoint(EndpointName="mlspec-endpoint")["LastModifiedTime"]
        event = {"endpoint_name": "mlspec-endpoint", "idle_hours": 8, "topic_arn": topic}
        assert idle_guard.handler(event, now=created + timedelta(hours=9))["action"] == "delete"

        done = restore_endpoint.restore(plan, sagemaker, scaling, progress=messages.append, poll_seconds=0)
        assert done == "restored"
        endpoint = sagemaker.describe_endpoint(EndpointName="mlspec-endpoint")
        assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", "config")
        tags = sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]
        assert {t["Key"]: t["Value"] for t in tags} == {"Project": "mlspec", "Profile": "sandbox"}
        # registered again only once the endpoint was InService, as the stack declares it
        assert scaling.targets == [plan.target]
        assert scaling.targets[0]["ResourceId"] == f"endpoint/mlspec-endpoint/variant/{VARIANT}"
        assert scaling.policies == plan.policies
        # a second restore finds the endpoint and changes nothing
        assert restore_endpoint.restore(plan, sagemaker, scaling, progress=messages.append) == "exists"
    assert messages[-1] == "endpoint mlspec-endpoint exists: nothing to restore"


def test_an_unknown_config_is_one_clear_error():
    with mock_aws(), pytest.raises(LookupError, match="--endpoint-config"):
        restore_endpoint.config_name(boto3.client("sagemaker"), CONFIG_ARN)


def test_a_missing_stack_is_one_line_and_exit_2(monkeypatch, capsys):
    """What CloudFormation answers for a stack that does not exist, as one line (moto's CloudFormation backend
    would load every other backend for this one error)."""
    from botocore.exceptions import ClientError

    def no_stack(cloudformation, stack):
        error = {"Error": {"Code": "ValidationError", "Message": f"Stack with id {stack} does not exist"}}
        raise ClientError(error, "DescribeStackResources")

    monkeypatch.setattr(restore_endpoint, "plan_of_stack", no_stack)
    assert restore_endpoint.main(["--prefix", "nosuch"]) == restore_endpoint.EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("restore-endpoint: cannot read the stack nosuch-serving")
    assert "does not exist" in line
