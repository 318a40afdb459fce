"""The training workflow's alarms: failed, timed-out and aborted executions, each to the alerts topic.

The workflow's own ``NotifyFailure`` state reports the errors its Catch blocks see, with the error in the message.
These alarms hear what no Catch does: a ``States.Runtime`` error (``States.ALL`` does not catch it, Step Functions
developer guide, "Error handling", checked 2026-12), the execution's own timeout, an execution stopped by hand, and
a failure of ``NotifyFailure`` itself. A caught failure therefore brings two messages: the detailed one from the
workflow and this alarm's. An execution's end is an event, not a state: ALARM only, no OK message 5 minutes later.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ml_constructs.common import notify

PERIOD = cdk.Duration.minutes(5)


def workflow_alarms(scope: Construct, machine: sfn.StateMachine, topic: sns.ITopic) -> dict[str, cloudwatch.Alarm]:
    """One alarm per way an execution can end badly, by name: any such execution in 5 minutes alarms."""
    metrics = {
        "ExecutionsFailed": (machine.metric_failed, "a training execution failed (see its execution history)"),
        "ExecutionsTimedOut": (
            machine.metric_timed_out,
            "a training execution hit the workflow's timeout (a job ran long or hung)",
        ),
        "ExecutionsAborted": (machine.metric_aborted, "a training execution was stopped before it finished"),
    }
    alarms = {}
    for name, (metric, description) in metrics.items():
        alarms[name] = notify(
            cloudwatch.Alarm(
                scope,
                f"{name}Alarm",
                metric=metric(statistic="Sum", period=PERIOD),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,  # no execution is not a failure
                alarm_description=f"Training workflow: {description}",
            ),
            topic,
        )
    return alarms
