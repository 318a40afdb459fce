"""The drift baseline of the raw event fields, in SageMaker Model Monitor's ``statistics.json`` and
``constraints.json`` formats: what the endpoint's data capture (raw events) is compared with.

Standard library only. The statistics are built from aggregates (counts, sums, quantile edges, bucket counts,
category counts), so the Glue job computes them with Spark without collecting any data (``exports.raw_baseline``)
and ``from_events`` computes the same aggregates in memory (the default model, tests). The drift analyzer
(``ml_constructs/monitoring/runtime/drift_job/analyzer.py``) reads the files back.

Per feature field (the event's numeric, categorical, ordinal and boolean fields; not the id, timestamp or label):

- numeric -> ``inferred_type`` ``Integral`` (int, bigint) or ``Fractional`` (double), ``numerical_statistics``
  (population standard deviation) with ``distribution.kll.buckets``: the bucket edges are the exact quantiles of
  the present values at 0, 1/bins, ..., 1 (``v[max(ceil(q n), 1) - 1]`` of the sorted values, Spark's exact
  ``approxQuantile``), duplicates merged; bucket i is ``[e_i, e_i+1)``, the last one closed;
- categorical, ordinal, boolean -> ``inferred_type`` ``String``, ``string_statistics`` with
  ``distribution.categorical.buckets`` (``value``, ``count``; booleans as ``"true"``/``"false"``) and the
  ``string_constraints.domains`` of the values seen;
- constraints: ``completeness`` = 1.0 for a field always present, else its share rounded down to a tenth
  (``completeness_constraint``), ``is_non_negative`` = min >= 0 for numbers, and the
  documented ``monitoring_config`` defaults (drift: L-infinity, threshold 0.1 for both kinds).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 0
DEFAULT_BINS = 10
NUMERIC_KINDS = ("numeric",)
CATEGORY_KINDS = ("categorical", "ordinal")


@dataclass
class NumericAggregate:
    """What the statistics of one numeric field need; ``m2`` is the centred sum of squares."""

    present: int
    missing: int
    total: float
    minimum: float
    maximum: float
    m2: float
    edges: list[float]
    counts: list[int]


@dataclass
class CategoryAggregate:
    present: int
    missing: int
    counts: dict[str, int] = field(default_factory=dict)


def baseline_fields(fields: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The monitored fields, wire order: every numeric, categorical and ordinal field (booleans included)."""
    return [f for f in fields if f["kind"] in NUMERIC_KINDS + CATEGORY_KINDS]


def is_numeric(field_spec: Mapping[str, Any]) -> bool:
    return field_spec["kind"] in NUMERIC_KINDS and field_spec["type"] != "boolean"


