"""The few config values that map onto a CDK type the same way in every stack."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

from ml_config.config import AppConfig, RemovalPolicy
from ml_constructs.common import log_retention
from ml_constructs.glue_etl.runtime.contract import ColumnSpec, EtlSpec, feature_columns
from ml_constructs.shared_runtime.bias import facet_value
from worked_example import schema


def removal_policy(policy: RemovalPolicy) -> cdk.RemovalPolicy:
    """The CDK removal policy for the configured lake.removal_policy (shared by every stateful resource)."""
    return cdk.RemovalPolicy.RETAIN if policy is RemovalPolicy.RETAIN else cdk.RemovalPolicy.DESTROY


def retention(config: AppConfig) -> logs.RetentionDays:
    """How long every log group of the app keeps its events (logs.retention_days)."""
    return log_retention(config.logs.retention_days)


def tags(config: AppConfig) -> dict[str, str]:
    """The tags on every resource of the app, and on what the training workflow creates at run time."""
    return {"Project": config.prefix, "Profile": config.profile.value}


def etl_spec() -> EtlSpec:
    """The ETL's spec of the worked example: column kinds, types, nullability, allowed values and plausible
    ranges from ``worked_example.schema``; the imputed columns are the nullable numeric features. The three treatment
    choices are the only column names written here: ``amount`` carries the x100 recording errors and is
    log-normal, ``distance_from_home_km`` is log-normal too, and ``account_age_days`` is the syllabus's binning
    example (a skewed count of days)."""
    columns = tuple(
        ColumnSpec(f.name, f.type, str(f.kind), f.nullable, tuple(f.values), f.minimum, f.maximum)
        for f in schema.FIELDS
    )
    impute = tuple(f.name for f in schema.feature_fields() if f.kind == schema.Kind.NUMERIC and f.nullable)
    return EtlSpec(
        columns=columns,
        label=schema.LABEL,
        id_column=schema.ID_FIELD,
        timestamp_column=schema.TIMESTAMP_FIELD,
        # The schema's own validator pattern for the wire format 2026-11-20T10:15:30.123Z.
        timestamp_regex=schema.TIMESTAMP_REGEX,
        positive_class=schema.POSITIVE_CLASS,
        impute_columns=impute,
        outlier_columns=("amount",),
        log_scale_columns=("amount", "distance_from_home_km"),
        bin_column="account_age_days",
    )


def etl_feature_columns() -> list[str]:
    """The engineered feature columns the ETL writes (in the order the model takes them), from its contract."""
    return feature_columns(etl_spec())


def bias_facet_values(config: AppConfig) -> dict[str, list[str]]:
    """Each bias facet (``bias.facets``) with its values from the schema, spelled as the bias metrics key them."""
    return {f: [facet_value(v) for v in schema.FIELDS_BY_NAME[f].values] for f in config.bias.facet_list()}
