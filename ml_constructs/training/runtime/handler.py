"""The evaluation Lambda function: read the joined batch-transform output from S3, return metrics and the verdict.

Thin on purpose: it reads S3 and validates the event; parsing, metrics and the gate live in ``metrics.py``.
Standard library and boto3 only; ``metrics`` is a top-level sibling module in the code asset, which is this folder
and the shared bias metrics (``ml_constructs/shared_runtime``, staged beside it). The event (``output_prefix``,
``threshold``, ``thresholds``; all required; ``challenger`` when it scores the serving model: the new model's AUC and
the margin, answered by ``challenger.not_worse``; ``bias`` for the post-training bias metrics and their gate:
``{"label", "facets", "bounds", "analysis_uri"}``, the last two optional), the response and the error types a Step
Functions ``Catch`` can match are in docs/training.md, "The evaluation function's contract".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import boto3
import metrics  # the sibling module: this folder is the function's code root

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

REQUIRED_KEYS: tuple[str, ...] = ("output_prefix", "threshold", "thresholds")


class InvalidEventError(metrics.EvaluationError):
    """The event does not follow the contract in the module docstring."""


def parse_s3_prefix(uri: object) -> tuple[str, str]:
    """``"s3://bucket/some/prefix"`` -> ``("bucket", "some/prefix/")``; ``InvalidEventError`` otherwise."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidEventError(f"output_prefix={uri!r} is not allowed: an s3://<bucket>/<prefix>/ URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket or not prefix.strip("/"):
        raise InvalidEventError(
            f"output_prefix={uri!r} is not allowed: name a key prefix inside the bucket, not the whole bucket"
        )
    return bucket, prefix if prefix.endswith("/") else prefix + "/"


def check_event(event: object) -> tuple[str, str, float, dict[str, float]]:
    """Validate the event: ``(bucket, prefix, threshold, thresholds)``."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"the event must be a JSON object with keys {list(REQUIRED_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in event]
    if missing:
        raise InvalidEventError(f"the event is missing {missing}; required keys: {list(REQUIRED_KEYS)}")
    bucket, prefix = parse_s3_prefix(event["output_prefix"])
    return (
        bucket,
        prefix,
        metrics.check_decision_threshold(event["threshold"]),
        metrics.check_thresholds(event["thresholds"]),
    )


def check_bias(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event's optional ``bias`` object, validated: ``{"label", "facets", "bounds", "analysis"}`` (``analysis``:
    ``(bucket, key)`` or None); None without one."""
    spec = event.get("bias")
    if spec is None:
        return None
    if not isinstance(spec, Mapping) or not {"label", "facets"} <= set(spec) <= {
        "label",
        "facets",
        "bounds",
        "analysis_uri",
    }:
        raise InvalidEventError(f"bias={spec!r}: an object with label, facets, and optionally bounds and analysis_uri")
    facets = spec["facets"]
    if (
        not isinstance(facets, list)
        or not all(isinstance(f, str) and f for f in facets)
        or len(set(facets)) != len(facets)
    ):
        raise InvalidEventError(f"bias.facets={facets!r} is not allowed: a list of distinct field names")
    if not isinstance(spec["label"], str) or spec["label"] in facets:
        raise InvalidEventError(f"bias.label={spec['label']!r} is not allowed: the label's field name, not a facet")
    analysis = None
    if spec.get("analysis_uri") is not None:
        bucket, key = parse_s3_prefix(spec["analysis_uri"])
        analysis = (bucket, key.rstrip("/"))
    bounds = metrics.check_bias_bounds(spec.get("bounds", {}))
    return {"label": spec["label"], "facets": tuple(facets), "bounds": bounds, "analysis": analysis}


def read_predictions(s3: Any, bucket: str, prefix: str, facets: tuple[str, ...] = ()) -> metrics.Predictions:
    """Parse every object under ``s3://bucket/prefix`` (in key order) into one ``Predictions`` (with the values of
    ``facets`` of each record)."""
    predictions = metrics.Predictions(facets=facets)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
    for key in sorted(keys):
        source = f"s3://{bucket}/{key}"
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise metrics.MalformedOutputError(f"{source} is not UTF-8 text ({exc})") from None
        predictions.add_text(text, source)
    return predictions


def handler(event: Mapping[str, Any], context: object = None, s3: Any = None) -> dict[str, Any]:
    """Lambda entry point (``handler.handler``); ``s3`` lets tests pass a client."""
    bucket, prefix, threshold, thresholds = check_event(event)
    bias = check_bias(event)
    client = s3 if s3 is not None else boto3.client("s3")
    predictions = read_predictions(client, bucket, prefix, bias["facets"] if bias else ())
    if predictions.sources == 0:
        raise metrics.NoRecordsError(
            f"no batch-transform output under s3://{bucket}/{prefix}: no objects; check the transform job's "
            f"S3OutputPath and that it completed"
        )
    result = metrics.evaluate(predictions, threshold, thresholds)
    result.update(objects=predictions.sources, thresholds=thresholds)
    result["bias"] = _bias(client, predictions, threshold, bias)
    result["passed"] = result["passed"] and result["bias"]["passed"]
    result["failures"] += result["bias"]["failures"]
    if "challenger" in event:  # scoring the serving model: is the new one not worse?
        result["challenger"] = metrics.compare(result["metrics"], event["challenger"])
    LOG.info("evaluation %s", json.dumps({"output_prefix": f"s3://{bucket}/{prefix}", **result}, sort_keys=True))
    return result


def _bias(client: Any, predictions: metrics.Predictions, threshold: float, spec: Mapping[str, Any] | None) -> dict:
    """The post-training bias and its gate (``{"passed": True, "facets": []}`` without a ``bias`` object); with an
    ``analysis_uri``, Clarify's analysis.json (``post_training_bias_metrics``) is written there."""
    if spec is None:
        return {"facets": [], "passed": True, "failures": []}
    found = metrics.evaluate_bias(predictions, threshold, spec["bounds"], spec["label"])
    section = found.pop("clarify")
    if spec["analysis"] is not None:
        bucket, key = spec["analysis"]
        body = json.dumps(metrics.bias.analysis(post_training_bias_metrics=section), indent=2, allow_nan=False)
        client.put_object(Bucket=bucket, Key=key, Body=(body + "\n").encode("utf-8"), ContentType="application/json")
        found["analysis_uri"] = f"s3://{bucket}/{key}"
    return found
