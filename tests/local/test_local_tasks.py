"""The local work behind the workflow's Tasks (local_sandbox.tasks), against moto, on a tiny separable dataset."""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_sandbox.tasks import LocalTasks, sample_hyperparameters

BUCKET = "lake"
RANGES = {
    "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "0.3", "ScalingType": "Logarithmic"}],
    "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "4", "ScalingType": "Auto"}],
}


class MotoAws:
    region = "us-east-1"

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)


def csv_rows(n: int, seed: int) -> bytes:
    """Label first, no header: the ETL's channel format. The label follows x0 (with noise), so AUC is high."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        x0, x1 = rng.random(), rng.random()
        label = int(x0 + rng.gauss(0, 0.2) > 0.5)
        lines.append(f"{label},{x0:.4f},{x1:.4f}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def aws(tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="etl/train/part-0.csv", Body=csv_rows(400, 1))
        s3.put_object(Bucket=BUCKET, Key="etl/validation/part-0.csv", Body=csv_rows(200, 2))
        yield MotoAws()


def tuning_parameters(max_jobs: int) -> dict[str, Any]:
    channel = lambda name: {  # noqa: E731
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/etl/{name}/"}},
    }
    return {
        "HyperParameterTuningJobName": "p-3f2a9c1b",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": RANGES,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"TrainingImage": "xgboost:3.2-0", "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::123456789012:role/job",
            "InputDataConfig": [channel("train"), channel("validation")],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "StaticHyperParameters": {"objective": "binary:logistic", "eval_metric": "auc", "num_round": "10"},
        },
    }


def test_tuning_trains_every_trial_and_returns_the_best_by_the_objective(aws, tmp_path):
    messages: list[str] = []
    result = LocalTasks(aws, tmp_path, progress=messages.append).tuning_job(tuning_parameters(3))
    trials = [m for m in messages if m.startswith("trial ")]
    assert len(trials) == 3
    values = {m.split(":")[0][len("trial ") :]: float(m.rsplit(" ", 1)[-1]) for m in trials}
    best = result["BestTrainingJob"]
    assert best["TrainingJobName"] == max(values, key=values.__getitem__)
    value = best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert round(value, 4) == max(values.values())  # the progress line prints 4 decimals
    assert value > 0.8
    sagemaker, s3 = aws.client("sagemaker"), aws.client("s3")
    for job in values:
        assert job.startswith("p-3f2a9c1b-")
        artifact = sagemaker.describe_training_job(TrainingJobName=job)["ModelArtifacts"]["S3ModelArtifacts"]
        assert artifact == f"s3://{BUCKET}/models/{job}/output/model.tar.gz"
        assert s3.head_object(Bucket=BUCKET, Key=f"models/{job}/output/model.tar.gz")["ContentLength"] > 0


def test_hyperparameter_draws_stay_in_their_ranges_and_repeat_with_the_seed():
    draws = [sample_hyperparameters(RANGES, random.Random(i)) for i in range(200)]
    assert all(0.01 <= float(d["eta"]) <= 0.3 for d in draws)
    assert {d["max_depth"] for d in draws} == {"2", "3", "4"}
    # log scaling: about half the draws below the geometric mean of the bounds (0.055), not 10% as uniform would
    below = sum(float(d["eta"]) < (0.01 * 0.3) ** 0.5 for d in draws)
    assert 70 < below < 130
    assert sample_hyperparameters(RANGES, random.Random(7)) == sample_hyperparameters(RANGES, random.Random(7))


def explain_request(aws: MotoAws, width_offset: int = 0) -> dict[str, Any]:
    """The workflow's real CreateProcessingJob request (resolved as Step Functions would), its inputs in moto's S3:
    the script, the shipped default model, its fitted.json and 40 validation rows of its width (plus
    ``width_offset`` columns)."""
    import json

    import numpy as np

    from local_sandbox.workflow import resolve
    from ml_constructs.training.explain import SCRIPT, Explanation, processing_request
    from ml_constructs.training.states import Jobs
    from tests.training.test_explain import DEFAULT_MODEL

    s3 = aws.client("s3")
    columns = json.loads((DEFAULT_MODEL / "fitted.json").read_text())["columns"]
    rows = np.random.default_rng(5).normal(size=(40, len(columns) + width_offset))
    body = "\n".join(",".join(["0", *(f"{v:.4f}" for v in row)]) for row in rows) + "\n"
    objects = {
        "explain-etl/validation/part-00000.csv": body.encode(),
        "explain-etl/preprocessing/fitted.json": (DEFAULT_MODEL / "fitted.json").read_bytes(),
        "models/run-1/code/explain.py": SCRIPT.read_bytes(),
        "models/run-1/output/model.tar.gz": (DEFAULT_MODEL / "model.tar.gz").read_bytes(),
    }
    for key, data in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    jobs = Jobs(
        image_uri="xgboost:3.2-0",
        preprocessing_image_uri="sklearn",
        role_arn="arn:aws:iam::123456789012:role/job",
        security_group_id="sg-1",
        subnet_ids=["subnet-1"],
        key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        output_key_arn=None,
        curated_uri=f"s3://{BUCKET}/explain-etl/",
        artifacts_uri=f"s3://{BUCKET}/",
        curated_bucket=BUCKET,
        curated_prefix="explain-etl/",
        artifacts_bucket=BUCKET,
    )
    state = {
        "names": {"run": "run-1", "model_folder": "models/run-1/"},
        "training": {"model_data_url": f"s3://{BUCKET}/models/run-1/output/model.tar.gz"},
    }
    request = resolve(processing_request(jobs, jobs.role_arn, Explanation()), state, {})
    return {"ProcessingJobName": "run-1-shap", **request}


PROCESSING = "arn:aws:states:::sagemaker:createProcessingJob.sync"


def test_the_explain_job_runs_its_script_on_the_inputs_as_sagemaker_lays_them_out(aws, tmp_path):
    import json

    messages: list[str] = []
    result = LocalTasks(aws, tmp_path, progress=messages.append)(PROCESSING, explain_request(aws))
    assert result == {"ProcessingJobName": "run-1-shap", "ProcessingJobStatus": "Completed"}
    written = aws.client("s3").get_object(Bucket=BUCKET, Key="models/run-1/explainability/analysis.json")
    document = json.loads(written["Body"].read())
    assert document["treeshap"]["rows"] == 40
    assert set(document["explanations"]["kernel_shap"]["label0"]) == {"global_shap_values", "expected_value"}
    assert "40 rows" in messages[-1]


def test_a_failing_processing_script_fails_the_task_with_its_last_line(aws, tmp_path):
    from local_sandbox.workflow import TaskFailed

    with pytest.raises(TaskFailed, match=r"run-1-shap failed: explain: part-00000.csv line 1: 25 fields; expected"):
        LocalTasks(aws, tmp_path, progress=lambda _: None)(PROCESSING, explain_request(aws, width_offset=1))
