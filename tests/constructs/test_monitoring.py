"""DriftMonitor and ModelMonitorSchedule alone in a bare stack: their defaults, the props the caller controls, and
what is fixed."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from ml_constructs.lake_layout import BASELINE_PREFIX, CAPTURE_PREFIX, REPORTS_PREFIX
from ml_constructs.monitoring.construct import DriftMonitor
from ml_constructs.monitoring.model_monitor import ModelMonitorSchedule

ENDPOINT = "my-endpoint"
FEATURES = ["amount", "hour_of_day", "is_foreign"]


def collaborators(stack: cdk.Stack) -> dict:
    return {
        "artifacts": s3.Bucket(stack, "Artifacts"),
        "key": kms.Key(stack, "Key"),
        "alerts": sns.Topic(stack, "Alerts"),
    }


def drift(stack: cdk.Stack, **props) -> Template:
    DriftMonitor(stack, "Drift", endpoint_name=ENDPOINT, **collaborators(stack), **props)
    return Template.from_stack(stack)


def only(template: Template, kind: str) -> dict:
    (resource,) = template.find_resources(kind).values()
    return resource


def rule_event(template: Template) -> dict:
    """The schedule's event, with the bucket's name (a reference) shown as BUCKET."""
    parts = only(template, "AWS::Events::Rule")["Properties"]["Targets"][0]["Input"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "BUCKET" for p in parts))


def statements(template: Template, role_prefix: str) -> dict[str, dict]:
    (policy,) = [
        p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith(f"{role_prefix}DefaultPolicy")
    ]
    return {s.get("Sid", s["Action"][0]): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_drift_job_defaults_hourly_window_and_threshold(stack):
    template = drift(stack)
    template.resource_count_is("AWS::Lambda::Function", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        Match.object_like(
            {
                "Handler": "drift_job.handler",
                "Runtime": "python3.14",
                "Architectures": ["arm64"],
                "Timeout": 15 * 60,
                "MemorySize": 1024,
                "TracingConfig": {"Mode": "Active"},
            }
        ),
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        Match.object_like(
            {
                "ScheduleExpression": "rate(1 hour)",
                "Targets": [Match.object_like({"RetryPolicy": {"MaximumRetryAttempts": 2}})],
            }
        ),
    )
    assert rule_event(template) == {
        "capture_s3_uri": f"s3://BUCKET/{CAPTURE_PREFIX}",
        "endpoint_name": ENDPOINT,
        "window_hours": 1,
        "baseline_statistics_s3_uri": f"s3://BUCKET/{BASELINE_PREFIX}statistics.json",
        "baseline_constraints_s3_uri": f"s3://BUCKET/{BASELINE_PREFIX}constraints.json",
        "output_s3_uri": f"s3://BUCKET/{REPORTS_PREFIX}",
        "cloudwatch_namespace": f"{stack.stack_name}/drift",  # the default namespace
        "distance_threshold": 0.1,
        "baseline_of_serving_model": True,  # the configured baseline is the fallback only
    }
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        Match.object_like({"RetentionInDays": 30, "KmsKeyId": Match.object_like({"Fn::GetAtt": Match.any_value()})}),
    )
    assert only(template, "AWS::Logs::LogGroup")["DeletionPolicy"] == "Delete"


def test_the_violations_alarm_watches_one_window_and_notifies_both_ways(stack):
    template = drift(stack, window_hours=6, namespace="Team/drift", distance_threshold=0.2)
    assert rule_event(template)["window_hours"] == 6
    assert rule_event(template)["distance_threshold"] == 0.2
    template.has_resource_properties("AWS::Events::Rule", Match.object_like({"ScheduleExpression": "rate(6 hours)"}))
    topic = [{"Ref": Match.string_like_regexp("^Alerts")}]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        Match.object_like(
            {
                "Namespace": "Team/drift",
                "MetricName": "ViolationCount",
                "Dimensions": [{"Name": "Endpoint", "Value": ENDPOINT}],
                "Statistic": "Maximum",
                "Period": 6 * 3600,
                "Threshold": 1,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                # a window without a report (no traffic, or a job that crashed) is missing, never "no violation"
                "TreatMissingData": "missing",
                "AlarmActions": topic,
                "OKActions": topic,
            }
        ),
    )


def test_the_drift_role_reads_capture_and_baseline_and_writes_reports_only(stack):
    template = drift(stack, namespace="Team/drift", log_retention=logs.RetentionDays.ONE_WEEK)
    found = statements(template, "DriftRole")
    (bucket,) = template.find_resources("AWS::S3::Bucket")
    objects = {"Fn::GetAtt": [bucket, "Arn"]}
    # the default baseline lies under models/default/baseline/, which the serving model's baselines cover: one grant
    assert found["ReadCaptureAndBaseline"]["Resource"] == {"Fn::Join": ["", [objects, f"/{CAPTURE_PREFIX}*"]]}
    assert found["ReadModelBaselines"]["Resource"] == {"Fn::Join": ["", [objects, "/models/*/baseline/*"]]}
    assert BASELINE_PREFIX.startswith("models/")
    assert BASELINE_PREFIX.endswith("/baseline/")
    assert found["ListCapture"]["Condition"] == {"StringLike": {"s3:prefix": [f"{CAPTURE_PREFIX}*"]}}
    assert found["WriteReports"]["Resource"] == {"Fn::Join": ["", [objects, f"/{REPORTS_PREFIX}*"]]}
    assert found["DriftMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Team/drift"}}
    assert "kms:ViaService" in found["LakeKeyThroughS3"]["Condition"]["StringEquals"]
    assert not [s for s in found.values() if "s3:DeleteObject" in json.dumps(s["Action"])]
    template.has_resource_properties("AWS::Logs::LogGroup", Match.object_like({"RetentionInDays": 7}))


def test_a_baseline_outside_the_models_gets_its_own_read(stack):
    """A configured baseline the model-baseline grant does not cover (the fallback) is granted on its own."""
    found = statements(drift(stack, baseline_prefix="baselines/mine/"), "DriftRole")
    (_, baseline) = found["ReadCaptureAndBaseline"]["Resource"]
    assert baseline["Fn::Join"][1][-1] == "/baselines/mine/*"


@pytest.mark.parametrize("hours", [0, 169])
def test_a_window_the_job_refuses_is_refused_at_synth(stack, hours):
    with pytest.raises(ValueError, match="window_hours"):
        drift(stack, window_hours=hours)


def model_monitor(stack: cdk.Stack, **props) -> Template:
    ModelMonitorSchedule(
        stack,
        "ModelMonitor",
        endpoint_name=ENDPOINT,
        image_uri="156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer",
        features=FEATURES,
        subnet_ids=["subnet-1", "subnet-2"],
        security_group_id="sg-1",
        **collaborators(stack),
        **props,
    )
    return Template.from_stack(stack)


def test_model_monitor_runs_hourly_on_the_baseline_isolated_and_encrypted(stack):
    template = model_monitor(stack)
    template.has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        Match.object_like(
            {
                "JobDefinitionName": f"{stack.stack_name}-data-quality",
                "DataQualityBaselineConfig": {
                    "ConstraintsResource": {
                        "S3Uri": Match.object_like(
                            {"Fn::Join": ["", Match.array_with([f"/{BASELINE_PREFIX}constraints.json"])]}
                        )
                    },
                    "StatisticsResource": {
                        "S3Uri": Match.object_like(
                            {"Fn::Join": ["", Match.array_with([f"/{BASELINE_PREFIX}statistics.json"])]}
                        )
                    },
                },
                "DataQualityJobInput": {"EndpointInput": Match.object_like({"EndpointName": ENDPOINT})},
                "JobResources": {
                    "ClusterConfig": Match.object_like(
                        {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}
                    )
                },
                "NetworkConfig": {
                    "EnableNetworkIsolation": True,
                    "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "subnet-2"]},
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
            }
        ),
    )
    job = only(template, "AWS::SageMaker::DataQualityJobDefinition")["Properties"]
    (output,) = job["DataQualityJobOutputConfig"]["MonitoringOutputs"]
    assert output["S3Output"]["S3Uri"]["Fn::Join"][1][-1] == f"/{REPORTS_PREFIX}model-monitor/"
    assert "KmsKeyId" in job["DataQualityJobOutputConfig"]
    assert "VolumeKmsKeyId" in job["JobResources"]["ClusterConfig"]
    template.has_resource_properties(
        "AWS::SageMaker::MonitoringSchedule",
        Match.object_like(
            {
                "EndpointName": ENDPOINT,
                "MonitoringScheduleConfig": {
                    "MonitoringJobDefinitionName": f"{stack.stack_name}-data-quality",
                    "MonitoringType": "DataQuality",
                    "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                },
            }
        ),
    )
    (job_id,) = template.find_resources("AWS::SageMaker::DataQualityJobDefinition")
    assert job_id in only(template, "AWS::SageMaker::MonitoringSchedule")["DependsOn"]


def test_model_monitor_role_writes_its_processing_jobs_logs(stack):
    """Each scheduled run is a processing job whose logs SageMaker writes to /aws/sagemaker/ProcessingJobs with
    the job's role."""
    template = model_monitor(stack)
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    logs = statements["JobLogs"]
    assert sorted(logs["Action"]) == [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    assert logs["Resource"]["Fn::Join"][1][-1].endswith(":log-group:/aws/sagemaker/ProcessingJobs:*")
    # the key: read capture and baseline, write reports, grant the volume; nothing without a call
    assert sorted(statements["LakeKey"]["Action"]) == ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey"]


def test_model_monitor_alarms_once_per_feature_above_the_threshold(stack):
    template = model_monitor(stack, distance_threshold=0.25)
    template.resource_count_is("AWS::CloudWatch::Alarm", len(FEATURES))
    for feature in FEATURES:
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            Match.object_like(
                {
                    "Namespace": ModelMonitorSchedule.NAMESPACE,
                    "MetricName": f"feature_baseline_drift_{feature}",
                    "Threshold": 0.25,
                    "Period": 3600,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "AlarmActions": [{"Ref": Match.string_like_regexp("^Alerts")}],
                }
            ),
        )


