"""ServingStack: the real-time endpoint with data capture and autoscaling, serving the default model."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from ml_config.config import AppConfig, Encryption, MonitoringEngine
from ml_constructs.common import log_retention
from ml_constructs.data_lake.construct import DataLake
from ml_constructs.monitoring.construct import DriftMonitor
from ml_constructs.monitoring.model_monitor import ModelMonitorSchedule
from ml_constructs.serving.construct import RealTimeEndpoint
from ml_constructs.serving.idle_guard import IdleEndpointGuard
from ml_constructs.serving.rollout import Rollout
from sagemaker_images.resolve import model_monitor_image, sklearn_image, xgboost_image
from stacks.alerts_stack import AlertsStack
from stacks.mapping import bias_facet_values, etl_feature_columns, removal_policy
from stacks.network_stack import NetworkStack


class ServingStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        lake: DataLake,
        network: NetworkStack,
        alerts: AlertsStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        serving, monitoring = config.serving, config.monitoring
        reserved = 1 if config.functions.reserve_concurrency else None  # one run at a time of each scheduled function
        self.endpoint = RealTimeEndpoint(
            self,
            "Serving",
            image_uri=xgboost_image(self, config.training.xgboost_version),
            preprocessing_image_uri=sklearn_image(self),
            artifacts=lake.artifacts,
            key=lake.key,
            vpc=network.network.vpc,
            alerts=alerts.alerts.topic,
            instance_type=serving.instance_type,
            instance_count=serving.instance_count,
            min_capacity=serving.min_capacity,
            max_capacity=serving.max_capacity,
            target_invocations_per_instance=serving.target_invocations_per_instance,
            capture_percentage=serving.capture_percentage,
            latency_alarm_ms=serving.latency_alarm_ms,
            rollout=rollout(config),
            s3_kms=config.lake.encryption is Encryption.KMS,
            log_retention=log_retention(config.logs.retention_days),
            removal_policy=removal_policy(config.lake.removal_policy),
        )
        endpoint_name = self.endpoint.endpoint.attr_endpoint_name
        if monitoring.engine is MonitoringEngine.MODEL_MONITOR:
            self.model_monitor = ModelMonitorSchedule(
                self,
                "ModelMonitor",
                endpoint_name=endpoint_name,
                image_uri=model_monitor_image(self),
                features=etl_feature_columns(),
                artifacts=lake.artifacts,
                key=lake.key,
                subnet_ids=network.network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
                security_group_id=self.endpoint.security_group.security_group_id,
                alerts=alerts.alerts.topic,
                distance_threshold=monitoring.distance_threshold,
            )
            self.model_monitor.node.add_dependency(self.endpoint.baseline)
        else:
            self.drift = DriftMonitor(
                self,
                "Drift",
                endpoint_name=endpoint_name,
                endpoint_arn=self.endpoint.endpoint.ref,
                artifacts=lake.artifacts,
                key=lake.key,
                alerts=alerts.alerts.topic,
                window_hours=monitoring.window_hours,
                distance_threshold=monitoring.distance_threshold,
                namespace=f"{config.prefix}/drift",
                baseline_of_serving_model=True,  # the baseline beside the model the endpoint serves
                log_retention=log_retention(config.logs.retention_days),
                removal_policy=removal_policy(config.lake.removal_policy),
                reserved_concurrency=reserved,
                bias_facets=bias_facet_values(config),
                decision_threshold=config.training.decision_threshold,
                bias_alarm_threshold=config.bias.alarm_max_abs_dppl,
            )
        if serving.idle_hours is not None:
            self.idle_guard = self._idle_guard(config, lake, alerts, serving.idle_hours, reserved)
        cdk.CfnOutput(self, "EndpointName", value=endpoint_name)
        cdk.CfnOutput(self, "CaptureUri", value=self.endpoint.capture_uri)
        cdk.CfnOutput(self, "BaselineUri", value=self.endpoint.baseline_uri)

    def _idle_guard(
        self, config: AppConfig, lake: DataLake, alerts: AlertsStack, idle_hours: int, reserved: int | None
    ) -> IdleEndpointGuard:
        """Deletes the endpoint after ``serving.idle_hours`` without an invocation (docs/runbook.md)."""
        return IdleEndpointGuard(
            self,
            "IdleGuard",
            endpoint_name=self.endpoint.endpoint.attr_endpoint_name,
            endpoint_arn=self.endpoint.endpoint.ref,
            alerts=alerts.alerts.topic,
            key=lake.key,
            idle_hours=idle_hours,
            reserved_concurrency=reserved,
            log_retention=log_retention(config.logs.retention_days),
            removal_policy=removal_policy(config.lake.removal_policy),
        )


def rollout(config: AppConfig) -> Rollout:
    """The serving section's roll-out keys as the construct's policy (the workflow's UpdateEndpoint uses it too)."""
    serving = config.serving
    return Rollout(
        mode=serving.rollout_mode.value,
        canary_percent=serving.canary_percent,
        linear_step_percent=serving.linear_step_percent,
        wait_seconds=serving.rollout_wait_seconds,
        baking_seconds=serving.baking_seconds,
        max_seconds=serving.rollout_max_seconds,
    )
