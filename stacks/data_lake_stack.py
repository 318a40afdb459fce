"""DataLakeStack: the zones every pipeline reads and writes, and the lake key."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import LakeSettings
from ml_constructs.data_lake import DataLake


class DataLakeStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: LakeSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.lake = DataLake(self, "DataLake", settings=settings)
