"""IdleEndpointGuard: a scheduled Lambda function that deletes the endpoint once nobody has invoked it for
``idle_hours``, and tells the alerts topic once.

Why delete: a real-time endpoint without inference components cannot scale to zero instances (Application Auto
Scaling's ``MinCapacity`` for ``sagemaker:variant:DesiredInstanceCount`` is at least 1; scaling to 0 needs
inference components, SageMaker developer guide "Scale an endpoint to zero instances", checked 2026-12), so an
idle endpoint bills every hour until it is deleted. The model and endpoint config stay: they cost nothing.

What it leaves (docs/runbook.md, "Idle-endpoint guard"): the serving stack still records the endpoint. Deleting
the stack works (CloudFormation's delete handlers report a resource that is already gone as deleted); redeploying
the serving stack alone restores it (``make restore-endpoint``): the endpoint is created again from the same
config, with its autoscaling, which SageMaker deregisters when it deletes the endpoint.

The caller controls the endpoint, the hours, the schedule's rate and the log retention. Fixed: the code
(``runtime/idle_guard.py``), a role that may only describe and delete this one endpoint, read metrics and
publish to the topic, a dead-letter queue, and the failure alarms of ``failures.py``.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_constructs.common import encrypted_log_group, key_through
from ml_constructs.failures import dead_letter_alarm, dead_letter_queue, errors_alarm, heartbeat_alarm
from ml_constructs.nag import WildcardLedger, acknowledge_function_outside_vpc

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
#: The guard accepts 1 to 168 hours (a week) without an invocation.
MAX_IDLE_HOURS = 168
#: How often the guard looks by default.
HOURLY = cdk.Duration.hours(1)


class IdleEndpointGuard(Construct):
    """Every ``check_every`` (default an hour), delete ``endpoint_name`` (ARN ``endpoint_arn``) when it had no
    invocation in the last ``idle_hours``; tell ``alerts`` (encrypted with ``key``) once."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        endpoint_arn: str,
        alerts: sns.ITopic,
        key: kms.IKey,
        idle_hours: int = 8,
        check_every: cdk.Duration = HOURLY,
        reserved_concurrency: int | None = 1,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= idle_hours <= MAX_IDLE_HOURS:
            raise ValueError(f"idle_hours={idle_hours}: the guard waits 1 to {MAX_IDLE_HOURS} hours")
        log_group = encrypted_log_group(self, "Logs", key=key, retention=log_retention, removal_policy=removal_policy)
        self.dead_letters = dead_letter_queue(self, "DeadLetters", removal_policy=removal_policy)
        self.function = lambda_.Function(
            self,
            "Guard",
            description="Deletes the endpoint after hours without an invocation (the model and config stay)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="idle_guard.handler",
            code=lambda_.Code.from_asset(str(RUNTIME_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=cdk.Duration.minutes(1),
            memory_size=256,
            role=self._role(endpoint_arn, alerts, key, log_group),
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            dead_letter_queue=self.dead_letters,
            reserved_concurrent_executions=reserved_concurrency,
        )
        #: What the schedule sends the guard: the contract in ``runtime/idle_guard.py``'s ``handler``.
        self.event = {"endpoint_name": endpoint_name, "idle_hours": idle_hours, "topic_arn": alerts.topic_arn}
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Checks whether the endpoint has been idle long enough to delete",
            schedule=events.Schedule.rate(check_every),
            targets=[
                targets.LambdaFunction(
                    self.function, event=events.RuleTargetInput.from_object(self.event), retry_attempts=2
                )
            ],
        )
        what = "Idle-endpoint guard"
        self.alarms = {
            "DeadLetters": dead_letter_alarm(self, self.dead_letters, alerts, what),
            "Errors": errors_alarm(self, self.function, alerts, what),
            "Heartbeat": heartbeat_alarm(self, self.function, alerts, check_every, what),
        }
        self._acknowledge(reserved=reserved_concurrency is not None)

    def _acknowledge(self, *, reserved: bool) -> None:
        """The conformance packs' findings kept on purpose, one resource at a time."""
        acknowledge_function_outside_vpc(
            self.function,
            reserved=reserved,
            why_outside="The guard reaches no resource inside the VPC: it calls the SageMaker and CloudWatch APIs and "
            "publishes to SNS, which the isolated subnets (no NAT, no interface endpoints) could not reach.",
        )

    def _role(self, endpoint_arn: str, alerts: sns.ITopic, key: kms.IKey, log_group: logs.ILogGroup) -> iam.Role:
        """Describe and delete this endpoint, read its metrics, publish to the alerts topic, write its logs."""
        ledger = WildcardLedger()
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Idle-endpoint guard: describe and delete one endpoint, read its metrics, notify",
        )
        stack = cdk.Stack.of(self)
        scalable_targets = stack.format_arn(
            service="application-autoscaling", resource="scalable-target", resource_name="*"
        )
        for statement in (
            iam.PolicyStatement(
                sid="TheEndpoint",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"],
                resources=[endpoint_arn],
            ),
            # DeleteEndpoint deregisters the variant's scalable target with the caller's permission (SageMaker
            # refuses the delete otherwise); scalable targets have generated ids, hence the pattern
            iam.PolicyStatement(
                sid="ItsScalableTarget",
                actions=["application-autoscaling:DeregisterScalableTarget"],
                resources=[scalable_targets],
            ),
            # no resource type: '*' (the metrics are read, never written)
            iam.PolicyStatement(sid="ReadInvocations", actions=["cloudwatch:GetMetricStatistics"], resources=["*"]),
            iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[alerts.topic_arn]),
            key_through(self, key, ["kms:GenerateDataKey", "kms:Decrypt"], "sns", sid="EncryptedTopic"),
            iam.PolicyStatement(
                sid="OwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
        ):
            role.add_to_policy(statement)
        ledger.track(role, scalable_targets, "*")  # '*': GetMetricStatistics here, and X-Ray's calls the tracing adds
        ledger.acknowledge(
            "Application Auto Scaling's scalable targets have generated ids (SageMaker deregisters the endpoint's "
            "when it deletes it); '*' only for CloudWatch GetMetricStatistics and X-Ray, which have no resource type."
        )
        return role
