"""The drift job's Lambda handler (``drift_job.handler``): analyse the last window of the endpoint's data capture
against the baseline of the model the endpoint serves, write the reports to S3 and put the metrics in CloudWatch.

Which baseline: with ``baseline_of_serving_model``, the one next to the serving model's preprocessing artifact
(endpoint -> endpoint config -> model -> its first container's ``.../<model>/preprocessing/<archive>`` ->
``.../<model>/baseline/``); a model that is not such a pipeline falls back to the configured baseline. The
response says which (``baseline``).

Thin on purpose: S3 and CloudWatch calls here, every statistic and check in ``analyzer`` (standard library).
Standard library and boto3 only, both in the Lambda runtime. The window, the outputs, the metrics and the
response: docs/serving-and-monitoring.md, "The drift job".
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from . import analyzer, live_bias

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

REQUIRED_KEYS: tuple[str, ...] = (
    "capture_s3_uri",
    "endpoint_name",
    "window_hours",
    "baseline_statistics_s3_uri",
    "baseline_constraints_s3_uri",
    "output_s3_uri",
    "cloudwatch_namespace",
    "distance_threshold",
)
MAX_WINDOW_HOURS = 168
#: A model's preprocessing artifact sits in this folder of the model's folder, its baseline in the other.
PREPROCESSING_FOLDER = "/preprocessing/"
BASELINE_FOLDER = "/baseline/"
VIOLATIONS_FILE = "constraint_violations.json"
STATISTICS_FILE = "statistics.json"


class InvalidEventError(ValueError):
    """The event does not follow the contract in ``handler``'s docstring."""


def parse_s3_uri(uri: object, key: str) -> tuple[str, str]:
    """``"s3://bucket/a/b"`` -> ``("bucket", "a/b")``; ``InvalidEventError`` otherwise."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidEventError(f"{key}={uri!r} is not allowed: an s3://<bucket>/<key> URI")
    bucket, _, path = uri[len("s3://") :].partition("/")
    if not bucket or not path.strip("/"):
        raise InvalidEventError(f"{key}={uri!r} is not allowed: name a key (prefix) inside the bucket")
    return bucket, path


def _prefix(path: str) -> str:
    return path.strip("/") + "/"


def _end_hour(value: object) -> datetime:
    if value is None:
        moment = datetime.now(UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEventError(f"end_time={value!r} is not an ISO-8601 time like 2026-11-20T10:05:00Z") from None
        if moment.tzinfo is None:
            raise InvalidEventError(f"end_time={value!r} needs a time zone (a trailing Z for UTC)")
    else:
        raise InvalidEventError(f"end_time={value!r} is not an ISO-8601 string")
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def check_event(event: object) -> dict[str, Any]:
    """Validate the event; return it normalised (buckets and prefixes split, the window resolved)."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"the event must be a JSON object with keys {list(REQUIRED_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in event]
    if missing:
        raise InvalidEventError(f"the event is missing {missing}; required keys: {list(REQUIRED_KEYS)}")
    endpoint = event["endpoint_name"]
    if not isinstance(endpoint, str) or not endpoint or "/" in endpoint:
        raise InvalidEventError(f"endpoint_name={endpoint!r} is not allowed: a SageMaker endpoint name")
    hours = event["window_hours"]
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_WINDOW_HOURS:
        raise InvalidEventError(f"window_hours={hours!r} is not allowed: an integer 1..{MAX_WINDOW_HOURS}")
    threshold = event["distance_threshold"]
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not (math.isfinite(threshold) and 0 < threshold <= 1)
    ):
        raise InvalidEventError(f"distance_threshold={threshold!r} is not allowed: a number in (0, 1] or null")
    namespace = event["cloudwatch_namespace"]
    if not isinstance(namespace, str) or not namespace or namespace.startswith("AWS/") or len(namespace) > 255:
        raise InvalidEventError(f"cloudwatch_namespace={namespace!r} is not allowed: 1-255 chars, not AWS/...")
    from_model = event.get("baseline_of_serving_model", False)
    if not isinstance(from_model, bool):
        raise InvalidEventError(f"baseline_of_serving_model={from_model!r} is not allowed: true or false")
    end = _end_hour(event.get("end_time"))
    bias = _check_bias(event.get("bias"))
    capture_bucket, capture_path = parse_s3_uri(event["capture_s3_uri"], "capture_s3_uri")
    output_bucket, output_path = parse_s3_uri(event["output_s3_uri"], "output_s3_uri")
    return {
        "endpoint": endpoint,
        "hours": hours,
        "threshold": None if threshold is None else float(threshold),
        "namespace": namespace,
        "start": end - timedelta(hours=hours),
        "end": end,
        "capture": (capture_bucket, _prefix(capture_path) + endpoint + "/"),
        "output": (output_bucket, _prefix(output_path) + endpoint + "/" + end.strftime("%Y/%m/%d/%H/")),
        "statistics": parse_s3_uri(event["baseline_statistics_s3_uri"], "baseline_statistics_s3_uri"),
        "constraints": parse_s3_uri(event["baseline_constraints_s3_uri"], "baseline_constraints_s3_uri"),
        "from_model": from_model,
        "bias": bias,
    }


