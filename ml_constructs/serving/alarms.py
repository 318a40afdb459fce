"""The endpoint's alarms: server errors of the model containers and model latency, both to the alerts topic (on
alarm and back to OK), and the ones a blue/green update watches to roll itself back.

They carry names: the endpoint's ``AutoRollbackConfiguration`` names its alarms and the alarms name the endpoint
in their dimensions, so one of the two must be known before the other exists (CloudFormation refuses the cycle).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_constructs.common import notify


def alarm_names(scope: Construct) -> dict[str, str]:
    """``<stack>-<construct path>-<alarm>`` for each alarm (unique per stack and construct; at most 255 characters)."""
    stack = cdk.Stack.of(scope)
    path = "-".join(n for n in scope.node.path.split("/")[1:])  # below the stack
    return {kind: f"{stack.stack_name}-{path}-{kind}"[:255] for kind in ("Errors5xx", "Latency")}


def endpoint_alarms(
    scope: Construct,
    endpoint_name: str,
    variant: str,
    latency_alarm_ms: int,
    alerts: sns.ITopic,
    names: dict[str, str],
) -> dict[str, cloudwatch.Alarm]:
    """Any 5XX answer in 5 minutes; average ``ModelLatency`` above ``latency_alarm_ms`` for 15 minutes; named
    ``names`` (``alarm_names``)."""
    dimensions = {"EndpointName": endpoint_name, "VariantName": variant}
    alarms = {
        "Errors5xx": cloudwatch.Alarm(
            scope,
            "Errors5xxAlarm",
            alarm_name=names["Errors5xx"],
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="Invocation5XXErrors",
                dimensions_map=dimensions,
                statistic="Sum",
                period=cdk.Duration.minutes(5),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="The endpoint answered with a server error (either container of the pipeline)",
        ),
        "Latency": cloudwatch.Alarm(
            scope,
            "LatencyAlarm",
            alarm_name=names["Latency"],
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="ModelLatency",  # microseconds
                dimensions_map=dimensions,
                statistic="Average",
                period=cdk.Duration.minutes(5),
            ),
            threshold=latency_alarm_ms * 1000,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="Average model latency above serving.latency_alarm_ms for 15 minutes",
        ),
    }
    for alarm in alarms.values():
        notify(alarm, alerts).add_ok_action(actions.SnsAction(alerts))
    return alarms
