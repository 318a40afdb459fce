"""RealTimeEndpoint alone in a bare stack: its defaults, the props the caller controls, and what is fixed."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from ml_constructs.lake_layout import (
    BASELINE_PREFIX,
    CAPTURE_PREFIX,
    DEFAULT_MODEL_PREFIX,
    DEFAULT_PREPROCESSING_FILE,
    DEFAULT_PREPROCESSING_PREFIX,
    MODELS_PREFIX,
)
from ml_constructs.serving.construct import VARIANT, RealTimeEndpoint
from ml_constructs.serving.rollout import Rollout

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:test"
SKLEARN = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:test"


def s3_uri(suffix: str) -> dict:
    """``s3://<artifacts bucket>/<suffix>`` as CloudFormation renders it."""
    return {"Fn::Join": ["", ["s3://", {"Ref": Match.string_like_regexp("^Artifacts")}, f"/{suffix}"]]}


def object_arn(template: Template, suffix: str) -> dict:
    """The ARN of the artifacts bucket's objects matching ``suffix``, as CloudFormation renders it."""
    (bucket,) = template.find_resources("AWS::S3::Bucket")
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, f"/{suffix}"]]}


def key_id(template: Template) -> str:
    (key,) = template.find_resources("AWS::KMS::Key")
    return key


def endpoint(stack: cdk.Stack, **props) -> tuple[RealTimeEndpoint, Template]:
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    construct = RealTimeEndpoint(
        stack,
        "Serving",
        image_uri=IMAGE,
        preprocessing_image_uri=SKLEARN,
        artifacts=s3.Bucket(stack, "Artifacts"),
        key=kms.Key(stack, "Key"),
        vpc=vpc,
        alerts=sns.Topic(stack, "Alerts"),
        **props,
    )
    return construct, Template.from_stack(stack)


def policy_statements(template: Template, policy_prefix: str) -> dict[str, dict]:
    (policy,) = [p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith(policy_prefix)]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_defaults_one_small_instance_scaling_to_two_capturing_every_request(stack):
    _, template = endpoint(stack)
    template.resource_count_is("AWS::SageMaker::Model", 1)
    template.resource_count_is("AWS::SageMaker::EndpointConfig", 1)
    template.resource_count_is("AWS::SageMaker::Endpoint", 1)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        Match.object_like(
            {
                "ProductionVariants": [
                    Match.object_like(
                        {
                            "VariantName": VARIANT,
                            "InstanceType": "ml.t2.medium",
                            "InitialInstanceCount": 1,
                            "InitialVariantWeight": 1,
                        }
                    )
                ],
                "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^Key"), "Arn"]},
                "DataCaptureConfig": {
                    "EnableCapture": True,
                    "InitialSamplingPercentage": 100,
                    "DestinationS3Uri": s3_uri(CAPTURE_PREFIX),
                    "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^Key"), "Arn"]},
                    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                    "CaptureContentTypeHeader": {
                        "CsvContentTypes": ["text/csv"],
                        "JsonContentTypes": ["application/json", "application/jsonlines"],
                    },
                },
            }
        ),
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        Match.object_like(
            {
                "MinCapacity": 1,
                "MaxCapacity": 2,
                "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                "ServiceNamespace": "sagemaker",
            }
        ),
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        Match.object_like(
            {
                "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                    {
                        "TargetValue": 100,
                        "PredefinedMetricSpecification": {
                            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                        },
                        "ScaleInCooldown": 5 * 60,
                        "ScaleOutCooldown": 60,
                    }
                )
            }
        ),
    )


def test_the_model_is_a_serial_pipeline_of_the_copied_default_artifacts_network_isolated(stack):
    _, template = endpoint(stack)
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        Match.object_like(
            {
                "Containers": [
                    {
                        "Image": SKLEARN,
                        "ModelDataUrl": s3_uri(f"{DEFAULT_PREPROCESSING_PREFIX}{DEFAULT_PREPROCESSING_FILE}"),
                        "Environment": {
                            "SAGEMAKER_PROGRAM": "inference.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                        },
                    },
                    {"Image": IMAGE, "ModelDataUrl": s3_uri(f"{DEFAULT_MODEL_PREFIX}model.tar.gz")},
                ],
                "InferenceExecutionConfig": {"Mode": "Serial"},
                "EnableNetworkIsolation": True,
                "VpcConfig": Match.object_like({"Subnets": Match.any_value()}),
            }
        ),
    )
    (model,) = template.find_resources("AWS::SageMaker::Model").values()
    assert "PrimaryContainer" not in model["Properties"]
    assert any(d.startswith("ServingDefaultModel") for d in model["DependsOn"])  # the copies run first
    assert any(d.startswith("ServingDefaultPreprocessing") for d in model["DependsOn"])
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        Match.object_like(
            {
                "SecurityGroupEgress": [
                    Match.object_like({"CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"})
                ]
            }
        ),
    )


