"""The S3 data lake: raw, curated and artifacts zones, the customer-managed key, server access logs, and the
Data Catalog database each pipeline adds its tables to (syllabus §1.1).

The caller controls the encryption of the zones (SSE-KMS with the lake key, or SSE-S3), the lifecycle day
counts, Object Lock on the raw zone and the removal policy (``DESTROY`` empties and deletes the buckets and
schedules the key for deletion after the shortest wait, so nothing keeps billing). Fixed, and not
switchable: SSE-C refused, TLS 1.2 or later only, all public access blocked, ACLs off, every zone versioned
and logged. The prefixes every stage uses are in ``ml_constructs.lake_layout``; why each storage class is
used where it is: docs/data-lake.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_constructs.lake_layout import QUERY_RESULTS_PREFIX
from ml_constructs.nag import acknowledge_packs

#: Raw events are read by the crawler and the ETL within days (S3 Standard); after a month nobody reads them
#: but a replay: Standard-IA (ms access, 30-day minimum); after a quarter they are audit material: Glacier
#: Instant Retrieval (ms access, 90-day minimum); then Glacier Flexible Retrieval (restores in minutes to hours)
#: and finally Deep Archive (restores in 12-48 h, 180-day minimum), the cheapest storage AWS sells.
RAW_TRANSITIONS: tuple[tuple[s3.StorageClass, int], ...] = (
    (s3.StorageClass.INFREQUENT_ACCESS, 30),
    (s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 90),
    (s3.StorageClass.GLACIER, 180),
    (s3.StorageClass.DEEP_ARCHIVE, 365),
)


class DataLake(Construct):
    """The zones (``raw``, ``curated``, ``artifacts``), the key that encrypts them and every stage's log
    groups (``key``), the access-log bucket and the catalog database (``database``, named ``database_name``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database_name: str,
        encryption: s3.BucketEncryption = s3.BucketEncryption.KMS,  # or S3_MANAGED
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,  # or DESTROY
        raw_transitions: Sequence[tuple[s3.StorageClass, int]] = RAW_TRANSITIONS,  # (class, days after creation)
        object_lock_days: int | None = None,  # governance-mode retention of raw objects; None: no Object Lock
        curated_intelligent_tiering_days: int = 0,
        query_results_one_zone_ia_days: int | None = None,  # None: query results stay in Standard
        query_results_expiration_days: int = 30,
        noncurrent_version_expiration_days: int = 30,
        abort_incomplete_multipart_days: int = 7,
        access_log_expiration_days: int = 90,
    ) -> None:
        super().__init__(scope, construct_id)
        # ACLs are off on every bucket, so the access-log bucket must take S3's logs through its bucket policy:
        # that CDK feature flag, set for this construct's buckets whatever the app's cdk.json says.
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        if encryption not in (s3.BucketEncryption.KMS, s3.BucketEncryption.S3_MANAGED):
            raise ValueError("encryption: s3.BucketEncryption.KMS (the lake key) or S3_MANAGED")
        self._kms = encryption == s3.BucketEncryption.KMS
        self._removal = removal_policy
        self._destroy = removal_policy == cdk.RemovalPolicy.DESTROY
        self._housekeeping = s3.LifecycleRule(
            id="housekeeping",
            # Every zone is versioned: old versions would otherwise be kept, and billed, for ever.
            noncurrent_version_expiration=cdk.Duration.days(noncurrent_version_expiration_days),
            # Parts of an upload that never completed are invisible in listings but billed.
            abort_incomplete_multipart_upload_after=cdk.Duration.days(abort_incomplete_multipart_days),
        )

        self.key = kms.Key(
            self,
            "Key",
            description="Data lake key: S3 zones, stream, log groups of the ML specialty reference",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            # On destroy: the shortest wait AWS allows before a deleted key is gone (7 days, no longer billed).
            pending_window=cdk.Duration.days(7) if self._destroy else None,
        )
        self._allow_cloudwatch_logs()
        self.access_logs = self._access_log_bucket(access_log_expiration_days, abort_incomplete_multipart_days)
        self.raw = self._zone("Raw", _raw_storage_classes(raw_transitions), object_lock_days=object_lock_days)
        self.curated = self._zone("Curated", _curated_tiering(curated_intelligent_tiering_days))
        self.artifacts = self._zone(
            "Artifacts", _query_results(query_results_one_zone_ia_days, query_results_expiration_days)
        )
        # The tables of every zone live here, so Athena and the Glue jobs find them in one place. Named,
        # because Athena queries name it.
        self.database = glue.Database(
            self,
            "Catalog",
            database_name=database_name,
            description="Data Catalog of the ML specialty reference data lake (raw and curated zones)",
            removal_policy=removal_policy,
        )
        self._acknowledge()

    @property
    def zones(self) -> dict[str, s3.Bucket]:
        return {"raw": self.raw, "curated": self.curated, "artifacts": self.artifacts}

    def _zone(self, name: str, rule: s3.LifecycleRule, *, object_lock_days: int | None = None) -> s3.Bucket:
        """A zone bucket: encrypted, TLS-only, private, versioned, logged, with ``rule`` and the housekeeping."""
        return s3.Bucket(
            self,
            name,
            encryption=s3.BucketEncryption.KMS if self._kms else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self.key if self._kms else None,
            # Bucket Keys cut KMS requests (and their cost) by up to 99% for SSE-KMS.
            bucket_key_enabled=True if self._kms else None,
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
            lifecycle_rules=[rule, self._housekeeping],
            object_lock_enabled=True if object_lock_days else None,
            object_lock_default_retention=s3.ObjectLockRetention.governance(cdk.Duration.days(object_lock_days))
            if object_lock_days
            else None,
            removal_policy=self._removal,
            auto_delete_objects=self._destroy,
        )

    def _access_log_bucket(self, expiration_days: int, abort_multipart_days: int) -> s3.Bucket:
        """Server access logs are delivered by the logging service, which cannot use the AWS-managed KMS key;
        SSE-S3 is the encryption S3 documents for log targets. No access log of its own (it would log into
        itself); cdk-nag's S1 recognises a log target and does not flag it."""
        return s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            blocked_encryption_types=[s3.BlockedEncryptionType.SSE_C],
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Versioned like the zones: an overwritten or deleted log stays recoverable (audit records); the
            # housekeeping rule expires the old versions, the other one the logs themselves.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(expiration_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(abort_multipart_days),
                ),
                s3.LifecycleRule(
                    id="housekeeping",
                    noncurrent_version_expiration=self._housekeeping.noncurrent_version_expiration,
                ),
            ],
            removal_policy=self._removal,
            auto_delete_objects=self._destroy,
        )

    def _acknowledge(self) -> None:
        """The conformance packs' findings these buckets keep on purpose, one bucket at a time."""
        acknowledge_packs(
            self.access_logs.node.default_child,
            "S3DefaultEncryptionKMS",
            "Server access logs are written by the S3 logging service, which cannot use the AWS-managed KMS key; "
            "whether a customer-managed key works is disputed (S3 user guide vs aws-cdk PR #25350): SSE-S3 is the "
            "encryption S3 documents for log target buckets.",
        )
        for bucket in (self.access_logs, *self.zones.values()):
            acknowledge_packs(
                bucket.node.default_child,
                "S3BucketReplicationEnabled",
                "A single-region reference: versioning (and Object Lock on the raw zone in production) protects the "
                "objects; cross-region replication would need a second region's bucket and key and double the "
                "storage bill. Add a replication rule where a recovery objective requires a second region.",
            )
        if not self._kms:
            for bucket in self.zones.values():
                acknowledge_packs(
                    bucket.node.default_child,
                    "S3DefaultEncryptionKMS",
                    "The caller chose SSE-S3 for the zones (lake.encryption=s3): encrypted at rest with S3-managed "
                    "keys, no KMS cost; the lake key (default) is the option when who may decrypt must be separate.",
                )

    def _allow_cloudwatch_logs(self) -> None:
        """Let CloudWatch Logs use the key for log groups of this account and region (and only those).

        Every stage encrypts its log groups with the lake key; the grant lives here, once, scoped by the
        encryption context CloudWatch Logs sends, instead of each stage editing this key's policy.
        """
        stack = cdk.Stack.of(self)
        self.key.add_to_resource_policy(
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


def _raw_storage_classes(transitions: Sequence[tuple[s3.StorageClass, int]]) -> s3.LifecycleRule:
    """Raw events walk down the storage classes as they age (``RAW_TRANSITIONS``)."""
    return s3.LifecycleRule(
        id="raw-storage-classes",
        transitions=[
            s3.Transition(storage_class=storage_class, transition_after=cdk.Duration.days(days))
            for storage_class, days in transitions
        ],
    )


def _curated_tiering(days: int) -> s3.LifecycleRule:
    """Training data is re-read at each retraining, on a cadence nobody can predict: Intelligent-Tiering moves
    each object between access tiers by itself, with no retrieval fees."""
    return s3.LifecycleRule(
        id="curated-intelligent-tiering",
        transitions=[
            s3.Transition(storage_class=s3.StorageClass.INTELLIGENT_TIERING, transition_after=cdk.Duration.days(days))
        ],
    )


def _query_results(one_zone_ia_days: int | None, expiration_days: int) -> s3.LifecycleRule:
    """Query results can be recreated by re-running the query: One Zone-IA (one AZ, 20% cheaper than
    Standard-IA) where they are kept at all, then expiry."""
    return s3.LifecycleRule(
        id="query-results",
        prefix=QUERY_RESULTS_PREFIX,
        transitions=[
            s3.Transition(
                storage_class=s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS,
                transition_after=cdk.Duration.days(one_zone_ia_days),
            )
        ]
        if one_zone_ia_days
        else None,
        expiration=cdk.Duration.days(expiration_days),
    )
