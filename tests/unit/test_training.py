"""TrainingStack: the state machine definition (states, order, Retry/Catch/timeouts, the gate), the job
settings, isolation and encryption, the image, the evaluation function and the permissions."""

from __future__ import annotations

import json

import pytest

from ml_constructs.training.states import MERGED_HYPERPARAMETERS, TRANSIENT
from sagemaker_images import DEFAULT_XGBOOST_VERSION, XGBOOST_ACCOUNTS
from tests.conftest import resources

TASKS_WITHOUT_CATCH = {"NotifyFailure"}  # the failure path itself ends in Fail


def definition(template) -> dict:
    (machine,) = resources(template, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


@pytest.fixture(scope="module")
def training(sandbox):
    return sandbox.template(sandbox.stacks.training)


@pytest.fixture(scope="module")
def states(training):
    return definition(training)["States"]


def path(states, start="Names") -> list[str]:
    """The happy path: follow Next (and the gate's pass branch) from the start."""
    order, name = [], start
    while name:
        order.append(name)
        state = states[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state.get("Next")
    return order


def test_happy_path_runs_etl_train_evaluate_gate_register_roll_the_endpoint_handover(states):
    assert path(states) == [
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
        "DescribeServingEndpoint",
        "DescribeServingConfig",
        "ChampionTransform",
        "EvaluateChampion",
        "ChallengerNotWorse",
        "Register",
        "TestTransform",
        "CreateEndpointConfig",
        "UpdateEndpoint",
        "StartRollout",
        "WaitForEndpoint",
        "DescribeEndpoint",
        "EndpointInService",
        "Handover",
        "Done",
    ]


def test_a_challenger_worse_than_the_serving_model_is_registered_rejected_and_the_endpoint_kept(sandbox, states):
    (choice,) = states["ChallengerNotWorse"]["Choices"]
    assert choice == {
        "Variable": "$.champion.evaluation.challenger.not_worse",
        "BooleanEquals": True,
        "Next": "Register",
    }
    kept = path(states, states["ChallengerNotWorse"]["Default"])
    assert kept == ["RegisterRejected", "NotifyChampionKept", "ChampionKept"]
    assert states["RegisterRejected"]["Parameters"]["ModelApprovalStatus"] == "Rejected"
    assert states["Register"]["Parameters"]["ModelApprovalStatus"] == "Approved"
    assert states["ChampionKept"]["Type"] == "Succeed"
    assert not {"UpdateEndpoint", "CreateEndpointConfig"} & set(kept)
    # the champion: the model of the endpoint's current config, scored on the same split by the same function
    assert states["DescribeServingConfig"]["ResultSelector"]["model.$"] == "$.ProductionVariants[0].ModelName"
    champion, challenger = states["ChampionTransform"]["Parameters"], states["EvaluateTransform"]["Parameters"]
    assert champion["ModelName.$"] == "$.champion.model"
    assert champion["TransformInput"] == challenger["TransformInput"]
    payload = states["EvaluateChampion"]["Parameters"]
    assert payload["output_prefix.$"] == "$.names.champion_uri"
    assert payload["challenger"] == {
        "auc.$": "$.evaluation.metrics.auc",
        "margin": sandbox.config.serving.champion_auc_margin,
    }


def test_gate_failure_deletes_the_model_notifies_and_fails(states):
    assert path(states, states["QualityGate"]["Default"]) == ["DeleteRejectedModel", "NotifyGateFailure", "GateFailed"]
    assert states["GateFailed"]["Error"] == "QualityGateFailed"
    assert "not registered" in states["GateFailed"]["Cause"]


def test_every_task_has_a_timeout_a_transient_retry_and_a_catch_to_the_failure_path(states):
    task_states = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert len(task_states) >= 9
    known = {error for errors in TRANSIENT.values() for error in errors}
    for name, state in task_states.items():
        assert state["TimeoutSeconds"] > 0, name
        (retry,) = state["Retry"]
        assert set(retry["ErrorEquals"]) <= known, name  # transient errors only, never States.ALL
        assert retry["MaxAttempts"] == 3
        assert retry["JitterStrategy"] == "FULL"
        if name in TASKS_WITHOUT_CATCH:
            assert "Catch" not in state
        else:
            assert state["Catch"] == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}
            ], name
    assert path(states, "NotifyFailure") == ["NotifyFailure", "Failed"]


