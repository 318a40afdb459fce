"""Drift on the raw event fields: the baseline builder (``raw_baseline``) and the analyzer on captured raw events,
and both checked with the SageMaker SDK's own Model Monitor file classes (sagemaker-core, offline under moto).

Expected values: the generator with and without a ``Drift`` (the same seed differs only where the drift says), and
small hand-computed distances.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ml_constructs.glue_etl.runtime import fitted, raw_baseline
from ml_constructs.monitoring.runtime.drift_job import analyzer
from stacks.mapping import etl_spec
from worked_example.generator import Drift, generate_events
from worked_example.schema import feature_fields

N_BASELINE = 4000
N_TRAFFIC = 1500
BASELINE_SEED, TRAFFIC_SEED = 11, 12
FIELDS = fitted.document(etl_spec(), [])["fields"]
CATEGORICAL = {f.name for f in feature_fields() if f.kind != "numeric"}
CHANNEL_SHIFT = Drift(category_weights={"channel": {"in_store": 0.2, "online": 0.6, "mobile_app": 0.15, "atm": 0.05}})


@pytest.fixture(scope="module")
def files() -> tuple[dict[str, Any], dict[str, Any]]:
    return raw_baseline.from_events(generate_events(N_BASELINE, BASELINE_SEED), FIELDS)


def capture_lines(events: Iterable[Mapping[str, Any]], *, batch: int = 1, base64_every: int = 0) -> list[str]:
    """Data-capture lines as SageMaker writes them for raw-event requests: ``application/json`` (one event,
    encoding JSON) or ``application/jsonlines`` (``batch`` events); every ``base64_every``-th line BASE64."""
    events = list(events)
    lines = []
    for number, start in enumerate(range(0, len(events), batch), 1):
        chunk = events[start : start + batch]
        body = json.dumps(chunk[0]) if batch == 1 else "\n".join(json.dumps(e) for e in chunk)
        encoding = "JSON"
        if base64_every and number % base64_every == 0:
            body, encoding = base64.b64encode(body.encode()).decode(), "BASE64"
        content_type = "application/json" if batch == 1 else "application/jsonlines"
        endpoint_input = {"observedContentType": content_type, "mode": "INPUT", "data": body, "encoding": encoding}
        lines.append(json.dumps({"captureData": {"endpointInput": endpoint_input}}))
    return lines


def run(files: Sequence[Mapping[str, Any]], lines: Iterable[str]) -> dict[str, Any]:
    return analyzer.analyze(lines, files[0], files[1], distance_threshold=None)


def violated(report: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in report["constraint_violations"]["violations"]}


def test_baseline_describes_every_raw_feature_field(files) -> None:
    statistics, constraints = files
    kinds = {f["name"]: f["inferred_type"] for f in statistics["features"]}
    assert kinds == {
        f.name: "String" if f.name in CATEGORICAL else "Fractional" if f.type == "double" else "Integral"
        for f in feature_fields()
    }
    channel = next(f for f in statistics["features"] if f["name"] == "channel")
    buckets = channel["string_statistics"]["distribution"]["categorical"]["buckets"]
    assert sum(b["count"] for b in buckets) == N_BASELINE
    assert {b["value"] for b in buckets} == {"in_store", "online", "mobile_app", "atm"}
    card = next(f for f in statistics["features"] if f["name"] == "card_present")
    assert {b["value"] for b in card["string_statistics"]["distribution"]["categorical"]["buckets"]} == {
        "true",
        "false",
    }
    distance = next(c for c in constraints["features"] if c["name"] == "distance_from_home_km")
    assert distance["completeness"] == 0.9  # ~5 % missing in the generator: 0.95 rounded down to a tenth


def test_traffic_like_training_has_no_violation_in_any_encoding(files) -> None:
    events = list(generate_events(N_TRAFFIC, TRAFFIC_SEED))
    for lines in (capture_lines(events), capture_lines(events, batch=25, base64_every=3)):
        report = run(files, lines)
        assert report["records"] == N_TRAFFIC
        assert violated(report) == set()
        assert set(report["metrics"]["baseline_drift"]) == {f.name for f in feature_fields()}


def test_numeric_and_categorical_drift_name_the_raw_field(files) -> None:
    shifted = run(files, capture_lines(generate_events(N_TRAFFIC, TRAFFIC_SEED, drift=Drift(shift={"amount": 50.0}))))
    assert violated(shifted) == {("amount", analyzer.BASELINE_DRIFT_CHECK)}
    report = run(files, capture_lines(generate_events(N_TRAFFIC, TRAFFIC_SEED, drift=CHANNEL_SHIFT), batch=10))
    drifted = {name for name, _ in violated(report)}
    assert "channel" in drifted
    # merchants, card presence, amounts and distances follow the channel in the generator; account age does not
    assert "account_age_days" not in drifted
    (channel,) = [v for v in report["constraint_violations"]["violations"] if v["feature_name"] == "channel"]
    match = re.search(r"distance: ([0-9.e+-]+) exceeds threshold: ([0-9.e+-]+)", channel["description"])
    assert match is not None
    assert float(match[1]) == pytest.approx(report["metrics"]["baseline_drift"]["channel"], rel=1e-5)
    assert float(match[1]) > 0.3  # in_store 0.55 -> 0.2 in the generator's weights


def test_type_mismatch_and_missing_fields_of_raw_events(files) -> None:
    events = list(generate_events(200, TRAFFIC_SEED))
    for e in events[:50]:
        e["amount"] = str(e["amount"])  # a number sent as a string
    for e in events[:100]:
        del e["channel"]
    report = run(files, capture_lines(events))
    assert ("amount", analyzer.DATA_TYPE_CHECK) in violated(report)
    assert ("channel", analyzer.COMPLETENESS_CHECK) in violated(report)
    assert report["metrics"]["completeness"]["channel"] == 0.5


def test_categorical_linf_distance() -> None:
    # shares: baseline a .5 b .5; current a .8 b .1 c .1 -> max(.3, .4, .1)
    assert analyzer.categorical_linf_distance({"a": 50, "b": 50}, {"a": 8, "b": 1, "c": 1}) == pytest.approx(0.4)
    assert analyzer.categorical_linf_distance({"a": 3}, {"a": 7}) == 0.0


# --- The SageMaker SDK reads our files, and we honour what it writes -------------------------------------------


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory):
    """sagemaker-core's Model Monitor file classes with a session on moto's S3 (``from_file_path`` uploads the
    file to the session's default bucket and reads it back)."""
    import boto3
    from moto import mock_aws
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.model_monitor import monitoring_files

    with mock_aws():
        yield monitoring_files, Session(boto_session=boto3.Session(region_name="us-east-1"))


def test_sdk_loads_what_we_write_and_its_feature_override_is_honoured(files, sdk, tmp_path: Path) -> None:
    monitoring_files, session = sdk
    report = run(files, capture_lines(generate_events(N_TRAFFIC, TRAFFIC_SEED, drift=CHANNEL_SHIFT)))
    written = {
        "statistics.json": files[0],
        "constraints.json": files[1],
        "constraint_violations.json": report["constraint_violations"],
    }
    for name, body in written.items():
        (tmp_path / name).write_text(json.dumps(body))
    statistics = monitoring_files.Statistics.from_file_path(
        str(tmp_path / "statistics.json"), sagemaker_session=session
    )
    constraints = monitoring_files.Constraints.from_file_path(
        str(tmp_path / "constraints.json"), sagemaker_session=session
    )
    violations = monitoring_files.ConstraintViolations.from_file_path(
        str(tmp_path / "constraint_violations.json"), sagemaker_session=session
    )
    assert statistics.body_dict == files[0]
    assert constraints.body_dict == files[1]
    assert violations.body_dict == report["constraint_violations"]
    assert ("channel", analyzer.BASELINE_DRIFT_CHECK) in violated(report)

    constraints.set_monitoring(False, "channel")  # the SDK's per-feature switch
    edited = constraints.body_dict
    channel = next(f for f in edited["features"] if f["name"] == "channel")
    assert channel["monitoring_config_overrides"] == {"evaluate_constraints": "Disabled"}
    again = run((files[0], edited), capture_lines(generate_events(N_TRAFFIC, TRAFFIC_SEED, drift=CHANNEL_SHIFT)))
    assert "channel" not in {name for name, _ in violated(again)}
    assert violated(again) == violated(report) - {("channel", analyzer.BASELINE_DRIFT_CHECK)}
    assert again["metrics"]["baseline_drift"]["channel"] == report["metrics"]["baseline_drift"]["channel"]
