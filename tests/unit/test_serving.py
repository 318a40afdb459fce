"""ServingStack: the endpoint deploys with the project's default model, captures data, scales and alarms."""

from __future__ import annotations

import json

import pytest

from ml_constructs.lake_layout import (
    BASELINE_PREFIX,
    CAPTURE_PREFIX,
    DEFAULT_MODEL_PREFIX,
    DEFAULT_PREPROCESSING_FILE,
    DEFAULT_PREPROCESSING_PREFIX,
)
from ml_constructs.serving.construct import VARIANT
from ml_constructs.serving.model_copy import DEFAULT_MODEL_DIR
from sagemaker_images import DEFAULT_SKLEARN_VERSION, DEFAULT_XGBOOST_VERSION
from tests.conftest import resources


@pytest.fixture(scope="module")
def serving(sandbox):
    return sandbox.template(sandbox.stacks.serving)


def one(template, kind) -> dict:
    (resource,) = resources(template, kind).values()
    return resource["Properties"]


def test_model_serves_the_default_artifact_from_the_artifacts_zone_in_isolation(serving):
    model = one(serving, "AWS::SageMaker::Model")
    preprocessing, container = model["Containers"]
    assert model["InferenceExecutionConfig"] == {"Mode": "Serial"}
    assert preprocessing["Image"]["Fn::Join"][1][-1].endswith(
        f"/sagemaker-scikit-learn:{DEFAULT_SKLEARN_VERSION}-cpu-py3"
    )
    assert (
        preprocessing["ModelDataUrl"]["Fn::Join"][1][-1]
        == f"/{DEFAULT_PREPROCESSING_PREFIX}{DEFAULT_PREPROCESSING_FILE}"
    )
    assert container["Image"]["Fn::Join"][1][-1].endswith(f"/sagemaker-xgboost:{DEFAULT_XGBOOST_VERSION}")
    url = container["ModelDataUrl"]["Fn::Join"][1]
    assert "DataLakeArtifacts" in json.dumps(url)  # a lake bucket: the VPC's S3 endpoint admits only those
    assert url[-1] == f"/{DEFAULT_MODEL_PREFIX}model.tar.gz"
    assert model["EnableNetworkIsolation"] is True
    assert set(model["VpcConfig"]) == {"SecurityGroupIds", "Subnets"}
    (model_resource,) = resources(serving, "AWS::SageMaker::Model").values()
    assert any(d.startswith("ServingDefaultModel") for d in model_resource["DependsOn"])


def test_default_model_and_baseline_are_copied_to_their_prefixes(serving):
    copies = {
        r["Properties"]["DestinationBucketKeyPrefix"]: r["Properties"]
        for r in resources(serving, "Custom::CDKBucketDeployment").values()
    }
    assert set(copies) == {DEFAULT_MODEL_PREFIX, DEFAULT_PREPROCESSING_PREFIX, BASELINE_PREFIX}
    for props in copies.values():
        assert props["Prune"] is False
        assert props["SystemMetadata"]["sse"] == "aws:kms"  # written with the lake key


def test_deployment_role_writes_only_the_default_model_prefix(serving):
    policy = next(
        p for k, p in resources(serving, "AWS::IAM::Policy").items() if k.startswith("ServingDeploymentPolicy")
    )
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    # the preprocessing archive and the baseline sit under models/default/ with the model
    assert statements["WriteDestinations"]["Resource"]["Fn::Join"][1][-1] == f"/{DEFAULT_MODEL_PREFIX}*"
    actions = [a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if "Delete" in a or a.endswith("*")]


def test_endpoint_config_captures_encrypted_input_and_output(sandbox, serving):
    config = one(serving, "AWS::SageMaker::EndpointConfig")
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == sandbox.config.serving.capture_percentage
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert capture["CaptureContentTypeHeader"] == {  # raw JSON events in, CSV probabilities out: both as text
        "CsvContentTypes": ["text/csv"],
        "JsonContentTypes": ["application/json", "application/jsonlines"],
    }
    assert capture["DestinationS3Uri"]["Fn::Join"][1][-1] == f"/{CAPTURE_PREFIX}"
    assert "DataLakeKey" in json.dumps(capture["KmsKeyId"])
    assert "DataLakeKey" in json.dumps(config["KmsKeyId"])  # the instances' volumes
    (variant,) = config["ProductionVariants"]
    assert variant["VariantName"] == VARIANT
    assert variant["InstanceType"] == sandbox.config.serving.instance_type
    assert variant["InitialInstanceCount"] == sandbox.config.serving.instance_count