def test_gate_thresholds_come_from_the_config(sandbox, states):
    (choice,) = states["QualityGate"]["Choices"]
    numeric = [c for c in choice["And"] if "NumericGreaterThanEquals" in c]
    conditions = {c["Variable"].rsplit(".", 1)[1]: c["NumericGreaterThanEquals"] for c in numeric}
    assert conditions == sandbox.config.training.gate.model_dump()
    assert {"Variable": "$.evaluation.bias.passed", "BooleanEquals": True} in choice["And"]
    # the bias gate is off by default: the function gets the facets (bias.facets) and no bounds
    bias = states["EvaluateMetrics"]["Parameters"]["bias"]
    assert (bias["facets"], bias["bounds"]) == (list(sandbox.config.bias.facet_list()), {})


def test_gate_thresholds_follow_overrides(variant):
    result = variant
    states = definition(result.template(result.stacks.training))["States"]
    (choice,) = states["QualityGate"]["Choices"]
    assert {"Variable": "$.evaluation.metrics.auc", "NumericGreaterThanEquals": 0.9} in choice["And"]
    assert "TestTransform" not in states
    assert states["Register"]["Next"] == "CreateEndpointConfig"


def test_training_job_is_isolated_encrypted_and_configured(sandbox, states):
    job = states["Train"]["Parameters"]
    settings = sandbox.config.training
    assert states["Train"]["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    assert job["EnableNetworkIsolation"] is True
    assert job["EnableInterContainerTrafficEncryption"] is (settings.instance_count > 1)
    assert job["ResourceConfig"] == {
        "InstanceCount": settings.instance_count,
        "InstanceType": settings.instance_type,
        "VolumeSizeInGB": settings.volume_size_gb,
        "VolumeKmsKeyId": "TOKEN",
    }
    assert job["OutputDataConfig"]["KmsKeyId"] == "TOKEN"
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": settings.max_runtime_minutes * 60}
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["train", "validation"]
    assert all(c["ContentType"] == "text/csv" for c in job["InputDataConfig"])
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].endswith("/etl/train/")
    assert job["HyperParameters.$"] == MERGED_HYPERPARAMETERS  # the ETL's (class_weight) merged over these:
    assert states["EtlHyperparameters"]["ResultSelector"]["configured"] == {
        "objective": "binary:logistic",
        "eval_metric": "auc",
        **{k: str(v) for k, v in settings.hyperparameters.model_dump().items()},
    }
    assert set(job["VpcConfig"]) == {"SecurityGroupIds", "Subnets"}
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith(f"/sagemaker-xgboost:{DEFAULT_XGBOOST_VERSION}")
    assert states["Train"]["TimeoutSeconds"] > settings.max_runtime_minutes * 60


def test_environment_agnostic_image_comes_from_a_mapping_with_a_region_rule(training):
    mapping = training["Mappings"]["XgboostImageAccounts"]
    assert {region: row["account"] for region, row in mapping.items()} == dict(XGBOOST_ACCOUNTS)
    # the rule refuses the regions the mapping lacks (tests/compliance/test_regions.py checks the whole list)
    refused = training["Rules"]["SupportedRegion"]["Assertions"][0]["Assert"]["Fn::Not"][0]["Fn::Contains"][0]
    assert {"ap-southeast-5", "mx-central-1"} <= set(refused)
    assert not {"ap-southeast-5", "mx-central-1"} & set(mapping)


def test_a_pinned_region_resolves_the_image_at_synth(tmp_path):
    from tests.conftest import synth

    result = synth(tmp_path, {"region": "eu-west-1", "account": "123456789012"})
    states = definition(result.template(result.stacks.training))["States"]
    image = states["Train"]["Parameters"]["AlgorithmSpecification"]["TrainingImage"]
    assert image.startswith(f"{XGBOOST_ACCOUNTS['eu-west-1']}.dkr.ecr.eu-west-1.")


