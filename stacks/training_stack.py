"""TrainingStack: the Step Functions training workflow (ETL -> XGBoost -> evaluation -> gate -> registry)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import AppConfig, Encryption
from ml_constructs.data_lake.construct import DataLake
from ml_constructs.glue_etl.construct import GlueEtl
from ml_constructs.lake_layout import CURATED_ROOT
from ml_constructs.training.construct import EndpointTarget, GateThresholds, TrainingPipeline, Tuning
from ml_constructs.training.explain import Explanation
from sagemaker_images.resolve import sklearn_image, xgboost_image
from stacks.alerts_stack import AlertsStack
from stacks.mapping import removal_policy, retention, tags
from stacks.network_stack import NetworkStack


class TrainingStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        lake: DataLake,
        network: NetworkStack,
        etl: GlueEtl,
        alerts: AlertsStack,
        endpoint: EndpointTarget | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        training = config.training
        self.pipeline = TrainingPipeline(
            self,
            "Training",
            image_uri=xgboost_image(self, training.xgboost_version),
            preprocessing_image_uri=sklearn_image(self),
            etl_job_name=etl.job.job_name,
            etl_timeout=cdk.Duration.minutes(config.etl.timeout_minutes),
            curated=lake.curated,
            curated_prefix=CURATED_ROOT,
            artifacts=lake.artifacts,
            key=lake.key,
            s3_kms=config.lake.encryption is Encryption.KMS,
            vpc=network.network.vpc,
            alerts=alerts.alerts.topic,
            instance_type=training.instance_type,
            instance_count=training.instance_count,
            volume_size_gb=training.volume_size_gb,
            max_runtime_minutes=training.max_runtime_minutes,
            hyperparameters=training.algorithm_hyperparameters(),
            decision_threshold=training.decision_threshold,
            gate=GateThresholds(**training.gate.model_dump()),
            tuning=Tuning(**training.tuning.model_dump(exclude={"enabled"})) if training.tuning.enabled else None,
            batch_transform_test=training.batch_transform_test,
            transform_instance_type=training.transform_instance_type,
            explanation=Explanation(
                instance_type=training.explain_instance_type,
                max_runtime_minutes=training.explain_max_runtime_minutes,
            ),
            schedule=training.schedule,
            endpoint=endpoint,
            job_prefix=f"{config.prefix}-",
            tags=tags(config),
            log_retention=retention(config),
            removal_policy=removal_policy(config.lake.removal_policy),
            bias_facets=config.bias.facet_list(),
            bias_bounds=training.bias_gate.bounds(),
        )
        cdk.CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "ModelPackageGroup", value=self.pipeline.package_group.ref)
