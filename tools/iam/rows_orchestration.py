"""Declared calls around the pipelines: Step Functions' service integrations, CloudWatch alarm actions,
EventBridge targets, Lambda's own logging and tracing, the CDK custom resources that run at deploy time, and
every service assuming the role it was given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tools.iam.calls import Call
from tools.iam.deployment import Deployment, Resource
from tools.iam.derive import Emitter, bucket_key, key_arn, list_context, s3_kms_context
from tools.iam.rows_ml import workflows

#: The EventBridge rule Step Functions manages for each SageMaker .sync integration
#: (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html, checked 2026-12).
MANAGED_RULES = {
    "createTrainingJob": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "createTransformJob": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
    "createHyperParameterTuningJob": "StepFunctionsGetEventsForSageMakerTuningJobsRule",
    "createProcessingJob": "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
}

#: .sync SageMaker integrations: the job resource type, the name parameter, the Describe/Stop actions' suffix.
_SAGEMAKER_JOBS = {
    "createTrainingJob": ("training-job", "TrainingJobName", "TrainingJob"),
    "createTransformJob": ("transform-job", "TransformJobName", "TransformJob"),
    "createHyperParameterTuningJob": (
        "hyper-parameter-tuning-job",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJob",
    ),
    "createProcessingJob": ("processing-job", "ProcessingJobName", "ProcessingJob"),
}

#: Request-response SageMaker calls of a workflow: the resources each is authorized against.
_SAGEMAKER_RESOURCES = {
    "createModel": [("model", "ModelName")],
    "deleteModel": [("model", "ModelName")],
    "describeTrainingJob": [("training-job", "TrainingJobName")],
    "createEndpointConfig": [("endpoint-config", "EndpointConfigName")],
    "updateEndpoint": [("endpoint", "EndpointName"), ("endpoint-config", "EndpointConfigName")],
    "describeEndpoint": [("endpoint", "EndpointName")],
    "describeEndpointConfig": [("endpoint-config", "EndpointConfigName")],
    "createModelPackage": [("model-package", "ModelPackageGroupName")],
}


def _pass_role(e: Emitter, principal: str, role: str | None, why: str, service: str) -> Iterator[Call]:
    if role:
        yield from e.call(principal, "iam:PassRole", role, why, {"iam:PassedToService": service})


# --- Step Functions -----------------------------------------------------------------------------------------


def sfn_sync_jobs(d: Deployment, e: Emitter) -> Iterator[Call]:
    """Run a job (.sync): start it, poll it, stop it on timeout or abort, and pass the job its role."""
    for label, role, tasks in workflows(d):
        for task in tasks:
            service, api, pattern = task.integration
            p, why = task.parameters, f"state {task.state} of {label}"
            if (service, api) == ("glue", "startJobRun"):
                job = d.env.glue(f"job/{p['JobName']}")
                actions = ["glue:StartJobRun"] + (
                    ["glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"] if pattern == "sync" else []
                )
                yield from e.call(role, actions, job, why)
            elif service == "sagemaker" and api in _SAGEMAKER_JOBS:
                kind, name_key, suffix = _SAGEMAKER_JOBS[api]
                arn = d.env.arn("sagemaker", f"{kind}/{p.get(name_key)}")
                # ListTags: in every SageMaker job policy Step Functions documents, .sync or not
                actions = [f"sagemaker:Create{suffix}", "sagemaker:ListTags"] + (
                    [f"sagemaker:Describe{suffix}", f"sagemaker:Stop{suffix}"] if pattern == "sync" else []
                )
                yield from e.call(role, actions, arn, why)
                passed = p.get("RoleArn") or p.get("TrainingJobDefinition", {}).get("RoleArn")
                yield from _pass_role(e, role, passed, why, "sagemaker.amazonaws.com")


def sfn_sync_rules(d: Deployment, e: Emitter) -> Iterator[Call]:
    """The managed EventBridge rule through which Step Functions learns that a SageMaker job ended."""
    for label, role, tasks in workflows(d):
        for task in tasks:
            service, api, pattern = task.integration
            if service == "sagemaker" and pattern == "sync" and api in MANAGED_RULES:
                rule = d.env.arn("events", f"rule/{MANAGED_RULES[api]}")
                actions = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
                yield from e.call(role, actions, rule, f"state {task.state} of {label}")


def _serving_configs(d: Deployment, tasks: list[Any]) -> list[str]:
    """The endpoint configs an endpoint may be at when a run looks it up: the stacks' endpoints' as deployed, and
    (after an earlier run rolled it) the configs the workflow creates."""
    configs = [res.props["EndpointConfigName"] for res in d.resources("AWS::SageMaker::Endpoint")]
    created = [
        t.parameters.get("EndpointConfigName")
        for t in tasks
        if t.integration[:2] == ("sagemaker", "createEndpointConfig")
    ]
    return [str(c) for c in configs + created if c]


def _sagemaker_task(d: Deployment, e: Emitter, role: str, api: str, p: dict[str, Any], why: str) -> Iterator[Call]:
    for kind, key in _SAGEMAKER_RESOURCES.get(api, []):
        name = str(p.get(key, "")).rsplit("/", 1)[-1]
        resource = f"{kind}/{name}/1" if kind == "model-package" else f"{kind}/{name}"
        yield from e.call(role, f"sagemaker:{api[0].upper()}{api[1:]}", d.env.arn("sagemaker", resource), why)
    if api == "createModel":
        yield from _pass_role(e, role, p.get("ExecutionRoleArn"), why, "sagemaker.amazonaws.com")
    if api == "updateEndpoint":  # the automatic rollback's alarms: the caller describes them
        alarms = p.get("DeploymentConfig", {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])
        for alarm in alarms:
            arn = d.env.arn("cloudwatch", f"alarm:{alarm['AlarmName']}")
            yield from e.call(role, "cloudwatch:DescribeAlarms", arn, why)


def sfn_task_calls(d: Deployment, e: Emitter) -> Iterator[Call]:
    """Request-response Task states: Lambda, SNS and SageMaker API calls made with the workflow's role."""
    for label, role, tasks in workflows(d):
        for task in tasks:
            service, api, _ = task.integration
            p, why = task.parameters, f"state {task.state} of {label}"
            if service == "lambda":
                function = p.get("FunctionName") or task.resource
                yield from e.call(role, "lambda:InvokeFunction", ":".join(str(function).split(":")[:7]), why)
            elif (service, api) == ("sns", "publish"):
                yield from e.call(role, "sns:Publish", p["TopicArn"], why)
            elif (service, api) == ("sagemaker", "describeEndpointConfig") and not p.get("EndpointConfigName"):
                for config in _serving_configs(d, tasks):  # looked up at run time: each it may be
                    arn = d.env.arn("sagemaker", f"endpoint-config/{config}")
                    yield from e.call(role, "sagemaker:DescribeEndpointConfig", arn, why)
            elif service == "sagemaker" and api not in _SAGEMAKER_JOBS:
                yield from _sagemaker_task(d, e, role, api, p, why)


