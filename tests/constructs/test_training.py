"""TrainingPipeline alone in a bare stack: its own defaults, each prop, and what a scanner cannot see in the
state machine definition (names, prefixes, timeouts, retries, the gate, tags)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from ml_constructs.lake_layout import (
    CAPTURE_PREFIX,
    CURATED_ROOT,
    EVALUATION_PREFIX,
    MODELS_PREFIX,
    PREDICTIONS_PREFIX,
)
from ml_constructs.training.construct import (
    DEFAULT_JOB_PREFIX,
    XGBOOST_BINARY,
    EndpointTarget,
    GateThresholds,
    TrainingPipeline,
    Tuning,
)
from ml_constructs.training.explain import DEFAULT_EXPLANATION, Explanation
from ml_constructs.training.states import MERGED_HYPERPARAMETERS, TRANSIENT, TUNED
from tests.unit.test_training import path as happy_path

IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
SKLEARN = "111122223333.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
ETL_MINUTES = 30
ENDPOINT = EndpointTarget(
    name="fraud",
    variant="AllTraffic",
    instance_type="ml.t2.medium",
    instance_count=2,
    capture_uri="s3://artifacts/capture/",
    capture_percentage=25,
)


def pipeline(stack: cdk.Stack, **props: Any) -> Template:
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    TrainingPipeline(
        stack,
        "Training",
        image_uri=IMAGE,
        preprocessing_image_uri=SKLEARN,
        etl_job_name="etl-job",
        etl_timeout=cdk.Duration.minutes(ETL_MINUTES),
        curated=s3.Bucket(stack, "Curated"),
        artifacts=s3.Bucket(stack, "Artifacts"),
        key=kms.Key(stack, "Key"),
        vpc=vpc,
        alerts=sns.Topic(stack, "Alerts"),
        **props,
    )
    return Template.from_stack(stack)


def states(template: Template) -> dict[str, Any]:
    """The definition's states, every token (bucket names, ARNs) replaced by ``TOKEN``."""
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))["States"]


