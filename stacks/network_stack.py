"""NetworkStack: the isolated VPC the SageMaker jobs will run in, with an S3 gateway endpoint for the lake."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import LogSettings, NetworkSettings
from ml_constructs.common import log_retention
from ml_constructs.data_lake.construct import DataLake
from ml_constructs.network.construct import IsolatedNetwork


class NetworkStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: NetworkSettings,
        log_settings: LogSettings,
        lake: DataLake,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.network = IsolatedNetwork(
            self,
            "Network",
            cidr=settings.cidr,
            max_azs=settings.max_azs,
            subnet_mask=settings.subnet_mask,
            buckets=list(lake.zones.values()),
            log_key=lake.key,
            log_retention=log_retention(log_settings.retention_days),
            removal_policy=removal_policy,
        )
