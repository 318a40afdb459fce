"""DataLakeStack: the zones every pipeline reads and writes, and the lake key."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import LakeSettings
from ml_constructs.data_lake.construct import DataLake


class DataLakeStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: LakeSettings, prefix: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Glue/Athena names: lower case, underscores (a hyphen would need quoting in every Athena query).
        database_name = f"{prefix.lower().replace('-', '_')}_lake"
        self.lake = DataLake(self, "DataLake", settings=settings, database_name=database_name)
        # Names the runbook and the tools need (plain outputs, no exports).
        for zone, bucket in self.lake.zones.items():
            cdk.CfnOutput(self, f"{zone.capitalize()}BucketName", value=bucket.bucket_name)
        cdk.CfnOutput(self, "DatabaseName", value=database_name)
