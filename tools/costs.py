"""What each stack costs at the sandbox and production defaults, in us-east-1, from list prices.

``python -m tools.costs`` prints, for both profiles, every resource of every stack that bills, with the
quantity taken from the validated configuration (``ml_config.load_config``: shard count, instance type and
count, alarms, schedules ...), the list price used and the idle cost per hour and per month, or the cost per
unit of use for what only bills when something runs. It also prints the price table (each price with the page
it comes from and the date it was checked) and the worked example of the raw zone's lifecycle rules.

    python -m tools.costs                                   # print everything (Markdown)
    python -m tools.costs -c serving.instance_count=3       # the same with overrides (both profiles)
    python -m tools.costs --profile production              # one profile
    python -m tools.costs --write                           # regenerate the tables inside docs/costs.md
    python -m tools.costs --check                           # exit 1 if docs/costs.md is out of date

docs/costs.md embeds the generated blocks between ``<!-- costs:NAME:begin -->``/``<!-- costs:NAME:end -->``
markers; tests/docs/test_costs.py regenerates them and compares, so the page cannot drift from this script.

Quantities come from the configuration, never from a synthesized template, so this runs in well under a
second without CDK. Where the quantity is fixed by a construct rather than by a setting (one customer-managed
KMS key, no interface VPC endpoints, no NAT gateway) the constant below names the construct that fixes it.
No network access: the prices are a table in this file; update it (and the date) when AWS changes them.
"""

from __future__ import annotations

import argparse
import calendar
import datetime
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ml_config.config import (
    AppConfig,
    CapacityMode,
    ConfigError,
    MonitoringEngine,
    OutputFormat,
    Profile,
    load_config,
)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "costs.md"

REGION = "us-east-1"
CHECKED = "2026-11-24"
#: Hours in a billing month, the convention of AWS's pricing examples and calculators (8,760 / 12).
HOURS_PER_MONTH = 730
DAYS_PER_YEAR = 365
DAYS_PER_MONTH = DAYS_PER_YEAR / 12

# ---------------------------------------------------------------------------------------------------------
# Prices (us-east-1, on-demand list prices, USD, free tier ignored, taxes excluded)

AWS_PAGE = "AWS page"
THIRD_PARTY = "third-party copy"
UNVERIFIED = "unverified here"


@dataclass(frozen=True)
class Price:
    """One list price and where it comes from.

    ``status`` says how far the figure could be confirmed on ``CHECKED``: ``AWS page`` (the figure is on
    the AWS page named in ``source``), ``third-party copy`` (AWS's pricing page renders its price cells with
    JavaScript and a copy of the page without it does not show them; the figure was found in the third-party
    page named in ``note``) or ``unverified here`` (no copy of the figure found; check the AWS page before
    relying on it).
    """

    usd: float
    unit: str
    source: str
    status: str
    note: str = ""


SAGEMAKER_PRICING = "https://aws.amazon.com/sagemaker/pricing/"
S3_PRICING = "https://aws.amazon.com/s3/pricing/"
KINESIS_PRICING = "https://aws.amazon.com/kinesis/data-streams/pricing/"
FIREHOSE_PRICING = "https://aws.amazon.com/firehose/pricing/"
CLOUDWATCH_PRICING = "https://aws.amazon.com/cloudwatch/pricing/"