def category(value: Any) -> str:
    """A category as the baseline and the analyzer spell it: strings as they are, booleans in JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def quantile_probabilities(bins: int) -> list[float]:
    return [i / bins for i in range(bins + 1)]


def dedup(values: Iterable[float]) -> list[float]:
    out: list[float] = []
    for v in values:
        if not out or v != out[-1]:
            out.append(float(v))
    return out if len(out) > 1 else [*out, *out]


def bucket_index(edges: Sequence[float], x: float) -> int:
    """``[e_i, e_i+1)``, the last bucket closed (the analyzer's rule); ``x`` within ``[e_0, e_-1]``."""
    lo, hi = 0, len(edges) - 2
    while lo < hi:  # the last i with edges[i] <= x
        mid = (lo + hi + 1) // 2
        if edges[mid] <= x:
            lo = mid
        else:
            hi = mid - 1
    return lo


def numeric_aggregate(values: Sequence[float], missing: int, bins: int) -> NumericAggregate:
    """The aggregate of one numeric field from its present values (in memory)."""
    xs = sorted(float(v) for v in values)
    n = len(xs)
    if n == 0:
        raise ValueError("a numeric baseline field needs at least one present value")
    edges = dedup(xs[max(math.ceil(q * n), 1) - 1] for q in quantile_probabilities(bins))
    counts = [0] * (len(edges) - 1)
    for x in xs:
        counts[bucket_index(edges, x)] += 1
    total = sum(xs)  # ascending order: the same order for the same data
    mean = total / n
    return NumericAggregate(n, missing, total, xs[0], xs[-1], sum((x - mean) ** 2 for x in xs), edges, counts)


def from_events(
    events: Iterable[Mapping[str, Any]], fields: Sequence[Mapping[str, Any]], bins: int = DEFAULT_BINS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(statistics, constraints)`` of raw events (dicts as the producer writes them), in memory."""
    monitored = baseline_fields(fields)
    numbers: dict[str, list[float]] = {f["name"]: [] for f in monitored if is_numeric(f)}
    categories = {f["name"]: CategoryAggregate(0, 0) for f in monitored if not is_numeric(f)}
    missing = dict.fromkeys(numbers, 0)
    item_count = 0
    for event in events:
        item_count += 1
        for name, xs in numbers.items():
            value = event.get(name)
            if value is None:
                missing[name] += 1
            else:
                xs.append(value)
        for name, agg in categories.items():
            value = event.get(name)
            if value is None:
                agg.missing += 1
            else:
                agg.present += 1
                agg.counts[category(value)] = agg.counts.get(category(value), 0) + 1
    aggregates: dict[str, NumericAggregate | CategoryAggregate] = {
        name: numeric_aggregate(xs, missing[name], bins) for name, xs in numbers.items()
    }
    aggregates.update(categories)
    return files(item_count, monitored, aggregates)


def files(
    item_count: int, monitored: Sequence[Mapping[str, Any]], aggregates: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``statistics.json`` and ``constraints.json`` from the aggregates of every monitored field."""
    if item_count == 0:
        raise ValueError("the baseline has no events")
    stats, constraints = [], []
    for f in monitored:
        agg = aggregates[f["name"]]
        pair = _numeric(f, agg, item_count) if isinstance(agg, NumericAggregate) else _category(f, agg, item_count)
        stats.append(pair[0])
        constraints.append(pair[1])
    statistics = {"version": FORMAT_VERSION, "dataset": {"item_count": item_count}, "features": stats}
    return statistics, {"version": FORMAT_VERSION, "features": constraints, "monitoring_config": monitoring_config()}


def monitoring_config() -> dict[str, Any]:
    """Model Monitor's documented defaults (the analyzer's ``comparison_method`` Robust floor included)."""
    return {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 0.1,
        "domain_content_threshold": 0.1,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": 0.1,
            "categorical_drift_method": "LInfinity",
        },
    }


def completeness_constraint(present: int, item_count: int) -> float:
    """The least share of present values a window must have: 1.0 for a field always present in training; for a
    field sometimes missing there (``distance_from_home_km``, ~5 %), its share rounded down to a tenth, so the
    sampling noise of an hour's window is no violation while a jump in missing values is."""
    share = present / item_count
    return 1.0 if share == 1 else math.floor(share * 10) / 10


def _numeric(f: Mapping[str, Any], agg: NumericAggregate, item_count: int) -> tuple[dict, dict]:
    inferred = "Fractional" if f["type"] == "double" else "Integral"
    mean = agg.total / agg.present
    buckets = [
        {"lower_bound": agg.edges[i], "upper_bound": agg.edges[i + 1], "count": agg.counts[i]}
        for i in range(len(agg.counts))
    ]
    statistics = {
        "name": f["name"],
        "inferred_type": inferred,
        "numerical_statistics": {
            "common": {"num_present": agg.present, "num_missing": agg.missing},
            "mean": mean,
            "sum": agg.total,
            "std_dev": math.sqrt(agg.m2 / agg.present),
            "min": agg.minimum,
            "max": agg.maximum,
            "distribution": {"kll": {"buckets": buckets}},
        },
    }
    constraint = {
        "name": f["name"],
        "inferred_type": inferred,
        "completeness": completeness_constraint(agg.present, item_count),
        "num_constraints": {"is_non_negative": agg.minimum >= 0},
    }
    return statistics, constraint


def _category(f: Mapping[str, Any], agg: CategoryAggregate, item_count: int) -> tuple[dict, dict]:
    values = sorted(agg.counts)
    statistics = {
        "name": f["name"],
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": agg.present, "num_missing": agg.missing},
            "distinct_count": float(len(values)),
            "distribution": {"categorical": {"buckets": [{"value": v, "count": agg.counts[v]} for v in values]}},
        },
    }
    constraint = {
        "name": f["name"],
        "inferred_type": "String",
        "completeness": completeness_constraint(agg.present, item_count),
        "string_constraints": {"domains": values},
    }
    return statistics, constraint