def _check_bias(spec: object) -> tuple[tuple[str, ...], float] | None:
    """The event's optional ``bias``: ``{"facets": [raw field, ...], "threshold": decision threshold}``."""
    if spec is None:
        return None
    facets = spec.get("facets") if isinstance(spec, Mapping) else None
    threshold = spec.get("threshold") if isinstance(spec, Mapping) else None
    if (
        not isinstance(facets, list)
        or not all(isinstance(f, str) and f for f in facets)
        or isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0 <= threshold <= 1
    ):
        raise InvalidEventError(
            f"bias={spec!r} is not allowed: {{'facets': [raw field names], 'threshold': a number in [0, 1]}}"
        )
    return tuple(facets), float(threshold)


def serving_baseline(sagemaker: Any, endpoint: str) -> dict[str, Any]:
    """The baseline of the model ``endpoint`` serves now: ``{"model", "statistics", "constraints"}`` (``(bucket,
    key)`` pairs), or ``{"model", "reason"}`` when the model has no preprocessing artifact to find it beside."""
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variants = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    model = variants[0]["ModelName"]
    containers = sagemaker.describe_model(ModelName=model).get("Containers") or []
    url = containers[0].get("ModelDataUrl", "") if len(containers) > 1 else ""
    if PREPROCESSING_FOLDER not in url:
        return {"model": model, "reason": "not an inference pipeline with a preprocessing artifact"}
    folder = url.rsplit(PREPROCESSING_FOLDER, 1)[0] + BASELINE_FOLDER
    return {
        "model": model,
        "statistics": parse_s3_uri(folder + STATISTICS_FILE, "model baseline"),
        "constraints": parse_s3_uri(folder + "constraints.json", "model baseline"),
    }


def choose_baseline(cfg: Mapping[str, Any], sagemaker: Any) -> dict[str, Any]:
    """The baseline to judge the window against, and where it came from (the response's ``baseline``)."""
    configured = {"source": "configured", "statistics": cfg["statistics"], "constraints": cfg["constraints"]}
    if not cfg["from_model"]:
        return configured
    found = serving_baseline(sagemaker, cfg["endpoint"])
    if "reason" in found:
        return {**configured, "model": found["model"], "reason": found["reason"]}
    return {"source": "serving model", **found}


def _uri(location: tuple[str, str]) -> str:
    return f"s3://{location[0]}/{location[1]}"


def window_keys(s3: Any, bucket: str, endpoint_prefix: str, start: datetime, end: datetime) -> list[str]:
    """Keys of the capture objects of every variant for the hours ``[start, end)``, in key order.

    Lists the variants (``Delimiter='/'``) and then one ``.../yyyy/mm/dd/hh/`` prefix per variant and hour,
    so the cost does not grow with the capture history kept in the bucket.
    """
    paginator = s3.get_paginator("list_objects_v2")
    variants: list[str] = []
    for page in paginator.paginate(Bucket=bucket, Prefix=endpoint_prefix, Delimiter="/"):
        variants.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    keys: list[str] = []
    for variant in sorted(variants):
        hour = start
        while hour < end:
            prefix = variant + hour.strftime("%Y/%m/%d/%H/")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
            hour += timedelta(hours=1)
    return sorted(keys)


def stream_lines(s3: Any, bucket: str, keys: list[str]) -> Iterator[analyzer.CaptureLine]:
    """The lines of every object, lazily, tagged with ``s3://bucket/key`` and the line number."""
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        yield from analyzer.numbered_lines(body.iter_lines(), f"s3://{bucket}/{key}")


def read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def put_metrics(cloudwatch: Any, namespace: str, data: list[dict[str, Any]]) -> int:
    """PutMetricData in batches; returns the number of calls."""
    calls = 0
    for batch in analyzer.batch_metric_data(data):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch)
        calls += 1
    return calls


