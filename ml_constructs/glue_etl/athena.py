"""The Athena workgroup over the lake's tables, and its named queries.

The workgroup enforces its configuration, so a user cannot switch off the result encryption or the
bytes-scanned cutoff (Athena bills per byte scanned: the cutoff caps the cost of a runaway query).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_constructs.glue_etl.crawlers import CURATED_TABLE_NAME
from ml_constructs.lake_layout import QUERY_RESULTS_PREFIX


def workgroup(
    scope: Construct,
    *,
    name: str,
    results: s3.IBucket,
    key: kms.IKey,
    s3_kms: bool,
    bytes_scanned_cutoff_mb: int,
    removal_policy: cdk.RemovalPolicy,
) -> athena.CfnWorkGroup:
    """Results under ``athena-results/`` of ``results``, encrypted (SSE-KMS with the lake key, or SSE-S3),
    a per-query cutoff, CloudWatch metrics. Destroyed with its saved queries and history when the data is."""
    encryption = (
        athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_KMS", kms_key=key.key_arn)
        if s3_kms
        else athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_S3")
    )
    group = athena.CfnWorkGroup(
        scope,
        "Workgroup",
        name=name,
        description="Queries over the worked example's raw and curated tables",
        recursive_delete_option=removal_policy == cdk.RemovalPolicy.DESTROY,
        work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
            enforce_work_group_configuration=True,  # users cannot switch off encryption or the cutoff
            publish_cloud_watch_metrics_enabled=True,
            bytes_scanned_cutoff_per_query=bytes_scanned_cutoff_mb * 1_000_000,
            engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version="AUTO"),
            result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                output_location=f"s3://{results.bucket_name}/{QUERY_RESULTS_PREFIX}",
                encryption_configuration=encryption,
                expected_bucket_owner=cdk.Stack.of(scope).account,
            ),
        ),
    )
    group.apply_removal_policy(removal_policy)
    return group


def named_queries(
    scope: Construct, *, group: athena.CfnWorkGroup, database_name: str, raw_table: str
) -> dict[str, athena.CfnNamedQuery]:
    """Class balance of the raw events, a daily count that prunes to seven partitions, and the class balance
    per split of the curated data (``query_texts``)."""
    return {
        name: athena.CfnNamedQuery(
            scope,
            name,
            database=database_name,
            work_group=group.ref,
            name=name,
            description=description,
            query_string=sql,
        )
        for name, (description, sql) in query_texts(raw_table).items()
    }


def query_texts(raw_table: str) -> dict[str, tuple[str, str]]:
    """Name -> (description, SQL) of the named queries over ``raw_table`` and the curated table."""
    return {
        "RawClassBalance": (
            "Class balance of the raw events (unbalanced data)",
            f"SELECT is_fraud, count(*) AS events, round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct\n"
            f"FROM {raw_table}\nGROUP BY is_fraud\nORDER BY is_fraud",
        ),
        "RawDailyCount": (
            "Events per day for the last 7 days; the dt predicate prunes partitions, so only 7 folders are read",
            f"SELECT dt, count(*) AS events, sum(is_fraud) AS frauds\nFROM {raw_table}\n"
            "WHERE dt >= date_format(current_date - interval '7' day, '%Y-%m-%d')\nGROUP BY dt\nORDER BY dt",
        ),
        "CuratedClassBalance": (
            "Class balance per split after the ETL (train is rebalanced; validation and test are not)",
            f"SELECT split, is_fraud, count(*) AS rows\nFROM {CURATED_TABLE_NAME}\n"
            "GROUP BY split, is_fraud\nORDER BY split, is_fraud",
        ),
    }