def test_production_runs_at_least_two_instances(production):
    template = production.template(production.stacks.serving)
    (variant,) = one(template, "AWS::SageMaker::EndpointConfig")["ProductionVariants"]
    assert variant["InitialInstanceCount"] >= 2
    assert one(template, "AWS::ApplicationAutoScaling::ScalableTarget")["MinCapacity"] >= 2


def test_autoscaling_tracks_invocations_per_instance_between_the_configured_bounds(sandbox, serving):
    target = one(serving, "AWS::ApplicationAutoScaling::ScalableTarget")
    settings = sandbox.config.serving
    assert (target["MinCapacity"], target["MaxCapacity"]) == (settings.min_capacity, settings.max_capacity)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["ResourceId"]["Fn::Join"][1][-1] == f"/variant/{VARIANT}"
    policy = one(serving, "AWS::ApplicationAutoScaling::ScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    # Application Auto Scaling's service-linked role for SageMaker endpoints, not a role of the stack
    assert target["RoleARN"]["Fn::Join"][1][-1] == (
        ":role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
    )
    trusted = [
        json.dumps(r["Properties"]["AssumeRolePolicyDocument"]) for r in resources(serving, "AWS::IAM::Role").values()
    ]
    assert not [t for t in trusted if "application-autoscaling" in t]
    assert policy["TargetValue"] == settings.target_invocations_per_instance


def test_endpoint_alarms_notify_the_alerts_topic(sandbox, serving):
    alarms = {  # the endpoint's and the drift violations' (the scheduled functions' own: tests/unit/test_ops_wiring.py)
        a["Properties"]["MetricName"]: a["Properties"]
        for k, a in resources(serving, "AWS::CloudWatch::Alarm").items()
        if k.startswith(("Serving", "DriftViolations"))
    }
    assert set(alarms) == {"Invocation5XXErrors", "ModelLatency", "ViolationCount"}
    assert alarms["ModelLatency"]["Threshold"] == sandbox.config.serving.latency_alarm_ms * 1000  # microseconds
    for alarm in alarms.values():
        assert "AlertsTopic" in json.dumps(alarm["AlarmActions"])
        assert "AlertsTopic" in json.dumps(alarm["OKActions"])


def test_model_role_reads_models_and_writes_capture_only(serving):
    role_id = next(k for k in resources(serving, "AWS::IAM::Role") if k.startswith("ServingModelRole"))
    policy = next(
        p for p in resources(serving, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    )
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["ReadModels"]["Resource"]["Fn::Join"][1][-1] == "/models/*"
    assert statements["WriteCapture"]["Resource"]["Fn::Join"][1][-1] == f"/{CAPTURE_PREFIX}*"


def test_drift_job_runs_the_shipped_analyzer_on_a_schedule_over_each_window(sandbox, serving):
    (job,) = [v["Properties"] for k, v in resources(serving, "AWS::Lambda::Function").items() if k.startswith("Drift")]
    assert job["Handler"] == "drift_job.handler"
    assert job["TracingConfig"] == {"Mode": "Active"}
    (rule,) = [v for k, v in resources(serving, "AWS::Events::Rule").items() if k.startswith("DriftSchedule")]
    hours = sandbox.config.monitoring.window_hours
    assert rule["Properties"]["ScheduleExpression"] == f"rate({hours} hour{'s' if hours > 1 else ''})"
    event = json.loads(
        "".join(p if isinstance(p, str) else "TOKEN" for p in rule["Properties"]["Targets"][0]["Input"]["Fn::Join"][1])
    )
    assert event["window_hours"] == hours
    assert event["distance_threshold"] == sandbox.config.monitoring.distance_threshold
    assert event["baseline_statistics_s3_uri"].endswith(f"/{BASELINE_PREFIX}statistics.json")
    assert event["capture_s3_uri"].endswith(f"/{CAPTURE_PREFIX}")
    assert event["cloudwatch_namespace"] == f"{sandbox.config.prefix}/drift"


def test_drift_violations_alarm_notifies_the_alerts_topic(sandbox, serving):
    alarms = [a["Properties"] for a in resources(serving, "AWS::CloudWatch::Alarm").values()]
    (violations,) = [a for a in alarms if a.get("MetricName") == "ViolationCount"]
    assert violations["Namespace"] == f"{sandbox.config.prefix}/drift"
    assert violations["Threshold"] == 1
    assert "AlertsTopic" in json.dumps(violations["AlarmActions"])


def test_drift_job_asset_is_the_runtime_folder_only(sandbox):
    from ml_constructs.monitoring.construct import RUNTIME_DIR

    manifest = json.loads((sandbox.outdir / f"{sandbox.stacks.serving.stack_name}.assets.json").read_text())
    folders = [sandbox.outdir / f["source"]["path"] for f in manifest["files"].values()]
    (staged,) = [d for d in folders if (d / "drift_job").is_dir()]

    def files(root):
        return sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if "__pycache__" not in p.parts)

    shared = ["ml_constructs/shared_runtime/__init__.py", "ml_constructs/shared_runtime/bias.py"]
    runtime = ["__init__.py", "drift_job/__init__.py", "drift_job/analyzer.py", "drift_job/live_bias.py"]
    assert files(RUNTIME_DIR) == runtime
    assert files(staged) == sorted([*files(RUNTIME_DIR), *shared])  # the folder and the shared bias metrics
    assert not [f for f in files(staged) if "aws_cdk" in (staged / f).read_text()]  # no CDK in the Lambda


@pytest.fixture(scope="module")
def model_monitor(variant):
    return variant  # monitoring.engine=model_monitor


def test_model_monitor_engine_schedules_data_quality_on_the_same_baseline(model_monitor):
    template = model_monitor.template(model_monitor.stacks.serving)
    job = one(template, "AWS::SageMaker::DataQualityJobDefinition")
    baseline = job["DataQualityBaselineConfig"]
    assert baseline["StatisticsResource"]["S3Uri"]["Fn::Join"][1][-1] == f"/{BASELINE_PREFIX}statistics.json"
    assert baseline["ConstraintsResource"]["S3Uri"]["Fn::Join"][1][-1] == f"/{BASELINE_PREFIX}constraints.json"
    assert "ServingEndpoint" in json.dumps(job["DataQualityJobInput"]["EndpointInput"]["EndpointName"])
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert "DataLakeKey" in json.dumps(job["DataQualityJobOutputConfig"]["KmsKeyId"])
    assert "sagemaker-model-monitor-analyzer" in json.dumps(job["DataQualityAppSpecification"]["ImageUri"])
    schedule = one(template, "AWS::SageMaker::MonitoringSchedule")["MonitoringScheduleConfig"]
    assert schedule["MonitoringType"] == "DataQuality"
    assert schedule["ScheduleConfig"] == {"ScheduleExpression": "cron(0 * ? * * *)"}
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    drift = sorted(a["MetricName"] for a in alarms if a.get("MetricName", "").startswith("feature_baseline_drift_"))
    features = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())["feature_columns"]  # the model's input
    assert drift == sorted(f"feature_baseline_drift_{f}" for f in features)
    assert all(
        a["Threshold"] == model_monitor.config.monitoring.distance_threshold
        for a in alarms
        if a.get("MetricName", "").startswith("feature_baseline_drift_")
    )
    assert not [k for k in resources(template, "AWS::Lambda::Function") if k.startswith("Drift")]  # one engine


def test_model_monitor_engine_passes_nag_and_cfn_lint(model_monitor):
    from cfnlint.api import ManualArgs, lint

    template = model_monitor.template(model_monitor.stacks.serving)  # synthesis ran cdk-nag already
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"], ignore_checks=["W3005"]))
    assert [m.message for m in matches] == []