#: SageMaker Create calls of a workflow that take Tags: the resource each creates (its type and name parameter).
_CREATED = {
    "createTrainingJob": ("training-job", "TrainingJobName"),
    "createHyperParameterTuningJob": ("hyper-parameter-tuning-job", "HyperParameterTuningJobName"),
    "createTransformJob": ("transform-job", "TransformJobName"),
    "createProcessingJob": ("processing-job", "ProcessingJobName"),
    "createModel": ("model", "ModelName"),
    "createEndpointConfig": ("endpoint-config", "EndpointConfigName"),
    "createEndpoint": ("endpoint", "EndpointName"),
    "createModelPackage": ("model-package", "ModelPackageGroupName"),
}


def sfn_s3_copies(d: Deployment, e: Emitter) -> Iterator[Call]:
    """S3 CopyObject through the AWS SDK integration, with the workflow's role: read the source (decrypt with its
    bucket's key), write the target (a data key from its bucket's key)."""
    for label, role, tasks in workflows(d):
        for task in tasks:
            if task.integration[:2] != ("s3", "copyObject"):
                continue
            p, why = task.parameters, f"state {task.state} of {label}"
            yield from e.s3_read(role, f"s3://{p['CopySource']}", why)
            yield from e.s3_write(role, f"s3://{p['Bucket']}/{p['Key']}", why)


