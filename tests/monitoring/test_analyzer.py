"""The drift analyzer: baseline and analysis in Model Monitor's documented formats, on ETL-like feature rows.

The rows have exactly the columns of ``contract.feature_columns(spec)`` (the model's input, what the endpoint
receives). To stay fast they are encoded here from generated events with the ETL's encoding kinds (one-hot,
ordinal rank, boolean 0/1, imputation flag, outlier flag and clip, bin number) but fixed parameters instead of the
ETL's fitted ones (median, cap, quantile edges): the analyzer only needs rows shaped like the ETL's output.

Capture lines are written in the documented SageMaker data-capture format (CSV or BASE64 encoding).

Format references (checked by the schema checks below):
- https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-statistics.html
- https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html
- https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-violations.html
"""

from __future__ import annotations

import base64
import json
import math
import re
import statistics as pystats
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from ml_constructs.glue_etl.runtime import contract
from ml_constructs.monitoring.runtime.drift_job import analyzer
from stacks.mapping import etl_spec
from worked_example.generator import Drift, generate_events

SPEC = etl_spec()
COLUMNS = contract.feature_columns(SPEC)
BASELINE_SEED = 1
TRAFFIC_SEED = 2
N_BASELINE = 4000
N_TRAFFIC = 2000
THRESHOLD = 0.1

# Fixed stand-ins for what the ETL fits on train: the imputed value, the outlier cap, the bin edges.
IMPUTED = {"distance_from_home_km": 10.0}
CAPS = {"amount": 2000.0}
BIN_EDGES = (90, 365, 730, 1460)


# --- Test data helpers (test_drift_job imports them) ----------------------------------------------------------


def encode_event(event: Mapping[str, Any]) -> list[str]:
    """One event as the ETL's feature CSV fields, in ``COLUMNS`` order."""
    out: dict[str, Any] = {}
    for c in SPEC.features():
        value = event[c.name]
        if c.kind == "numeric":
            if c.name in SPEC.impute_columns:
                out[contract.was_missing_name(c.name)] = int(value is None)
                value = IMPUTED[c.name] if value is None else value
            if c.name in SPEC.outlier_columns:
                out[contract.outlier_flag_name(c.name)] = int(value > CAPS[c.name])
                value = min(value, CAPS[c.name])
            if c.name == SPEC.bin_column:
                out[contract.bin_name(c.name)] = bisect_right(BIN_EDGES, value)
            out[c.name] = float(value) if c.type == "double" else int(value)
        elif c.type == "boolean":
            out[c.name] = int(value)
        elif c.kind == "ordinal":
            out[contract.rank_name(c.name)] = list(c.values).index(value)
        else:
            for allowed in c.values:
                out[contract.one_hot_name(c.name, allowed)] = int(value == allowed)
    return [repr(out[name]) if isinstance(out[name], float) else str(out[name]) for name in COLUMNS]


def feature_rows(n: int, seed: int, drift: Drift | None = None) -> Iterator[list[str]]:
    return (encode_event(e) for e in generate_events(n, seed, drift=drift))


def capture_line(fields: list[str] | list[list[str]], *, index: int = 0, encoding: str = "CSV") -> str:
    """One data-capture JSON line for a request of one row (or several rows) of feature CSV."""
    rows = fields if fields and isinstance(fields[0], list) else [fields]
    body = "\n".join(",".join(row) for row in rows)  # type: ignore[arg-type]
    data = base64.b64encode(body.encode()).decode() if encoding == "BASE64" else body
    record = {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": data, "encoding": encoding},
            "endpointOutput": {
                "observedContentType": "text/csv; charset=utf-8",
                "mode": "OUTPUT",
                "data": "0.0123",
                "encoding": "CSV",
            },
        },
        "eventMetadata": {"eventId": f"00000000-0000-4000-8000-{index:012d}", "inferenceTime": "2026-11-20T09:15:30Z"},
        "eventVersion": "0",
    }
    return json.dumps(record)


