"""The few config values that map onto a CDK type the same way in every stack."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

from ml_config.config import AppConfig, RemovalPolicy
from ml_constructs.common import log_retention


def removal_policy(policy: RemovalPolicy) -> cdk.RemovalPolicy:
    """The CDK removal policy for the configured lake.removal_policy (shared by every stateful resource)."""
    return cdk.RemovalPolicy.RETAIN if policy is RemovalPolicy.RETAIN else cdk.RemovalPolicy.DESTROY


def retention(config: AppConfig) -> logs.RetentionDays:
    """How long every log group of the app keeps its events (logs.retention_days)."""
    return log_retention(config.logs.retention_days)


def tags(config: AppConfig) -> dict[str, str]:
    """The tags on every resource of the app, and on what the training workflow creates at run time."""
    return {"Project": config.prefix, "Profile": config.profile.value}


def etl_feature_columns() -> list[str]:
    """The engineered feature columns the ETL writes (in the order the model takes them), from its contract."""
    from ml_constructs.glue_etl import transforms

    return transforms.feature_columns(transforms.spec_from_schema())
