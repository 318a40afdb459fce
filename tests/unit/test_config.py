"""The config object: profiles, precedence and every validation rule, without synthesizing anything."""

from __future__ import annotations

import pytest

from ml_config import ConfigError, load_config
from ml_config.config import PROFILE_DEFAULTS, Encryption, Profile, RemovalPolicy, config_keys


def errors(context: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(context)
    return info.value.problems


def test_sandbox_is_the_default_profile_and_destroys_everything():
    config = load_config({})
    assert config.profile is Profile.SANDBOX
    assert config.lake.removal_policy is RemovalPolicy.DESTROY
    assert config.lake.object_lock.enabled is False
    assert config.lake.encryption is Encryption.KMS


def test_production_profile_retains_and_locks():
    config = load_config({"profile": "production"})
    assert config.lake.removal_policy is RemovalPolicy.RETAIN
    assert config.lake.object_lock.enabled is True
    assert config.network.max_azs == 3


@pytest.mark.parametrize("profile", list(Profile))
def test_every_profile_default_is_applied(profile):
    config = load_config({"profile": profile.value}).model_dump(mode="json")
    for key, expected in PROFILE_DEFAULTS[profile].items():
        node = config
        for part in key.split("."):
            node = node[part]
        assert node == expected, key


def test_context_overrides_profile_defaults_and_strings_are_coerced():
    # -c values reach the app as strings; cdk.json values keep their JSON types.
    config = load_config({"profile": "production", "lake.query_results.expiration_days": "120", "network.max_azs": 2})
    assert config.lake.query_results.expiration_days == 120
    assert config.network.max_azs == 2
    assert (
        config.lake.query_results.one_zone_ia_days
        == PROFILE_DEFAULTS[Profile.PRODUCTION]["lake.query_results.one_zone_ia_days"]
    )


def test_cdk_keys_are_not_config_keys():
    config = load_config({"@aws-cdk/core:newStyleStackSynthesis": True, "aws:cdk:enable-path-metadata": True})
    assert config.profile is Profile.SANDBOX


def test_config_is_frozen():
    config = load_config({})
    with pytest.raises(Exception, match="frozen"):
        config.lake.raw.standard_ia_days = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("context", "key", "fragment"),
    [
        ({"profile": "prod"}, "profile='prod'", "sandbox, production"),
        ({"lake.raw.standard_ia_dayz": 40}, "'lake.raw.standard_ia_dayz'", "did you mean 'lake.raw.standard_ia_days'"),
        ({"prefx": "x"}, "'prefx'", "did you mean 'prefix'"),
        ({"network.max_azs": "two"}, "network.max_azs='two'", "an integer written with the digits 0-9"),
        ({"network.max_azs": True}, "network.max_azs=True", "boolean"),
        ({"lake.object_lock.enabled": "maybe"}, "lake.object_lock.enabled='maybe'", "valid boolean"),
        ({"lake.encryption": "sse-c"}, "lake.encryption='sse-c'", "'kms' or 's3'"),
        ({"network.max_azs": 7}, "network.max_azs=7", "less than or equal to 6"),
        ({"lake.object_lock.retention_days": 0}, "lake.object_lock.retention_days=0", "greater than or equal to 1"),
        ({"lake.raw.standard_ia_days": 29}, "lake.raw.standard_ia_days=29", "greater than or equal to 30"),
        ({"lake.raw.glacier_ir_days": 45}, "lake.raw.glacier_ir_days=45", ">= 60"),
        ({"lake.raw.glacier_days": 90}, "lake.raw.glacier_days=90", "strictly increasing"),
        ({"lake.raw.deep_archive_days": 100}, "lake.raw.deep_archive_days=100", "strictly increasing"),
        ({"lake.query_results.one_zone_ia_days": 10}, "lake.query_results.one_zone_ia_days=10", ">= 30"),
        (
            {"lake.query_results.one_zone_ia_days": 30, "lake.query_results.expiration_days": 30},
            "lake.query_results.expiration_days=30",
            "must be > lake.query_results.one_zone_ia_days",
        ),
        ({"lake.object_lock.enabled": True}, "lake.object_lock.enabled=True", "removal_policy=retain"),
        ({"logs.retention_days": 10}, "logs.retention_days=10", "one of 1, 3, 5"),
        ({"network.cidr": "10.0.0.0/8"}, "network.cidr='10.0.0.0/8'", "/16 and /28"),
        ({"network.cidr": "10.0.0.1/16"}, "network.cidr='10.0.0.1/16'", "IPv4 network"),
        ({"network.cidr": "10.0.0.0/28"}, "network.subnet_mask=24", "do not fit in 10.0.0.0/28"),
        (
            {"network.cidr": "10.0.0.0/24", "network.max_azs": 3, "network.subnet_mask": 25},
            "subnet_mask=25",
            "3 subnets",
        ),
        (
            {"stream.capacity_mode": "on_demand", "stream.shard_count": 2},
            "stream.shard_count=2",
            "must be unset when stream.capacity_mode=on_demand",
        ),
        ({"stream.shard_count": 0}, "stream.shard_count=0", "greater than or equal to 1"),
        ({"stream.capacity_mode": "serverless"}, "stream.capacity_mode='serverless'", "'on_demand' or 'provisioned'"),
        ({"stream.retention_hours": 12}, "stream.retention_hours=12", "greater than or equal to 24"),
        ({"stream.retention_hours": 9000}, "stream.retention_hours=9000", "less than or equal to 8760"),
        (
            {"profile": "production", "stream.retention_hours": 48},
            "stream.retention_hours=48",
            "168-8760 in production",
        ),
        ({"firehose.buffer_size_mib": 32}, "firehose.buffer_size_mib=32", "record format conversion"),
        (
            {"firehose.output_format": "json", "firehose.buffer_size_mib": 32},
            "firehose.buffer_size_mib=32",
            "dynamic partitioning needs",
        ),
        ({"firehose.buffer_size_mib": 200}, "firehose.buffer_size_mib=200", "less than or equal to 128"),
        ({"firehose.buffer_interval_seconds": 30}, "firehose.buffer_interval_seconds=30", "zero buffering"),
        ({"firehose.buffer_interval_seconds": 901}, "firehose.buffer_interval_seconds=901", "900"),
        ({"firehose.output_format": "orc"}, "firehose.output_format='orc'", "'parquet' or 'json'"),
        ({"alerts.email": "nobody"}, "alerts.email='nobody'", "e-mail address"),
        (
            {"firehose.buffer_interval_seconds": 900, "alerts.data_freshness_seconds": 900},
            "alerts.data_freshness_seconds=900",
            ">= 1350",
        ),
        ({"catalog.crawler_schedule": "0 2 * * *"}, "catalog.crawler_schedule='0 2 * * *'", "six fields"),
        ({"catalog.crawler_schedule": "cron(0 25 * * ? *)"}, "catalog.crawler_schedule=", "Invalid hour value '25'"),
        ({"catalog.crawler_schedule": "cron(0 2 * * * *)"}, "catalog.crawler_schedule=", "One must be a question mark"),
        ({"catalog.encryption": "lake_key"}, "catalog.encryption='lake_key'", "scheduled for deletion"),
        ({"catalog.encryption": "sse-c"}, "catalog.encryption='sse-c'", "'aws_managed', 'lake_key' or 'unmanaged'"),
        ({"athena.bytes_scanned_cutoff_mb": 5}, "athena.bytes_scanned_cutoff_mb=5", "greater than or equal to 10"),
        ({"etl.workers": 1}, "etl.workers=1", "greater than or equal to 2"),
        ({"etl.worker_type": "G.025X"}, "etl.worker_type='G.025X'", "'G.1X', 'G.2X', 'G.4X' or 'G.8X'"),
        ({"etl.glue_version": "4.0"}, "etl.glue_version='4.0'", "'5.0' or '5.1'"),
        ({"etl.max_retries": 11}, "etl.max_retries=11", "less than or equal to 10"),
        ({"etl.timeout_minutes": 0}, "etl.timeout_minutes=0", "greater than or equal to 1"),
        ({"etl.outlier_k": "0"}, "etl.outlier_k='0'", "greater than 0"),
        (
            {"etl.impute_method": "hot_deck"},
            "etl.impute_method='hot_deck'",
            "allowed: 'median', 'mean', 'knn', 'regression', 'mice' or 'drop'",
        ),
        ({"etl.knn_k": 7, "etl.knn_reference_rows": 5}, "etl.knn_reference_rows=5", "at least etl.knn_k (7)"),
        ({"etl.knn_reference_rows": 5001}, "etl.knn_reference_rows=5001", "less than or equal to 5000"),
        ({"etl.mice_max_rounds": 0}, "etl.mice_max_rounds=0", "greater than or equal to 1"),
        ({"etl.mice_tolerance": 0}, "etl.mice_tolerance=0", "greater than 0"),
        ({"etl.outlier_mode": "winsorize"}, "etl.outlier_mode='winsorize'", "'clip', 'flag' or 'drop'"),
        (
            {"etl.rebalance_method": "adasyn"},
            "etl.rebalance_method='adasyn'",
            "'none', 'oversample', 'undersample', 'smote' or 'class_weight'",
        ),
        ({"etl.bin_method": "kmeans"}, "etl.bin_method='kmeans'", "'quantile' or 'equal_width'"),
        ({"etl.smote_k": 0}, "etl.smote_k=0", "greater than or equal to 1"),
        ({"etl.smote_max_positives": 1}, "etl.smote_max_positives=1", "greater than or equal to 2"),
        (
            {"etl.rebalance_method": "class_weight", "training.hyperparameters.scale_pos_weight": 4},
            "training.hyperparameters.scale_pos_weight=4.0",
            "1 with etl.rebalance_method=class_weight",
        ),
        ({"etl.n_bins": 1}, "etl.n_bins=1", "greater than or equal to 2"),
        ({"etl.rebalance_ratio": 1.5}, "etl.rebalance_ratio=1.5", "less than or equal to 1"),
        (
            {"etl.train_fraction": 0.9, "etl.validation_fraction": 0.2},
            "etl.validation_fraction=0.2",
            "train + validation must not exceed 1",
        ),
        ({"training.instance_type": "m5.large"}, "training.instance_type='m5.large'", "ml.m5.large"),
        ({"training.instance_count": 0}, "training.instance_count=0", "greater than or equal to 1"),
        ({"training.max_runtime_minutes": 50000}, "training.max_runtime_minutes=50000", "less than or equal to 40320"),
        ({"training.xgboost_version": "0.90-2"}, "training.xgboost_version='0.90-2'", "3.2-0"),
        ({"training.gate.auc": 1.5}, "training.gate.auc=1.5", "less than or equal to 1"),
        ({"training.gate.recall": -0.1}, "training.gate.recall=-0.1", "greater than or equal to 0"),
        ({"training.decision_threshold": 1}, "training.decision_threshold=1", "less than 1"),
        ({"training.hyperparameters.eta": 0}, "training.hyperparameters.eta=0", "greater than 0"),
        (
            {"training.hyperparameters.max_depth": 50},
            "training.hyperparameters.max_depth=50",
            "less than or equal to 20",
        ),
        ({"training.tuning.max_parallel_jobs": 5, "training.tuning.max_jobs": 3}, "max_parallel_jobs=5", "at most"),
        ({"training.tuning.eta_min": 0.5}, "training.tuning.eta_min=0.5", "below training.tuning.eta_max"),
        (
            {"training.tuning.max_depth_min": 9},
            "training.tuning.max_depth_min=9",
            "below training.tuning.max_depth_max",
        ),
        ({"training.schedule": "daily"}, "training.schedule='daily'", "six fields"),
        ({"serving.min_capacity": 3}, "serving.min_capacity=3", "at most serving.max_capacity"),
        ({"serving.instance_count": 5}, "serving.instance_count=5", "between serving.min_capacity"),
        ({"serving.capture_percentage": 101}, "serving.capture_percentage=101", "less than or equal to 100"),
        ({"serving.instance_type": "t2.medium"}, "serving.instance_type='t2.medium'", "closest: ml.t2.medium"),
        # roll-out bounds: the SageMaker API reference's (TrafficRoutingConfig, BlueGreenUpdatePolicy)
        ({"serving.rollout_mode": "canary"}, "serving.rollout_mode='canary'", "traffic shifting needs 2+"),
        ({"serving.rollout_mode": "blue"}, "serving.rollout_mode='blue'", "'all_at_once'"),
        ({"serving.canary_percent": 51}, "serving.canary_percent=51", "less than or equal to 50"),
        ({"serving.linear_step_percent": 5}, "serving.linear_step_percent=5", "greater than or equal to 10"),
        ({"serving.rollout_wait_seconds": 3601}, "serving.rollout_wait_seconds=3601", "less than or equal to 3600"),
        ({"serving.baking_seconds": -1}, "serving.baking_seconds=-1", "greater than or equal to 0"),
        ({"serving.rollout_max_seconds": 599}, "serving.rollout_max_seconds=599", "greater than or equal to 600"),
        (
            {"serving.rollout_wait_seconds": 600, "serving.baking_seconds": 600, "serving.rollout_max_seconds": 1200},
            "serving.rollout_max_seconds=1200",
            "more than serving.rollout_wait_seconds + serving.baking_seconds (1200)",
        ),
        ({"serving.champion_auc_margin": 0.6}, "serving.champion_auc_margin=0.6", "less than or equal to 0.5"),
        (
            {"profile": "production", "serving.min_capacity": 1, "serving.instance_count": 1},
            "serving.min_capacity=1",
            ">= 2 in production",
        ),
        ({"monitoring.window_hours": 0}, "monitoring.window_hours=0", "greater than or equal to 1"),
        ({"monitoring.distance_threshold": 0}, "monitoring.distance_threshold=0", "greater than 0"),
        ({"monitoring.engine": "clarify"}, "monitoring.engine='clarify'", "'drift' or 'model_monitor'"),
        ({"prefix": "1bad"}, "prefix='1bad'", "a letter"),
        ({"account": "123"}, "account='123'", "12-digit"),
        ({"region": "mars"}, "region='mars'", "region name"),
    ],
)
def test_bad_values_give_one_line_with_key_value_and_what_is_allowed(context, key, fragment):
    problems = errors(context)
    assert len(problems) == 1
    line = problems[0]
    assert "\n" not in line
    assert line.startswith("invalid config: ")
    assert key in line
    assert fragment in line