def capture_lines(rows: Iterable[list[str]], **kwargs: Any) -> Iterator[str]:
    return (capture_line(row, index=i, **kwargs) for i, row in enumerate(rows))


def with_column(rows: Iterable[list[str]], column: str, value: Callable[[int, str], str]) -> Iterator[list[str]]:
    """Rows with one column replaced: ``value(row_index, old_text)``."""
    j = COLUMNS.index(column)
    for i, row in enumerate(rows):
        row = list(row)
        row[j] = value(i, row[j])
        yield row


# --- Schema checks from the AWS documentation (required keys and types) ----------------------------------------


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_statistics(doc: Mapping[str, Any]) -> None:
    """statistics.json: version, dataset.item_count, features[name, inferred_type, numerical_statistics...]."""
    assert doc["version"] == 0
    assert isinstance(doc["dataset"]["item_count"], int)
    assert isinstance(doc["features"], list)
    assert doc["features"]
    for feature in doc["features"]:
        assert isinstance(feature["name"], str)
        assert feature["inferred_type"] in ("Integral", "Fractional")
        numerical = feature["numerical_statistics"]
        common = numerical["common"]
        assert isinstance(common["num_present"], int)
        assert isinstance(common["num_missing"], int)
        if common["num_present"] and "mean" in numerical:
            for key in ("mean", "sum", "std_dev", "min", "max"):
                assert _is_number(numerical[key]), (feature["name"], key)
            buckets = numerical["distribution"]["kll"]["buckets"]
            assert buckets
            for bucket in buckets:
                assert _is_number(bucket["lower_bound"])
                assert _is_number(bucket["upper_bound"])
                assert bucket["lower_bound"] <= bucket["upper_bound"]
                assert isinstance(bucket["count"], int)
                assert bucket["count"] >= 0


def check_constraints(doc: Mapping[str, Any]) -> None:
    """constraints.json: version, features[name, inferred_type, completeness, num_constraints], monitoring_config."""
    assert doc["version"] == 0
    for feature in doc["features"]:
        assert isinstance(feature["name"], str)
        assert feature["inferred_type"] in ("Integral", "Fractional", "String", "Unknown")
        assert _is_number(feature["completeness"])
        assert 0 <= feature["completeness"] <= 1
        assert isinstance(feature["num_constraints"]["is_non_negative"], bool)
    config = doc["monitoring_config"]
    assert config["evaluate_constraints"] in ("Enabled", "Disabled")
    assert config["emit_metrics"] in ("Enabled", "Disabled")
    assert _is_number(config["datatype_check_threshold"])
    assert _is_number(config["domain_content_threshold"])
    distribution = config["distribution_constraints"]
    assert distribution["perform_comparison"] in ("Enabled", "Disabled")
    assert _is_number(distribution["comparison_threshold"])
    assert distribution["comparison_method"] in ("Simple", "Robust")
    assert _is_number(distribution["categorical_comparison_threshold"])
    assert distribution["categorical_drift_method"] in ("LInfinity", "ChiSquared")


def check_violations(doc: Mapping[str, Any]) -> None:
    """constraint_violations.json: violations[feature_name, constraint_check_type, description]."""
    assert set(doc) == {"violations"}
    for violation in doc["violations"]:
        assert set(violation) == {"feature_name", "constraint_check_type", "description"}
        assert isinstance(violation["feature_name"], str)
        assert isinstance(violation["description"], str)
        assert violation["constraint_check_type"] in analyzer.CONSTRAINT_CHECK_TYPES


def baseline_files() -> tuple[dict[str, Any], dict[str, Any]]:
    return analyzer.baseline(feature_rows(N_BASELINE, BASELINE_SEED), COLUMNS)


@pytest.fixture(scope="module")
def files() -> tuple[dict[str, Any], dict[str, Any]]:
    return baseline_files()


