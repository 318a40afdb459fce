"""ModelMonitorSchedule: SageMaker Model Monitor's hourly data-quality schedule on the endpoint, for accounts that
already use Model Monitor (it is closed to new customers; DriftMonitor is the default).

SageMaker's analyzer image compares each hour's captured requests with the same baseline the drift job uses
(``statistics.json`` and ``constraints.json``) and publishes ``feature_baseline_drift_<feature>`` metrics; one
alarm per feature notifies the alerts topic. The caller controls the endpoint, the image, the feature list and
the drift threshold. Fixed: hourly (Model Monitor's finest schedule), one ml.m5.large instance, network isolation
in the caller's subnets, the lake key on the volume and the reports under ``monitoring/model-monitor/``.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_constructs.common import notify, sagemaker_logs, sagemaker_vpc_access
from ml_constructs.lake_layout import BASELINE_PREFIX, REPORTS_PREFIX
from ml_constructs.nag import WildcardLedger, acknowledge_grant_policy

_Job = sagemaker.CfnDataQualityJobDefinition


class ModelMonitorSchedule(Construct):
    """An hourly Model Monitor data-quality schedule on ``endpoint_name`` against the baseline under
    ``baseline_prefix`` of ``artifacts``; an alarm per feature of ``features`` above ``distance_threshold``."""

    #: Where Model Monitor publishes its per-feature metrics.
    NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        image_uri: str,
        features: Sequence[str],
        artifacts: s3.IBucket,
        key: kms.IKey,
        subnet_ids: Sequence[str],
        security_group_id: str,
        alerts: sns.ITopic,
        distance_threshold: float = 0.1,
        baseline_prefix: str = BASELINE_PREFIX,
    ) -> None:
        super().__init__(scope, construct_id)
        name = f"{cdk.Stack.of(self).stack_name}-data-quality"
        role = self._role(artifacts, key)
        bucket = f"s3://{artifacts.bucket_name}"
        self.job_definition = _Job(
            self,
            "JobDefinition",
            job_definition_name=name,
            role_arn=role.role_arn,
            data_quality_app_specification=_Job.DataQualityAppSpecificationProperty(image_uri=image_uri),
            data_quality_baseline_config=_Job.DataQualityBaselineConfigProperty(
                constraints_resource=_Job.ConstraintsResourceProperty(
                    s3_uri=f"{bucket}/{baseline_prefix}constraints.json"
                ),
                statistics_resource=_Job.StatisticsResourceProperty(
                    s3_uri=f"{bucket}/{baseline_prefix}statistics.json"
                ),
            ),
            data_quality_job_input=_Job.DataQualityJobInputProperty(
                endpoint_input=_Job.EndpointInputProperty(
                    endpoint_name=endpoint_name, local_path="/opt/ml/processing/input/endpoint"
                )
            ),
            data_quality_job_output_config=_Job.MonitoringOutputConfigProperty(
                kms_key_id=key.key_arn,
                monitoring_outputs=[
                    _Job.MonitoringOutputProperty(
                        s3_output=_Job.S3OutputProperty(
                            local_path="/opt/ml/processing/output",
                            s3_uri=f"{bucket}/{REPORTS_PREFIX}model-monitor/",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            ),
            job_resources=_Job.MonitoringResourcesProperty(
                cluster_config=_Job.ClusterConfigProperty(
                    instance_count=1, instance_type="ml.m5.large", volume_size_in_gb=20, volume_kms_key_id=key.key_arn
                )
            ),
            network_config=_Job.NetworkConfigProperty(
                enable_network_isolation=True,
                vpc_config=_Job.VpcConfigProperty(security_group_ids=[security_group_id], subnets=list(subnet_ids)),
            ),
            stopping_condition=_Job.StoppingConditionProperty(max_runtime_in_seconds=1800),
        )
        self.job_definition.node.add_dependency(role)
        self.schedule = self._hourly_schedule(name, endpoint_name)
        self.schedule.node.add_dependency(self.job_definition)
        dimensions = {"Endpoint": endpoint_name, "MonitoringSchedule": name}
        self.alarms = [
            self._drift_alarm(index, feature, dimensions, distance_threshold, alerts)
            for index, feature in enumerate(features)
        ]

    def _hourly_schedule(self, name: str, endpoint_name: str) -> sagemaker.CfnMonitoringSchedule:
        """Run the job definition ``name`` on ``endpoint_name`` every hour, Model Monitor's finest schedule."""
        return sagemaker.CfnMonitoringSchedule(
            self,
            "Schedule",
            monitoring_schedule_name=name,
            endpoint_name=endpoint_name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=name,
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression="cron(0 * ? * * *)"
                ),
            ),
        )

    def _role(self, artifacts: s3.IBucket, key: kms.IKey) -> iam.Role:
        """Read the capture and the baseline, write the reports, run in the VPC, write its logs, put its metrics."""
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Model Monitor: read baselines/ and capture/, write monitoring/model-monitor/",
        )
        reads = artifacts.arn_for_objects("*")  # the capture (endpoint input) and the baseline
        writes = artifacts.arn_for_objects(f"{REPORTS_PREFIX}model-monitor/*")
        # each run is a processing job: SageMaker writes its logs to /aws/sagemaker/ProcessingJobs with this role
        job_logs, job_logs_arn = sagemaker_logs(self, "/aws/sagemaker/ProcessingJobs:*", "JobLogs")
        for statement in (
            iam.PolicyStatement(sid="ReadCaptureAndBaseline", actions=["s3:GetObject"], resources=[reads]),
            iam.PolicyStatement(sid="ListArtifacts", actions=["s3:ListBucket"], resources=[artifacts.bucket_arn]),
            iam.PolicyStatement(sid="WriteReports", actions=["s3:PutObject"], resources=[writes]),
            iam.PolicyStatement(
                sid="LakeKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"],
                resources=[key.key_arn],
            ),
            sagemaker_vpc_access(),
            job_logs,
            iam.PolicyStatement(
                sid="Metrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": self.NAMESPACE}},
            ),
        ):
            role.add_to_policy(statement)
        ledger = WildcardLedger()
        ledger.track(role, reads, writes, job_logs_arn, "*")
        ledger.acknowledge(
            "Model Monitor reads the endpoint's capture (keys named by time) and the baseline in the artifacts "
            "bucket and writes its reports under monitoring/; its processing jobs' log streams, named per job, in "
            "/aws/sagemaker/ProcessingJobs; '*' only for EC2 network interfaces and CloudWatch PutMetricData "
            "(namespace condition), which have no resource type."
        )
        acknowledge_grant_policy(role)
        return role

    def _drift_alarm(
        self,
        index: int,
        feature: str,
        dimensions: dict[str, str],
        distance_threshold: float,
        alerts: sns.ITopic,
    ) -> cloudwatch.Alarm:
        """Model Monitor's drift distance of ``feature`` above the threshold in an hour alarms."""
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
            threshold=distance_threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Model Monitor: {feature} drifted from the training baseline",
        )
        return notify(alarm, alerts)
