"""What keeps a function that nobody calls by hand from failing in silence, in one place: its dead-letter queue,
and the three alarms that tell the alerts topic (docs/runbook.md says what each means and what to do).

- ``dead_letter_queue``: Lambda puts an asynchronous event there once its retries are spent (the functions here
  are started by EventBridge, asynchronously). SQS-managed encryption (the message is the schedule's event:
  bucket and endpoint names, no data), TLS-only, kept 14 days (the SQS maximum) so that a failure over a long
  weekend is still there to read and redrive.
- ``dead_letter_alarm``: a message is waiting in that queue (events that failed every attempt).
- ``errors_alarm``: the function's ``Errors`` (any failed attempt, retried or not).
- ``heartbeat_alarm``: no successful run in the schedule's window (``Invocations - Errors`` below 1, missing data
  breaching): the one alarm that also hears a schedule that stopped firing or a function that was never invoked.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ml_constructs.common import notify

#: How long a failed event stays in a dead-letter queue: the SQS maximum.
DLQ_RETENTION = cdk.Duration.days(14)
#: An alarm's evaluation range (period x evaluation periods) may not exceed 7 days for periods of an hour or
#: more (PutMetricAlarm, CloudWatch API reference, checked 2026-12).
MAX_EVALUATION_RANGE = cdk.Duration.days(7)


def dead_letter_queue(
    scope: Construct, construct_id: str, *, removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY
) -> sqs.Queue:
    """An SQS queue for a function's failed asynchronous events: SSE-SQS, TLS-only, 14 days' retention."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DLQ_RETENTION,
        removal_policy=removal_policy,
    )


def dead_letter_alarm(scope: Construct, queue: sqs.IQueue, topic: sns.ITopic, what: str) -> cloudwatch.Alarm:
    """Any message visible in ``queue`` (SQS publishes every 5 minutes): an event of ``what`` failed every
    attempt. Notifies on ALARM and back on OK (the queue was drained or redriven)."""
    alarm = cloudwatch.Alarm(
        scope,
        "DeadLetterAlarm",
        metric=queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=cdk.Duration.minutes(5)),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=f"{what}: an event failed every attempt and waits in the dead-letter queue",
    )
    notify(alarm, topic).add_ok_action(actions.SnsAction(topic))
    return alarm


def errors_alarm(scope: Construct, function: lambda_.IFunction, topic: sns.ITopic, what: str) -> cloudwatch.Alarm:
    """Any error of ``function`` in 5 minutes (each failed attempt counts, retries included). An error is an
    event, not a state: ALARM only, no OK message 5 minutes later."""
    alarm = cloudwatch.Alarm(
        scope,
        "ErrorsAlarm",
        metric=function.metric_errors(statistic="Sum", period=cdk.Duration.minutes(5)),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,  # no invocation, no error: the heartbeat's job
        alarm_description=f"{what}: the function failed (see its log group)",
    )
    notify(alarm, topic)
    return alarm


def heartbeat_periods(every: cdk.Duration) -> int:
    """Two windows in a row, or one when two would exceed CloudWatch's 7-day evaluation range."""
    return 2 if every.to_seconds() * 2 <= MAX_EVALUATION_RANGE.to_seconds() else 1


def heartbeat_alarm(
    scope: Construct, function: lambda_.IFunction, topic: sns.ITopic, every: cdk.Duration, what: str
) -> cloudwatch.Alarm:
    """No successful run of ``function`` (scheduled once per ``every``) in two windows in a row.

    Successful runs = ``Invocations - Errors`` per window; a window without any invocation has no data, and
    missing data breaches. Two windows, not one: CloudWatch's periods are aligned to the clock, the schedule's to
    its creation time, so a run a few seconds late can land in the next period and leave one empty. (One window
    when ``every`` exceeds 3.5 days: the evaluation range is at most 7 days.)
    """
    periods = heartbeat_periods(every)
    successes = cloudwatch.MathExpression(
        expression="invocations - FILL(errors, 0)",
        using_metrics={
            "invocations": function.metric_invocations(statistic="Sum", period=every),
            "errors": function.metric_errors(statistic="Sum", period=every),
        },
        period=every,
        label="Successful runs",
    )
    alarm = cloudwatch.Alarm(
        scope,
        "HeartbeatAlarm",
        metric=successes,
        threshold=1,
        evaluation_periods=periods,
        datapoints_to_alarm=periods,
        comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        alarm_description=f"{what}: no successful run in {periods} scheduled window(s) (failing, or not started)",
    )
    notify(alarm, topic).add_ok_action(actions.SnsAction(topic))
    return alarm