def test_every_problem_is_reported_not_just_the_first():
    problems = errors({"network.max_azs": 0, "lake.abort_incomplete_multipart_days": 0})
    assert len(problems) == 2


def test_every_key_is_documented_with_a_description():
    for key, info in config_keys().items():
        assert info.description, key
        assert len(info.description) > 20, key


def test_configuration_page_is_generated_from_the_models():
    from tests.conftest import ROOT
    from tools.gen_config_docs import render

    page = (ROOT / "docs" / "configuration.md").read_text()
    assert page == render(), "docs/configuration.md is stale: run make docs-config"
    for key in config_keys():
        assert f"| `{key}` |" in page


def test_stream_shards_follow_the_capacity_mode():
    assert load_config({}).stream.shards == 1
    assert load_config({"stream.shard_count": "4"}).stream.shards == 4
    assert load_config({"stream.capacity_mode": "on_demand"}).stream.shards is None


@pytest.mark.parametrize(
    "expression", ["cron(15 2 * * ? *)", "cron(0/15 * ? * MON-FRI *)", "cron(0 12 L * ? 2027)", "cron(0 8 ? * 2#1 *)"]
)
def test_valid_crawler_schedules_are_accepted(expression):
    assert load_config({"catalog.crawler_schedule": expression}).catalog.crawler_schedule == expression


def test_algorithm_hyperparameters_are_strings_with_the_fixed_objective():
    hyperparameters = load_config({"training.hyperparameters.num_round": "150"}).training.algorithm_hyperparameters()
    assert hyperparameters["objective"] == "binary:logistic"
    assert hyperparameters["eval_metric"] == "auc"
    assert hyperparameters["num_round"] == "150"
    assert all(isinstance(v, str) for v in hyperparameters.values())
