"""Data-quality and drift analysis of SageMaker data capture, in SageMaker Model Monitor's own file formats.

Standard library only: it runs unchanged in the Lambda function and in the tests. ``baseline(rows, columns)``
turns numeric feature rows into ``statistics.json`` and ``constraints.json`` (the raw-event baseline the ETL
writes comes from ``ml_constructs/glue_etl/runtime/raw_baseline.py``, same formats); ``analyze(capture_lines, ...)``
streams the endpoint's data-capture JSON Lines and returns ``constraint_violations.json``, the window's
``statistics.json`` and per-feature metric values.

Two kinds of request bodies are read: raw events (``application/json``: one event, ``application/jsonlines``: one
per line; a feature is the event's field of the same name) and CSV rows (a feature is a column, by position).
Two kinds of features: numeric (``Integral``/``Fractional``, drift = L-infinity distance of the CDFs on the
baseline's buckets) and ``String`` (drift = L-infinity distance of the normalised category frequencies, Model
Monitor's ``categorical_drift_method: LInfinity``). The formats, the checks, the distance and what is simplified
compared with Model Monitor: docs/serving-and-monitoring.md, "The drift analyzer".
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

#: ``version`` of the three Model Monitor files written here (the documented schemas are version 0).
FORMAT_VERSION = 0
#: Buckets per feature: Model Monitor materialises its distributions "in 10 buckets".
DEFAULT_BINS = 10
#: Documented defaults of ``monitoring_config``.
DEFAULT_COMPARISON_THRESHOLD = 0.1
DEFAULT_DATATYPE_CHECK_THRESHOLD = 0.1
DEFAULT_COMPARISON_METHOD = "Robust"
COMPARISON_METHODS: tuple[str, ...] = ("Simple", "Robust")
#: c(alpha) of the two-sample Kolmogorov-Smirnov test for alpha = 0.01: sqrt(-ln(alpha / 2) / 2).
KS_C_ALPHA = math.sqrt(-math.log(0.01 / 2) / 2)
#: How many malformed lines/records are reported with their line number (the counts are always complete).
MAX_EXAMPLES = 10

DATA_TYPE_CHECK = "data_type_check"
COMPLETENESS_CHECK = "completeness_check"
BASELINE_DRIFT_CHECK = "baseline_drift_check"
#: Every ``constraint_check_type`` the documentation lists (this module emits the first three).
CONSTRAINT_CHECK_TYPES: tuple[str, ...] = (
    DATA_TYPE_CHECK,
    COMPLETENESS_CHECK,
    BASELINE_DRIFT_CHECK,
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
)
NUMERIC_TYPES: tuple[str, ...] = ("Integral", "Fractional")
STRING_TYPE = "String"
DEFAULT_CATEGORICAL_THRESHOLD = 0.1
#: Request bodies read as raw events; any other content type is read as CSV.
JSON_CONTENT_TYPES: tuple[str, ...] = ("application/json", "application/jsonlines", "application/x-jsonlines")

#: CloudWatch custom metrics (``metric_data``): names and dimensions.
METRIC_FEATURE_DRIFT = "FeatureBaselineDrift"  # dimensions Endpoint, Feature; unit None; the L-inf distance
METRIC_VIOLATIONS = "ViolationCount"  # dimension Endpoint; unit Count
METRIC_RECORDS = "RecordsAnalyzed"  # dimension Endpoint; unit Count
METRIC_MALFORMED = "MalformedRecords"  # dimension Endpoint; unit Count (malformed lines + malformed rows)
#: PutMetricData limits: 1,000 metric data per request and a 1 MB request payload.
PUT_METRIC_DATA_MAX_ITEMS = 1000
PUT_METRIC_DATA_MAX_BYTES = 1_000_000


class CaptureError(ValueError):
    """A capture line that cannot be analysed (the message says why); ``analyze`` counts it, never raises it."""


class BaselineError(ValueError):
    """The baseline statistics/constraints are not usable by this analyzer."""


class CaptureLine(NamedTuple):
    """One line of a capture file with where it came from, for the malformed-line report."""

    source: str
    line_number: int
    text: str | bytes


def numbered_lines(lines: Iterable[str | bytes], source: str = "") -> Iterator[CaptureLine]:
    """Tag the lines of one capture object with their 1-based line number (lazily)."""
    for number, text in enumerate(lines, 1):
        yield CaptureLine(source, number, text)


# --- Reading capture lines -----------------------------------------------------------------------------


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def decode_payload(data: str, encoding: str, content_type: str) -> str:
    """The request body as text: ``CSV`` and ``JSON`` are the text itself, ``BASE64`` is decoded (UTF-8 CSV or
    JSON)."""
    kind = encoding.upper()
    if kind in ("CSV", "JSON"):
        return data
    if kind == "BASE64":
        media = _media_type(content_type)
        if "csv" not in media and media not in JSON_CONTENT_TYPES:
            raise CaptureError(
                f"unsupported content type {content_type!r} (this monitor reads CSV and JSON/JSON Lines requests)"
            )
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise CaptureError("endpointInput.data is not valid base64") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CaptureError("endpointInput.data decodes to bytes that are not UTF-8") from None
    raise CaptureError(f"unsupported encoding {encoding!r} (expected CSV, JSON or BASE64)")


def parse_json_events(payload: str, content_type: str) -> list[dict[str, Any]]:
    """The raw events of a JSON (one object, or an array of objects) or JSON Lines request body."""
    texts = payload.splitlines() if _media_type(content_type) != "application/json" else [payload]
    events: list[dict[str, Any]] = []
    for text in texts:
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError:
            raise CaptureError("endpointInput.data is not valid JSON") from None
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, dict) for item in items):
            raise CaptureError("endpointInput.data holds JSON that is not an event object")
        events.extend(items)
    return events


def parse_csv_rows(payload: str) -> list[list[str]]:
    """Split a CSV request body into rows of fields (blank lines skipped). Quotes are honoured when present."""
    if '"' in payload:
        return [row for row in csv.reader(io.StringIO(payload)) if row]
    return [line.split(",") for line in payload.splitlines() if line.strip()]


def parse_capture_line(text: str) -> list[list[str]] | list[dict[str, Any]]:
    """The records of the endpoint input of one capture line: raw events (dicts) for a JSON or JSON Lines
    request, CSV rows otherwise; ``CaptureError`` if the line is unusable."""
    try:
        record = json.loads(text)
    except ValueError:
        raise CaptureError("not a JSON object") from None
    if not isinstance(record, dict):
        raise CaptureError("not a JSON object")
    capture = record.get("captureData")
    if not isinstance(capture, dict):
        raise CaptureError("no captureData object")
    endpoint_input = capture.get("endpointInput")
    if not isinstance(endpoint_input, dict):
        raise CaptureError("no captureData.endpointInput (is the capture mode Output only?)")
    data = endpoint_input.get("data")
    encoding = endpoint_input.get("encoding")
    content_type = endpoint_input.get("observedContentType", "")
    if not isinstance(data, str) or not isinstance(encoding, str) or not isinstance(content_type, str):
        raise CaptureError("endpointInput needs string fields data, encoding and observedContentType")
    payload = decode_payload(data, encoding, content_type)
    if _media_type(content_type) in JSON_CONTENT_TYPES:
        events = parse_json_events(payload, content_type)
        if not events:
            raise CaptureError("endpointInput.data holds no event")
        return events
    rows = parse_csv_rows(payload)
    if not rows:
        raise CaptureError("endpointInput.data holds no CSV row")
    return rows


def read_capture_lines(
    lines: Iterable[str | bytes],
) -> Iterator[list[list[str]] | list[dict[str, Any]] | CaptureError]:
    """Parse each non-blank line: its records, or the ``CaptureError`` saying why it is unusable (never raises)."""
    for text in lines:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                yield CaptureError("line is not UTF-8")
                continue
        if not text.strip():
            continue
        try:
            yield parse_capture_line(text)
        except CaptureError as exc:
            yield exc


# --- Numbers ---------------------------------------------------------------------------------------------


def _is_integer_literal(text: str) -> bool:
    stripped = text.strip()
    return stripped.lstrip("+-").isdigit()


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _edges(buckets: Sequence[Mapping[str, Any]]) -> list[float]:
    return [float(b["lower_bound"]) for b in buckets] + [float(buckets[-1]["upper_bound"])]


def _bucket(edges: Sequence[float], x: float) -> int:
    """Bucket index of ``x`` in ``[edges[0], edges[-1]]``: ``[e_i, e_i+1)``, the last bucket closed."""
    return min(bisect_right(edges, x) - 1, len(edges) - 2)


def bucket_edges(sorted_values: Sequence[float], bins: int = DEFAULT_BINS) -> list[float]:
    """Bucket edges for a baseline feature (``sorted_values`` ascending, not empty).

    - At most ``bins`` distinct values (flags, one-hot columns, ranks, bin numbers): one bucket per value,
      ``[v_i, v_i+1)`` and a last bucket ``[max, max]``, so the distance sees every value's share.
    - Otherwise: the baseline's quantiles at ``i / bins`` (deciles for 10 bins), deduplicated: equal-mass
      buckets. Equal-width buckets between min and max would put ~90 % of the log-normal ``amount`` (max in the
      thousands, median ~60) into the first bucket and hide any shift of the bulk.
    """
    distinct: list[float] = []
    for x in sorted_values:
        if not distinct or x != distinct[-1]:
            distinct.append(x)
            if len(distinct) > bins:
                break
    if len(distinct) <= bins:
        return [*distinct, distinct[-1]]
    n = len(sorted_values)
    edges: list[float] = []
    for i in range(bins + 1):
        q = sorted_values[(i * (n - 1)) // bins]
        if not edges or q != edges[-1]:
            edges.append(q)
    return edges


def _buckets_json(edges: Sequence[float], counts: Sequence[int]) -> list[dict[str, Any]]:
    return [{"lower_bound": edges[i], "upper_bound": edges[i + 1], "count": counts[i]} for i in range(len(counts))]


def linf_distance(
    baseline_counts: Sequence[int], counts: Sequence[int], underflow: int = 0, overflow: int = 0
) -> float:
    """L-infinity distance of two empirical CDFs evaluated at the bucket edges (docs: "The drift analyzer").

    ``counts`` are the current values counted into the baseline's buckets, ``underflow``/``overflow`` the
    current values below/above them (the baseline has none by construction).
    """
    n_base = sum(baseline_counts)
    n_cur = underflow + sum(counts) + overflow
    if n_base == 0 or n_cur == 0:
        raise ValueError("linf_distance needs values on both sides")
    cum_base, cum_cur = 0, underflow
    distance = cum_cur / n_cur
    for base, cur in zip(baseline_counts, counts, strict=True):
        cum_base += base
        cum_cur += cur
        distance = max(distance, abs(cum_base / n_base - cum_cur / n_cur))
    return distance


def robust_threshold(threshold: float, n_baseline: int, n_current: int) -> float:
    """The threshold of ``comparison_method: Robust``: at least the two-sample KS critical value (alpha 0.01)."""
    critical = KS_C_ALPHA * math.sqrt((n_baseline + n_current) / (n_baseline * n_current))
    return max(threshold, critical)


# --- Baseline ---------------------------------------------------------------------------------------------


def _baseline_value(value: object) -> tuple[float, bool] | None:
    """(number, is_integral) of one baseline value; None when missing; ``ValueError`` when not numeric."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value), True
    if isinstance(value, int):
        return float(value), True
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return value, False
    if isinstance(value, str):
        if not value.strip():
            return None
        number = _finite(value)
        if number is None:
            raise ValueError(f"{value!r} is not a finite number")
        return number, _is_integer_literal(value)
    raise ValueError(f"{value!r} ({type(value).__name__}) is not a number")


