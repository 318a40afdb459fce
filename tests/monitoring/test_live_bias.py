"""Live bias in the drift job: DPPL per facet value from captured raw-event requests and their scores, put to
CloudWatch with the drift metrics (no labels needed)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ml_constructs.glue_etl.runtime import fitted, raw_baseline
from ml_constructs.monitoring.runtime import drift_job
from ml_constructs.monitoring.runtime.drift_job import live_bias
from stacks.mapping import etl_spec
from tests.monitoring.test_drift_job import BUCKET, ENDPOINT, NAMESPACE, WINDOW_END, event, put_capture
from worked_example.generator import generate_events

pytestmark = pytest.mark.usefixtures("offline_aws")

# channel and score per event; predicted positive iff score >= 0.5
TRAFFIC = [("online", 0.9), ("online", 0.8), ("online", 0.1), ("online", 0.2)]  # 2 of 4 predicted positive
TRAFFIC += [("in_store", 0.7), ("in_store", 0.3), ("in_store", 0.1), ("in_store", 0.2)]  # 1 of 4
TRAFFIC += [("atm", 0.1), ("atm", 0.3)]  # 0 of 2; mobile_app: no traffic at all


@pytest.fixture
def aws():
    fields = fitted.document(etl_spec(), [])["fields"]  # the raw fields, as the ETL's baseline describes them
    statistics, constraints = raw_baseline.from_events(generate_events(200, 5), fields)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="baseline/statistics.json", Body=json.dumps(statistics).encode())
        s3.put_object(Bucket=BUCKET, Key="baseline/constraints.json", Body=json.dumps(constraints).encode())
        yield s3, cloudwatch


def capture(events: list[dict[str, Any]], scores: list[float]) -> str:
    """One capture line as SageMaker writes it: a JSON Lines request and the CSV response, one score per line."""
    request = "\n".join(json.dumps(e) for e in events)
    response = "".join(f"{s}\n" for s in scores)
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": "application/jsonlines", "data": request, "encoding": "JSON"},
                "endpointOutput": {"observedContentType": "text/csv", "data": response, "encoding": "CSV"},
            }
        }
    )


def lines() -> list[str]:
    events = list(generate_events(len(TRAFFIC), 9))
    for e, (channel, _) in zip(events, TRAFFIC, strict=True):
        e["channel"] = channel
    scores = [s for _, s in TRAFFIC]
    pairs = [capture(events[i : i + 2], scores[i : i + 2]) for i in range(0, len(events), 2)]  # two per request
    csv_request = json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": "text/csv", "data": "1,2,3", "encoding": "CSV"},
                "endpointOutput": {"observedContentType": "text/csv", "data": "0.9\n", "encoding": "CSV"},
            }
        }
    )
    return [*pairs, csv_request]  # a CSV request has no field names: skipped by the bias count


def dppl_datum(cloudwatch: Any, value: str) -> list[float]:
    dimensions = [
        {"Name": "Endpoint", "Value": ENDPOINT},
        {"Name": "Facet", "Value": "channel"},
        {"Name": "Value", "Value": value},
    ]
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": live_bias.METRIC_DPPL, "Dimensions": dimensions},
                    "Period": 3600,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=WINDOW_END - timedelta(hours=2),
        EndTime=WINDOW_END + timedelta(hours=2),
    )
    return list(response["MetricDataResults"][0]["Values"])


def test_the_drift_job_puts_the_live_dppl_of_each_facet_value(aws) -> None:
    s3, cloudwatch = aws
    put_capture(s3, "09", "part-a", lines())
    result = drift_job.handler(
        event(bias={"facets": ["channel"], "threshold": 0.5}), None, s3=s3, cloudwatch=cloudwatch
    )
    found = result["bias"]
    assert (found["events"], found["skipped"]) == (10, 1)
    channel = found["facets"]["channel"]
    # online: 2/4 predicted positive; the rest (in_store, atm): 1/6 -> DPPL = 1/6 - 2/4
    assert channel["online"]["DPPL"] == pytest.approx(1 / 6 - 2 / 4)
    # in_store: 1/4; the rest 2/6 -> 2/6 - 1/4
    assert channel["in_store"]["DPPL"] == pytest.approx(2 / 6 - 1 / 4)
    # atm: 0/2; the rest 3/8
    assert channel["atm"]["DPPL"] == pytest.approx(3 / 8)
    assert "mobile_app" not in channel  # no traffic: no value, no datum
    assert dppl_datum(cloudwatch, "online") == [pytest.approx(1 / 6 - 2 / 4)]
    assert dppl_datum(cloudwatch, "atm") == [pytest.approx(3 / 8)]
    assert dppl_datum(cloudwatch, "mobile_app") == []
    assert result["put_metric_data_calls"] == 1  # within the same batched PutMetricData calls as the drift metrics


def test_without_bias_in_the_event_no_bias_is_measured(aws) -> None:
    s3, cloudwatch = aws
    put_capture(s3, "09", "part-a", lines())
    result = drift_job.handler(event(), None, s3=s3, cloudwatch=cloudwatch)
    assert "bias" not in result
    assert dppl_datum(cloudwatch, "online") == []


def test_a_bad_bias_object_is_one_clear_error() -> None:
    with pytest.raises(drift_job.InvalidEventError, match="bias="):
        drift_job.check_event(event(bias={"facets": "channel", "threshold": 0.5}))


def test_response_scores_of_every_documented_shape() -> None:
    csv = {"data": "0.1\n0.9\n", "encoding": "CSV", "observedContentType": "text/csv"}
    assert live_bias.response_scores(csv) == [0.1, 0.9]
    body = '{"predictions": [{"score": 0.2}]}'
    as_json = {"data": body, "encoding": "JSON", "observedContentType": "application/json"}
    assert live_bias.response_scores(as_json) == [0.2]
    with pytest.raises(ValueError, match="endpointOutput"):
        live_bias.response_scores(None)
