"""Who may do what in the training workflow, each grant scoped to this workflow's prefixes and job names: the
SageMaker job role, the evaluation function's role, the workflow's role, and the acknowledgement of the
wildcards that per-run names leave."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ml_constructs.common import key_through, sagemaker_logs, sagemaker_vpc_access
from ml_constructs.lake_layout import (
    CAPTURE_PREFIX,
    ETL_PREPROCESSING,
    ETL_RAW_SPLITS,
    EVALUATION_PREFIX,
    MODELS_PREFIX,
    PREDICTIONS_PREFIX,
)
from ml_constructs.nag import WildcardLedger, acknowledge_grant_policy, acknowledge_wildcard_resources
from ml_constructs.training.states import BIAS_ANALYSIS_SUFFIX


@dataclass(frozen=True)
class Run:
    """What a run of the workflow does, as far as its grants go: which states the workflow has, whether it tags."""

    tuning: bool  # a tuning job (Tune, then BestTrainingJob) instead of one training job (Train)
    tagged: bool  # what a run creates carries tags (tag-on-create needs sagemaker:AddTags)
    test_transform: bool  # the test split is scored into predictions/
    rolls_endpoint: bool  # the run ends by rolling the serving endpoint to the new model
    alarm_names: tuple[str, ...] = ()  # the alarms the roll-out's automatic rollback watches
    serving_config: str | None = None  # ARN of the endpoint config the endpoint is created with (the first champion's)

    @classmethod
    def of(cls, *, tuning: object, tags: Mapping[str, str], test_transform: bool, endpoint: object) -> Run:
        """From the construct's props: ``tuning`` and ``endpoint`` are None when the workflow has no such state."""
        alarms = tuple(getattr(endpoint, "alarm_names", ()))
        config = getattr(endpoint, "config_arn", None)
        return cls(tuning is not None, bool(tags), test_transform, endpoint is not None, alarms, config)


def job_role(scope: Construct) -> iam.Role:
    """The role SageMaker runs the jobs, the models and the rolled endpoint with."""
    return iam.Role(
        scope,
        "JobRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="SageMaker training, model and transform: read curated etl/, write artifacts",
    )


def grant_jobs(
    role: iam.Role,
    curated: s3.IBucket,
    curated_prefix: str,
    artifacts: s3.IBucket,
    key: kms.IKey,
    *,
    s3_kms: bool,
    run: Run,
    ledger: WildcardLedger,
) -> None:
    """The job role (training, model, transform): read the ETL's output, write the artifacts' prefixes (with the
    test transform, its predictions/; when the run rolls the endpoint, capture/ too: the endpoint runs its model
    with this role, which writes the data capture, encrypted with ``key`` as the endpoint config says), run in the
    VPC, log and report."""
    writes_capture = run.rolls_endpoint
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
    written = [MODELS_PREFIX, EVALUATION_PREFIX]
    written += [PREDICTIONS_PREFIX] if run.test_transform else []
    written += [CAPTURE_PREFIX] if writes_capture else []
    writes = [artifacts.arn_for_objects(f"{p}*") for p in written]
    # jobs read single objects there (the model artifact) and write under the prefixes: no listing; no upload
    # abort either (not in SageMaker's documented role policies; the lake's lifecycle rule clears incomplete uploads)
    role.add_to_policy(
        iam.PolicyStatement(sid="WriteArtifacts", actions=["s3:GetObject", "s3:PutObject"], resources=writes)
    )
    if s3_kms:
        role.add_to_policy(key_through(role, key, ["kms:Decrypt", "kms:GenerateDataKey"], "s3", sid="LakeKeyThroughS3"))
        # the jobs' outputs name the key (OutputDataConfig / TransformOutput KmsKeyId): SageMaker requires the role
        # to be allowed kms:Encrypt with it (API_OutputDataConfig, SageMaker API reference, checked 2026-12)
        role.add_to_policy(key_through(role, key, ["kms:Encrypt"], "sagemaker", sid="OutputKey"))
    elif writes_capture:  # SSE-S3 buckets, but the capture is encrypted with the key all the same
        role.add_to_policy(key_through(role, key, ["kms:GenerateDataKey"], "s3", sid="CaptureEncryption"))
    # SageMaker encrypts the instances' volumes with the key: it needs a grant for the attached volumes.
    role.add_to_policy(
        iam.PolicyStatement(
            sid="VolumeEncryption",
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )
    role.add_to_policy(sagemaker_vpc_access())
    job_logs, logs_arn = sagemaker_logs(role, "/aws/sagemaker/*", "JobLogs")
    role.add_to_policy(job_logs)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="JobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        )
    )
    ledger.track(role, reads, *writes, "*", logs_arn)


