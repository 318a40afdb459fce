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
import functools
import ipaddress
import itertools
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ml_config.checks import (
    MAX_DAYS,
    EndpointInstanceType,
    Float,
    Int,
    ProcessingInstanceType,
    TrainingInstanceType,
    TransformInstanceType,
    check_account,
    check_cron,
    check_email,
    check_facets,
    check_prefix,
    check_region,
    check_schedule,
    check_vpc_cidr,
)
from sagemaker_images import DEFAULT_XGBOOST_VERSION, XGBOOST_VERSIONS

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


# Where each bound comes from (a bound with no AWS limit behind it is the project's cap and its description says
# why). Ranges the AWS API models declare are checked against botocore by tests/unit/test_config_hardening.py.
# - lake.*_days: S3 PutBucketLifecycleConfiguration takes any positive 32-bit `Days`; capped at MAX_DAYS (36500,
#   100 years, S3's Object Lock retention maximum). Standard-IA and One Zone-IA need >= 30 days (S3 user guide,
#   "Transitioning objects using Amazon S3 Lifecycle"); 30 days in Standard-IA before the next transition.
# - network: VPC user guide, "VPC CIDR blocks" (ml_config/checks.py); max_azs <= 6, the most AZs a region has.
# - logs.retention_days: CloudWatch Logs PutRetentionPolicy, `retentionInDays` (LOG_RETENTION_DAYS).
# - stream: Kinesis Data Streams retention 24-8760 hours (IncreaseStreamRetentionPeriod); shard_count <= 500,
#   the default shard quota (Kinesis Data Streams quotas; 200 in some regions).
# - firehose: BufferingHints 0-900 s and 1-128 MiB (Firehose API model); 64 MiB and 60 s with format conversion
#   and dynamic partitioning (Firehose developer guide, dynamic partitioning).
# - alerts: thresholds of CloudWatch alarms on IteratorAge (at most 7 days) and DataFreshness (at most 1 day,
#   well past Firehose's 900 s buffering); project caps.
# - athena: BytesScannedCutoffPerQuery >= 10,000,000 bytes (Athena API model); <= 10 TB, the project's cap.
# - etl: Glue MaxRetries 0-10 and Timeout 1-2880 minutes (Glue CreateJob); workers 2-299 (Glue job quotas).
# - training: SageMaker MaxRuntimeInSeconds up to 28 days (40320 minutes), VolumeSizeInGB 1-16384, instance
#   types from the SageMaker API's enumerations (ml_config/checks.py); counts and tuning sizes: project caps
#   under the default SageMaker quotas.
# - serving: SamplingPercentage 0-100 (SageMaker API model); latency_alarm_ms <= 60000, the 60 s timeout of a
#   real-time invocation (SageMaker developer guide, InvokeEndpoint); instance counts: project caps.
# - hyperparameters, gate, monitoring: the algorithm's or the metric's own range (XGBoost: eta and subsample in
#   (0, 1]; metrics and distances in [0, 1]); depth, rounds and weights: project caps.


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
        le=MAX_DAYS,
        description="Days after creation before raw objects move to S3 Standard-IA. S3 rejects fewer than 30.",
    )
    glacier_ir_days: Int = Field(
        90,
        ge=0,
        le=MAX_DAYS,
        description="Days after creation before raw objects move to S3 Glacier Instant Retrieval. Must be at "
        "least 30 days after the Standard-IA transition (S3 keeps objects 30 days in Standard-IA).",
    )
    glacier_days: Int = Field(
        180,
        ge=0,
        le=MAX_DAYS,
        description="Days after creation before raw objects move to S3 Glacier Flexible Retrieval. Must be "
        "later than the Glacier Instant Retrieval transition.",
    )
    deep_archive_days: Int = Field(
        365,
        ge=0,
        le=MAX_DAYS,
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
        le=MAX_DAYS,
        description="Days after creation before curated objects move to S3 Intelligent-Tiering (0 = at once). "
        "S3 allows 0 for INTELLIGENT_TIERING.",
    )


