"""The project's one typed, validated configuration object.

Where values come from, lowest precedence first:

1. the defaults declared on the models below;
2. the profile's defaults (``PROFILE_DEFAULTS``: ``sandbox`` is cheap and destroyable, ``production``
   retains data and adds redundancy);
3. CDK context: ``cdk.json`` and ``-c key=value`` on the command line (the CDK CLI merges the two; ``app.py``
   does the same when it runs without the CLI).

Keys are flat and dotted (``lake.raw.standard_ia_days``), mirroring the nesting of the models, so that
``-c lake.raw.standard_ia_days=45`` works from the shell. Every field carries a description that is also
its documentation: ``docs/configuration.md`` is generated from these models (``make docs-config``) and a
test fails if the page falls out of step.

Validation happens here and only here. Every AWS limit a user can hit is checked at synth time and reported
as one line that names the key, the value and what is allowed (``ConfigError``), never as a jsii stack
trace or a template that fails twenty minutes into a deploy. This module never imports aws_cdk, so it is
cheap to import from runtime code and tests.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sagemaker_images import DEFAULT_XGBOOST_VERSION, MODEL_MONITOR_ACCOUNTS, XGBOOST_ACCOUNTS, XGBOOST_VERSIONS

# ---------------------------------------------------------------------------------------------------------
# Errors


class ConfigError(Exception):
    """One or more invalid configuration values; ``str()`` gives one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ConfigValueError(ValueError):
    """Raised by cross-field validators: carries the offending key and value for the one-line message."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        super().__init__(f"{key}={value!r}: {allowed}")
        self.key, self.value, self.allowed = key, value, allowed


def _reject_bool(value: Any) -> Any:
    # pydantic's lax mode turns True into 1; a boolean where a number belongs is always a mistake.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


Int = Annotated[int, BeforeValidator(_reject_bool)]
Float = Annotated[float, BeforeValidator(_reject_bool)]

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class _Section(BaseModel):
    # frozen: constructs receive these objects and must not be able to change them;
    # extra=forbid: a misspelled key is an error, never silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# ---------------------------------------------------------------------------------------------------------
# Sections


class Profile(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"


class Encryption(StrEnum):
    KMS = "kms"  # SSE-KMS with the lake's customer-managed key and S3 Bucket Keys
    S3 = "s3"  # SSE-S3: keys owned and managed by S3


class RemovalPolicy(StrEnum):
    DESTROY = "destroy"
    RETAIN = "retain"


class RawLifecycle(_Section):
    """Raw zone: data that is read often while fresh, then rarely, then kept for audit and replay."""

    standard_ia_days: Int = Field(
        30,
        ge=30,
        description="Days after creation before raw objects move to S3 Standard-IA. S3 rejects fewer than 30.",
    )
    glacier_ir_days: Int = Field(
        90,
        ge=0,
        description="Days after creation before raw objects move to S3 Glacier Instant Retrieval. Must be at "
        "least 30 days after the Standard-IA transition (S3 keeps objects 30 days in Standard-IA).",
    )
    glacier_days: Int = Field(
        180,
        ge=0,
        description="Days after creation before raw objects move to S3 Glacier Flexible Retrieval. Must be "
        "later than the Glacier Instant Retrieval transition.",
    )
    deep_archive_days: Int = Field(
        365,
        ge=0,
        description="Days after creation before raw objects move to S3 Glacier Deep Archive. Must be later "
        "than the Glacier Flexible Retrieval transition.",
    )

    @model_validator(mode="after")
    def _increasing(self) -> RawLifecycle:
        steps = [
            ("lake.raw.standard_ia_days", self.standard_ia_days),
            ("lake.raw.glacier_ir_days", self.glacier_ir_days),
            ("lake.raw.glacier_days", self.glacier_days),
            ("lake.raw.deep_archive_days", self.deep_archive_days),
        ]
        (_, ia_days), (ir_key, ir_days) = steps[0], steps[1]
        if ir_days < ia_days + 30:
            raise ConfigValueError(
                ir_key,
                ir_days,
                f"must be at least 30 days after lake.raw.standard_ia_days ({ia_days}), i.e. >= {ia_days + 30}: "
                "S3 requires objects to stay 30 days in Standard-IA before the next transition",
            )
        for (prev_key, prev), (key, days) in itertools.pairwise(steps[1:]):
            if days <= prev:
                raise ConfigValueError(
                    key, days, f"transitions must be strictly increasing: must be > {prev_key} ({prev})"
                )
        return self


class CuratedLifecycle(_Section):
    """Curated zone: training data whose access pattern is unknown (retraining cadence varies)."""

    intelligent_tiering_days: Int = Field(
        0,
        ge=0,
        description="Days after creation before curated objects move to S3 Intelligent-Tiering (0 = at once). "
        "S3 allows 0 for INTELLIGENT_TIERING.",
    )


class QueryResultsLifecycle(_Section):
    """Athena query results in the artifacts zone: recreatable by re-running the query."""

    one_zone_ia_days: Int = Field(
        0,
        ge=0,
        description="Days before query results move to S3 One Zone-IA; 0 turns the transition off. S3 rejects 1-29.",
    )
    expiration_days: Int = Field(
        30,
        ge=1,
        description="Days after which query results are deleted. Must be later than the One Zone-IA "
        "transition when that is on.",
    )

    @model_validator(mode="after")
    def _check(self) -> QueryResultsLifecycle:
        if 0 < self.one_zone_ia_days < 30:
            raise ConfigValueError(
                "lake.query_results.one_zone_ia_days",
                self.one_zone_ia_days,
                "0 (off) or >= 30: S3 rejects a ONEZONE_IA transition earlier than 30 days",
            )
        if self.one_zone_ia_days and self.expiration_days <= self.one_zone_ia_days:
            raise ConfigValueError(
                "lake.query_results.expiration_days",
                self.expiration_days,
                f"must be > lake.query_results.one_zone_ia_days ({self.one_zone_ia_days})",
            )
        return self


class ObjectLock(_Section):
    enabled: bool = Field(
        False,
        description="S3 Object Lock (governance mode) on the raw zone: objects cannot be overwritten or "
        "deleted during the retention period. Needs lake.removal_policy=retain.",
    )
    retention_days: Int = Field(
        30,
        ge=1,
        le=36500,
        description="Default Object Lock retention of raw objects, in days (S3 allows 1-36500).",
    )


class AccessLogs(_Section):
    expiration_days: Int = Field(
        90,
        ge=1,
        description="Days after which server access log objects are deleted.",
    )


class LakeSettings(_Section):
    """The S3 data lake: zones, encryption and lifecycle."""

    encryption: Encryption = Field(
        Encryption.KMS,
        description="Server-side encryption of the zones: kms (SSE-KMS with the lake's customer-managed key "
        "and S3 Bucket Keys) or s3 (SSE-S3).",
    )
    removal_policy: RemovalPolicy = Field(
        RemovalPolicy.DESTROY,
        description="What `cdk destroy` does with buckets and the key: destroy (buckets emptied and deleted, "
        "key scheduled for deletion) or retain.",
    )
    noncurrent_version_expiration_days: Int = Field(
        30,
        ge=1,
        description="Days after which noncurrent object versions are deleted, in every zone.",
    )
    abort_incomplete_multipart_days: Int = Field(
        7,
        ge=1,
        description="Days after which incomplete multipart uploads are aborted, in every zone.",
    )
    raw: RawLifecycle = RawLifecycle()
    curated: CuratedLifecycle = CuratedLifecycle()
    query_results: QueryResultsLifecycle = QueryResultsLifecycle()
    object_lock: ObjectLock = ObjectLock()
    access_logs: AccessLogs = AccessLogs()

    @model_validator(mode="after")
    def _object_lock_needs_retain(self) -> LakeSettings:
        if self.object_lock.enabled and self.removal_policy is RemovalPolicy.DESTROY:
            raise ConfigValueError(
                "lake.object_lock.enabled",
                True,
                "needs lake.removal_policy=retain: locked objects cannot be deleted, so destroy would fail",
            )
        return self


class NetworkSettings(_Section):
    """The VPC the SageMaker jobs use: isolated subnets only, no NAT gateway."""

    cidr: str = Field(
        "10.42.0.0/16",
        description="IPv4 CIDR of the VPC. AWS allows prefix lengths /16 to /28.",
    )
    max_azs: Int = Field(
        2,
        ge=1,
        le=6,
        description="Availability Zones for the isolated subnets (1-6; an environment-agnostic stack gets 2).",
    )
    subnet_mask: Int = Field(
        24,
        ge=16,
        le=28,
        description="Prefix length of each isolated subnet (/16 to /28, the subnet limits). The VPC must hold "
        "one subnet per AZ.",
    )

    @model_validator(mode="after")
    def _subnets_fit(self) -> NetworkSettings:
        prefix = ipaddress.IPv4Network(self.cidr).prefixlen
        room = 2 ** (self.subnet_mask - prefix) if self.subnet_mask >= prefix else 0
        if room < self.max_azs:
            raise ConfigValueError(
                "network.subnet_mask",
                self.subnet_mask,
                f"{self.max_azs} subnets of /{self.subnet_mask} do not fit in {self.cidr}: use a longer mask "
                "(a larger number), a larger VPC or fewer AZs",
            )
        return self

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"an IPv4 network such as 10.42.0.0/16 ({exc})") from None
        if not 16 <= net.prefixlen <= 28:
            raise ValueError("a prefix length between /16 and /28 (the VPC limits)")
        return value


class CapacityMode(StrEnum):
    ON_DEMAND = "on_demand"  # pay per GB, scales by itself; billed per stream-hour even when idle
    PROVISIONED = "provisioned"  # pay per shard-hour; 1 MB/s or 1,000 records/s in per shard


class StreamSettings(_Section):
    """The Kinesis data stream the producer writes to (syllabus §1.2)."""

    capacity_mode: CapacityMode = Field(
        CapacityMode.PROVISIONED,
        description="on_demand (scales by itself) or provisioned (a fixed number of shards, the cheapest when idle).",
    )
    shard_count: Int | None = Field(
        None,
        ge=1,
        le=500,
        description="Shards in provisioned mode (unset: 1). Each takes 1 MB/s or 1,000 records/s in. AWS "
        "rejects a shard count in on_demand mode; the default account quota is 500 shards (200 in some "
        "regions).",
    )
    retention_hours: Int = Field(
        24,
        ge=24,
        le=8760,
        description="How long records stay readable for replay: 24-8760 hours (Kinesis limits); production "
        "needs at least 168 (7 days). Retention above 24 h is billed per shard-hour.",
    )

    @model_validator(mode="after")
    def _shards_only_when_provisioned(self) -> StreamSettings:
        if self.capacity_mode is CapacityMode.ON_DEMAND and self.shard_count is not None:
            raise ConfigValueError(
                "stream.shard_count",
                self.shard_count,
                "must be unset when stream.capacity_mode=on_demand (AWS rejects a shard count in on-demand mode)",
            )
        return self

    @property
    def shards(self) -> int | None:
        """Shards to provision: None in on-demand mode."""
        return None if self.capacity_mode is CapacityMode.ON_DEMAND else (self.shard_count or 1)


class OutputFormat(StrEnum):
    PARQUET = "parquet"  # record format conversion with the raw table's schema (columnar, Snappy)
    JSON = "json"  # the records as delivered, GZIP-compressed JSON Lines


# Firehose needs at least 64 MiB of buffer when it converts records to Parquet/ORC and when dynamic
# partitioning is on (which both our modes use, to partition by event date); zero buffering (< 60 s) is
# not available with dynamic partitioning.
FIREHOSE_MIN_BUFFER_MIB = 64
FIREHOSE_MIN_INTERVAL_SECONDS = 60


class FirehoseSettings(_Section):
    """The Firehose delivery stream from the Kinesis stream to the raw zone."""

    output_format: OutputFormat = Field(
        OutputFormat.PARQUET,
        description="parquet (record format conversion against the raw table's schema) or json (GZIP JSON "
        "Lines). Both are partitioned by event date with dynamic partitioning.",
    )
    buffer_interval_seconds: Int = Field(
        300,
        ge=0,
        le=900,
        description="Deliver at least this often. Firehose allows 0-900 s; dynamic partitioning (both modes "
        "here) needs at least 60.",
    )
    buffer_size_mib: Int = Field(
        128,
        ge=1,
        le=128,
        description="Deliver when this much has been buffered. Firehose allows 1-128 MiB; format conversion "
        "and dynamic partitioning need at least 64.",
    )

    @model_validator(mode="after")
    def _buffering(self) -> FirehoseSettings:
        why = (
            "record format conversion and dynamic partitioning need"
            if self.output_format is OutputFormat.PARQUET
            else "dynamic partitioning needs"
        )
        if self.buffer_size_mib < FIREHOSE_MIN_BUFFER_MIB:
            raise ConfigValueError(
                "firehose.buffer_size_mib",
                self.buffer_size_mib,
                f"{FIREHOSE_MIN_BUFFER_MIB}-128: {why} a buffer of at least {FIREHOSE_MIN_BUFFER_MIB} MiB",
            )
        if self.buffer_interval_seconds < FIREHOSE_MIN_INTERVAL_SECONDS:
            raise ConfigValueError(
                "firehose.buffer_interval_seconds",
                self.buffer_interval_seconds,
                f"{FIREHOSE_MIN_INTERVAL_SECONDS}-900: zero buffering is not available with dynamic partitioning",
            )
        return self


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AlertSettings(_Section):
    """Where alarms go, and the thresholds that are a judgement call."""

    email: str | None = Field(
        None,
        description="Optional e-mail address subscribed to the alerts topic (AWS sends a confirmation mail).",
    )
    iterator_age_minutes: Int = Field(
        10,
        ge=1,
        le=10080,
        description="Alarm when the oldest unread record in the stream is older than this (GetRecords."
        "IteratorAgeMilliseconds): the consumer is falling behind and data nears the end of retention.",
    )
    data_freshness_seconds: Int = Field(
        900,
        ge=60,
        le=86400,
        description="Alarm when the oldest record in Firehose is older than this (DeliveryToS3.DataFreshness)."
        " Must be at least 1.5x firehose.buffer_interval_seconds: with dynamic partitioning Firehose may "
        "hold records that long by design.",
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("an e-mail address such as ops@example.com")
        return value


# Glue (crawler) schedules use the six-field cron of EventBridge: cron(Minutes Hours Day-of-month Month
# Day-of-week Year), with "?" in exactly one of the two day fields.
_CRON_FIELDS = (
    ("minutes", 0, 59, r"[0-9,\-*/]+"),
    ("hours", 0, 23, r"[0-9,\-*/]+"),
    ("day-of-month", 1, 31, r"[0-9,\-*/?LW]+"),
    ("month", 1, 12, r"[0-9A-Za-z,\-*/]+"),
    ("day-of-week", 1, 7, r"[0-9A-Za-z,\-*/?L#]+"),
    ("year", 1970, 2199, r"[0-9,\-*/]+"),
)


def check_cron(expression: str) -> str:
    """Validate an EventBridge/Glue cron expression; return it unchanged or raise ValueError."""
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    fields = match.group(1).split() if match else []
    if len(fields) != 6:
        raise ValueError("cron(Minutes Hours Day-of-month Month Day-of-week Year), six fields, e.g. cron(15 2 * * ? *)")
    for value, (name, low, high, chars) in zip(fields, _CRON_FIELDS, strict=True):
        if not re.fullmatch(chars, value):
            raise ValueError(f"invalid {name} field {value!r} in {expression}")
        for number in re.findall(r"\d+", value.split("/")[0]) if "#" not in value else []:
            if not low <= int(number) <= high:
                raise ValueError(f"{name} {number} out of range {low}-{high} in {expression}")
    if (fields[2] == "?") == (fields[4] == "?"):
        raise ValueError(f"exactly one of day-of-month and day-of-week must be '?' in {expression}")
    return expression


class CatalogEncryption(StrEnum):
    AWS_MANAGED = "aws_managed"  # SSE-KMS with the aws/glue key: survives `cdk destroy` of a sandbox
    LAKE_KEY = "lake_key"  # SSE-KMS with the lake key: only where the key is retained (production)
    UNMANAGED = "unmanaged"  # leave the account's setting alone (a second copy of the app in one account)


class CatalogSettings(_Section):
    """The Glue crawler over the raw zone and the account's Data Catalog encryption settings."""

    crawler_schedule: str | None = Field(
        None,
        description="When the crawler runs, as a Glue cron expression such as cron(15 * * * ? *); unset: on "
        "demand only (the training workflow starts it).",
    )
    encryption: CatalogEncryption = Field(
        CatalogEncryption.AWS_MANAGED,
        description="Data Catalog encryption at rest, an account-wide setting: aws_managed (the aws/glue key), "
        "lake_key (needs lake.removal_policy=retain: a deleted key would lock the account's catalog) or "
        "unmanaged (leave it to another copy of the app).",
    )

    @field_validator("crawler_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value in (None, "") else check_cron(value)


class AthenaSettings(_Section):
    bytes_scanned_cutoff_mb: Int = Field(
        1024,
        ge=10,
        le=10_000_000,
        description="Athena cancels a query of this workgroup once it has scanned this many MB (Athena's "
        "minimum is 10 MB). Athena bills per byte scanned: the cutoff caps the cost of a runaway query.",
    )


class GlueVersion(StrEnum):
    V5_0 = "5.0"  # Spark 3.5.4, Python 3.11
    V5_1 = "5.1"  # Spark 3.5.6, Python 3.11, Java 17


class WorkerType(StrEnum):
    G_1X = "G.1X"  # 4 vCPU, 16 GB, 1 DPU
    G_2X = "G.2X"  # 8 vCPU, 32 GB, 2 DPU
    G_4X = "G.4X"  # 16 vCPU, 64 GB, 4 DPU
    G_8X = "G.8X"  # 32 vCPU, 128 GB, 8 DPU


class EtlSettings(_Section):
    """The Glue ETL job (raw -> curated) and the data preparation it performs (syllabus §2.7-2.10)."""

    glue_version: GlueVersion = Field(GlueVersion.V5_0, description="Glue version of the job: 5.0 or 5.1.")
    worker_type: WorkerType = Field(
        WorkerType.G_1X, description="Worker type: G.1X, G.2X, G.4X or G.8X (each G.nX is n DPU per worker)."
    )
    workers: Int = Field(
        2,
        ge=2,
        le=299,
        description="Number of workers (2-299: a Spark job needs a driver and at least one executor). Billed "
        "per DPU-hour while the job runs.",
    )
    max_retries: Int = Field(0, ge=0, le=10, description="Retries of a failed job run (Glue allows 0-10).")
    timeout_minutes: Int = Field(
        60,
        ge=1,
        le=2880,
        description="A job run is stopped after this many minutes (1-2880; Glue's default, 2880, would let a "
        "stuck run bill for two days).",
    )
    impute_method: str = Field(
        "regression",
        pattern="^(median|regression)$",
        description="Imputation of missing numeric values: regression (MICE-style, fit on train) or median "
        "(the baseline).",
    )
    outlier_k: Float = Field(
        3.0,
        gt=0,
        le=10,
        description="Values beyond k standard deviations of the train mean are outliers (0 < k <= 10).",
    )
    outlier_mode: str = Field(
        "clip", pattern="^(clip|flag)$", description="clip (cap at the bound and flag) or flag (flag only)."
    )
    n_bins: Int = Field(10, ge=2, le=100, description="Quantile bins of the binned numeric feature (2-100).")
    rebalance_ratio: Float = Field(
        0.25,
        ge=0,
        le=1,
        description="Positives per negative in the train split after oversampling (0 = keep the natural "
        "balance, 1 = as many positives as negatives). Validation and test keep the natural balance.",
    )
    train_fraction: Float = Field(0.7, gt=0, lt=1, description="Share of events in the train split.")
    validation_fraction: Float = Field(
        0.15, gt=0, lt=1, description="Share in the validation split; the test split gets the rest."
    )

    @model_validator(mode="after")
    def _fractions(self) -> EtlSettings:
        if self.train_fraction + self.validation_fraction > 1:
            raise ConfigValueError(
                "etl.validation_fraction",
                self.validation_fraction,
                f"at most {1 - self.train_fraction:.4g} (train + validation must not exceed 1; test gets the rest)",
            )
        return self


_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.(medium|large|xlarge|[0-9]+xlarge)$")


def _instance_type(value: str) -> str:
    if not _INSTANCE.match(value):
        raise ValueError("a SageMaker instance type such as ml.m5.large or ml.m5.2xlarge")
    return value


InstanceType = Annotated[str, BeforeValidator(_instance_type)]


class Hyperparameters(_Section):
    """Built-in XGBoost hyperparameters (names as the algorithm takes them). Syllabus §4: objective and rounds."""

    # Shallow trees and few rounds: the ETL copies each fraud ~6 times in train, and deeper, longer boosting
    # memorises the copies (measured: depth 5 x 200 rounds passed the gate for 3 of 8 generator seeds at
    # 20,000 events, depth 3 x 100 rounds for 8 of 8; see docs/training.md).
    num_round: Int = Field(100, ge=1, le=10_000, description="Boosting rounds (trees).")
    max_depth: Int = Field(3, ge=1, le=20, description="Maximum depth of a tree (deeper: more variance).")
    eta: Float = Field(0.1, gt=0, le=1, description="Learning rate (shrinkage of each tree's contribution).")
    subsample: Float = Field(0.8, gt=0, le=1, description="Share of rows sampled for each tree (bagging).")
    colsample_bytree: Float = Field(0.8, gt=0, le=1, description="Share of features sampled for each tree.")
    min_child_weight: Float = Field(1.0, ge=0, le=100, description="Minimum sum of instance weight in a leaf.")
    scale_pos_weight: Float = Field(
        1.0,
        gt=0,
        le=1000,
        description="Weight of positive examples. 1: the ETL already rebalanced the training split.",
    )


class GateThresholds(_Section):
    """The quality gate: every metric on the validation split must reach its threshold (syllabus §3.9)."""

    auc: Float = Field(0.80, ge=0, le=1, description="Minimum validation ROC AUC (0-1).")
    precision: Float = Field(0.30, ge=0, le=1, description="Minimum validation precision at the decision threshold.")
    recall: Float = Field(0.50, ge=0, le=1, description="Minimum validation recall at the decision threshold.")
    f1: Float = Field(0.35, ge=0, le=1, description="Minimum validation F1 at the decision threshold.")


class TuningSettings(_Section):
    """Automatic model tuning (syllabus §4.2): few hyperparameters, bounded ranges, little parallelism."""

    enabled: bool = Field(
        False, description="Run a hyperparameter tuning job instead of a single training job (Bayesian search)."
    )
    max_jobs: Int = Field(10, ge=1, le=100, description="Training jobs in the tuning job (1-100 here).")
    max_parallel_jobs: Int = Field(
        2,
        ge=1,
        le=10,
        description="Training jobs at a time. Few: Bayesian search learns from finished jobs, so running "
        "many at once wastes them (syllabus §4.2).",
    )
    eta_min: Float = Field(0.01, gt=0, le=1, description="Lower bound of the eta range (log scale).")
    eta_max: Float = Field(0.3, gt=0, le=1, description="Upper bound of the eta range.")
    max_depth_min: Int = Field(3, ge=1, le=20, description="Lower bound of the max_depth range.")
    max_depth_max: Int = Field(8, ge=1, le=20, description="Upper bound of the max_depth range.")

    @model_validator(mode="after")
    def _ranges(self) -> TuningSettings:
        if self.max_parallel_jobs > self.max_jobs:
            raise ConfigValueError(
                "training.tuning.max_parallel_jobs",
                self.max_parallel_jobs,
                f"at most training.tuning.max_jobs ({self.max_jobs})",
            )
        if self.eta_min >= self.eta_max:
            raise ConfigValueError(
                "training.tuning.eta_min", self.eta_min, f"below training.tuning.eta_max ({self.eta_max})"
            )
        if self.max_depth_min >= self.max_depth_max:
            raise ConfigValueError(
                "training.tuning.max_depth_min",
                self.max_depth_min,
                f"below training.tuning.max_depth_max ({self.max_depth_max})",
            )
        return self


class TrainingSettings(_Section):
    """The training workflow: Step Functions runs the ETL, trains, evaluates, gates and registers."""

    xgboost_version: str = Field(
        "",
        description="Built-in XGBoost algorithm version (the image tag), e.g. 1.7-1; empty: the project's "
        "default. Must be in the image table (sagemaker_images).",
    )
    instance_type: InstanceType = Field("ml.m5.large", description="Training instance type.")
    instance_count: Int = Field(
        1, ge=1, le=20, description="Training instances (more than 1: distributed XGBoost, encrypted traffic)."
    )
    volume_size_gb: Int = Field(10, ge=1, le=16384, description="EBS volume of each training instance, GB (1-16384).")
    max_runtime_minutes: Int = Field(
        60,
        ge=1,
        le=40320,
        description="A training job is stopped after this many minutes (SageMaker allows up to 28 days).",
    )
    transform_instance_type: InstanceType = Field("ml.m5.large", description="Batch transform instance type.")
    decision_threshold: Float = Field(
        0.5, gt=0, lt=1, description="Probability above which an event is predicted fraudulent (0-1, exclusive)."
    )
    batch_transform_test: bool = Field(
        True, description="After the gate, score the test split with a batch transform (syllabus §4: batch inference)."
    )
    schedule: str | None = Field(
        None, description="Run the workflow on this EventBridge cron expression; unset: on demand only."
    )
    hyperparameters: Hyperparameters = Hyperparameters()
    gate: GateThresholds = GateThresholds()
    tuning: TuningSettings = TuningSettings()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value in (None, "") else check_cron(value)

    @field_validator("xgboost_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value and value not in XGBOOST_VERSIONS:
            raise ValueError(
                "empty (the default, " + DEFAULT_XGBOOST_VERSION + ") or one of " + ", ".join(XGBOOST_VERSIONS)
            )
        return value

    def algorithm_hyperparameters(self) -> dict[str, str]:
        """What the built-in XGBoost job receives (every value a string): the objective makes the model output
        a probability, which the decision threshold applies to; AUC is the metric it logs for validation."""
        values = self.hyperparameters.model_dump()
        return {"objective": "binary:logistic", "eval_metric": "auc", **{k: str(v) for k, v in values.items()}}


class RolloutMode(StrEnum):
    AUTO = "auto"  # canary with two or more instances, all at once (with baking) on one
    CANARY = "canary"
    LINEAR = "linear"
    ALL_AT_ONCE = "all_at_once"


class ServingSettings(_Section):
    """The real-time endpoint (syllabus §4: persistent endpoint, autoscaling) and its data capture (§4.5)."""

    instance_type: InstanceType = Field(
        "ml.t2.medium",
        description="Endpoint instance type. Sandbox: ml.t2.medium, the smallest real-time instance (data capture "
        "works on every type; see docs for the hourly price).",
    )
    instance_count: Int = Field(1, ge=1, le=20, description="Instances at deploy time (production: at least 2).")
    min_capacity: Int = Field(1, ge=1, le=20, description="Autoscaling minimum instances (production: at least 2).")
    max_capacity: Int = Field(2, ge=1, le=20, description="Autoscaling maximum instances (>= min_capacity).")
    target_invocations_per_instance: Int = Field(
        100,
        ge=1,
        le=100_000,
        description="Target tracking: invocations per instance per minute the autoscaling keeps the variant at.",
    )
    capture_percentage: Int = Field(
        100, ge=0, le=100, description="Share of requests whose input and output data capture records (0-100)."
    )
    latency_alarm_ms: Int = Field(
        500, ge=1, le=60_000, description="Alarm when the average model latency exceeds this, in milliseconds."
    )
    rollout_mode: RolloutMode = Field(
        RolloutMode.AUTO,
        description="How a new model reaches the endpoint (blue/green): canary or linear traffic shifting (2+ "
        "instances), all_at_once with a baking period, or auto (canary with 2+ instances, else all_at_once).",
    )
    canary_percent: Int = Field(
        50, ge=1, le=50, description="Canary: share of the new fleet that takes traffic first (1-50 %)."
    )
    linear_step_percent: Int = Field(
        50, ge=10, le=50, description="Linear: share of the new fleet added per step (10-50 %)."
    )
    rollout_wait_seconds: Int = Field(
        300, ge=0, le=3600, description="Seconds between traffic shifts while the alarms watch (0-3600)."
    )
    baking_seconds: Int = Field(
        600,
        ge=0,
        le=3600,
        description="Seconds the old fleet is kept after the shift, rolled back to if an alarm fires (0-3600).",
    )
    rollout_max_seconds: Int = Field(
        3600,
        ge=600,
        le=28800,
        description="Bound of the whole deployment (600-28800; more than rollout_wait_seconds + baking_seconds).",
    )
    champion_auc_margin: Float = Field(
        0.01,
        ge=0,
        le=0.5,
        description="A new model replaces the serving one unless its validation AUC is lower by more than this.",
    )

    @model_validator(mode="after")
    def _rollout(self) -> ServingSettings:
        if self.rollout_mode in (RolloutMode.CANARY, RolloutMode.LINEAR) and self.instance_count < 2:
            raise ConfigValueError(
                "serving.rollout_mode",
                self.rollout_mode.value,
                f"all_at_once or auto with serving.instance_count={self.instance_count} (traffic shifting needs 2+)",
            )
        if self.rollout_max_seconds <= self.rollout_wait_seconds + self.baking_seconds:
            raise ConfigValueError(
                "serving.rollout_max_seconds",
                self.rollout_max_seconds,
                "more than serving.rollout_wait_seconds + serving.baking_seconds "
                f"({self.rollout_wait_seconds + self.baking_seconds})",
            )
        return self

    @model_validator(mode="after")
    def _capacity(self) -> ServingSettings:
        if self.min_capacity > self.max_capacity:
            raise ConfigValueError(
                "serving.min_capacity", self.min_capacity, f"at most serving.max_capacity ({self.max_capacity})"
            )
        if not self.min_capacity <= self.instance_count <= self.max_capacity:
            raise ConfigValueError(
                "serving.instance_count",
                self.instance_count,
                f"between serving.min_capacity ({self.min_capacity}) and serving.max_capacity ({self.max_capacity})",
            )
        return self


class MonitoringEngine(StrEnum):
    DRIFT = "drift"  # the project's scheduled drift job: works in any account
    MODEL_MONITOR = "model_monitor"  # SageMaker Model Monitor: existing Model Monitor customers only


class MonitoringSettings(_Section):
    """Drift monitoring of the endpoint's captured traffic against the training baseline (syllabus §4.5)."""

    engine: MonitoringEngine = Field(
        MonitoringEngine.DRIFT,
        description="drift (the project's scheduled job, works in any account) or model_monitor (SageMaker Model "
        "Monitor data-quality schedule: closed to new customers since 2025, existing customers only).",
    )

    window_hours: Int = Field(
        1,
        ge=1,
        le=168,
        description="The drift job runs every this many hours and reads the capture files of that window (1-168).",
    )
    distance_threshold: Float = Field(
        0.1,
        gt=0,
        le=1,
        description="A feature drifts when the distance between its baseline and current distributions (the "
        "largest gap between the two CDFs, 0-1) exceeds this.",
    )


class SynthSettings(_Section):
    cloudformation_validation: bool = Field(
        False,
        description="Run CDK's built-in CloudFormation validator during synth (about 2 s more). Off by default: "
        "`make test` runs cfn-lint over every template, and one test synthesizes with the validator on.",
    )


class LogSettings(_Section):
    retention_days: Int = Field(
        30,
        description="Retention of every CloudWatch log group the app creates. CloudWatch Logs accepts only "
        + ", ".join(map(str, LOG_RETENTION_DAYS))
        + ".",
    )

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError("one of " + ", ".join(map(str, LOG_RETENTION_DAYS)))
        return value


_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,19}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


class AppConfig(_Section):
    """Everything the app reads from context, validated."""

    profile: Profile = Field(
        Profile.SANDBOX,
        description="sandbox (small, cheap, everything destroyable) or production (retained data, redundancy). "
        "Sets the defaults of the keys below.",
    )
    prefix: str = Field(
        "mlspec",
        description="Prefix of every stack name and value of the `Project` tag, so that two copies can live "
        "in one account: a letter, then up to 19 letters, digits or hyphens.",
    )
    account: str | None = Field(
        None,
        description="AWS account to deploy to (12 digits). Unset: CDK_DEFAULT_ACCOUNT; both unset: the stacks "
        "are environment-agnostic.",
    )
    region: str | None = Field(
        None,
        description="AWS region to deploy to, e.g. eu-west-1. Unset: CDK_DEFAULT_REGION; both unset: the "
        "stacks are environment-agnostic.",
    )
    lake: LakeSettings = LakeSettings()
    network: NetworkSettings = NetworkSettings()
    logs: LogSettings = LogSettings()
    stream: StreamSettings = StreamSettings()
    firehose: FirehoseSettings = FirehoseSettings()
    alerts: AlertSettings = AlertSettings()
    catalog: CatalogSettings = CatalogSettings()
    etl: EtlSettings = EtlSettings()
    athena: AthenaSettings = AthenaSettings()
    training: TrainingSettings = TrainingSettings()
    serving: ServingSettings = ServingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    synth: SynthSettings = SynthSettings()

    @model_validator(mode="after")
    def _cross_section(self) -> AppConfig:
        if self.profile is Profile.PRODUCTION and self.stream.retention_hours < 168:
            raise ConfigValueError(
                "stream.retention_hours",
                self.stream.retention_hours,
                "168-8760 in production: keep at least 7 days of events to replay after an incident",
            )
        if self.region and self.region not in XGBOOST_ACCOUNTS:
            raise ConfigValueError(
                "region",
                self.region,
                "a region with SageMaker's built-in XGBoost image: " + ", ".join(sorted(XGBOOST_ACCOUNTS)),
            )
        if (
            self.monitoring.engine is MonitoringEngine.MODEL_MONITOR
            and self.region
            and self.region not in MODEL_MONITOR_ACCOUNTS
        ):
            raise ConfigValueError(
                "monitoring.engine",
                self.monitoring.engine.value,
                f"drift in {self.region}: SageMaker publishes no Model Monitor analyzer image there",
            )
        if self.profile is Profile.PRODUCTION and self.serving.min_capacity < 2:
            raise ConfigValueError(
                "serving.min_capacity",
                self.serving.min_capacity,
                ">= 2 in production: one instance per Availability Zone keeps the endpoint up through an AZ failure",
            )
        if self.catalog.encryption is CatalogEncryption.LAKE_KEY and self.lake.removal_policy is RemovalPolicy.DESTROY:
            raise ConfigValueError(
                "catalog.encryption",
                self.catalog.encryption.value,
                "aws_managed or unmanaged with lake.removal_policy=destroy: the account's Data Catalog would stay "
                "encrypted with a key scheduled for deletion",
            )
        minimum = int(self.firehose.buffer_interval_seconds * 1.5)
        if self.alerts.data_freshness_seconds < minimum:
            raise ConfigValueError(
                "alerts.data_freshness_seconds",
                self.alerts.data_freshness_seconds,
                f">= {minimum} (1.5x firehose.buffer_interval_seconds): a lower threshold alarms on normal buffering",
            )
        return self

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError("a letter, then up to 19 letters, digits or hyphens")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.match(str(value)):
            raise ValueError("a 12-digit AWS account id")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            raise ValueError("an AWS region name such as us-east-1 or eu-west-1")
        return value


# ---------------------------------------------------------------------------------------------------------
# Profiles

PROFILE_DEFAULTS: dict[Profile, dict[str, Any]] = {
    Profile.SANDBOX: {
        # Everything goes away with `cdk destroy`; short retention keeps the bill near zero.
        "lake.removal_policy": "destroy",
        "lake.noncurrent_version_expiration_days": 7,
        "lake.access_logs.expiration_days": 30,
        "lake.query_results.expiration_days": 7,
        "logs.retention_days": 14,
    },
    Profile.PRODUCTION: {
        # Data outlives the stack; raw is write-once for the lock period; results are kept a quarter.
        "lake.removal_policy": "retain",
        "lake.object_lock.enabled": True,
        "lake.noncurrent_version_expiration_days": 90,
        "lake.access_logs.expiration_days": 365,
        "lake.query_results.one_zone_ia_days": 30,
        "lake.query_results.expiration_days": 90,
        "logs.retention_days": 365,
        "network.max_azs": 3,
        "stream.capacity_mode": "on_demand",
        "stream.retention_hours": 168,
        "catalog.encryption": "lake_key",
        "catalog.crawler_schedule": "cron(20 * * * ? *)",
        "athena.bytes_scanned_cutoff_mb": 10240,
        "serving.instance_type": "ml.m5.large",
        "serving.instance_count": 2,
        "serving.min_capacity": 2,
        "serving.max_capacity": 4,
        "etl.max_retries": 1,
        "etl.timeout_minutes": 180,
    },
}


# ---------------------------------------------------------------------------------------------------------
# Loading


def is_config_key(key: str) -> bool:
    """Context keys that belong to CDK itself (feature flags, lookups, CLI internals) are not ours."""
    return not (key.startswith("@") or ":" in key or key in _CDK_KEYS)


# Context keys the CDK CLI or toolkit may add that carry neither '@' nor ':'.
_CDK_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry", "assetOutputs"})


def config_keys(model: type[BaseModel] = AppConfig, prefix: str = "") -> dict[str, Any]:
    """Every dotted key with its pydantic field info, in declaration order."""
    keys: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.update(config_keys(annotation, f"{prefix}{name}."))
        else:
            keys[f"{prefix}{name}"] = info
    return keys


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted leaf keys (already checked against ``config_keys``) to the nested dicts the models take."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _suggest(key: str) -> list[str]:
    """The known key a misspelling most likely meant: first by its last part within the same section."""
    known = list(config_keys())
    parent, _, leaf = key.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in known if k.rpartition(".")[0] == parent}
    by_leaf = difflib.get_close_matches(leaf, list(siblings), n=1, cutoff=0.5)
    if by_leaf:
        return [siblings[by_leaf[0]]]
    return difflib.get_close_matches(key, known, n=1, cutoff=0.6)