def evaluation_role(scope: Construct, log_group: logs.ILogGroup) -> iam.Role:
    """The evaluation function's own role: only its log group (the managed AWSLambdaBasicExecutionRole would
    allow every group)."""
    role = iam.Role(
        scope,
        "EvaluateRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="Evaluation function: read the evaluation/ prefix, write its own log group",
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn])
    )
    return role


def grant_evaluation(
    function: lambda_.Function,
    artifacts: s3.IBucket,
    key: kms.IKey,
    s3_kms: bool,
    ledger: WildcardLedger,
    writes_bias_analysis: bool = False,
) -> None:
    """The evaluation function reads the validation transform's output under evaluation/; with bias facets it also
    writes the run's analysis.json (``evaluation/<run>-bias/analysis.json``, that one name only)."""
    objects = artifacts.arn_for_objects(f"{EVALUATION_PREFIX}*")
    function.add_to_role_policy(
        iam.PolicyStatement(sid="ReadEvaluation", actions=["s3:GetObject"], resources=[objects])
    )
    key_actions = ["kms:Decrypt"]
    if writes_bias_analysis:
        analysis = artifacts.arn_for_objects(f"{EVALUATION_PREFIX}*{BIAS_ANALYSIS_SUFFIX}")
        function.add_to_role_policy(
            iam.PolicyStatement(sid="WriteBiasAnalysis", actions=["s3:PutObject"], resources=[analysis])
        )
        key_actions.append("kms:GenerateDataKey")  # the object takes the bucket's SSE-KMS default
        ledger.track(function.role, analysis)
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="ListEvaluation",
            actions=["s3:ListBucket"],
            resources=[artifacts.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{EVALUATION_PREFIX}*"]}},
        )
    )
    if s3_kms:
        function.add_to_role_policy(key_through(function, key, key_actions, "s3", sid="LakeKeyThroughS3"))
    # X-Ray PutTraceSegments/PutTelemetryRecords have no resource type
    ledger.track(function.role, objects, "*")


@dataclass(frozen=True)
class Workflow:
    """What the workflow's grants depend on: the resources it uses, and which states it has."""

    job_role: iam.IRole
    key: kms.IKey
    package_group: sagemaker.CfnModelPackageGroup
    etl_job_name: str
    job_prefix: str
    evaluate_function: lambda_.IFunction
    run: Run
    explain_role: iam.IRole | None = None  # the Explain processing job's role (passed to SageMaker too)


def grant_workflow(machine: sfn.StateMachine, workflow: Workflow, ledger: WildcardLedger) -> None:
    """The workflow's role: create, watch and stop the jobs of its runs (named ``<job_prefix>...``), tag what it
    creates, roll the endpoint, register models, run the ETL, pass the job role to SageMaker only. Only what
    the workflow's states call: the training or the tuning job, the endpoint's statements when it rolls one."""
    stack, role = cdk.Stack.of(machine), machine.role
    names = f"{workflow.job_prefix}*"
    arns = {
        kind: stack.format_arn(service="sagemaker", resource=kind, resource_name=name)
        for kind, name in (
            ("training-job", names),
            ("transform-job", names),
            ("model", names),
            ("hyper-parameter-tuning-job", names),
            ("processing-job", names),
            ("model-package", f"{stack.stack_name.lower()}-models/*"),
            ("endpoint-config", names),
            ("endpoint", "*"),
        )
    }
    statements = _job_statements(arns, workflow) + _model_statements(arns, workflow)
    statements += _supporting_statements(machine, workflow)
    for statement in statements:
        role.add_to_principal_policy(statement)
    granted = {r for statement in statements for r in statement.resources}
    # CDK's grants for the state machine: log delivery and X-Ray (no resource types), and invoking the evaluation
    # function in any of its versions (<arn>:*)
    ledger.track(role, *(a for a in arns.values() if a in granted), "*", f"{workflow.evaluate_function.function_arn}:*")


def _job(sid: str, kind: str, arn: str, tagged: bool) -> iam.PolicyStatement:
    """Run a job of ``kind`` (``TrainingJob``, ...) with .sync: create, describe, stop it and list its tags (Step
    Functions' documented policy for the integration); AddTags when the request carries tags."""
    actions = [f"sagemaker:Create{kind}", f"sagemaker:Describe{kind}", f"sagemaker:Stop{kind}", "sagemaker:ListTags"]
    return iam.PolicyStatement(sid=sid, actions=actions + _tagging(tagged), resources=[arn])


def _tagging(tagged: bool) -> list[str]:
    return ["sagemaker:AddTags"] if tagged else []


