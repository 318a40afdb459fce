"""The idle-endpoint guard's Lambda handler (``idle_guard.handler``): delete a real-time endpoint that nobody
has invoked for ``idle_hours``, keep its model and endpoint config, and tell the alerts topic once.

Standard library and boto3 only. The decision is pure (``decide``); the handler only reads and acts. Why the
endpoint is deleted rather than scaled: a real-time endpoint without inference components keeps at least one
instance (``MinCapacity`` >= 1), so only deleting it stops the bill; how to restore it: docs/runbook.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

REQUIRED_KEYS = ("endpoint_name", "idle_hours", "topic_arn")
MAX_IDLE_HOURS = 168
#: Endpoint states the guard acts in; in any other (Creating, Updating, SystemUpdating, RollingBack, Deleting,
#: Failed, ...) something else is at work on the endpoint and the guard leaves it alone.
IN_SERVICE = "InService"


class InvalidEventError(ValueError):
    """The event does not follow the contract in ``handler``'s docstring."""


def check_event(event: object) -> tuple[str, int, str]:
    """``(endpoint_name, idle_hours, topic_arn)`` from the event, or ``InvalidEventError``."""
    if not isinstance(event, Mapping) or any(key not in event for key in REQUIRED_KEYS):
        raise InvalidEventError(f"the event must be a JSON object with keys {list(REQUIRED_KEYS)}")
    name, hours, topic = event["endpoint_name"], event["idle_hours"], event["topic_arn"]
    if not isinstance(name, str) or not name:
        raise InvalidEventError(f"endpoint_name={name!r} is not allowed: an endpoint name")
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_IDLE_HOURS:
        raise InvalidEventError(f"idle_hours={hours!r} is not allowed: a whole number of hours, 1 to {MAX_IDLE_HOURS}")
    if not isinstance(topic, str) or not topic.startswith("arn:"):
        raise InvalidEventError(f"topic_arn={topic!r} is not allowed: an SNS topic ARN")
    return name, hours, topic


def decide(endpoint: Mapping[str, Any] | None, invocations: float, now: datetime, idle_hours: int) -> str:
    """What to do: ``absent`` (already gone: nothing to do, nothing to say), ``busy`` (not InService), ``recent``
    (created or changed within the window: too young to have been idle that long), ``active`` (invoked in the
    window) or ``delete``."""
    if endpoint is None:
        return "absent"
    if endpoint.get("EndpointStatus") != IN_SERVICE:
        return "busy"
    changed = endpoint.get("LastModifiedTime") or endpoint.get("CreationTime")
    if changed is not None and changed > now - timedelta(hours=idle_hours):
        return "recent"
    return "active" if invocations > 0 else "delete"


def describe(sagemaker: Any, name: str) -> dict[str, Any] | None:
    """The endpoint's description, or None when it does not exist."""
    try:
        return dict(sagemaker.describe_endpoint(EndpointName=name))
    except sagemaker.exceptions.ClientError as exc:
        if "Could not find endpoint" in str(exc):
            return None
        raise


def invocations(cloudwatch: Any, endpoint: Mapping[str, Any], now: datetime, idle_hours: int) -> float:
    """The endpoint's ``Invocations`` (every variant) in the last ``idle_hours``, hour by hour (AWS/SageMaker)."""
    total = 0.0
    for variant in endpoint.get("ProductionVariants", []):
        stats = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="Invocations",
            Dimensions=[
                {"Name": "EndpointName", "Value": endpoint["EndpointName"]},
                {"Name": "VariantName", "Value": variant["VariantName"]},
            ],
            StartTime=now - timedelta(hours=idle_hours),
            EndTime=now,
            Period=3600,
            Statistics=["Sum"],
        )
        total += sum(point["Sum"] for point in stats.get("Datapoints", []))
    return total


def handler(
    event: Mapping[str, Any],
    context: object = None,
    *,
    sagemaker: Any = None,
    cloudwatch: Any = None,
    sns: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Lambda entry point; the clients and ``now`` let tests pass their own. The event (every key required)::

        {"endpoint_name": "mlspec-endpoint", "idle_hours": 8, "topic_arn": "arn:aws:sns:...:alerts"}

    Returns ``{"endpoint_name", "action", "invocations"}``; ``action`` is one of ``decide``'s answers, and
    ``delete`` means the endpoint was deleted and the topic told. A second run finds it absent: no error, no
    second message.
    """
    name, idle_hours, topic = check_event(event)
    now = now or datetime.now(UTC)
    sagemaker = sagemaker or boto3.client("sagemaker")
    endpoint = describe(sagemaker, name)
    count = 0.0
    if endpoint is not None and endpoint.get("EndpointStatus") == IN_SERVICE:
        count = invocations(cloudwatch or boto3.client("cloudwatch"), endpoint, now, idle_hours)
    action = decide(endpoint, count, now, idle_hours)
    if action == "delete":
        sagemaker.delete_endpoint(EndpointName=name)  # first: a failed message must not leave the bill running
        (sns or boto3.client("sns")).publish(
            TopicArn=topic,
            Subject=f"Idle endpoint {name} deleted"[:100],
            Message=json.dumps(
                {
                    "endpoint_name": name,
                    "idle_hours": idle_hours,
                    "endpoint_config_name": endpoint["EndpointConfigName"] if endpoint else None,
                    "what_now": "The model and endpoint config are kept; docs/runbook.md, 'Idle-endpoint guard', "
                    "says how to restore the endpoint.",
                }
            ),
        )
    result = {"endpoint_name": name, "action": action, "invocations": count}
    LOG.info(json.dumps(result))
    return result
