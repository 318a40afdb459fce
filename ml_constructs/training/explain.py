"""The workflow's Explain step: a SageMaker Processing job that writes the trained model's global feature
attributions (TreeSHAP, in SageMaker Clarify's ``analysis.json`` layout) into the run's model folder.

It runs the built-in XGBoost image the model was trained with (so the same xgboost release reads the model) with
``explain_runtime/explain.py`` as its entrypoint. The script ships as an S3 asset; the jobs' S3 gateway endpoint
admits the lake buckets only, so the workflow first copies it next to the model (``models/<run>/code/explain.py``,
S3 CopyObject like the pinned ETL files: no deploy-time copy function), which also keeps the code that explained a
model beside it. Inputs, at the paths the script is given: that script, the model artifact the run trained (or the
tuning job's best), the ETL's validation CSV and its ``fitted.json`` (the column names and the raw field of each);
output: ``models/<run>/explainability/analysis.json``.

The job runs like the workflow's other jobs (isolated subnets, network isolation, volume and output encryption
with the project key) but under a role of its own: it lists the prefixes it reads (an S3Prefix input lists its
URI), which the job role never needs, and it never writes under evaluation/ or predictions/ nor reads the
training split.
docs/bias-and-explainability.md explains the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from ml_constructs.common import key_through, sagemaker_logs, sagemaker_vpc_access
from ml_constructs.lake_layout import ETL_PREPROCESSING, MODELS_PREFIX
from ml_constructs.nag import WildcardLedger
from ml_constructs.training.permissions import Data
from ml_constructs.training.states import Jobs

SCRIPT = Path(__file__).resolve().parent / "explain_runtime" / "explain.py"
#: Where the job finds its inputs and leaves its output (SageMaker Processing's local paths).
PROCESSING_ROOT = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING_ROOT}/input/code"
#: The run's explanation and the script that wrote it, below its model folder (``models/<run>/``).
EXPLAINABILITY_FOLDER = "explainability/"
CODE_FOLDER = "code/"
#: The ETL's files the job reads (below the curated ETL prefix).
VALIDATION_SPLIT = "validation/"
FITTED_FILE = f"{ETL_PREPROCESSING}fitted.json"


@dataclass(frozen=True)
class Explanation:
    """The Explain job's size and time bound (one instance: TreeSHAP of the validation split takes seconds)."""

    instance_type: str = "ml.m5.large"
    volume_size_gb: int = 10
    max_runtime_minutes: int = 30


DEFAULT_EXPLANATION = Explanation()


def script_asset(scope: Construct) -> s3_assets.Asset:
    """The script, one file in the CDK assets bucket (the workflow copies that object only)."""
    return s3_assets.Asset(scope, "ExplainScript", path=str(SCRIPT))


def explain_role(scope: Construct) -> iam.Role:
    return iam.Role(
        scope,
        "ExplainRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="SageMaker Processing (Explain): read the model, validation split and fitted.json, write analysis",
    )


def _inputs(jobs: Jobs) -> list[dict[str, Any]]:
    def channel(name: str, uri: str | None = None, **path: str) -> dict[str, Any]:
        source = {"S3Uri": uri} if uri else path
        return {
            "InputName": name,
            "S3Input": {
                **source,
                "LocalPath": f"{PROCESSING_ROOT}/input/{name}",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
            },
        }

    return [
        channel(
            "code",
            **{"S3Uri.$": f"States.Format('{jobs.artifacts_uri}{{}}{CODE_FOLDER}{SCRIPT.name}', $.names.model_folder)"},
        ),
        channel("model", **{"S3Uri.$": "$.training.model_data_url"}),
        channel("validation", f"{jobs.curated_uri}{VALIDATION_SPLIT}"),
        channel("fitted", f"{jobs.curated_uri}{FITTED_FILE}"),
    ]


def script_copy(script: s3_assets.Asset) -> tuple[str, str]:
    """The copy the workflow makes before the job: the asset's ``bucket/key``, and the key below the model folder."""
    return f"{script.s3_bucket_name}/{script.s3_object_key}", f"{CODE_FOLDER}{SCRIPT.name}"