PRICES: dict[str, Price] = {
    # --- SageMaker AI (per instance-hour, billed per second) ---
    "sagemaker.hosting.ml.t2.medium": Price(
        0.056,
        "per instance-hour (real-time inference)",
        SAGEMAKER_PRICING,
        THIRD_PARTY,
        "same figure in several public SageMaker cost scripts on GitHub",
    ),
    "sagemaker.hosting.ml.m5.large": Price(
        0.115,
        "per instance-hour (real-time inference)",
        SAGEMAKER_PRICING,
        THIRD_PARTY,
        "same figure in several public SageMaker cost scripts on GitHub",
    ),
    "sagemaker.training.ml.m5.large": Price(
        0.115,
        "per instance-hour (training)",
        SAGEMAKER_PRICING,
        THIRD_PARTY,
        "public SageMaker training cost scripts on GitHub",
    ),
    "sagemaker.transform.ml.m5.large": Price(
        0.115,
        "per instance-hour (batch transform)",
        SAGEMAKER_PRICING,
        UNVERIFIED,
        "wring.co (2026-03-15): batch transform bills at the training instance rates",
    ),
    "sagemaker.processing.ml.m5.large": Price(
        0.115,
        "per instance-hour (processing: the workflow's Explain job, Model Monitor jobs)",
        SAGEMAKER_PRICING,
        UNVERIFIED,
        "assumed equal to the training rate; the Explain job, and Model Monitor with monitoring.engine=model_monitor",
    ),
    # --- KMS ---
    "kms.key": Price(
        1.00,
        "per customer-managed key-month (prorated hourly)",
        "https://aws.amazon.com/kms/pricing/",
        THIRD_PARTY,
        "gist.github.com/dasgoll/b88d5be05dcc0deb052ad40446c2fb40: $1 per key per month",
    ),
    "kms.requests": Price(
        0.03,
        "per 10,000 requests (after 20,000 free a month)",
        "https://aws.amazon.com/kms/pricing/",
        THIRD_PARTY,
        "gist.github.com/dasgoll/b88d5be05dcc0deb052ad40446c2fb40",
    ),
    # --- CloudWatch ---
    "cloudwatch.alarm": Price(
        0.10,
        "per standard-resolution alarm metric-month",
        CLOUDWATCH_PRICING,
        THIRD_PARTY,
        "stored AWS page shows the free tier only; c3x.dev/resources/aws/aws_cloudwatch_metric_alarm: $0.10",
    ),
    "logs.ingest": Price(
        0.50,
        "per GB ingested (standard log class; vended flow logs start at the same rate)",
        CLOUDWATCH_PRICING,
        THIRD_PARTY,
        "c3x.dev/blog/cloudwatch-logs-cost-optimization (us-east-1, June 2026)",
    ),
    "logs.storage": Price(
        0.03,
        "per GB-month stored",
        CLOUDWATCH_PRICING,
        THIRD_PARTY,
        "c3x.dev/blog/cloudwatch-logs-cost-optimization (us-east-1, June 2026)",
    ),
    # --- Kinesis Data Streams ---
    "kinesis.shard_hour": Price(
        0.015,
        "per shard-hour (provisioned mode)",
        KINESIS_PRICING,
        THIRD_PARTY,
        "c3x.dev/resources/aws/aws_kinesis_stream; infracost-style output (2,920 shard-hours = $43.80)",
    ),
    "kinesis.extended_retention_shard_hour": Price(
        0.02,
        "per shard-hour of retention beyond 24 h (provisioned mode)",
        KINESIS_PRICING,
        THIRD_PARTY,
        "c3x.dev/resources/aws/aws_kinesis_stream",
    ),
    "kinesis.put_payload_units": Price(
        0.014,
        "per million 25 KB PUT payload units (provisioned mode)",
        KINESIS_PRICING,
        THIRD_PARTY,
        "costcalculator.calculator.city/aws-kinesis-cost-calculator (us-east-1)",
    ),
    "kinesis.on_demand_stream_hour": Price(
        0.04,
        "per stream-hour (on-demand Standard mode)",
        KINESIS_PRICING,
        THIRD_PARTY,
        "infracost-style output: 730 on-demand stream-hours = $29.20",
    ),
    "kinesis.on_demand_ingest_gb": Price(
        0.08,
        "per GB written (on-demand Standard mode)",
        KINESIS_PRICING,
        UNVERIFIED,
        "third-party figures disagree (c3x.dev says $0.04); On-demand Advantage, an account-level opt-in, is "
        "at least 60% lower (docs.aws.amazon.com/streams/latest/dev/how-do-i-size-a-stream.html)",
    ),
    "kinesis.on_demand_retrieval_gb": Price(
        0.04,
        "per GB read (on-demand Standard mode)",
        KINESIS_PRICING,
        THIRD_PARTY,
        "c3x.dev/resources/aws/aws_kinesis_stream",
    ),
    "kinesis.on_demand_retention_gb_month": Price(
        0.10,
        "per GB-month retained beyond 24 h, up to 7 days (on-demand mode)",
        KINESIS_PRICING,
        THIRD_PARTY,
        "infracost-style output: 1 GB extended retention = $0.10",
    ),
    # --- Amazon Data Firehose ---
    "firehose.ingest_gb": Price(
        0.029,
        "per GB ingested (first 500 TB a month)",
        FIREHOSE_PRICING,
        THIRD_PARTY,
        "github.com/i05nagai/memorandum cloud/aws/kinesis_firehose.md (older copy of the AWS tiers)",
    ),
    "firehose.format_conversion_gb": Price(0.018, "per GB converted to Parquet/ORC", FIREHOSE_PRICING, UNVERIFIED),
    "firehose.dynamic_partitioning_gb": Price(
        0.020, "per GB processed by dynamic partitioning", FIREHOSE_PRICING, UNVERIFIED
    ),
    "firehose.dynamic_partitioning_objects": Price(
        0.005, "per 1,000 S3 objects delivered with dynamic partitioning", FIREHOSE_PRICING, UNVERIFIED
    ),
    # --- Glue, Athena, Step Functions, Lambda ---
    "glue.dpu_hour": Price(
        0.44,
        "per DPU-hour (ETL jobs: per second, 1-minute minimum; crawlers: 10-minute minimum per crawl)",
        "https://aws.amazon.com/glue/pricing/",
        AWS_PAGE,
        "aws.amazon.com/jp/glue/pricing/ (2026-11) states $0.44 per DPU-hour; the minimums from "
        "awsnegotiations.com/glue-job-cost-optimization.html (May 2026)",
    ),
    "athena.tb_scanned": Price(
        5.00,
        "per TB scanned (10 MB minimum per query)",
        "https://aws.amazon.com/athena/pricing/",
        THIRD_PARTY,
        "athena.guide/articles/athena-basics-pricing-model; rcpedia.stanford.edu/services/athena.html",
    ),
    "stepfunctions.transitions": Price(
        0.025,
        "per 1,000 state transitions (Standard workflows; 4,000 free a month)",
        "https://aws.amazon.com/step-functions/pricing/",
        AWS_PAGE,
        "US East (N. Virginia) $0.0250",
    ),
    "lambda.arm_gb_second": Price(
        0.0000133334,
        "per GB-second (Arm, first 7.5 billion GB-s a month)",
        "https://aws.amazon.com/lambda/pricing/",
        THIRD_PARTY,
        "cloudchipr.com/blog/aws-lambda-pricing (US East (N. Virginia))",
    ),
    "lambda.requests": Price(0.20, "per million requests", "https://aws.amazon.com/lambda/pricing/", UNVERIFIED),
    # --- S3 (first 50 TB a month) ---
    "s3.standard": Price(
        0.023, "per GB-month, S3 Standard", S3_PRICING, THIRD_PARTY, "awsnegotiations.com/s3-storage.html (US-East-1)"
    ),
    "s3.standard_ia": Price(
        0.0125, "per GB-month, S3 Standard-IA", S3_PRICING, THIRD_PARTY, "awsnegotiations.com/s3-storage.html"
    ),
    "s3.glacier_ir": Price(
        0.004,
        "per GB-month, S3 Glacier Instant Retrieval",
        S3_PRICING,
        THIRD_PARTY,
        "awsnegotiations.com/s3-storage.html",
    ),
    "s3.glacier": Price(
        0.0036,
        "per GB-month, S3 Glacier Flexible Retrieval",
        S3_PRICING,
        THIRD_PARTY,
        "awsnegotiations.com/s3-storage.html",
    ),
    "s3.deep_archive": Price(
        0.00099,
        "per GB-month, S3 Glacier Deep Archive",
        S3_PRICING,
        THIRD_PARTY,
        "awsnegotiations.com/s3-storage.html; go-cloud.io (September 2025)",
    ),
    "s3.transition.standard_ia": Price(
        0.01, "per 1,000 lifecycle transitions into Standard-IA", S3_PRICING, UNVERIFIED
    ),
    "s3.transition.glacier_ir": Price(
        0.02, "per 1,000 lifecycle transitions into Glacier Instant Retrieval", S3_PRICING, UNVERIFIED
    ),
    "s3.transition.glacier": Price(
        0.03, "per 1,000 lifecycle transitions into Glacier Flexible Retrieval", S3_PRICING, UNVERIFIED
    ),
    "s3.transition.deep_archive": Price(
        0.05, "per 1,000 lifecycle transitions into Glacier Deep Archive", S3_PRICING, UNVERIFIED
    ),
    # --- VPC ---
    "vpc.gateway_endpoint": Price(
        0.0,
        "S3 gateway endpoint, VPC, subnets, route tables",
        "https://docs.aws.amazon.com/prescriptive-guidance/latest/aws-startup-security-baseline/wkld-12.html",
        AWS_PAGE,
        "gateway endpoints 'come at no additional charge'",
    ),
}


def price(key: str) -> float:
    return PRICES[key].usd


def sagemaker_price(use: str, instance_type: str) -> float:
    """The hourly price of ``instance_type`` for ``use`` (hosting, training, transform, processing). Only the
    types the defaults use are in the table: another type is a clear error, never a guess."""
    key = f"sagemaker.{use}.{instance_type}"
    if key not in PRICES:
        prefix = f"sagemaker.{use}."
        known = sorted(k.removeprefix(prefix) for k in PRICES if k.startswith(prefix))
        raise KeyError(
            f"no {use} price for {instance_type} in tools/costs.py PRICES (known: {', '.join(known)}): "
            "add it with its source page and the date"
        )
    return PRICES[key].usd


# ---------------------------------------------------------------------------------------------------------
# Fixed quantities and assumptions (each names what fixes it)