def workflow_statements(template: Template) -> dict[str, Any]:
    role = next(k for k in template.find_resources("AWS::IAM::Role") if k.startswith("TrainingWorkflowRole"))
    policy = next(
        p for p in template.find_resources("AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
    )
    return {s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


# --- defaults --------------------------------------------------------------------------------------------------------


def test_defaults_train_once_score_the_test_split_and_hand_over(stack):
    machine = states(pipeline(stack))
    assert happy_path(machine) == [
        "Names",
        "EtlWindow",
        "EtlWindowFromStart",
        "RunEtl",
        "PinPreprocessing",
        "PinStatistics",
        "PinConstraints",
        "EtlHyperparameters",
        "Train",
        "PinExplainScript",
        "Explain",
        "CreateModel",
        "EvaluateTransform",
        "EvaluateMetrics",
        "QualityGate",
        "Register",
        "TestTransform",
        "Handover",
        "Done",
    ]
    assert "CreateEndpointConfig" not in machine  # no endpoint to roll
    assert "ChampionTransform" not in machine  # and no serving model to beat: the gate alone decides
    assert_etl_window_ends_on_the_input_s_date_or_the_day_the_execution_started(machine)


def assert_etl_window_ends_on_the_input_s_date_or_the_day_the_execution_started(machine: dict[str, Any]) -> None:
    """(Checked on the default pipeline's definition: one synthesis less.)"""
    assert machine["EtlWindow"]["Choices"] == [
        {"Not": {"Variable": "$.etl_window", "IsPresent": True}, "Next": "EtlWindowFromStart"}
    ]
    assert machine["EtlWindow"]["Default"] == "RunEtl"  # {"etl_window": {"end": "YYYY-MM-DD"}} in the input
    from_start = machine["EtlWindowFromStart"]
    # StartTime is ISO 8601 in UTC ("2026-12-06T09:00:00.000Z"): the part before the T is the date
    assert from_start["Parameters"] == {
        "end.$": "States.ArrayGetItem(States.StringSplit($$.Execution.StartTime, 'T'), 0)"
    }
    assert (from_start["ResultPath"], from_start["Next"]) == ("$.etl_window", "RunEtl")


def test_every_model_is_the_two_container_pipeline_of_its_run(stack):
    machine = states(pipeline(stack, endpoint=ENDPOINT))
    params = machine["CreateModel"]["Parameters"]
    assert params["Containers"] == [
        {
            "Image": SKLEARN,
            "ModelDataUrl.$": "$.names.preprocessing_url",  # pinned next to the run's model
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        },
        {"Image": IMAGE, "ModelDataUrl.$": "$.training.model_data_url"},
    ]
    assert params["InferenceExecutionConfig"] == {"Mode": "Serial"}
    assert params["EnableNetworkIsolation"] is True
    assert "PrimaryContainer" not in params
    # the registered package describes the same two containers
    registered = machine["Register"]["Parameters"]["InferenceSpecification"]
    assert registered["Containers"] == params["Containers"]
    assert registered["SupportedContentTypes"] == ["application/json", "application/jsonlines"]


def test_the_etl_preprocessing_artifact_and_baseline_are_pinned_next_to_the_model(stack):
    machine = states(pipeline(stack))
    names = machine["Names"]["Parameters"]
    assert names["model_folder.$"] == f"States.Format('{MODELS_PREFIX}{DEFAULT_JOB_PREFIX}{{}}/', $$.Execution.Name)"
    copies = {n: machine[n]["Parameters"] for n in ("PinPreprocessing", "PinStatistics", "PinConstraints")}
    assert {n: p["CopySource"] for n, p in copies.items()} == {
        "PinPreprocessing": f"TOKEN/{CURATED_ROOT}preprocessing/model.tar.gz",
        "PinStatistics": f"TOKEN/{CURATED_ROOT}preprocessing/baseline/statistics.json",
        "PinConstraints": f"TOKEN/{CURATED_ROOT}preprocessing/baseline/constraints.json",
    }
    assert {n: p["Key.$"] for n, p in copies.items()} == {
        "PinPreprocessing": "States.Format('{}preprocessing/model.tar.gz', $.names.model_folder)",
        "PinStatistics": "States.Format('{}baseline/statistics.json', $.names.model_folder)",
        "PinConstraints": "States.Format('{}baseline/constraints.json', $.names.model_folder)",
    }
    assert all(machine[n]["Resource"].endswith(":states:::aws-sdk:s3:copyObject") for n in copies)


def test_default_training_job(stack):
    machine = states(pipeline(stack))
    job = machine["Train"]["Parameters"]
    assert job["ResourceConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "VolumeSizeInGB": 10,
        "VolumeKmsKeyId": "TOKEN",
    }
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 60 * 60}
    assert machine["Train"]["TimeoutSeconds"] == (60 + 30) * 60  # the job's limit plus a margin for start-up
    # the configured hyperparameters with the ETL's (class_weight's scale_pos_weight) merged over them
    assert job["HyperParameters.$"] == MERGED_HYPERPARAMETERS
    read = machine["EtlHyperparameters"]
    assert read["ResultSelector"] == {"configured": dict(XGBOOST_BINARY), "etl.$": "States.StringToJson($.Body)"}
    assert read["Resource"].endswith(":states:::aws-sdk:s3:getObject")
    assert read["Parameters"] == {"Bucket": "TOKEN", "Key": f"{CURATED_ROOT}preprocessing/hyperparameters.json"}
    assert job["EnableNetworkIsolation"] is True
    assert job["EnableInterContainerTrafficEncryption"] is False  # one instance: no traffic between containers
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in job["InputDataConfig"]}
    assert {name: source["S3Uri"] for name, source in channels.items()} == {
        "train": f"s3://TOKEN/{CURATED_ROOT}train/",
        "validation": f"s3://TOKEN/{CURATED_ROOT}validation/",
    }
    assert {source["S3DataDistributionType"] for source in channels.values()} == {"FullyReplicated"}
    assert job["OutputDataConfig"] == {"S3OutputPath": f"s3://TOKEN/{MODELS_PREFIX}", "KmsKeyId": "TOKEN"}
    assert "Tags" not in job  # no tags given, none sent