def processing_request(jobs: Jobs, role_arn: str, settings: Explanation) -> dict[str, Any]:
    """The CreateProcessingJob request without name and tags: the script on the training image, isolated in the
    jobs' subnets and security group, volume and output encrypted with the key."""
    inputs = _inputs(jobs)
    arguments = [
        *("--model", f"{PROCESSING_ROOT}/input/model"),
        *("--validation", f"{PROCESSING_ROOT}/input/validation"),
        *("--fitted", f"{PROCESSING_ROOT}/input/fitted"),
        *("--output", f"{PROCESSING_ROOT}/output"),
    ]
    output_uri = f"States.Format('{jobs.artifacts_uri}{{}}{EXPLAINABILITY_FOLDER}', $.names.model_folder)"
    return {
        "RoleArn": role_arn,
        "AppSpecification": {
            "ImageUri": jobs.image_uri,
            "ContainerEntrypoint": ["python3", f"{CODE_DIR}/{SCRIPT.name}"],
            "ContainerArguments": arguments,
        },
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "explainability",
                    "S3Output": {
                        "S3Uri.$": output_uri,
                        "LocalPath": f"{PROCESSING_ROOT}/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            **({"KmsKeyId": jobs.output_key_arn} if jobs.output_key_arn else {}),
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": settings.instance_type,
                "VolumeSizeInGB": settings.volume_size_gb,
                "VolumeKmsKeyId": jobs.key_arn,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_minutes * 60},
        "NetworkConfig": {
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
            "VpcConfig": {"SecurityGroupIds": [jobs.security_group_id], "Subnets": jobs.subnet_ids},
        },
    }


def grant_script_copy(machine_role: iam.IRole, script: s3_assets.Asset) -> None:
    """The workflow reads the script asset (that one object) to copy it next to the model (its PinWriteModel grant
    covers the target)."""
    machine_role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PinReadExplainScript",
            actions=["s3:GetObject"],
            resources=[script.bucket.arn_for_objects(script.s3_object_key)],
        )
    )


def grant_explain(role: iam.Role, data: Data, *, job_prefix: str, ledger: WildcardLedger) -> None:
    """The Explain job's role: list and read what its inputs name (the run's script and model under
    ``models/<job_prefix>``, the validation split, fitted.json), write the run's explainability/ folder, run in the
    VPC, log and report."""
    curated, artifacts, key = data.curated, data.artifacts, data.key
    validation = f"{data.curated_prefix}{VALIDATION_SPLIT}"
    fitted = f"{data.curated_prefix}{FITTED_FILE}"
    models = f"{MODELS_PREFIX}{job_prefix}"
    reads = [
        artifacts.arn_for_objects(f"{models}*"),
        curated.arn_for_objects(f"{validation}*"),
        curated.arn_for_objects(fitted),
    ]
    output = artifacts.arn_for_objects(f"{models}*/{EXPLAINABILITY_FOLDER}*")
    statements = [
        iam.PolicyStatement(sid="ReadInputs", actions=["s3:GetObject"], resources=reads),
        _list("ListModels", artifacts, [f"{models}*"]),
        _list("ListEtlFiles", curated, [f"{validation}*", fitted]),
        iam.PolicyStatement(sid="WriteExplanation", actions=["s3:PutObject"], resources=[output]),
        _volume_grant(key),
        sagemaker_vpc_access(),
    ]
    if data.s3_kms:
        statements.append(key_through(role, key, ["kms:Decrypt", "kms:GenerateDataKey"], "s3", sid="LakeKeyThroughS3"))
    job_logs, logs_arn = sagemaker_logs(role, "/aws/sagemaker/ProcessingJobs:*", "JobLogs")
    statements += [
        job_logs,
        iam.PolicyStatement(
            sid="JobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/ProcessingJobs"}},
        ),
    ]
    for statement in statements:
        role.add_to_policy(statement)
    ledger.track(role, *reads[:2], output, "*", logs_arn)


def _list(sid: str, bucket: s3.IBucket, prefixes: list[str]) -> iam.PolicyStatement:
    """ListBucket on ``bucket``, only for ``prefixes`` (an S3Prefix input lists the keys under its URI)."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["s3:ListBucket"],
        resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": prefixes}},
    )


def _volume_grant(key: kms.IKey) -> iam.PolicyStatement:
    """SageMaker encrypts the instance's volume with the key: it needs a grant for the attached volume."""
    return iam.PolicyStatement(
        sid="VolumeEncryption",
        actions=["kms:CreateGrant"],
        resources=[key.key_arn],
        conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
    )