def test_model_and_baseline_are_copied_without_pruning_encrypted_with_the_key(stack):
    _, template = endpoint(stack)
    template.resource_count_is("Custom::CDKBucketDeployment", 3)
    for prefix in (DEFAULT_MODEL_PREFIX, DEFAULT_PREPROCESSING_PREFIX, BASELINE_PREFIX):
        template.has_resource_properties(
            "Custom::CDKBucketDeployment",
            Match.object_like(
                {
                    "DestinationBucketKeyPrefix": prefix,
                    "Prune": False,
                    "SystemMetadata": {"sse": "aws:kms", "sse-kms-key-id": Match.any_value()},
                }
            ),
        )
    statements = policy_statements(template, "ServingDeploymentPolicy")
    assert statements["WriteDestinations"]["Action"] == "s3:PutObject"  # no delete, no read-write on the bucket
    # the preprocessing archive and the baseline are inside models/default/: one prefix
    assert BASELINE_PREFIX.startswith(DEFAULT_MODEL_PREFIX)
    assert statements["WriteDestinations"]["Resource"] == object_arn(template, f"{DEFAULT_MODEL_PREFIX}*")
    assert statements["EncryptThroughS3"]["Action"] == "kms:GenerateDataKey"  # whole-object uploads only
    assert statements["EncryptThroughS3"]["Resource"] == {"Fn::GetAtt": [key_id(template), "Arn"]}
    assert statements["EncryptThroughS3"]["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Join": ["", [f"s3.{stack.region}.", {"Ref": "AWS::URLSuffix"}]]
    }


def test_the_copy_handler_logs_with_the_given_retention_key_and_removal_policy():
    # The handler's log group exists under this feature flag (cdk.json sets it; the bare App does not).
    app = cdk.App(context={"@aws-cdk/aws-lambda:useCdkManagedLogGroup": True})
    stack = cdk.Stack(app, "Test", env=cdk.Environment(account="123456789012", region="us-east-1"))
    _, template = endpoint(stack, log_retention=logs.RetentionDays.ONE_WEEK)
    groups = [
        g
        for k, g in template.find_resources("AWS::Logs::LogGroup").items()
        if k.startswith("CustomCDKBucketDeployment")
    ]
    assert len(groups) == 1  # one handler per stack, shared by both copies
    assert groups[0]["Properties"]["RetentionInDays"] == 7
    assert groups[0]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id(template), "Arn"]}
    assert groups[0]["DeletionPolicy"] == "Delete"  # the construct's default removal policy


def test_without_s3_kms_the_copies_use_the_bucket_default_encryption(stack):
    _, template = endpoint(stack, s3_kms=False)
    for deployment in template.find_resources("Custom::CDKBucketDeployment").values():
        assert "SystemMetadata" not in deployment["Properties"]
    assert "EncryptThroughS3" not in policy_statements(template, "ServingDeploymentPolicy")
    # SSE-S3 models: the model role uses the key for the capture only
    assert policy_statements(template, "ServingModelRoleDefaultPolicy")["ModelAndCaptureEncryption"]["Action"] == (
        "kms:GenerateDataKey"
    )


def test_the_caller_sets_size_scaling_capture_and_latency(stack):
    _, template = endpoint(
        stack,
        instance_type="ml.m5.large",
        instance_count=2,
        min_capacity=2,
        max_capacity=4,
        target_invocations_per_instance=250,
        capture_percentage=20,
        latency_alarm_ms=200,
    )
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        Match.object_like(
            {
                "ProductionVariants": [Match.object_like({"InstanceType": "ml.m5.large", "InitialInstanceCount": 2})],
                "DataCaptureConfig": Match.object_like({"EnableCapture": True, "InitialSamplingPercentage": 20}),
            }
        ),
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", Match.object_like({"MinCapacity": 2, "MaxCapacity": 4})
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        Match.object_like({"TargetTrackingScalingPolicyConfiguration": Match.object_like({"TargetValue": 250})}),
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", Match.object_like({"MetricName": "ModelLatency", "Threshold": 200 * 1000})
    )


def test_capture_percentage_zero_turns_capture_off(stack):
    _, template = endpoint(stack, capture_percentage=0)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        Match.object_like({"DataCaptureConfig": Match.object_like({"EnableCapture": False})}),
    )