def sfn_s3_reads(d: Deployment, e: Emitter) -> Iterator[Call]:
    """S3 GetObject through the AWS SDK integration, with the workflow's role (decrypt with the bucket's key)."""
    for label, role, tasks in workflows(d):
        for task in tasks:
            if task.integration[:2] == ("s3", "getObject"):
                p = task.parameters
                yield from e.s3_read(role, f"s3://{p['Bucket']}/{p['Key']}", f"state {task.state} of {label}")


def sagemaker_tag_on_create(d: Deployment, e: Emitter) -> Iterator[Call]:
    """A SageMaker Create call with Tags: the caller must also be allowed sagemaker:AddTags on the new resource."""
    for label, role, tasks in workflows(d):
        for task in tasks:
            service, api, _ = task.integration
            p = task.parameters
            if service != "sagemaker" or api not in _CREATED or not p.get("Tags"):
                continue
            kind, key = _CREATED[api]
            name = str(p.get(key, "")).rsplit("/", 1)[-1]
            resource = f"{kind}/{name}/1" if kind == "model-package" else f"{kind}/{name}"
            yield from e.call(
                role, "sagemaker:AddTags", d.env.arn("sagemaker", resource), f"state {task.state} of {label}"
            )


def _topic_key(d: Deployment, topic_arn: str) -> str | None:
    topic = d.find("AWS::SNS::Topic", "Ref", topic_arn)
    reference = topic.props.get("KmsMasterKeyId") if topic else None
    if not reference:
        return None
    return d.aws_managed_key("sns") if reference == "alias/aws/sns" else key_arn(d, reference)


def sfn_encrypted_topics(d: Deployment, e: Emitter) -> Iterator[Call]:
    """Publishing to an SSE-KMS topic: SNS generates and decrypts data keys with the publisher's identity."""
    for label, role, tasks in workflows(d):
        for task in tasks:
            if task.integration[:2] == ("sns", "publish"):
                key = _topic_key(d, task.parameters["TopicArn"])
                if key:
                    context = {"kms:ViaService": d.env.endpoint("sns")}
                    yield from e.call(
                        role, ["kms:GenerateDataKey", "kms:Decrypt"], key, f"state {task.state} of {label}", context
                    )


def sfn_endpoint_key(d: Deployment, e: Emitter) -> Iterator[Call]:
    """UpdateEndpoint with an endpoint config that names a KMS key: the caller must be able to create the
    grant SageMaker uses for the instances' storage volumes."""
    for label, role, tasks in workflows(d):
        configs = {
            t.parameters.get("EndpointConfigName"): t.parameters
            for t in tasks
            if t.integration[1] == "createEndpointConfig"
        }
        for task in tasks:
            if task.integration[:2] == ("sagemaker", "updateEndpoint"):
                key = key_arn(d, configs.get(task.parameters.get("EndpointConfigName"), {}).get("KmsKeyId"))
                if key:
                    context = {"kms:GrantIsForAWSResource": "true", "kms:ViaService": d.env.endpoint("sagemaker")}
                    yield from e.call(role, "kms:CreateGrant", key, f"state {task.state} of {label}", context)


def sfn_logging(d: Deployment, e: Emitter) -> Iterator[Call]:
    actions = [
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    ]
    for res in d.resources("AWS::StepFunctions::StateMachine"):
        logging = res.props.get("LoggingConfiguration", {})
        if logging.get("Level", "OFF") != "OFF" and logging.get("Destinations"):
            yield from e.call(res.props["RoleArn"], actions, "*", f"state machine {res.label}")


def sfn_tracing(d: Deployment, e: Emitter) -> Iterator[Call]:
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    for res in d.resources("AWS::StepFunctions::StateMachine"):
        if res.props.get("TracingConfiguration", {}).get("Enabled"):
            yield from e.call(res.props["RoleArn"], actions, "*", f"state machine {res.label}")


# --- CloudWatch alarms, EventBridge ------------------------------------------------------------------------


def _alarm_topics(d: Deployment) -> Iterator[tuple[Resource, str]]:
    for res in d.resources("AWS::CloudWatch::Alarm"):
        actions = {
            a for key in ("AlarmActions", "OKActions", "InsufficientDataActions") for a in res.props.get(key, [])
        }
        for arn in sorted(a for a in actions if str(a).startswith(f"arn:{d.env.partition}:sns:")):
            yield res, arn


