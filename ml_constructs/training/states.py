"""The states of the training workflow, each a task with a timeout, a Retry on transient errors and a Catch to
the failure path (an SNS alert, then Fail).

The SageMaker tasks are the Step Functions service-integration JSON (``CustomState``): the CDK task classes
cannot express inter-container traffic encryption or the batch transform's input/output join, and the JSON
reads as the SageMaker API it calls. Every job, model, endpoint config and model package a run creates is
named after the run (``$.names.run``) and carries the caller's tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_constructs.lake_layout import EVALUATION_PREFIX, MODELS_PREFIX, PREDICTIONS_PREFIX

if TYPE_CHECKING:
    from ml_constructs.training.construct import EndpointTarget, GateThresholds, Tuning

#: Errors worth a retry: throttling and transient service faults, never a failed job.
TRANSIENT = {
    "sagemaker": ["SageMaker.AmazonSageMakerException", "SageMaker.ThrottlingException"],
    "glue": ["Glue.ConcurrentRunsExceededException", "Glue.ThrottlingException", "Glue.InternalServiceException"],
    "lambda": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "sns": ["SNS.ThrottledException", "SNS.InternalErrorException"],
}
#: The hyperparameters a tuning job searches; the others stay static.
TUNED = ("eta", "max_depth")


@dataclass(frozen=True)
class Jobs:
    """What every SageMaker job and model of a run shares: image, role, network, encryption, data locations."""

    image_uri: str
    role_arn: str
    security_group_id: str
    subnet_ids: list[str]
    key_arn: str  # the instances' volumes and the endpoint config
    output_key_arn: str | None  # the outputs in S3 (None: the bucket's own encryption)
    curated_uri: str  # s3://<curated bucket>/<ETL prefix>: train/, validation/, test/ below it
    artifacts_uri: str  # s3://<artifacts bucket>/


class WorkflowStates:
    """Builds the states in ``scope`` (the workflow construct); the failure path comes first, every other task
    catches to it."""

    def __init__(self, scope: Construct, *, jobs: Jobs, alerts: sns.ITopic, tags: Mapping[str, str]) -> None:
        self._scope, self._jobs, self._alerts = scope, jobs, alerts
        self._partition = cdk.Stack.of(scope).partition
        self._tags = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
        failed = sfn.Fail(
            scope,
            "Failed",
            error="TrainingWorkflowFailed",
            cause="A step failed; see the SNS alert and the execution history",
        )
        notify = tasks.SnsPublish(
            scope,
            "NotifyFailure",
            topic=alerts,
            subject="Training workflow failed",
            message=sfn.TaskInput.from_object(
                {"execution": sfn.JsonPath.execution_id, "error": sfn.JsonPath.object_at("$.error")}
            ),
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(1)),
        )
        self.failure = self._harden(notify, "sns", catch=False).next(failed)

    # --- before training ------------------------------------------------------------------------------------

    def names(self, job_prefix: str) -> sfn.Pass:
        """One name per run for every job and model, and the run's output prefixes."""
        artifacts = self._jobs.artifacts_uri
        return sfn.Pass(
            self._scope,
            "Names",
            comment="One name per run for every job and model (SageMaker names: 63 characters at most)",
            parameters={
                "run.$": f"States.Format('{job_prefix}{{}}', $$.Execution.Name)",
                "models_uri": f"{artifacts}{MODELS_PREFIX}",
                # one prefix per execution: the evaluation reads every object under its prefix
                "evaluation_uri.$": _per_run(f"{artifacts}{EVALUATION_PREFIX}"),
                "predictions_uri.$": _per_run(f"{artifacts}{PREDICTIONS_PREFIX}"),
            },
            result_path="$.names",
        )

    def run_etl(self, job_name: str, timeout: cdk.Duration) -> sfn.CustomState:
        """The Glue job, waited for (``.sync``). Its own timeout stops the job; the state's also covers queueing."""
        state = sfn.CustomState(
            self._scope,
            "RunEtl",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{self._partition}:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": job_name, "Timeout": int(timeout.to_minutes())},
                # DISCARD renders as null; a Python None is dropped, and the default "$" would replace the
                # execution's state with the job run (the next state reads $.names).
                "ResultPath": sfn.JsonPath.DISCARD,
                "TimeoutSeconds": int(timeout.plus(cdk.Duration.minutes(15)).to_seconds()),
            },
        )
        return self._harden(state, "glue")

    # --- training -------------------------------------------------------------------------------------------

    def training_job(
        self, instance_type: str, instance_count: int, volume_size_gb: int, max_runtime_minutes: int
    ) -> dict[str, Any]:
        """The CreateTrainingJob request without name and hyperparameters (shared by Train and Tune): the ETL's
        train/ and validation/ CSV in, the model out, isolated and encrypted."""
        jobs = self._jobs
        distribution = "ShardedByS3Key" if instance_count > 1 else "FullyReplicated"
        channels = [
            {
                "ChannelName": name,
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"{jobs.curated_uri}{name}/",
                        "S3DataDistributionType": distribution,
                    }
                },
            }
            for name in ("train", "validation")
        ]
        return {
            "AlgorithmSpecification": {"TrainingImage": jobs.image_uri, "TrainingInputMode": "File"},
            "RoleArn": jobs.role_arn,
            "InputDataConfig": channels,
            "OutputDataConfig": {"S3OutputPath": f"{jobs.artifacts_uri}{MODELS_PREFIX}", **_kms(jobs.output_key_arn)},
            "ResourceConfig": {
                "InstanceCount": instance_count,
                "InstanceType": instance_type,
                "VolumeSizeInGB": volume_size_gb,
                "VolumeKmsKeyId": jobs.key_arn,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_minutes * 60},
            "VpcConfig": {"SecurityGroupIds": [jobs.security_group_id], "Subnets": jobs.subnet_ids},
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": instance_count > 1,
        }

    def train(self, job: dict[str, Any], hyperparameters: Mapping[str, str], timeout: cdk.Duration) -> sfn.CustomState:
        """One training job, waited for; ``$.training`` gets its model artifact."""
        return self._sagemaker(
            "Train",
            "createTrainingJob.sync",
            {**job, "TrainingJobName.$": "$.names.run", "HyperParameters": dict(hyperparameters), **self._tags},
            timeout=timeout,
            result_selector={"model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts", "job.$": "$.TrainingJobName"},
            result_path="$.training",
        )

    def tune(
        self,
        job: dict[str, Any],
        hyperparameters: Mapping[str, str],
        tuning: Tuning,
        *,
        job_prefix: str,
        timeout: cdk.Duration,
    ) -> sfn.Chain:
        """A Bayesian tuning job over ``TUNED`` (bounded ranges, little parallelism), then its best training job
        into ``$.training``. Its training jobs inherit its tags."""
        static = {k: v for k, v in hyperparameters.items() if k not in TUNED}
        tune = self._sagemaker(
            "Tune",
            "createHyperParameterTuningJob.sync",
            {
                # tuning job names are limited to 32 characters: the prefix (<= 21) and the execution name's first
                # part (8 hex digits of a default, UUID-named execution)
                "HyperParameterTuningJobName.$": (
                    f"States.Format('{job_prefix}{{}}', "
                    "States.ArrayGetItem(States.StringSplit($$.Execution.Name, '-'), 0))"
                ),
                "HyperParameterTuningJobConfig": {
                    "Strategy": "Bayesian",
                    "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
                    "ResourceLimits": {
                        "MaxNumberOfTrainingJobs": tuning.max_jobs,
                        "MaxParallelTrainingJobs": tuning.max_parallel_jobs,
                    },
                    "ParameterRanges": {
                        "ContinuousParameterRanges": [
                            {
                                "Name": "eta",
                                "MinValue": str(tuning.eta_min),
                                "MaxValue": str(tuning.eta_max),
                                "ScalingType": "Logarithmic",
                            }
                        ],
                        "IntegerParameterRanges": [
                            {
                                "Name": "max_depth",
                                "MinValue": str(tuning.max_depth_min),
                                "MaxValue": str(tuning.max_depth_max),
                                "ScalingType": "Auto",
                            }
                        ],
                    },
                    "TrainingJobEarlyStoppingType": "Auto",
                },
                "TrainingJobDefinition": {**job, "StaticHyperParameters": static},
                **self._tags,
            },
            timeout=timeout,
            result_selector={"best.$": "$.BestTrainingJob.TrainingJobName"},
            result_path="$.tuning",
        )
        best = self._sagemaker_sdk(
            "BestTrainingJob",
            "describeTrainingJob",
            {"TrainingJobName.$": "$.tuning.best"},
            result_selector={"model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts", "job.$": "$.TrainingJobName"},
            result_path="$.training",
        )
        return tune.next(best)

    # --- evaluation and the gate ----------------------------------------------------------------------------

    def create_model(self) -> sfn.CustomState:
        """The trained artifact as a SageMaker model (what the transforms and the endpoint run)."""
        jobs = self._jobs
        return self._sagemaker(
            "CreateModel",
            "createModel",
            {
                "ModelName.$": "$.names.run",
                "ExecutionRoleArn": jobs.role_arn,
                "PrimaryContainer": {"Image": jobs.image_uri, "ModelDataUrl.$": "$.training.model_data_url"},
                "VpcConfig": {"SecurityGroupIds": [jobs.security_group_id], "Subnets": jobs.subnet_ids},
                "EnableNetworkIsolation": True,
                **self._tags,
            },
            timeout=cdk.Duration.minutes(5),
            result_path=sfn.JsonPath.DISCARD,
        )

    def transform(
        self, state_id: str, *, job_name: str, split: str, output_uri_path: str, instance_type: str
    ) -> sfn.CustomState:
        """A batch transform of one CSV split of the ETL; each output line is ``<label>,<probability>``."""
        jobs = self._jobs
        parameters: dict[str, Any] = {
            "TransformJobName.$": job_name,
            "ModelName.$": "$.names.run",
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{jobs.curated_uri}{split}/"}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {
                "S3OutputPath.$": output_uri_path,
                "AssembleWith": "Line",
                "Accept": "text/csv",
                **_kms(jobs.output_key_arn),
            },
            "TransformResources": {"InstanceCount": 1, "InstanceType": instance_type, "VolumeKmsKeyId": jobs.key_arn},
            "BatchStrategy": "MultiRecord",
            # Every CSV split of the ETL has the label first: send the features only (the model was trained on
            # 23 columns and the container refuses a 24-column row), and join the prediction back to the input
            # line, keeping the label and the score.
            "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
            **self._tags,
        }
        return self._sagemaker(
            state_id,
            "createTransformJob.sync",
            parameters,
            timeout=cdk.Duration.hours(2),
            result_path=sfn.JsonPath.DISCARD,
        )

    def evaluate(self, function: lambda_.IFunction, threshold: float, gate: GateThresholds) -> tasks.LambdaInvoke:
        """The evaluation function on the validation transform's output; ``$.evaluation`` gets the metrics."""
        invoke = tasks.LambdaInvoke(
            self._scope,
            "EvaluateMetrics",
            lambda_function=function,
            payload=sfn.TaskInput.from_object(
                {
                    "output_prefix": sfn.JsonPath.string_at("$.names.evaluation_uri"),
                    "threshold": threshold,
                    "thresholds": asdict(gate),
                }
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,  # _harden adds the same retry, with jitter
            result_path="$.evaluation",
            task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(6)),
        )
        return self._harden(invoke, "lambda")

    def quality_gate(self, gate: GateThresholds, *, passed: sfn.IChainable, rejected: sfn.IChainable) -> sfn.Choice:
        """Every metric at or above its threshold: ``passed``; otherwise ``rejected``."""
        metric = lambda name: f"$.evaluation.metrics.{name}"  # noqa: E731 - a tiny local helper reads better inline
        passes = sfn.Condition.and_(
            sfn.Condition.number_greater_than_equals(metric("auc"), gate.auc),
            sfn.Condition.number_greater_than_equals(metric("precision"), gate.precision),
            sfn.Condition.number_greater_than_equals(metric("recall"), gate.recall),
            sfn.Condition.number_greater_than_equals(metric("f1"), gate.f1),
        )
        return sfn.Choice(self._scope, "QualityGate").when(passes, passed).otherwise(rejected)

    def reject(self, gate: GateThresholds) -> sfn.CustomState:
        """The gate's failure branch: delete the model, alert with the metrics, fail."""
        delete_model = self._sagemaker_sdk(
            "DeleteRejectedModel", "deleteModel", {"ModelName.$": "$.names.run"}, result_path=sfn.JsonPath.DISCARD
        )
        notify = tasks.SnsPublish(
            self._scope,
            "NotifyGateFailure",
            topic=self._alerts,
            subject="Model rejected by the quality gate",
            message=sfn.TaskInput.from_object(
                {
                    "execution": sfn.JsonPath.execution_id,
                    "metrics": sfn.JsonPath.object_at("$.evaluation.metrics"),
                    "thresholds": asdict(gate),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(1)),
        )
        failed = sfn.Fail(
            self._scope,
            "GateFailed",
            error="QualityGateFailed",
            cause=f"Validation metrics below the thresholds (auc >= {gate.auc}, precision >= {gate.precision}, "
            f"recall >= {gate.recall}, f1 >= {gate.f1}); the model was deleted and not registered",
        )
        delete_model.next(self._harden(notify, "sns")).next(failed)
        return delete_model

    # --- after the gate -------------------------------------------------------------------------------------

    def register(self, package_group_name: str) -> sfn.CustomState:
        """A model package, Approved, with the metrics as metadata, in the model package group."""
        return self._sagemaker_sdk(
            "Register",
            "createModelPackage",
            {
                "ModelPackageGroupName": package_group_name,
                "ModelPackageDescription.$": "States.Format('Trained by {}', $$.Execution.Id)",
                "ModelApprovalStatus": "Approved",
                "InferenceSpecification": {
                    "Containers": [{"Image": self._jobs.image_uri, "ModelDataUrl.$": "$.training.model_data_url"}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
                "CustomerMetadataProperties": {
                    "auc.$": "States.Format('{}', $.evaluation.metrics.auc)",
                    "precision.$": "States.Format('{}', $.evaluation.metrics.precision)",
                    "recall.$": "States.Format('{}', $.evaluation.metrics.recall)",
                    "f1.$": "States.Format('{}', $.evaluation.metrics.f1)",
                    "model_name.$": "$.names.run",
                },
                **self._tags,
            },
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.package",
        )

    def roll_endpoint(self, endpoint: EndpointTarget, then: sfn.IChainable) -> sfn.CustomState:
        """A new endpoint config for the new model (same variant, capture and encryption), UpdateEndpoint, and a
        wait loop until the endpoint is InService again. SageMaker shifts traffic only once the new instances
        are healthy, so the endpoint keeps serving throughout."""
        key_arn = self._jobs.key_arn
        create_config = self._sagemaker_sdk(
            "CreateEndpointConfig",
            "createEndpointConfig",
            {
                "EndpointConfigName.$": "$.names.run",
                "KmsKeyId": key_arn,
                "ProductionVariants": [
                    {
                        "VariantName": endpoint.variant,
                        "ModelName.$": "$.names.run",
                        "InitialInstanceCount": endpoint.instance_count,
                        "InstanceType": endpoint.instance_type,
                        "InitialVariantWeight": 1,
                    }
                ],
                "DataCaptureConfig": {
                    "EnableCapture": endpoint.capture_percentage > 0,
                    "InitialSamplingPercentage": endpoint.capture_percentage,
                    "DestinationS3Uri": endpoint.capture_uri,
                    "KmsKeyId": key_arn,
                    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
                },
                **self._tags,
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        update = self._sagemaker_sdk(
            "UpdateEndpoint",
            "updateEndpoint",
            {"EndpointName": endpoint.name, "EndpointConfigName.$": "$.names.run"},
            result_path=sfn.JsonPath.DISCARD,
        )
        wait = sfn.Wait(self._scope, "WaitForEndpoint", time=sfn.WaitTime.duration(cdk.Duration.minutes(1)))
        describe = self._sagemaker_sdk(
            "DescribeEndpoint",
            "describeEndpoint",
            {"EndpointName": endpoint.name},
            result_selector={"status.$": "$.EndpointStatus"},
            result_path="$.endpoint",
        )
        update_failed = sfn.Pass(
            self._scope,
            "EndpointUpdateFailed",
            parameters={"Error": "EndpointUpdateFailed", "Cause": "see DescribeEndpoint"},
            result_path="$.error",
        )
        rolled = (
            sfn.Choice(self._scope, "EndpointInService")
            .when(sfn.Condition.string_equals("$.endpoint.status", "InService"), then)
            .when(sfn.Condition.string_equals("$.endpoint.status", "Failed"), update_failed.next(self.failure))
            .otherwise(wait)
        )
        create_config.next(update).next(wait).next(describe).next(rolled)
        return create_config

    def handover(self) -> sfn.Pass:
        """The run's output, what the endpoint update takes, then Done."""
        handover = sfn.Pass(
            self._scope,
            "Handover",
            comment="The run's output: what the serving stack's endpoint update takes",
            parameters={
                "model_name.$": "$.names.run",
                "model_data_url.$": "$.training.model_data_url",
                "model_package_arn.$": "$.package.arn",
                "metrics.$": "$.evaluation.metrics",
            },
        )
        handover.next(sfn.Succeed(self._scope, "Done"))
        return handover

    # --- hardening ------------------------------------------------------------------------------------------

    def _harden(self, task: Any, service: str, *, catch: bool = True) -> Any:
        """A Retry of ``service``'s transient errors (backoff with full jitter) and a Catch to the failure path."""
        task.add_retry(
            errors=TRANSIENT[service],
            interval=cdk.Duration.seconds(10),
            max_attempts=3,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        if catch:
            task.add_catch(self.failure, errors=["States.ALL"], result_path="$.error")
        return task

    def _sagemaker(
        self, state_id: str, action: str, parameters: dict[str, Any], *, timeout: cdk.Duration, **extra: Any
    ) -> sfn.CustomState:
        """A SageMaker service-integration task (optimized integration: ``.sync`` waits for the job)."""
        body: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:{self._partition}:states:::sagemaker:{action}",
            "Parameters": parameters,
            "TimeoutSeconds": int(timeout.to_seconds()),
        }
        body.update({_pascal(k): v for k, v in extra.items()})
        return self._harden(sfn.CustomState(self._scope, state_id, state_json=body), "sagemaker")

    def _sagemaker_sdk(self, state_id: str, action: str, parameters: dict[str, Any], **extra: Any) -> sfn.CustomState:
        """A SageMaker AWS SDK integration call (for APIs without an optimized integration)."""
        body: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:{self._partition}:states:::aws-sdk:sagemaker:{action}",
            "Parameters": parameters,
            "TimeoutSeconds": 300,
        }
        body.update({_pascal(k): v for k, v in extra.items()})
        return self._harden(sfn.CustomState(self._scope, state_id, state_json=body), "sagemaker")


def _kms(key_arn: str | None) -> dict[str, str]:
    return {"KmsKeyId": key_arn} if key_arn else {}


def _per_run(prefix: str) -> str:
    """``<prefix><execution name>/`` as a Step Functions intrinsic."""
    return f"States.Format('{prefix}{{}}/', $$.Execution.Name)"


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
