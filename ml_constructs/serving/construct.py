"""RealTimeEndpoint: a SageMaker real-time endpoint with data capture, autoscaling and alarms, serving the
project's default model from its first deploy as an inference pipeline::

    raw event(s), application/json or application/jsonlines
      -> container 1: prebuilt scikit-learn image running our preprocessor (inference.py + fitted JSON)
      -> text/csv, the 23 engineered features per event
      -> container 2: built-in XGBoost
      -> one probability per event

The caller controls the images, the instance type and counts, the scaling target, the share of requests captured,
the latency alarm, the roll-out policy and the log retention. Fixed: both containers run network-isolated in the
isolated subnets (HTTPS out to S3 only), serially (``InferenceExecutionConfig``), KMS on the instances' volumes
and on the capture, the requests (raw events, JSON text) and responses captured under ``capture/`` (what the drift
monitor reads), alarms on 5XX errors and latency to the alerts topic, and blue/green updates rolled back
automatically on those alarms. The model copy, the model's role, the alarms and the roll-out policy are in the
sibling modules.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_constructs.common import sagemaker_security_group
from ml_constructs.lake_layout import (
    BASELINE_PREFIX,
    CAPTURE_PREFIX,
    DEFAULT_MODEL_PREFIX,
    DEFAULT_PREPROCESSING_FILE,
    DEFAULT_PREPROCESSING_PREFIX,
)
from ml_constructs.serving.alarms import alarm_names, endpoint_alarms
from ml_constructs.serving.model_copy import copy_default_model
from ml_constructs.serving.model_role import model_role
from ml_constructs.serving.rollout import DEFAULT_ROLLOUT, Rollout, deployment_config

#: The endpoint's one production variant (the training workflow rolls the endpoint with the same name).
VARIANT = "AllTraffic"
#: What the preprocessing container runs: the prebuilt scikit-learn image's serving stack loads ``inference.py``
#: (model_fn, input_fn, predict_fn, output_fn) from the code folder of the model artifact.
PREPROCESSING_ENVIRONMENT = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
#: Request bodies captured as text (raw events as JSON); the XGBoost container's answers are CSV.
REQUEST_CONTENT_TYPES = ["application/json", "application/jsonlines"]


def pipeline_containers(
    preprocessing_image_uri: str, preprocessing_data_url: str, image_uri: str, model_data_url: str
) -> list[dict[str, Any]]:
    """The inference pipeline's two containers in the SageMaker API's JSON (CreateModel ``Containers``)."""
    return [
        {
            "Image": preprocessing_image_uri,
            "ModelDataUrl": preprocessing_data_url,
            "Environment": dict(PREPROCESSING_ENVIRONMENT),
        },
        {"Image": image_uri, "ModelDataUrl": model_data_url},
    ]


class RealTimeEndpoint(Construct):
    """The endpoint, ``instance_count`` x ``instance_type`` at deploy time, scaled between ``min_capacity`` and
    ``max_capacity`` to keep ``target_invocations_per_instance`` per minute; ``capture_percentage`` of requests
    captured (0 turns capture off). ``s3_kms``: the artifacts bucket uses ``key`` (SSE-KMS) for its objects."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image_uri: str,
        preprocessing_image_uri: str,
        artifacts: s3.IBucket,
        key: kms.IKey,
        vpc: ec2.IVpc,
        alerts: sns.ITopic,
        instance_type: str = "ml.t2.medium",
        instance_count: int = 1,
        min_capacity: int = 1,
        max_capacity: int = 2,
        target_invocations_per_instance: int = 100,
        capture_percentage: int = 100,
        latency_alarm_ms: int = 500,
        rollout: Rollout = DEFAULT_ROLLOUT,
        s3_kms: bool = True,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, construct_id)
        _check_sizes(min_capacity, instance_count, max_capacity, capture_percentage)
        rollout.check(instance_count)
        self.rollout = rollout
        copy = copy_default_model(
            self,
            artifacts=artifacts,
            key=key,
            s3_kms=s3_kms,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        self.deployment_role, self.default_model, self.baseline = copy.role, copy.model, copy.baseline
        self.model_data_url = f"s3://{artifacts.bucket_name}/{DEFAULT_MODEL_PREFIX}model.tar.gz"
        self.preprocessing_data_url = (
            f"s3://{artifacts.bucket_name}/{DEFAULT_PREPROCESSING_PREFIX}{DEFAULT_PREPROCESSING_FILE}"
        )
        self.baseline_uri = f"s3://{artifacts.bucket_name}/{BASELINE_PREFIX}"
        self.capture_uri = f"s3://{artifacts.bucket_name}/{CAPTURE_PREFIX}"
        self.security_group = sagemaker_security_group(
            self,
            "EndpointSecurityGroup",
            vpc,
            "SageMaker endpoint instances: HTTPS out to S3 via the gateway endpoint only",
        )
        self.role = model_role(self, artifacts, key, s3_kms=s3_kms)

        self.model = self._model(vpc, preprocessing_image_uri, image_uri)
        self.model.node.add_dependency(self.default_model, copy.preprocessing)  # the artifacts must be in place
        self.model.node.add_dependency(self.role)
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=key.key_arn,  # the instances' storage volumes
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    model_name=self.model.attr_model_name,
                    initial_instance_count=instance_count,
                    instance_type=instance_type,
                    initial_variant_weight=1,
                )
            ],
            data_capture_config=_data_capture(self.capture_uri, capture_percentage, key),
        )
        # the alarms are named before the endpoint exists: the endpoint's rollback names them, they watch it
        self.alarm_names = alarm_names(self)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=_deployment(rollout, instance_count, list(self.alarm_names.values())),
        )
        self.scaling = self._autoscale(min_capacity, max_capacity, target_invocations_per_instance)
        self.alarms = endpoint_alarms(
            self, self.endpoint.attr_endpoint_name, VARIANT, latency_alarm_ms, alerts, self.alarm_names
        )

    def _model(self, vpc: ec2.IVpc, preprocessing_image_uri: str, image_uri: str) -> sagemaker.CfnModel:
        """The inference pipeline: the default preprocessing artifact, then the default XGBoost model, in series,
        network-isolated in the isolated subnets."""
        containers = pipeline_containers(
            preprocessing_image_uri, self.preprocessing_data_url, image_uri, self.model_data_url
        )
        return sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            containers=[
                sagemaker.CfnModel.ContainerDefinitionProperty(
                    image=c["Image"], model_data_url=c["ModelDataUrl"], environment=c.get("Environment")
                )
                for c in containers
            ],
            inference_execution_config=sagemaker.CfnModel.InferenceExecutionConfigProperty(mode="Serial"),
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[self.security_group.security_group_id],
                subnets=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
            ),
            enable_network_isolation=True,
        )

    def _autoscale(self, min_capacity: int, max_capacity: int, target: int) -> autoscaling.ScalableTarget:
        """Target tracking on invocations per instance: out after 1 minute, in after 5. Application Auto Scaling
        scales SageMaker endpoints with its service-linked role (created on the first registration), named here;
        CDK would otherwise create a role of its own that nothing uses."""
        scaling = autoscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            role=iam.Role.from_role_arn(self, "ScalingServiceLinkedRole", _scaling_role_arn(self), mutable=False),
        )
        scaling.node.add_dependency(self.endpoint)
        scaling.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=target,
            predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=cdk.Duration.minutes(5),
            scale_out_cooldown=cdk.Duration.minutes(1),
        )
        return scaling


