"""The declared table: documented rows, each deriving calls from the templates (not from hard-coded names)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tools.iam import asl
from tools.iam.declared import CHECKED, DECLARED
from tools.iam.deployment import Deployment

ROWS = {row.id: row for row in DECLARED}


def test_rows_have_unique_ids_and_cite_aws_documentation():
    assert len(ROWS) == len(DECLARED)
    assert CHECKED == "2026-12"
    for row in DECLARED:
        assert row.doc.startswith("https://docs.aws.amazon.com/"), row.id
        assert row.what, row.id


@pytest.mark.parametrize("row_id", [row.id for row in DECLARED if not row.applies_when])
def test_every_row_resolves_to_calls_in_the_sandbox(sandbox_deployment, row_id):
    calls = list(ROWS[row_id].calls(sandbox_deployment))
    assert calls, f"{row_id} derives no call from the sandbox templates"
    assert all(call.source == row_id and call.why for call in calls)


def test_a_conditional_row_resolves_where_its_condition_holds(variant):
    """events-target-role: the training schedule (set in the variant app) starts the workflow with a role."""
    calls = list(ROWS["events-target-role"].calls(Deployment(variant.templates)))
    assert [(c.action, c.resource.split(":")[5]) for c in calls] == [("states:StartExecution", "stateMachine")]
    # events-dead-letters: a start the schedule could not make goes to the target's queue, as the service
    (dead,) = ROWS["events-dead-letters"].calls(Deployment(variant.templates))
    assert (dead.principal, dead.action, dead.resource.split(":")[2]) == (
        "events.amazonaws.com",
        "sqs:SendMessage",
        "sqs",
    )


def _with(templates: dict[str, Any], resource_type: str, change: Any) -> Deployment:
    copied = copy.deepcopy(templates)
    for template in copied.values():
        for resource in template["Resources"].values():
            if resource["Type"] == resource_type:
                change(resource)
    return Deployment(copied)


def test_image_pull_applies_to_images_in_an_account_repository(sandbox):
    def private_image(model: dict[str, Any]) -> None:
        # the pipeline's second container (XGBoost): every container's image counts, not the first alone
        model["Properties"]["Containers"][1]["Image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1"

    calls = list(ROWS["sagemaker-image-pull"].calls(_with(sandbox.templates, "AWS::SageMaker::Model", private_image)))
    assert {(c.action, c.resource) for c in calls} >= {
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:BatchGetImage", "arn:aws:ecr:us-east-1:123456789012:repository/fraud"),
    }
    assert not list(ROWS["sagemaker-image-pull"].calls(Deployment(sandbox.templates))), "built-in images: none"


def test_alarm_calls_follow_the_templates(sandbox):
    """One call per alarm and SNS action; an added alarm adds its call, named after it."""
    before = list(ROWS["alarm-publish"].calls(Deployment(sandbox.templates)))
    copied = copy.deepcopy(sandbox.templates)
    streaming = next(t for name, t in copied.items() if name.endswith("-streaming"))
    alarm = next(r for r in streaming["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm")
    streaming["Resources"]["ExtraAlarm"] = copy.deepcopy(alarm)
    after = list(ROWS["alarm-publish"].calls(Deployment(copied)))
    assert len(after) == len(before) + 1
    assert any("ExtraAlarm" in call.why for call in after)
    assert {c.principal for c in after} == {"cloudwatch.amazonaws.com"}


def test_the_tuning_state_asks_for_the_rule_step_functions_manages(variant):
    calls = list(ROWS["sfn-sync-rules"].calls(Deployment(variant.templates)))
    tune = {c.resource.rsplit("/", 1)[-1] for c in calls if "state Tune" in c.why}
    assert tune == {"StepFunctionsGetEventsForSageMakerTuningJobsRule"}


def test_job_names_come_from_the_execution(sandbox_deployment):
    calls = list(ROWS["sfn-sync-jobs"].calls(sandbox_deployment))
    training = {c.resource.split(":")[-1] for c in calls if c.action == "sagemaker:CreateTrainingJob"}
    assert training == {f"training-job/mlspec-{asl.EXECUTION_NAME}"}


def test_the_state_machine_walk_evaluates_paths_and_intrinsics():
    definition = {
        "StartAt": "Names",
        "States": {
            "Names": {
                "Type": "Pass",
                "ResultPath": "$.names",
                "Parameters": {
                    "run.$": "States.Format('p-{}', States.ArrayGetItem(States.StringSplit($$.Execution.Name, '-'), 0))"
                },
                "Next": "Choose",
            },
            "Choose": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.x", "StringEquals": "a", "Next": "Train"}],
                "Default": "Notify",
            },
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {"TrainingJobName.$": "$.names.run", "OutputDataConfig": {"S3OutputPath": "s3://b/m/"}},
                "ResultSelector": {"url.$": "$.ModelArtifacts.S3ModelArtifacts"},
                "ResultPath": "$.training",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify"}],
                "Next": "Model",
            },
            "Model": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {"ModelName.$": "$.names.run", "PrimaryContainer": {"ModelDataUrl.$": "$.training.url"}},
                "End": True,
            },
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": "t"},
                "End": True,
            },
        },
    }
    tasks = {t.state: t for t in asl.tasks(definition, "arn:aws:states:us-east-1:1:stateMachine:m", "abc-123")}
    assert set(tasks) == {"Train", "Model", "Notify"}
    assert tasks["Train"].integration == ("sagemaker", "createTrainingJob", "sync")
    assert tasks["Train"].parameters["TrainingJobName"] == "p-abc"
    assert tasks["Model"].parameters["PrimaryContainer"]["ModelDataUrl"] == "s3://b/m/p-abc/output/model.tar.gz"
    assert tasks["Notify"].integration == ("sns", "publish", "")


def test_tag_on_create_asks_for_add_tags_on_each_resource_a_tagged_create_call_makes(sandbox_deployment):
    calls = list(ROWS["sagemaker-tag-on-create"].calls(sandbox_deployment))
    assert {c.action for c in calls} == {"sagemaker:AddTags"}
    kinds = sorted(c.resource.split(":")[5].split("/")[0] for c in calls)
    # transforms: evaluation, champion, test; packages: Register and RegisterRejected (the same new version)
    assert kinds == [
        "endpoint-config",
        "model",
        "model-package",
        "model-package",
        "processing-job",  # Explain
        "training-job",
        "transform-job",
        "transform-job",
        "transform-job",
    ]
    package = next(c.resource for c in calls if ":model-package/" in c.resource)
    assert package.endswith(":model-package/mlspec-training-models/1")  # the new version, not the group


def test_sagemaker_jobs_list_their_tags_as_step_functions_documents(sandbox_deployment):
    calls = list(ROWS["sfn-sync-jobs"].calls(sandbox_deployment))
    listed = {c.resource.split(":")[5].split("/")[0] for c in calls if c.action == "sagemaker:ListTags"}
    assert listed == {"training-job", "transform-job", "processing-job"}


def test_model_monitor_decrypts_the_capture_with_the_key_its_endpoint_config_names(variant):
    """lake.encryption=s3: the buckets have no KMS default, but the endpoint encrypts its capture with the key its
    config names, so reading the capture decrypts with that key (and reading the baseline decrypts nothing)."""
    deployment = Deployment(variant.templates)
    calls = [c for c in ROWS["sagemaker-s3-read"].calls(deployment) if "monitoring job" in c.why]
    assert [c.resource.split(":")[2] for c in calls if c.action == "kms:Decrypt"] == ["kms"]  # the capture only
    decrypt = next(c for c in calls if c.action == "kms:Decrypt")
    assert "/capture/" in str(decrypt.context["kms:EncryptionContext:aws:s3:arn"])


def test_the_champion_transform_runs_each_model_the_endpoints_serve_with_its_own_role(sandbox_deployment):
    """The run looks the serving model up at run time: as deployed, the stack's model (the serving role) reads the
    raw validation split and both of its containers' artifacts."""
    reads = [c for c in ROWS["sagemaker-s3-read"].calls(sandbox_deployment) if "ChampionTransform" in c.why]
    assert reads
    assert all("-ServingModelRole" in c.principal for c in reads)  # the serving stack's model role
    objects = {c.resource.split(":::", 1)[1].split("/", 1)[1] for c in reads if c.action == "s3:GetObject"}
    assert "etl/raw/validation/part-00000" in objects
    assert {"models/default/model.tar.gz", "models/default/preprocessing/preprocessing-model.tar.gz"} <= objects