#: ml_constructs.data_lake.construct.DataLake creates one customer-managed key (the lake key), whatever the encryption
#: mode: the stream, the topic and every log group use it too. AWS-managed keys (aws/glue) cost nothing.
CUSTOMER_MANAGED_KEYS = 1
#: ml_constructs.network.construct.IsolatedNetwork: nat_gateways=0, one S3 *gateway* endpoint, no interface endpoints.
NAT_GATEWAYS = 0
INTERFACE_ENDPOINTS = 0
#: Application Auto Scaling "creates and manages the CloudWatch alarms" of a target-tracking policy
#: (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html);
#: counted as two, one to scale out and one to scale in (the page found does not state the number). They are
#: billed like any alarm. The serving construct has one target-tracking policy.
TARGET_TRACKING_ALARMS = 2
#: Alarms each construct creates (ml_constructs.streaming: iterator age, freshness, read throttling, plus
#: write throttling in provisioned mode and conversion failures in Parquet mode; ml_constructs.serving:
#: 5XX errors and latency; ml_constructs.monitoring: one violations alarm, or one per feature for Model Monitor).
STREAMING_BASE_ALARMS = 3
SERVING_ALARMS = 2
#: ml_constructs.training.alarms: failed, timed-out and aborted executions.
WORKFLOW_ALARMS = 3
#: ml_constructs.failures, for each scheduled function (drift job, idle guard): the dead-letter queue's alarm, the
#: errors alarm, and the heartbeat, a metric-math alarm over two metrics (Invocations, Errors), billed per metric.
FUNCTION_FAILURE_ALARM_METRICS = 4
#: ml_constructs.serving.idle_guard.IdleEndpointGuard: hourly, 256 MB; its dead-letter queue (SQS) bills per request
#: only and stays empty while the guard works.
GUARD_RUNS_PER_MONTH = HOURS_PER_MONTH
GUARD_MEMORY_GB = 0.25
ASSUMED_GUARD_SECONDS = 1
#: Glue worker types -> DPU per worker (ml_config.config.WorkerType).
DPU_PER_WORKER = {"G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8}

#: Assumptions for the per-use lines (the worked example's small data; see docs/glue-etl.md, docs/training.md).
ASSUMED_ETL_MINUTES = 5
ASSUMED_TRAINING_MINUTES = 5
ASSUMED_TRANSFORM_MINUTES = 5
#: The Explain processing job: instance start-up and the image pull dominate; TreeSHAP of the validation split
#: takes seconds (ml_constructs.training.explain: one instance).
ASSUMED_EXPLAIN_MINUTES = 5
EXPLAIN_INSTANCES_PER_JOB = 1
ASSUMED_ENDPOINT_ROLL_MINUTES = 10  # the new instances run beside the old ones until the update completes
ASSUMED_CRAWLER_DPUS = 1  # Glue chooses the DPUs of a crawl; docs/glue-etl.md's 0.07 USD a run is 1 DPU x 10 min
CRAWLER_MINIMUM_MINUTES = 10
ETL_MINIMUM_MINUTES = 1
ASSUMED_DRIFT_JOB_SECONDS = 10
DRIFT_JOB_MEMORY_GB = 1.0  # ml_constructs.monitoring.DriftMonitor: memory_size=1024
ASSUMED_MODEL_MONITOR_MINUTES = 10
MODEL_MONITOR_INSTANCE = "ml.m5.large"  # ml_constructs.monitoring.ModelMonitorSchedule, hourly
TRANSFORM_INSTANCES_PER_JOB = 1  # ml_constructs.training: TransformResources.InstanceCount
ATHENA_MINIMUM_MB = 10
MB_PER_TB = 1_000_000  # the workgroup's cutoff is in MB of 10^6 bytes (athena.bytes_scanned_cutoff_mb)


# ---------------------------------------------------------------------------------------------------------
# Schedules: runs a month of an EventBridge/Glue cron expression, counted over a reference year

REFERENCE_YEAR = 2027
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


def _values(field: str, low: int, high: int, names: Mapping[str, int] | None = None) -> set[int]:
    """The values a plain cron field (numbers, names, ``*``, ``?``, ranges, steps, lists) selects."""
    out: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(base, names)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return {v for v in out if low <= v <= high}


def _number(text: str, names: Mapping[str, int] | None) -> int:
    return names[text.upper()] if names and text.upper() in names else int(text)


def _cron_dow(day: datetime.date) -> int:
    return (day.weekday() + 1) % 7 + 1  # cron: 1 = SUN ... 7 = SAT


def _nearest_weekday(day_of_month: int, year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    day_of_month = min(day_of_month, last)
    weekday = datetime.date(year, month, day_of_month).weekday()  # Mon = 0
    if weekday == 5:  # Saturday: the Friday before, or the Monday after the 1st
        return day_of_month - 1 if day_of_month > 1 else day_of_month + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before the last day
        return day_of_month + 1 if day_of_month < last else day_of_month - 2
    return day_of_month


def _day_of_month_matches(field: str, day: datetime.date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    for part in field.split(","):
        if part == "L":
            hit = day.day == last
        elif part == "LW":
            hit = day.day == _nearest_weekday(last, day.year, day.month)
        elif part.endswith("W"):
            hit = day.day == _nearest_weekday(int(part[:-1]), day.year, day.month)
        else:
            hit = day.day in _values(part, 1, 31)
        if hit:
            return True
    return False


def _day_of_week_matches(field: str, day: datetime.date) -> bool:
    dow = _cron_dow(day)
    last = calendar.monthrange(day.year, day.month)[1]
    for part in field.split(","):
        if "#" in part:
            weekday, nth = part.split("#")
            hit = dow == _number(weekday, _WEEKDAYS) and (day.day - 1) // 7 + 1 == int(nth)
        elif part.endswith("L") and part != "L":
            hit = dow == _number(part[:-1], _WEEKDAYS) and day.day + 7 > last
        elif part == "L":
            hit = dow == 7
        else:
            hit = dow in _values(part, 1, 7, _WEEKDAYS)
        if hit:
            return True
    return False


def runs_per_month(expression: str | None) -> float:
    """Average runs a month of a ``cron(...)`` (or ``rate(...)``) schedule over the reference year; 0 when unset."""
    if not expression:
        return 0.0
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        per_hour = {"minute": 60 / amount, "hour": 1 / amount, "day": 1 / (24 * amount)}[unit]
        return per_hour * HOURS_PER_MONTH
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not match or len(match.group(1).split()) != 6:
        raise ValueError(f"not a six-field cron(...) or rate(...) expression: {expression!r}")
    minutes, hours, dom, month, dow, year = match.group(1).split()
    if year not in ("*", "?") and REFERENCE_YEAR not in _values(year, 1970, 2199):
        return 0.0
    months = _values(month, 1, 12, _MONTHS)
    days = 0
    start = datetime.date(REFERENCE_YEAR, 1, 1)
    for offset in range(366 if calendar.isleap(REFERENCE_YEAR) else 365):
        day = start + datetime.timedelta(days=offset)
        if day.month not in months:
            continue
        matches = _day_of_week_matches(dow, day) if dom == "?" else _day_of_month_matches(dom, day)
        days += matches
    per_year = len(_values(minutes, 0, 59)) * len(_values(hours, 0, 23)) * days
    return per_year / 12


# ---------------------------------------------------------------------------------------------------------
# Line items


@dataclass(frozen=True)
class Line:
    """One thing that bills. ``monthly`` is what it costs while nothing is used (0 for per-use items);
    ``per_use`` is the cost of one ``per`` (a run, a GB ...). ``count`` is the configuration-derived quantity."""

    stack: str
    item: str
    quantity: str
    rate: str
    monthly: float = 0.0
    per_use: float | None = None
    per: str = ""
    count: float = 0.0
    prices: tuple[str, ...] = ()

    @property
    def hourly(self) -> float:
        return self.monthly / HOURS_PER_MONTH

    @property
    def idle(self) -> bool:
        return self.monthly > 0


def _usd(value: float) -> str:
    """Dollars: cents from $1 up, three significant digits below (at least two decimals)."""
    if value == 0:
        return "$0"
    if value >= 1:
        return f"${value:,.2f}"
    decimals = max(2, 2 - math.floor(math.log10(value)))
    text = f"{value:.{decimals}f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def _exact(value: float) -> str:
    """A list price as written on the price list (no rounding)."""
    text = format(Decimal(repr(value)), "f")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}" if value else "$0"


def _rate(key: str) -> str:
    p = PRICES[key]
    return f"{_exact(p.usd)} {p.unit.split(' (')[0]}"


def _alarms(stack: str, count: int, what: str) -> Line:
    return Line(
        stack,
        f"CloudWatch alarms ({what})",
        f"{count}",
        _rate("cloudwatch.alarm"),
        monthly=count * price("cloudwatch.alarm"),
        count=count,
        prices=("cloudwatch.alarm",),
    )


def _log_groups(stack: str, count: int, retention_days: int, item: str) -> Line:
    return Line(
        stack,
        f"{item} (retention {retention_days} days)",
        f"{count}",
        f"{_rate('logs.ingest')} + {_rate('logs.storage')}",
        per_use=price("logs.ingest") + price("logs.storage") * retention_days / DAYS_PER_MONTH,
        per=f"GB logged (ingestion, then storage for the {retention_days} days it is kept)",
        count=count,
        prices=("logs.ingest", "logs.storage"),
    )


def data_lake_lines(config: AppConfig) -> list[Line]:
    stack = "data-lake"
    kms_on = config.lake.encryption.value == "kms"
    return [
        Line(
            stack,
            "KMS customer-managed key (lake key)",
            f"{CUSTOMER_MANAGED_KEYS}",
            _rate("kms.key"),
            monthly=CUSTOMER_MANAGED_KEYS * price("kms.key"),
            count=CUSTOMER_MANAGED_KEYS,
            prices=("kms.key",),
        ),
        Line(
            stack,
            "KMS requests" + (" (S3 Bucket Keys cut them)" if kms_on else ""),
            "-",
            _rate("kms.requests"),
            per_use=price("kms.requests"),
            per="10,000 requests",
            prices=("kms.requests",),
        ),
        Line(
            stack,
            "S3 storage, Standard (raw zone until its first transition; see the lifecycle example)",
            "4 buckets (raw, curated, artifacts, access logs)",
            _rate("s3.standard"),
            per_use=price("s3.standard"),
            per="GB-month",
            count=4,
            prices=("s3.standard",),
        ),
    ]


def network_lines(config: AppConfig) -> list[Line]:
    stack = "network"
    azs = config.network.max_azs
    return [
        Line(
            stack,
            "VPC, isolated subnets, route tables, S3 gateway endpoint",
            f"1 VPC, {azs} subnets, 1 gateway endpoint; {NAT_GATEWAYS} NAT gateways, "
            f"{INTERFACE_ENDPOINTS} interface endpoints",
            "no charge",
            count=azs,
            prices=("vpc.gateway_endpoint",),
        ),
        _log_groups(stack, 1, config.logs.retention_days, "VPC flow logs to CloudWatch Logs"),
    ]


def alerts_lines(config: AppConfig) -> list[Line]:
    lines = [
        Line(
            "alerts",
            "SNS topic" + (" and e-mail subscription" if config.alerts.email else ""),
            "1",
            "no idle charge; publishes and deliveries per use (not priced here)",
            count=1,
        )
    ]
    if config.budget.enabled:
        lines.append(
            Line(
                "alerts",
                f"AWS Budgets cost budget ({config.budget.monthly_limit_usd} USD a month, 3 notifications)",
                "1",
                "free among the account's first two budgets (AWS Budgets pricing; more, or with actions: per day)",
                count=1,
            )
        )
    return lines


def _provisioned_stream_lines(stack: str, shards: int, retention_hours: int) -> list[Line]:
    lines = [
        Line(
            stack,
            "Kinesis stream, provisioned shards",
            f"{shards} shard(s)",
            _rate("kinesis.shard_hour"),
            monthly=shards * price("kinesis.shard_hour") * HOURS_PER_MONTH,
            count=shards,
            prices=("kinesis.shard_hour",),
        )
    ]
    if retention_hours > 24:
        lines.append(
            Line(
                stack,
                f"Kinesis extended retention ({retention_hours} h)",
                f"{shards} shard(s)",
                _rate("kinesis.extended_retention_shard_hour"),
                monthly=shards * price("kinesis.extended_retention_shard_hour") * HOURS_PER_MONTH,
                count=shards,
                prices=("kinesis.extended_retention_shard_hour",),
            )
        )
    lines.append(
        Line(
            stack,
            "Kinesis PUT payload units",
            "-",
            _rate("kinesis.put_payload_units"),
            per_use=price("kinesis.put_payload_units"),
            per="million records of up to 25 KB",
            prices=("kinesis.put_payload_units",),
        )
    )
    return lines


def _on_demand_stream_lines(stack: str, retention_hours: int) -> list[Line]:
    lines = [
        Line(
            stack,
            "Kinesis stream, on-demand (Standard)",
            "1 stream",
            _rate("kinesis.on_demand_stream_hour"),
            monthly=price("kinesis.on_demand_stream_hour") * HOURS_PER_MONTH,
            count=1,
            prices=("kinesis.on_demand_stream_hour",),
        ),
        Line(
            stack,
            "Kinesis data written + read once (Firehose)",
            "-",
            f"{_rate('kinesis.on_demand_ingest_gb')} + {_rate('kinesis.on_demand_retrieval_gb')}",
            per_use=price("kinesis.on_demand_ingest_gb") + price("kinesis.on_demand_retrieval_gb"),
            per="GB",
            prices=("kinesis.on_demand_ingest_gb", "kinesis.on_demand_retrieval_gb"),
        ),
    ]
    if retention_hours > 24:
        lines.append(
            Line(
                stack,
                f"Kinesis extended retention ({retention_hours} h)",
                "-",
                _rate("kinesis.on_demand_retention_gb_month"),
                per_use=price("kinesis.on_demand_retention_gb_month"),
                per="GB-month retained",
                prices=("kinesis.on_demand_retention_gb_month",),
            )
        )
    return lines


def streaming_lines(config: AppConfig) -> list[Line]:
    stack = "streaming"
    stream = config.stream
    parquet = config.firehose.output_format is OutputFormat.PARQUET
    provisioned = stream.capacity_mode is CapacityMode.PROVISIONED
    lines = (
        _provisioned_stream_lines(stack, stream.shards or 1, stream.retention_hours)
        if provisioned
        else _on_demand_stream_lines(stack, stream.retention_hours)
    )
    keys = ["firehose.ingest_gb", "firehose.dynamic_partitioning_gb"] + (
        ["firehose.format_conversion_gb"] if parquet else []
    )
    lines.append(
        Line(
            stack,
            "Firehose ingestion, dynamic partitioning" + (", Parquet conversion" if parquet else ""),
            "1 delivery stream",
            " + ".join(_rate(k) for k in keys),
            per_use=sum(price(k) for k in keys),
            per="GB delivered (+ $0.005 per 1,000 objects)",
            count=1,
            prices=(*keys, "firehose.dynamic_partitioning_objects"),
        )
    )
    alarms = STREAMING_BASE_ALARMS + provisioned + parquet
    lines.append(_alarms(stack, alarms, "iterator age, freshness, throttling, conversion"))
    lines.append(_log_groups(stack, 1, config.logs.retention_days, "Firehose delivery log group"))
    return lines


def crawl_cost() -> float:
    return ASSUMED_CRAWLER_DPUS * CRAWLER_MINIMUM_MINUTES / 60 * price("glue.dpu_hour")


def etl_run_cost(config: AppConfig) -> float:
    dpus = config.etl.workers * DPU_PER_WORKER[config.etl.worker_type.value]
    minutes = max(ETL_MINIMUM_MINUTES, min(ASSUMED_ETL_MINUTES, config.etl.timeout_minutes))
    return dpus * minutes / 60 * price("glue.dpu_hour")


def glue_etl_lines(config: AppConfig) -> list[Line]:
    stack = "glue-etl"
    schedule = config.catalog.crawler_schedule
    runs = runs_per_month(schedule)
    dpus = config.etl.workers * DPU_PER_WORKER[config.etl.worker_type.value]
    cutoff = config.athena.bytes_scanned_cutoff_mb
    lines = [
        Line(
            stack,
            "Glue crawler runs" + (f", raw crawler on `{schedule}`" if schedule else " (on demand only)"),
            f"{runs:g} scheduled crawls/month" if schedule else "2 crawlers, no schedule",
            f"{ASSUMED_CRAWLER_DPUS} DPU x {CRAWLER_MINIMUM_MINUTES} min minimum x {_rate('glue.dpu_hour')}",
            monthly=runs * crawl_cost(),
            per_use=crawl_cost(),
            per="crawl",
            count=runs,
            prices=("glue.dpu_hour",),
        ),
        Line(
            stack,
            f"Glue ETL job run ({config.etl.workers} x {config.etl.worker_type.value})",
            f"{dpus} DPU",
            f"{dpus} DPU x {ASSUMED_ETL_MINUTES} min x {_rate('glue.dpu_hour')}",
            per_use=etl_run_cost(config),
            per="run",
            count=dpus,
            prices=("glue.dpu_hour",),
        ),
        Line(
            stack,
            f"Athena query (workgroup cutoff {cutoff:,} MB)",
            "-",
            _rate("athena.tb_scanned"),
            per_use=cutoff / MB_PER_TB * price("athena.tb_scanned"),
            per=f"query at the cutoff (at least {ATHENA_MINIMUM_MB} MB: "
            f"{_usd(ATHENA_MINIMUM_MB / MB_PER_TB * price('athena.tb_scanned'))})",
            count=cutoff,
            prices=("athena.tb_scanned",),
        ),
        _log_groups(stack, 1, config.logs.retention_days, "Glue job log group"),
    ]
    return lines


def state_transitions_per_run(config: AppConfig) -> int:
    """States entered by one successful workflow run (ml_constructs.training.TrainingPipeline's happy path):
    Names, RunEtl, Train (Tune + BestTrainingJob), PinExplainScript, Explain, CreateModel, EvaluateTransform,
    EvaluateMetrics, QualityGate, Register, [TestTransform], CreateEndpointConfig, UpdateEndpoint, then
    Wait/Describe/Choice once a minute while the endpoint updates, Handover, Done."""
    settings = config.training
    base = 10 + (1 if settings.tuning.enabled else 0) + (1 if settings.batch_transform_test else 0)
    return base + 2 + 3 * ASSUMED_ENDPOINT_ROLL_MINUTES + 2


def training_run_cost(config: AppConfig) -> dict[str, float]:
    t, s = config.training, config.serving
    jobs = t.tuning.max_jobs if t.tuning.enabled else 1
    minutes = min(ASSUMED_TRAINING_MINUTES, t.max_runtime_minutes)
    transforms = 1 + (1 if t.batch_transform_test else 0)
    return {
        "training": jobs * t.instance_count * minutes / 60 * sagemaker_price("training", t.instance_type),
        "transform": transforms
        * TRANSFORM_INSTANCES_PER_JOB
        * ASSUMED_TRANSFORM_MINUTES
        / 60
        * sagemaker_price("transform", t.transform_instance_type),
        "explain": EXPLAIN_INSTANCES_PER_JOB
        * min(ASSUMED_EXPLAIN_MINUTES, t.explain_max_runtime_minutes)
        / 60
        * sagemaker_price("processing", t.explain_instance_type),
        "roll": s.instance_count * ASSUMED_ENDPOINT_ROLL_MINUTES / 60 * sagemaker_price("hosting", s.instance_type),
        "transitions": state_transitions_per_run(config) * price("stepfunctions.transitions") / 1000,
        "etl": etl_run_cost(config),
    }


def training_lines(config: AppConfig) -> list[Line]:
    stack = "training"
    t = config.training
    costs = training_run_cost(config)
    jobs = t.tuning.max_jobs if t.tuning.enabled else 1
    per_run = sum(costs.values())
    runs = runs_per_month(t.schedule)
    lines = [
        Line(
            stack,
            "Step Functions transitions",
            f"{state_transitions_per_run(config)} per run",
            _rate("stepfunctions.transitions"),
            per_use=costs["transitions"],
            per="run",
            count=state_transitions_per_run(config),
            prices=("stepfunctions.transitions",),
        ),
        Line(
            stack,
            f"training job{'s (tuning)' if t.tuning.enabled else ''}: {t.instance_count} x {t.instance_type}",
            f"{jobs} job(s) x {ASSUMED_TRAINING_MINUTES} min",
            f"{_exact(sagemaker_price('training', t.instance_type))} per instance-hour",
            per_use=costs["training"],
            per="run",
            count=t.instance_count,
            prices=(f"sagemaker.training.{t.instance_type}",),
        ),
        Line(
            stack,
            f"batch transforms (validation{' + test' if t.batch_transform_test else ''}): {t.transform_instance_type}",
            f"{1 + t.batch_transform_test} job(s) x {ASSUMED_TRANSFORM_MINUTES} min",
            f"{_exact(sagemaker_price('transform', t.transform_instance_type))} per instance-hour",
            per_use=costs["transform"],
            per="run",
            count=1 + t.batch_transform_test,
            prices=(f"sagemaker.transform.{t.transform_instance_type}",),
        ),
        Line(
            stack,
            f"Explain processing job (TreeSHAP): {t.explain_instance_type}",
            f"1 job x {ASSUMED_EXPLAIN_MINUTES} min",
            f"{_exact(sagemaker_price('processing', t.explain_instance_type))} per instance-hour",
            per_use=costs["explain"],
            per="run",
            count=EXPLAIN_INSTANCES_PER_JOB,
            prices=(f"sagemaker.processing.{t.explain_instance_type}",),
        ),
        Line(
            stack,
            "endpoint roll: new instances beside the old ones",
            f"{config.serving.instance_count} x {config.serving.instance_type} x {ASSUMED_ENDPOINT_ROLL_MINUTES} min",
            f"{_exact(sagemaker_price('hosting', config.serving.instance_type))} per instance-hour",
            per_use=costs["roll"],
            per="run",
            count=config.serving.instance_count,
            prices=(f"sagemaker.hosting.{config.serving.instance_type}",),
        ),
        Line(
            stack,
            "whole workflow run (the lines above + the Glue ETL run it starts)",
            "-",
            "sum",
            monthly=runs * per_run,
            per_use=per_run,
            per="run" + (f"; scheduled {runs:g} runs/month on `{t.schedule}`" if t.schedule else "; on demand only"),
            count=runs,
        ),
        _log_groups(stack, 2, config.logs.retention_days, "workflow and evaluation log groups"),
        _alarms(stack, WORKFLOW_ALARMS, "failed, timed-out, aborted executions"),
    ]
    return lines


def guard_lines(config: AppConfig) -> list[Line]:
    """The idle-endpoint guard: what it costs (an hourly Lambda run) and what it saves: an endpoint nobody calls
    bills ``idle_hours`` (at most one hour more: the guard looks hourly) instead of every hour until someone
    notices."""
    s = config.serving
    if s.idle_hours is None:
        return []
    hourly = s.instance_count * sagemaker_price("hosting", s.instance_type)
    per_run = (
        ASSUMED_GUARD_SECONDS * GUARD_MEMORY_GB * price("lambda.arm_gb_second") + price("lambda.requests") / 1_000_000
    )
    return [
        Line(
            "serving",
            "idle-endpoint guard (Lambda, arm64, hourly)",
            f"{GUARD_RUNS_PER_MONTH} runs/month x {ASSUMED_GUARD_SECONDS} s x {GUARD_MEMORY_GB:g} GB",
            f"{_exact(price('lambda.arm_gb_second'))} per GB-second + {_rate('lambda.requests')}",
            monthly=GUARD_RUNS_PER_MONTH * per_run,
            per_use=per_run,
            per="run",
            count=GUARD_RUNS_PER_MONTH,
            prices=("lambda.arm_gb_second", "lambda.requests"),
        ),
        Line(
            "serving",
            f"an endpoint left unused, with the guard (serving.idle_hours={s.idle_hours}): deleted after "
            f"{s.idle_hours}-{s.idle_hours + 1} h; without it {_usd(hourly * 24)} a day, "
            f"{_usd(hourly * HOURS_PER_MONTH)} a month",
            f"{s.instance_count} instance(s) x {s.idle_hours + 1} h at most",
            f"{_exact(sagemaker_price('hosting', s.instance_type))} per instance-hour",
            per_use=hourly * (s.idle_hours + 1),
            per="endpoint left unused (then $0 until it is restored)",
            count=s.instance_count,
            prices=(f"sagemaker.hosting.{s.instance_type}",),
        ),
    ]


def serving_lines(config: AppConfig) -> list[Line]:
    stack = "serving"
    s, m = config.serving, config.monitoring
    hourly = sagemaker_price("hosting", s.instance_type)
    lines = [
        Line(
            stack,
            f"real-time endpoint instances ({s.instance_type}; autoscaling {s.min_capacity}-{s.max_capacity})",
            f"{s.instance_count} instance(s)",
            f"{_exact(hourly)} per instance-hour",
            monthly=s.instance_count * hourly * HOURS_PER_MONTH,
            per_use=hourly,
            per=f"instance-hour when autoscaling adds one (up to {s.max_capacity})",
            count=s.instance_count,
            prices=(f"sagemaker.hosting.{s.instance_type}",),
        )
    ]
    if m.engine is MonitoringEngine.DRIFT:
        runs = runs_per_month(f"rate({m.window_hours} hour{'s' if m.window_hours > 1 else ''})")
        per_run = (
            ASSUMED_DRIFT_JOB_SECONDS * DRIFT_JOB_MEMORY_GB * price("lambda.arm_gb_second")
            + price("lambda.requests") / 1_000_000
        )
        lines.append(
            Line(
                stack,
                f"drift job (Lambda, arm64, every {m.window_hours} h)",
                f"{runs:g} runs/month x {ASSUMED_DRIFT_JOB_SECONDS} s x {DRIFT_JOB_MEMORY_GB:g} GB",
                f"{_exact(price('lambda.arm_gb_second'))} per GB-second + {_rate('lambda.requests')}",
                monthly=runs * per_run,
                per_use=per_run,
                per="run",
                count=runs,
                prices=("lambda.arm_gb_second", "lambda.requests"),
            )
        )
        monitor_alarms = 1
    else:
        from stacks.mapping import etl_feature_columns  # the features are the Model Monitor alarms

        monitor_alarms = len(etl_feature_columns())
        runs = runs_per_month("cron(0 * ? * * *)")
        per_run = ASSUMED_MODEL_MONITOR_MINUTES / 60 * sagemaker_price("processing", MODEL_MONITOR_INSTANCE)
        lines.append(
            Line(
                stack,
                f"Model Monitor data-quality job ({MODEL_MONITOR_INSTANCE}, hourly)",
                f"{runs:g} runs/month x {ASSUMED_MODEL_MONITOR_MINUTES} min",
                f"{_exact(sagemaker_price('processing', MODEL_MONITOR_INSTANCE))} per instance-hour",
                monthly=runs * per_run,
                per_use=per_run,
                per="run",
                count=runs,
                prices=(f"sagemaker.processing.{MODEL_MONITOR_INSTANCE}",),
            )
        )
    drift_job_alarms = FUNCTION_FAILURE_ALARM_METRICS if m.engine is MonitoringEngine.DRIFT else 0
    guard_alarms = FUNCTION_FAILURE_ALARM_METRICS if s.idle_hours is not None else 0
    alarms = SERVING_ALARMS + monitor_alarms + TARGET_TRACKING_ALARMS + drift_job_alarms + guard_alarms
    what = "5XX, latency, drift, 2 from target tracking"
    what += ", the drift job's failures" if drift_job_alarms else ""
    what += ", the guard's failures" if guard_alarms else ""
    lines.append(_alarms(stack, alarms, what))
    lines += guard_lines(config)
    lines.append(
        Line(
            stack,
            f"data capture to S3 ({s.capture_percentage}% of requests)",
            "-",
            _rate("s3.standard"),
            per_use=price("s3.standard"),
            per="GB-month captured",
            prices=("s3.standard",),
        )
    )
    if m.engine is MonitoringEngine.DRIFT:
        lines.append(_log_groups(stack, 1, config.logs.retention_days, "drift job log group"))
    return lines


#: The stacks in deployment order (stacks.Stacks.all), each with the function that prices it.
STACKS: dict[str, Callable[[AppConfig], list[Line]]] = {
    "data-lake": data_lake_lines,
    "network": network_lines,
    "alerts": alerts_lines,
    "streaming": streaming_lines,
    "glue-etl": glue_etl_lines,
    "training": training_lines,
    "serving": serving_lines,
}


def estimate(config: AppConfig) -> list[Line]:
    return [line for lines in (fn(config) for fn in STACKS.values()) for line in lines]


def idle_by_stack(lines: Iterable[Line]) -> dict[str, float]:
    totals = dict.fromkeys(STACKS, 0.0)
    for line in lines:
        totals[line.stack] += line.monthly
    return totals


def profile_config(profile: Profile | str, overrides: Mapping[str, Any] | None = None) -> AppConfig:
    """The validated config of ``profile`` with its defaults (plus ``overrides``, as ``-c key=value`` would)."""
    value = profile.value if isinstance(profile, Profile) else profile
    return load_config({"profile": value, **(overrides or {})})


# ---------------------------------------------------------------------------------------------------------
# Worked example: the raw zone's lifecycle rules on 1 TiB over a year


@dataclass(frozen=True)
class StorageClass:
    name: str  # the S3 API name, as the lifecycle rule states it
    label: str
    price_key: str
    transition_key: str | None
    minimum_days: int  # minimum storage duration: leaving earlier is billed as if it had stayed
    archive_overhead: bool  # 32 KiB at this class's price + 8 KiB at Standard's, per object


STANDARD = StorageClass("STANDARD", "S3 Standard", "s3.standard", None, 0, False)
RAW_CLASSES = (
    StorageClass("STANDARD_IA", "Standard-IA", "s3.standard_ia", "s3.transition.standard_ia", 30, False),
    StorageClass("GLACIER_IR", "Glacier Instant Retrieval", "s3.glacier_ir", "s3.transition.glacier_ir", 90, False),
    StorageClass("GLACIER", "Glacier Flexible Retrieval", "s3.glacier", "s3.transition.glacier", 90, True),
    StorageClass("DEEP_ARCHIVE", "Glacier Deep Archive", "s3.deep_archive", "s3.transition.deep_archive", 180, True),
)
#: Where the minimum storage durations and the archive overhead are documented.
S3_CLASSES_SOURCE = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html"
)
ARCHIVE_OVERHEAD_KIB = 32
ARCHIVE_STANDARD_OVERHEAD_KIB = 8
EXAMPLE_TIB = 1
GIB_PER_TIB = 1024
WINDOW_DAYS = DAYS_PER_YEAR


def raw_transitions(config: AppConfig) -> list[tuple[StorageClass, int]]:
    """(class, day) pairs in the order of ml_constructs.data_lake's raw-storage-classes rule, from the config."""
    raw = config.lake.raw
    days = (raw.standard_ia_days, raw.glacier_ir_days, raw.glacier_days, raw.deep_archive_days)
    return list(zip(RAW_CLASSES, days, strict=True))


def class_on_day(day: int, transitions: Sequence[tuple[StorageClass, int]]) -> StorageClass:
    """The storage class of an object written on day 0, on ``day``: the last transition due by then."""
    current = STANDARD
    for storage_class, due in transitions:
        if day >= due:
            current = storage_class
    return current


def _daily(storage_class: StorageClass) -> float:
    """Price of one GB for one day (a GB-month is a twelfth of a 365-day year)."""
    return price(storage_class.price_key) / DAYS_PER_MONTH


@dataclass(frozen=True)
class MonthRow:
    month: int
    first_day: int
    last_day: int
    classes: tuple[str, ...]
    cost: float


@dataclass(frozen=True)
class LifecycleExample:
    gib: float
    object_mib: int
    objects: int
    transitions: tuple[tuple[StorageClass, int], ...]
    months: tuple[MonthRow, ...]
    all_standard: float
    storage: float
    requests: float
    overhead: float
    early: float
    early_notes: tuple[str, ...]
    after_window: tuple[str, ...]

    @property
    def with_rules(self) -> float:
        return self.storage + self.requests + self.overhead + self.early

    @property
    def saving(self) -> float:
        return self.all_standard - self.with_rules


def _early_deletion(
    per_day: Sequence[StorageClass], day_cost: Callable[[StorageClass], float]
) -> tuple[float, list[str]]:
    """Minimum storage durations: a class left (by the next transition) before its minimum is billed the rest.
    Returns the charge and one note per class it applies to."""
    early = 0.0
    early_notes = []
    spans: list[tuple[StorageClass, int, int]] = []
    for day, storage_class in enumerate(per_day):
        if spans and spans[-1][0] is storage_class:
            spans[-1] = (storage_class, spans[-1][1], day + 1)
        else:
            spans.append((storage_class, day, day + 1))
    for storage_class, start, end in spans[:-1]:  # the last class is not left inside the window
        stayed = end - start
        if stayed < storage_class.minimum_days:
            charge = day_cost(storage_class) * (storage_class.minimum_days - stayed)
            early += charge
            early_notes.append(
                f"{storage_class.label}: {stayed} days < {storage_class.minimum_days}-day minimum, "
                f"{storage_class.minimum_days - stayed} more days billed ({_usd(charge)})"
            )
    return early, early_notes


def lifecycle_example(config: AppConfig, tib: float = EXAMPLE_TIB) -> LifecycleExample:
    """1 TiB written to the raw zone on day 0 and kept a year, with the raw zone's rules or all in Standard.

    Objects are Firehose's deliveries: one object per full buffer (firehose.buffer_size_mib), the size that
    decides the number of lifecycle transition requests and of archive metadata overheads.
    """
    gib = tib * GIB_PER_TIB
    object_mib = config.firehose.buffer_size_mib
    objects = math.ceil(gib * 1024 / object_mib)
    transitions = tuple(raw_transitions(config))
    per_day = [class_on_day(day, transitions) for day in range(WINDOW_DAYS)]
    overhead_gib_archive = objects * ARCHIVE_OVERHEAD_KIB / 1024 / 1024
    overhead_gib_standard = objects * ARCHIVE_STANDARD_OVERHEAD_KIB / 1024 / 1024

    def day_cost(storage_class: StorageClass) -> float:
        return gib * _daily(storage_class)

    def day_overhead(storage_class: StorageClass) -> float:
        if not storage_class.archive_overhead:
            return 0.0
        return overhead_gib_archive * _daily(storage_class) + overhead_gib_standard * _daily(STANDARD)

    bounds = [month * WINDOW_DAYS // 12 for month in range(13)]
    months = []
    for month in range(1, 13):
        days = range(bounds[month - 1], bounds[month])
        classes = tuple(dict.fromkeys(per_day[d].name for d in days))
        cost = sum(day_cost(per_day[d]) + day_overhead(per_day[d]) for d in days)
        months.append(MonthRow(month, days[0], days[-1], classes, cost))

    storage = sum(day_cost(c) for c in per_day)
    overhead = sum(day_overhead(c) for c in per_day)
    requests = sum(
        objects / 1000 * price(c.transition_key) for c, due in transitions if due < WINDOW_DAYS and c.transition_key
    )
    early, early_notes = _early_deletion(per_day, day_cost)
    after = []
    for storage_class, due in transitions:
        if due >= WINDOW_DAYS:
            assert storage_class.transition_key is not None
            after.append(
                f"{storage_class.label} from day {due}: {_usd(objects / 1000 * price(storage_class.transition_key))} "
                f"in transition requests then, and {_usd(gib * price(storage_class.price_key))} a month after "
                f"(minimum {storage_class.minimum_days} days)"
            )
    all_standard = gib * price(STANDARD.price_key) * 12
    return LifecycleExample(
        gib,
        object_mib,
        objects,
        transitions,
        tuple(months),
        all_standard,
        storage,
        requests,
        overhead,
        early,
        tuple(early_notes),
        tuple(after),
    )


# ---------------------------------------------------------------------------------------------------------
# Rendering (Markdown)

PROFILES = (Profile.SANDBOX, Profile.PRODUCTION)
_LABELS = {c.name: c.label for c in (STANDARD, *RAW_CLASSES)}


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def render_prices() -> str:
    rows = [(f"`{key}`", _exact(p.usd), p.unit, p.source, p.status, p.note or "-") for key, p in PRICES.items()]
    lines = [
        f"List prices, {REGION}, USD, checked {CHECKED} (free tier ignored, taxes excluded; a month is "
        f"{HOURS_PER_MONTH} hours).",
        "",
        *_table(("key", "price", "unit", "source (AWS pricing page)", "status", "where the figure was found"), rows),
    ]
    return "\n".join(lines)


def render_profile(config: AppConfig) -> str:
    lines_ = estimate(config)
    totals = idle_by_stack(lines_)
    total = sum(totals.values())
    summary = [(f"`{stack}`", _usd(month / HOURS_PER_MONTH), _usd(month)) for stack, month in totals.items()]
    summary.append(("**total**", f"**{_usd(total / HOURS_PER_MONTH)}**", f"**{_usd(total)}**"))
    detail = [
        (
            f"`{line.stack}`",
            line.item,
            line.quantity,
            line.rate,
            _usd(line.hourly) if line.idle else "-",
            _usd(line.monthly) if line.idle else "-",
            f"{_usd(line.per_use)} per {line.per}" if line.per_use is not None else "-",
        )
        for line in lines_
    ]
    out = [
        f"### {config.profile.value}",
        "",
        "Idle: what the stacks cost deployed and unused (the line items with a per-hour figure below).",
        "",
        *_table(("stack", "idle per hour", "idle per month"), summary),
        "",
        *_table(
            ("stack", "item", "quantity (from the config)", "list price", "per hour", "per month", "per use"),
            detail,
        ),
    ]
    return "\n".join(out)


def render_costs(configs: Sequence[AppConfig]) -> str:
    return "\n\n".join(render_profile(config) for config in configs)


def render_lifecycle(config: AppConfig) -> str:
    example = lifecycle_example(config)
    rules = ", ".join(f"{c.label} after {days} days" for c, days in example.transitions)
    months = [
        (
            str(row.month),
            f"{row.first_day}-{row.last_day}",
            " then ".join(_LABELS[name] for name in row.classes),
            _usd(row.cost),
        )
        for row in example.months
    ]
    lines = [
        f"Raw zone rule at the defaults (`lake.raw.*`): {rules}.",
        "",
        f"- {example.gib:,.0f} GiB written on day 0 as {example.objects:,} objects of "
        f"{example.object_mib} MiB (one per full Firehose buffer, `firehose.buffer_size_mib`); no reads, no "
        "retrievals, no deletions, no new data.",
        f"- A year is {WINDOW_DAYS} days (day 0 to day {WINDOW_DAYS - 1}), a GB-month one twelfth of it; each "
        "object changes class on the day its rule is due.",
        f"- Glacier Flexible Retrieval and Deep Archive add {ARCHIVE_OVERHEAD_KIB} KiB per object at their price "
        f"and {ARCHIVE_STANDARD_OVERHEAD_KIB} KiB at Standard's; minimum storage durations: "
        + ", ".join(f"{c.label} {c.minimum_days} days" for c in RAW_CLASSES)
        + f" ({S3_CLASSES_SOURCE}).",
        "",
        *_table(("month", "days", "storage class", "cost"), months),
        "",
        *_table(
            ("", f"{EXAMPLE_TIB} TiB for 12 months"),
            [
                ("all in S3 Standard", _usd(example.all_standard)),
                ("with the raw zone's rules: storage", _usd(example.storage)),
                ("+ lifecycle transition requests", _usd(example.requests)),
                ("+ archive metadata overhead", _usd(example.overhead)),
                ("+ minimum-duration charges", _usd(example.early)),
                ("= with the rules", _usd(example.with_rules)),
                (
                    "**saving**",
                    f"**{_usd(example.saving)} ({example.saving / example.all_standard:.0%})**",
                ),
            ],
        ),
    ]
    if example.early_notes:
        lines += ["", "Minimum-duration charges: " + "; ".join(example.early_notes) + "."]
    if example.after_window:
        lines += ["", "After the 12 months: " + "; ".join(example.after_window) + "."]
    return "\n".join(lines)


def blocks(configs: Sequence[AppConfig] | None = None) -> dict[str, str]:
    """The generated blocks of docs/costs.md, by marker name."""
    configs = list(configs) if configs is not None else [profile_config(p) for p in PROFILES]
    return {
        "prices": render_prices(),
        "stacks": render_costs(configs),
        "lifecycle": render_lifecycle(configs[0]),
    }


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- costs:{name}:begin -->", f"<!-- costs:{name}:end -->"


def embedded(page: str, name: str) -> str:
    """The text between a block's markers in ``page`` (without the blank lines around it)."""
    begin, end = _markers(name)
    if begin not in page or end not in page:
        raise ValueError(f"{DOC.name} has no {begin} ... {end} block")
    return page.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def update(page: str, generated: Mapping[str, str]) -> str:
    for name, text in generated.items():
        begin, end = _markers(name)
        head, rest = page.split(begin, 1)
        _, tail = rest.split(end, 1)
        page = f"{head}{begin}\n{text}\n{end}{tail}"
    return page


# ---------------------------------------------------------------------------------------------------------
# Command line


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.costs", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--profile", choices=[p.value for p in PROFILES], help="one profile only")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"regenerate the blocks in {DOC.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 if {DOC.relative_to(ROOT)} is out of date")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    overrides = dict(pair.split("=", 1) for pair in args.context if "=" in pair)
    if (args.write or args.check) and (overrides or args.profile):
        print("--write/--check document the defaults of both profiles: drop -c and --profile", file=sys.stderr)
        return 2
    try:
        profiles = [Profile(args.profile)] if args.profile else list(PROFILES)
        configs = [profile_config(p, overrides) for p in profiles]
        generated = blocks(configs)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    if args.write or args.check:
        page = DOC.read_text()
        fresh = update(page, generated)
        if args.check:
            if fresh != page:
                print(f"{DOC.relative_to(ROOT)} is out of date: run python -m tools.costs --write", file=sys.stderr)
                return 1
            return 0
        DOC.write_text(fresh)
        print(f"wrote {DOC.relative_to(ROOT)}")
        return 0
    titles = {"prices": "## Prices used", "stacks": "## Cost per stack", "lifecycle": "## Raw zone lifecycle, 1 TiB"}
    print("\n\n".join(f"{titles[name]}\n\n{text}" for name, text in generated.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
