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

from ml_constructs.lake_layout import (
    BASELINE_FOLDER,
    ETL_HYPERPARAMETERS,
    ETL_PREPROCESSING,
    ETL_RAW_SPLITS,
    EVALUATION_PREFIX,
    MODELS_PREFIX,
    PREDICTIONS_PREFIX,
    PREPROCESSING_FOLDER,
)
from ml_constructs.serving.construct import PREPROCESSING_ENVIRONMENT, REQUEST_CONTENT_TYPES
from ml_constructs.serving.rollout import deployment_config

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
    "s3": ["S3.SdkClientException"],
}
#: The ETL's files a run pins next to its model (source under the ETL's preprocessing/, target folder under the
#: model's): the preprocessing container's artifact and the raw-field baseline drift is measured against.
PINNED = (
    ("PinPreprocessing", "model.tar.gz", PREPROCESSING_FOLDER),
    ("PinStatistics", f"{BASELINE_FOLDER}statistics.json", BASELINE_FOLDER),
    ("PinConstraints", f"{BASELINE_FOLDER}constraints.json", BASELINE_FOLDER),
)
#: The roll-out's terminal statuses other than success, each with its own error (DescribeEndpoint's
#: EndpointStatus; a rolled-back update is InService with the previous config).
ROLLOUT_FAILURES = (
    ("Failed", "EndpointUpdateFailed", "The endpoint failed; see its FailureReason in the notification"),
    ("OutOfService", "EndpointOutOfService", "The endpoint went out of service during the roll-out"),
    ("UpdateRollbackFailed", "EndpointUpdateRollbackFailed", "The update failed and so did its rollback"),
    ("Deleting", "EndpointDeleting", "The endpoint is being deleted; nothing to roll"),
)
ROLLED_BACK = ("EndpointRolledBack", "InService with the previous config: an alarm or a failed deployment rolled back")
ROLLOUT_TIMEOUT = ("EndpointRolloutTimedOut", "The endpoint did not reach a final status within the roll-out bound")
#: Minutes between two looks at the endpoint during a roll-out, and the slack beyond the deployment's own bound
#: (new instances are provisioned before traffic shifts).
POLL_MINUTES = 1
ROLLOUT_SLACK_MINUTES = 30
#: The run's post-training bias report: ``evaluation/<execution>-bias/analysis.json`` (outside the prefix the
#: evaluation function reads, which holds only the transform's output).
BIAS_ANALYSIS_SUFFIX = "-bias/analysis.json"
#: The hyperparameters a tuning job searches; the others stay static.
TUNED = ("eta", "max_depth")
#: What a training (or tuning) job receives: the configured hyperparameters with the ETL's merged over them
#: (``EtlHyperparameters``: ``scale_pos_weight`` when the ETL rebalanced by class weight, else nothing).
MERGED_HYPERPARAMETERS = "States.JsonMerge($.hyperparameters.configured, $.hyperparameters.etl, false)"