def test_the_roll_out_describes_its_rollback_alarms_and_the_pins_copy_the_etl_files(sandbox_deployment):
    calls = list(ROWS["sfn-task-calls"].calls(sandbox_deployment))
    alarms = {c.resource.rsplit(":", 1)[-1] for c in calls if c.action == "cloudwatch:DescribeAlarms"}
    assert alarms == {"mlspec-serving-Serving-Errors5xx", "mlspec-serving-Serving-Latency"}
    copies = list(ROWS["sfn-s3-copy"].calls(sandbox_deployment))
    gets = {c.resource.split("/", 1)[1] for c in copies if c.action == "s3:GetObject"}
    script = next(g for g in gets if g.endswith(".py"))  # the Explain script's asset (its key is its hash)
    script_bucket = next(c.resource for c in copies if c.resource.endswith(".py")).split(":::", 1)[1]
    assert script_bucket.startswith("cdk-hnb659fds-assets-")  # the CDK assets bucket
    gets.discard(script)
    puts = {c.resource.split("/", 1)[1] for c in copies if c.action == "s3:PutObject"}
    assert gets == {
        "etl/preprocessing/model.tar.gz",
        "etl/preprocessing/baseline/statistics.json",
        "etl/preprocessing/baseline/constraints.json",
    }
    run = "models/mlspec-run20261201-0001/"  # the walk's sample execution, with the job prefix
    assert puts == {
        f"{run}preprocessing/model.tar.gz",
        f"{run}baseline/statistics.json",
        f"{run}baseline/constraints.json",
        f"{run}code/explain.py",
    }


def test_the_explain_job_lists_each_s3prefix_input_and_reports_in_its_own_namespace(sandbox_deployment):
    """An S3Prefix input naming one object's key is still listed with that key as the prefix (the job role's
    ListModels and ListEtlFiles statements exist for these calls); the job's metrics are the processing jobs'."""
    lists = list(ROWS["sagemaker-processing-prefix-list"].calls(sandbox_deployment))
    run = "models/mlspec-run20261201-0001/"
    assert sorted(c.context["s3:prefix"] for c in lists) == sorted(
        [f"{run}code/explain.py", f"{run}output/model.tar.gz", "etl/preprocessing/fitted.json"]
    )
    assert all("ExplainRole" in c.principal and c.action == "s3:ListBucket" for c in lists)
    metrics = [c for c in ROWS["sagemaker-metrics"].calls(sandbox_deployment) if "ExplainRole" in c.principal]
    assert [c.context["cloudwatch:namespace"] for c in metrics] == ["/aws/sagemaker/ProcessingJobs"]
