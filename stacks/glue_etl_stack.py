"""GlueEtlStack: Data Catalog settings, crawlers, the ETL job (raw -> curated), Athena and data quality."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from constructs import Construct

from ml_config.config import AppConfig, Encryption, EtlSettings
from ml_constructs.common import log_retention
from ml_constructs.data_lake.construct import DataLake
from ml_constructs.glue_etl.construct import CatalogEncryption, GlueEtl
from ml_constructs.glue_etl.job import JobSettings
from ml_constructs.glue_etl.runtime.contract import EtlParams
from ml_constructs.streaming.construct import RAW_TABLE_NAME
from stacks.mapping import etl_spec, removal_policy

_GLUE_VERSIONS = {"5.0": glue.GlueVersion.V5_0, "5.1": glue.GlueVersion.V5_1}
_WORKER_TYPES = {
    "G.1X": glue.WorkerType.G_1X,
    "G.2X": glue.WorkerType.G_2X,
    "G.4X": glue.WorkerType.G_4X,
    "G.8X": glue.WorkerType.G_8X,
}


class GlueEtlStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, lake: DataLake, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.etl = GlueEtl(
            self,
            "Etl",
            raw=lake.raw,
            curated=lake.curated,
            artifacts=lake.artifacts,
            database=lake.database,
            key=lake.key,
            spec=etl_spec(),
            params=etl_params(config.etl, raw_format=config.firehose.output_format.value),
            job=JobSettings(
                glue_version=_GLUE_VERSIONS[config.etl.glue_version.value],
                worker_type=_WORKER_TYPES[config.etl.worker_type.value],
                workers=config.etl.workers,
                max_retries=config.etl.max_retries,
                timeout=cdk.Duration.minutes(config.etl.timeout_minutes),
            ),
            s3_kms=config.lake.encryption is Encryption.KMS,
            raw_table_name=RAW_TABLE_NAME,
            crawler_schedule=config.catalog.crawler_schedule,
            catalog_encryption=CatalogEncryption(config.catalog.encryption.value),
            workgroup_name=f"{config.prefix}-lake",
            bytes_scanned_cutoff_mb=config.athena.bytes_scanned_cutoff_mb,
            log_retention=log_retention(config.logs.retention_days),
            removal_policy=removal_policy(config.lake.removal_policy),
            bias_facets=config.bias.facet_list(),
        )
        cdk.CfnOutput(self, "JobName", value=self.etl.job.job_name)
        cdk.CfnOutput(self, "RawCrawlerName", value=self.etl.raw_crawler.ref)
        cdk.CfnOutput(self, "CuratedCrawlerName", value=self.etl.curated_crawler.ref)
        cdk.CfnOutput(self, "CuratedPath", value=self.etl.curated_root)
        cdk.CfnOutput(self, "AthenaWorkgroup", value=self.etl.workgroup.ref)


def etl_params(etl: EtlSettings, *, raw_format: str) -> EtlParams:
    """The preparation's parameters from the ``etl.*`` keys; the test split gets what train and validation leave."""
    return EtlParams(
        raw_format=raw_format,
        split_fractions=(
            etl.train_fraction,
            etl.validation_fraction,
            round(1 - etl.train_fraction - etl.validation_fraction, 10),
        ),
        impute_method=etl.impute_method.value,
        knn_k=etl.knn_k,
        knn_reference_rows=etl.knn_reference_rows,
        mice_max_rounds=etl.mice_max_rounds,
        mice_tolerance=etl.mice_tolerance,
        outlier_k=etl.outlier_k,
        outlier_mode=etl.outlier_mode.value,
        n_bins=etl.n_bins,
        bin_method=etl.bin_method.value,
        rebalance_method=etl.rebalance_method.value,
        rebalance_ratio=etl.rebalance_ratio,
        smote_k=etl.smote_k,
        smote_max_positives=etl.smote_max_positives,
        min_positives=etl.min_positives_per_split,
        future_tolerance_minutes=etl.future_tolerance_minutes,
        window_days=etl.window_days,
    )