def test_the_explain_job_runs_the_training_image_isolated_and_encrypted_on_the_deployed_model(stack):
    """After training (the artifact CreateModel deploys), a processing job on the same image runs the script, with a
    role of its own."""
    template = pipeline(stack, explanation=Explanation(instance_type="ml.c5.xlarge", max_runtime_minutes=12))
    machine = states(template)
    state = machine["Explain"]
    assert state["Resource"].endswith(":states:::sagemaker:createProcessingJob.sync")
    assert state["Next"] == "CreateModel"
    copy = machine["PinExplainScript"]
    assert copy["Next"] == "Explain"
    assert copy["Resource"].endswith(":states:::aws-sdk:s3:copyObject")
    assert copy["Parameters"]["Key.$"] == "States.Format('{}code/explain.py', $.names.model_folder)"
    assert copy["Parameters"]["CopySource"].endswith(".py")  # the asset: <assets bucket>/<hash>.py
    assert state["TimeoutSeconds"] == (12 + 15) * 60  # the job's limit plus a margin for start-up
    assert state["ResultPath"] is None  # what it wrote is in the model's folder; $ keeps $.training
    job = state["Parameters"]
    assert job["ProcessingJobName.$"] == "States.Format('{}-shap', $.names.run)"
    assert job["AppSpecification"]["ImageUri"] == IMAGE
    assert job["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/explain.py"]
    inputs = {i["InputName"]: i["S3Input"] for i in job["ProcessingInputs"]}
    assert inputs["code"]["S3Uri.$"] == "States.Format('s3://TOKEN/{}code/explain.py', $.names.model_folder)"
    assert inputs["model"]["S3Uri.$"] == "$.training.model_data_url"  # the same field CreateModel deploys
    assert machine["CreateModel"]["Parameters"]["Containers"][1]["ModelDataUrl.$"] == "$.training.model_data_url"
    assert inputs["validation"]["S3Uri"] == f"s3://TOKEN/{CURATED_ROOT}validation/"
    assert inputs["fitted"]["S3Uri"] == f"s3://TOKEN/{CURATED_ROOT}preprocessing/fitted.json"
    assert {name: i["LocalPath"] for name, i in inputs.items()} == {
        name: f"/opt/ml/processing/input/{name}" for name in ("code", "model", "validation", "fitted")
    }
    arguments = job["AppSpecification"]["ContainerArguments"]
    assert dict(zip(arguments[::2], arguments[1::2], strict=True)) == {
        "--model": "/opt/ml/processing/input/model",
        "--validation": "/opt/ml/processing/input/validation",
        "--fitted": "/opt/ml/processing/input/fitted",
        "--output": "/opt/ml/processing/output",
    }
    (output,) = job["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri.$"] == "States.Format('s3://TOKEN/{}explainability/', $.names.model_folder)"
    assert job["ProcessingOutputConfig"]["KmsKeyId"] == "TOKEN"
    assert job["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.c5.xlarge",
        "VolumeSizeInGB": 10,
        "VolumeKmsKeyId": "TOKEN",
    }
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 12 * 60}
    network = job["NetworkConfig"]
    assert network["EnableNetworkIsolation"] is True
    assert network["VpcConfig"] == machine["Train"]["Parameters"]["VpcConfig"]  # the training job's subnets and group
    assert job["RoleArn"] == "TOKEN"
    _explain_role_is_scoped(template)


def _explain_role_is_scoped(template: Template) -> None:
    """The Explain job has a role of its own, scoped to what it reads and writes."""
    roles = template.find_resources("AWS::IAM::Role")
    explain_role = next(k for k in roles if k.startswith("TrainingExplainRole"))
    job_role = next(k for k in roles if k.startswith("TrainingJobRole"))
    policy = next(
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": explain_role} in p["Properties"]["Roles"]
    )
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    reads = sorted(r["Fn::Join"][1][-1] for r in statements["ReadInputs"]["Resource"])
    assert reads == [
        f"/{CURATED_ROOT}preprocessing/fitted.json",
        f"/{CURATED_ROOT}validation/*",
        f"/{MODELS_PREFIX}{DEFAULT_JOB_PREFIX}*",  # the run's script and model (a tuning job's best too)
    ]
    assert statements["WriteExplanation"]["Action"] == "s3:PutObject"
    assert statements["WriteExplanation"]["Resource"]["Fn::Join"][1][-1].endswith(
        f"/{MODELS_PREFIX}{DEFAULT_JOB_PREFIX}*/explainability/*"
    )
    assert statements["ListEtlFiles"]["Condition"] == {
        "StringLike": {"s3:prefix": [f"{CURATED_ROOT}validation/*", f"{CURATED_ROOT}preprocessing/fitted.json"]}
    }
    # the workflow passes both roles to SageMaker, runs processing jobs of its own prefix only, copies the script
    workflow = workflow_statements(template)
    assert workflow["PinReadExplainScript"]["Resource"]["Fn::Join"][1][-1].endswith(".py")
    assert workflow["PassJobRole"]["Resource"] == [
        {"Fn::GetAtt": [job_role, "Arn"]},
        {"Fn::GetAtt": [explain_role, "Arn"]},
    ]
    assert sorted(workflow["ProcessingJobs"]["Action"]) == [
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:ListTags",
        "sagemaker:StopProcessingJob",
    ]
    assert workflow["ProcessingJobs"]["Resource"]["Fn::Join"][1][-1].endswith(f":processing-job/{DEFAULT_JOB_PREFIX}*")


