"""Declared calls that keep failures and bills in view: Lambda's dead-letter queues, AWS Budgets' notifications,
and the idle-endpoint guard's own calls.

The guard's calls are our own code's, declared here from its handler (``ml_constructs/serving/runtime/
idle_guard.py``) rather than recorded: the local sandbox does not run the guard (its endpoint is never idle for
hours). ``tests/serving/test_idle_guard.py`` runs the handler against moto and checks that the operations it
makes are exactly the ones ``GUARD_OPERATIONS`` lists, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tools.iam.calls import Call
from tools.iam.deployment import Deployment
from tools.iam.derive import Emitter
from tools.iam.rows_orchestration import _targets, _topic_key

#: The guard's API operations (what its handler calls, in boto3's names) and the IAM action each needs.
GUARD_OPERATIONS = {
    "DescribeEndpoint": "sagemaker:DescribeEndpoint",
    "GetMetricStatistics": "cloudwatch:GetMetricStatistics",
    "DeleteEndpoint": "sagemaker:DeleteEndpoint",
    "Publish": "sns:Publish",
}


def lambda_dead_letters(d: Deployment, e: Emitter) -> Iterator[Call]:
    """Lambda sends an asynchronous event that failed every attempt to the function's dead-letter queue, with
    the function's execution role."""
    for res in d.resources("AWS::Lambda::Function"):
        target = res.props.get("DeadLetterConfig", {}).get("TargetArn")
        if target:
            yield from e.call(res.props["Role"], "sqs:SendMessage", target, f"function {res.label}")


def events_dead_letters(d: Deployment, e: Emitter) -> Iterator[Call]:
    """EventBridge sends an event it could not deliver to a rule's target (after its retries) to that target's
    dead-letter queue, as the service (the queue's policy, scoped to the rule)."""
    for res, arn, target in _targets(d):
        queue = target.get("DeadLetterConfig", {}).get("Arn")
        if queue:
            context = {"aws:SourceArn": arn, "aws:SourceAccount": d.env.account}
            yield from e.call("events.amazonaws.com", "sqs:SendMessage", queue, f"rule {res.label}", context)


def _budget_context(d: Deployment, budget: Any) -> dict[str, str]:
    arn = d.env.arn("budgets", f"budget/{budget.ref}", region="")
    return {"aws:SourceArn": arn, "aws:SourceAccount": d.env.account}


def budgets_publish(d: Deployment, e: Emitter) -> Iterator[Call]:
    """A budget's notification published to its SNS subscriber, and the topic's key when it is encrypted."""
    for budget in d.resources("AWS::Budgets::Budget"):
        topics = {
            s["Address"]
            for n in budget.props.get("NotificationsWithSubscribers", [])
            for s in n["Subscribers"]
            if s["SubscriptionType"] == "SNS"
        }
        for topic in sorted(topics):
            context = _budget_context(d, budget)
            yield from e.call("budgets.amazonaws.com", "sns:Publish", topic, f"budget {budget.label}", context)
            key = _topic_key(d, topic)
            if key:
                actions = ["kms:GenerateDataKey", "kms:Decrypt"]
                yield from e.call("budgets.amazonaws.com", actions, key, f"budget {budget.label}", context)


def _guards(d: Deployment) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(rule label, the function's role, the event)`` of each schedule that runs the idle-endpoint guard."""
    for rule, _, target in _targets(d):
        event = json.loads(target["Input"]) if isinstance(target.get("Input"), str) else {}
        function = d.find("AWS::Lambda::Function", "Arn", target["Arn"])
        if function and {"endpoint_name", "idle_hours", "topic_arn"} <= set(event):
            yield rule.label, function.props["Role"], event


def idle_guard(d: Deployment, e: Emitter) -> Iterator[Call]:
    """The guard describes the endpoint, reads its invocations, deletes it (SageMaker deregisters its scalable
    target with the caller's permission) and publishes once to the encrypted alerts topic."""
    for label, role, event in _guards(d):
        endpoint = d.find("AWS::SageMaker::Endpoint", "EndpointName", event["endpoint_name"])
        arn = endpoint.ref if endpoint else d.env.arn("sagemaker", f"endpoint/{event['endpoint_name'].lower()}")
        why = f"idle guard of rule {label}"
        yield from e.call(role, GUARD_OPERATIONS["DescribeEndpoint"], arn, why)
        yield from e.call(role, GUARD_OPERATIONS["GetMetricStatistics"], "*", why)
        yield from e.call(role, GUARD_OPERATIONS["DeleteEndpoint"], arn, why)
        target = d.env.arn("application-autoscaling", f"scalable-target/{event['endpoint_name'].lower()}")
        yield from e.call(role, "application-autoscaling:DeregisterScalableTarget", target, f"{why} (DeleteEndpoint)")
        yield from e.call(role, GUARD_OPERATIONS["Publish"], event["topic_arn"], why)
        key = _topic_key(d, event["topic_arn"])
        if key:
            context = {"kms:ViaService": d.env.endpoint("sns")}
            yield from e.call(role, ["kms:GenerateDataKey", "kms:Decrypt"], key, why, context)