def run(files: tuple[dict[str, Any], dict[str, Any]], lines: Iterable[Any], **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("distance_threshold", THRESHOLD)
    report = analyzer.analyze(lines, files[0], files[1], **kwargs)
    check_violations(report["constraint_violations"])
    check_statistics(report["statistics"])
    json.dumps(report, allow_nan=False)  # every value is JSON (no NaN/inf), as S3 and CloudWatch need
    return report


def checks(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(v["feature_name"], v["constraint_check_type"]) for v in report["constraint_violations"]["violations"]]


# --- Baseline ----------------------------------------------------------------------------------------------------


def test_baseline_documented_formats_and_etl_columns(files) -> None:
    statistics, constraints = files
    check_statistics(statistics)
    check_constraints(constraints)
    assert [f["name"] for f in statistics["features"]] == COLUMNS
    assert [f["name"] for f in constraints["features"]] == COLUMNS
    assert statistics["dataset"]["item_count"] == N_BASELINE
    types = {f["name"]: f["inferred_type"] for f in statistics["features"]}
    assert types["amount"] == types["distance_from_home_km"] == "Fractional"
    assert types["account_age_days"] == types["channel__atm"] == types["customer_tier_rank"] == "Integral"
    # The ETL imputes: every feature is complete, and the suggested completeness says so.
    assert all(c["completeness"] == 1.0 for c in constraints["features"])
    assert all(c["num_constraints"]["is_non_negative"] for c in constraints["features"])
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] == "Robust"