def _unknown(key: str) -> str:
    close = _suggest(key)
    hint = f"; did you mean '{close[0]}'?" if close else "; see docs/configuration.md for the keys"
    return f"invalid config: unknown key '{key}'{hint}"


def _describe(key: str, value: Any) -> str:
    return f"{key}={value!r}"


def _format(error: Any) -> str:
    """One line for one pydantic error: key, value, what is allowed."""
    ctx = error.get("ctx") or {}
    original = ctx.get("error")
    if isinstance(original, ConfigValueError):
        return f"invalid config: {original}"
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return _unknown(key)
    message = error["msg"]
    info = config_keys().get(key)
    if info is not None and error["type"] in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        message = f"{message} ({info.description})"
    if isinstance(original, ValueError) and error["type"] == "value_error":
        message = f"allowed: {original}"
    elif error["type"] == "enum":
        message = f"allowed: {ctx.get('expected')}"
    return f"invalid config: {_describe(key, error['input'])}: {message}"


def load_config(context: Mapping[str, Any]) -> AppConfig:
    """Build the validated config from CDK context (cdk.json plus -c overrides). Raises ConfigError."""
    ours = {k: v for k, v in context.items() if is_config_key(k)}
    profile_value = ours.get("profile", Profile.SANDBOX.value)
    try:
        profile = Profile(profile_value)
    except ValueError:
        allowed = ", ".join(p.value for p in Profile)
        raise ConfigError([f"invalid config: profile={profile_value!r}: allowed: {allowed}"]) from None
    known = config_keys()
    unknown = [_unknown(key) for key in ours if key not in known]
    if unknown:
        raise ConfigError(unknown)
    merged = {**PROFILE_DEFAULTS[profile], **ours}
    try:
        return AppConfig.model_validate(_nest(merged))
    except ValidationError as exc:
        raise ConfigError([_format(error) for error in exc.errors(include_url=False)]) from None
