"""ServingStack: the real-time endpoint with data capture and autoscaling, serving the default model."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from ml_config.config import AppConfig, Encryption, MonitoringEngine
from ml_constructs.common import log_retention
from ml_constructs.data_lake.construct import DataLake
from ml_constructs.monitoring.construct import DriftMonitor, ModelMonitorSchedule
from ml_constructs.serving.construct import BASELINE_PREFIX, CAPTURE_PREFIX, RealTimeEndpoint
from sagemaker_images.resolve import model_monitor_image, xgboost_image
from stacks.alerts_stack import AlertsStack
from stacks.mapping import etl_feature_columns, removal_policy
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
        self.endpoint = RealTimeEndpoint(
            self,
            "Serving",
            settings=config.serving,
            image_uri=xgboost_image(self, config.training.xgboost_version),
            artifacts=lake.artifacts,
            key=lake.key,
            s3_kms=config.lake.encryption is Encryption.KMS,
            vpc=network.network.vpc,
            alerts=alerts.alerts.topic,
            log_retention=log_retention(config.logs.retention_days),
            removal_policy=removal_policy(config.lake.removal_policy),
        )
        if config.monitoring.engine is MonitoringEngine.MODEL_MONITOR:
            endpoint = self.endpoint
            self.model_monitor = ModelMonitorSchedule(
                self,
                "ModelMonitor",
                settings=config.monitoring,
                endpoint_name=endpoint.endpoint.attr_endpoint_name,
                image_uri=model_monitor_image(self),
                features=etl_feature_columns(),
                artifacts=lake.artifacts,
                baseline_prefix=BASELINE_PREFIX,
                key=lake.key,
                subnet_ids=network.network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
                security_group_id=endpoint.security_group.security_group_id,
                alerts=alerts.alerts.topic,
            )
            self.model_monitor.node.add_dependency(endpoint.baseline)
        else:
            self._drift(config, lake, alerts)
        cdk.CfnOutput(self, "EndpointName", value=self.endpoint.endpoint.attr_endpoint_name)
        cdk.CfnOutput(self, "CaptureUri", value=self.endpoint.capture_uri)
        cdk.CfnOutput(self, "BaselineUri", value=self.endpoint.baseline_uri)

    def _drift(self, config: AppConfig, lake: DataLake, alerts: AlertsStack) -> None:
        self.drift = DriftMonitor(
            self,
            "Drift",
            settings=config.monitoring,
            endpoint_name=self.endpoint.endpoint.attr_endpoint_name,
            artifacts=lake.artifacts,
            capture_prefix=CAPTURE_PREFIX,
            baseline_prefix=BASELINE_PREFIX,
            namespace=f"{config.prefix}/drift",
            key=lake.key,
            alerts=alerts.alerts.topic,
            log_retention=log_retention(config.logs.retention_days),
            removal_policy=removal_policy(config.lake.removal_policy),
        )
