"""The two crawlers and their role, and why two (docs/glue-etl.md, "The crawlers, and why two"):

- raw: the raw events table (owned by the streaming pipeline) gains a partition for each new ``dt=`` folder.
  Its schema-change policy only logs (the schema belongs to the event schema), which is what allows the
  recrawl policy CRAWL_NEW_FOLDERS_ONLY: an incremental crawl stays cheap as the raw zone grows;
- curated: the job's prepared Parquet output becomes the ``curated_prepared`` table. Its columns follow the
  ETL's encoding, so this crawler updates the schema, and so it must crawl everything (one small folder).
"""

from __future__ import annotations

import json

from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_constructs.glue_etl.grants import grant_catalog, grant_glue_logs, grant_key, grant_prefix
from ml_constructs.glue_etl.runtime.contract import PREPARED_PREFIX
from ml_constructs.lake_layout import CURATED_ROOT, EVENTS_PREFIX
from ml_constructs.nag import WildcardLedger

RAW_TABLE_PREFIX = "raw_"  # the raw crawler finds the streaming pipeline's raw_events table at events/
CURATED_TABLE_PREFIX = "curated_"  # the curated crawler names the prepared table curated_prepared
CURATED_TABLE_NAME = CURATED_TABLE_PREFIX + PREPARED_PREFIX.rstrip("/")


def crawler_role(
    scope: Construct,
    *,
    raw: s3.IBucket,
    curated: s3.IBucket,
    database: glue.IDatabase,
    key: kms.IKey,
    s3_kms: bool,
    ledger: WildcardLedger,
) -> iam.Role:
    """Reads the two crawled prefixes (never writes data), updates tables of the lake database only."""
    role = iam.Role(
        scope,
        "CrawlerRole",
        assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
        description="Glue crawlers: read the raw events and curated prepared prefixes, update the lake catalog",
    )
    grant_catalog(role, database, ledger=ledger)
    grant_prefix(role, raw, EVENTS_PREFIX, write=False, ledger=ledger)
    grant_prefix(role, curated, CURATED_ROOT + PREPARED_PREFIX, write=False, ledger=ledger)
    grant_glue_logs(role, "crawlers", ledger=ledger)
    grant_key(role, key, s3_kms=s3_kms, writes_s3=False)
    return role


def raw_crawler(
    scope: Construct,
    *,
    role: iam.IRole,
    database: glue.IDatabase,
    path: str,
    schedule: str | None,
    security: glue.ISecurityConfiguration,
) -> glue.CfnCrawler:
    """Adds the partitions of new ``dt=`` folders under ``path`` to the raw events table."""
    return glue.CfnCrawler(
        scope,
        "RawCrawler",
        role=role.role_arn,
        database_name=database.database_name,
        description="Adds the partitions of new dt= folders to the raw events table",
        targets=glue.CfnCrawler.TargetsProperty(s3_targets=[glue.CfnCrawler.S3TargetProperty(path=path)]),
        table_prefix=RAW_TABLE_PREFIX,
        schedule=glue.CfnCrawler.ScheduleProperty(schedule_expression=schedule) if schedule else None,
        # Log-only schema changes: the raw table's schema is the event schema, owned by the streaming
        # pipeline; a crawler must not rewrite it from whatever a file happens to contain.
        schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(update_behavior="LOG", delete_behavior="LOG"),
        # Allowed because both behaviours above are LOG: crawl only folders added since the last run.
        recrawl_policy=glue.CfnCrawler.RecrawlPolicyProperty(recrawl_behavior="CRAWL_NEW_FOLDERS_ONLY"),
        configuration=json.dumps(
            {
                "Version": 1.0,
                # one table at s3://bucket/events/, partitions below it; new partitions take the table's
                # schema and SerDe (Parquet or JSON, as the streaming pipeline defined it)
                "Grouping": {"TableLevelConfiguration": 2},
                "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
            },
            sort_keys=True,
        ),
        crawler_security_configuration=security.security_configuration_name,
    )


def curated_crawler(
    scope: Construct,
    *,
    role: iam.IRole,
    database: glue.IDatabase,
    path: str,
    security: glue.ISecurityConfiguration,
) -> glue.CfnCrawler:
    """Catalogs the job's prepared Parquet output under ``path`` as the ``curated_prepared`` table."""
    return glue.CfnCrawler(
        scope,
        "CuratedCrawler",
        role=role.role_arn,
        database_name=database.database_name,
        description="Catalogs the ETL job's prepared Parquet output as the curated_prepared table",
        targets=glue.CfnCrawler.TargetsProperty(s3_targets=[glue.CfnCrawler.S3TargetProperty(path=path)]),
        table_prefix=CURATED_TABLE_PREFIX,
        # The prepared columns follow the ETL's encoding: let schema changes through to the catalog.
        # That rules out incremental crawls (they need a log-only policy), so it crawls everything.
        schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
            update_behavior="UPDATE_IN_DATABASE", delete_behavior="DEPRECATE_IN_DATABASE"
        ),
        recrawl_policy=glue.CfnCrawler.RecrawlPolicyProperty(recrawl_behavior="CRAWL_EVERYTHING"),
        configuration=json.dumps({"Version": 1.0, "Grouping": {"TableLevelConfiguration": 3}}, sort_keys=True),
        crawler_security_configuration=security.security_configuration_name,
    )
