"""The idle-endpoint guard's handler against moto: an endpoint idle for the window is deleted and the topic told
exactly once; one invoked in the window, or too young to have been idle that long, is untouched; a second run finds
nothing to do and says nothing. The operations it makes are exactly those the IAM check declares for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ml_constructs.serving.runtime import idle_guard
from tools.iam.rows_ops import GUARD_OPERATIONS

pytestmark = pytest.mark.usefixtures("offline_aws")

ENDPOINT, VARIANT, HOURS = "mlspec-endpoint", "AllTraffic", 8


@dataclass
class Aws:
    sagemaker: Any
    cloudwatch: Any
    sns: Any
    sqs: Any
    topic: str
    inbox: str
    created: datetime  # when moto created the endpoint (its CreationTime and LastModifiedTime)
    operations: list[str]  # every operation of the three clients, the test's own included
    handler_operations: tuple[str, ...] = ()  # the operations of the last handler run only

    def run(self, now: datetime) -> dict[str, Any]:
        event = {"endpoint_name": ENDPOINT, "idle_hours": HOURS, "topic_arn": self.topic}
        self.operations.clear()
        try:
            return idle_guard.handler(
                event, None, sagemaker=self.sagemaker, cloudwatch=self.cloudwatch, sns=self.sns, now=now
            )
        finally:
            self.handler_operations = tuple(self.operations)

    def notifications(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]

    def invoked(self, at: datetime, count: float = 3) -> None:
        """What SageMaker publishes for an invoked endpoint: AWS/SageMaker Invocations by endpoint and variant."""
        self.cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": ENDPOINT},
                        {"Name": "VariantName", "Value": VARIANT},
                    ],
                    "Timestamp": at,
                    "Value": count,
                    "Unit": "None",
                }
            ],
        )


def create_endpoint(sagemaker: Any, name: str) -> None:
    """An endpoint in moto with one variant (``VARIANT``), its config ``config`` and its model ``model``."""
    sagemaker.create_model(
        ModelName="model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/model",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="config",
        ProductionVariants=[
            {
                "VariantName": VARIANT,
                "ModelName": "model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.t2.medium",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName="config")


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        sagemaker = boto3.client("sagemaker")
        create_endpoint(sagemaker, ENDPOINT)
        created = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["LastModifiedTime"]
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        operations: list[str] = []
        clients = {"sagemaker": sagemaker, "cloudwatch": boto3.client("cloudwatch"), "sns": sns}
        for client in clients.values():
            client.meta.events.register("before-call", lambda model, **_: operations.append(model.name))
        yield Aws(sagemaker, clients["cloudwatch"], sns, sqs, topic, inbox, created, operations)


def endpoint_exists(aws: Aws) -> bool:
    return any(e["EndpointName"] == ENDPOINT for e in aws.sagemaker.list_endpoints()["Endpoints"])


def test_an_endpoint_idle_for_the_window_is_deleted_and_the_topic_told_once(aws):
    now = aws.created + timedelta(hours=HOURS + 1)  # old enough, and no invocation since it was created
    result = aws.run(now)
    assert result == {"endpoint_name": ENDPOINT, "action": "delete", "invocations": 0.0}
    assert not endpoint_exists(aws)
    assert [e["EndpointConfigName"] for e in aws.sagemaker.list_endpoint_configs()["EndpointConfigs"]] == ["config"]
    (message,) = aws.notifications()
    assert (message["endpoint_name"], message["idle_hours"], message["endpoint_config_name"]) == (
        ENDPOINT,
        HOURS,
        "config",
    )
    # what it called is exactly what the IAM check declares for it (tools/iam/rows_ops.py)
    assert set(aws.handler_operations) == set(GUARD_OPERATIONS)


def test_a_second_run_finds_nothing_to_do_and_says_nothing(aws):
    now = aws.created + timedelta(hours=HOURS + 1)
    aws.run(now)
    aws.notifications()  # the first run's message
    assert aws.run(now + timedelta(hours=1))["action"] == "absent"
    assert aws.notifications() == []


def test_an_endpoint_invoked_in_the_window_is_left_alone(aws):
    now = aws.created + timedelta(hours=HOURS + 1)
    aws.invoked(now - timedelta(hours=HOURS - 1))  # inside the window, near its start
    result = aws.run(now)
    assert (result["action"], result["invocations"]) == ("active", 3.0)
    assert endpoint_exists(aws)
    assert aws.notifications() == []
    assert "DeleteEndpoint" not in aws.handler_operations


def test_invocations_before_the_window_do_not_keep_it(aws):
    now = aws.created + timedelta(hours=2 * HOURS)
    aws.invoked(now - timedelta(hours=HOURS + 2))  # before the window: idle for the last HOURS
    assert aws.run(now)["action"] == "delete"


def test_an_endpoint_younger_than_the_window_is_left_alone(aws):
    """Just deployed or restored: no invocation yet, but it has not been idle for the window."""
    assert aws.run(aws.created + timedelta(hours=HOURS - 1))["action"] == "recent"
    assert endpoint_exists(aws)
    assert aws.notifications() == []


@pytest.mark.parametrize(("status", "expected"), [("Updating", "busy"), ("InService", "delete"), (None, "absent")])
def test_decide_acts_only_on_an_endpoint_in_service(status, expected):
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    endpoint = None if status is None else {"EndpointStatus": status, "LastModifiedTime": now - timedelta(days=2)}
    assert idle_guard.decide(endpoint, 0, now, HOURS) == expected


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"endpoint_name": ENDPOINT, "idle_hours": 8}, "keys"),
        ({"endpoint_name": ENDPOINT, "idle_hours": 0, "topic_arn": "arn:aws:sns:x"}, "idle_hours=0"),
        ({"endpoint_name": ENDPOINT, "idle_hours": True, "topic_arn": "arn:aws:sns:x"}, "idle_hours=True"),
        ({"endpoint_name": "", "idle_hours": 8, "topic_arn": "arn:aws:sns:x"}, "endpoint_name"),
        ({"endpoint_name": ENDPOINT, "idle_hours": 8, "topic_arn": "alerts"}, "topic_arn"),
    ],
)
def test_a_bad_event_is_refused_in_one_line(event, message):
    with pytest.raises(idle_guard.InvalidEventError, match=message):
        idle_guard.check_event(event)