def _job_statements(arns: dict[str, str], workflow: Workflow) -> list[iam.PolicyStatement]:
    """The jobs of a run: the training job (or the tuning job and a look at its best training job) and the
    transform jobs."""
    tagged = workflow.run.tagged
    if workflow.run.tuning:
        training = [
            _job("TuningJobs", "HyperParameterTuningJob", arns["hyper-parameter-tuning-job"], tagged),
            iam.PolicyStatement(
                sid="BestTrainingJob", actions=["sagemaker:DescribeTrainingJob"], resources=[arns["training-job"]]
            ),
        ]
    else:
        training = [_job("TrainingJobs", "TrainingJob", arns["training-job"], tagged)]
    jobs = [*training, _job("TransformJobs", "TransformJob", arns["transform-job"], tagged)]
    if workflow.explain_role is not None:
        jobs.append(_job("ProcessingJobs", "ProcessingJob", arns["processing-job"], tagged))
    return jobs


def _model_statements(arns: dict[str, str], workflow: Workflow) -> list[iam.PolicyStatement]:
    """The model a run creates (and deletes when rejected), registers, and rolls the endpoint to."""
    tagged = workflow.run.tagged
    statements = [
        iam.PolicyStatement(
            sid="Models",
            actions=["sagemaker:CreateModel", "sagemaker:DeleteModel", *_tagging(tagged)],
            resources=[arns["model"]],
        ),
        # CreateModelPackage is authorized on the new package (<group>/<version>), not on its group
        iam.PolicyStatement(
            sid="RegisterModels",
            actions=["sagemaker:CreateModelPackage", *_tagging(tagged)],
            resources=[arns["model-package"]],
        ),
    ]
    if workflow.run.rolls_endpoint:
        stack = cdk.Stack.of(workflow.key)
        configs = [arns["endpoint-config"]]
        if workflow.run.serving_config:  # its ARN, not one built from its name: SageMaker lower-cases names in ARNs
            configs.append(workflow.run.serving_config)
        statements += [
            iam.PolicyStatement(
                sid="RollEndpoint",
                actions=["sagemaker:CreateEndpointConfig", "sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint"],
                resources=[arns["endpoint-config"], arns["endpoint"]],
            ),
            # the champion: the model the endpoint's current config names (the stack's first, or a run's)
            iam.PolicyStatement(sid="ServingModel", actions=["sagemaker:DescribeEndpointConfig"], resources=configs),
            # SageMaker encrypts the new instances' volumes with the config's key: the caller lets it create the grant
            iam.PolicyStatement(
                sid="EndpointConfigEncryption",
                actions=["kms:CreateGrant"],
                resources=[workflow.key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
        ]
        if workflow.run.alarm_names:
            # the update's automatic rollback watches these alarms: the caller must be allowed to describe them
            # (Auto-Rollback Configuration and Monitoring, SageMaker developer guide, checked 2026-12)
            statements.append(
                iam.PolicyStatement(
                    sid="RollbackAlarms",
                    actions=["cloudwatch:DescribeAlarms"],
                    resources=[
                        stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=name,
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                        for name in workflow.run.alarm_names
                    ],
                )
            )
        if tagged:
            statements.append(
                iam.PolicyStatement(
                    sid="TagOnCreate", actions=["sagemaker:AddTags"], resources=[arns["endpoint-config"]]
                )
            )
    return statements


#: The EventBridge rule Step Functions manages for each SageMaker .sync integration
#: (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html, checked 2026-12).
SYNC_RULES = {
    "training": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "tuning": "StepFunctionsGetEventsForSageMakerTuningJobsRule",
    "transform": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
    "processing": "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
}


def sync_rules(*, tuning: bool, processing: bool = False) -> list[str]:
    """The rules the workflow's .sync states use: the training or the tuning job's, the transform jobs', and
    (with the Explain step) the processing jobs'."""
    rules = [SYNC_RULES["tuning" if tuning else "training"], SYNC_RULES["transform"]]
    return rules + ([SYNC_RULES["processing"]] if processing else [])


def _supporting_statements(machine: sfn.StateMachine, workflow: Workflow) -> list[iam.PolicyStatement]:
    """The alerts' key, the ETL job, passing the job role, and the rules .sync integrations need."""
    stack = cdk.Stack.of(machine)
    return [
        # the alerts topic is encrypted with the lake key: publishing needs the key, through SNS only
        key_through(machine, workflow.key, ["kms:GenerateDataKey", "kms:Decrypt"], "sns", sid="PublishEncryptedAlerts"),
        iam.PolicyStatement(
            sid="RunEtl",
            actions=["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            resources=[stack.format_arn(service="glue", resource="job", resource_name=workflow.etl_job_name)],
        ),
        iam.PolicyStatement(
            sid="PassJobRole",
            actions=["iam:PassRole"],
            resources=[r.role_arn for r in (workflow.job_role, workflow.explain_role) if r is not None],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        # .sync integrations watch the jobs through EventBridge rules managed by Step Functions
        iam.PolicyStatement(
            sid="SyncRules",
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[
                stack.format_arn(service="events", resource="rule", resource_name=rule)
                for rule in sync_rules(tuning=workflow.run.tuning, processing=workflow.explain_role is not None)
            ],
        ),
    ]


@dataclass(frozen=True)
class Data:
    """The buckets a run reads and writes, the ETL's prefix, the key, and whether the buckets use it."""

    curated: s3.IBucket
    curated_prefix: str
    artifacts: s3.IBucket
    key: kms.IKey
    s3_kms: bool


def grant_pinning(machine: sfn.StateMachine, data: Data, *, job_prefix: str, ledger: WildcardLedger) -> None:
    """The workflow copies the ETL's preprocessing artifact and baseline next to the run's model (CopyObject:
    s3:GetObject on the source, s3:PutObject on the target; through S3, the key for both when SSE-KMS), and reads
    the ETL's ``preprocessing/hyperparameters.json`` (GetObject, the same source grant)."""
    source = data.curated.arn_for_objects(f"{data.curated_prefix}{ETL_PREPROCESSING}*")
    target = data.artifacts.arn_for_objects(f"{MODELS_PREFIX}{job_prefix}*")
    role = machine.role
    role.add_to_principal_policy(iam.PolicyStatement(sid="PinReadEtl", actions=["s3:GetObject"], resources=[source]))
    role.add_to_principal_policy(iam.PolicyStatement(sid="PinWriteModel", actions=["s3:PutObject"], resources=[target]))
    if data.s3_kms:
        role.add_to_principal_policy(
            key_through(machine, data.key, ["kms:Decrypt", "kms:GenerateDataKey"], "s3", sid="PinThroughS3")
        )
    ledger.track(role, source, target)


def grant_champion(scope: Construct, model_role: iam.IRole, data: Data) -> None:
    """The model the endpoint serves from its first deploy runs with the serving stack's model role; scored as
        the champion, its transform job reads the raw validation split and writes under evaluation/ with that role,
        encrypting the output and the volume with the key as the job names it, logging to the transform jobs' group
    (the same grants as the job role's)."""
    curated, key = data.curated, data.key
    raw = curated.arn_for_objects(f"{data.curated_prefix}{ETL_RAW_SPLITS}*")
    output = data.artifacts.arn_for_objects(f"{EVALUATION_PREFIX}*")
    transform_logs, logs_arn = sagemaker_logs(scope, "/aws/sagemaker/TransformJobs:*", "ChampionLogs")
    statements = [
        iam.PolicyStatement(sid="ChampionReadsRawSplits", actions=["s3:GetObject"], resources=[raw]),
        iam.PolicyStatement(
            sid="ChampionListsRawSplits",
            actions=["s3:ListBucket"],
            resources=[curated.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{data.curated_prefix}{ETL_RAW_SPLITS}*"]}},
        ),
        iam.PolicyStatement(sid="ChampionWritesEvaluation", actions=["s3:PutObject"], resources=[output]),
        transform_logs,
        iam.PolicyStatement(
            sid="ChampionVolume",
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
    ]
    if data.s3_kms:
        statements.append(key_through(scope, key, ["kms:Encrypt"], "sagemaker", sid="ChampionOutputKey"))
    policy = iam.Policy(scope, "ChampionPolicy", roles=[model_role], statements=statements)
    acknowledge_wildcard_resources(
        policy.node.default_child,  # type: ignore[arg-type]
        [raw, output, logs_arn],
        "The champion's transform reads the raw splits under one prefix of the curated bucket, writes its "
        "output under evaluation/ (one prefix per execution, named at run time) and logs to the transform jobs' "
        "log group, one stream per job.",
    )
    acknowledge_grant_policy(
        policy,
        "What the serving model's role needs to score the champion in this stack's workflow, kept beside the workflow "
        "that uses it and attached to that one role; a customer-managed policy would add an attachable copy.",
    )


def acknowledge(ledger: WildcardLedger, job_prefix: str) -> None:
    """Acknowledge each wildcard tracked above, by name, once every grant is written."""
    ledger.acknowledge(
        f"Job names are generated per run under the {job_prefix} prefix; objects under one prefix of "
        "one lake bucket; /aws/sagemaker/ log groups; the evaluation function's versions; and '*' only for "
        "calls without a resource type (EC2 network interfaces, CloudWatch metrics by namespace condition, "
        "X-Ray, CloudWatch Logs delivery)."
    )