@pytest.mark.parametrize(
    "props",
    [
        {"min_capacity": 2},  # above instance_count 1
        {"instance_count": 3},  # above max_capacity 2
        {"min_capacity": 0, "instance_count": 0},
        {"capture_percentage": 101},
    ],
)
def test_impossible_sizes_are_refused_at_synth(stack, props):
    with pytest.raises(ValueError, match=r"need|0 to 100"):
        endpoint(stack, **props)


def test_alarms_on_errors_and_latency_notify_the_topic_both_ways(stack):
    _, template = endpoint(stack)
    template.resource_count_is("AWS::CloudWatch::Alarm", 2)
    topic = [{"Ref": Match.string_like_regexp("^Alerts")}]
    dimensions = Match.array_with([{"Name": "VariantName", "Value": VARIANT}])
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        Match.object_like(
            {
                "Namespace": "AWS/SageMaker",
                "MetricName": "Invocation5XXErrors",
                "Dimensions": dimensions,
                "Statistic": "Sum",
                "Period": 300,
                "Threshold": 1,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": topic,
                "OKActions": topic,
            }
        ),
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        Match.object_like(
            {
                "MetricName": "ModelLatency",
                "Statistic": "Average",
                "Threshold": 500 * 1000,  # the default 500 ms, in microseconds
                "EvaluationPeriods": 3,
                "DatapointsToAlarm": 3,
                "ComparisonOperator": "GreaterThanThreshold",
                "AlarmActions": topic,
                "OKActions": topic,
            }
        ),
    )


def test_the_model_role_reads_models_and_writes_capture_only(stack):
    _, template = endpoint(stack)
    statements = policy_statements(template, "ServingModelRoleDefaultPolicy")
    assert statements["ReadModels"]["Resource"] == object_arn(template, f"{MODELS_PREFIX}*")
    assert statements["WriteCapture"]["Resource"] == object_arn(template, f"{CAPTURE_PREFIX}*")
    assert statements["WriteCapture"]["Action"] == "s3:PutObject"
    # the key: decrypt the SSE-KMS models, encrypt the capture; the volumes' grant is the endpoint creator's
    assert statements["ModelAndCaptureEncryption"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statements["EndpointMetrics"]["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}
    template.has_resource_properties(
        "AWS::IAM::Role",
        Match.object_like(
            {
                "AssumeRolePolicyDocument": Match.object_like(
                    {"Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]}
                )
            }
        ),
    )


def deployment(template: Template) -> dict:
    (endpoint_resource,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    return endpoint_resource["Properties"]["DeploymentConfig"]


def test_one_instance_rolls_out_all_at_once_with_baking_and_rolls_back_on_both_alarms(stack):
    _, template = endpoint(stack)
    config = deployment(template)
    # the defaults of Rollout: baking 600 s, bound 3600 s, wait 300 s
    assert config["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300},
        "TerminationWaitInSeconds": 600,
        "MaximumExecutionTimeoutInSeconds": 3600,
    }
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]["AlarmName"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert sorted(a["AlarmName"] for a in config["AutoRollbackConfiguration"]["Alarms"]) == sorted(alarms.values())
    assert set(alarms) == {"Invocation5XXErrors", "ModelLatency"}


def test_two_instances_shift_traffic_by_canary_or_linear_steps(stack):
    _, template = endpoint(
        stack, instance_count=2, rollout=Rollout(mode="linear", linear_step_percent=25, wait_seconds=120)
    )
    routing = deployment(template)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "LINEAR",
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        "WaitIntervalInSeconds": 120,
    }


def test_auto_is_canary_with_two_instances(stack):
    _, template = endpoint(stack, instance_count=2, rollout=Rollout(canary_percent=10))
    routing = deployment(template)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY"
    assert routing["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}


@pytest.mark.parametrize(
    ("rollout", "message"),
    [
        (Rollout(mode="canary"), "at least 2 instances"),  # one instance cannot shift traffic
        (Rollout(canary_percent=51), "canary_percent=51: 1 to 50"),
        (Rollout(linear_step_percent=5), "linear_step_percent=5: 10 to 50"),
        (Rollout(wait_seconds=3601), "wait_seconds=3601: 0 to 3600"),
        (Rollout(max_seconds=599), "max_seconds=599: 600 to 28800"),
        (Rollout(wait_seconds=600, baking_seconds=600, max_seconds=1200), "must exceed"),
        (Rollout(mode="blue"), "one of auto, canary, linear, all_at_once"),
    ],
)
def test_impossible_rollouts_are_refused_at_synth(stack, rollout, message):
    with pytest.raises(ValueError, match=message):
        endpoint(stack, rollout=rollout)
