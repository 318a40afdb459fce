"""GlueEtlStack: Data Catalog settings, crawlers, the ETL job (raw -> curated), Athena and data quality."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_config.config import AppConfig, Encryption
from ml_constructs.common import log_retention
from ml_constructs.data_lake.construct import DataLake
from ml_constructs.glue_etl.construct import GlueEtl, Zones
from ml_constructs.lake_layout import EVENTS_PREFIX
from ml_constructs.streaming.construct import RAW_TABLE_NAME
from stacks.mapping import removal_policy


class GlueEtlStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, lake: DataLake, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.etl = GlueEtl(
            self,
            "Etl",
            zones=Zones(
                raw=lake.raw,
                curated=lake.curated,
                artifacts=lake.artifacts,
                raw_events_prefix=EVENTS_PREFIX,
                raw_table_name=RAW_TABLE_NAME,
            ),
            database=lake.database,
            key=lake.key,
            s3_kms=config.lake.encryption is Encryption.KMS,
            raw_format=config.firehose.output_format.value,
            etl=config.etl,
            catalog=config.catalog,
            athena_settings=config.athena,
            workgroup_name=f"{config.prefix}-lake",
            log_retention=log_retention(config.logs.retention_days),
            removal_policy=removal_policy(config.lake.removal_policy),
        )
        cdk.CfnOutput(self, "JobName", value=self.etl.job.job_name)
        cdk.CfnOutput(self, "RawCrawlerName", value=self.etl.raw_crawler.ref)
        cdk.CfnOutput(self, "CuratedCrawlerName", value=self.etl.curated_crawler.ref)
        cdk.CfnOutput(self, "CuratedPath", value=self.etl.curated_root)
        cdk.CfnOutput(self, "AthenaWorkgroup", value=self.etl.workgroup.ref)
