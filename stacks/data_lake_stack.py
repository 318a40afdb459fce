"""DataLakeStack: the zones every pipeline reads and writes, and the lake key."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_config.config import Encryption, LakeSettings
from ml_constructs.data_lake.construct import DataLake
from stacks.mapping import removal_policy


class DataLakeStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: LakeSettings, prefix: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Glue/Athena names: lower case, underscores (a hyphen would need quoting in every Athena query).
        database_name = f"{prefix.lower().replace('-', '_')}_lake"
        raw, results = settings.raw, settings.query_results
        self.lake = DataLake(
            self,
            "DataLake",
            database_name=database_name,
            encryption=s3.BucketEncryption.KMS
            if settings.encryption is Encryption.KMS
            else s3.BucketEncryption.S3_MANAGED,
            removal_policy=removal_policy(settings.removal_policy),
            raw_transitions=[
                (s3.StorageClass.INFREQUENT_ACCESS, raw.standard_ia_days),
                (s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, raw.glacier_ir_days),
                (s3.StorageClass.GLACIER, raw.glacier_days),
                (s3.StorageClass.DEEP_ARCHIVE, raw.deep_archive_days),
            ],
            object_lock_days=settings.object_lock.retention_days if settings.object_lock.enabled else None,
            curated_intelligent_tiering_days=settings.curated.intelligent_tiering_days,
            query_results_one_zone_ia_days=results.one_zone_ia_days or None,  # 0 in the config: off
            query_results_expiration_days=results.expiration_days,
            noncurrent_version_expiration_days=settings.noncurrent_version_expiration_days,
            abort_incomplete_multipart_days=settings.abort_incomplete_multipart_days,
            access_log_expiration_days=settings.access_logs.expiration_days,
        )
        # Names the runbook and the tools need (plain outputs, no exports).
        for zone, bucket in self.lake.zones.items():
            cdk.CfnOutput(self, f"{zone.capitalize()}BucketName", value=bucket.bucket_name)
        cdk.CfnOutput(self, "DatabaseName", value=database_name)
