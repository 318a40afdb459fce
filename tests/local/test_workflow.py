"""The training workflow's synthesized definition, walked by the local States Language interpreter with stub tasks.

No server and no synthesis of its own: the sandbox template's definition, with its CloudFormation tokens replaced
by placeholders, must route the data the way each state expects. (This is the test that would have caught the
RunEtl state replacing the execution's state with the Glue result: ``"ResultPath": None`` vanished from the JSON.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from local_sandbox import NotEmulatedError
from local_sandbox.workflow import TaskFailed, choice_matches, intrinsic, run_definition, write_path
from ml_constructs.training.runtime import metrics

PASSING = {"auc": 0.93, "precision": 0.36, "recall": 0.64, "f1": 0.46}


def definition(sandbox: Any) -> dict[str, Any]:
    template = sandbox.template(sandbox.stacks.training)
    (machine,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


class StubTasks:
    """Records every task call; answers like the service integrations do. ``champion``: the serving model's
    metrics; ``statuses``: what DescribeEndpoint says during the roll-out, one per look (the last repeats), each
    ``(status, config)`` with config ``"new"`` (the run's) or ``"old"``."""

    def __init__(
        self,
        metrics: dict[str, float],
        fail: str | None = None,
        champion: dict[str, float] | None = None,
        statuses: list[tuple[str, str]] | None = None,
        bias_failures: list[str] | None = None,
    ) -> None:
        self.metrics = metrics
        self.bias_failures = list(bias_failures or [])
        self.fail = fail
        self.champion = champion or {**metrics, "auc": metrics["auc"] - 0.05}
        self.statuses = list(statuses or [("Updating", "old"), ("InService", "new")])
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def endpoint(self) -> dict[str, Any]:
        if not any(action == "updateEndpoint" for action, _ in self.calls):  # the champion's lookup
            return {"EndpointStatus": "InService", "EndpointConfigName": "serving-config"}
        status, config = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        new = next(p["EndpointConfigName"] for action, p in self.calls if action == "updateEndpoint")
        return {"EndpointStatus": status, "EndpointConfigName": new if config == "new" else "old-config"}

    def __call__(self, resource: str, parameters: dict[str, Any]) -> Any:
        action = resource.rsplit(":", 1)[-1]
        self.calls.append((action, parameters))
        if self.fail and self.fail in resource:
            raise TaskFailed("SageMaker.AmazonSageMakerException", "stub failure")
        if action == "getObject":  # the ETL's hyperparameters.json, as the ETL writes it with class_weight
            return {"Body": '{"scale_pos_weight": "12.5"}', "ContentType": "application/json"}
        if action == "startJobRun.sync":
            return {"JobRunState": "SUCCEEDED", "Id": "jr_1", "Arguments": {"huge": "x" * 10}}
        if action == "createTrainingJob.sync":
            name = parameters["TrainingJobName"]  # DescribeTrainingJob's shape, which the .sync task returns
            return {"TrainingJobName": name, "ModelArtifacts": {"S3ModelArtifacts": f"s3://b/{name}/model.tar.gz"}}
        if action == "createModelPackage":
            return {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"}
        if action == "describeEndpoint":
            return self.endpoint()
        if action == "describeEndpointConfig":
            return {"EndpointConfigName": parameters["EndpointConfigName"], "ProductionVariants": [{"ModelName": "m0"}]}
        if resource == "TOKEN":  # the evaluation Lambda (its ARN is a GetAtt)
            if "challenger" in parameters:  # the serving model's evaluation, as the handler compares them
                challenger = parameters["challenger"]
                return {"metrics": self.champion, "challenger": metrics.compare(self.champion, challenger)}
            passed = all(self.metrics[k] >= parameters["thresholds"][k] for k in parameters["thresholds"])
            bias = {"facets": parameters.get("bias", {}).get("facets", []), "passed": not self.bias_failures}
            bias["failures"] = self.bias_failures
            return {
                "metrics": self.metrics,
                "passed": passed and bias["passed"],
                "failures": self.bias_failures,
                "bias": bias,
            }
        return {}


def execute(sandbox: Any, tasks: StubTasks) -> Any:
    return run_definition(
        definition(sandbox), execution_name="exec-1", execution_id="arn:aws:states:::execution:m:exec-1", tasks=tasks
    )


def test_a_passing_model_goes_through_every_state_with_the_names_each_needs(sandbox):
    tasks = StubTasks(PASSING)
    execution = execute(sandbox, tasks)
    assert execution.status == "SUCCEEDED", execution
    calls = dict(tasks.calls[:6])  # the ETL, the three pins of its files, its hyperparameters, training
    assert calls["createTrainingJob.sync"]["TrainingJobName"] == "mlspec-exec-1"
    assert calls["createTrainingJob.sync"]["HyperParameters"]["num_round"] == "100"
    # the weight the ETL wrote (class_weight) reaches the training request, over the configured 1.0
    assert calls["createTrainingJob.sync"]["HyperParameters"]["scale_pos_weight"] == "12.5"
    assert calls["getObject"]["Key"] == "etl/preprocessing/hyperparameters.json"
    transforms = [p for action, p in tasks.calls if action == "createTransformJob.sync"]
    names = [t["TransformJobName"] for t in transforms]
    assert names == ["mlspec-exec-1-val", "mlspec-exec-1-champ", "mlspec-exec-1-test"]
    # the champion is the model the endpoint's current config names, scored on the same raw split
    assert [t["ModelName"] for t in transforms] == ["mlspec-exec-1", "m0", "mlspec-exec-1"]
    assert transforms[0]["TransformInput"] == transforms[1]["TransformInput"]
    assert all(t["DataProcessing"]["InputFilter"] == "$" for t in transforms)  # raw events, whole
    update = next(p for action, p in tasks.calls if action == "updateEndpoint")
    assert update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert execution.output == {
        "model_name": "mlspec-exec-1",
        "model_data_url": "s3://b/mlspec-exec-1/model.tar.gz",
        "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
        "metrics": PASSING,
    }


@pytest.mark.parametrize(
    ("state_input", "window_end"),
    [
        ({}, "2026-12-06"),  # the UTC date of the execution's start (StartTime 2026-12-06T23:59:59.999Z)
        ({"etl_window": {"end": "2026-11-22"}}, "2026-11-22"),  # a replay: the input's date, whatever the day
    ],
)
def test_the_etl_job_gets_the_window_end_of_the_execution(sandbox, state_input, window_end):
    tasks = StubTasks(PASSING)
    execution = run_definition(
        definition(sandbox),
        execution_name="exec-1",
        execution_id="arn:aws:states:::execution:m:exec-1",
        tasks=tasks,
        state_input=state_input,
        start_time=datetime(2026, 12, 6, 23, 59, 59, 999000, tzinfo=UTC),
    )
    assert execution.status == "SUCCEEDED", execution
    (etl,) = [p for action, p in tasks.calls if action == "startJobRun.sync"]
    # only the window's end: its length and every other argument are the job's defaults (DefaultArguments)
    assert etl["Arguments"] == {"--window_end": window_end}
    assert "etl_window" not in execution.output


def test_a_model_below_the_gate_is_deleted_reported_and_fails_the_execution(sandbox):
    tasks = StubTasks({**PASSING, "recall": 0.2})
    execution = execute(sandbox, tasks)
    assert (execution.status, execution.error) == ("FAILED", "QualityGateFailed")
    actions = [action for action, _ in tasks.calls]
    assert actions[-2:] == ["deleteModel", "publish"]
    assert "createModelPackage" not in actions
    assert tasks.calls[-1][1]["Message"]["metrics"]["recall"] == 0.2


def test_a_broken_bias_bound_rejects_a_model_whose_metrics_pass(sandbox):
    failure = "customer_tier=bronze: |DPPL| 0.31 is above the bound max_abs_dppl=0.2"
    tasks = StubTasks(PASSING, bias_failures=[failure])
    execution = execute(sandbox, tasks)
    assert (execution.status, execution.error) == ("FAILED", "QualityGateFailed")
    assert [action for action, _ in tasks.calls][-2:] == ["deleteModel", "publish"]
    assert tasks.calls[-1][1]["Message"]["failures"] == [failure]  # the notification names facet, value, bound


def test_the_explain_job_reads_the_model_the_run_deploys_and_writes_beside_it(sandbox):
    tasks = StubTasks(PASSING)
    assert execute(sandbox, tasks).status == "SUCCEEDED"
    actions = [action for action, _ in tasks.calls]
    # after training, before any model exists: the script copied next to the model, then the job
    assert actions[actions.index("createTrainingJob.sync") + 1 : actions.index("createModel")] == [
        "copyObject",
        "createProcessingJob.sync",
    ]
    calls = dict(tasks.calls)
    job = calls["createProcessingJob.sync"]
    assert job["ProcessingJobName"] == "mlspec-exec-1-shap"
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in job["ProcessingInputs"]}
    assert (
        inputs["model"] == calls["createModel"]["Containers"][1]["ModelDataUrl"] == "s3://b/mlspec-exec-1/model.tar.gz"
    )
    assert inputs["code"] == "s3://TOKEN/models/mlspec-exec-1/code/explain.py"
    assert calls["copyObject"]["Key"] == "models/mlspec-exec-1/code/explain.py"  # where the job reads it
    (output,) = job["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == "s3://TOKEN/models/mlspec-exec-1/explainability/"


def test_a_failed_explain_job_fails_the_run_before_any_model_is_created(sandbox):
    tasks = StubTasks(PASSING, fail="createProcessingJob")
    execution = execute(sandbox, tasks)
    assert (execution.status, execution.error) == ("FAILED", "TrainingWorkflowFailed")
    assert execution.caught == [("Explain", "SageMaker.AmazonSageMakerException", "stub failure")]
    assert "createModel" not in [action for action, _ in tasks.calls]
    assert tasks.calls[-1][0] == "publish"


def test_a_failed_job_goes_to_the_failure_notification(sandbox):
    tasks = StubTasks(PASSING, fail="createTrainingJob")
    execution = execute(sandbox, tasks)
    assert (execution.status, execution.error) == ("FAILED", "TrainingWorkflowFailed")
    assert execution.caught == [("Train", "SageMaker.AmazonSageMakerException", "stub failure")]
    assert tasks.calls[-1][0] == "publish"
    assert tasks.calls[-1][1]["Message"]["error"]["Error"] == "SageMaker.AmazonSageMakerException"


# --- Champion / challenger and the roll-out ------------------------------------------------------------------


def actions(tasks: StubTasks) -> list[str]:
    return [action for action, _ in tasks.calls]


def test_a_challenger_worse_than_the_serving_model_is_registered_rejected_and_the_endpoint_untouched(sandbox):
    tasks = StubTasks(PASSING, champion={**PASSING, "auc": PASSING["auc"] + 0.05})  # worse by more than 0.01
    execution = execute(sandbox, tasks)
    assert execution.status == "SUCCEEDED", execution  # a decision, not a failure
    assert execution.history[-1][0] == "ChampionKept"
    registered = [p for action, p in tasks.calls if action == "createModelPackage"]
    assert [p["ModelApprovalStatus"] for p in registered] == ["Rejected"]
    assert not {"createEndpointConfig", "updateEndpoint"} & set(actions(tasks))
    assert actions(tasks)[-1] == "publish"


def test_a_challenger_within_the_margin_is_rolled_out(sandbox):
    tasks = StubTasks(PASSING, champion={**PASSING, "auc": PASSING["auc"] + 0.009})  # worse, but by less than 0.01
    execution = execute(sandbox, tasks)
    assert execution.status == "SUCCEEDED", execution
    assert "updateEndpoint" in actions(tasks)


@pytest.mark.parametrize(
    ("statuses", "error"),
    [
        ([("Updating", "old"), ("InService", "old")], "EndpointRolledBack"),  # InService, but the previous config
        ([("Updating", "old"), ("Failed", "new")], "EndpointUpdateFailed"),
        ([("Updating", "old"), ("OutOfService", "new")], "EndpointOutOfService"),
        ([("RollingBack", "old"), ("UpdateRollbackFailed", "old")], "EndpointUpdateRollbackFailed"),
        ([("Deleting", "old")], "EndpointDeleting"),
    ],
)
def test_every_final_status_of_the_roll_out_fails_with_its_own_error(sandbox, statuses, error):
    tasks = StubTasks(PASSING, statuses=statuses)
    execution = execute(sandbox, tasks)
    assert (execution.status, execution.error) == ("FAILED", error)
    looks = actions(tasks)[actions(tasks).index("updateEndpoint") :].count("describeEndpoint")
    assert looks == len(statuses)  # it stopped at the final status, without another look
    assert tasks.calls[-1][1]["Message"]["error"]["Error"] == error  # the alert says which


def test_a_roll_out_that_never_ends_stops_at_its_bound(sandbox):
    tasks = StubTasks(PASSING, statuses=[("Updating", "old")])
    execution = run_definition(
        definition(sandbox),
        execution_name="exec-1",
        execution_id="arn:aws:states:::execution:m:exec-1",
        tasks=tasks,
        max_steps=2000,
    )
    assert (execution.status, execution.error) == ("FAILED", "EndpointRolloutTimedOut")
    looks = actions(tasks)[actions(tasks).index("updateEndpoint") :].count("describeEndpoint")
    # one look a minute for the deployment's own bound (serving.rollout_max_seconds), and 30 more
    assert looks == sandbox.config.serving.rollout_max_seconds // 60 + 30 + 1


# --- The interpreter's pieces --------------------------------------------------------------------------------


def test_states_format_and_paths():
    data, context = {"names": {"run": "r1"}, "n": 3}, {"Execution": {"Name": "e1"}}
    assert intrinsic("States.Format('x-{}-{}', $$.Execution.Name, $.n)", data, context) == "x-e1-3"
    assert intrinsic("States.Format('a, {}', 'b')", data, context) == "a, b"
    assert intrinsic("$.names.run", data, context) == "r1"
    with pytest.raises(TaskFailed, match="could not be found"):
        intrinsic("$.names.missing", data, context)
    # the tuning job's name: the first part of a UUID execution name
    context = {"Execution": {"Name": "3f2a9c1b-0d4e-4a5b-9c8d-7e6f5a4b3c2d"}}
    nested = "States.Format('p-{}', States.ArrayGetItem(States.StringSplit($$.Execution.Name, '-'), 0))"
    assert intrinsic(nested, data, context) == "p-3f2a9c1b"
    with pytest.raises(TaskFailed, match="out of the array"):
        intrinsic("States.ArrayGetItem(States.StringSplit('a-b', '-'), 5)", data, context)
    assert intrinsic("States.MathAdd($.n, 1)", data, context) == 4
    with pytest.raises(NotEmulatedError, match=r"States\.UUID"):
        intrinsic("States.UUID()", data, context)


def test_result_path_semantics():
    assert write_path({"a": 1}, None, {"x": 1}) == {"a": 1}
    assert write_path({"a": 1}, "$", {"x": 1}) == {"x": 1}
    assert write_path({"a": 1}, "$.b.c", 2) == {"a": 1, "b": {"c": 2}}


def test_choice_rules():
    data = {"m": {"auc": 0.9, "s": "InService"}}
    rule = {
        "And": [
            {"Variable": "$.m.auc", "NumericGreaterThanEquals": 0.8},
            {"Variable": "$.m.s", "StringEquals": "InService"},
        ]
    }
    assert choice_matches(rule, data, {})
    assert not choice_matches({"Not": rule}, data, {})
    assert not choice_matches({"Variable": "$.m.s", "NumericGreaterThanEquals": 1}, data, {})  # wrong type: no match
    assert choice_matches({"Variable": "$.m.none", "IsPresent": False}, data, {})


def test_the_tuning_path_names_its_job_from_the_execution_and_trains_the_best_model(variant):
    """The variant app tunes (prefix alice): Tune -> BestTrainingJob -> CreateModel, with names from the intrinsics."""

    class TuningStubs(StubTasks):
        def __call__(self, resource: str, parameters: dict[str, Any]) -> Any:
            action = resource.rsplit(":", 1)[-1]
            if action == "createHyperParameterTuningJob.sync":
                self.calls.append((action, parameters))
                name = parameters["HyperParameterTuningJobName"]
                return {"BestTrainingJob": {"TrainingJobName": f"{name}-004-0a1b2c3d"}}
            if action == "describeTrainingJob":
                self.calls.append((action, parameters))
                job = parameters["TrainingJobName"]
                return {"TrainingJobName": job, "ModelArtifacts": {"S3ModelArtifacts": f"s3://b/{job}/model.tar.gz"}}
            return super().__call__(resource, parameters)

    tasks = TuningStubs(PASSING)
    execution = run_definition(
        definition(variant),
        execution_name="3f2a9c1b-0d4e-4a5b-9c8d-7e6f5a4b3c2d",
        execution_id="arn:aws:states:::execution:m:e",
        tasks=tasks,
    )
    assert execution.status == "SUCCEEDED", execution
    calls = dict(tasks.calls)
    assert calls["createHyperParameterTuningJob.sync"]["HyperParameterTuningJobName"] == "alice-3f2a9c1b"
    assert calls["describeTrainingJob"]["TrainingJobName"] == "alice-3f2a9c1b-004-0a1b2c3d"
    assert execution.output["model_data_url"] == "s3://b/alice-3f2a9c1b-004-0a1b2c3d/model.tar.gz"
    assert "createTrainingJob.sync" not in calls
    # the best training job's model is the one explained, and the one deployed
    explained = {i["InputName"]: i["S3Input"] for i in calls["createProcessingJob.sync"]["ProcessingInputs"]}
    assert explained["model"]["S3Uri"] == "s3://b/alice-3f2a9c1b-004-0a1b2c3d/model.tar.gz"
    assert calls["createModel"]["Containers"][1]["ModelDataUrl"] == explained["model"]["S3Uri"]


def test_a_failure_before_any_metric_is_reported_in_one_line():
    """A workflow that fails before the evaluation (say, the Glue step) has no metrics to show: one line, with
    the error and what its Catch handled, instead of a TypeError about the missing metrics."""
    from local_sandbox.run import _training_failure
    from local_sandbox.workflow import Execution

    early = Execution("run", status="FAILED", error="TrainingWorkflowFailed", cause="a step failed")
    early.caught.append(("RunEtl", "Glue.JobRunFailed", "no object under s3://raw/events/"))
    early.last_state = {"names": {"run": "mlspec-run"}}
    assert _training_failure(early) == (
        "the training workflow failed: TrainingWorkflowFailed: a step failed"
        " (caught: RunEtl: Glue.JobRunFailed: no object under s3://raw/events/)"
    )
    gated = Execution("run", status="FAILED", error="QualityGateFailed", cause="below the thresholds")
    gated.last_state = {"evaluation": {"metrics": {"auc": 0.9, "precision": 0.25, "recall": 0.5, "f1": 1 / 3}}}
    assert _training_failure(gated) == (
        "the training workflow failed: QualityGateFailed: below the thresholds"
        " (measured: auc=0.900, precision=0.250, recall=0.500, f1=0.333)"
    )
    # a bias bound broken while every metric passes: the local run shows the notification's failure lines itself
    biased = Execution("run", status="FAILED", error="QualityGateFailed", cause="a bias bound broken")
    failure = "customer_tier=bronze: |DPPL| 0.31 is above the bound max_abs_dppl=0.2"
    biased.last_state = {"evaluation": {"metrics": {"auc": 0.93, "precision": 0.5, "recall": 0.5, "f1": 0.5}}}
    biased.last_state["evaluation"]["failures"] = [failure]
    assert _training_failure(biased) == (
        "the training workflow failed: QualityGateFailed: a bias bound broken"
        f" (measured: auc=0.930, precision=0.500, recall=0.500, f1=0.500) (failures: {failure})"
    )