@dataclass(frozen=True)
class Jobs:
    """What every SageMaker job and model of a run shares: image, role, network, encryption, data locations."""

    image_uri: str
    preprocessing_image_uri: str  # the pipeline's first container (prebuilt scikit-learn image, our code)
    role_arn: str
    security_group_id: str
    subnet_ids: list[str]
    key_arn: str  # the instances' volumes and the endpoint config
    output_key_arn: str | None  # the outputs in S3 (None: the bucket's own encryption)
    curated_uri: str  # s3://<curated bucket>/<ETL prefix>: train/, validation/, test/ below it
    artifacts_uri: str  # s3://<artifacts bucket>/
    curated_bucket: str
    curated_prefix: str
    artifacts_bucket: str
    label: str = "is_fraud"  # the raw events' label field, kept beside the prediction in the transform's output
    facets: tuple[str, ...] = ()  # bias facets: raw fields kept beside the label for the post-training bias metrics


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
        """One name per run for every job and model, the run's output prefixes, and the folder of its model
        (``models/<run>/``: the training job's ``output/``, the pinned ``preprocessing/`` and ``baseline/``)."""
        artifacts = self._jobs.artifacts_uri
        folder = f"{MODELS_PREFIX}{job_prefix}{{}}/"
        return sfn.Pass(
            self._scope,
            "Names",
            comment="One name per run for every job and model (SageMaker names: 63 characters at most)",
            parameters={
                "run.$": f"States.Format('{job_prefix}{{}}', $$.Execution.Name)",
                "models_uri": f"{artifacts}{MODELS_PREFIX}",
                "model_folder.$": f"States.Format('{folder}', $$.Execution.Name)",
                "preprocessing_url.$": f"States.Format('{artifacts}{folder}{PREPROCESSING_FOLDER}model.tar.gz', "
                "$$.Execution.Name)",
                # one prefix per execution: the evaluation reads every object under its prefix
                "evaluation_uri.$": _per_run(f"{artifacts}{EVALUATION_PREFIX}"),
                "champion_uri.$": _per_run(f"{artifacts}{EVALUATION_PREFIX}", "-champion"),
                # the post-training bias report (Clarify's analysis.json), beside the run's evaluation output
                "bias_analysis_uri.$": f"States.Format('{artifacts}{EVALUATION_PREFIX}{{}}{BIAS_ANALYSIS_SUFFIX}', "
                "$$.Execution.Name)",
                "predictions_uri.$": _per_run(f"{artifacts}{PREDICTIONS_PREFIX}"),
            },
            result_path="$.names",
        )

    def pin_etl_outputs(self) -> sfn.Chain:
        """Copy the ETL's preprocessing artifact and raw-field baseline of this run next to the model
        (``models/<run>/``): the model keeps the preprocessor it was trained with, and drift is measured against
        its own baseline, whatever later ETL runs write. S3 CopyObject through the AWS SDK integration; the
        copies take the artifacts bucket's default encryption."""
        jobs = self._jobs
        source = f"{jobs.curated_bucket}/{jobs.curated_prefix}{ETL_PREPROCESSING}"
        chain: sfn.Chain | None = None
        for state_id, name, folder in PINNED:
            target = f"{folder}{name.rsplit('/', 1)[-1]}"
            state = sfn.CustomState(
                self._scope,
                state_id,
                state_json={
                    "Type": "Task",
                    "Resource": f"arn:{self._partition}:states:::aws-sdk:s3:copyObject",
                    "Parameters": {
                        "Bucket": jobs.artifacts_bucket,
                        "CopySource": f"{source}{name}",
                        "Key.$": f"States.Format('{{}}{target}', $.names.model_folder)",
                    },
                    "ResultPath": sfn.JsonPath.DISCARD,
                    "TimeoutSeconds": 120,
                },
            )
            self._harden(state, "s3")
            chain = sfn.Chain.start(state) if chain is None else chain.next(state)
        assert chain is not None
        return chain

    def etl_window(self, *, then: sfn.IChainable) -> sfn.Choice:
        """The last day of the ETL's training window, at ``$.etl_window.end``: the execution input's
        ``{"etl_window": {"end": "YYYY-MM-DD"}}`` (a replay or a backfill; the job validates the date), else the UTC
        date the execution started (``$$.Execution.StartTime`` is ISO 8601 like ``2026-12-06T09:00:00.000Z``), which
        a retried or late-starting job keeps. The window's length is the job's ``--window_days``."""
        from_start = sfn.Pass(
            self._scope,
            "EtlWindowFromStart",
            comment="The window ends on the day the execution started (UTC)",
            parameters={"end.$": "States.ArrayGetItem(States.StringSplit($$.Execution.StartTime, 'T'), 0)"},
            result_path="$.etl_window",
        )
        not_given = sfn.Condition.not_(sfn.Condition.is_present("$.etl_window"))
        return sfn.Choice(self._scope, "EtlWindow").when(not_given, from_start.next(then)).otherwise(then)

    def run_etl(self, job_name: str, timeout: cdk.Duration) -> sfn.CustomState:
        """The Glue job, waited for (``.sync``). Its own timeout stops the job; the state's also covers queueing.
        The run's window end (``etl_window``) overrides the job's default (the run's own date)."""
        state = sfn.CustomState(
            self._scope,
            "RunEtl",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{self._partition}:states:::glue:startJobRun.sync",
                "Parameters": {
                    "JobName": job_name,
                    "Timeout": int(timeout.to_minutes()),
                    "Arguments": {"--window_end.$": "$.etl_window.end"},
                },
                # DISCARD renders as null; a Python None is dropped, and the default "$" would replace the
                # execution's state with the job run (the next state reads $.names).
                "ResultPath": sfn.JsonPath.DISCARD,
                "TimeoutSeconds": int(timeout.plus(cdk.Duration.minutes(15)).to_seconds()),
            },
        )
        return self._harden(state, "glue")

    def etl_hyperparameters(self, configured: Mapping[str, str]) -> sfn.CustomState:
        """Read the hyperparameters this run's ETL requires (``preprocessing/hyperparameters.json``, a JSON object of
        strings: ``{}``, or ``scale_pos_weight`` with ``rebalance_method=class_weight``) into
        ``$.hyperparameters.etl``, next to the ``configured`` ones; the training or tuning job merges the two
        (``MERGED_HYPERPARAMETERS``, the ETL's win). S3 GetObject through the AWS SDK integration returns the body
        as text, ``States.StringToJson`` parses it."""
        jobs = self._jobs
        state = sfn.CustomState(
            self._scope,
            "EtlHyperparameters",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{self._partition}:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": jobs.curated_bucket, "Key": f"{jobs.curated_prefix}{ETL_HYPERPARAMETERS}"},
                "ResultSelector": {"configured": dict(configured), "etl.$": "States.StringToJson($.Body)"},
                "ResultPath": "$.hyperparameters",
                "TimeoutSeconds": 60,
            },
        )
        return self._harden(state, "s3")

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

    def train(self, job: dict[str, Any], timeout: cdk.Duration) -> sfn.CustomState:
        """One training job with the merged hyperparameters (``etl_hyperparameters``), waited for; ``$.training``
        gets its model artifact."""
        return self._sagemaker(
            "Train",
            "createTrainingJob.sync",
            {**job, "TrainingJobName.$": "$.names.run", "HyperParameters.$": MERGED_HYPERPARAMETERS, **self._tags},
            timeout=timeout,
            result_selector={"model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts", "job.$": "$.TrainingJobName"},
            result_path="$.training",
        )

    def tune(self, job: dict[str, Any], tuning: Tuning, *, job_prefix: str, timeout: cdk.Duration) -> sfn.Chain:
        """A Bayesian tuning job over ``TUNED`` (bounded ranges, little parallelism), then its best training job
        into ``$.training``. Its training jobs inherit its tags; their static hyperparameters are the merged ones
        (``etl_hyperparameters`` is given the configured ones without ``TUNED``)."""
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
                "TrainingJobDefinition": {**job, "StaticHyperParameters.$": MERGED_HYPERPARAMETERS},
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

    def explain(self, request: dict[str, Any], script: tuple[str, str], timeout: cdk.Duration) -> sfn.Chain:
        """Copy the script (``script``: the source ``bucket/key`` and the key below the model folder) next to the
        model, where the jobs' S3 endpoint admits it, then the Processing job that writes the trained model's feature
        attributions there too (``explain.py`` builds ``request``); its result is discarded."""
        source, target = script
        copy = sfn.CustomState(
            self._scope,
            "PinExplainScript",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{self._partition}:states:::aws-sdk:s3:copyObject",
                "Parameters": {
                    "Bucket": self._jobs.artifacts_bucket,
                    "CopySource": source,
                    "Key.$": f"States.Format('{{}}{target}', $.names.model_folder)",
                },
                "ResultPath": sfn.JsonPath.DISCARD,
                "TimeoutSeconds": 120,
            },
        )
        job = self._sagemaker(
            "Explain",
            "createProcessingJob.sync",
            {**request, "ProcessingJobName.$": "States.Format('{}-shap', $.names.run)", **self._tags},
            timeout=timeout,
            result_path=sfn.JsonPath.DISCARD,
        )
        return sfn.Chain.start(self._harden(copy, "s3")).next(job)

    # --- evaluation and the gate ----------------------------------------------------------------------------

    def containers(self) -> list[dict[str, Any]]:
        """The run's inference pipeline: its pinned preprocessing artifact, then its trained XGBoost model."""
        return [
            {
                "Image": self._jobs.preprocessing_image_uri,
                "ModelDataUrl.$": "$.names.preprocessing_url",
                "Environment": dict(PREPROCESSING_ENVIRONMENT),
            },
            {"Image": self._jobs.image_uri, "ModelDataUrl.$": "$.training.model_data_url"},
        ]

    def create_model(self) -> sfn.CustomState:
        """The trained artifact behind its preprocessor as a SageMaker model (what the transforms and the endpoint
        run): two containers, in series, network-isolated in the VPC."""
        jobs = self._jobs
        return self._sagemaker(
            "CreateModel",
            "createModel",
            {
                "ModelName.$": "$.names.run",
                "ExecutionRoleArn": jobs.role_arn,
                "Containers": self.containers(),
                "InferenceExecutionConfig": {"Mode": "Serial"},
                "VpcConfig": {"SecurityGroupIds": [jobs.security_group_id], "Subnets": jobs.subnet_ids},
                "EnableNetworkIsolation": True,
                **self._tags,
            },
            timeout=cdk.Duration.minutes(5),
            result_path=sfn.JsonPath.DISCARD,
        )

    def transform(
        self,
        state_id: str,
        *,
        job_name: str,
        split: str,
        output_uri_path: str,
        instance_type: str,
        model_path: str = "$.names.run",
    ) -> sfn.CustomState:
        """A batch transform of one raw split of the ETL (clean raw events, JSON Lines, label included) through
        the model at ``model_path`` (the run's, or the one the endpoint serves): what a client sends, scored by
        the whole pipeline. Each output line is ``{"<label>": 0|1, "SageMakerOutput": <the pipeline's answer>}``."""
        jobs = self._jobs
        parameters: dict[str, Any] = {
            "TransformJobName.$": job_name,
            "ModelName.$": model_path,
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{jobs.curated_uri}{ETL_RAW_SPLITS}{split}/"}
                },
                "ContentType": "application/jsonlines",
                "SplitType": "Line",
            },
            "TransformOutput": {
                "S3OutputPath.$": output_uri_path,
                "AssembleWith": "Line",
                "Accept": "application/jsonlines",
                **_kms(jobs.output_key_arn),
            },
            "TransformResources": {"InstanceCount": 1, "InstanceType": instance_type, "VolumeKmsKeyId": jobs.key_arn},
            "BatchStrategy": "MultiRecord",
            # The whole event goes in (the preprocessor reads the fields it knows, the label is not one of them);
            # SageMaker adds the answer to each JSON object as SageMakerOutput, and the output keeps the label
            # beside it (Associate Prediction Results with Input Records, SageMaker developer guide, 2026-12).
            "DataProcessing": {
                "InputFilter": "$",
                "JoinSource": "Input",
                "OutputFilter": "$[" + ",".join(f"'{f}'" for f in (jobs.label, *jobs.facets, "SageMakerOutput")) + "]",
            },
            **self._tags,
        }
        return self._sagemaker(
            state_id,
            "createTransformJob.sync",
            parameters,
            timeout=cdk.Duration.hours(2),
            result_path=sfn.JsonPath.DISCARD,
        )

    def evaluate(
        self,
        function: lambda_.IFunction,
        threshold: float,
        gate: GateThresholds,
        *,
        state_id: str = "EvaluateMetrics",
        output_path: str = "$.names.evaluation_uri",
        result_path: str = "$.evaluation",
        challenger: Mapping[str, Any] | None = None,
        bias_bounds: Mapping[str, float] | None = None,
    ) -> tasks.LambdaInvoke:
        """The evaluation function on a validation transform's output; ``result_path`` gets the metrics. With
        ``challenger`` (its AUC and the margin), the function also says whether the challenger is not worse. With
        facets, the post-training bias too; with ``bias_bounds`` (the run's own evaluation) its gate and the
        analysis.json at ``$.names.bias_analysis_uri``."""
        payload: dict[str, Any] = {
            "output_prefix": sfn.JsonPath.string_at(output_path),
            "threshold": threshold,
            "thresholds": asdict(gate),
        }
        if self._jobs.facets:
            payload["bias"] = {"label": self._jobs.label, "facets": list(self._jobs.facets)}
            if bias_bounds is not None:
                payload["bias"]["bounds"] = dict(bias_bounds)
                payload["bias"]["analysis_uri"] = sfn.JsonPath.string_at("$.names.bias_analysis_uri")
        if challenger is not None:
            payload["challenger"] = dict(challenger)
        invoke = tasks.LambdaInvoke(
            self._scope,
            state_id,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,  # _harden adds the same retry, with jitter
            result_path=result_path,
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
            # the bias bounds (facet values against the rest), judged by the function: docs/training.md
            sfn.Condition.boolean_equals("$.evaluation.bias.passed", True),
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
                    "failures": sfn.JsonPath.list_at("$.evaluation.failures"),
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
            f"recall >= {gate.recall}, f1 >= {gate.f1}) or a bias bound broken (see the failures in the "
            "notification); the model was deleted and not registered",
        )
        delete_model.next(self._harden(notify, "sns")).next(failed)
        return delete_model

    # --- after the gate -------------------------------------------------------------------------------------

    def register(self, package_group_name: str, *, rejected: bool = False) -> sfn.CustomState:
        """A model package with the metrics as metadata, in the model package group: Approved, or (``rejected``)
        Rejected, when the model passed the gate but lost to the one the endpoint serves."""
        containers = [{k: v for k, v in c.items()} for c in self.containers()]
        return self._sagemaker_sdk(
            "RegisterRejected" if rejected else "Register",
            "createModelPackage",
            {
                "ModelPackageGroupName": package_group_name,
                "ModelPackageDescription.$": "States.Format('Trained by {}', $$.Execution.Id)",
                "ModelApprovalStatus": "Rejected" if rejected else "Approved",
                "InferenceSpecification": {
                    "Containers": containers,
                    "SupportedContentTypes": list(REQUEST_CONTENT_TYPES),
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
                "CustomerMetadataProperties": {
                    "auc.$": "States.Format('{}', $.evaluation.metrics.auc)",
                    "precision.$": "States.Format('{}', $.evaluation.metrics.precision)",
                    "recall.$": "States.Format('{}', $.evaluation.metrics.recall)",
                    "f1.$": "States.Format('{}', $.evaluation.metrics.f1)",
                    "model_name.$": "$.names.run",
                    "baseline_uri.$": f"States.Format('{self._jobs.artifacts_uri}{{}}{BASELINE_FOLDER}', "
                    "$.names.model_folder)",
                },
                **self._tags,
            },
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.package",
        )

    # --- champion / challenger ------------------------------------------------------------------------------

    def champion(
        self,
        endpoint: EndpointTarget,
        function: lambda_.IFunction,
        threshold: float,
        gate: GateThresholds,
        transform_instance_type: str,
    ) -> tuple[sfn.Chain, tasks.LambdaInvoke]:
        """The model the endpoint serves now (endpoint -> endpoint config -> model), scored on the same raw
        validation split by the same function; ``$.champion.evaluation.challenger.not_worse`` says whether the new
        model's AUC is at least the champion's minus ``endpoint.champion_auc_margin``. Returns the chain and its
        last state (the caller adds the Choice after it)."""
        describe = self._sagemaker_sdk(
            "DescribeServingEndpoint",
            "describeEndpoint",
            {"EndpointName": endpoint.name},
            result_selector={"config.$": "$.EndpointConfigName"},
            result_path="$.champion",
        )
        describe_config = self._sagemaker_sdk(
            "DescribeServingConfig",
            "describeEndpointConfig",
            {"EndpointConfigName.$": "$.champion.config"},
            result_selector={"config.$": "$.EndpointConfigName", "model.$": "$.ProductionVariants[0].ModelName"},
            result_path="$.champion",
        )
        transform = self.transform(
            "ChampionTransform",
            job_name="States.Format('{}-champ', $.names.run)",
            split="validation",
            output_uri_path="$.names.champion_uri",
            instance_type=transform_instance_type,
            model_path="$.champion.model",
        )
        evaluate = self.evaluate(
            function,
            threshold,
            gate,
            state_id="EvaluateChampion",
            output_path="$.names.champion_uri",
            result_path="$.champion.evaluation",
            challenger={
                "auc": sfn.JsonPath.number_at("$.evaluation.metrics.auc"),
                "margin": endpoint.champion_auc_margin,
            },
        )
        return sfn.Chain.start(describe).next(describe_config).next(transform).next(evaluate), evaluate

    def champion_choice(self, *, challenger_wins: sfn.IChainable, champion_wins: sfn.IChainable) -> sfn.Choice:
        return (
            sfn.Choice(self._scope, "ChallengerNotWorse")
            .when(sfn.Condition.boolean_equals("$.champion.evaluation.challenger.not_worse", True), challenger_wins)
            .otherwise(champion_wins)
        )

    def keep_champion(self, package_group_name: str, margin: float) -> sfn.Chain:
        """The challenger lost: register it as Rejected, say so, and end without touching the endpoint."""
        notify = tasks.SnsPublish(
            self._scope,
            "NotifyChampionKept",
            topic=self._alerts,
            subject="New model not rolled out: the serving model scores better",
            message=sfn.TaskInput.from_object(
                {
                    "execution": sfn.JsonPath.execution_id,
                    "challenger": sfn.JsonPath.object_at("$.evaluation.metrics"),
                    "champion": sfn.JsonPath.object_at("$.champion.evaluation.metrics"),
                    "champion_model": sfn.JsonPath.string_at("$.champion.model"),
                    "auc_margin": margin,
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(1)),
        )
        kept = sfn.Succeed(
            self._scope, "ChampionKept", comment="The endpoint keeps its model; the new one is registered Rejected"
        )
        return (
            sfn.Chain.start(self.register(package_group_name, rejected=True))
            .next(self._harden(notify, "sns"))
            .next(kept)
        )

    # --- the roll-out ---------------------------------------------------------------------------------------

    def roll_endpoint(self, endpoint: EndpointTarget, then: sfn.IChainable) -> sfn.CustomState:
        """A new endpoint config for the new model (same variant, capture and encryption), UpdateEndpoint with
        the roll-out policy (blue/green, rolled back on the endpoint's alarms), and a bounded wait loop that ends
        on every final status: the new config InService (``then``), rolled back, each failure status, or the
        bound, each with its own error."""
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
                    "CaptureContentTypeHeader": {
                        "CsvContentTypes": ["text/csv"],
                        "JsonContentTypes": list(REQUEST_CONTENT_TYPES),
                    },
                },
                **self._tags,
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        update = self._sagemaker_sdk(
            "UpdateEndpoint",
            "updateEndpoint",
            {
                "EndpointName": endpoint.name,
                "EndpointConfigName.$": "$.names.run",
                "DeploymentConfig": deployment_config(
                    endpoint.rollout, endpoint.instance_count, list(endpoint.alarm_names)
                ),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        start = sfn.Pass(self._scope, "StartRollout", parameters={"polls": 0}, result_path="$.rollout")
        create_config.next(update).next(start).next(self._rollout_loop(endpoint, then))
        return create_config

    def _rollout_loop(self, endpoint: EndpointTarget, then: sfn.IChainable) -> sfn.Wait:
        """Wait, DescribeEndpoint, decide; at most ``max_polls`` looks (the deployment's own bound, in minutes,
        and ``ROLLOUT_SLACK_MINUTES`` for provisioning)."""
        max_polls = -(-endpoint.rollout.max_seconds // (60 * POLL_MINUTES)) + ROLLOUT_SLACK_MINUTES // POLL_MINUTES
        wait = sfn.Wait(self._scope, "WaitForEndpoint", time=sfn.WaitTime.duration(cdk.Duration.minutes(POLL_MINUTES)))
        describe = self._sagemaker_sdk(
            "DescribeEndpoint", "describeEndpoint", {"EndpointName": endpoint.name}, result_path="$.endpoint"
        )
        count = sfn.Pass(
            self._scope,
            "CountPoll",
            parameters={"polls.$": "States.MathAdd($.rollout.polls, 1)"},
            result_path="$.rollout",
        )
        failed = self._rollout_failure()
        status = lambda value: sfn.Condition.string_equals("$.endpoint.EndpointStatus", value)  # noqa: E731
        choice = sfn.Choice(self._scope, "EndpointInService").when(
            sfn.Condition.and_(
                status("InService"),
                sfn.Condition.string_equals_json_path("$.endpoint.EndpointConfigName", "$.names.run"),
            ),
            then,
        )
        choice.when(status("InService"), self._rollout_error(ROLLED_BACK, failed))
        for value, error, cause in ROLLOUT_FAILURES:
            choice.when(status(value), self._rollout_error((error, cause), failed))
        choice.when(
            sfn.Condition.number_greater_than_equals("$.rollout.polls", max_polls),
            self._rollout_error(ROLLOUT_TIMEOUT, failed),
        )
        choice.otherwise(count.next(wait))
        wait.next(describe).next(choice)
        return wait

    def _rollout_error(self, error: tuple[str, str], failed: sfn.IChainable) -> sfn.Pass:
        name, cause = error
        return sfn.Pass(self._scope, name, parameters={"Error": name, "Cause": cause}, result_path="$.error").next(
            failed
        )  # type: ignore[return-value]

    def _rollout_failure(self) -> sfn.IChainable:
        """One alert for every roll-out failure (with what DescribeEndpoint said), then a Fail state per error:
        the execution's error names what happened."""
        notify = tasks.SnsPublish(
            self._scope,
            "NotifyRolloutFailure",
            topic=self._alerts,
            subject="Endpoint roll-out failed",
            message=sfn.TaskInput.from_object(
                {
                    "execution": sfn.JsonPath.execution_id,
                    "error": sfn.JsonPath.object_at("$.error"),
                    "endpoint": sfn.JsonPath.object_at("$.endpoint"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(1)),
        )
        which = sfn.Choice(self._scope, "RolloutError")
        errors = [ROLLED_BACK, *((e, c) for _, e, c in ROLLOUT_FAILURES), ROLLOUT_TIMEOUT]
        for error, cause in errors:
            which.when(
                sfn.Condition.string_equals("$.error.Error", error),
                sfn.Fail(self._scope, f"{error}Fail", error=error, cause=cause),
            )
        which.otherwise(self.failure)
        return self._harden(notify, "sns").next(which)

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


def _per_run(prefix: str, suffix: str = "") -> str:
    """``<prefix><execution name><suffix>/`` as a Step Functions intrinsic."""
    return f"States.Format('{prefix}{{}}{suffix}/', $$.Execution.Name)"


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