def test_evaluation_transform_joins_the_label_and_the_score(sandbox, states):
    params = states["EvaluateTransform"]["Parameters"]
    # raw events in, whole; the label and the pipeline's answer out
    assert params["DataProcessing"] == {
        "InputFilter": "$",
        "JoinSource": "Input",
        # the label, the bias facets (bias.facets, default customer_tier and channel) and the answer
        "OutputFilter": "$['is_fraud','customer_tier','channel','SageMakerOutput']",
    }
    assert params["TransformInput"]["SplitType"] == "Line"
    assert params["TransformInput"]["ContentType"] == "application/jsonlines"
    assert params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].endswith("/etl/raw/validation/")
    assert params["TransformOutput"]["Accept"] == "application/jsonlines"
    assert params["TransformOutput"]["KmsKeyId"] == "TOKEN"
    payload = states["EvaluateMetrics"]["Parameters"]  # payload_response_only: the Lambda's event itself
    assert payload["output_prefix.$"] == "$.names.evaluation_uri"
    assert payload["threshold"] == sandbox.config.training.decision_threshold
    assert payload["thresholds"] == sandbox.config.training.gate.model_dump()


def test_tuning_replaces_training_with_bounded_bayesian_search(variant):
    result = variant
    states = definition(result.template(result.stacks.training))["States"]
    assert "Train" not in states
    assert path(states)[:13] == [
        "Names",
        "EtlWindow",
        "EtlWindowFromStart",
        "RunEtl",
        "PinPreprocessing",
        "PinStatistics",
        "PinConstraints",
        "EtlHyperparameters",
        "Tune",
        "BestTrainingJob",
        "PinExplainScript",
        "Explain",
        "CreateModel",
    ]
    config = states["Tune"]["Parameters"]["HyperParameterTuningJobConfig"]
    tuning = result.config.training.tuning
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert config["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 6,
        "MaxParallelTrainingJobs": tuning.max_parallel_jobs,
    }
    (eta,) = config["ParameterRanges"]["ContinuousParameterRanges"]
    assert (eta["MinValue"], eta["MaxValue"]) == (str(tuning.eta_min), str(tuning.eta_max))
    assert states["Tune"]["Parameters"]["TrainingJobDefinition"]["StaticHyperParameters.$"] == MERGED_HYPERPARAMETERS
    static = states["EtlHyperparameters"]["ResultSelector"]["configured"]
    assert "eta" not in static
    assert "max_depth" not in static