def test_default_names_and_prefixes(stack):
    names = states(pipeline(stack))["Names"]["Parameters"]
    assert names["run.$"] == f"States.Format('{DEFAULT_JOB_PREFIX}{{}}', $$.Execution.Name)"
    assert names["models_uri"] == f"s3://TOKEN/{MODELS_PREFIX}"
    assert names["evaluation_uri.$"] == f"States.Format('s3://TOKEN/{EVALUATION_PREFIX}{{}}/', $$.Execution.Name)"
    assert names["predictions_uri.$"] == f"States.Format('s3://TOKEN/{PREDICTIONS_PREFIX}{{}}/', $$.Execution.Name)"


def test_default_gate_and_decision_threshold(stack):
    template = pipeline(stack)
    machine = states(template)
    # no facets (the construct's default): no bias report, so no write for the evaluation function
    assert "WriteBiasAnalysis" not in evaluation_statements(template)
    assert evaluation_statements(template)["LakeKeyThroughS3"]["Action"] == "kms:Decrypt"
    gate = asdict(GateThresholds())
    (choice,) = machine["QualityGate"]["Choices"]
    numeric = [c for c in choice["And"] if "NumericGreaterThanEquals" in c]
    assert {c["Variable"].rsplit(".", 1)[1]: c["NumericGreaterThanEquals"] for c in numeric} == gate
    # and the bias bounds, judged by the function (always present: passed when there are none)
    assert [c for c in choice["And"] if c not in numeric] == [
        {"Variable": "$.evaluation.bias.passed", "BooleanEquals": True}
    ]
    assert machine["QualityGate"]["Default"] == "DeleteRejectedModel"
    payload = machine["EvaluateMetrics"]["Parameters"]
    assert (payload["threshold"], payload["thresholds"]) == (0.5, gate)
    assert machine["GateFailed"]["Error"] == "QualityGateFailed"


def test_every_task_times_out_retries_transient_errors_and_catches_to_the_alert(stack):
    machine = states(pipeline(stack))
    tasks = {name: state for name, state in machine.items() if state["Type"] == "Task"}
    transient = {error for errors in TRANSIENT.values() for error in errors}
    for name, state in tasks.items():
        assert state["TimeoutSeconds"] > 0, name
        (retry,) = state["Retry"]
        assert set(retry["ErrorEquals"]) <= transient, name
        assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (10, 3, 2), name
        assert retry["JitterStrategy"] == "FULL", name
        if name != "NotifyFailure":  # the failure path itself ends in Fail
            assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}]
    assert machine["NotifyFailure"]["Next"] == "Failed"
    assert machine["RunEtl"]["Parameters"] == {
        "JobName": "etl-job",
        "Timeout": ETL_MINUTES,
        "Arguments": {"--window_end.$": "$.etl_window.end"},  # the window's length is the job's default argument
    }
    assert machine["RunEtl"]["TimeoutSeconds"] == (ETL_MINUTES + 15) * 60  # the job's timeout plus queueing
    assert machine["EvaluateTransform"]["TimeoutSeconds"] == 2 * 3600


def test_transforms_send_raw_events_and_join_the_label_to_the_answer(stack):
    machine = states(pipeline(stack))
    for name, split, output in (
        ("EvaluateTransform", "validation", "$.names.evaluation_uri"),
        ("TestTransform", "test", "$.names.predictions_uri"),
    ):
        params = machine[name]["Parameters"]
        source = params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        assert source == f"s3://TOKEN/{CURATED_ROOT}raw/{split}/"
        assert params["TransformInput"]["ContentType"] == "application/jsonlines"
        assert params["TransformOutput"]["S3OutputPath.$"] == output
        assert params["DataProcessing"] == {
            "InputFilter": "$",
            "JoinSource": "Input",
            "OutputFilter": "$['is_fraud','SageMakerOutput']",
        }
        assert params["TransformResources"] == {
            "InstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "VolumeKmsKeyId": "TOKEN",
        }


