"""The extreme valid configs synthesize and pass cfn-lint: every bound the loader allows is one AWS accepts.

Instead of synthesizing per generated example (jsii makes a synthesis take seconds), two configs put every
number at its limit: ``MAX`` at the upper bounds (default run), ``MIN`` at the lower bounds (marked slow: `make
test-slow`). A test checks that they really sit at the bounds the models declare, so a new bound is covered.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from ml_config import load_config
from ml_config.checks import longest_lake_bucket_name
from tests.compliance.test_cfn_lint import IGNORED
from tests.conftest import resources, synth
from tests.unit.test_config_hardening import KEYS, numeric_keys

MAX = {
    "profile": "production",
    "prefix": "Xn-0123456789-abcdE-",
    "lake.noncurrent_version_expiration_days": "36500",
    "lake.abort_incomplete_multipart_days": "36500",
    "lake.raw.standard_ia_days": "36468",
    "lake.raw.glacier_ir_days": "36498",
    "lake.raw.glacier_days": "36499",
    "lake.raw.deep_archive_days": "36500",
    "lake.curated.intelligent_tiering_days": "36500",
    "lake.query_results.one_zone_ia_days": "36499",
    "lake.query_results.expiration_days": "36500",
    "lake.object_lock.retention_days": "36500",
    "lake.access_logs.expiration_days": "36500",
    "network.cidr": "52.0.0.0/16",
    "network.max_azs": "6",
    "network.subnet_mask": "28",
    "logs.retention_days": "3653",
    "stream.capacity_mode": "provisioned",
    "stream.shard_count": "500",
    "stream.retention_hours": "8760",
    "firehose.buffer_interval_seconds": "900",
    "firehose.buffer_size_mib": "128",
    "alerts.email": "a" * 64 + "@" + "b" * 63 + ".example.com",
    "alerts.iterator_age_minutes": "10080",
    "alerts.data_freshness_seconds": "86400",
    "catalog.crawler_schedule": "cron(59 23 L DEC ? 2199)",
    "athena.bytes_scanned_cutoff_mb": "10000000",
    "etl.glue_version": "5.1",
    "etl.worker_type": "G.8X",
    "etl.workers": "299",
    "etl.max_retries": "10",
    "etl.timeout_minutes": "2880",
    "etl.outlier_k": "10",
    "etl.n_bins": "100",
    "etl.knn_k": "100",
    "etl.knn_reference_rows": "5000",
    "etl.mice_max_rounds": "50",
    "etl.mice_tolerance": "1",
    "etl.rebalance_ratio": "1",
    "etl.smote_k": "100",
    "etl.smote_max_positives": "200000",
    "etl.train_fraction": "0.98",
    "etl.validation_fraction": "0.02",
    "training.instance_type": "ml.p5.48xlarge",
    "training.instance_count": "20",
    "training.volume_size_gb": "16384",
    "training.max_runtime_minutes": "40320",
    "training.transform_instance_type": "ml.p3.16xlarge",
    "training.explain_instance_type": "ml.g6e.48xlarge",
    "training.explain_max_runtime_minutes": "12960",
    "training.decision_threshold": "0.999",
    "training.schedule": "rate(365 days)",
    "training.hyperparameters.num_round": "10000",
    "training.hyperparameters.max_depth": "20",
    "training.hyperparameters.eta": "1",
    "training.hyperparameters.subsample": "1",
    "training.hyperparameters.colsample_bytree": "1",
    "training.hyperparameters.min_child_weight": "100",
    "training.hyperparameters.scale_pos_weight": "1000",
    "training.gate.auc": "1",
    "training.gate.precision": "1",
    "training.gate.recall": "1",
    "training.gate.f1": "1",
    "training.tuning.enabled": "true",
    "training.tuning.max_jobs": "100",
    "training.tuning.max_parallel_jobs": "10",
    "training.tuning.eta_min": "0.999",
    "training.tuning.eta_max": "1",
    "training.tuning.max_depth_min": "19",
    "training.tuning.max_depth_max": "20",
    "serving.instance_type": "ml.p5.48xlarge",
    "serving.instance_count": "20",
    "serving.min_capacity": "20",
    "serving.max_capacity": "20",
    "serving.target_invocations_per_instance": "100000",
    "serving.capture_percentage": "100",
    "serving.latency_alarm_ms": "60000",
    "serving.idle_hours": "168",
    "serving.canary_percent": "50",
    "serving.linear_step_percent": "50",
    "serving.rollout_wait_seconds": "3600",
    "serving.baking_seconds": "3600",
    "serving.rollout_max_seconds": "28800",
    "serving.champion_auc_margin": "0.5",
    "budget.monthly_limit_usd": "1000000",
    "etl.min_positives_per_split": "1000000",
    "etl.future_tolerance_minutes": "10080",
    "etl.window_days": "36500",
    "monitoring.engine": "model_monitor",
    "monitoring.window_hours": "168",
    "monitoring.distance_threshold": "1",
    "training.bias_gate.max_abs_dppl": "1",
    "training.bias_gate.min_di": "1",
    "training.bias_gate.max_di": "100",
    "training.bias_gate.max_abs_recall_difference": "1",
    "training.bias_gate.max_abs_accuracy_difference": "1",
    "bias.alarm_max_abs_dppl": "1",
}
MIN = {
    "profile": "sandbox",
    "prefix": "a",
    "lake.noncurrent_version_expiration_days": "1",
    "lake.abort_incomplete_multipart_days": "1",
    "lake.raw.standard_ia_days": "30",
    "lake.raw.glacier_ir_days": "60",
    "lake.raw.glacier_days": "61",
    "lake.raw.deep_archive_days": "62",
    "lake.curated.intelligent_tiering_days": "0",
    "lake.query_results.one_zone_ia_days": "0",
    "lake.query_results.expiration_days": "1",
    "lake.object_lock.retention_days": "1",
    "lake.access_logs.expiration_days": "1",
    "network.cidr": "10.0.0.0/28",
    "network.max_azs": "1",
    "network.subnet_mask": "28",
    "logs.retention_days": "1",
    "stream.capacity_mode": "on_demand",
    "stream.retention_hours": "24",
    "firehose.output_format": "json",
    "firehose.buffer_interval_seconds": "60",
    "firehose.buffer_size_mib": "64",
    "alerts.email": "a@b.co",
    "alerts.iterator_age_minutes": "1",
    "alerts.data_freshness_seconds": "90",
    "catalog.crawler_schedule": "cron(0 0 1 JAN ? 1970)",
    "catalog.encryption": "unmanaged",
    "athena.bytes_scanned_cutoff_mb": "10",
    "etl.workers": "2",
    "etl.max_retries": "0",
    "etl.timeout_minutes": "1",
    "etl.window_days": "0",
    "training.instance_type": "ml.m4.xlarge",
    "training.instance_count": "1",
    "training.volume_size_gb": "1",
    "training.max_runtime_minutes": "1",
    "training.transform_instance_type": "ml.m4.xlarge",
    "training.explain_instance_type": "ml.t3.medium",
    "training.explain_max_runtime_minutes": "1",
    "training.batch_transform_test": "false",
    "training.schedule": "rate(1 minute)",
    "training.tuning.enabled": "true",
    "training.tuning.max_jobs": "1",
    "training.tuning.max_parallel_jobs": "1",
    "serving.instance_type": "ml.t2.medium",
    "serving.instance_count": "1",
    "serving.min_capacity": "1",
    "serving.max_capacity": "1",
    "serving.target_invocations_per_instance": "1",
    "serving.capture_percentage": "0",
    "serving.latency_alarm_ms": "1",
    "serving.idle_hours": "1",
    "serving.canary_percent": "1",
    "serving.linear_step_percent": "10",
    "serving.rollout_wait_seconds": "0",
    "serving.baking_seconds": "0",
    "serving.rollout_max_seconds": "600",
    "serving.champion_auc_margin": "0",
    "budget.monthly_limit_usd": "1",
    "etl.min_positives_per_split": "1",
    "etl.future_tolerance_minutes": "0",
    "monitoring.window_hours": "1",
    "monitoring.distance_threshold": "0.0001",
    "etl.outlier_k": "0.0001",
    "etl.n_bins": "2",
    "etl.knn_k": "1",
    "etl.knn_reference_rows": "1",
    "etl.mice_max_rounds": "1",
    "etl.mice_tolerance": "0.0001",
    "etl.rebalance_ratio": "0",
    "etl.smote_k": "1",
    "etl.smote_max_positives": "2",
    "training.hyperparameters.num_round": "1",
    "training.hyperparameters.max_depth": "1",
    "training.hyperparameters.eta": "0.0001",
    "training.hyperparameters.subsample": "0.0001",
    "training.hyperparameters.colsample_bytree": "0.0001",
    "training.hyperparameters.min_child_weight": "0",
    "training.hyperparameters.scale_pos_weight": "0.0001",
    "training.gate.auc": "0",
    "training.gate.precision": "0",
    "training.gate.recall": "0",
    "training.gate.f1": "0",
    "training.tuning.eta_min": "0.0001",
    "training.tuning.eta_max": "0.0002",
    "training.tuning.max_depth_min": "1",
    "training.tuning.max_depth_max": "2",
    "training.bias_gate.max_abs_dppl": "0",
    "training.bias_gate.min_di": "0",
    "training.bias_gate.max_di": "1",
    "training.bias_gate.max_abs_recall_difference": "0",
    "training.bias_gate.max_abs_accuracy_difference": "0",
    "bias.alarm_max_abs_dppl": "0.0001",
}

# Keys that cannot sit at their own bound because another key's rule holds them just below or above it.
HELD_BY_ANOTHER_RULE = {
    "lake.raw.standard_ia_days",  # 30 days before glacier_ir_days (MAX) / ia >= 30 then +30 (MIN)
    "lake.raw.glacier_ir_days",  # strictly increasing transitions
    "lake.raw.glacier_days",
    "lake.raw.deep_archive_days",
    "lake.query_results.one_zone_ia_days",  # below expiration_days (MAX)
    "etl.train_fraction",  # train + validation <= 1
    "etl.validation_fraction",
    "training.decision_threshold",  # exclusive bounds
    "training.tuning.eta_min",  # below eta_max (MAX)
    "training.tuning.eta_max",  # above eta_min (MIN)
    "training.tuning.max_depth_min",  # below max_depth_max (MAX)
    "training.tuning.max_depth_max",  # above max_depth_min (MIN)
    "alerts.data_freshness_seconds",  # >= 1.5 x firehose.buffer_interval_seconds (MIN)
    "firehose.buffer_size_mib",  # >= 64 with format conversion and dynamic partitioning (MIN)
    "firehose.buffer_interval_seconds",  # >= 60 with dynamic partitioning (MIN)
    "stream.shard_count",  # unset in on-demand mode (MIN)
    "logs.retention_days",  # one of CloudWatch's values: the largest (MAX) and smallest (MIN)
    "network.subnet_mask",  # /28 is both the smallest subnet and what fits /28 (MIN)
    "lake.object_lock.retention_days",  # used only with Object Lock on (MAX)
}


def _at_bound(key: str, value: float, names: tuple[str, ...]) -> bool:
    """``value`` is the bound (inclusive) or within 0.001 of it (exclusive)."""
    for meta in KEYS[key].metadata:
        for name in names:
            bound = getattr(meta, name, None)
            if bound is not None:
                return value == bound if name in ("ge", "le") else 0 < abs(value - bound) <= 0.001
    return False


@pytest.mark.parametrize(("config", "names"), [("MAX", ("le", "lt")), ("MIN", ("ge", "gt"))])
def test_the_extreme_configs_sit_at_every_bound(config, names):
    values = globals()[config]
    load_config(values)  # and they are valid
    off_bound = [
        key
        for key in numeric_keys()
        if key not in HELD_BY_ANOTHER_RULE and not _at_bound(key, float(values.get(key, KEYS[key].default)), names)
    ]
    assert off_bound == []


def _lint_findings(templates: dict[str, dict[str, Any]]) -> list[str]:
    findings = []
    for name, template in templates.items():
        matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"], ignore_checks=IGNORED))
        findings += [f"{name}: {m.rule.id} {m.message} at {'/'.join(map(str, m.path))}" for m in matches]
    return findings


def test_the_upper_bounds_synthesize_and_pass_cfn_lint(tmp_path):
    assert _lint_findings(synth(tmp_path, MAX).templates) == []


@pytest.mark.slow
def test_the_lower_bounds_synthesize_and_pass_cfn_lint(tmp_path):
    assert _lint_findings(synth(tmp_path, MIN).templates) == []


def test_the_prefix_begins_every_bucket_name(sandbox):
    """The bucket-name rules are checked on longest_lake_bucket_name(prefix): it must begin as CloudFormation's
    generated names do (the data-lake stack's name, lower-cased), and no bucket may carry a name of its own."""
    stack_name = sandbox.stacks.data_lake.stack_name
    assert longest_lake_bucket_name(sandbox.config.prefix).startswith(stack_name.lower() + "-")
    for name, template in sandbox.templates.items():
        buckets = resources(template, "AWS::S3::Bucket")
        assert not buckets or name == stack_name, name
        assert all("BucketName" not in bucket.get("Properties", {}) for bucket in buckets.values())


def test_every_sagemaker_instance_type_in_the_templates_is_one_its_api_takes(variant):
    """The config checks the instance types a user sets, per use; the one fixed in code (Model Monitor's
    processing job, in the variant with engine=model_monitor) is checked against its own enumeration here."""
    from ml_config.checks import sagemaker_instance_types

    found = []
    for template in variant.templates.values():
        for job in resources(template, "AWS::SageMaker::DataQualityJobDefinition").values():
            instance_type = job["Properties"]["JobResources"]["ClusterConfig"]["InstanceType"]
            found.append(instance_type in sagemaker_instance_types("ProcessingInstanceType"))
    assert found == [True]
