"""A Glue Data Quality ruleset on the curated table, its rules (DQDL) derived from the ETL's output contract, so
they follow the schema. Evaluation runs are started on demand or by a workflow; the ruleset costs nothing."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from constructs import Construct

from ml_constructs.glue_etl.crawlers import CURATED_TABLE_NAME
from ml_constructs.glue_etl.runtime.contract import SPLIT_COLUMN, SPLITS, EtlSpec, feature_columns


def curated_ruleset(
    scope: Construct, *, database: glue.IDatabase, spec: EtlSpec, removal_policy: cdk.RemovalPolicy
) -> glue.DataQualityRuleset:
    ruleset = glue.DataQualityRuleset(
        scope,
        "CuratedQuality",
        ruleset_name=f"{cdk.Stack.of(scope).stack_name}-curated-prepared",
        description="Checks of the curated training data the ETL job writes",
        target_table=glue.DataQualityTargetTable.from_table_name(database, CURATED_TABLE_NAME),
        dqdl=glue.Dqdl.from_string(curated_dqdl(spec)),
    )
    ruleset.apply_removal_policy(removal_policy)  # a fixed name: a retained ruleset would block the next deploy
    return ruleset


def curated_dqdl(spec: EtlSpec) -> str:
    """The rules for the curated prepared table: rows, a complete 0/1 label, the split names, and every model
    feature complete (imputation leaves no gap)."""
    label = spec.label
    splits = ", ".join(f'"{s}"' for s in SPLITS)
    rules = [
        "RowCount > 0",
        f'IsComplete "{label}"',
        f'ColumnValues "{label}" in [0, 1]',
        f'ColumnValues "{SPLIT_COLUMN}" in [{splits}]',
        *(f'IsComplete "{name}"' for name in feature_columns(spec)),
    ]
    return "Rules = [\n    " + ",\n    ".join(rules) + "\n]"
