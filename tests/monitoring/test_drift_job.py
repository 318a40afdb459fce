"""The drift-monitoring Lambda handler against moto: capture objects in S3, reports back in S3, metrics in CloudWatch.

Capture objects use the documented data-capture key layout ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``;
objects outside the window hold drifted traffic, so reading them would show up as a violation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ml_constructs.monitoring.runtime import drift_job
from ml_constructs.monitoring.runtime.drift_job import analyzer
from tests.monitoring.test_analyzer import (
    COLUMNS,
    TRAFFIC_SEED,
    baseline_files,
    capture_lines,
    check_statistics,
    check_violations,
    feature_rows,
)
from worked_example.generator import Drift

pytestmark = pytest.mark.usefixtures("offline_aws")

BUCKET = "mlspec-monitoring"
ENDPOINT = "mlspec-endpoint"
NAMESPACE = "MLSpecialty/DataQuality"
END_TIME = "2026-11-20T10:05:00Z"
WINDOW_END = datetime(2026, 11, 20, 10, tzinfo=UTC)
SHIFTED = Drift(shift={"amount": 50.0})


@pytest.fixture(scope="module")
def files() -> tuple[dict[str, Any], dict[str, Any]]:
    return baseline_files()


@pytest.fixture
def aws(files):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="baseline/statistics.json", Body=json.dumps(files[0]).encode())
        s3.put_object(Bucket=BUCKET, Key="baseline/constraints.json", Body=json.dumps(files[1]).encode())
        yield s3, cloudwatch


def put_capture(s3: Any, hour: str, name: str, lines: list[str], variant: str = "AllTraffic") -> str:
    key = f"datacapture/{ENDPOINT}/{variant}/2026/11/20/{hour}/{name}.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())
    return key


def event(**overrides: Any) -> dict[str, Any]:
    return {
        "capture_s3_uri": f"s3://{BUCKET}/datacapture",
        "endpoint_name": ENDPOINT,
        "window_hours": 1,
        "baseline_statistics_s3_uri": f"s3://{BUCKET}/baseline/statistics.json",
        "baseline_constraints_s3_uri": f"s3://{BUCKET}/baseline/constraints.json",
        "output_s3_uri": f"s3://{BUCKET}/monitoring/reports",
        "cloudwatch_namespace": NAMESPACE,
        "distance_threshold": 0.1,
        "end_time": END_TIME,
        **overrides,
    }


def metric_value(cloudwatch: Any, name: str, feature: str | None = None) -> list[float]:
    dimensions = [{"Name": "Endpoint", "Value": ENDPOINT}]
    if feature is not None:
        dimensions.append({"Name": "Feature", "Value": feature})
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dimensions},
                    "Period": 3600,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=WINDOW_END - timedelta(hours=2),
        EndTime=WINDOW_END + timedelta(hours=2),
    )
    return list(response["MetricDataResults"][0]["Values"])


def read_json(s3: Any, uri: str) -> Any:
    bucket, key = drift_job.parse_s3_uri(uri, "uri")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_clean_window_reads_only_its_hours_and_writes_reports_and_metrics(aws) -> None:
    s3, cloudwatch = aws
    rows = list(feature_rows(1500, TRAFFIC_SEED))
    lines = list(capture_lines(rows))
    put_capture(s3, "09", "part-a", lines[:700])
    put_capture(s3, "09", "part-b", lines[700:])
    # Outside the window (the hour before, and the current hour): drifted traffic that must not be read.
    drifted = list(capture_lines(feature_rows(500, TRAFFIC_SEED, SHIFTED)))
    put_capture(s3, "08", "old", drifted)
    put_capture(s3, "10", "current", drifted)

    result = drift_job.handler(event(), None, s3=s3, cloudwatch=cloudwatch)

    assert result["status"] == "Completed"
    assert result["window"] == {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z", "hours": 1}
    assert (result["objects"], result["records"], result["violations"]) == (2, 1500, 0)
    assert result["report_s3_uri"] == (
        f"s3://{BUCKET}/monitoring/reports/{ENDPOINT}/2026/11/20/10/constraint_violations.json"
    )
    report = read_json(s3, result["report_s3_uri"])
    check_violations(report)
    assert report == {"violations": []}
    statistics = read_json(s3, result["statistics_s3_uri"])
    check_statistics(statistics)
    assert statistics["dataset"]["item_count"] == 1500

    assert result["metric_data"] == len(COLUMNS) + 3
    assert result["put_metric_data_calls"] == 1
    listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    drift_features = {
        d["Value"]
        for m in listed
        if m["MetricName"] == analyzer.METRIC_FEATURE_DRIFT
        for d in m["Dimensions"]
        if d["Name"] == "Feature"
    }
    assert drift_features == set(COLUMNS)
    assert metric_value(cloudwatch, "ViolationCount") == [0.0]
    assert metric_value(cloudwatch, "RecordsAnalyzed") == [1500.0]
    assert metric_value(cloudwatch, "FeatureBaselineDrift", "amount")[0] < 0.1


def test_drifted_window_reports_the_violation_and_puts_the_metric(aws) -> None:
    s3, cloudwatch = aws
    put_capture(s3, "08", "a", list(capture_lines(feature_rows(600, TRAFFIC_SEED, SHIFTED))))
    # A second variant (a shadow or A/B variant) in the same window is read too.
    put_capture(s3, "09", "b", list(capture_lines(feature_rows(600, TRAFFIC_SEED + 1, SHIFTED))), variant="Canary")

    result = drift_job.handler(event(window_hours=2), None, s3=s3, cloudwatch=cloudwatch)

    assert result["status"] == "CompletedWithViolations"
    assert (result["objects"], result["records"]) == (2, 1200)
    assert result["violation_types"] == {analyzer.BASELINE_DRIFT_CHECK: 1}
    assert result["drifted_features"] == ["amount"]
    report = read_json(s3, result["report_s3_uri"])
    check_violations(report)
    assert [(v["feature_name"], v["constraint_check_type"]) for v in report["violations"]] == [
        ("amount", analyzer.BASELINE_DRIFT_CHECK)
    ]
    assert metric_value(cloudwatch, "ViolationCount") == [1.0]
    assert metric_value(cloudwatch, "FeatureBaselineDrift", "amount")[0] > 0.3


def test_malformed_lines_in_s3_are_counted_with_object_and_line(aws) -> None:
    s3, cloudwatch = aws
    lines = list(capture_lines(feature_rows(200, TRAFFIC_SEED)))
    key = put_capture(s3, "09", "mixed", [*lines[:5], "{truncated", *lines[5:]])

    result = drift_job.handler(event(), None, s3=s3, cloudwatch=cloudwatch)

    assert result["status"] == "Completed"
    assert result["records"] == 200
    assert result["malformed"]["lines"] == 1
    assert result["malformed"]["examples"] == [
        {"source": f"s3://{BUCKET}/{key}", "line": 6, "reason": "not a JSON object"}
    ]
    assert metric_value(cloudwatch, "MalformedRecords") == [1.0]


def test_empty_window_is_handled_cleanly(aws) -> None:
    s3, cloudwatch = aws
    put_capture(s3, "07", "old", list(capture_lines(feature_rows(50, TRAFFIC_SEED))))

    result = drift_job.handler(event(), None, s3=s3, cloudwatch=cloudwatch)

    assert result["status"] == "NoData"
    assert (result["objects"], result["records"], result["violations"]) == (0, 0, 0)
    assert "report_s3_uri" not in result
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="monitoring/")
    assert metric_value(cloudwatch, "RecordsAnalyzed") == [0.0]
    assert metric_value(cloudwatch, "ViolationCount") == []  # no misleading "0 violations"
    assert {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]} == {
        "RecordsAnalyzed",
        "MalformedRecords",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"window_hours": 0}, "window_hours=0"),
        ({"distance_threshold": 1.5}, "distance_threshold=1.5"),
        ({"capture_s3_uri": "s3://bucket-only"}, "capture_s3_uri"),
        ({"end_time": "yesterday"}, "end_time='yesterday'"),
        ({"cloudwatch_namespace": "AWS/SageMaker"}, "cloudwatch_namespace"),
        ({"endpoint_name": "a/b"}, "endpoint_name"),
    ],
)
def test_invalid_events_are_rejected(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(drift_job.InvalidEventError, match=message):
        drift_job.check_event(event(**overrides))
    with pytest.raises(drift_job.InvalidEventError, match="missing"):
        drift_job.check_event({k: v for k, v in event().items() if k != "output_s3_uri"})


def test_the_runtime_folder_runs_as_the_lambda_code_root(tmp_path) -> None:
    """The code asset is ml_constructs/monitoring/runtime/, whole, and the shared bias metrics staged beside it: with
    that folder as the only code on the path (no ml_constructs package but the staged shared one), the handler
    imports and finds its analyzer and the bias metrics."""
    import subprocess
    import sys
    from pathlib import Path

    from ml_constructs.assets import lambda_code_dir
    from ml_constructs.monitoring.construct import RUNTIME_DIR

    assert Path(drift_job.__file__).resolve().parent.parent == RUNTIME_DIR
    lambda_code_dir(RUNTIME_DIR, tmp_path)
    code = (
        "import importlib.util, drift_job; from drift_job import analyzer; assert drift_job.analyzer is analyzer; "
        "from ml_constructs.shared_runtime import bias; assert bias.__file__.startswith(sys.path[0]), bias.__file__; "
        "assert importlib.util.find_spec('ml_constructs.glue_etl') is None; print(drift_job.handler.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'code')!r}); {code}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "handler"


# --- The baseline of the model the endpoint serves -------------------------------------------------------------------


def serve(sagemaker: Any, model: str, containers: list[dict[str, str]]) -> None:
    """The endpoint serving ``model`` (moto keeps a model's containers as given)."""
    sagemaker.create_model(ModelName=model, ExecutionRoleArn="arn:aws:iam::123456789012:role/m", Containers=containers)
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.t2.medium",
    }
    sagemaker.create_endpoint_config(EndpointConfigName=f"{model}-config", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{model}-config")


def put_baseline(s3: Any, folder: str, files: tuple[dict[str, Any], dict[str, Any]]) -> None:
    for name, body in zip(("statistics.json", "constraints.json"), files, strict=True):
        s3.put_object(Bucket=BUCKET, Key=f"{folder}{name}", Body=json.dumps(body).encode())


@pytest.fixture(scope="module")
def drifted_files() -> tuple[dict[str, Any], dict[str, Any]]:
    return analyzer.baseline(feature_rows(1500, TRAFFIC_SEED + 7, SHIFTED), COLUMNS)


@pytest.fixture
def serving(aws, files, drifted_files):
    """The configured baseline is of drifted traffic (clean traffic violates it); the serving model's own
    baseline, next to its preprocessing artifact, is of clean traffic: which one was used shows in the verdict."""
    s3, cloudwatch = aws
    put_baseline(s3, "baseline/", drifted_files)
    put_baseline(s3, "models/run-7/baseline/", files)
    put_capture(s3, "09", "clean", list(capture_lines(feature_rows(800, TRAFFIC_SEED))))
    return s3, cloudwatch, boto3.client("sagemaker", region_name="us-east-1")


def test_the_job_reads_the_baseline_of_the_model_the_endpoint_serves(serving) -> None:
    s3, cloudwatch, sagemaker = serving
    serve(
        sagemaker,
        "run-7",
        [
            {"Image": "sklearn", "ModelDataUrl": f"s3://{BUCKET}/models/run-7/preprocessing/model.tar.gz"},
            {"Image": "xgboost", "ModelDataUrl": f"s3://{BUCKET}/models/run-7/output/model.tar.gz"},
        ],
    )
    result = drift_job.handler(
        event(baseline_of_serving_model=True), None, s3=s3, cloudwatch=cloudwatch, sagemaker=sagemaker
    )
    assert result["baseline"] == {
        "source": "serving model",
        "model": "run-7",
        "statistics_s3_uri": f"s3://{BUCKET}/models/run-7/baseline/statistics.json",
        "constraints_s3_uri": f"s3://{BUCKET}/models/run-7/baseline/constraints.json",
    }
    assert result["status"] == "Completed"  # clean traffic against its own model's clean baseline


def test_a_model_without_a_preprocessing_artifact_falls_back_to_the_configured_baseline(serving) -> None:
    s3, cloudwatch, sagemaker = serving
    serve(sagemaker, "old", [{"Image": "xgboost", "ModelDataUrl": f"s3://{BUCKET}/models/old/output/model.tar.gz"}])
    result = drift_job.handler(
        event(baseline_of_serving_model=True), None, s3=s3, cloudwatch=cloudwatch, sagemaker=sagemaker
    )
    assert result["baseline"]["source"] == "configured"
    assert result["baseline"]["model"] == "old"
    assert "not an inference pipeline" in result["baseline"]["reason"]
    assert result["status"] == "CompletedWithViolations"  # clean traffic against the drifted configured baseline


def test_without_the_option_the_configured_baseline_is_used_and_named(aws) -> None:
    s3, cloudwatch = aws
    result = drift_job.handler(event(), None, s3=s3, cloudwatch=cloudwatch)
    assert result["baseline"] == {
        "source": "configured",
        "statistics_s3_uri": f"s3://{BUCKET}/baseline/statistics.json",
        "constraints_s3_uri": f"s3://{BUCKET}/baseline/constraints.json",
    }


def test_the_option_must_be_a_boolean() -> None:
    with pytest.raises(drift_job.InvalidEventError, match="baseline_of_serving_model='yes'"):
        drift_job.check_event(event(baseline_of_serving_model="yes"))