def baseline(
    rows: Iterable[Sequence[object]],
    columns: Sequence[str],
    *,
    bins: int = DEFAULT_BINS,
    comparison_threshold: float = DEFAULT_COMPARISON_THRESHOLD,
    comparison_method: str = DEFAULT_COMPARISON_METHOD,
    datatype_check_threshold: float = DEFAULT_DATATYPE_CHECK_THRESHOLD,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(statistics, constraints)`` of the baseline (training) feature rows, in Model Monitor's formats.

    ``rows`` are sequences in ``columns`` order: numbers, numeric strings (CSV fields), or None/"" for a missing
    value. Integers and integer literals give ``Integral``; any other number makes the feature ``Fractional``.
    The values are held in memory (the baseline is the training set, bounded); ``analyze`` is the streaming side.
    The suggested constraints: completeness = the baseline's own, ``is_non_negative`` = min >= 0, and the
    ``monitoring_config`` given here (documented defaults).
    """
    if bins < 1:
        raise ValueError(f"bins={bins}: at least 1")
    if comparison_method not in COMPARISON_METHODS:
        raise ValueError(f"comparison_method={comparison_method!r}, allowed: {list(COMPARISON_METHODS)}")
    if len(set(columns)) != len(columns) or not columns:
        raise ValueError("columns must be non-empty and unique")
    values, integral, item_count = _baseline_columns(rows, columns)
    stat_features: list[dict[str, Any]] = []
    constraint_features: list[dict[str, Any]] = []
    for name, xs, is_integral in zip(columns, values, integral, strict=True):
        if not xs:
            raise ValueError(f"baseline column {name!r} has no values: nothing to compare with")
        statistics, constraint = _baseline_feature(name, xs, is_integral, item_count, bins)
        stat_features.append(statistics)
        constraint_features.append(constraint)
    statistics = {"version": FORMAT_VERSION, "dataset": {"item_count": item_count}, "features": stat_features}
    constraints = {
        "version": FORMAT_VERSION,
        "features": constraint_features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": datatype_check_threshold,
            "domain_content_threshold": 0.1,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": comparison_threshold,
                "comparison_method": comparison_method,
                "categorical_comparison_threshold": 0.1,
                "categorical_drift_method": "LInfinity",
            },
        },
    }
    return statistics, constraints


def _baseline_columns(
    rows: Iterable[Sequence[object]], columns: Sequence[str]
) -> tuple[list[list[float]], list[bool], int]:
    """The rows by column: each column's present values, whether all of them are integral, and the row count."""
    width = len(columns)
    values: list[list[float]] = [[] for _ in columns]
    integral = [True] * width
    item_count = 0
    for row_number, row in enumerate(rows, 1):
        if len(row) != width:
            raise ValueError(f"baseline row {row_number} has {len(row)} values, expected {width} ({columns[0]}, ...)")
        item_count += 1
        for j, value in enumerate(row):
            try:
                parsed = _baseline_value(value)
            except ValueError as exc:
                raise ValueError(f"baseline row {row_number}, column {columns[j]!r}: {exc}") from None
            if parsed is not None:
                values[j].append(parsed[0])
                integral[j] = integral[j] and parsed[1]
    if item_count == 0:
        raise ValueError("the baseline has no rows")
    return values, integral, item_count


def _baseline_feature(
    name: str, xs: list[float], is_integral: bool, item_count: int, bins: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One feature's entry in ``statistics.json`` and in ``constraints.json`` (``xs``: its values, not empty)."""
    inferred = "Integral" if is_integral else "Fractional"
    total = math.fsum(xs)
    mean = total / len(xs)
    xs.sort()
    lo, hi = xs[0], xs[-1]
    edges = bucket_edges(xs, bins)
    counts = [0] * (len(edges) - 1)
    for x in xs:
        counts[_bucket(edges, x)] += 1
    statistics = {
        "name": name,
        "inferred_type": inferred,
        "numerical_statistics": {
            "common": {"num_present": len(xs), "num_missing": item_count - len(xs)},
            "mean": mean,
            "sum": total,
            "std_dev": math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / len(xs)),
            "min": lo,
            "max": hi,
            "distribution": {"kll": {"buckets": _buckets_json(edges, counts)}},
        },
    }
    constraint = {
        "name": name,
        "inferred_type": inferred,
        "completeness": len(xs) / item_count,
        "num_constraints": {"is_non_negative": lo >= 0},
    }
    return statistics, constraint


# --- The baseline as analyze reads it -----------------------------------------------------------------------


@dataclass(frozen=True)
class _FeatureBaseline:
    name: str
    inferred_type: str
    edges: list[float]  # numeric features: the bucket edges
    counts: list[int]  # numeric features: the baseline's count per bucket
    mean: float
    completeness: float
    comparison_threshold: float | None  # the feature's monitoring config override, if any
    categories: dict[str, int] | None = None  # String features: the baseline's count per category
    evaluate_constraints: bool = True  # False: monitoring_config_overrides.evaluate_constraints = "Disabled"

    @property
    def is_string(self) -> bool:
        return self.categories is not None


@dataclass(frozen=True)
class _Baseline:
    features: list[_FeatureBaseline]
    evaluate_constraints: bool
    perform_comparison: bool
    comparison_threshold: float
    comparison_method: str
    datatype_check_threshold: float
    categorical_comparison_threshold: float = DEFAULT_CATEGORICAL_THRESHOLD


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BaselineError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _overrides(constraint: Mapping[str, Any]) -> tuple[float | None, bool]:
    """A feature's overrides: ``monitoring_config_overrides`` (what the SageMaker SDK's
    ``Constraints.set_monitoring(False, feature)`` writes) or ``monitoringConfigOverrides``."""
    overrides = {
        **(constraint.get("monitoringConfigOverrides") or {}),
        **(constraint.get("monitoring_config_overrides") or {}),
    }
    threshold = overrides.get("comparison_threshold")
    name = constraint.get("name")
    return (
        None if threshold is None else _number(threshold, f"{name} override"),
        overrides.get("evaluate_constraints", "Enabled") != "Disabled",
    )


def _numeric_feature(name: str, feature: Mapping[str, Any], constraint: Mapping[str, Any]) -> _FeatureBaseline:
    numerical = feature.get("numerical_statistics") or {}
    buckets = ((numerical.get("distribution") or {}).get("kll") or {}).get("buckets") or []
    if not buckets:
        raise BaselineError(f"feature {name!r}: no distribution.kll.buckets to compare with")
    edges = _edges(buckets)
    if any(b > a for a, b in zip(edges[1:], edges[:-1], strict=True)):
        raise BaselineError(f"feature {name!r}: bucket bounds are not ascending")
    threshold, evaluate = _overrides(constraint)
    return _FeatureBaseline(
        name=name,
        inferred_type=feature["inferred_type"],
        edges=edges,
        counts=[int(b["count"]) for b in buckets],
        mean=_number(numerical.get("mean", 0.0), f"{name}.mean"),
        completeness=_number(constraint.get("completeness", 1.0), f"{name}.completeness"),
        comparison_threshold=threshold,
        evaluate_constraints=evaluate,
    )


def _string_feature(name: str, feature: Mapping[str, Any], constraint: Mapping[str, Any]) -> _FeatureBaseline:
    strings = feature.get("string_statistics") or {}
    buckets = ((strings.get("distribution") or {}).get("categorical") or {}).get("buckets") or []
    categories = {str(b["value"]): int(b["count"]) for b in buckets if isinstance(b, Mapping) and "value" in b}
    if not categories or not sum(categories.values()):
        raise BaselineError(f"feature {name!r}: no distribution.categorical.buckets to compare with")
    threshold, evaluate = _overrides(constraint)
    return _FeatureBaseline(
        name=name,
        inferred_type=STRING_TYPE,
        edges=[],
        counts=[],
        mean=0.0,
        completeness=_number(constraint.get("completeness", 1.0), f"{name}.completeness"),
        comparison_threshold=threshold,
        categories=categories,
        evaluate_constraints=evaluate,
    )


def load_baseline(statistics: Mapping[str, Any], constraints: Mapping[str, Any]) -> _Baseline:
    """Check and index the baseline files; ``BaselineError`` names the first problem."""
    try:
        stat_features = list(statistics["features"])
        constraint_features = {c["name"]: c for c in constraints["features"]}
    except (KeyError, TypeError) as exc:
        raise BaselineError(f"statistics.json/constraints.json without a features list ({exc})") from None
    config = constraints.get("monitoring_config") or {}
    distribution = config.get("distribution_constraints") or {}
    method = distribution.get("comparison_method", DEFAULT_COMPARISON_METHOD)
    if method not in COMPARISON_METHODS:
        raise BaselineError(f"comparison_method={method!r}, allowed: {list(COMPARISON_METHODS)}")
    features: list[_FeatureBaseline] = []
    for feature in stat_features:
        name = feature.get("name")
        inferred = feature.get("inferred_type")
        if inferred not in (*NUMERIC_TYPES, STRING_TYPE):
            raise BaselineError(f"feature {name!r}: inferred_type {inferred!r}; monitored: numeric and String")
        if name not in constraint_features:
            raise BaselineError(f"feature {name!r} is in statistics.json but not in constraints.json")
        build = _string_feature if inferred == STRING_TYPE else _numeric_feature
        features.append(build(name, feature, constraint_features[name]))
    if not features:
        raise BaselineError("the baseline has no features")
    return _Baseline(
        features=features,
        evaluate_constraints=config.get("evaluate_constraints", "Enabled") == "Enabled",
        perform_comparison=distribution.get("perform_comparison", "Enabled") == "Enabled",
        comparison_threshold=_number(
            distribution.get("comparison_threshold", DEFAULT_COMPARISON_THRESHOLD), "comparison_threshold"
        ),
        comparison_method=method,
        datatype_check_threshold=_number(
            config.get("datatype_check_threshold", DEFAULT_DATATYPE_CHECK_THRESHOLD), "datatype_check_threshold"
        ),
        categorical_comparison_threshold=_number(
            distribution.get("categorical_comparison_threshold", DEFAULT_CATEGORICAL_THRESHOLD),
            "categorical_comparison_threshold",
        ),
    )


# --- Streaming accumulation -----------------------------------------------------------------------------------


class _Accumulator:
    """Per-feature running statistics: O(features x buckets) memory, whatever the number of records.

    Sums are taken of ``x - baseline mean`` (and its square), which keeps the variance formula
    ``E[d^2] - E[d]^2`` accurate when the values sit far from zero.
    """

    def __init__(self, model: _Baseline, max_examples: int) -> None:
        k = len(model.features)
        self.model = model
        self.max_examples = max_examples
        self.width = k
        self.edges = [f.edges for f in model.features]
        self.lo = [f.edges[0] if f.edges else math.inf for f in model.features]
        self.hi = [f.edges[-1] if f.edges else -math.inf for f in model.features]
        self.shift = [f.mean for f in model.features]
        self.expect_integral = [f.inferred_type == "Integral" for f in model.features]
        self.records = 0
        self.numeric = [0] * k
        self.missing = [0] * k
        self.non_numeric = [0] * k
        self.non_integral = [0] * k
        self.sum_d = [0.0] * k
        self.sum_d2 = [0.0] * k
        self.min = [math.inf] * k
        self.max = [-math.inf] * k
        self.counts = [[0] * max(len(f.edges) - 1, 0) for f in model.features]
        self.is_string = [f.is_string for f in model.features]
        self.categories: list[dict[str, int]] = [{} for _ in model.features]
        self.names = [f.name for f in model.features]
        self.underflow = [0] * k
        self.overflow = [0] * k
        self.type_example: list[str | None] = [None] * k
        self.lines = 0
        self.blank_lines = 0
        self.malformed_lines = 0
        self.malformed_records = 0
        self.examples: list[dict[str, Any]] = []

    def malformed(self, source: str, line_number: int, reason: str, *, record: bool) -> None:
        if record:
            self.malformed_records += 1
        else:
            self.malformed_lines += 1
        if len(self.examples) < self.max_examples:
            self.examples.append({"source": source, "line": line_number, "reason": reason})

    def add(self, row: Sequence[str]) -> None:
        """One CSV row: feature j is column j."""
        self.records += 1
        for j, text in enumerate(row):
            if not text or text.isspace():
                self.missing[j] += 1
                continue
            if self.is_string[j]:
                self._add_category(j, text)
                continue
            try:
                x = float(text)
            except ValueError:
                x = math.nan
            if not math.isfinite(x):
                self.non_numeric[j] += 1
                self._type_example(j, text)
                continue
            if self.expect_integral[j] and not text.strip().lstrip("+-").isdigit():
                self.non_integral[j] += 1
                self._type_example(j, text)
            self._add_number(j, x)

    def add_event(self, event: Mapping[str, Any]) -> None:
        """One raw event: feature j is the field of the same name (absent or null: missing)."""
        self.records += 1
        for j, name in enumerate(self.names):
            value = event.get(name)
            if value is None:
                self.missing[j] += 1
            elif self.is_string[j]:
                self._add_category(j, value if isinstance(value, str) else json.dumps(value))
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                self.non_numeric[j] += 1
                self._type_example(j, json.dumps(value) if not isinstance(value, float) else repr(value))
            else:
                if self.expect_integral[j] and not isinstance(value, int):
                    self.non_integral[j] += 1
                    self._type_example(j, repr(value))
                self._add_number(j, float(value))

    def _add_category(self, j: int, value: str) -> None:
        self.numeric[j] += 1  # present values
        self.categories[j][value] = self.categories[j].get(value, 0) + 1

    def _type_example(self, j: int, text: str) -> None:
        if self.type_example[j] is None:
            self.type_example[j] = text[:40]

    def _add_number(self, j: int, x: float) -> None:
        self.numeric[j] += 1
        d = x - self.shift[j]
        self.sum_d[j] += d
        self.sum_d2[j] += d * d
        if x < self.min[j]:
            self.min[j] = x
        if x > self.max[j]:
            self.max[j] = x
        if x < self.lo[j]:
            self.underflow[j] += 1
        elif x > self.hi[j]:
            self.overflow[j] += 1
        else:
            self.counts[j][_bucket(self.edges[j], x)] += 1


# --- analyze -----------------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.4g}%"


def analyze(
    capture_lines: Iterable[str | bytes | CaptureLine],
    baseline_statistics: Mapping[str, Any],
    constraints: Mapping[str, Any],
    *,
    distance_threshold: float | None,
    max_examples: int = MAX_EXAMPLES,
) -> dict[str, Any]:
    """Analyse capture lines (an iterator is consumed once, lazily) against the baseline; return the report.

    ``distance_threshold``: the drift threshold (None: the constraints' ``comparison_threshold``); a feature's
    ``monitoringConfigOverrides.comparison_threshold`` still wins. Items are capture lines (text or bytes) or
    ``CaptureLine`` tuples (which carry the object name and line number into the malformed report).

    The report::

        {"constraint_violations": {"violations": [...]},      # constraint_violations.json
         "statistics": {...},                                 # statistics.json of the window
         "metrics": {"baseline_drift": {feature: distance},   # per-feature values for CloudWatch
                     "completeness": {feature: fraction},
                     "data_type_mismatch": {feature: fraction}},
         "records": n, "lines": n, "blank_lines": n,
         "malformed": {"lines": n, "records": n, "examples": [{"source", "line", "reason"}, ...]},
         "drift": {"method": "...", "comparison_method": "Robust", "thresholds": {feature: t}}}

    Malformed capture lines (not JSON, no ``endpointInput``, bad base64, unsupported encoding) and rows with the
    wrong number of columns are counted and reported (the first ``max_examples`` with their line numbers);
    they never stop the run.
    """
    model = load_baseline(baseline_statistics, constraints)
    if distance_threshold is not None and not (math.isfinite(distance_threshold) and 0 < distance_threshold <= 1):
        raise ValueError(f"distance_threshold={distance_threshold!r}: a number in (0, 1]")
    acc = _Accumulator(model, max_examples)
    for position, item in enumerate(capture_lines, 1):
        if isinstance(item, CaptureLine):
            source, line_number, text = item
        else:
            source, line_number, text = "", position, item
        acc.lines += 1
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                acc.malformed(source, line_number, "line is not UTF-8", record=False)
                continue
        if not text.strip():
            acc.blank_lines += 1
            continue
        try:
            rows = parse_capture_line(text)
        except CaptureError as exc:
            acc.malformed(source, line_number, str(exc), record=False)
            continue
        _add_records(acc, source, line_number, rows)
    return _report(acc, distance_threshold)


def _add_records(
    acc: _Accumulator, source: str, line_number: int, rows: list[list[str]] | list[dict[str, Any]]
) -> None:
    """The records of one capture line: raw events by field name, CSV rows by position (width checked)."""
    for row in rows:
        if isinstance(row, dict):
            acc.add_event(row)
            continue
        if len(row) != acc.width:
            acc.malformed(source, line_number, f"CSV row has {len(row)} columns, the baseline {acc.width}", record=True)
            continue
        acc.add(row)


def _report(acc: _Accumulator, distance_threshold: float | None) -> dict[str, Any]:
    model = acc.model
    n = acc.records
    violations: list[dict[str, str]] = []
    drift: dict[str, float] = {}
    completeness: dict[str, float] = {}
    mismatch: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    for j, feature in enumerate(model.features if n else []):
        name = feature.name
        numeric = acc.numeric[j]
        non_empty = numeric + acc.non_numeric[j]
        completeness[name] = non_empty / n
        mismatch[name] = (acc.non_numeric[j] + acc.non_integral[j]) / non_empty if non_empty else 0.0
        if numeric:
            drift[name], threshold = _drift(acc, j, distance_threshold)
            if model.comparison_method == "Robust":
                n_base = sum(feature.categories.values()) if feature.categories else sum(feature.counts)
                threshold = robust_threshold(threshold, n_base, numeric)
            thresholds[name] = threshold
        if model.evaluate_constraints and feature.evaluate_constraints:
            violations.extend(
                _violations(acc, j, completeness[name], mismatch[name], drift.get(name), thresholds.get(name))
            )
    features = [_current_feature(acc, j) for j in range(len(model.features))]
    return {
        "constraint_violations": {"violations": violations},
        "statistics": {"version": FORMAT_VERSION, "dataset": {"item_count": n}, "features": features},
        "metrics": {"baseline_drift": drift, "completeness": completeness, "data_type_mismatch": mismatch},
        "records": n,
        "lines": acc.lines,
        "blank_lines": acc.blank_lines,
        "malformed": {"lines": acc.malformed_lines, "records": acc.malformed_records, "examples": acc.examples},
        "drift": {
            "method": "L-infinity distance between the baseline and current empirical CDFs at the baseline's "
            "bucket edges",
            "comparison_method": model.comparison_method,
            "thresholds": thresholds,
        },
    }


def _drift(acc: _Accumulator, j: int, distance_threshold: float | None) -> tuple[float, float]:
    """(distance, threshold before the Robust floor) of feature ``j``. Threshold: the feature's override, else
    ``distance_threshold``, else the constraints' ``comparison_threshold`` (numeric) or
    ``categorical_comparison_threshold`` (String)."""
    model, feature = acc.model, acc.model.features[j]
    if feature.categories is not None:
        distance = categorical_linf_distance(feature.categories, acc.categories[j])
        default = model.categorical_comparison_threshold
    else:
        distance = linf_distance(feature.counts, acc.counts[j], acc.underflow[j], acc.overflow[j])
        default = model.comparison_threshold
    if feature.comparison_threshold is not None:
        return distance, feature.comparison_threshold
    return distance, distance_threshold if distance_threshold is not None else default


def categorical_linf_distance(baseline_counts: Mapping[str, int], counts: Mapping[str, int]) -> float:
    """L-infinity distance of two category frequency distributions: the largest difference of the share of one
    category, over every category seen on either side (a new category counts with a baseline share of 0)."""
    n_base, n_cur = sum(baseline_counts.values()), sum(counts.values())
    if n_base == 0 or n_cur == 0:
        raise ValueError("categorical_linf_distance needs values on both sides")
    return max(abs(baseline_counts.get(v, 0) / n_base - counts.get(v, 0) / n_cur) for v in {*baseline_counts, *counts})


def _violations(
    acc: _Accumulator, j: int, completeness: float, mismatch: float, distance: float | None, threshold: float | None
) -> list[dict[str, str]]:
    """The violations of feature ``j`` in the window: data type, completeness, baseline drift (in that order)."""
    model, feature = acc.model, acc.model.features[j]
    numeric = acc.numeric[j]
    non_empty = numeric + acc.non_numeric[j]
    found: list[dict[str, str]] = []
    if non_empty and mismatch > model.datatype_check_threshold:
        found.append(
            {
                "feature_name": feature.name,
                "constraint_check_type": DATA_TYPE_CHECK,
                "description": (
                    f"Data type match requirement is not met. Expected data type: {feature.inferred_type}, "
                    f"expected match: at least {_pct(1 - model.datatype_check_threshold)}. Observed: only "
                    f"{_pct(1 - mismatch)} of {non_empty} values are {feature.inferred_type} "
                    f"(e.g. {acc.type_example[j]!r})."
                ),
            }
        )
    if completeness < feature.completeness:
        found.append(
            {
                "feature_name": feature.name,
                "constraint_check_type": COMPLETENESS_CHECK,
                "description": (
                    f"Data completeness requirement is not met. Expected: {_pct(feature.completeness)}, "
                    f"observed: {_pct(completeness)} ({acc.missing[j]} of {acc.records} values missing)."
                ),
            }
        )
    if model.perform_comparison and distance is not None and threshold is not None and distance > threshold:
        found.append(
            {
                "feature_name": feature.name,
                "constraint_check_type": BASELINE_DRIFT_CHECK,
                "description": (
                    f"Baseline drift distance: {distance:.6g} exceeds threshold: {threshold:.6g} "
                    f"({_DISTANCE_KIND[feature.is_string]}, comparison_method {model.comparison_method}, "
                    f"{numeric} values)."
                ),
            }
        )
    return found


_DISTANCE_KIND = {
    False: "L-infinity distance of the CDFs on the baseline's buckets",
    True: "L-infinity distance of the category frequencies",
}


def _current_feature(acc: _Accumulator, j: int) -> dict[str, Any]:
    """One feature of the window's statistics.json. Buckets: the baseline's, plus the under/overflow ranges;
    categories: the window's, by value."""
    feature = acc.model.features[j]
    numeric = acc.numeric[j]
    non_empty = numeric + acc.non_numeric[j]
    common = {"num_present": non_empty, "num_missing": acc.missing[j]}
    if feature.is_string:
        seen = acc.categories[j]
        strings = {
            "common": common,
            "distinct_count": float(len(seen)),
            "distribution": {"categorical": {"buckets": [{"value": v, "count": seen[v]} for v in sorted(seen)]}},
        }
        return {"name": feature.name, "inferred_type": STRING_TYPE, "string_statistics": strings}
    if numeric == 0:
        numerical: dict[str, Any] = {"common": common}
    else:
        mean_d = acc.sum_d[j] / numeric
        variance = max(acc.sum_d2[j] / numeric - mean_d * mean_d, 0.0)
        edges, counts = feature.edges, acc.counts[j]
        buckets = _buckets_json(edges, counts)
        if acc.underflow[j]:
            buckets.insert(0, {"lower_bound": acc.min[j], "upper_bound": edges[0], "count": acc.underflow[j]})
        if acc.overflow[j]:
            buckets.append({"lower_bound": edges[-1], "upper_bound": acc.max[j], "count": acc.overflow[j]})
        numerical = {
            "common": common,
            "mean": acc.shift[j] + mean_d,
            "sum": acc.shift[j] * numeric + acc.sum_d[j],
            "std_dev": math.sqrt(variance),
            "min": acc.min[j],
            "max": acc.max[j],
            "distribution": {"kll": {"buckets": buckets}},
        }
    inferred = feature.inferred_type if acc.non_integral[j] == 0 else "Fractional"
    return {"name": feature.name, "inferred_type": inferred, "numerical_statistics": numerical}


# --- CloudWatch ---------------------------------------------------------------------------------------------


def metric_data(report: Mapping[str, Any], endpoint_name: str, timestamp: datetime) -> list[dict[str, Any]]:
    """The report as CloudWatch ``MetricData``: one ``FeatureBaselineDrift`` per feature with a distance
    (dimensions ``Endpoint``, ``Feature``), and ``ViolationCount``, ``RecordsAnalyzed``, ``MalformedRecords``
    (dimension ``Endpoint``)."""
    endpoint = {"Name": "Endpoint", "Value": endpoint_name}
    data: list[dict[str, Any]] = [
        {
            "MetricName": METRIC_FEATURE_DRIFT,
            "Dimensions": [endpoint, {"Name": "Feature", "Value": feature}],
            "Timestamp": timestamp,
            "Value": float(distance),
            "Unit": "None",
        }
        for feature, distance in report["metrics"]["baseline_drift"].items()
    ]
    malformed = report["malformed"]["lines"] + report["malformed"]["records"]
    for name, value in (
        (METRIC_VIOLATIONS, len(report["constraint_violations"]["violations"])),
        (METRIC_RECORDS, report["records"]),
        (METRIC_MALFORMED, malformed),
    ):
        data.append(
            {
                "MetricName": name,
                "Dimensions": [endpoint],
                "Timestamp": timestamp,
                "Value": float(value),
                "Unit": "Count",
            }
        )
    return data


def _datum_bytes(datum: Mapping[str, Any]) -> int:
    # A conservative estimate of the datum's share of the request body: the query-protocol form repeats the
    # parameter path ("MetricData.member.17.Dimensions.member.2.Value=") for every field, about twice the JSON.
    return 2 * len(json.dumps(datum, default=str)) + 64


def batch_metric_data(
    data: Sequence[Mapping[str, Any]],
    *,
    max_items: int = PUT_METRIC_DATA_MAX_ITEMS,
    max_bytes: int = PUT_METRIC_DATA_MAX_BYTES,
) -> Iterator[list[Mapping[str, Any]]]:
    """Split metric data into PutMetricData calls: at most ``max_items`` data and ~``max_bytes`` each."""
    batch: list[Mapping[str, Any]] = []
    size = 1024  # Action, Version, Namespace and headroom
    for datum in data:
        datum_size = _datum_bytes(datum)
        if batch and (len(batch) >= max_items or size + datum_size > max_bytes):
            yield batch
            batch, size = [], 1024
        batch.append(datum)
        size += datum_size
    if batch:
        yield batch


__all__ = [
    "BASELINE_DRIFT_CHECK",
    "COMPARISON_METHODS",
    "COMPLETENESS_CHECK",
    "CONSTRAINT_CHECK_TYPES",
    "DATA_TYPE_CHECK",
    "DEFAULT_BINS",
    "METRIC_FEATURE_DRIFT",
    "METRIC_MALFORMED",
    "METRIC_RECORDS",
    "METRIC_VIOLATIONS",
    "BaselineError",
    "CaptureError",
    "CaptureLine",
    "analyze",
    "baseline",
    "batch_metric_data",
    "bucket_edges",
    "categorical_linf_distance",
    "decode_payload",
    "linf_distance",
    "load_baseline",
    "metric_data",
    "numbered_lines",
    "parse_capture_line",
    "parse_csv_rows",
    "parse_json_events",
    "read_capture_lines",
    "robust_threshold",
]