#: Application Auto Scaling's service-linked role for SageMaker endpoints
#: (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html,
#: checked 2026-12): RegisterScalableTarget takes its ARN as RoleARN and creates the role if it is missing
#: (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html).
SCALING_SERVICE_LINKED_ROLE = "/".join(
    (
        "aws-service-role",
        "sagemaker.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
    )
)


def _scaling_role_arn(scope: Construct) -> str:
    return cdk.Stack.of(scope).format_arn(
        service="iam", region="", resource="role", resource_name=SCALING_SERVICE_LINKED_ROLE
    )


def _check_sizes(min_capacity: int, instance_count: int, max_capacity: int, capture_percentage: int) -> None:
    if not 1 <= min_capacity <= instance_count <= max_capacity:
        raise ValueError(
            f"min_capacity={min_capacity}, instance_count={instance_count}, max_capacity={max_capacity}: "
            "need 1 <= min_capacity <= instance_count <= max_capacity"
        )
    if not 0 <= capture_percentage <= 100:
        raise ValueError(f"capture_percentage={capture_percentage}: 0 to 100")


def _data_capture(
    capture_uri: str, percentage: int, key: kms.IKey
) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
    """Inputs and outputs of ``percentage`` % of requests, KMS-encrypted, to ``capture_uri``."""
    return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
        enable_capture=percentage > 0,
        initial_sampling_percentage=percentage,
        destination_s3_uri=capture_uri,
        kms_key_id=key.key_arn,
        capture_options=[
            sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
            sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
        ],
        # JSON requests and CSV answers are captured as text, not base64: readable, and what the analyzer reads
        capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
            csv_content_types=["text/csv"], json_content_types=REQUEST_CONTENT_TYPES
        ),
    )


def _deployment(
    rollout: Rollout, instance_count: int, alarms: list[str]
) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
    """The roll-out policy (``rollout.deployment_config``) as CloudFormation's property, for updates of the stack."""
    api = deployment_config(rollout, instance_count, alarms)
    policy, routing = api["BlueGreenUpdatePolicy"], api["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    size = routing.get("CanarySize") or routing.get("LinearStepSize")
    capacity = sagemaker.CfnEndpoint.CapacitySizeProperty(type=size["Type"], value=size["Value"]) if size else None
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type=routing["Type"],
                wait_interval_in_seconds=routing["WaitIntervalInSeconds"],
                canary_size=capacity if "CanarySize" in routing else None,
                linear_step_size=capacity if "LinearStepSize" in routing else None,
            ),
            termination_wait_in_seconds=policy["TerminationWaitInSeconds"],
            maximum_execution_timeout_in_seconds=policy["MaximumExecutionTimeoutInSeconds"],
        ),
        auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
            alarms=[
                sagemaker.CfnEndpoint.AlarmProperty(alarm_name=a["AlarmName"])
                for a in api["AutoRollbackConfiguration"]["Alarms"]
            ]
        ),
    )