def test_model_monitor_default_threshold(stack):
    template = model_monitor(stack)
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["Threshold"] == 0.1
        assert "OKActions" not in alarm["Properties"]  # one notification per drift, not per recovery


def alarms_by_id(template: Template) -> dict[str, dict]:
    """The alarms' properties by the start of their logical id (``DriftHeartbeatAlarm...`` -> ``DriftHeartbeat``)."""
    return {k.split("Alarm")[0]: v["Properties"] for k, v in template.find_resources("AWS::CloudWatch::Alarm").items()}


def test_a_failing_drift_job_is_heard_dead_letters_errors_and_heartbeat(stack):
    """A crash must not look like a healthy job with no drift: failed events land in an encrypted, TLS-only queue
    that alarms; any error alarms; two windows without a successful run alarm (missing data breaching)."""
    template = drift(stack, window_hours=6)
    (queue_id, queue), (topic_id,) = only_item(template, "AWS::SQS::Queue"), template.find_resources("AWS::SNS::Topic")
    assert queue["Properties"] == {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}
    template.has_resource_properties(
        "AWS::Lambda::Function",
        Match.object_like({"DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}}),
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        Match.object_like(
            {
                "PolicyDocument": {
                    "Statement": [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
                    ],
                    "Version": "2012-10-17",
                }
            }
        ),
    )
    alarms = alarms_by_id(template)
    topic = [{"Ref": topic_id}]
    dead = alarms["DriftDeadLetter"]
    assert (dead["MetricName"], dead["Namespace"], dead["Statistic"], dead["Period"]) == (
        "ApproximateNumberOfMessagesVisible",
        "AWS/SQS",
        "Maximum",
        300,
    )
    assert (dead["Threshold"], dead["TreatMissingData"], dead["AlarmActions"], dead["OKActions"]) == (
        1,
        "notBreaching",
        topic,
        topic,
    )
    errors = alarms["DriftErrors"]
    assert (errors["MetricName"], errors["Statistic"], errors["Period"], errors["Threshold"]) == (
        "Errors",
        "Sum",
        300,
        1,
    )
    assert (errors["TreatMissingData"], errors["AlarmActions"]) == ("notBreaching", topic)
    heartbeat = alarms["DriftHeartbeat"]
    # successes per window = Invocations - Errors, one 6-hour window each, below 1 in 2 windows in a row
    expression = next(m for m in heartbeat["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "invocations - FILL(errors, 0)"
    assert sorted(m["MetricStat"]["Metric"]["MetricName"] for m in heartbeat["Metrics"] if "MetricStat" in m) == [
        "Errors",
        "Invocations",
    ]
    assert {m["MetricStat"]["Period"] for m in heartbeat["Metrics"] if "MetricStat" in m} == {6 * 3600}
    assert (heartbeat["Threshold"], heartbeat["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert (heartbeat["EvaluationPeriods"], heartbeat["DatapointsToAlarm"]) == (2, 2)
    assert heartbeat["TreatMissingData"] == "breaching"  # no run at all is the failure this alarm exists for
    assert (heartbeat["AlarmActions"], heartbeat["OKActions"]) == (topic, topic)


def test_the_heartbeat_of_a_weekly_window_evaluates_one_window(stack):
    """2 x 168 h would exceed CloudWatch's 7-day evaluation range: one window."""
    heartbeat = alarms_by_id(drift(stack, window_hours=168))["DriftHeartbeat"]
    assert (heartbeat["EvaluationPeriods"], heartbeat["DatapointsToAlarm"]) == (1, 1)


def test_reserved_concurrency_only_when_asked(stack):
    template = drift(stack, reserved_concurrency=1)
    template.has_resource_properties("AWS::Lambda::Function", Match.object_like({"ReservedConcurrentExecutions": 1}))
    other = cdk.Stack(cdk.App(), "Other")
    assert "ReservedConcurrentExecutions" not in only(drift(other), "AWS::Lambda::Function")["Properties"]


def only_item(template: Template, kind: str) -> tuple[str, dict]:
    ((logical_id, resource),) = template.find_resources(kind).items()
    return logical_id, resource


def test_the_drift_role_may_look_up_the_serving_model_and_read_every_models_baseline(stack):
    template = drift(stack)
    found = statements(template, "DriftRole")
    (bucket,) = template.find_resources("AWS::S3::Bucket")
    assert found["ServingEndpoint"]["Action"] == "sagemaker:DescribeEndpoint"
    assert found["ServingEndpoint"]["Resource"]["Fn::Join"][1][-1].endswith(f":endpoint/{ENDPOINT}")
    assert found["ServingModel"]["Action"] == ["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"]
    assert found["ReadModelBaselines"]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/models/*/baseline/*"]]
    }


def test_without_the_serving_models_baseline_the_role_has_no_sagemaker_calls(stack):
    template = drift(stack, baseline_of_serving_model=False)
    found = statements(template, "DriftRole")
    assert not {"ServingEndpoint", "ServingModel", "ReadModelBaselines"} & set(found)
    assert rule_event(template)["baseline_of_serving_model"] is False


def test_one_bias_alarm_per_facet_on_the_largest_absolute_dppl(stack):
    template = drift(
        stack,
        window_hours=2,
        bias_facets={"channel": ["in_store", "online"], "tier": ["bronze", "silver", "gold"]},
        decision_threshold=0.4,
        bias_alarm_threshold=0.15,
    )
    assert rule_event(template)["bias"] == {"facets": ["channel", "tier"], "threshold": 0.4}
    found = template.find_resources("AWS::CloudWatch::Alarm")
    bias_ids = sorted(k for k in found if k.startswith("DriftBiasAlarm"))  # one per facet, named after it
    assert len(bias_ids) == 2
    assert bias_ids[0].startswith("DriftBiasAlarmChannel")
    assert bias_ids[1].startswith("DriftBiasAlarmTier")
    (tier,) = [a for k, a in found.items() if k.startswith("DriftBiasAlarmTier")]
    props = tier["Properties"]
    expression, *metrics = props["Metrics"]
    assert expression["Expression"] == "MAX([ABS(v0), ABS(v1), ABS(v2)])"
    assert [m["MetricStat"]["Metric"]["Dimensions"] for m in metrics] == [
        [{"Name": "Endpoint", "Value": ENDPOINT}, {"Name": "Facet", "Value": "tier"}, {"Name": "Value", "Value": v}]
        for v in ("bronze", "silver", "gold")
    ]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in metrics} == {"BiasDPPL"}
    assert {m["MetricStat"]["Period"] for m in metrics} == {2 * 3600}
    assert (props["Threshold"], props["ComparisonOperator"], props["EvaluationPeriods"]) == (
        0.15,
        "GreaterThanThreshold",
        1,
    )
    assert props["TreatMissingData"] == "notBreaching"  # no traffic for a value is no evidence of bias
    assert json.dumps(props["AlarmActions"]).startswith('[{"Ref": "Alerts')  # the alerts topic


def test_without_facets_no_bias_alarm_and_no_bias_in_the_event(stack):
    template = drift(stack)
    assert "bias" not in rule_event(template)
    assert not [k for k in template.find_resources("AWS::CloudWatch::Alarm") if "Bias" in k]


def test_a_facet_with_more_values_than_an_alarm_takes_is_refused(stack):
    with pytest.raises(ValueError, match="an alarm takes 1 to 10"):
        drift(stack, bias_facets={"merchant": [str(i) for i in range(11)]})
