"""IdleEndpointGuard alone in a bare stack: the schedule and its event, a role limited to one endpoint, the
dead-letter queue and the failure alarms."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from ml_constructs.serving.idle_guard import IdleEndpointGuard

ENDPOINT = "my-endpoint"
ENDPOINT_ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint"


def guard(stack: cdk.Stack, **props) -> Template:
    props.setdefault("idle_hours", 8)
    IdleEndpointGuard(
        stack,
        "Guard",
        endpoint_name=ENDPOINT,
        endpoint_arn=ENDPOINT_ARN,
        alerts=sns.Topic(stack, "Alerts"),
        key=kms.Key(stack, "Key"),
        **props,
    )
    return Template.from_stack(stack)


def test_hourly_schedule_sends_the_endpoint_hours_and_topic(stack):
    template = guard(stack, idle_hours=5)
    (rule,) = template.find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    target = rule["Properties"]["Targets"][0]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2}
    parts = target["Input"]["Fn::Join"][1]
    event = json.loads("".join(p if isinstance(p, str) else '"TOPIC"'[1:-1] for p in parts))
    assert event == {"endpoint_name": ENDPOINT, "idle_hours": 5, "topic_arn": "TOPIC"}


def test_the_function_is_small_traced_reserved_and_dead_lettered(stack):
    template = guard(stack)
    ((queue_id, queue),) = template.find_resources("AWS::SQS::Queue").items()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    template.has_resource_properties(
        "AWS::Lambda::Function",
        Match.object_like(
            {
                "Handler": "idle_guard.handler",
                "Runtime": "python3.14",
                "Timeout": 60,
                "ReservedConcurrentExecutions": 1,
                "TracingConfig": {"Mode": "Active"},
                "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}},
            }
        ),
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup", Match.object_like({"KmsKeyId": Match.object_like({"Fn::GetAtt": Match.any_value()})})
    )


def test_the_role_may_only_touch_this_endpoint(stack):
    template = guard(stack)
    (policy,) = [
        p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("GuardRoleDefaultPolicy")
    ]
    statements = {s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert sorted(statements["TheEndpoint"]["Action"]) == ["sagemaker:DeleteEndpoint", "sagemaker:DescribeEndpoint"]
    assert statements["TheEndpoint"]["Resource"] == ENDPOINT_ARN
    assert statements["ReadInvocations"]["Action"] == "cloudwatch:GetMetricStatistics"
    assert statements["Notify"]["Action"] == "sns:Publish"
    assert statements["EncryptedTopic"]["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["sns.us-east-1.", {"Ref": "AWS::URLSuffix"}]]}}
    }
    every_action = {
        a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not any(
        a.startswith("sagemaker:") and a not in {"sagemaker:DeleteEndpoint", "sagemaker:DescribeEndpoint"}
        for a in every_action
    )


def test_failure_alarms_watch_the_hourly_guard(stack):
    template = guard(stack)
    alarms = {
        k.split("Alarm")[0]: v["Properties"] for k, v in template.find_resources("AWS::CloudWatch::Alarm").items()
    }
    assert sorted(alarms) == ["GuardDeadLetter", "GuardErrors", "GuardHeartbeat"]
    heartbeat = alarms["GuardHeartbeat"]
    assert {m["MetricStat"]["Period"] for m in heartbeat["Metrics"] if "MetricStat" in m} == {3600}
    assert (heartbeat["EvaluationPeriods"], heartbeat["TreatMissingData"]) == (2, "breaching")


@pytest.mark.parametrize("hours", [0, 169])
def test_hours_out_of_range_are_refused(stack, hours):
    with pytest.raises(ValueError, match="1 to 168"):
        guard(stack, idle_hours=hours)
