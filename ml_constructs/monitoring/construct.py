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
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_config.config import MonitoringSettings
from ml_constructs.common import sagemaker_vpc_access, via_service
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
                conditions=via_service(self, "s3"),
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


class ModelMonitorSchedule(Construct):
    """SageMaker Model Monitor (existing customers only): an hourly data-quality schedule on the same baseline.

    The analyzer image compares each hour's captured inputs with ``statistics.json``/``constraints.json`` and
    publishes ``feature_baseline_drift_<feature>`` metrics; one alarm per feature notifies the alerts topic.
    """

    NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: MonitoringSettings,
        endpoint_name: str,
        image_uri: str,
        features: list[str],
        artifacts: s3.IBucket,
        baseline_prefix: str,
        key: kms.IKey,
        subnet_ids: list[str],
        security_group_id: str,
        alerts: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Model Monitor: read baselines/ and capture/, write monitoring/model-monitor/",
        )
        reads = artifacts.arn_for_objects("*")  # the capture (endpoint input) and the baseline
        writes = artifacts.arn_for_objects(f"{REPORTS_PREFIX}model-monitor/*")
        for statement in (
            iam.PolicyStatement(sid="ReadCaptureAndBaseline", actions=["s3:GetObject"], resources=[reads]),
            iam.PolicyStatement(sid="ListArtifacts", actions=["s3:ListBucket"], resources=[artifacts.bucket_arn]),
            iam.PolicyStatement(sid="WriteReports", actions=["s3:PutObject"], resources=[writes]),
            iam.PolicyStatement(
                sid="LakeKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"],
                resources=[key.key_arn],
            ),
            sagemaker_vpc_access(),
            iam.PolicyStatement(
                sid="Metrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": self.NAMESPACE}},
            ),
        ):
            role.add_to_policy(statement)
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert policy is not None
        acknowledge_wildcard_resources(
            policy,
            [reads, writes, "*"],
            "Model Monitor reads the endpoint's capture (keys named by time) and the baseline in the artifacts "
            "bucket and writes its reports under monitoring/; '*' only for EC2 network interfaces and CloudWatch "
            "PutMetricData (namespace condition), which have no resource type.",
        )
        name = f"{stack.stack_name}-data-quality"
        self.job_definition = sagemaker.CfnDataQualityJobDefinition(
            self,
            "JobDefinition",
            job_definition_name=name,
            role_arn=role.role_arn,
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=image_uri
            ),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=f"s3://{artifacts.bucket_name}/{baseline_prefix}constraints.json"
                ),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=f"s3://{artifacts.bucket_name}/{baseline_prefix}statistics.json"
                ),
            ),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                endpoint_input=sagemaker.CfnDataQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=endpoint_name, local_path="/opt/ml/processing/input/endpoint"
                )
            ),
            data_quality_job_output_config=sagemaker.CfnDataQualityJobDefinition.MonitoringOutputConfigProperty(
                kms_key_id=key.key_arn,
                monitoring_outputs=[
                    sagemaker.CfnDataQualityJobDefinition.MonitoringOutputProperty(
                        s3_output=sagemaker.CfnDataQualityJobDefinition.S3OutputProperty(
                            local_path="/opt/ml/processing/output",
                            s3_uri=f"s3://{artifacts.bucket_name}/{REPORTS_PREFIX}model-monitor/",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            ),
            job_resources=sagemaker.CfnDataQualityJobDefinition.MonitoringResourcesProperty(
                cluster_config=sagemaker.CfnDataQualityJobDefinition.ClusterConfigProperty(
                    instance_count=1, instance_type="ml.m5.large", volume_size_in_gb=20, volume_kms_key_id=key.key_arn
                )
            ),
            network_config=sagemaker.CfnDataQualityJobDefinition.NetworkConfigProperty(
                enable_network_isolation=True,
                vpc_config=sagemaker.CfnDataQualityJobDefinition.VpcConfigProperty(
                    security_group_ids=[security_group_id], subnets=subnet_ids
                ),
            ),
            stopping_condition=sagemaker.CfnDataQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=1800
            ),
        )
        self.job_definition.node.add_dependency(role)
        dimensions = {"Endpoint": endpoint_name, "MonitoringSchedule": name}
        self.schedule = sagemaker.CfnMonitoringSchedule(
            self,
            "Schedule",
            monitoring_schedule_name=name,
            endpoint_name=endpoint_name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=name,
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression="cron(0 * ? * * *)"  # hourly, Model Monitor's finest schedule
                ),
            ),
        )
        self.schedule.add_dependency(self.job_definition)
        self.alarms = []
        for index, feature in enumerate(features):
            alarm = cloudwatch.Alarm(
                self,
                f"Drift{index}",
                metric=cloudwatch.Metric(
                    namespace=self.NAMESPACE,
                    metric_name=f"feature_baseline_drift_{feature}",
                    dimensions_map=dimensions,
                    statistic="Maximum",
                    period=cdk.Duration.hours(1),
                ),
                threshold=settings.distance_threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Model Monitor: {feature} drifted from the training baseline",
            )
            alarm.add_alarm_action(actions.SnsAction(alerts))
            self.alarms.append(alarm)
