"""The training workflow: Step Functions runs the ETL, trains built-in XGBoost, evaluates, gates, registers::

    Names -> RunEtl (Glue) -> PinPreprocessing, PinStatistics, PinConstraints (the ETL's files -> models/<run>/)
          -> Train | Tune -> BestTrainingJob -> PinExplainScript -> Explain (TreeSHAP -> models/<run>/explainability/)
          -> CreateModel (preprocessing + XGBoost) -> EvaluateTransform
          -> EvaluateMetrics -> QualityGate
               fail -> DeleteRejectedModel -> NotifyGateFailure -> GateFailed
               pass, no endpoint -> Register -> [TestTransform] -> Handover -> Done
               pass, endpoint -> DescribeServingEndpoint -> DescribeServingConfig -> ChampionTransform
                    -> EvaluateChampion -> ChallengerNotWorse
                         no  -> RegisterRejected -> NotifyChampionKept -> ChampionKept
                         yes -> Register -> [TestTransform] -> CreateEndpointConfig -> UpdateEndpoint
                                -> StartRollout -> WaitForEndpoint -> DescribeEndpoint -> EndpointInService
                                     new config InService -> Handover -> Done
                                     old config InService (rolled back), Failed, OutOfService,
                                     UpdateRollbackFailed, Deleting, too many polls
                                       -> NotifyRolloutFailure -> a Fail state per error
                                     otherwise -> CountPoll -> WaitForEndpoint
    any task error -> NotifyFailure (SNS) -> Failed
    any failed, timed-out or aborted execution -> an alarm (SNS), for what no Catch sees (``alarms.py``)

The caller controls the jobs (instances, runtime, hyperparameters, tuning, the Explain job), the gate, the
schedule, the tags of what a run creates and the endpoint it rolls. Fixed: the jobs run in the isolated subnets
with network isolation and KMS on volumes and outputs; every task has a timeout, a Retry and a Catch; IAM is
scoped to the ``job_prefix`` names. The states are in ``states.py``, the grants in ``permissions.py``; docs/training.md
explains the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
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
from constructs import Construct

from ml_constructs.assets import python_function
from ml_constructs.common import encrypted_log_group, sagemaker_security_group
from ml_constructs.failures import dead_letter_alarm, dead_letter_queue
from ml_constructs.lake_layout import CURATED_ROOT
from ml_constructs.nag import (
    LAMBDA_RELIABILITY_PACKS,
    UNRESERVED_CONCURRENCY_REASON,
    WildcardLedger,
    acknowledge,
    acknowledge_grant_policy,
    acknowledge_packs,
)
from ml_constructs.serving.rollout import DEFAULT_ROLLOUT, Rollout
from ml_constructs.training import explain, permissions
from ml_constructs.training.alarms import workflow_alarms
from ml_constructs.training.states import TUNED, Jobs, WorkflowStates

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
#: Every job, model and endpoint config a run creates is named ``<job_prefix><execution name>``, and the
#: workflow's IAM is scoped to that prefix: two copies of the app in one account (two prefixes) neither collide
#: nor can touch each other's jobs.
DEFAULT_JOB_PREFIX = "mlspec-"
#: Built-in XGBoost for a binary label: probabilities out, AUC logged for validation; shallow, few rounds.
XGBOOST_BINARY: Mapping[str, str] = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "num_round": "100",
    "max_depth": "3",
    "eta": "0.1",
}


@dataclass(frozen=True)
class GateThresholds:
    """The quality gate: the minimum of each metric on the validation split."""

    auc: float = 0.8
    precision: float = 0.3
    recall: float = 0.5
    f1: float = 0.35


@dataclass(frozen=True)
class Tuning:
    """Automatic model tuning: a Bayesian search of ``eta`` (log scale) and ``max_depth`` in bounded ranges."""

    max_jobs: int = 10
    max_parallel_jobs: int = 2
    eta_min: float = 0.01
    eta_max: float = 0.3
    max_depth_min: int = 3
    max_depth_max: int = 8


@dataclass(frozen=True)
class EndpointTarget:
    """The serving stack's endpoint the workflow rolls to a newly trained model: its sizes and capture, the
    roll-out policy and the alarms that roll it back, the role of the model it serves from its first deploy
    (which scores the validation split as the champion), and the AUC margin the new model may lose by."""

    name: str
    variant: str
    instance_type: str
    instance_count: int
    capture_uri: str
    capture_percentage: int
    alarm_names: tuple[str, ...] = ()
    rollout: Rollout = DEFAULT_ROLLOUT
    champion_auc_margin: float = 0.01
    model_role: iam.IRole | None = None
    config_arn: str | None = None  # the endpoint config the endpoint is created with (its ARN: the config's Ref)


class TrainingPipeline(Construct):
    """The workflow, its job role and security group, the evaluation function and the model package group.

    ``hyperparameters`` are what the algorithm receives (strings); with ``tuning``, a tuning job searches
    ``eta`` and ``max_depth`` and the others stay static. ``s3_kms``: the buckets are encrypted with ``key``
    (the jobs then encrypt their outputs with it too). ``tags`` go on every job, model, endpoint config and
    model package a run creates. ``bias_facets``: raw fields whose post-training bias (DPPL, DI, RD, AD per value) the
    evaluation reports, writing Clarify's analysis.json beside the run's evaluation output; ``bias_bounds``: the
    bias gate (``max_abs_dppl``, ``min_di``, ``max_di``, ``max_abs_recall_difference``,
    ``max_abs_accuracy_difference``; none: off), joined into the quality gate.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image_uri: str,
        preprocessing_image_uri: str,
        etl_job_name: str,
        etl_timeout: cdk.Duration,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        key: kms.IKey,
        vpc: ec2.IVpc,
        alerts: sns.ITopic,
        curated_prefix: str = CURATED_ROOT,
        s3_kms: bool = True,
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        volume_size_gb: int = 10,
        max_runtime_minutes: int = 60,
        hyperparameters: Mapping[str, str] = XGBOOST_BINARY,
        decision_threshold: float = 0.5,
        gate: GateThresholds = GateThresholds(),
        tuning: Tuning | None = None,
        batch_transform_test: bool = True,
        transform_instance_type: str = "ml.m5.large",
        schedule: str | None = None,
        endpoint: EndpointTarget | None = None,
        job_prefix: str = DEFAULT_JOB_PREFIX,
        explanation: explain.Explanation = explain.DEFAULT_EXPLANATION,
        tags: Mapping[str, str] = {},
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        bias_facets: Sequence[str] = (),
        bias_bounds: Mapping[str, float] = {},
    ) -> None:
        super().__init__(scope, construct_id)
        ledger = WildcardLedger()  # a run's grants depend on which states the workflow has and whether it tags
        run = permissions.Run.of(tuning=tuning, tags=tags, test_transform=batch_transform_test, endpoint=endpoint)

        # --- what the jobs run as and in, the evaluation function, the model registry --------------------------
        self.security_group = self._jobs_security_group(vpc)
        self.job_role = permissions.job_role(self)
        permissions.grant_jobs(
            self.job_role, curated, curated_prefix, artifacts, key, s3_kms=s3_kms, run=run, ledger=ledger
        )
        self.evaluate_function = self._evaluation_function(key, log_retention, removal_policy)
        permissions.grant_evaluation(self.evaluate_function, artifacts, key, s3_kms, ledger, bool(bias_facets))
        self.package_group = self._model_package_group()
        data = permissions.Data(curated, curated_prefix, artifacts, key, s3_kms)

        # --- the workflow ------------------------------------------------------------------------------------------
        jobs = self._jobs(
            image_uri, preprocessing_image_uri, vpc, key, curated, curated_prefix, artifacts, s3_kms, bias_facets
        )
        states = WorkflowStates(self, jobs=jobs, alerts=alerts, tags=tags)
        definition = self._definition(
            states,
            job=states.training_job(instance_type, instance_count, volume_size_gb, max_runtime_minutes),
            explain_state=self._explain_step(states, jobs, data, explanation, job_prefix, ledger),
            hyperparameters=hyperparameters,
            tuning=tuning,
            max_runtime_minutes=max_runtime_minutes,
            job_prefix=job_prefix,
            etl_job_name=etl_job_name,
            etl_timeout=etl_timeout,
            transform_instance_type=transform_instance_type,
            decision_threshold=decision_threshold,
            gate=gate,
            batch_transform_test=batch_transform_test,
            endpoint=endpoint,
            bias_bounds=bias_bounds,
        )
        timeout = _workflow_timeout(etl_timeout, max_runtime_minutes, tuning, explanation, endpoint)
        self.state_machine = self._state_machine(definition, key, timeout, schedule, log_retention, removal_policy)
        uses = (self.job_role, key, self.package_group, etl_job_name, job_prefix, self.evaluate_function, run)
        self._grant_workflow(permissions.Workflow(*uses, self.explain_role), data, endpoint, ledger)
        self.alarms = self._alarms(alerts)
        self._acknowledge_packs()

    def _explain_step(
        self,
        states: WorkflowStates,
        jobs: Jobs,
        data: permissions.Data,
        explanation: explain.Explanation,
        job_prefix: str,
        ledger: WildcardLedger,
    ) -> sfn.IChainable:
        """The Explain job's role and grants, its script asset, and its states (copy the script, run the job)."""
        self.explain_role = explain.explain_role(self)
        explain.grant_explain(self.explain_role, data, job_prefix=job_prefix, ledger=ledger)
        self._explain_script = explain.script_asset(self)
        return states.explain(
            explain.processing_request(jobs, self.explain_role.role_arn, explanation),
            explain.script_copy(self._explain_script),
            cdk.Duration.minutes(explanation.max_runtime_minutes + 15),
        )

    def _grant_workflow(
        self,
        workflow: permissions.Workflow,
        data: permissions.Data,
        endpoint: EndpointTarget | None,
        ledger: WildcardLedger,
    ) -> None:
        """The workflow's grants, the pinning of the ETL's files, the champion's, then every acknowledgement."""
        permissions.grant_workflow(self.state_machine, workflow, ledger)
        permissions.grant_pinning(self.state_machine, data, job_prefix=workflow.job_prefix, ledger=ledger)
        if endpoint is not None and endpoint.model_role is not None:
            permissions.grant_champion(self, endpoint.model_role, data)
        permissions.acknowledge(ledger, workflow.job_prefix)
        explain.grant_script_copy(self.state_machine.role, self._explain_script)

    def _alarms(self, alerts: sns.ITopic) -> dict[str, cloudwatch.Alarm]:
        """Failed, timed-out and aborted executions; with a schedule, a start it could not make (its queue)."""
        alarms = workflow_alarms(self, self.state_machine, alerts)
        if self.schedule_dead_letters is not None:
            alarms["ScheduleDeadLetters"] = dead_letter_alarm(
                self, self.schedule_dead_letters, alerts, "Training schedule"
            )
        return alarms

    def _acknowledge_packs(self) -> None:
        """The conformance packs' findings kept on purpose, one resource at a time."""
        for role in (self.job_role, self.explain_role, self.evaluate_function.role, self.state_machine.role):
            acknowledge_grant_policy(role)
        events_role = self.state_machine.node.try_find_child("EventsRole")  # only with a schedule
        if events_role is not None:
            acknowledge_grant_policy(events_role)
        for rule in self.security_group.node.children:
            if isinstance(rule, ec2.CfnSecurityGroupIngress):
                acknowledge_packs(
                    rule,
                    "EC2RestrictedCommonPorts",
                    "Ingress only from this same group, whose members are this workflow's SageMaker job instances: "
                    "for distributed training SageMaker asks for inbound traffic between the group's members without "
                    "naming ports (developer guide, training jobs in a VPC, checked 2026-12); nothing else gets in.",
                )
        evaluate = self.evaluate_function.node.default_child
        acknowledge_packs(
            evaluate,
            "LambdaDLQ",
            "Step Functions invokes the function synchronously and retries or catches its errors in the workflow; "
            "a dead-letter queue only receives failed asynchronous invocations.",
            LAMBDA_RELIABILITY_PACKS,
        )
        acknowledge_packs(evaluate, "LambdaConcurrency", UNRESERVED_CONCURRENCY_REASON, LAMBDA_RELIABILITY_PACKS)
        acknowledge_packs(
            evaluate,
            "LambdaInsideVPC",
            "The function reaches no resource inside the VPC: it reads and writes the artifacts bucket and sends "
            "traces to X-Ray, which the isolated subnets (no NAT, no interface endpoints) could not reach.",
        )

    def _definition(
        self,
        states: WorkflowStates,
        *,
        job: dict[str, Any],
        explain_state: sfn.IChainable,
        hyperparameters: Mapping[str, str],
        tuning: Tuning | None,
        max_runtime_minutes: int,
        job_prefix: str,
        etl_job_name: str,
        etl_timeout: cdk.Duration,
        transform_instance_type: str,
        decision_threshold: float,
        gate: GateThresholds,
        batch_transform_test: bool,
        endpoint: EndpointTarget | None,
        bias_bounds: Mapping[str, float],
    ) -> sfn.IChainable:
        """The states in the order they run (each task's Catch to the failure path is added as it is built, so
        this order is also the order of the definition's states)."""
        names = states.names(job_prefix)
        run_etl = states.run_etl(etl_job_name, etl_timeout)
        pin = states.pin_etl_outputs()
        training: sfn.IChainable
        if tuning is None:
            read_hyperparameters = states.etl_hyperparameters(hyperparameters)
            training = states.train(job, cdk.Duration.minutes(max_runtime_minutes + 30))
        else:
            read_hyperparameters = states.etl_hyperparameters(
                {k: v for k, v in hyperparameters.items() if k not in TUNED}
            )
            tuning_time = cdk.Duration.minutes(max_runtime_minutes * tuning.max_jobs + 30)
            training = states.tune(job, tuning, job_prefix=job_prefix, timeout=tuning_time)
        create_model = states.create_model()
        evaluate_transform = states.transform(
            "EvaluateTransform",
            job_name="States.Format('{}-val', $.names.run)",
            split="validation",
            output_uri_path="$.names.evaluation_uri",
            instance_type=transform_instance_type,
        )
        evaluate = states.evaluate(self.evaluate_function, decision_threshold, gate, bias_bounds=bias_bounds)
        # passed: [beat the serving model], register, score the test split, [roll the endpoint], hand over
        register = states.register(self.package_group.ref)
        handover = states.handover()
        after_gate = handover if endpoint is None else states.roll_endpoint(endpoint, then=handover)
        passed: sfn.IChainable = register
        if endpoint is not None:
            champion, last = states.champion(
                endpoint, self.evaluate_function, decision_threshold, gate, transform_instance_type
            )
            last.next(
                states.champion_choice(
                    challenger_wins=register,
                    champion_wins=states.keep_champion(self.package_group.ref, endpoint.champion_auc_margin),
                )
            )
            passed = champion
        if batch_transform_test:
            test_transform = states.transform(
                "TestTransform",
                job_name="States.Format('{}-test', $.names.run)",
                split="test",
                output_uri_path="$.names.predictions_uri",
                instance_type=transform_instance_type,
            )
            register.next(test_transform).next(after_gate)
        else:
            register.next(after_gate)
        quality_gate = states.quality_gate(gate, passed=passed, rejected=states.reject(gate))
        names.next(states.etl_window(then=run_etl))
        run_etl.next(pin).next(read_hyperparameters).next(training).next(explain_state).next(create_model).next(
            evaluate_transform
        ).next(evaluate).next(quality_gate)
        return names

    def _jobs(
        self,
        image_uri: str,
        preprocessing_image_uri: str,
        vpc: ec2.IVpc,
        key: kms.IKey,
        curated: s3.IBucket,
        curated_prefix: str,
        artifacts: s3.IBucket,
        s3_kms: bool,
        facets: Sequence[str],
    ) -> Jobs:
        """What every job and model of a run shares: this image, the job role, the isolated subnets, the key."""
        return Jobs(
            image_uri=image_uri,
            preprocessing_image_uri=preprocessing_image_uri,
            role_arn=self.job_role.role_arn,
            security_group_id=self.security_group.security_group_id,
            subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
            key_arn=key.key_arn,
            output_key_arn=key.key_arn if s3_kms else None,
            curated_uri=f"s3://{curated.bucket_name}/{curated_prefix}",
            artifacts_uri=f"s3://{artifacts.bucket_name}/",
            curated_bucket=curated.bucket_name,
            curated_prefix=curated_prefix,
            artifacts_bucket=artifacts.bucket_name,
            facets=tuple(facets),  # the transforms keep them beside the label for the bias metrics
        )

    def _jobs_security_group(self, vpc: ec2.IVpc) -> ec2.SecurityGroup:
        """No inbound but its own members (distributed training talks between its instances), HTTPS out to S3."""
        group = sagemaker_security_group(
            self,
            "JobsSecurityGroup",
            vpc,
            "SageMaker training and transform instances: only each other, and S3 via the endpoint",
        )
        group.add_ingress_rule(group, ec2.Port.all_traffic(), "between job instances")
        group.add_egress_rule(group, ec2.Port.all_traffic(), "between job instances")
        return group

    def _evaluation_function(
        self, key: kms.IKey, retention: logs.RetentionDays, removal_policy: cdk.RemovalPolicy
    ) -> lambda_.Function:
        """The quality-gate and bias metrics from the joined batch-transform output (the code in ``runtime/`` and the
        shared bias metrics, staged together by ``python_function``)."""
        log_group = encrypted_log_group(
            self, "EvaluateLogs", key=key, retention=retention, removal_policy=removal_policy
        )
        return python_function(
            self,
            "Evaluate",
            RUNTIME_DIR,
            role=permissions.evaluation_role(self, log_group),
            description="Quality-gate and bias metrics from the joined batch-transform output",
            handler="handler.handler",
            timeout=cdk.Duration.minutes(5),
            memory_size=512,
            log_group=log_group,
        )

    def _model_package_group(self) -> sagemaker.CfnModelPackageGroup:
        """The registry of the models that passed the gate. Retained: SageMaker refuses to delete a group that
        still holds model packages, which every successful run adds, so DESTROY would make `cdk destroy` fail
        (docs/training.md shows how to delete it)."""
        group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=f"{cdk.Stack.of(self).stack_name}-models",
            model_package_group_description="XGBoost fraud models that passed the quality gate",
        )
        group.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        return group

    def _state_machine(
        self,
        definition: sfn.IChainable,
        key: kms.IKey,
        timeout: cdk.Duration,
        schedule: str | None,
        retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
    ) -> sfn.StateMachine:
        """The state machine, logging everything to an encrypted group, traced; started on ``schedule`` if set."""
        self.log_group = encrypted_log_group(
            self, "WorkflowLogs", key=key, retention=retention, removal_policy=removal_policy
        )
        machine = sfn.StateMachine(
            self,
            "Workflow",
            comment="Worked example: ETL -> train -> evaluate -> quality gate -> register",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=timeout,
            removal_policy=removal_policy,
        )
        #: A start the schedule could not make (after EventBridge's retries) lands here; ``__init__`` alarms on it.
        self.schedule_dead_letters = None
        if schedule:
            self.schedule_dead_letters = dead_letter_queue(self, "ScheduleDeadLetters", removal_policy=removal_policy)
            acknowledge(
                self.schedule_dead_letters,
                "AwsSolutions-SQS3",
                "This queue is itself a dead-letter queue: the schedule rule's target names it in DeadLetterConfig, "
                "which the rule does not look at (it only counts SQS redrive policies); an alarm watches it.",
            )
            events.Rule(
                self,
                "Schedule",
                description="Starts the training workflow on the configured schedule",
                schedule=events.Schedule.expression(schedule),
                targets=[targets.SfnStateMachine(machine, dead_letter_queue=self.schedule_dead_letters)],
            )
        return machine


def _workflow_timeout(
    etl_timeout: cdk.Duration,
    max_runtime_minutes: int,
    tuning: Tuning | None,
    explanation: explain.Explanation,
    endpoint: EndpointTarget | None,
) -> cdk.Duration:
    """The execution's bound: the ETL's, every training job's, the Explain job's, the roll-out's, and 3 hours."""
    runs = max_runtime_minutes * (tuning.max_jobs if tuning else 1) + explanation.max_runtime_minutes
    rollout = endpoint.rollout.max_seconds // 60 + 30 if endpoint else 0
    return cdk.Duration.minutes(etl_timeout.to_minutes() + runs + rollout + 180)
