"""Post-training bias in the evaluation function: DPPL, DI, RD and AD per facet value at the decision threshold, the
bias gate joined into the verdict, and Clarify's analysis.json written where the run's evaluation goes."""

from __future__ import annotations

import json

import pytest

from ml_constructs.training.runtime.handler import InvalidEventError, handler
from ml_constructs.training.runtime.metrics import InvalidGateError, MalformedOutputError
from tests.training.conftest import BUCKET
from tests.training.test_evaluate_handler import PREFIX, event, put

pytestmark = pytest.mark.usefixtures("offline_aws")


# (label, score, channel); predicted positive iff score >= 0.5
ROWS = [
    (1, 0.9, "online"),  # online: n 4, predicted 2, TP 1, TN 2, positives 1
    (0, 0.8, "online"),
    (0, 0.1, "online"),
    (0, 0.2, "online"),
    (1, 0.7, "in_store"),  # in_store: n 4, predicted 1, TP 1, TN 2, positives 2
    (1, 0.3, "in_store"),
    (0, 0.1, "in_store"),
    (0, 0.2, "in_store"),
    (0, 0.1, "atm"),  # atm: n 2, predicted 0, TN 2, no positives
    (0, 0.3, "atm"),
]
ANALYSIS = f"s3://{BUCKET}/evaluation/run-1-bias/analysis.json"


def joined(rows=ROWS) -> str:
    """As the transform writes them: the OutputFilter keeps the label, the facets and SageMakerOutput."""
    return "".join(json.dumps({"is_fraud": y, "channel": c, "SageMakerOutput": f"{s}\n"}) + "\n" for y, s, c in rows)


def run(s3, bounds=None, **extra):
    put(s3, PREFIX + "part-0.out", joined())
    spec = {"label": "is_fraud", "facets": ["channel"], "analysis_uri": ANALYSIS, **extra}
    if bounds is not None:
        spec["bounds"] = bounds
    return handler(event(thresholds={"auc": 0.0}, bias=spec), None, s3=s3)


def test_post_training_metrics_per_facet_value(s3):
    result = run(s3)
    post = result["bias"]["post_training"]["channel"]
    # online against in_store + atm (n 6, predicted 1, TP 1, TN 4, positives 2)
    assert post["online"]["DPPL"] == pytest.approx(1 / 6 - 2 / 4)
    assert post["online"]["DI"] == pytest.approx((2 / 4) / (1 / 6))
    assert post["online"]["RD"] == pytest.approx(1 / 2 - 1 / 1)
    assert post["online"]["AD"] == pytest.approx(5 / 6 - 3 / 4)
    # in_store against online + atm (n 6, predicted 2, TP 1, TN 4, positives 1)
    assert post["in_store"]["DPPL"] == pytest.approx(2 / 6 - 1 / 4)
    assert post["in_store"]["DI"] == pytest.approx((1 / 4) / (2 / 6))
    assert post["in_store"]["RD"] == pytest.approx(1 / 1 - 1 / 2)
    # atm has no positive label: its recall is 0/0, RD undefined
    assert post["atm"]["RD"] is None
    assert post["atm"]["DI"] == 0.0
    assert post["atm"]["rows"] == 2
    assert result["bias"]["passed"] is True
    assert result["passed"] is True  # no bound set: the bias gate is off


def test_a_broken_bound_rejects_the_model_naming_facet_value_metric_and_bound(s3):
    result = run(s3, bounds={"max_abs_dppl": 0.35})
    # |DPPL|: online 1/3, in_store 1/12, atm 3/8 = 0.375 > 0.35
    assert result["bias"]["failures"] == ["channel=atm: |DPPL| 0.375 is above the bound max_abs_dppl=0.35"]
    assert result["passed"] is False
    assert result["failures"] == result["bias"]["failures"]  # the quality metrics pass (auc >= 0)
    # DI: online 3, in_store 0.75, atm 0: two values below the four-fifths rule
    failures = run(s3, bounds={"min_di": 0.8})["bias"]["failures"]
    assert failures == [
        "channel=atm: DI 0 is below the bound min_di=0.8",
        "channel=in_store: DI 0.75 is below the bound min_di=0.8",
    ]


def test_analysis_json_is_written_in_clarify_s_layout(s3):
    result = run(s3)
    assert result["bias"]["analysis_uri"] == ANALYSIS
    document = json.loads(s3.get_object(Bucket=BUCKET, Key="evaluation/run-1-bias/analysis.json")["Body"].read())
    section = document["post_training_bias_metrics"]
    assert section["label"] == "is_fraud"
    atm = next(v for v in section["facets"]["channel"] if v["value_or_threshold"] == "atm")
    assert [(m["name"], m["value"]) for m in atm["metrics"]][2:] == [("RD", None), ("AD", pytest.approx(0.75 - 1))]


def test_bad_bias_settings_are_one_clear_error(s3):
    with pytest.raises(InvalidGateError, match=r"bias_bounds\.max_dppl is not a bias bound"):
        run(s3, bounds={"max_dppl": 0.1})
    with pytest.raises(InvalidEventError, match=r"bias\.facets"):
        handler(event(bias={"label": "is_fraud", "facets": "channel"}), None, s3=s3)


def test_a_line_without_the_facet_is_malformed(s3):
    put(s3, PREFIX + "part-0.out", json.dumps({"is_fraud": 1, "SageMakerOutput": 0.9}) + "\n")
    with pytest.raises(MalformedOutputError, match="no facet field"):
        handler(event(bias={"label": "is_fraud", "facets": ["channel"]}), None, s3=s3)