def test_state_machine_logs_everything_encrypted_and_times_out_after_the_whole_run(stack):
    template = pipeline(stack)
    (key,) = template.find_resources("AWS::KMS::Key")
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        Match.object_like(
            {
                "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
                "TracingConfiguration": {"Enabled": True},
            }
        ),
    )
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    definition = json.loads(
        "".join(p if isinstance(p, str) else "TOKEN" for p in machine["Properties"]["DefinitionString"]["Fn::Join"][1])
    )
    # ETL, one training job, the Explain job, the rest
    assert definition["TimeoutSeconds"] == (ETL_MINUTES + 60 + DEFAULT_EXPLANATION.max_runtime_minutes + 180) * 60
    template.resource_count_is("AWS::Logs::LogGroup", 2)  # the workflow's and the evaluation function's
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": {"Fn::GetAtt": [key, "Arn"]}, "RetentionInDays": 30}
    )
    template.resource_count_is("AWS::Events::Rule", 0)  # on demand only


def test_evaluation_function_runs_the_runtime_folder_with_its_own_role(stack):
    template = pipeline(stack)
    template.resource_count_is("AWS::Lambda::Function", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        Match.object_like(
            {
                "Handler": "handler.handler",
                "Runtime": "python3.14",
                "Architectures": ["arm64"],
                "MemorySize": 512,
                "Timeout": 300,
                "TracingConfig": {"Mode": "Active"},
            }
        ),
    )
    template.has_resource_properties(
        "AWS::IAM::Role",
        Match.object_like(
            {
                "AssumeRolePolicyDocument": Match.object_like(
                    {"Statement": [Match.object_like({"Principal": {"Service": "lambda.amazonaws.com"}})]}
                ),
                "ManagedPolicyArns": Match.absent(),
            }
        ),
    )


def test_model_package_group_is_retained(stack):
    template = pipeline(stack)
    template.resource_count_is("AWS::SageMaker::ModelPackageGroup", 1)
    template.has_resource(
        "AWS::SageMaker::ModelPackageGroup",
        {
            "Properties": {"ModelPackageGroupName": "Test-models", "ModelPackageGroupDescription": Match.any_value()},
            "DeletionPolicy": "Retain",
        },
    )