def test_baseline_numbers_are_exact(files) -> None:
    statistics, _ = files
    amounts = [float(row[COLUMNS.index("amount")]) for row in feature_rows(N_BASELINE, BASELINE_SEED)]
    feature = statistics["features"][COLUMNS.index("amount")]["numerical_statistics"]
    assert feature["common"] == {"num_present": N_BASELINE, "num_missing": 0}
    assert feature["sum"] == pytest.approx(math.fsum(amounts))
    assert feature["mean"] == pytest.approx(pystats.fmean(amounts))
    assert feature["std_dev"] == pytest.approx(pystats.pstdev(amounts))
    assert (feature["min"], feature["max"]) == (min(amounts), max(amounts))
    buckets = feature["distribution"]["kll"]["buckets"]
    assert len(buckets) <= analyzer.DEFAULT_BINS
    assert sum(b["count"] for b in buckets) == N_BASELINE
    # Decile buckets: each holds roughly a tenth of the baseline (ties at the cap make the last one bigger).
    assert all(b["count"] >= N_BASELINE // 20 for b in buckets)
    # A 0/1 feature gets one bucket per value: the distance then compares the two rates directly.
    flag = statistics["features"][COLUMNS.index("card_present")]["numerical_statistics"]
    assert [(b["lower_bound"], b["upper_bound"]) for b in flag["distribution"]["kll"]["buckets"]] == [(0, 1), (1, 1)]


def test_baseline_rejects_non_numeric_and_ragged_rows() -> None:
    with pytest.raises(ValueError, match=r"column 'b'.*'abc' is not a finite number"):
        analyzer.baseline([["1", "abc"]], ["a", "b"])
    with pytest.raises(ValueError, match="row 2 has 1 values, expected 2"):
        analyzer.baseline([["1", "2"], ["1"]], ["a", "b"])
    with pytest.raises(ValueError, match="comparison_method"):
        analyzer.baseline([["1"]], ["a"], comparison_method="Fancy")


# --- The four traffic scenarios ----------------------------------------------------------------------------------


def test_traffic_like_training_gives_no_violation(files) -> None:
    report = run(files, capture_lines(feature_rows(N_TRAFFIC, TRAFFIC_SEED)))
    assert checks(report) == []
    assert report["records"] == report["lines"] == N_TRAFFIC
    assert report["malformed"] == {"lines": 0, "records": 0, "examples": []}
    assert set(report["metrics"]["baseline_drift"]) == set(COLUMNS)
    assert max(report["metrics"]["baseline_drift"].values()) < THRESHOLD / 2
    assert all(c == 1.0 for c in report["metrics"]["completeness"].values())
    assert report["statistics"]["dataset"]["item_count"] == N_TRAFFIC


def test_shifted_amount_gives_only_a_drift_violation(files) -> None:
    report = run(files, capture_lines(feature_rows(N_TRAFFIC, TRAFFIC_SEED, Drift(shift={"amount": 50.0}))))
    assert checks(report) == [("amount", analyzer.BASELINE_DRIFT_CHECK)]
    assert report["metrics"]["baseline_drift"]["amount"] > 0.3
    description = report["constraint_violations"]["violations"][0]["description"]
    # Model Monitor's wording, which tools parse: "distance: <d> exceeds threshold: <t>"
    match = re.search(r"distance: ([0-9.e+-]+) exceeds threshold: ([0-9.e+-]+)", description)
    assert match is not None
    assert float(match[1]) == pytest.approx(report["metrics"]["baseline_drift"]["amount"], rel=1e-5)
    assert float(match[2]) == pytest.approx(0.1)


def test_missing_feature_gives_only_a_completeness_violation(files) -> None:
    rows = with_column(feature_rows(N_TRAFFIC, TRAFFIC_SEED), "distance_from_home_km", lambda i, old: "")
    report = run(files, capture_lines(rows))
    assert checks(report) == [("distance_from_home_km", analyzer.COMPLETENESS_CHECK)]
    assert report["metrics"]["completeness"]["distance_from_home_km"] == 0.0
    assert "distance_from_home_km" not in report["metrics"]["baseline_drift"]  # nothing left to compare
    feature = report["statistics"]["features"][COLUMNS.index("distance_from_home_km")]
    assert feature["numerical_statistics"]["common"] == {"num_present": 0, "num_missing": N_TRAFFIC}


def test_string_in_numeric_column_gives_only_a_data_type_violation(files) -> None:
    # The client sends the tier name instead of its rank in half the requests.
    tiers = ("bronze", "silver", "gold", "platinum")
    rows = with_column(
        feature_rows(N_TRAFFIC, TRAFFIC_SEED), "customer_tier_rank", lambda i, old: tiers[int(old)] if i % 2 else old
    )
    report = run(files, capture_lines(rows))
    assert checks(report) == [("customer_tier_rank", analyzer.DATA_TYPE_CHECK)]
    assert report["metrics"]["data_type_mismatch"]["customer_tier_rank"] == pytest.approx(0.5)
    assert report["metrics"]["completeness"]["customer_tier_rank"] == 1.0  # a wrong type is not a missing value


def test_type_mismatch_within_datatype_check_threshold_is_tolerated(files) -> None:
    # 5 % non-numeric values: below monitoring_config.datatype_check_threshold (0.1), as documented.
    rows = with_column(feature_rows(N_TRAFFIC, TRAFFIC_SEED), "amount", lambda i, old: "n/a" if i % 20 == 0 else old)
    report = run(files, capture_lines(rows))
    assert checks(report) == []
    assert report["metrics"]["data_type_mismatch"]["amount"] == pytest.approx(0.05)


def test_fraction_in_integral_column_is_a_type_mismatch(files) -> None:
    rows = with_column(feature_rows(200, TRAFFIC_SEED), "channel__atm", lambda i, old: "0.5")
    report = run(files, capture_lines(rows))
    assert ("channel__atm", analyzer.DATA_TYPE_CHECK) in checks(report)
    assert report["statistics"]["features"][COLUMNS.index("channel__atm")]["inferred_type"] == "Fractional"


# --- Capture decoding and malformed lines ---------------------------------------------------------------------


def test_base64_and_multi_row_requests_read_like_csv(files) -> None:
    rows = list(feature_rows(300, TRAFFIC_SEED))
    plain = run(files, capture_lines(rows))
    encoded = run(files, capture_lines(rows, encoding="BASE64"))
    batched = run(files, (capture_line(rows[i : i + 3], index=i) for i in range(0, len(rows), 3)))
    assert plain["statistics"] == encoded["statistics"] == batched["statistics"]
    assert batched["records"] == 300
    assert batched["lines"] == 100


def test_malformed_lines_are_counted_and_reported_never_fatal(files) -> None:
    good = list(capture_lines(feature_rows(50, TRAFFIC_SEED)))
    short_row = capture_line(["1.0", "0"])
    unsupported = json.dumps(
        {"captureData": {"endpointInput": {"observedContentType": "application/json", "data": "{}", "encoding": "XML"}}}
    )
    bad_base64 = json.dumps(
        {"captureData": {"endpointInput": {"observedContentType": "text/csv", "data": "@@@", "encoding": "BASE64"}}}
    )
    output_only = json.dumps({"captureData": {"endpointOutput": {"data": "0.1", "encoding": "CSV"}}})
    lines: list[str | bytes] = [
        *good[:10],
        "{not json",  # line 11
        "",  # blank: skipped, not malformed
        "[1, 2, 3]",  # line 13
        short_row,  # line 14: a record with 2 columns
        unsupported,  # line 15
        bad_base64,  # line 16
        output_only,  # line 17
        b"\xff\xfe not utf-8",  # line 18
        *good[10:],
    ]
    report = run(files, lines)
    assert report["records"] == 50
    assert report["blank_lines"] == 1
    assert report["malformed"]["lines"] == 6
    assert report["malformed"]["records"] == 1
    examples = [(e["line"], e["reason"]) for e in report["malformed"]["examples"]]
    assert [line for line, _ in examples] == [11, 13, 14, 15, 16, 17, 18]
    reasons = " | ".join(reason for _, reason in examples)
    for expected in ("not a JSON object", "2 columns", "unsupported encoding 'XML'", "not valid base64"):
        assert expected in reasons
    assert "endpointInput" in examples[5][1]
    assert "UTF-8" in examples[6][1]
    assert checks(report) == []


def test_examples_are_capped_counts_are_not_and_input_is_streamed(files) -> None:
    def lines() -> Iterator[analyzer.CaptureLine]:  # a one-shot generator with object names
        yield from analyzer.numbered_lines(capture_lines(feature_rows(100, TRAFFIC_SEED)), "s3://b/good.jsonl")
        yield from analyzer.numbered_lines(("garbage" for _ in range(500)), "s3://b/bad.jsonl")

    report = run(files, lines())
    assert report["records"] == 100
    assert report["malformed"]["lines"] == 500
    assert len(report["malformed"]["examples"]) == analyzer.MAX_EXAMPLES
    assert report["malformed"]["examples"][0] == {
        "source": "s3://b/bad.jsonl",
        "line": 1,
        "reason": "not a JSON object",
    }


def test_read_capture_lines_helper() -> None:
    parsed = list(analyzer.read_capture_lines([capture_line(["1", "2"]), "", b"nope", capture_line([["1"], ["2"]])]))
    assert parsed[0] == [["1", "2"]]
    assert parsed[2] == [["1"], ["2"]]
    assert isinstance(parsed[1], analyzer.CaptureError)
    assert analyzer.parse_csv_rows('1,"2,5"\n3,4\n') == [["1", "2,5"], ["3", "4"]]


def test_empty_input_gives_an_empty_report(files) -> None:
    report = run(files, [])
    assert report["records"] == 0
    assert checks(report) == []
    assert report["metrics"]["baseline_drift"] == {}


# --- Distance, thresholds and the constraints a person edits ----------------------------------------------------


def test_linf_distance() -> None:
    assert analyzer.linf_distance([10, 10], [5, 5]) == 0.0
    assert analyzer.linf_distance([10, 0], [0, 10]) == 1.0
    assert analyzer.linf_distance([70, 30], [50, 50]) == pytest.approx(0.2)  # 0/1 feature: difference of rates
    assert analyzer.linf_distance([10, 10], [0, 0], overflow=5) == 1.0  # everything above the baseline's max
    assert analyzer.linf_distance([10, 10], [0, 10], underflow=10) == pytest.approx(0.5)


def test_robust_threshold_protects_small_windows() -> None:
    assert analyzer.robust_threshold(0.1, 4000, 2000) == 0.1
    assert analyzer.robust_threshold(0.1, 4000, 30) == pytest.approx(1.628 * math.sqrt(4030 / 120_000), rel=1e-3)


def test_small_window_drift_needs_more_evidence_under_robust(files) -> None:
    statistics, constraints = files
    simple = json.loads(json.dumps(constraints))
    simple["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Simple"
    lines = list(capture_lines(feature_rows(20, TRAFFIC_SEED)))
    robust_report = run(files, lines)
    simple_report = run((statistics, simple), lines)
    assert checks(robust_report) == []
    assert len(checks(simple_report)) > 0  # 20 records: sampling noise alone exceeds 0.1


def test_constraint_edits_are_honoured(files) -> None:
    statistics, constraints = files
    drifted = list(capture_lines(feature_rows(N_TRAFFIC, TRAFFIC_SEED, Drift(shift={"amount": 50.0}))))
    edited = json.loads(json.dumps(constraints))
    edited["features"][COLUMNS.index("amount")]["monitoringConfigOverrides"] = {"comparison_threshold": 0.9}
    assert checks(run((statistics, edited), drifted)) == []
    disabled = json.loads(json.dumps(constraints))
    disabled["monitoring_config"]["evaluate_constraints"] = "Disabled"
    report = run((statistics, disabled), drifted)
    assert checks(report) == []
    assert report["metrics"]["baseline_drift"]["amount"] > 0.3
    # distance_threshold=None falls back to the constraints' comparison_threshold (0.1).
    assert checks(run(files, drifted, distance_threshold=None)) == [("amount", analyzer.BASELINE_DRIFT_CHECK)]


def test_unusable_baseline_is_rejected(files) -> None:
    statistics, constraints = files
    with pytest.raises(analyzer.BaselineError, match=r"not in constraints\.json"):
        analyzer.analyze([], statistics, {**constraints, "features": []}, distance_threshold=0.1)
    with pytest.raises(ValueError, match="distance_threshold"):
        analyzer.analyze([], statistics, constraints, distance_threshold=0)


# --- CloudWatch metric data ---------------------------------------------------------------------------------------


def test_metric_data_and_batches(files) -> None:
    report = run(files, capture_lines(feature_rows(100, TRAFFIC_SEED)))
    when = datetime(2026, 11, 20, 10, tzinfo=UTC)
    data = analyzer.metric_data(report, "mlspec-endpoint", when)
    drift = [d for d in data if d["MetricName"] == analyzer.METRIC_FEATURE_DRIFT]
    assert len(drift) == len(COLUMNS)
    assert drift[0]["Dimensions"] == [
        {"Name": "Endpoint", "Value": "mlspec-endpoint"},
        {"Name": "Feature", "Value": COLUMNS[0]},
    ]
    totals = {d["MetricName"]: d["Value"] for d in data if d["MetricName"] != analyzer.METRIC_FEATURE_DRIFT}
    assert totals == {"ViolationCount": 0.0, "RecordsAnalyzed": 100.0, "MalformedRecords": 0.0}
    many = data * 100  # 2,600 data
    batches = list(analyzer.batch_metric_data(many))
    assert [len(b) for b in batches] == [1000, 1000, 600]
    small = list(analyzer.batch_metric_data(many, max_bytes=50_000))
    assert all(sum(analyzer._datum_bytes(d) for d in b) <= 50_000 for b in small)
    assert sum(len(b) for b in small) == len(many)