def test_workflow_logs_all_to_an_encrypted_group_with_tracing(sandbox, training):
    (machine,) = resources(training, "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert props["TracingConfiguration"] == {"Enabled": True}
    groups = resources(training, "AWS::Logs::LogGroup")
    assert all("DataLakeKey" in json.dumps(g["Properties"]["KmsKeyId"]) for g in groups.values())


def test_job_role_reads_curated_and_writes_only_artifact_prefixes(training):
    role_id = next(k for k in resources(training, "AWS::IAM::Role") if k.startswith("TrainingJobRole"))
    policy = next(
        p for p in resources(training, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    )
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert sorted(r["Fn::Join"][1][-1] for r in statements["WriteArtifacts"]["Resource"]) == [
        "/capture/*",
        "/evaluation/*",
        "/models/*",
        "/predictions/*",
    ]
    assert statements["ReadTrainingData"]["Resource"]["Fn::Join"][1][-1] == "/etl/*"
    assert statements["WriteArtifacts"]["Action"] == ["s3:GetObject", "s3:PutObject"]  # no listing, no upload abort
    assert "ListArtifacts" not in statements
    assert statements["VolumeEncryption"]["Action"] == "kms:CreateGrant"
    assert statements["VolumeEncryption"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def workflow_statements(template) -> dict:
    role_id = next(k for k in resources(template, "AWS::IAM::Role") if k.startswith("TrainingWorkflowRole"))
    policy = next(
        p for p in resources(template, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    )
    return {s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def arn_tails(statement: dict) -> list[str]:
    """The literal end of each resource ARN of a statement (after the last token)."""
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [r["Fn::Join"][1][-1] for r in resources]


def test_with_sse_s3_buckets_the_job_role_may_still_encrypt_the_rolled_endpoints_capture(variant):
    """lake.encryption=s3: the buckets use SSE-S3, but the endpoint config the workflow creates encrypts the data
    capture with the lake key, and the rolled endpoint writes it with the job role."""
    template = variant.template(variant.stacks.training)
    role_id = next(k for k in resources(template, "AWS::IAM::Role") if k.startswith("TrainingJobRole"))
    policy = next(
        p for p in resources(template, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    )
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert "LakeKeyThroughS3" not in statements
    assert statements["CaptureEncryption"]["Action"] == "kms:GenerateDataKey"
    assert "DataLakeKey" in json.dumps(statements["CaptureEncryption"]["Resource"])


def test_workflow_role_is_scoped_to_this_workflows_names(training):
    statements = workflow_statements(training)
    assert arn_tails(statements["TrainingJobs"]) == [":training-job/mlspec-*"]
    assert arn_tails(statements["TransformJobs"]) == [":transform-job/mlspec-*"]
    assert arn_tails(statements["Models"]) == [":model/mlspec-*"]
    assert "TuningJobs" not in statements  # no Tune state without tuning
    assert "hyper-parameter-tuning-job" not in json.dumps(statements)
    assert statements["PassJobRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_the_workflow_may_use_the_sync_rules_of_its_own_states_only(training, variant):
    """Step Functions manages one EventBridge rule per .sync SageMaker integration: Train and the transforms use
    the training and transform rules, Explain the processing jobs' rule; with tuning, Tune uses
    StepFunctionsGetEventsForSageMakerTuningJobsRule."""
    rules = {
        which: sorted(t.rsplit("/", 1)[-1] for t in arn_tails(workflow_statements(template)["SyncRules"]))
        for which, template in (("training", training), ("tuning", variant.template(variant.stacks.training)))
    }
    assert rules == {
        "training": [
            "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
            "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
            "StepFunctionsGetEventsForSageMakerTransformJobsRule",
        ],
        "tuning": [
            "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
            "StepFunctionsGetEventsForSageMakerTransformJobsRule",
            "StepFunctionsGetEventsForSageMakerTuningJobsRule",
        ],
    }


def test_with_tuning_the_workflow_runs_tuning_jobs_and_only_reads_their_training_jobs(variant):
    statements = workflow_statements(variant.template(variant.stacks.training))
    assert "TrainingJobs" not in statements
    assert sorted(statements["TuningJobs"]["Action"]) == [
        "sagemaker:AddTags",
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:ListTags",
        "sagemaker:StopHyperParameterTuningJob",
    ]
    assert arn_tails(statements["TuningJobs"]) == [":hyper-parameter-tuning-job/alice-*"]
    assert statements["BestTrainingJob"]["Action"] == "sagemaker:DescribeTrainingJob"  # the BestTrainingJob state


def test_jobs_security_group_allows_only_https_out_and_its_own_members(training):
    (group,) = resources(training, "AWS::EC2::SecurityGroup").values()
    egress = group["Properties"]["SecurityGroupEgress"]
    assert [(e["IpProtocol"], e.get("FromPort"), e.get("CidrIp")) for e in egress] == [("tcp", 443, "0.0.0.0/0")]
    assert "SecurityGroupIngress" not in group["Properties"]


def test_evaluate_function_runs_the_shipped_handler_with_its_own_role(training):
    (function,) = resources(training, "AWS::Lambda::Function").values()
    props = function["Properties"]
    assert props["Handler"] == "handler.handler"
    assert props["Runtime"].startswith("python3.")
    assert props["TracingConfig"] == {"Mode": "Active"}
    role_id = props["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in training["Resources"][role_id]["Properties"]


def test_model_package_group_and_outputs(sandbox, training):
    (group,) = resources(training, "AWS::SageMaker::ModelPackageGroup").values()
    assert group["Properties"]["ModelPackageGroupName"] == f"{sandbox.stacks.training.stack_name}-models"
    assert group["DeletionPolicy"] == "Retain"  # a group holding packages cannot be deleted: destroy would fail
    assert {"StateMachineArn", "ModelPackageGroup"} <= set(training["Outputs"])
    assert resources(training, "AWS::Events::Rule") == {}  # sandbox: on demand only


def test_schedule_starts_the_workflow(variant):
    result = variant
    (rule,) = resources(result.template(result.stacks.training), "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "cron(0 3 ? * SUN *)"


def test_workflow_rolls_the_serving_endpoint_to_the_new_model(sandbox, states):
    config = states["CreateEndpointConfig"]["Parameters"]
    (variant,) = config["ProductionVariants"]
    serving = sandbox.config.serving
    assert variant["ModelName.$"] == "$.names.run"
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == (serving.instance_type, serving.instance_count)
    capture = config["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == serving.capture_percentage
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    update = states["UpdateEndpoint"]["Parameters"]
    assert update["EndpointConfigName.$"] == "$.names.run"
    # one sandbox instance: all at once with a baking period; rolled back on both endpoint alarms
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE",
        "WaitIntervalInSeconds": serving.rollout_wait_seconds,
    }
    assert policy["TerminationWaitInSeconds"] == serving.baking_seconds
    assert policy["MaximumExecutionTimeoutInSeconds"] == serving.rollout_max_seconds
    assert len(update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]) == 2


def walk(states, start, choose) -> list[str]:
    """Follow the definition from ``start``, ``choose(name, state, order)`` picking each Choice's target; stops at
    a terminal state or when a state comes round again (returned last, so a loop shows)."""
    order, name = [], start
    while name and name not in order:
        order.append(name)
        state = states[name]
        if state["Type"] in ("Succeed", "Fail"):
            return order
        name = choose(name, state, order) if state["Type"] == "Choice" else state.get("Next")
    return [*order, name]


def status_choice(status: str, *, config_is_new: bool, polls: int = 0):
    """What the roll-out's Choice states decide for one DescribeEndpoint answer: ``EndpointInService`` by status,
    config and count (in the order of its Choices, as Step Functions evaluates them), ``RolloutError`` by the
    error the Pass state before the notification set (each such Pass is named after its error)."""

    def choose(name, state, order):
        if name == "RolloutError":
            error = order[-3]  # <error Pass>, NotifyRolloutFailure, RolloutError
            return next(c["Next"] for c in state["Choices"] if c["StringEquals"] == error)
        assert name == "EndpointInService", name
        for c in state["Choices"]:
            if "And" in c and status == "InService" and config_is_new:
                return c["Next"]
            if c.get("StringEquals") == status and "And" not in c:
                return c["Next"]
            if "NumericGreaterThanEquals" in c and polls >= c["NumericGreaterThanEquals"]:
                return c["Next"]
        return state["Default"]

    return choose


@pytest.mark.parametrize(
    ("status", "new", "error"),
    [
        ("InService", False, "EndpointRolledBack"),  # InService with the old config: the update rolled back
        ("Failed", True, "EndpointUpdateFailed"),
        ("OutOfService", True, "EndpointOutOfService"),
        ("UpdateRollbackFailed", True, "EndpointUpdateRollbackFailed"),
        ("Deleting", True, "EndpointDeleting"),
    ],
)
def test_every_final_status_of_the_roll_out_ends_in_its_own_failure(states, status, new, error):
    choose = status_choice(status, config_is_new=new)
    walked = walk(states, "DescribeEndpoint", choose)
    assert walked == [
        "DescribeEndpoint",
        "EndpointInService",
        error,
        "NotifyRolloutFailure",
        "RolloutError",
        f"{error}Fail",
    ]
    assert states[error]["Parameters"]["Error"] == error
    assert states[f"{error}Fail"]["Error"] == error


def test_the_new_config_in_service_is_success_and_updating_waits_counted(states):
    choose = status_choice("InService", config_is_new=True)
    assert walk(states, "DescribeEndpoint", choose)[-3:] == ["EndpointInService", "Handover", "Done"]
    choose = status_choice("Updating", config_is_new=True)
    # still updating: count the look, wait, look again (the walk stops where the loop closes)
    assert walk(states, "DescribeEndpoint", choose) == [
        "DescribeEndpoint",
        "EndpointInService",
        "CountPoll",
        "WaitForEndpoint",
        "DescribeEndpoint",
    ]
    assert states["CountPoll"]["Parameters"] == {"polls.$": "States.MathAdd($.rollout.polls, 1)"}
    assert states["StartRollout"]["Parameters"] == {"polls": 0}


def test_the_roll_out_loop_is_bounded_by_the_deployment_timeout_and_ends_in_a_timeout_error(sandbox, states):
    (bound,) = [c for c in states["EndpointInService"]["Choices"] if "NumericGreaterThanEquals" in c]
    # the deployment's own bound in one-minute looks, and 30 more for provisioning the new fleet
    assert bound["NumericGreaterThanEquals"] == sandbox.config.serving.rollout_max_seconds // 60 + 30
    choose = status_choice("Updating", config_is_new=False, polls=bound["NumericGreaterThanEquals"])
    assert walk(states, "DescribeEndpoint", choose)[-1] == "EndpointRolloutTimedOutFail"


def test_job_names_and_their_iam_follow_the_prefix(variant):
    """A second copy (prefix alice) names its jobs alice-... and may touch only those: no collision with mlspec-..."""
    template = variant.template(variant.stacks.training)
    text = json.dumps(template)
    assert "mlspec-" not in text.replace("mlspec-training", "")  # only the stack-name placeholder could remain
    (machine,) = resources(template, "AWS::StepFunctions::StateMachine").values()
    definition = "".join(p for p in machine["Properties"]["DefinitionString"]["Fn::Join"][1] if isinstance(p, str))
    assert "States.Format('alice-{}', $$.Execution.Name)" in definition
    assert '"HyperParameterTuningJobName.$":"States.Format(\'alice-{}\'' in definition
    for kind in ("training-job", "transform-job", "model", "hyper-parameter-tuning-job", "endpoint-config"):
        assert f":{kind}/alice-*" in text, kind


CREATING_CALLS = {  # state -> the API call that creates a resource (its Tags are the resource's tags)
    "Train": "createTrainingJob.sync",
    "Tune": "createHyperParameterTuningJob.sync",  # its training jobs inherit the tuning job's tags
    "Explain": "createProcessingJob.sync",
    "CreateModel": "createModel",
    "EvaluateTransform": "createTransformJob.sync",
    "TestTransform": "createTransformJob.sync",
    "ChampionTransform": "createTransformJob.sync",
    "Register": "createModelPackage",
    "RegisterRejected": "createModelPackage",
    "CreateEndpointConfig": "createEndpointConfig",
}


@pytest.mark.parametrize("which", ["sandbox", "variant"])
def test_what_a_run_creates_carries_the_app_tags(request, which):
    """Tagged on create, so that a run's jobs, models, endpoint configs and packages are found by their tags."""
    result = request.getfixturevalue(which)
    states = definition(result.template(result.stacks.training))["States"]
    expected = [
        {"Key": "Project", "Value": result.config.prefix},
        {"Key": "Profile", "Value": result.config.profile.value},
    ]
    creating = {name: state for name, state in states.items() if name in CREATING_CALLS}
    assert len(creating) >= 5
    for name, state in creating.items():
        assert state["Resource"].endswith(CREATING_CALLS[name]), name
        assert state["Parameters"]["Tags"] == expected, name
    tagged = {name for name, state in states.items() if "Tags" in state.get("Parameters", {})}
    assert tagged == set(creating)  # nothing else: Describe/Update/Delete calls take no Tags
    if "Tune" in states:
        assert "Tags" not in states["Tune"]["Parameters"]["TrainingJobDefinition"]


def test_the_workflow_may_tag_only_what_it_creates(training):
    """Tag-on-create needs sagemaker:AddTags on each resource a Create call with Tags makes, and nowhere else."""
    statements = workflow_statements(training)
    assert statements["TagOnCreate"]["Action"] == "sagemaker:AddTags"
    assert arn_tails(statements["TagOnCreate"]) == [":endpoint-config/mlspec-*"]
    for sid in ("TrainingJobs", "TransformJobs", "Models", "RegisterModels"):
        assert "sagemaker:AddTags" in statements[sid]["Action"], sid
    assert arn_tails(statements["RegisterModels"]) == [":model-package/mlspec-training-models/*"]  # not the group
    assert "sagemaker:AddTags" not in statements["RollEndpoint"]["Action"]
