"""The drift monitor of the endpoint: a scheduled Lambda function running ``drift_job`` (this directory's
``analyzer``), its metrics, and an alarm on violations.

It works in any account (Amazon SageMaker Model Monitor is closed to new customers): every
``window_hours`` an EventBridge schedule runs the job over the capture files of the last window; it writes
``constraint_violations.json`` and ``statistics.json`` to the artifacts zone, puts per-feature drift metrics,
and the alarm on ``ViolationCount`` notifies the alerts topic.

Precedence: the caller's validated ``MonitoringSettings``; encryption and IAM scoping are fixed.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_config.config import MonitoringSettings
from ml_constructs.nag import acknowledge_wildcard_resources

HERE = Path(__file__).resolve().parent
REPORTS_PREFIX = "monitoring/"


class DriftMonitor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: MonitoringSettings,
        endpoint_name: str,
        artifacts: s3.IBucket,
        capture_prefix: str,
        baseline_prefix: str,
        namespace: str,
        key: kms.IKey,
        alerts: sns.ITopic,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        log_group = logs.LogGroup(
            self, "Logs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Drift job: read capture/ and baselines/, write monitoring/, put drift metrics",
        )
        reads = [artifacts.arn_for_objects(f"{capture_prefix}*"), artifacts.arn_for_objects(f"{baseline_prefix}*")]
        writes = artifacts.arn_for_objects(f"{REPORTS_PREFIX}*")
        for statement in (
            iam.PolicyStatement(sid="ReadCaptureAndBaseline", actions=["s3:GetObject"], resources=reads),
            iam.PolicyStatement(
                sid="ListCapture",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{capture_prefix}*"]}},
            ),
            iam.PolicyStatement(sid="WriteReports", actions=["s3:PutObject"], resources=[writes]),
            iam.PolicyStatement(
                sid="LakeKeyThroughS3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}"}},
            ),
            iam.PolicyStatement(
                sid="DriftMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # no resource type; the namespace condition scopes it
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            ),
            iam.PolicyStatement(
                sid="OwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
        ):
            role.add_to_policy(statement)
        self.function = lambda_.Function(
            self,
            "Job",
            description="Drift of the captured endpoint traffic against the training baseline (Model Monitor formats)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="drift_job.handler",
            # this directory alone: analyzer.py and drift_job.py (standard library and boto3 only)
            code=lambda_.Code.from_asset(str(HERE), exclude=["construct.py", "__pycache__", "*.pyc"]),
            timeout=cdk.Duration.minutes(15),
            memory_size=1024,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert policy is not None
        acknowledge_wildcard_resources(
            policy,
            [*reads, writes, "*"],
            "Objects under the capture/, baselines/ and monitoring/ prefixes of the artifacts bucket (SageMaker names "
            "capture files by time), and '*' only for CloudWatch PutMetricData (namespace condition) and X-Ray.",
        )
        self.event = {
            "capture_s3_uri": f"s3://{artifacts.bucket_name}/{capture_prefix}",
            "endpoint_name": endpoint_name,
            "window_hours": settings.window_hours,
            "baseline_statistics_s3_uri": f"s3://{artifacts.bucket_name}/{baseline_prefix}statistics.json",
            "baseline_constraints_s3_uri": f"s3://{artifacts.bucket_name}/{baseline_prefix}constraints.json",
            "output_s3_uri": f"s3://{artifacts.bucket_name}/{REPORTS_PREFIX}",
            "cloudwatch_namespace": namespace,
            "distance_threshold": settings.distance_threshold,
        }
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Runs the drift job over the last window of captured traffic",
            schedule=events.Schedule.rate(cdk.Duration.hours(settings.window_hours)),
            targets=[
                targets.LambdaFunction(
                    self.function, event=events.RuleTargetInput.from_object(self.event), retry_attempts=2
                )
            ],
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "ViolationsAlarm",
            metric=cloudwatch.Metric(
                namespace=namespace,
                metric_name="ViolationCount",
                dimensions_map={"Endpoint": endpoint_name},
                statistic="Maximum",
                period=cdk.Duration.hours(settings.window_hours),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="The captured traffic violates the training baseline's constraints (drift, "
            "missing values or type changes): see the constraint_violations.json of the window",
        )
        self.alarm.add_alarm_action(actions.SnsAction(alerts))
        self.alarm.add_ok_action(actions.SnsAction(alerts))