def _alarm_context(d: Deployment, alarm: Resource) -> dict[str, str]:
    return {"aws:SourceArn": alarm.att("Arn"), "aws:SourceAccount": d.env.account, "aws:SourceOwner": d.env.account}


def alarm_publish(d: Deployment, e: Emitter) -> Iterator[Call]:
    for alarm, topic in _alarm_topics(d):
        yield from e.call(
            "cloudwatch.amazonaws.com", "sns:Publish", topic, f"alarm {alarm.label}", _alarm_context(d, alarm)
        )


def alarm_topic_key(d: Deployment, e: Emitter) -> Iterator[Call]:
    for alarm, topic in _alarm_topics(d):
        key = _topic_key(d, topic)
        if key:
            actions = ["kms:GenerateDataKey", "kms:Decrypt"]
            yield from e.call(
                "cloudwatch.amazonaws.com",
                actions,
                key,
                f"alarm {alarm.label} (topic {topic.rsplit(':', 1)[-1]})",
                _alarm_context(d, alarm),
            )


def _targets(d: Deployment) -> Iterator[tuple[Resource, str, dict[str, Any]]]:
    """``(rule or schedule, its ARN, target)`` of every EventBridge rule and EventBridge Scheduler schedule."""
    for res in d.resources("AWS::Events::Rule"):
        for target in res.props.get("Targets", []):
            yield res, res.att("Arn"), target
    for res in d.resources("AWS::Scheduler::Schedule"):
        yield res, res.att("Arn"), res.props["Target"]


