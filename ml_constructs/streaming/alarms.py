"""The streaming ingest's alarms: each notifies the alerts topic on ALARM and on OK (docs/streaming.md#alarms)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_constructs.common import notify

PERIOD = cdk.Duration.minutes(5)


def ingest_alarms(
    scope: Construct,
    stream: kinesis.Stream,
    delivery: firehose.DeliveryStream,
    topic: sns.ITopic,
    *,
    iterator_age_minutes: int,
    data_freshness_seconds: int,
    provisioned: bool,
    parquet: bool,
) -> dict[str, cloudwatch.Alarm]:
    """The alarms of ``stream`` and ``delivery``, by name; write throttling only in provisioned mode, failed
    conversions only in Parquet mode."""
    alarms = {
        # The oldest record nobody has read yet: Firehose is falling behind, and data nears the end of the
        # stream's retention (then it is lost for good).
        "IteratorAge": _alarm(
            scope,
            "IteratorAge",
            topic,
            stream.metric_get_records_iterator_age_milliseconds(statistic="Maximum", period=PERIOD),
            threshold=iterator_age_minutes * 60_000,
            periods=2,
            description="Records wait in the stream longer than alerts.iterator_age_minutes",
        ),
        # The oldest record inside Firehose: delivery to S3 is late or failing.
        "DeliveryFreshness": _alarm(
            scope,
            "DeliveryFreshness",
            topic,
            delivery.metric("DeliveryToS3.DataFreshness", statistic="Maximum", period=PERIOD),
            threshold=data_freshness_seconds,
            periods=2,
            description="Firehose holds records longer than alerts.data_freshness_seconds",
        ),
        # Firehose's reads from the stream are throttled (too many consumers on too few shards).
        "ReadThrottled": _alarm(
            scope,
            "ReadThrottled",
            topic,
            delivery.metric("ThrottledGetRecords", statistic="Sum", period=PERIOD),
            threshold=1,
            periods=3,
            description="Firehose is throttled reading from the stream",
        ),
    }
    if provisioned:
        # Producers exceed the shards' write capacity (1 MB/s or 1,000 records/s each). The producer retries,
        # so one blip is fine; throttling in 3 periods in a row means: add shards.
        alarms["WriteThrottled"] = _alarm(
            scope,
            "WriteThrottled",
            topic,
            stream.metric_write_provisioned_throughput_exceeded(statistic="Sum", period=PERIOD),
            threshold=1,
            periods=3,
            description="Writes to the stream are throttled: add shards or use on-demand",
        )
    if parquet:
        # Records that failed Parquet conversion go to errors/format-conversion-failed/: alarm at once.
        alarms["ConversionFailed"] = _alarm(
            scope,
            "ConversionFailed",
            topic,
            delivery.metric("FailedConversion.Records", statistic="Sum", period=PERIOD),
            threshold=1,
            periods=1,
            description="Records failed Parquet conversion and were written to the errors/ prefix",
        )
    return alarms


def _alarm(
    scope: Construct,
    name: str,
    topic: sns.ITopic,
    metric: cloudwatch.IMetric,
    *,
    threshold: float,
    periods: int,
    description: str,
) -> cloudwatch.Alarm:
    """Alarm when ``metric`` is at or above ``threshold`` in ``periods`` periods in a row; no data is fine."""
    alarm = cloudwatch.Alarm(
        scope,
        f"{name}Alarm",
        metric=metric,
        threshold=threshold,
        evaluation_periods=periods,
        datapoints_to_alarm=periods,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
    notify(alarm, topic).add_ok_action(actions.SnsAction(topic))
    return alarm
