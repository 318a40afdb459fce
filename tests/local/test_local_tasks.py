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