class QueryResultsLifecycle(_Section):
    """Athena query results in the artifacts zone: recreatable by re-running the query."""

    one_zone_ia_days: Int = Field(
        0,
        ge=0,
        le=MAX_DAYS,
        description="Days before query results move to S3 One Zone-IA; 0 turns the transition off. S3 rejects 1-29.",
    )
    expiration_days: Int = Field(
        30,
        ge=1,
        le=MAX_DAYS,
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
        le=MAX_DAYS,
        description="Default Object Lock retention of raw objects, in days (S3 allows 1-36500).",
    )


class AccessLogs(_Section):
    expiration_days: Int = Field(
        90,
        ge=1,
        le=MAX_DAYS,
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
        le=MAX_DAYS,
        description="Days after which noncurrent object versions are deleted, in every zone.",
    )
    abort_incomplete_multipart_days: Int = Field(
        7,
        ge=1,
        le=MAX_DAYS,
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
        description="IPv4 CIDR of the VPC. AWS allows prefix lengths /16 to /28, an RFC 1918 range or a publicly "
        "routable one; reserved ranges (0/8, 100.64/10, 127/8, 169.254/16, 224/4, 240/4) are refused, and so is "
        "172.17.0.0/16, which SageMaker's containers use.",
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
        return check_vpc_cidr(value)


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


class AlertSettings(_Section):
    """Where alarms go, and the thresholds that are a judgement call."""

    email: str | None = Field(
        None,
        description="Optional e-mail address subscribed to the alerts topic (AWS sends a confirmation mail). "
        "ASCII, checked for syntax only (no DNS lookup at synth).",
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

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str | None:
        return None if value is None else check_email(value)


class CatalogEncryption(StrEnum):
    AWS_MANAGED = "aws_managed"  # SSE-KMS with the aws/glue key: survives `cdk destroy` of a sandbox
    LAKE_KEY = "lake_key"  # SSE-KMS with the lake key: only where the key is retained (production)
    UNMANAGED = "unmanaged"  # leave the account's setting alone (a second copy of the app in one account)


class CatalogSettings(_Section):
    """The Glue crawler over the raw zone and the account's Data Catalog encryption settings."""

    crawler_schedule: str | None = Field(
        None,
        description="When the crawler runs, as a Glue (AWS) cron expression such as cron(15 * * * ? *): six fields "
        "(minutes, hours, day of month, month, day of week, year), `?` in one of the day fields, L, W and # as "
        "AWS defines them; unset: on demand only (the training workflow starts it).",
    )
    encryption: CatalogEncryption = Field(
        CatalogEncryption.AWS_MANAGED,
        description="Data Catalog encryption at rest, an account-wide setting: aws_managed (the aws/glue key), "
        "lake_key (needs lake.removal_policy=retain: a deleted key would lock the account's catalog) or "
        "unmanaged (leave it to another copy of the app).",
    )

    @field_validator("crawler_schedule", mode="before")
    @classmethod
    def _cron(cls, value: Any) -> str | None:
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


class ImputeMethod(StrEnum):
    MEDIAN = "median"
    MEAN = "mean"
    KNN = "knn"
    REGRESSION = "regression"
    MICE = "mice"
    DROP = "drop"


class RebalanceMethod(StrEnum):
    NONE = "none"
    OVERSAMPLE = "oversample"
    UNDERSAMPLE = "undersample"
    SMOTE = "smote"
    CLASS_WEIGHT = "class_weight"


class BinMethod(StrEnum):
    QUANTILE = "quantile"
    EQUAL_WIDTH = "equal_width"


class OutlierMode(StrEnum):
    CLIP = "clip"
    FLAG = "flag"
    DROP = "drop"


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
    impute_method: ImputeMethod = Field(
        ImputeMethod.REGRESSION,
        description="Imputation of missing numeric values, fitted on train: median (the baseline), mean, knn "
        "(k nearest neighbours in a bounded reference set), regression (one round of chained regressions), mice "
        "(rounds until they converge) or drop (incomplete train rows are left out of training; validation, test "
        "and the endpoint fill with the train median). docs/glue-etl.md compares them.",
    )
    knn_k: Int = Field(5, ge=1, le=100, description="knn: neighbours averaged per missing value (1-100).")
    knn_reference_rows: Int = Field(
        1000,
        ge=1,
        le=5000,
        description="knn: the most train rows a missing value is compared with (etl.knn_k-5000): a deterministic "
        "sample by id hash, shipped in the endpoint's fitted.json (about 63 kB per 1000 rows of the worked "
        "example); exact KNN when train has no more complete rows. Cost: missing rows x this, in Spark and at the "
        "endpoint.",
    )
    mice_max_rounds: Int = Field(10, ge=1, le=50, description="mice: the most rounds of chained regressions (1-50).")
    mice_tolerance: Float = Field(
        1e-3,
        gt=0,
        le=1,
        description="mice: stop once the largest change of an imputed train value in a round, divided by the "
        "column's largest observed absolute value, is below this (0 < t <= 1).",
    )
    outlier_k: Float = Field(
        3.0,
        gt=0,
        le=10,
        description="Values beyond k standard deviations of the train mean are outliers (0 < k <= 10).",
    )
    outlier_mode: OutlierMode = Field(
        OutlierMode.CLIP,
        description="clip (cap at the bound and flag), flag (flag only) or drop (remove the train rows beyond the "
        "bounds; validation, test and the endpoint clip and flag). docs/data-prep-tradeoffs.md compares them.",
    )
    n_bins: Int = Field(10, ge=2, le=100, description="Bins of the binned numeric feature (2-100).")
    bin_method: BinMethod = Field(
        BinMethod.QUANTILE,
        description="quantile (edges at exact train quantiles: equal counts) or equal_width (equal widths between "
        "the train minimum and maximum).",
    )
    rebalance_method: RebalanceMethod = Field(
        RebalanceMethod.OVERSAMPLE,
        description="How the train split reaches etl.rebalance_ratio: oversample (copies of positives), "
        "undersample (drops negatives), smote (synthetic positives between neighbours), class_weight (no "
        "resampling: the training job gets scale_pos_weight from the ETL) or none.",
    )
    rebalance_ratio: Float = Field(
        0.25,
        ge=0,
        le=1,
        description="Positives per negative in the train split after rebalancing (0 = keep the natural "
        "balance, 1 = as many positives as negatives). Validation and test keep the natural balance.",
    )
    smote_k: Int = Field(5, ge=1, le=100, description="SMOTE: nearest positive neighbours per positive (1-100).")
    smote_max_positives: Int = Field(
        20_000,
        ge=2,
        le=200_000,
        description="SMOTE: above this many train positives the O(P^2) neighbour search is skipped and the job "
        "oversamples instead, saying so in its report (2-200000).",
    )
    train_fraction: Float = Field(0.7, gt=0, lt=1, description="Share of events in the train split.")
    validation_fraction: Float = Field(
        0.15, gt=0, lt=1, description="Share in the validation split; the test split gets the rest."
    )
    min_positives_per_split: Int = Field(
        10,
        ge=1,
        le=1_000_000,
        description="The job fails, before anything is written for training, when the train or validation split "
        "(or a non-empty test split) holds fewer positive labels than this (1-1000000).",
    )
    future_tolerance_minutes: Int = Field(
        60,
        ge=0,
        le=10_080,
        description="Events whose event_time is later than the job's start plus this many minutes are quarantined "
        "as future_time (0-10080, one week).",
    )
    window_days: Int = Field(
        28,
        ge=0,
        le=MAX_DAYS,
        description="Training window: each run reads only the dt= partitions (event dates, UTC) of the last this "
        "many days, ending on the day the training workflow's execution started (inclusive), so a run costs the "
        f"same however old the lake is (1-{MAX_DAYS}; 0 reads the whole raw zone on every run).",
    )

    @model_validator(mode="after")
    def _fractions(self) -> EtlSettings:
        if self.knn_reference_rows < self.knn_k:
            raise ConfigValueError(
                "etl.knn_reference_rows", self.knn_reference_rows, f"at least etl.knn_k ({self.knn_k})"
            )
        if self.train_fraction + self.validation_fraction > 1:
            raise ConfigValueError(
                "etl.validation_fraction",
                self.validation_fraction,
                f"at most {1 - self.train_fraction:.4g} (train + validation must not exceed 1; test gets the rest)",
            )
        return self


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
        description="Weight of positive examples. 1: the ETL already rebalanced the training split; with "
        "etl.rebalance_method=class_weight the ETL's computed weight replaces it.",
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


class BiasGate(_Section):
    """Optional bias bounds of the quality gate on the validation split (syllabus §4.5; docs/training.md, "The bias
    gate"): each facet value of ``bias.facets`` against the rest of its facet. Each bound is off while unset."""

    max_abs_dppl: Float | None = Field(
        None,
        ge=0,
        le=1,
        description="Reject the model when the absolute DPPL of a facet value (difference in positive proportions "
        "in predicted labels) exceeds this (0-1; unset: off).",
    )
    min_di: Float | None = Field(
        None,
        ge=0,
        le=1,
        description="Reject when a facet value's disparate impact (DI, its positive prediction rate over the rest's) "
        "is below this (0-1, the four-fifths rule is 0.8; unset: off).",
    )
    max_di: Float | None = Field(
        None,
        ge=1,
        le=100,
        description="Reject when a facet value's disparate impact is above this (1-100, e.g. 1.25; unset: off).",
    )
    max_abs_recall_difference: Float | None = Field(
        None,
        ge=0,
        le=1,
        description="Reject when the absolute recall difference (equal opportunity) of a facet value exceeds this "
        "(0-1; unset: off).",
    )
    max_abs_accuracy_difference: Float | None = Field(
        None,
        ge=0,
        le=1,
        description="Reject when the absolute accuracy difference of a facet value exceeds this (0-1; unset: off).",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _unset(cls, value: Any) -> Any:
        # `-c training.bias_gate.min_di=` (or none/off) turns a bound off, as an unset key does
        return None if isinstance(value, str) and value in ("", "none", "off") else value

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, by name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class BiasSettings(_Section):
    """Bias of the data and the model across facets (syllabus §4.5: what SageMaker Clarify measures), computed by
    the project's own code: pre-training in the ETL, post-training in the evaluation, live in the drift job."""

    facets: str = Field(
        "customer_tier,channel",
        description="Comma-separated raw fields of the event schema whose values are compared, each against the rest "
        "of its field (categorical or ordinal fields, at most 10 values each: one CloudWatch alarm per facet holds "
        "one metric per value); empty: no bias metrics.",
    )
    alarm_max_abs_dppl: Float = Field(
        0.2,
        gt=0,
        le=1,
        description="The drift job's bias alarm of a facet fires when the absolute live DPPL of any of its values "
        "(difference in positive proportions of predictions, from the captured traffic) exceeds this (0-1).",
    )

    @field_validator("facets", mode="before")
    @classmethod
    def _facets(cls, value: Any) -> str:
        return ",".join(check_facets(value))

    def facet_list(self) -> tuple[str, ...]:
        return tuple(f for f in self.facets.split(",") if f)


class TrainingSettings(_Section):
    """The training workflow: Step Functions runs the ETL, trains, evaluates, gates and registers."""

    xgboost_version: str = Field(
        "",
        description="Built-in XGBoost algorithm version (the image tag), e.g. 1.7-1; empty: the project's "
        "default. Must be in the image table (sagemaker_images).",
    )
    instance_type: TrainingInstanceType = Field(
        "ml.m5.large",
        description="Training (and tuning) instance type: one of the SageMaker API's TrainingInstanceType values.",
    )
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
    transform_instance_type: TransformInstanceType = Field(
        "ml.m5.large",
        description="Batch transform instance type: one of the SageMaker API's TransformInstanceType values.",
    )
    explain_instance_type: ProcessingInstanceType = Field(
        "ml.m5.large",
        description="Instance type of the Explain step's processing job (TreeSHAP feature attributions): one of the "
        "SageMaker API's ProcessingInstanceType values.",
    )
    explain_max_runtime_minutes: Int = Field(
        30,
        ge=1,
        le=12960,
        description="The Explain step's processing job is stopped after this many minutes (SageMaker allows up to "
        "9 days).",
    )
    decision_threshold: Float = Field(
        0.5, gt=0, lt=1, description="Probability above which an event is predicted fraudulent (0-1, exclusive)."
    )
    batch_transform_test: bool = Field(
        True, description="After the gate, score the test split with a batch transform (syllabus §4: batch inference)."
    )
    schedule: str | None = Field(
        None,
        description="Run the workflow on this EventBridge schedule: cron(...) as for catalog.crawler_schedule, or "
        "rate(1 hour), rate(6 hours), ... (1 takes the singular unit, more the plural; up to a year); unset: on "
        "demand only.",
    )
    hyperparameters: Hyperparameters = Hyperparameters()
    gate: GateThresholds = GateThresholds()
    tuning: TuningSettings = TuningSettings()
    bias_gate: BiasGate = BiasGate()

    @field_validator("schedule", mode="before")
    @classmethod
    def _cron(cls, value: Any) -> str | None:
        return None if value in (None, "") else check_schedule(value)

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

    instance_type: EndpointInstanceType = Field(
        "ml.t2.medium",
        description="Endpoint instance type: one of the SageMaker API's ProductionVariantInstanceType values. "
        "Sandbox: ml.t2.medium, the smallest real-time instance (data capture works on every type; see docs for "
        "the hourly price).",
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
    idle_hours: Int | None = Field(
        None,
        ge=1,
        le=168,
        description="Idle-endpoint guard: after this many hours without an invocation the endpoint is deleted (its "
        "model and config stay; docs/runbook.md says how to restore it) and the alerts topic told once (1-168; "
        "unset: no guard). Sandbox default 8, production unset.",
    )

    @field_validator("idle_hours", mode="before")
    @classmethod
    def _unset(cls, value: Any) -> Any:
        # `-c serving.idle_hours=` (or none/off) turns the guard off, as an unset key does
        return None if isinstance(value, str) and value in ("", "none", "off") else value

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


class BudgetSettings(_Section):
    """A monthly AWS Budgets cost budget for the account, notifying the alerts topic (docs/runbook.md)."""

    enabled: bool = Field(
        False,
        description="Create the budget (an account-wide view of cost: it counts everything the account spends, "
        "not only this app). Sandbox default on, production default off (an organisation usually budgets there).",
    )
    monthly_limit_usd: Int = Field(
        50,
        ge=1,
        le=1_000_000,
        description="The budget's monthly limit in USD (1-1,000,000): alerts at 80% and 100% of actual cost and at "
        "100% of forecast cost.",
    )


class FunctionSettings(_Section):
    """Settings shared by the scheduled Lambda functions (drift job, idle-endpoint guard)."""

    reserve_concurrency: bool = Field(
        False,
        description="Reserve one concurrent execution for each scheduled function (one run at a time, and never "
        "starved by other functions). Off in the sandbox: Lambda keeps 100 unreserved, so an account whose "
        "concurrency quota is 10 (new accounts often are) fails the deploy. Production default on.",
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
        "in one account: a letter, then up to 19 letters, digits or hyphens. It begins the lake's bucket names "
        "(CloudFormation names them `<prefix>-data-lake-...`, lower-cased), so S3's reserved bucket prefixes are "
        "refused: `xn--`, `sthree-`, `amzn-s3-demo-`.",
    )
    account: str | None = Field(
        None,
        description="AWS account to deploy to (12 digits). Unset: CDK_DEFAULT_ACCOUNT; both unset: the stacks "
        "are environment-agnostic.",
    )
    region: str | None = Field(
        None,
        description="AWS region to deploy to, e.g. eu-west-1. Unset: CDK_DEFAULT_REGION; both unset: the "
        "stacks are environment-agnostic. Checked after the stacks are built: every stack must be able to run "
        "there (its resource types and SageMaker images; README, Regions).",
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
    bias: BiasSettings = BiasSettings()
    budget: BudgetSettings = BudgetSettings()
    functions: FunctionSettings = FunctionSettings()
    synth: SynthSettings = SynthSettings()

    @model_validator(mode="after")
    def _cross_section(self) -> AppConfig:
        if self.profile is Profile.PRODUCTION and self.stream.retention_hours < 168:
            raise ConfigValueError(
                "stream.retention_hours",
                self.stream.retention_hours,
                "168-8760 in production: keep at least 7 days of events to replay after an incident",
            )
        if (
            self.etl.rebalance_method is RebalanceMethod.CLASS_WEIGHT
            and self.training.hyperparameters.scale_pos_weight != 1
        ):
            raise ConfigValueError(
                "training.hyperparameters.scale_pos_weight",
                self.training.hyperparameters.scale_pos_weight,
                "1 with etl.rebalance_method=class_weight: the ETL computes the weight and the workflow uses it",
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
        return check_prefix(value)

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return None if value is None else check_account(value)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return None if value is None else check_region(value)


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
        # No surprise bill: a budget on the account, and an endpoint nobody calls is deleted after 8 hours.
        "budget.enabled": True,
        "serving.idle_hours": 8,
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
        "functions.reserve_concurrency": True,
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


@functools.cache
def _known_keys() -> dict[str, Any]:
    """``config_keys()`` once: the loader and its error messages look keys up on every load."""
    return config_keys()


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
    known = list(_known_keys())
    parent, _, leaf = key.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in known if k.rpartition(".")[0] == parent}
    by_leaf = difflib.get_close_matches(leaf, list(siblings), n=1, cutoff=0.5)
    if by_leaf:
        return [siblings[by_leaf[0]]]
    return difflib.get_close_matches(key, known, n=1, cutoff=0.6)


def _unknown(key: str) -> str:
    close = _suggest(key)
    hint = f"; did you mean '{close[0]}'?" if close else "; see docs/configuration.md for the keys"
    return f"invalid config: unknown key {key!r}{hint}"


def _describe(key: str, value: Any) -> str:
    return f"{key}={value!r}"


def _one_line(text: str) -> str:
    """Whatever a message quotes (a library's text about the input), it stays one printable line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _format(error: Any) -> str:
    """One line for one pydantic error: key, value, what is allowed."""
    return _one_line(_format_error(error))


def _format_error(error: Any) -> str:
    ctx = error.get("ctx") or {}
    original = ctx.get("error")
    if isinstance(original, ConfigValueError):
        return f"invalid config: {original}"
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return _unknown(key)
    message = error["msg"]
    info = _known_keys().get(key)
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
    except (ValueError, TypeError):
        allowed = ", ".join(p.value for p in Profile)
        raise ConfigError([f"invalid config: profile={profile_value!r}: allowed: {allowed}"]) from None
    known = _known_keys()
    unknown = [_unknown(key) for key in ours if key not in known]
    if unknown:
        raise ConfigError(unknown)
    merged = {**PROFILE_DEFAULTS[profile], **ours}
    try:
        return AppConfig.model_validate(_nest(merged))
    except ValidationError as exc:
        raise ConfigError([_format(error) for error in exc.errors(include_url=False)]) from None
