"""Pre-training bias in the ETL: Clarify's CI, DPL, KL and JS of each facet value on the train split, before
rebalancing, in the report and in a Clarify-layout analysis.json beside it."""

from __future__ import annotations

import json

import pytest

from ml_constructs.glue_etl.runtime.contract import BIAS_ANALYSIS_KEY, COPY_COLUMN, EtlParams
from ml_constructs.shared_runtime import bias
from tests.glue.conftest import BIAS_FACETS, RUN_TIME, TEST_PARAMS, Run, write_raw_json
from worked_example.generator import generate_events
from worked_example.schema import FIELDS_BY_NAME


def test_the_report_holds_the_pre_training_metrics_of_the_train_split_before_rebalancing(spark, json_run: Run):
    report = json_run.report["bias"]
    assert report["split"] == "train"
    assert report["before_rebalancing"] is True
    assert list(report["facets"]) == list(BIAS_FACETS)
    # Expected: recounted from what the job wrote, the train rows of prepared/ that are originals (copy 0), i.e.
    # the train split before oversampling, then the same formulas.
    train = spark.read.parquet(str(json_run.curated / "prepared" / "split=train")).filter(f"{COPY_COLUMN} = 0")
    rows = train.select(*BIAS_FACETS, "is_fraud").collect()  # one Spark job, about two thousand small rows
    before = json_run.report["class_balance"]["train_before"]
    for facet in BIAS_FACETS:
        counts: dict[str, bias.Counts] = {}
        for row in rows:
            counts.setdefault(str(row[facet]), bias.Counts()).add(row["is_fraud"])
        expected = bias.pre_training(counts, [str(v) for v in FIELDS_BY_NAME[facet].values])
        reported = report["facets"][facet]
        assert sum(v["rows"] for v in reported.values()) == before["rows"]  # not the oversampled train_after rows
        assert sum(v["positives"] for v in reported.values()) == before["positives"]
        for value, metrics in expected.items():
            assert reported[value]["rows"] == counts[value].n
            assert {k: reported[value][k] for k in bias.PRE_TRAINING} == pytest.approx(metrics)
    assert json_run.report["class_balance"]["train_after"]["positives"] > before["positives"]  # rebalancing did run


def test_analysis_json_has_clarify_s_layout(json_run: Run):
    path = json_run.curated / BIAS_ANALYSIS_KEY
    assert json_run.report["bias"]["analysis"] == str(path)
    section = json.loads(path.read_text())["pre_training_bias_metrics"]
    assert section["label"] == "is_fraud"
    assert section["label_value_or_threshold"] == "1"
    tiers = {v["value_or_threshold"]: v["metrics"] for v in section["facets"]["customer_tier"]}
    assert sorted(tiers) == sorted(FIELDS_BY_NAME["customer_tier"].values)
    ci = {value: next(m["value"] for m in metrics if m["name"] == "CI") for value, metrics in tiers.items()}
    assert ci == pytest.approx({v: json_run.report["bias"]["facets"]["customer_tier"][v]["CI"] for v in ci})
    assert "clarify" not in json_run.report["bias"]  # the Clarify layout goes to analysis.json only


@pytest.mark.slow  # two more ETL runs (tens of seconds on 2 cores): `make test-slow`
def test_the_rebalance_ratio_does_not_change_the_pre_training_metrics(spark, tmp_path):
    """Two runs of a small raw zone that differ only in rebalance_ratio (off, and as many positives as negatives)
    report the same metrics: they are measured before oversampling."""
    from ml_constructs.glue_etl.runtime import pipeline
    from stacks.mapping import etl_spec

    raw = write_raw_json(list(generate_events(600, 11)), tmp_path / "raw", files_per_day=1)
    reports = []
    for ratio in (0.0, 1.0):
        params = EtlParams(raw_format="json", rebalance_ratio=ratio, min_positives=1, **TEST_PARAMS)
        report = pipeline.run(
            spark, str(raw), str(tmp_path / f"curated-{ratio}"), etl_spec(), params, RUN_TIME, ("channel",)
        )
        reports.append(report)
    off, full = reports
    assert off["class_balance"]["train_after"] != full["class_balance"]["train_after"]  # the ratio mattered
    assert off["bias"]["facets"] == full["bias"]["facets"]
