"""TrainingStack: the Step Functions training workflow (ETL -> XGBoost -> evaluation -> gate -> registry)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import AppConfig, Encryption
from ml_constructs.common import log_retention, removal_policy
from ml_constructs.data_lake import DataLake
from ml_constructs.glue_etl.construct import CURATED_ROOT, GlueEtl
from ml_constructs.training.construct import EndpointTarget, TrainingPipeline
from sagemaker_images import (
    MODEL_MONITOR_ACCOUNTS,
    MODEL_MONITOR_REPOSITORY,
    XGBOOST_ACCOUNTS,
    ecr_image_uri,
    image_uri_expression,
    resolve_xgboost_version,
)
from stacks.alerts_stack import AlertsStack
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
        self.pipeline = TrainingPipeline(
            self,
            "Training",
            settings=config.training,
            image_uri=xgboost_image(self, config.training.xgboost_version),
            etl_job_name=etl.job.job_name,
            etl_timeout=cdk.Duration.minutes(config.etl.timeout_minutes),
            curated=lake.curated,
            curated_prefix=CURATED_ROOT,
            artifacts=lake.artifacts,
            key=lake.key,
            s3_kms=config.lake.encryption is Encryption.KMS,
            vpc=network.network.vpc,
            alerts=alerts.alerts.topic,
            log_retention=log_retention(config.logs.retention_days),
            removal_policy=removal_policy(config.lake.removal_policy),
            endpoint=endpoint,
            job_prefix=f"{config.prefix}-",
        )
        cdk.CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "ModelPackageGroup", value=self.pipeline.package_group.ref)


def xgboost_image(stack: cdk.Stack, configured_version: str) -> str:
    """The built-in XGBoost image URI for ``stack``'s region, without a network call.

    A region known at synth (``-c region=``; the config validated it against the table) resolves to a string.
    Environment-agnostic: the account of the image is looked up at deploy time in a mapping of every region the
    table knows, and a rule stops a deploy to any other region before anything is created.
    """
    version = resolve_xgboost_version(configured_version)
    if not cdk.Token.is_unresolved(stack.region):
        return image_uri_expression(XGBOOST_ACCOUNTS[stack.region], stack.region, stack.url_suffix, version)
    mapping = cdk.CfnMapping(
        stack, "XgboostImageAccounts", mapping={region: {"account": a} for region, a in XGBOOST_ACCOUNTS.items()}
    )
    cdk.CfnRule(
        stack,
        "SupportedRegion",
        assertions=[
            cdk.CfnRuleAssertion(
                assert_=cdk.Fn.condition_contains(sorted(XGBOOST_ACCOUNTS), cdk.Aws.REGION),
                assert_description="The built-in XGBoost image table of this project has no account for this region "
                "(sagemaker_images.XGBOOST_ACCOUNTS)",
            )
        ],
    )
    account = mapping.find_in_map(cdk.Aws.REGION, "account")
    return image_uri_expression(account, stack.region, stack.url_suffix, version)


def model_monitor_image(stack: cdk.Stack) -> str:
    """The Model Monitor analyzer image URI for ``stack``'s region (same rules as ``xgboost_image``)."""
    if not cdk.Token.is_unresolved(stack.region):
        if stack.region not in MODEL_MONITOR_ACCOUNTS:
            raise ValueError(f"monitoring.engine=model_monitor: no Model Monitor analyzer image in {stack.region}")
        return ecr_image_uri(
            MODEL_MONITOR_ACCOUNTS[stack.region], stack.region, MODEL_MONITOR_REPOSITORY, None, stack.url_suffix
        )
    mapping = cdk.CfnMapping(
        stack, "ModelMonitorImageAccounts", mapping={r: {"account": a} for r, a in MODEL_MONITOR_ACCOUNTS.items()}
    )
    account = mapping.find_in_map(cdk.Aws.REGION, "account")
    return ecr_image_uri(account, stack.region, MODEL_MONITOR_REPOSITORY, None, stack.url_suffix)