def events_invoke_lambda(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, arn, target in _targets(d):
        if ":lambda:" in str(target["Arn"]) and not target.get("RoleArn"):
            context = {"aws:SourceArn": arn, "aws:SourceAccount": d.env.account}
            yield from e.call(
                "events.amazonaws.com", "lambda:InvokeFunction", target["Arn"], f"rule {res.label}", context
            )


#: The action a target's role needs, by the service of the target's ARN.
_TARGET_ACTIONS = {
    "states": "states:StartExecution",
    "lambda": "lambda:InvokeFunction",
    "kinesis": "kinesis:PutRecord",
    "firehose": "firehose:PutRecord",
    "sagemaker": "sagemaker:StartPipelineExecution",
    "glue": "glue:notifyEvent",
}


def events_target_role(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, _, target in _targets(d):
        role, arn = target.get("RoleArn"), str(target["Arn"])
        action = _TARGET_ACTIONS.get(arn.split(":")[2]) if arn.startswith("arn:") else None
        if role and action:
            yield from e.call(
                role, action, arn, f"{'schedule' if res.type.startswith('AWS::Scheduler') else 'rule'} {res.label}"
            )


# --- Lambda -----------------------------------------------------------------------------------------------


def _functions(d: Deployment) -> Iterator[tuple[Resource, str]]:
    for res in d.resources("AWS::Lambda::Function"):
        yield res, res.props["Role"]


def lambda_logs(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, role in _functions(d):
        group = res.props.get("LoggingConfig", {}).get("LogGroup")
        stream = "2026/12/01/[$LATEST]0a1b2c3d4e5f60718293a4b5c6d7e8f9"
        yield from e.logs(
            role, group or f"/aws/lambda/{res.ref}", stream, f"function {res.label}", create_group=not group
        )


def lambda_tracing(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res, role in _functions(d):
        if res.props.get("TracingConfig", {}).get("Mode") == "Active":
            yield from e.call(role, ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*", f"function {res.label}")


# --- CDK custom resources (deploy and destroy time) -------------------------------------------------------


def _provider_role(d: Deployment, res: Resource) -> str | None:
    function = d.find("AWS::Lambda::Function", "Arn", res.props.get("ServiceToken"))
    return function.props["Role"] if function else None


def cdk_bucket_deployment(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res in d.resources("Custom::CDKBucketDeployment"):
        role, why = _provider_role(d, res), f"bucket deployment {res.label}"
        if not role:
            continue
        for bucket, key in zip(
            res.props.get("SourceBucketNames", []), res.props.get("SourceObjectKeys", []), strict=False
        ):
            yield from e.call(role, "s3:GetObject", d.env.s3(bucket, key), why)
        destination, prefix = res.props["DestinationBucketName"], res.props.get("DestinationBucketKeyPrefix", "")
        yield from e.call(role, "s3:ListBucket", d.env.s3(destination), why, list_context(prefix))
        target = f"{prefix}model.tar.gz"
        yield from e.call(role, "s3:PutObject", d.env.s3(destination, target), why)
        if str(res.props.get("Prune", "true")).lower() == "true":
            yield from e.call(role, "s3:DeleteObject", d.env.s3(destination, f"{prefix}stale"), why)
        metadata = res.props.get("SystemMetadata", {})
        key = (
            key_arn(d, metadata.get("sse-kms-key-id"))
            if metadata.get("sse") == "aws:kms"
            else bucket_key(d, destination)
        )
        if key:
            yield from e.call(role, "kms:GenerateDataKey", key, why, s3_kms_context(d, destination, target))


def cdk_auto_delete_objects(d: Deployment, e: Emitter) -> Iterator[Call]:
    for res in d.resources("Custom::S3AutoDeleteObjects"):
        role, bucket = _provider_role(d, res), res.props["BucketName"]
        if not role:
            continue
        why = f"auto-delete of {res.label}"
        yield from e.call(
            role, ["s3:GetBucketTagging", "s3:ListBucketVersions", "s3:PutBucketPolicy"], d.env.s3(bucket), why
        )
        yield from e.call(role, "s3:DeleteObjectVersion", d.env.s3(bucket, "any/object"), why)


def cdk_restrict_default_sg(d: Deployment, e: Emitter) -> Iterator[Call]:
    actions = [
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
    ]
    for res in d.resources("Custom::VpcRestrictDefaultSG"):
        role = _provider_role(d, res)
        if role:
            group = d.env.arn("ec2", f"security-group/{res.props['DefaultSecurityGroupId']}")
            yield from e.call(role, actions, group, f"default security group of {res.label}")


# --- services assuming their roles -------------------------------------------------------------------------


def _bindings(d: Deployment) -> Iterator[tuple[str, str, str, str]]:
    """``(service principal, role ARN, source ARN, what)``: every role a resource gives to a service."""
    for res in d.resources("AWS::KinesisFirehose::DeliveryStream"):
        roles = {c.get("RoleARN") for c in res.props.values() if isinstance(c, dict)}
        dest = res.props.get("ExtendedS3DestinationConfiguration", {})
        roles.add(dest.get("DataFormatConversionConfiguration", {}).get("SchemaConfiguration", {}).get("RoleARN"))
        for role in filter(None, roles):
            yield "firehose.amazonaws.com", role, res.att("Arn"), f"delivery stream {res.label}"
    for kind in ("AWS::Glue::Job", "AWS::Glue::Crawler"):
        for res in d.resources(kind):
            role = d.role(str(res.props["Role"]))
            yield (
                "glue.amazonaws.com",
                role.arn if role else str(res.props["Role"]),
                "",
                f"{kind.rsplit(':', 1)[-1]} {res.label}",
            )
    for res in d.resources("AWS::StepFunctions::StateMachine"):
        yield "states.amazonaws.com", res.props["RoleArn"], res.att("Arn"), f"state machine {res.label}"
    for res in d.resources("AWS::Lambda::Function"):
        yield "lambda.amazonaws.com", res.props["Role"], "", f"function {res.label}"
    for res in d.resources("AWS::EC2::FlowLog"):
        source = d.env.arn("ec2", f"vpc-flow-log/{res.ref}")
        yield "vpc-flow-logs.amazonaws.com", res.props["DeliverLogsPermissionArn"], source, f"flow log {res.label}"
    for res, arn, target in _targets(d):
        if target.get("RoleArn"):
            principal = "scheduler.amazonaws.com" if res.type.startswith("AWS::Scheduler") else "events.amazonaws.com"
            yield principal, target["RoleArn"], arn, f"target of {res.label}"


def assume_role(d: Deployment, e: Emitter) -> Iterator[Call]:
    from tools.iam.rows_ml import jobs

    bindings = list(_bindings(d)) + [("sagemaker.amazonaws.com", job.role, "", job.why) for job in jobs(d)]
    seen: set[tuple[str, str]] = set()
    for principal, role, source, why in bindings:
        if (principal, role) in seen:
            continue
        seen.add((principal, role))
        context = {"aws:SourceAccount": d.env.account, **({"aws:SourceArn": source} if source else {})}
        yield from e.call(principal, "sts:AssumeRole", role, why, context)