def test_job_role_reads_the_etl_prefix_and_writes_the_artifact_prefixes(stack):
    template = pipeline(stack)
    role = next(k for k in template.find_resources("AWS::IAM::Role") if k.startswith("TrainingJobRole"))
    policy = next(
        p for p in template.find_resources("AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
    )
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["ReadTrainingData"]["Resource"]["Fn::Join"][1][-1] == f"/{CURATED_ROOT}*"
    assert statements["LakeKeyThroughS3"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]  # s3_kms default
    assert statements["VolumeEncryption"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def job_statements(template: Template) -> dict[str, Any]:
    role = next(k for k in template.find_resources("AWS::IAM::Role") if k.startswith("TrainingJobRole"))
    policy = next(
        p for p in template.find_resources("AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
    )
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


@pytest.mark.parametrize("s3_kms", [True, False])
def test_the_rolled_endpoint_writes_its_capture_with_the_job_role_and_the_key(stack, s3_kms):
    """The endpoint the workflow rolls runs the new model with the job role, and its config encrypts the capture
    with the key whatever the buckets use: the role writes capture/ and may use the key through S3 for it."""
    statements = job_statements(pipeline(stack, s3_kms=s3_kms, endpoint=ENDPOINT))
    writes = [r["Fn::Join"][1][-1] for r in statements["WriteArtifacts"]["Resource"]]
    assert f"/{CAPTURE_PREFIX}*" in writes
    key_use = statements["LakeKeyThroughS3" if s3_kms else "CaptureEncryption"]
    assert "kms:GenerateDataKey" in key_use["Action"]
    assert "kms:ViaService" in key_use["Condition"]["StringEquals"]


def test_without_the_test_transform_the_job_role_writes_no_predictions(stack):
    statements = job_statements(pipeline(stack, batch_transform_test=False))
    writes = [r["Fn::Join"][1][-1] for r in statements["WriteArtifacts"]["Resource"]]
    assert writes == [f"/{MODELS_PREFIX}*", f"/{EVALUATION_PREFIX}*"]


def test_without_an_endpoint_to_roll_the_job_role_writes_no_capture(stack):
    statements = job_statements(pipeline(stack, s3_kms=False))
    writes = [r["Fn::Join"][1][-1] for r in statements["WriteArtifacts"]["Resource"]]
    assert f"/{CAPTURE_PREFIX}*" not in writes
    assert "CaptureEncryption" not in statements
    assert "LakeKeyThroughS3" not in statements


def test_jobs_security_group_admits_only_its_own_members(stack):
    template = pipeline(stack)
    (group,) = [
        g
        for g in template.find_resources("AWS::EC2::SecurityGroup").values()
        if "SageMaker" in g["Properties"]["GroupDescription"]
    ]
    assert [e.get("FromPort") for e in group["Properties"]["SecurityGroupEgress"]] == [443]
    template.resource_count_is("AWS::EC2::SecurityGroupIngress", 1)  # from itself
    template.resource_count_is("AWS::EC2::SecurityGroupEgress", 1)  # to itself


def test_workflow_role_is_scoped_to_the_job_prefix(stack):
    statements = workflow_statements(pipeline(stack))
    for sid, kind in (("TrainingJobs", "training-job"), ("TransformJobs", "transform-job"), ("Models", "model")):
        assert statements[sid]["Resource"]["Fn::Join"][1][-1].endswith(f":{kind}/{DEFAULT_JOB_PREFIX}*"), sid
    assert statements["PassJobRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert statements["RegisterModels"]["Resource"]["Fn::Join"][1][-1].endswith(":model-package/test-models/*")
    # by default: no tags (no AddTags), no tuning job, no endpoint to roll
    assert "sagemaker:AddTags" not in json.dumps(statements)
    assert {"TuningJobs", "BestTrainingJob", "RollEndpoint", "EndpointConfigEncryption", "TagOnCreate"}.isdisjoint(
        statements
    )


def test_workflow_role_follows_the_states_it_has(stack):
    """Tuning, tags and an endpoint to roll each add exactly the grants their states call."""
    statements = workflow_statements(pipeline(stack, tuning=Tuning(), tags={"Project": "demo"}, endpoint=ENDPOINT))
    assert "TrainingJobs" not in statements
    assert "sagemaker:CreateHyperParameterTuningJob" in statements["TuningJobs"]["Action"]
    rules = [r["Fn::Join"][1][-1].rsplit("/", 1)[-1] for r in statements["SyncRules"]["Resource"]]
    assert rules == [
        "StepFunctionsGetEventsForSageMakerTuningJobsRule",
        "StepFunctionsGetEventsForSageMakerTransformJobsRule",
        "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    ]
    for sid in ("TuningJobs", "TransformJobs", "ProcessingJobs", "Models", "RegisterModels"):
        assert "sagemaker:AddTags" in statements[sid]["Action"], sid
    assert statements["TagOnCreate"]["Resource"]["Fn::Join"][1][-1].endswith(f":endpoint-config/{DEFAULT_JOB_PREFIX}*")
    assert statements["EndpointConfigEncryption"]["Action"] == "kms:CreateGrant"


# --- each prop -------------------------------------------------------------------------------------------------------


def test_tags_go_on_everything_a_run_creates(stack):
    tags = {"Project": "demo", "Team": "fraud"}
    machine = states(pipeline(stack, tags=tags, endpoint=ENDPOINT))
    expected = [{"Key": k, "Value": v} for k, v in tags.items()]
    creating = (
        "Train",
        "Explain",
        "CreateModel",
        "EvaluateTransform",
        "ChampionTransform",
        "TestTransform",
        "Register",
        "RegisterRejected",
        "CreateEndpointConfig",
    )
    assert {name for name, state in machine.items() if "Tags" in state.get("Parameters", {})} == set(creating)
    for name in creating:
        assert machine[name]["Parameters"]["Tags"] == expected, name


def test_tuning_searches_eta_and_max_depth_in_the_given_ranges(stack):
    tuning = Tuning(max_jobs=4, max_parallel_jobs=1, eta_min=0.05, eta_max=0.2, max_depth_min=2, max_depth_max=5)
    machine = states(pipeline(stack, tuning=tuning, tags={"Project": "demo"}, max_runtime_minutes=20))
    assert "Train" not in machine
    assert happy_path(machine)[7:13] == [
        "EtlHyperparameters",
        "Tune",
        "BestTrainingJob",
        "PinExplainScript",
        "Explain",
        "CreateModel",
    ]
    params = machine["Tune"]["Parameters"]
    config = params["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 1}
    (eta,) = config["ParameterRanges"]["ContinuousParameterRanges"]
    (depth,) = config["ParameterRanges"]["IntegerParameterRanges"]
    assert (eta["Name"], eta["MinValue"], eta["MaxValue"], eta["ScalingType"]) == ("eta", "0.05", "0.2", "Logarithmic")
    assert (depth["Name"], depth["MinValue"], depth["MaxValue"]) == ("max_depth", "2", "5")
    assert params["TrainingJobDefinition"]["StaticHyperParameters.$"] == MERGED_HYPERPARAMETERS
    static = machine["EtlHyperparameters"]["ResultSelector"]["configured"]
    assert static == {k: v for k, v in XGBOOST_BINARY.items() if k not in TUNED}
    assert params["HyperParameterTuningJobName.$"].startswith(f"States.Format('{DEFAULT_JOB_PREFIX}{{}}'")
    assert params["Tags"] == [{"Key": "Project", "Value": "demo"}]  # the tuning job's training jobs inherit them
    assert "Tags" not in params["TrainingJobDefinition"]
    assert machine["Tune"]["TimeoutSeconds"] == (20 * 4 + 30) * 60


def test_distributed_training_shards_the_data_and_encrypts_traffic(stack):
    job = states(pipeline(stack, instance_count=3, instance_type="ml.m5.xlarge", volume_size_gb=30))["Train"][
        "Parameters"
    ]
    assert job["EnableInterContainerTrafficEncryption"] is True
    assert (job["ResourceConfig"]["InstanceCount"], job["ResourceConfig"]["InstanceType"]) == (3, "ml.m5.xlarge")
    assert job["ResourceConfig"]["VolumeSizeInGB"] == 30
    assert {c["DataSource"]["S3DataSource"]["S3DataDistributionType"] for c in job["InputDataConfig"]} == {
        "ShardedByS3Key"
    }


def test_gate_threshold_and_hyperparameters_follow_the_props(stack):
    gate = GateThresholds(auc=0.9, precision=0.4, recall=0.6, f1=0.45)
    machine = states(pipeline(stack, gate=gate, decision_threshold=0.3, hyperparameters={"num_round": "7"}))
    (choice,) = machine["QualityGate"]["Choices"]
    assert {"Variable": "$.evaluation.metrics.auc", "NumericGreaterThanEquals": 0.9} in choice["And"]
    assert machine["EvaluateMetrics"]["Parameters"]["threshold"] == 0.3
    assert machine["NotifyGateFailure"]["Parameters"]["Message"]["thresholds"] == asdict(gate)
    assert machine["EtlHyperparameters"]["ResultSelector"]["configured"] == {"num_round": "7"}


def test_without_the_test_transform_the_endpoint_roll_follows_the_registry(stack):
    machine = states(pipeline(stack, batch_transform_test=False, endpoint=ENDPOINT))
    assert "TestTransform" not in machine
    assert machine["Register"]["Next"] == "CreateEndpointConfig"
    config = machine["CreateEndpointConfig"]["Parameters"]
    (variant,) = config["ProductionVariants"]
    assert (variant["VariantName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        "AllTraffic",
        "ml.t2.medium",
        2,
    )
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 25
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://artifacts/capture/"
    assert machine["UpdateEndpoint"]["Parameters"]["EndpointName"] == "fraud"
    assert machine["EndpointInService"]["Default"] == "CountPoll"
    assert machine["CountPoll"]["Next"] == "WaitForEndpoint"
    assert machine["WaitForEndpoint"]["Seconds"] == 60
    # two instances: the default roll-out shifts a canary first
    routing = machine["UpdateEndpoint"]["Parameters"]["DeploymentConfig"]["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"
    ]
    assert routing["Type"] == "CANARY"


@pytest.mark.parametrize("s3_kms", [True, False])
def test_outputs_use_the_key_only_when_the_buckets_do(stack, s3_kms):
    machine = states(pipeline(stack, s3_kms=s3_kms))
    assert ("KmsKeyId" in machine["Train"]["Parameters"]["OutputDataConfig"]) is s3_kms
    assert ("KmsKeyId" in machine["EvaluateTransform"]["Parameters"]["TransformOutput"]) is s3_kms
    assert machine["Train"]["Parameters"]["ResourceConfig"]["VolumeKmsKeyId"] == "TOKEN"  # volumes always


def test_job_prefix_names_the_jobs_and_scopes_the_role(stack):
    template = pipeline(stack, job_prefix="alice-")
    machine = states(template)
    assert machine["Names"]["Parameters"]["run.$"] == "States.Format('alice-{}', $$.Execution.Name)"
    jobs = json.dumps(workflow_statements(template))
    assert ":training-job/alice-*" in jobs
    assert DEFAULT_JOB_PREFIX not in jobs


def test_schedule_starts_the_workflow(stack):
    template = pipeline(stack, schedule="cron(0 3 ? * SUN *)")
    template.resource_count_is("AWS::Events::Rule", 1)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"ScheduleExpression": "cron(0 3 ? * SUN *)", "State": "ENABLED", "Targets": Match.any_value()},
    )


def test_a_scheduled_start_that_fails_lands_in_a_watched_dead_letter_queue(stack):
    """A start EventBridge could not make (after its retries) is kept in a queue the rule may write to, and any
    message there alarms to the topic: a schedule that stopped starting runs is never silent."""
    template = pipeline(stack, schedule="cron(0 3 ? * SUN *)")
    (queue_id,) = template.find_resources("AWS::SQS::Queue")
    (rule_id, rule), (topic_id,) = (
        *template.find_resources("AWS::Events::Rule").items(),
        template.find_resources("AWS::SNS::Topic"),
    )
    (target,) = rule["Properties"]["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        Match.object_like(
            {
                "PolicyDocument": Match.object_like(
                    {
                        "Statement": Match.array_with(
                            [
                                Match.object_like(
                                    {
                                        "Action": "sqs:SendMessage",
                                        "Principal": {"Service": "events.amazonaws.com"},
                                        "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
                                    }
                                )
                            ]
                        )
                    }
                )
            }
        ),
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        Match.object_like(
            {
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
                "Threshold": 1,
                "AlarmActions": [{"Ref": topic_id}],
            }
        ),
    )


def test_no_schedule_no_dead_letter_queue(stack):
    template = pipeline(stack)
    template.resource_count_is("AWS::SQS::Queue", 0)


def test_log_retention_and_removal_policy_follow_the_props(stack):
    template = pipeline(stack, log_retention=logs.RetentionDays.ONE_WEEK, removal_policy=cdk.RemovalPolicy.RETAIN)
    groups = [g for k, g in template.find_resources("AWS::Logs::LogGroup").items() if k.startswith("Training")]
    assert len(groups) == 2
    assert all(g["Properties"]["RetentionInDays"] == 7 and g["DeletionPolicy"] == "Retain" for g in groups)


def test_failed_timed_out_and_aborted_executions_each_alarm_to_the_topic(stack):
    """What no Catch sees (States.Runtime, the execution's timeout, a stop by hand) still reaches the alerts topic:
    one alarm per execution metric, any such execution in 5 minutes, ALARM only (an execution's end is an event)."""
    template = pipeline(stack)
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine")
    (topic,) = template.find_resources("AWS::SNS::Topic")
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/States"
    }
    assert sorted(alarms) == ["ExecutionsAborted", "ExecutionsFailed", "ExecutionsTimedOut"]
    for alarm in alarms.values():
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine}}]
        assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (
            "Sum",
            300,
            1,
            1,
        )
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"  # no execution is not a failure
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert "OKActions" not in alarm


def test_bias_facets_reach_the_transforms_and_the_evaluation_and_its_bounds_the_gate(stack):
    bounds = {"max_abs_dppl": 0.2, "min_di": 0.8}
    template = pipeline(stack, bias_facets=("channel",), bias_bounds=bounds, endpoint=ENDPOINT)
    machine = states(template)
    assert machine["EvaluateTransform"]["Parameters"]["DataProcessing"]["OutputFilter"] == (
        "$['is_fraud','channel','SageMakerOutput']"
    )
    assert machine["EvaluateMetrics"]["Parameters"]["bias"] == {
        "label": "is_fraud",
        "facets": ["channel"],
        "bounds": bounds,
        "analysis_uri.$": "$.names.bias_analysis_uri",
    }
    # the champion is scored with the facets in its lines, but neither gated on bias nor writing a report
    assert machine["EvaluateChampion"]["Parameters"]["bias"] == {"label": "is_fraud", "facets": ["channel"]}
    names = machine["Names"]["Parameters"]
    assert names["bias_analysis_uri.$"] == (
        f"States.Format('s3://TOKEN/{EVALUATION_PREFIX}{{}}-bias/analysis.json', $$.Execution.Name)"
    )
    assert "failures.$" in json.dumps(machine["NotifyGateFailure"]["Parameters"]["Message"])
    # the function may write that one report name (and encrypt it with the lake key through S3)
    with_facets = evaluation_statements(template)
    assert with_facets["WriteBiasAnalysis"]["Action"] == "s3:PutObject"
    analysis = with_facets["WriteBiasAnalysis"]["Resource"]["Fn::Join"][1][-1]
    assert analysis == f"/{EVALUATION_PREFIX}*-bias/analysis.json"  # that one object name per run
    assert with_facets["LakeKeyThroughS3"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def evaluation_statements(template) -> dict[str, dict]:
    (policy,) = [
        p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("TrainingEvaluateRole")
    ]
    return {st.get("Sid", str(st["Action"])): st for st in policy["Properties"]["PolicyDocument"]["Statement"]}
