"""The training workflow: Step Functions runs the ETL, trains built-in XGBoost, evaluates, gates, registers.

Training is not a CloudFormation resource, so the reference way to train is an orchestrated workflow::

    Names -> RunEtl (Glue, .sync) -> Train (.sync)  |  Tune (.sync) -> BestTrainingJob
          -> CreateModel -> EvaluateTransform (batch transform of validation, .sync) -> Evaluate (Lambda)
          -> QualityGate (Choice on the thresholds)
               pass -> Register (model package group) -> [TestTransform (.sync)] -> Handover (Succeed)
               fail -> DeleteModel -> NotifyGateFailure -> GateFailed (Fail)
    any task error -> NotifyFailure (SNS) -> Failed (Fail)

Every task has a timeout, a Retry for transient errors and a Catch to the failure path. The SageMaker tasks
are written as the Step Functions service-integration JSON (``CustomState``): the CDK task classes cannot
express inter-container traffic encryption or the batch transform's input/output join, and the JSON reads as
the SageMaker API it calls. Their permissions are written out below, scoped to this workflow's job names.

Jobs run in the isolated subnets of the network stack (S3 through the gateway endpoint), with network
isolation, KMS on volumes and outputs, and inter-container traffic encryption for distributed training.

Handover to serving: the execution output is ``{"model_name", "model_data_url", "model_package_arn",
"metrics"}``; the endpoint stack (next issue) deploys ``model_name``.

Precedence: the caller's validated ``TrainingSettings``; encryption, isolation and error handling are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct, IConstruct

from ml_config.config import TrainingSettings
from ml_constructs.common import sagemaker_security_group, sagemaker_vpc_access, via_service
from ml_constructs.nag import acknowledge_wildcard_resources

HERE = Path(__file__).resolve().parent
EVALUATE_CODE = HERE / "evaluate"
MODELS_PREFIX = "models/"
EVALUATION_PREFIX = "evaluation/"
PREDICTIONS_PREFIX = "predictions/"
CAPTURE_PREFIX = "capture/"  # a rolled endpoint's model writes data capture with this role
#: Every job, model and endpoint config the workflow creates is named ``<job_prefix><execution name>`` (the
#: training stack passes ``<config prefix>-``), and its IAM is scoped to that prefix: two copies of the app in one
#: account (two prefixes) neither collide nor can touch each other's jobs.
DEFAULT_JOB_PREFIX = "mlspec-"

# Errors worth a retry: throttling and transient service faults, never a failed job.
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


@dataclass(frozen=True)
class EndpointTarget:
    """The serving stack's endpoint the workflow rolls to a newly trained model."""

    name: str
    variant: str
    instance_type: str
    instance_count: int
    capture_uri: str
    capture_percentage: int


class TrainingPipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: TrainingSettings,
        image_uri: str,
        etl_job_name: str,
        etl_timeout: cdk.Duration,
        curated: s3.IBucket,
        curated_prefix: str,
        artifacts: s3.IBucket,
        key: kms.IKey,
        s3_kms: bool,
        vpc: ec2.IVpc,
        alerts: sns.ITopic,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
        endpoint: EndpointTarget | None = None,
        job_prefix: str = DEFAULT_JOB_PREFIX,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self._job_prefix = job_prefix
        self._endpoint = endpoint
        self._key = key
        self._stack = stack = cdk.Stack.of(self)
        self._wildcard_resources: dict[str, tuple[IConstruct, list[str]]] = {}
        subnets = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

        # --- the jobs' network and role ---------------------------------------------------------------------
        self.security_group = sagemaker_security_group(
            self,
            "JobsSecurityGroup",
            vpc,
            "SageMaker training and transform instances: only each other, and S3 via the endpoint",
        )
        # distributed training talks between its own instances; S3 is reached through the gateway endpoint
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.all_traffic(), "between job instances")
        self.security_group.add_egress_rule(self.security_group, ec2.Port.all_traffic(), "between job instances")
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker training, model and transform: read curated etl/, write artifacts",
        )
        self._grant_jobs(curated, curated_prefix, artifacts, key, s3_kms=s3_kms)

        # --- the evaluation function ------------------------------------------------------------------------
        evaluate_logs = logs.LogGroup(
            self, "EvaluateLogs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        # Its own role: only its log group (the managed AWSLambdaBasicExecutionRole would allow every group).
        evaluate_role = iam.Role(
            self,
            "EvaluateRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Evaluation function: read the evaluation/ prefix, write its own log group",
        )
        evaluate_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[evaluate_logs.log_group_arn]
            )
        )
        self.evaluate_function = lambda_.Function(
            self,
            "Evaluate",
            role=evaluate_role,
            description="Quality-gate metrics (AUC, precision, recall, F1) from the joined batch-transform output",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(EVALUATE_CODE), exclude=["__pycache__", "*.pyc"]),
            timeout=cdk.Duration.minutes(5),
            memory_size=512,
            log_group=evaluate_logs,
            tracing=lambda_.Tracing.ACTIVE,
        )
        self.evaluate_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[artifacts.arn_for_objects(f"{EVALUATION_PREFIX}*")]
            )
        )
        self.evaluate_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{EVALUATION_PREFIX}*"]}},
            )
        )
        if s3_kms:
            self.evaluate_function.add_to_role_policy(_kms_via_s3(stack, key, ["kms:Decrypt"]))
        self._track(evaluate_role, artifacts.arn_for_objects(f"{EVALUATION_PREFIX}*"))
        self._track(evaluate_role, "*")  # X-Ray PutTraceSegments/PutTelemetryRecords have no resource type

        # --- the workflow -----------------------------------------------------------------------------------
        failure = sfn.Fail(
            self,
            "Failed",
            error="TrainingWorkflowFailed",
            cause="A step failed; see the SNS alert and the execution history",
        )
        notify_failure = self._harden(
            tasks.SnsPublish(
                self,
                "NotifyFailure",
                topic=alerts,
                subject="Training workflow failed",
                message=sfn.TaskInput.from_object(
                    {"execution": sfn.JsonPath.execution_id, "error": sfn.JsonPath.object_at("$.error")}
                ),
                result_path=sfn.JsonPath.DISCARD,
                task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(1)),
            ),
            "sns",
            catch=False,
        ).next(failure)
        self._failure = notify_failure

        names = sfn.Pass(
            self,
            "Names",
            comment="One name per run for every job and model (SageMaker names: 63 characters at most)",
            parameters={
                "run.$": f"States.Format('{self._job_prefix}{{}}', $$.Execution.Name)",
                "models_uri": f"s3://{artifacts.bucket_name}/{MODELS_PREFIX}",
                # one prefix per execution: the evaluation reads every object under its prefix
                "evaluation_uri.$": _per_run(f"s3://{artifacts.bucket_name}/{EVALUATION_PREFIX}"),
                "predictions_uri.$": _per_run(f"s3://{artifacts.bucket_name}/{PREDICTIONS_PREFIX}"),
            },
            result_path="$.names",
        )
        # The Glue run's own timeout stops the job; the state's TimeoutSeconds also covers queueing.
        run_etl = self._harden(
            sfn.CustomState(
                self,
                "RunEtl",
                state_json={
                    "Type": "Task",
                    "Resource": f"arn:{stack.partition}:states:::glue:startJobRun.sync",
                    "Parameters": {"JobName": etl_job_name, "Timeout": int(etl_timeout.to_minutes())},
                    # DISCARD renders as null; a Python None is dropped, and the default "$" would replace the
                    # execution's state with the job run (the next state reads $.names).
                    "ResultPath": sfn.JsonPath.DISCARD,
                    "TimeoutSeconds": int(etl_timeout.plus(cdk.Duration.minutes(15)).to_seconds()),
                },
            ),
            "glue",
        )
        self._etl_job_name = etl_job_name
        channel = lambda name: {  # noqa: E731 - a tiny local helper reads better inline
            "ChannelName": name,
            "ContentType": "text/csv",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{curated.bucket_name}/{curated_prefix}{name}/",
                    "S3DataDistributionType": "ShardedByS3Key" if settings.instance_count > 1 else "FullyReplicated",
                }
            },
        }
        training_job = {
            "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
            "RoleArn": self.job_role.role_arn,
            "InputDataConfig": [channel("train"), channel("validation")],
            "OutputDataConfig": {
                "S3OutputPath": f"s3://{artifacts.bucket_name}/{MODELS_PREFIX}",
                **({"KmsKeyId": key.key_arn} if s3_kms else {}),
            },
            "ResourceConfig": {
                "InstanceCount": settings.instance_count,
                "InstanceType": settings.instance_type,
                "VolumeSizeInGB": settings.volume_size_gb,
                "VolumeKmsKeyId": key.key_arn,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_minutes * 60},
            "VpcConfig": {"SecurityGroupIds": [self.security_group.security_group_id], "Subnets": subnets.subnet_ids},
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": settings.instance_count > 1,
        }
        train_timeout = cdk.Duration.minutes(settings.max_runtime_minutes + 30)
        if settings.tuning.enabled:
            training = self._tuning(training_job)
        else:
            training = self._sagemaker(
                "Train",
                "createTrainingJob.sync",
                {
                    **training_job,
                    "TrainingJobName.$": "$.names.run",
                    "HyperParameters": settings.algorithm_hyperparameters(),
                },
                timeout=train_timeout,
                result_selector={"model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts", "job.$": "$.TrainingJobName"},
                result_path="$.training",
            )
        create_model = self._sagemaker(
            "CreateModel",
            "createModel",
            {
                "ModelName.$": "$.names.run",
                "ExecutionRoleArn": self.job_role.role_arn,
                "PrimaryContainer": {"Image": image_uri, "ModelDataUrl.$": "$.training.model_data_url"},
                "VpcConfig": {
                    "SecurityGroupIds": [self.security_group.security_group_id],
                    "Subnets": subnets.subnet_ids,
                },
                "EnableNetworkIsolation": True,
            },
            timeout=cdk.Duration.minutes(5),
            result_path=sfn.JsonPath.DISCARD,
        )
        evaluate_transform = self._transform(
            "EvaluateTransform",
            job_name="States.Format('{}-val', $.names.run)",
            input_uri=f"s3://{curated.bucket_name}/{curated_prefix}validation/",
            output_uri_path="$.names.evaluation_uri",
            key=key if s3_kms else None,
        )
        evaluate = self._harden(
            tasks.LambdaInvoke(
                self,
                "EvaluateMetrics",
                lambda_function=self.evaluate_function,
                payload=sfn.TaskInput.from_object(
                    {
                        "output_prefix": sfn.JsonPath.string_at("$.names.evaluation_uri"),
                        "threshold": settings.decision_threshold,
                        "thresholds": settings.gate.model_dump(),
                    }
                ),
                payload_response_only=True,
                retry_on_service_exceptions=False,  # _harden adds the same retry, with jitter
                result_path="$.evaluation",
                task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(6)),
            ),
            "lambda",
        )
        gate = settings.gate
        metric = lambda name: f"$.evaluation.metrics.{name}"  # noqa: E731
        passes = sfn.Condition.and_(
            sfn.Condition.number_greater_than_equals(metric("auc"), gate.auc),
            sfn.Condition.number_greater_than_equals(metric("precision"), gate.precision),
            sfn.Condition.number_greater_than_equals(metric("recall"), gate.recall),
            sfn.Condition.number_greater_than_equals(metric("f1"), gate.f1),
        )
        register = self._sagemaker_sdk(
            "Register",
            "createModelPackage",
            {
                "ModelPackageGroupName": self._package_group().ref,
                "ModelPackageDescription.$": "States.Format('Trained by {}', $$.Execution.Id)",
                "ModelApprovalStatus": "Approved",
                "InferenceSpecification": {
                    "Containers": [{"Image": image_uri, "ModelDataUrl.$": "$.training.model_data_url"}],
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
            },
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.package",
        )
        handover = sfn.Pass(
            self,
            "Handover",
            comment="The run's output: what the serving stack's endpoint update takes",
            parameters={
                "model_name.$": "$.names.run",
                "model_data_url.$": "$.training.model_data_url",
                "model_package_arn.$": "$.package.arn",
                "metrics.$": "$.evaluation.metrics",
            },
        )
        first_after_gate: sfn.IChainable = handover
        if endpoint is not None:
            first_after_gate = self._roll_endpoint(endpoint, key, handover)
        passed = register
        if settings.batch_transform_test:
            test_transform = self._transform(
                "TestTransform",
                job_name="States.Format('{}-test', $.names.run)",
                input_uri=f"s3://{curated.bucket_name}/{curated_prefix}test/",
                output_uri_path="$.names.predictions_uri",
                key=key if s3_kms else None,
            )
            passed.next(test_transform)
            test_transform.next(first_after_gate)
        else:
            passed.next(first_after_gate)
        handover.next(sfn.Succeed(self, "Done"))

        delete_model = self._sagemaker_sdk(
            "DeleteRejectedModel", "deleteModel", {"ModelName.$": "$.names.run"}, result_path=sfn.JsonPath.DISCARD
        )
        notify_gate = self._harden(
            tasks.SnsPublish(
                self,
                "NotifyGateFailure",
                topic=alerts,
                subject="Model rejected by the quality gate",
                message=sfn.TaskInput.from_object(
                    {
                        "execution": sfn.JsonPath.execution_id,
                        "metrics": sfn.JsonPath.object_at("$.evaluation.metrics"),
                        "thresholds": gate.model_dump(),
                    }
                ),
                result_path=sfn.JsonPath.DISCARD,
                task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(1)),
            ),
            "sns",
        )
        gate_failed = sfn.Fail(
            self,
            "GateFailed",
            error="QualityGateFailed",
            cause=f"Validation metrics below the thresholds (auc >= {gate.auc}, precision >= {gate.precision}, "
            f"recall >= {gate.recall}, f1 >= {gate.f1}); the model was deleted and not registered",
        )
        delete_model.next(notify_gate).next(gate_failed)
        quality_gate = sfn.Choice(self, "QualityGate").when(passes, passed).otherwise(delete_model)

        definition = (
            names.next(run_etl)
            .next(training)
            .next(create_model)
            .next(evaluate_transform)
            .next(evaluate)
            .next(quality_gate)
        )
        self.log_group = logs.LogGroup(
            self, "WorkflowLogs", encryption_key=key, retention=log_retention, removal_policy=removal_policy
        )
        total = (
            etl_timeout.to_minutes()
            + settings.max_runtime_minutes * (settings.tuning.max_jobs if settings.tuning.enabled else 1)
            + 180
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Workflow",
            comment="Worked example: ETL -> train -> evaluate -> quality gate -> register",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=cdk.Duration.minutes(total),
            removal_policy=removal_policy,
        )
        self._grant_workflow()
        if settings.schedule:
            events.Rule(
                self,
                "Schedule",
                description="Starts the training workflow on the configured schedule",
                schedule=events.Schedule.expression(settings.schedule),
                targets=[targets.SfnStateMachine(self.state_machine)],
            )
        self._acknowledge()

    # --- states -----------------------------------------------------------------------------------------------

    def _harden(self, task: Any, service: str, *, catch: bool = True) -> Any:
        task.add_retry(
            errors=TRANSIENT[service],
            interval=cdk.Duration.seconds(10),
            max_attempts=3,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        if catch:
            task.add_catch(self._failure, errors=["States.ALL"], result_path="$.error")
        return task

    def _sagemaker(
        self, state_id: str, action: str, parameters: dict[str, Any], *, timeout: cdk.Duration, **extra: Any
    ) -> sfn.CustomState:
        """A SageMaker service-integration task (optimized integration: ``.sync`` waits for the job)."""
        body: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:{self._stack.partition}:states:::sagemaker:{action}",
            "Parameters": parameters,
            "TimeoutSeconds": int(timeout.to_seconds()),
        }
        body.update({_pascal(k): v for k, v in extra.items()})
        return self._harden(sfn.CustomState(self, state_id, state_json=body), "sagemaker")

    def _sagemaker_sdk(self, state_id: str, action: str, parameters: dict[str, Any], **extra: Any) -> sfn.CustomState:
        """A SageMaker AWS SDK integration call (for APIs without an optimized integration)."""
        body: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:{self._stack.partition}:states:::aws-sdk:sagemaker:{action}",
            "Parameters": parameters,
            "TimeoutSeconds": 300,
        }
        body.update({_pascal(k): v for k, v in extra.items()})
        return self._harden(sfn.CustomState(self, state_id, state_json=body), "sagemaker")

    def _transform(
        self, state_id: str, *, job_name: str, input_uri: str, output_uri_path: str, key: kms.IKey | None
    ) -> sfn.CustomState:
        parameters: dict[str, Any] = {
            "TransformJobName.$": job_name,
            "ModelName.$": "$.names.run",
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {
                "S3OutputPath.$": output_uri_path,
                "AssembleWith": "Line",
                "Accept": "text/csv",
                **({"KmsKeyId": key.key_arn} if key else {}),
            },
            "TransformResources": {
                "InstanceCount": 1,
                "InstanceType": self.settings.transform_instance_type,
                "VolumeKmsKeyId": self._key.key_arn,
            },
            "BatchStrategy": "MultiRecord",
        }
        # Every CSV split of the ETL has the label first: send the features only (the model was trained on 23
        # columns and the container refuses a 24-column row), and join the prediction back to the input line,
        # keeping the label and the score: each output line is "<label>,<probability>".
        parameters["DataProcessing"] = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
        return self._sagemaker(
            state_id,
            "createTransformJob.sync",
            parameters,
            timeout=cdk.Duration.hours(2),
            result_path=sfn.JsonPath.DISCARD,
        )

    def _tuning(self, training_job: dict[str, Any]) -> sfn.IChainable:
        tuning = self.settings.tuning
        hyperparameters = self.settings.algorithm_hyperparameters()
        for tuned in ("eta", "max_depth"):
            hyperparameters.pop(tuned)
        definition = {k: v for k, v in training_job.items()}
        definition["StaticHyperParameters"] = hyperparameters
        tune = self._sagemaker(
            "Tune",
            "createHyperParameterTuningJob.sync",
            {
                # tuning job names are limited to 32 characters: the prefix (<= 21) and the execution name's first
                # part (8 hex digits of a default, UUID-named execution)
                "HyperParameterTuningJobName.$": (
                    f"States.Format('{self._job_prefix}{{}}', "
                    "States.ArrayGetItem(States.StringSplit($$.Execution.Name, '-'), 0))"
                ),
                "HyperParameterTuningJobConfig": {
                    # Bayesian search over few, bounded hyperparameters with little parallelism (seed §4.2)
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
                "TrainingJobDefinition": definition,
            },
            timeout=cdk.Duration.minutes(self.settings.max_runtime_minutes * tuning.max_jobs + 30),
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

    def _roll_endpoint(self, endpoint: EndpointTarget, key: kms.IKey, then: sfn.IChainable) -> sfn.IChainable:
        """A new endpoint config for the new model (same variant, capture and encryption), UpdateEndpoint, and a
        wait loop until the endpoint is InService again. SageMaker shifts traffic only once the new instances
        are healthy, so the endpoint keeps serving throughout."""
        create_config = self._sagemaker_sdk(
            "CreateEndpointConfig",
            "createEndpointConfig",
            {
                "EndpointConfigName.$": "$.names.run",
                "KmsKeyId": key.key_arn,
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
                    "KmsKeyId": key.key_arn,
                    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
                },
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        update = self._sagemaker_sdk(
            "UpdateEndpoint",
            "updateEndpoint",
            {"EndpointName": endpoint.name, "EndpointConfigName.$": "$.names.run"},
            result_path=sfn.JsonPath.DISCARD,
        )
        wait = sfn.Wait(self, "WaitForEndpoint", time=sfn.WaitTime.duration(cdk.Duration.minutes(1)))
        describe = self._sagemaker_sdk(
            "DescribeEndpoint",
            "describeEndpoint",
            {"EndpointName": endpoint.name},
            result_selector={"status.$": "$.EndpointStatus"},
            result_path="$.endpoint",
        )
        rolled = (
            sfn.Choice(self, "EndpointInService")
            .when(sfn.Condition.string_equals("$.endpoint.status", "InService"), then)
            .when(
                sfn.Condition.string_equals("$.endpoint.status", "Failed"),
                sfn.Pass(
                    self,
                    "EndpointUpdateFailed",
                    parameters={"Error": "EndpointUpdateFailed", "Cause": "see DescribeEndpoint"},
                    result_path="$.error",
                ).next(self._failure),
            )
            .otherwise(wait)
        )
        create_config.next(update).next(wait).next(describe).next(rolled)
        return create_config

    def _package_group(self) -> sagemaker.CfnModelPackageGroup:
        if not hasattr(self, "package_group"):
            self.package_group = sagemaker.CfnModelPackageGroup(
                self,
                "ModelPackageGroup",
                model_package_group_name=f"{self._stack.stack_name}-models",
                model_package_group_description="XGBoost fraud models that passed the quality gate",
            )
            # SageMaker refuses to delete a group that still holds model packages, which every successful run
            # adds: a DESTROY policy would make `cdk destroy` fail. The group is free; docs/training.md shows
            # how to delete it with its versions.
            self.package_group.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        return self.package_group

    # --- permissions -------------------------------------------------------------------------------------

    def _grant_jobs(
        self, curated: s3.IBucket, curated_prefix: str, artifacts: s3.IBucket, key: kms.IKey, *, s3_kms: bool
    ) -> None:
        role, stack = self.job_role, self._stack
        reads = curated.arn_for_objects(f"{curated_prefix}*")
        role.add_to_policy(iam.PolicyStatement(sid="ReadTrainingData", actions=["s3:GetObject"], resources=[reads]))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListTrainingData",
                actions=["s3:ListBucket"],
                resources=[curated.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{curated_prefix}*"]}},
            )
        )
        writes = [
            artifacts.arn_for_objects(f"{p}*")
            for p in (MODELS_PREFIX, EVALUATION_PREFIX, PREDICTIONS_PREFIX, CAPTURE_PREFIX)
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteArtifacts",
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=writes,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListArtifacts",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
                conditions={
                    "StringLike": {
                        "s3:prefix": [f"{p}*" for p in (MODELS_PREFIX, EVALUATION_PREFIX, PREDICTIONS_PREFIX)]
                    }
                },
            )
        )
        actions = ["kms:Decrypt", "kms:GenerateDataKey"] if s3_kms else []
        if actions:
            role.add_to_policy(_kms_via_s3(stack, key, actions))
        # SageMaker encrypts the instances' volumes with the key: it needs a grant for the attached volumes.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="VolumeEncryption",
                actions=["kms:CreateGrant", "kms:DescribeKey"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        vpc_describe = sagemaker_vpc_access()
        role.add_to_policy(vpc_describe)
        logs_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="JobLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[logs_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="JobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        for resource in (reads, *writes, "*", logs_arn):
            self._track(role, resource)

    def _grant_workflow(self) -> None:
        stack, role = self._stack, self.state_machine.role
        names = f"{self._job_prefix}*"
        arns = {
            kind: stack.format_arn(service="sagemaker", resource=kind, resource_name=name)
            for kind, name in (
                ("training-job", names),
                ("transform-job", names),
                ("model", names),
                ("hyper-parameter-tuning-job", names),
                ("model-package", f"{stack.stack_name.lower()}-models/*"),
                ("endpoint-config", names),
                ("endpoint", "*"),
            )
        }
        statements = [
            iam.PolicyStatement(
                sid="SageMakerJobs",
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:CreateTransformJob",
                    "sagemaker:DescribeTransformJob",
                    "sagemaker:StopTransformJob",
                    "sagemaker:CreateModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                    "sagemaker:CreateHyperParameterTuningJob",
                    "sagemaker:DescribeHyperParameterTuningJob",
                    "sagemaker:StopHyperParameterTuningJob",
                ],
                resources=[arns[k] for k in ("training-job", "transform-job", "model", "hyper-parameter-tuning-job")],
            ),
            iam.PolicyStatement(
                sid="RollEndpoint",
                actions=["sagemaker:CreateEndpointConfig", "sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint"],
                resources=[
                    stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name=names),
                    stack.format_arn(service="sagemaker", resource="endpoint", resource_name="*"),
                ],
            ),
            iam.PolicyStatement(
                sid="EndpointConfigEncryption",
                actions=["kms:CreateGrant", "kms:DescribeKey"],
                resources=[self._key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            iam.PolicyStatement(
                sid="RegisterModels",
                actions=["sagemaker:CreateModelPackage"],
                resources=[self._package_group().attr_model_package_group_arn, arns["model-package"]],
            ),
            # the alerts topic is encrypted with the lake key: publishing needs the key, through SNS only
            iam.PolicyStatement(
                sid="PublishEncryptedAlerts",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self._key.key_arn],
                conditions=via_service(self, "sns"),
            ),
            iam.PolicyStatement(
                sid="RunEtl",
                actions=["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
                resources=[stack.format_arn(service="glue", resource="job", resource_name=self._etl_job_name)],
            ),
            iam.PolicyStatement(
                sid="PassJobRole",
                actions=["iam:PassRole"],
                resources=[self.job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            # .sync integrations watch the jobs through EventBridge rules managed by Step Functions
            iam.PolicyStatement(
                sid="SyncRules",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name=f"StepFunctionsGetEventsForSageMaker{kind}JobsRule",
                    )
                    for kind in ("Training", "Transform", "HyperParameterTuning")
                ],
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        for resource in arns.values():
            self._track(role, resource)
        # CDK's grants for the state machine: log delivery and X-Ray (no resource types), and invoking the
        # evaluation function in any of its versions (<arn>:*)
        self._track(role, "*")
        self._track(role, f"{self.evaluate_function.function_arn}:*")

    def _track(self, role: iam.IRole | None, resource: str) -> None:
        """Remember a wildcard resource granted to ``role``; each is acknowledged by name at the end."""
        assert role is not None
        self._wildcard_resources.setdefault(role.node.path, (role, []))[1].append(resource)

    def _acknowledge(self) -> None:
        for role, resources in self._wildcard_resources.values():
            policy = role.node.find_child("DefaultPolicy").node.default_child
            assert policy is not None
            acknowledge_wildcard_resources(
                policy,
                resources,
                f"Job names are generated per run under the {self._job_prefix} prefix; objects under one prefix of "
                "one lake bucket; /aws/sagemaker/ log groups; the evaluation function's versions; and '*' only for "
                "calls without a resource type (EC2 network interfaces, CloudWatch metrics by namespace condition, "
                "X-Ray, CloudWatch Logs delivery).",
            )


def _kms_via_s3(stack: cdk.Stack, key: kms.IKey, actions: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="LakeKeyThroughS3",
        actions=actions,
        resources=[key.key_arn],
        conditions=via_service(stack, "s3"),
    )


def _per_run(prefix: str) -> str:
    """``<prefix><execution name>/`` as a Step Functions intrinsic."""
    return f"States.Format('{prefix}{{}}/', $$.Execution.Name)"


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