def write_reports(s3: Any, output: tuple[str, str], report: Mapping[str, Any]) -> tuple[str, str]:
    """constraint_violations.json and statistics.json of the window under ``output`` (bucket, prefix); returns it."""
    bucket, prefix = output
    for name, body in ((VIOLATIONS_FILE, report["constraint_violations"]), (STATISTICS_FILE, report["statistics"])):
        s3.put_object(
            Bucket=bucket,
            Key=prefix + name,
            Body=(json.dumps(body, indent=2, allow_nan=False) + "\n").encode("utf-8"),
            ContentType="application/json",
        )
    return bucket, prefix


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def handler(
    event: Mapping[str, Any], context: object = None, s3: Any = None, cloudwatch: Any = None, sagemaker: Any = None
) -> dict[str, Any]:
    """Lambda entry point (``drift_job.handler``); ``s3``/``cloudwatch``/``sagemaker`` let tests pass clients.

    The event (every key required except ``end_time``; nothing has a hidden default)::

        {"capture_s3_uri": "s3://<bucket>/<prefix>",   # the endpoint's DataCaptureConfig.DestinationS3Uri
         "endpoint_name": "mlspec-endpoint",            # capture objects live under <prefix>/<endpoint>/
         "window_hours": 1,                             # whole hours before the end hour, 1..168
         "baseline_statistics_s3_uri": "s3://.../statistics.json",
         "baseline_constraints_s3_uri": "s3://.../constraints.json",
         "output_s3_uri": "s3://<bucket>/<prefix>",     # reports go below <prefix>/<endpoint>/yyyy/mm/dd/hh/
         "cloudwatch_namespace": "MLSpecialty/DataQuality",
         "distance_threshold": 0.1,                     # or null: the constraints' comparison_threshold
         "baseline_of_serving_model": true,             # default false: the two baseline URIs above
         "bias": {"facets": ["channel"], "threshold": 0.5},  # optional: live DPPL per facet value (BiasDPPL)
         "end_time": "2026-11-20T10:05:00Z"}            # default now; the window ends at its hour
    """
    cfg = check_event(event)
    s3 = s3 if s3 is not None else boto3.client("s3")
    cloudwatch = cloudwatch if cloudwatch is not None else boto3.client("cloudwatch")
    if cfg["from_model"] and sagemaker is None:
        sagemaker = boto3.client("sagemaker")
    baseline = choose_baseline(cfg, sagemaker)
    statistics = read_json(s3, *baseline["statistics"])
    constraints = read_json(s3, *baseline["constraints"])
    analyzer.load_baseline(statistics, constraints)  # fail on a bad baseline before listing anything

    capture_bucket, endpoint_prefix = cfg["capture"]
    keys = window_keys(s3, capture_bucket, endpoint_prefix, cfg["start"], cfg["end"])
    live = live_bias.LiveBias(*cfg["bias"]) if cfg["bias"] else None
    lines = stream_lines(s3, capture_bucket, keys)
    report = analyzer.analyze(
        live.observe(lines) if live else lines, statistics, constraints, distance_threshold=cfg["threshold"]
    )
    violations = report["constraint_violations"]["violations"]
    result: dict[str, Any] = {
        "endpoint_name": cfg["endpoint"],
        "window": {"start": _iso(cfg["start"]), "end": _iso(cfg["end"]), "hours": cfg["hours"]},
        "objects": len(keys),
        "lines": report["lines"],
        "records": report["records"],
        "malformed": report["malformed"],
        "baseline": {
            **{k: v for k, v in baseline.items() if k not in ("statistics", "constraints")},
            "statistics_s3_uri": _uri(baseline["statistics"]),
            "constraints_s3_uri": _uri(baseline["constraints"]),
        },
    }
    data = analyzer.metric_data(report, cfg["endpoint"], cfg["end"])
    if report["records"] == 0:
        # Nothing to judge: no report files, no drift or violation data points (a 0 would read as "healthy").
        data = [d for d in data if d["MetricName"] in (analyzer.METRIC_RECORDS, analyzer.METRIC_MALFORMED)]
        result.update(status="NoData", violations=0, violation_types={}, drifted_features=[])
    else:
        out_bucket, out_prefix = write_reports(s3, cfg["output"], report)
        result.update(
            status="CompletedWithViolations" if violations else "Completed",
            violations=len(violations),
            violation_types=dict(Counter(v["constraint_check_type"] for v in violations)),
            drifted_features=[
                v["feature_name"] for v in violations if v["constraint_check_type"] == analyzer.BASELINE_DRIFT_CHECK
            ],
            report_s3_uri=f"s3://{out_bucket}/{out_prefix}{VIOLATIONS_FILE}",
            statistics_s3_uri=f"s3://{out_bucket}/{out_prefix}{STATISTICS_FILE}",
        )
    if live is not None:  # live DPPL per facet value (none for a value, or a window, without traffic)
        result["bias"] = live.summary()
        data += live.metric_data(cfg["endpoint"], cfg["end"])
    result["metric_data"] = len(data)
    result["put_metric_data_calls"] = put_metrics(cloudwatch, cfg["namespace"], data)
    LOG.info("drift monitoring %s", json.dumps(result, sort_keys=True))
    return result
