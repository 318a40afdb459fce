"""The real-time endpoint of the worked example: model, endpoint config with data capture, endpoint, autoscaling.

* The endpoint deploys on the first ``cdk deploy``, before any training run: it serves the project's own
  default model (``default_model/``, built by ``make default-model``), copied with its baseline into the
  artifacts zone (the jobs' VPC reaches S3 only through the gateway endpoint, which admits the lake buckets).
* Data capture of inputs and outputs (``serving.capture_percentage``), KMS-encrypted, to
  ``s3://<artifacts>/capture/``: what the drift monitor reads.
* KMS on the instances' volumes, network isolation, the isolated subnets.
* Application Auto Scaling: target tracking on invocations per instance, between min and max capacity.
* Alarms to the alerts topic: 5XX errors and model latency.

Precedence: the caller's validated ``ServingSettings``; encryption, isolation and capture format are fixed.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as deployment
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_config.config import ServingSettings
from ml_constructs.common import retention_days, sagemaker_security_group, sagemaker_vpc_access, via_service
from ml_constructs.nag import acknowledge, acknowledge_wildcard_resources

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
DEFAULT_MODEL_PREFIX = "models/default/"
BASELINE_PREFIX = "baselines/default/"
CAPTURE_PREFIX = "capture/"
VARIANT = "AllTraffic"


class RealTimeEndpoint(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ServingSettings,
        image_uri: str,
        artifacts: s3.IBucket,
        key: kms.IKey,
        s3_kms: bool,
        vpc: ec2.IVpc,
        alerts: sns.ITopic,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        # --- the default model and its baseline, into the artifacts zone ---------------------------------------
        # CDK's deployment handler copies the files at deploy time. It gets its own role, immutable so that
        # CDK's broad grants (read-write and delete on the whole bucket) cannot attach, with exactly: read the two
        # source archives, write the two prefixes, use the key through S3, write its logs.
        self.deployment_role = iam.Role(
            self,
            "DeploymentRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Copies the default model and baseline into the artifacts zone at deploy time",
        )
        sources = {
            name: s3_assets.Asset(
                self, f"{name}Asset", path=str(DEFAULT_MODEL_DIR), exclude=["*", *(f"!{f}" for f in files)]
            )
            for name, files in (("Model", ["model.tar.gz"]), ("Baseline", ["statistics.json", "constraints.json"]))
        }
        destinations = [
            artifacts.arn_for_objects(f"{DEFAULT_MODEL_PREFIX}*"),
            artifacts.arn_for_objects(f"{BASELINE_PREFIX}*"),
        ]
        statements = [
            iam.PolicyStatement(
                sid="ReadSources",
                actions=["s3:GetObject"],
                resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in sources.values()],
            ),
            iam.PolicyStatement(sid="WriteDestinations", actions=["s3:PutObject"], resources=destinations),
            iam.PolicyStatement(
                sid="ListDestination",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{DEFAULT_MODEL_PREFIX}*", f"{BASELINE_PREFIX}*"]}},
            ),
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/lambda/*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
        ]
        if s3_kms:
            statements.append(
                iam.PolicyStatement(
                    sid="EncryptThroughS3",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions=via_service(self, "s3"),
                )
            )
        deployment_policy = iam.Policy(self, "DeploymentPolicy", roles=[self.deployment_role], statements=statements)
        acknowledge_wildcard_resources(
            deployment_policy.node.default_child,  # type: ignore[arg-type]
            [*destinations, statements[3].resources[0]],
            "Objects under the models/default/ and baselines/default/ prefixes of the artifacts bucket, and the "
            "deployment function's own /aws/lambda/ log group, whose name CDK generates.",
        )
        copies = {}
        for name, prefix in (("Model", DEFAULT_MODEL_PREFIX), ("Baseline", BASELINE_PREFIX)):
            asset = sources[name]
            copies[name] = deployment.BucketDeployment(
                self,
                f"Default{name}",
                destination_bucket=artifacts,
                destination_key_prefix=prefix,
                sources=[deployment.Source.bucket(asset.bucket, asset.s3_object_key)],
                prune=False,  # never delete other objects under the prefix
                role=self.deployment_role.without_policy_updates(),
                server_side_encryption_aws_kms_key_id=key.key_arn if s3_kms else None,
                server_side_encryption=deployment.ServerSideEncryption.AWS_KMS if s3_kms else None,
            )
            copies[name].node.add_dependency(deployment_policy)
        self.default_model, self.baseline = copies["Model"], copies["Baseline"]
        # The handler's log group is created by aws-cdk-lib with two years' retention, no key and RETAIN: a
        # leftover after every `cdk destroy`. It gets the project's retention, key and removal policy instead.
        handler_logs = [
            c
            for c in stack.node.find_all()
            if isinstance(c, logs.CfnLogGroup) and "/Custom::CDKBucketDeployment" in f"/{c.node.path}"
        ]
        for group in handler_logs:
            group.retention_in_days = retention_days(log_retention)
            group.kms_key_id = key.key_arn
            group.apply_removal_policy(removal_policy)
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(
                    child,
                    "AwsSolutions-L1",
                    "The runtime of CDK's BucketDeployment handler is chosen by aws-cdk-lib (with its AWS CLI layer) "
                    "and moves with it; the function runs only during deploys.",
                )
        self.model_data_url = f"s3://{artifacts.bucket_name}/{DEFAULT_MODEL_PREFIX}model.tar.gz"
        self.baseline_uri = f"s3://{artifacts.bucket_name}/{BASELINE_PREFIX}"
        self.capture_uri = f"s3://{artifacts.bucket_name}/{CAPTURE_PREFIX}"

        # --- network and role ------------------------------------------------------------------------------------
        subnets = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.security_group = sagemaker_security_group(
            self,
            "EndpointSecurityGroup",
            vpc,
            "SageMaker endpoint instances: HTTPS out to S3 via the gateway endpoint only",
        )
        self.role = iam.Role(
            self,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker endpoint: read models/, write data capture to capture/",
        )
        wildcards = [artifacts.arn_for_objects("models/*"), artifacts.arn_for_objects(f"{CAPTURE_PREFIX}*")]
        self.role.add_to_policy(
            iam.PolicyStatement(sid="ReadModels", actions=["s3:GetObject"], resources=[wildcards[0]])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteCapture", actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[wildcards[1]]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="VolumeAndCaptureEncryption",
                actions=["kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            )
        )
        self.role.add_to_policy(sagemaker_vpc_access())
        logs_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/Endpoints/*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[logs_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        assert policy is not None
        acknowledge_wildcard_resources(
            policy,
            [*wildcards, logs_arn, "*"],
            "Objects under the models/ and capture/ prefixes of the artifacts bucket (SageMaker names capture files "
            "by time), the /aws/sagemaker/Endpoints/ log groups, and '*' only for EC2 network-interface and "
            "CloudWatch PutMetricData calls, which have no resource type.",
        )

        # --- model, endpoint config, endpoint --------------------------------------------------------------------
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image_uri, model_data_url=self.model_data_url
            ),
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[self.security_group.security_group_id], subnets=subnets.subnet_ids
            ),
            enable_network_isolation=True,
        )
        self.model.node.add_dependency(self.default_model)  # the artifact must be in place first
        self.model.node.add_dependency(self.role)
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=key.key_arn,  # the instances' storage volumes
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    model_name=self.model.attr_model_name,
                    initial_instance_count=settings.instance_count,
                    instance_type=settings.instance_type,
                    initial_variant_weight=1,
                )
            ],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=settings.capture_percentage > 0,
                initial_sampling_percentage=settings.capture_percentage,
                destination_s3_uri=self.capture_uri,
                kms_key_id=key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
                ],
                # CSV bodies are captured as CSV text, not base64: readable, and what the analyzer expects first
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    csv_content_types=["text/csv"]
                ),
            ),
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=self.endpoint_config.attr_endpoint_config_name
        )

        # --- autoscaling -----------------------------------------------------------------------------------------
        self.scaling = autoscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=settings.min_capacity,
            max_capacity=settings.max_capacity,
        )
        self.scaling.node.add_dependency(self.endpoint)
        self.scaling.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=settings.target_invocations_per_instance,
            predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=cdk.Duration.minutes(5),
            scale_out_cooldown=cdk.Duration.minutes(1),
        )

        # --- alarms ------------------------------------------------------------------------------------------------
        dimensions = {"EndpointName": self.endpoint.attr_endpoint_name, "VariantName": VARIANT}
        self.alarms = {
            "Errors5xx": cloudwatch.Alarm(
                self,
                "Errors5xxAlarm",
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
                alarm_description="The model container answered with a server error",
            ),
            "Latency": cloudwatch.Alarm(
                self,
                "LatencyAlarm",
                metric=cloudwatch.Metric(
                    namespace="AWS/SageMaker",
                    metric_name="ModelLatency",  # microseconds
                    dimensions_map=dimensions,
                    statistic="Average",
                    period=cdk.Duration.minutes(5),
                ),
                threshold=settings.latency_alarm_ms * 1000,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="Average model latency above serving.latency_alarm_ms for 15 minutes",
            ),
        }
        for alarm in self.alarms.values():
            alarm.add_alarm_action(actions.SnsAction(alerts))
            alarm.add_ok_action(actions.SnsAction(alerts))
