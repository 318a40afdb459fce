"""The S3 data lake: raw, curated and artifacts zones, one customer-managed KMS key, server access logs.

Secure defaults are owned here and are not switchable: SSE (KMS with S3 Bucket Keys, or SSE-S3; SSE-C
blocked), TLS-only
(with TLS 1.2 as the minimum), all public access blocked, versioning, server access logging and
bucket-owner-enforced object ownership. The caller chooses, through ``LakeSettings``:

* the encryption mode (SSE-KMS by default), the lifecycle day counts and Object Lock;
* the removal policy: ``destroy`` empties and deletes the buckets (auto-delete objects) and schedules the
  key for deletion after the shortest waiting period, so ``cdk destroy`` leaves nothing billing; ``retain``
  keeps buckets and key.

Order of precedence for a setting: the validated ``LakeSettings`` the caller passes, then the defaults
declared there (the construct has no hidden defaults of its own besides the fixed security ones above).

Layout of the zones (the prefixes every later stage reads and writes):

* raw: ``events/`` (Firehose output), ``errors/`` (Firehose error output);
* curated: written by the Glue ETL job;
* artifacts: ``models/``, ``baselines/``, ``athena-results/`` (query results, see ``QUERY_RESULTS_PREFIX``).

The lake's Glue Data Catalog database is created here too; each pipeline adds the tables it owns.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_config.config import Encryption, LakeSettings, RemovalPolicy

QUERY_RESULTS_PREFIX = "athena-results/"


class DataLake(Construct):
    """Zones of the lake and the key that encrypts them (and, for other stages, their log groups)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: LakeSettings, database_name: str) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        retain = settings.removal_policy is RemovalPolicy.RETAIN
        removal = cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description="Data lake key: S3 zones, stream, log groups of the ML specialty reference",
            enable_key_rotation=True,
            removal_policy=removal,
            # Sandbox: the shortest wait AWS allows before a deleted key is gone (7 days, no longer billed).
            pending_window=None if retain else cdk.Duration.days(7),
        )
        self._allow_cloudwatch_logs(self.key)

        # S3 server access logs are delivered by the logging service, which cannot use the AWS-managed KMS
        # key; SSE-S3 is the encryption S3 documents for log targets (see DESIGN.md). It has no access log of
        # its own (it would log into itself); cdk-nag's S1 recognises a log target and does not flag it.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            blocked_encryption_types=[s3.BlockedEncryptionType.SSE_C],
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(settings.access_logs.expiration_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(settings.abort_incomplete_multipart_days),
                )
            ],
            removal_policy=removal,
            auto_delete_objects=not retain,
        )
        raw = settings.raw
        self.raw = self._zone(
            "Raw",
            removal,
            retain,
            rules=[
                # Fresh events are read by the crawler and the ETL within days: S3 Standard.
                # After a month nobody reads them but a replay: Standard-IA (ms access, 30-day minimum).
                # After a quarter they are audit material: Glacier Instant Retrieval (ms access, 90-day min).
                # Then Glacier Flexible Retrieval (minutes-hours restore, 90-day min) and finally Deep Archive
                # (12-48 h restore, 180-day min), the cheapest storage AWS sells.
                s3.LifecycleRule(
                    id="raw-storage-classes",
                    transitions=[
                        s3.Transition(storage_class=cls, transition_after=cdk.Duration.days(days))
                        for cls, days in (
                            (s3.StorageClass.INFREQUENT_ACCESS, raw.standard_ia_days),
                            (s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, raw.glacier_ir_days),
                            (s3.StorageClass.GLACIER, raw.glacier_days),
                            (s3.StorageClass.DEEP_ARCHIVE, raw.deep_archive_days),
                        )
                    ],
                )
            ],
            object_lock_days=settings.object_lock.retention_days if settings.object_lock.enabled else None,
        )
        self.curated = self._zone(
            "Curated",
            removal,
            retain,
            rules=[
                # Training data is re-read at each retraining, on a cadence nobody can predict: Intelligent-
                # Tiering moves each object between access tiers by itself, with no retrieval fees.
                s3.LifecycleRule(
                    id="curated-intelligent-tiering",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                            transition_after=cdk.Duration.days(settings.curated.intelligent_tiering_days),
                        )
                    ],
                )
            ],
        )
        results = settings.query_results
        self.artifacts = self._zone(
            "Artifacts",
            removal,
            retain,
            rules=[
                # Query results can be recreated by re-running the query: One Zone-IA (one AZ, 20% cheaper
                # than Standard-IA) where they are kept at all, then expiry.
                s3.LifecycleRule(
                    id="query-results",
                    prefix=QUERY_RESULTS_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS,
                            transition_after=cdk.Duration.days(results.one_zone_ia_days),
                        )
                    ]
                    if results.one_zone_ia_days
                    else None,
                    expiration=cdk.Duration.days(results.expiration_days),
                )
            ],
        )

        # The lake's Data Catalog database: the tables of every zone (raw events, curated training data) live
        # here, so Athena and the Glue jobs find them in one place. Named, because Athena queries name it.
        self.database = glue.Database(
            self,
            "Catalog",
            database_name=database_name,
            description="Data Catalog of the ML specialty reference data lake (raw and curated zones)",
            removal_policy=removal,
        )

    @property
    def zones(self) -> dict[str, s3.Bucket]:
        return {"raw": self.raw, "curated": self.curated, "artifacts": self.artifacts}

    def _zone(
        self,
        name: str,
        removal: cdk.RemovalPolicy,
        retain: bool,
        *,
        rules: list[s3.LifecycleRule],
        object_lock_days: int | None = None,
    ) -> s3.Bucket:
        settings = self.settings
        kms_mode = settings.encryption is Encryption.KMS
        housekeeping = s3.LifecycleRule(
            id="housekeeping",
            # Every zone is versioned: old versions would otherwise be kept, and billed, for ever.
            noncurrent_version_expiration=cdk.Duration.days(settings.noncurrent_version_expiration_days),
            # Parts of an upload that never completed are invisible in listings but billed.
            abort_incomplete_multipart_upload_after=cdk.Duration.days(settings.abort_incomplete_multipart_days),
        )
        return s3.Bucket(
            self,
            name,
            encryption=s3.BucketEncryption.KMS if kms_mode else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self.key if kms_mode else None,
            # Bucket Keys cut KMS requests (and their cost) by up to 99% for SSE-KMS.
            bucket_key_enabled=True if kms_mode else None,
            # SSE-C (client-supplied keys) would bypass the lake key: refused explicitly, as S3 does by
            # default for buckets created since April 2026.
            blocked_encryption_types=[s3.BlockedEncryptionType.SSE_C],
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{name.lower()}/",
            lifecycle_rules=[*rules, housekeeping],
            object_lock_enabled=True if object_lock_days else None,
            object_lock_default_retention=s3.ObjectLockRetention.governance(cdk.Duration.days(object_lock_days))
            if object_lock_days
            else None,
            removal_policy=removal,
            auto_delete_objects=not retain,
        )

    def _allow_cloudwatch_logs(self, key: kms.Key) -> None:
        """Let CloudWatch Logs use the key for log groups of this account and region (and only those).

        Every stage encrypts its log groups with the lake key; the grant lives here, once, scoped by the
        encryption context CloudWatch Logs sends, instead of each stage editing this key's policy.
        """
        stack = cdk.Stack.of(self)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
