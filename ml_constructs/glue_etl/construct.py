"""GlueEtl: the data preparation between the raw and the curated zone, and the catalog and queries around it.

It builds a Glue security configuration, the PySpark ETL job (``job.py``; its code is ``runtime/``), two
crawlers (``crawlers.py``), an Athena workgroup with named queries (``athena.py``) and a Data Quality ruleset
(``quality.py``); see docs/glue-etl.md. The caller controls the lake it works on, what the job does (``spec``,
``params``), where it runs (``job``), the crawler schedule, the catalog encryption, the workgroup's name and
cutoff, and the log retention and removal policy. Fixed: the lake's prefixes (``lake_layout``), encryption of
everything the crawlers and the job write, least-privilege roles, one job run at a time, bookmarks off.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_constructs.glue_etl.athena import named_queries, workgroup
from ml_constructs.glue_etl.crawlers import RAW_TABLE_PREFIX, crawler_role, curated_crawler, raw_crawler
from ml_constructs.glue_etl.grants import grant_catalog_key
from ml_constructs.glue_etl.job import JobSettings, etl_job, job_role
from ml_constructs.glue_etl.quality import curated_ruleset
from ml_constructs.glue_etl.runtime.contract import PREPARED_PREFIX, EtlParams, EtlSpec, job_arguments
from ml_constructs.lake_layout import CURATED_ROOT, EVENTS_PREFIX
from ml_constructs.nag import WildcardLedger, acknowledge_grant_policy


class CatalogEncryption(StrEnum):
    """The account's Data Catalog encryption at rest (an account-wide setting, not a resource of the stack)."""

    AWS_MANAGED = "aws_managed"  # SSE-KMS with the aws/glue key: survives the deletion of the stack
    LAKE_KEY = "lake_key"  # SSE-KMS with the lake key: only where the key is retained
    UNMANAGED = "unmanaged"  # leave the account's setting alone (another copy of the app manages it)


class GlueEtl(Construct):
    """``raw``, ``curated``, ``artifacts``: the lake's buckets (the job reads ``events/`` and writes below
    ``etl/``; Athena's results go to ``athena-results/``); ``database``, ``key``: the lake's catalog database
    and key; ``s3_kms``: whether the buckets use SSE-KMS with that key. ``spec``: the columns and their
    treatment; ``params``: the preparation's parameters (default ``EtlParams()``); ``job``: Glue version,
    workers, retries, timeout (default ``JobSettings()``). ``raw_table_name``: the raw events table whose
    partitions the raw crawler adds; ``crawler_schedule``: a Glue cron expression (None: on demand).
    ``workgroup_name`` defaults to ``<stack name>-lake``. ``removal_policy`` applies to everything that holds
    data or has a fixed name. ``bias_facets``: categorical or ordinal columns of ``spec`` whose pre-training bias the
    job reports (default none)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        raw: s3.IBucket,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        database: glue.IDatabase,
        key: kms.IKey,
        spec: EtlSpec,
        params: EtlParams | None = None,
        job: JobSettings | None = None,
        s3_kms: bool = True,
        raw_table_name: str = RAW_TABLE_PREFIX + EVENTS_PREFIX.rstrip("/"),
        crawler_schedule: str | None = None,
        catalog_encryption: CatalogEncryption = CatalogEncryption.AWS_MANAGED,
        workgroup_name: str | None = None,
        bytes_scanned_cutoff_mb: int = 1024,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        bias_facets: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        ledger = WildcardLedger()  # the wildcard resources granted, acknowledged one by one at the end
        self.security_configuration = glue.SecurityConfiguration(
            self,
            "Security",
            s3_encryption=glue.S3Encryption.kms(key) if s3_kms else glue.S3Encryption.s3_managed(),
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(key),
        )
        # Named resources: the L2 defaults to RETAIN, and a retained name blocks the next deploy of the stack.
        self.security_configuration.apply_removal_policy(removal_policy)

        raw_events = f"s3://{raw.bucket_name}/{EVENTS_PREFIX}"
        self.curated_root = f"s3://{curated.bucket_name}/{CURATED_ROOT}"
        self.job_role = job_role(self, raw=raw, curated=curated, key=key, s3_kms=s3_kms, ledger=ledger)
        security = self.security_configuration
        self.job = etl_job(
            self,
            role=self.job_role,
            arguments=job_arguments(raw_events, self.curated_root, spec, params or EtlParams(), bias_facets),
            settings=job or JobSettings(),
            security=security,
            log_key=key,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )

        self.crawler_role = crawler_role(
            self, raw=raw, curated=curated, database=database, key=key, s3_kms=s3_kms, ledger=ledger
        )
        _encrypt_catalog(self, catalog_encryption, key, reader=self.crawler_role)
        self.raw_crawler = raw_crawler(
            self,
            role=self.crawler_role,
            database=database,
            path=raw_events,
            schedule=crawler_schedule,
            security=security,
        )
        self.curated_crawler = curated_crawler(
            self, role=self.crawler_role, database=database, path=self.curated_root + PREPARED_PREFIX, security=security
        )

        self.workgroup = workgroup(
            self,
            name=workgroup_name or f"{cdk.Stack.of(self).stack_name}-lake",
            results=artifacts,
            key=key,
            s3_kms=s3_kms,
            bytes_scanned_cutoff_mb=bytes_scanned_cutoff_mb,
            removal_policy=removal_policy,
        )
        self.named_queries = named_queries(
            self, group=self.workgroup, database_name=database.database_name, raw_table=raw_table_name
        )
        self.quality = curated_ruleset(self, database=database, spec=spec, removal_policy=removal_policy)
        self._acknowledge(ledger)

    def _acknowledge(self, ledger: WildcardLedger) -> None:
        """What cdk-nag's IAM5 reports, each with its reason."""
        ledger.acknowledge(
            "Object keys under one prefix of one lake bucket, log groups under /aws-glue/, and tables of the "
            "lake database: the ETL job and the crawlers create these names at run time. The one '*' is "
            "cloudwatch:PutMetricData, which has no resource type and is scoped by its namespace condition."
        )
        acknowledge_grant_policy(self.job_role)
        acknowledge_grant_policy(self.crawler_role)


def _encrypt_catalog(scope: Construct, mode: CatalogEncryption, key: kms.IKey, *, reader: iam.IRole) -> None:
    """The account's Data Catalog encryption at rest and of connection passwords (nothing when unmanaged); with the
    lake key, ``reader`` (the crawlers' role, which reads and writes tables) may use it through Glue. The aws/glue
    key's own policy admits the account's principals through Glue."""
    if mode is CatalogEncryption.UNMANAGED:
        return
    if mode is CatalogEncryption.LAKE_KEY:
        grant_catalog_key(reader, key)
    key_id = key.key_arn if mode is CatalogEncryption.LAKE_KEY else None  # unset: the aws/glue managed key
    settings = glue.CfnDataCatalogEncryptionSettings
    settings(
        scope,
        "CatalogEncryption",
        catalog_id=cdk.Stack.of(scope).account,
        data_catalog_encryption_settings=settings.DataCatalogEncryptionSettingsProperty(
            encryption_at_rest=settings.EncryptionAtRestProperty(
                catalog_encryption_mode="SSE-KMS", sse_aws_kms_key_id=key_id
            ),
            connection_password_encryption=settings.ConnectionPasswordEncryptionProperty(
                return_connection_password_encrypted=True, kms_key_id=key_id
            ),
        ),
    )
