"""What ``Ref`` and ``Fn::GetAtt`` return for each resource type the app uses, in one deploy.

Return values follow each type's "Return values" section in the CloudFormation resource reference
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-template-resource-type-ref.html,
checked 2026-12). A name the template does not set is generated the way CloudFormation generates one
(``<stack>-<logical id>-<random suffix>``, lower case where the service requires it); the suffix is
deterministic, so two runs agree. A type or attribute missing here fails loudly (``UnknownAttributeError``)
rather than resolving to a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.iam.arns import Environment, hex_id, token, uuid_like


class UnknownAttributeError(KeyError):
    """A ``Ref``/``Fn::GetAtt`` the table does not know: add the type or attribute here."""


@dataclass
class Ctx:
    """The resource being resolved: its environment, stack, logical id and a resolver for its properties."""

    env: Environment
    stack: str
    logical_id: str
    prop: Callable[[str], Any]

    def name(self, prop: str | None, *, lower: bool = False, limit: int = 64, stack_prefix: bool = True) -> str:
        """The name property if set, else a CloudFormation-style generated name."""
        given = self.prop(prop) if prop else None
        if given:
            return str(given)
        parts = [self.stack, self.logical_id] if stack_prefix else [self.logical_id]
        suffix = token(self.stack, self.logical_id)
        base = "-".join(parts)[: limit - len(suffix) - 1]
        generated = f"{base}-{suffix}"
        return generated.lower() if lower else generated

    def arn(self, service: str, resource: str, **kwargs: str) -> str:
        return self.env.arn(service, resource, **kwargs)


def _bucket(c: Ctx) -> dict[str, Any]:
    name = c.name("BucketName", lower=True, limit=63)
    return {
        "Ref": name,
        "Arn": c.env.s3(name),
        "DomainName": f"{name}.s3.{c.env.url_suffix}",
        "RegionalDomainName": f"{name}.s3.{c.env.region}.{c.env.url_suffix}",
    }


def _key(c: Ctx) -> dict[str, Any]:
    key_id = uuid_like(c.stack, c.logical_id)
    return {"Ref": key_id, "KeyId": key_id, "Arn": c.arn("kms", f"key/{key_id}")}


def _topic(c: Ctx) -> dict[str, Any]:
    name = c.name("TopicName", limit=256)
    arn = c.arn("sns", name)
    return {"Ref": arn, "TopicArn": arn, "TopicName": name}


def _role(c: Ctx) -> dict[str, Any]:
    name = c.name("RoleName")
    path = c.prop("Path") or "/"
    return {"Ref": name, "Arn": c.env.role_arn(name, path), "RoleId": f"AROA{token(c.stack, c.logical_id, length=17)}"}


def _managed_policy(c: Ctx) -> dict[str, Any]:
    name = c.name("ManagedPolicyName", limit=128)
    arn = c.arn("iam", f"policy{c.prop('Path') or '/'}{name}", region="")
    return {"Ref": arn, "PolicyArn": arn}


def _stream(c: Ctx) -> dict[str, Any]:
    name = c.name("Name", limit=128)
    return {"Ref": name, "Arn": c.arn("kinesis", f"stream/{name}")}


def _delivery_stream(c: Ctx) -> dict[str, Any]:
    name = c.name("DeliveryStreamName")
    return {"Ref": name, "Arn": c.arn("firehose", f"deliverystream/{name}")}


def _log_group(c: Ctx) -> dict[str, Any]:
    name = c.name("LogGroupName", limit=512)
    return {"Ref": name, "Arn": c.arn("logs", f"log-group:{name}:*")}


def _log_stream(c: Ctx) -> dict[str, Any]:
    return {"Ref": c.name("LogStreamName", limit=512)}


def _state_machine(c: Ctx) -> dict[str, Any]:
    name = c.name("StateMachineName", limit=80, stack_prefix=False)
    arn = c.arn("states", f"stateMachine:{name}")
    return {"Ref": arn, "Arn": arn, "Name": name}


def _function(c: Ctx) -> dict[str, Any]:
    name = c.name("FunctionName")
    return {"Ref": name, "Arn": c.arn("lambda", f"function:{name}")}


def _layer(c: Ctx) -> dict[str, Any]:
    arn = c.arn("lambda", f"layer:{c.name('LayerName', limit=140)}:1")
    return {"Ref": arn, "LayerVersionArn": arn}


def _named(prop: str | None, **kwargs: Any) -> Callable[[Ctx], dict[str, Any]]:
    """A type whose Ref is its (given or generated) name."""

    def attributes(c: Ctx) -> dict[str, Any]:
        return {"Ref": c.name(prop, **kwargs)}

    return attributes


def _glue_table(c: Ctx) -> dict[str, Any]:
    return {"Ref": (c.prop("TableInput") or {}).get("Name") or c.name(None, lower=True)}


def _glue_database(c: Ctx) -> dict[str, Any]:
    return {"Ref": (c.prop("DatabaseInput") or {}).get("Name") or c.name(None, lower=True)}


def _sagemaker(kind: str, prop: str, attribute: str) -> Callable[[Ctx], dict[str, Any]]:
    """SageMaker resources: Ref is the ARN; one attribute carries the name."""

    def attributes(c: Ctx) -> dict[str, Any]:
        name = c.name(prop, limit=63, stack_prefix=False)
        arn = c.arn("sagemaker", f"{kind}/{name}")
        return {"Ref": arn, attribute: name, f"{attribute.removesuffix('Name')}Arn": arn}

    return attributes


def _queue(c: Ctx) -> dict[str, Any]:
    """SQS: Ref is the queue's URL (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sqs-queue.html)."""
    name = c.name("QueueName", limit=80)
    return {
        "Ref": f"https://sqs.{c.env.region}.{c.env.url_suffix}/{c.env.account}/{name}",
        "Arn": c.arn("sqs", name),
        "QueueName": name,
        "QueueUrl": f"https://sqs.{c.env.region}.{c.env.url_suffix}/{c.env.account}/{name}",
    }


def _rule(c: Ctx) -> dict[str, Any]:
    name = c.name("Name")
    return {"Ref": name, "Arn": c.arn("events", f"rule/{name}")}


def _schedule(c: Ctx) -> dict[str, Any]:
    name = c.name("Name")
    return {"Ref": name, "Arn": c.arn("scheduler", f"schedule/{c.prop('GroupName') or 'default'}/{name}")}


def _alarm(c: Ctx) -> dict[str, Any]:
    name = c.name("AlarmName", limit=255)
    return {"Ref": name, "Arn": c.arn("cloudwatch", f"alarm:{name}")}


def _ec2(prefix: str, *attributes: str) -> Callable[[Ctx], dict[str, Any]]:
    def attrs(c: Ctx) -> dict[str, Any]:
        ident = f"{prefix}-{hex_id(c.stack, c.logical_id)}"
        return {"Ref": ident, **dict.fromkeys(attributes, ident)}

    return attrs


def _vpc(c: Ctx) -> dict[str, Any]:
    ident = f"vpc-{hex_id(c.stack, c.logical_id)}"
    return {
        "Ref": ident,
        "VpcId": ident,
        "DefaultSecurityGroup": f"sg-{hex_id(c.stack, c.logical_id, 'default')}",
        "CidrBlock": c.prop("CidrBlock"),
    }


def _physical_id(c: Ctx) -> dict[str, Any]:
    return {"Ref": f"{c.logical_id}-{token(c.stack, c.logical_id)}"}


TYPES: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::KMS::Key": _key,
    "AWS::SNS::Topic": _topic,
    "AWS::IAM::Role": _role,
    "AWS::IAM::ManagedPolicy": _managed_policy,
    "AWS::Kinesis::Stream": _stream,
    "AWS::KinesisFirehose::DeliveryStream": _delivery_stream,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::LogStream": _log_stream,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::LayerVersion": _layer,
    "AWS::Glue::Job": _named("Name", stack_prefix=False, limit=255),
    "AWS::Glue::Crawler": _named("Name", stack_prefix=False, limit=255),
    "AWS::Glue::SecurityConfiguration": _named("Name", stack_prefix=False, limit=255),
    "AWS::Glue::DataQualityRuleset": _named("Name", stack_prefix=False, limit=255),
    "AWS::Glue::Table": _glue_table,
    "AWS::Glue::Database": _glue_database,
    "AWS::Athena::WorkGroup": _named("Name", stack_prefix=False),
    "AWS::SageMaker::Model": _sagemaker("model", "ModelName", "ModelName"),
    "AWS::SageMaker::EndpointConfig": _sagemaker("endpoint-config", "EndpointConfigName", "EndpointConfigName"),
    "AWS::SageMaker::Endpoint": _sagemaker("endpoint", "EndpointName", "EndpointName"),
    "AWS::SageMaker::ModelPackageGroup": _sagemaker(
        "model-package-group", "ModelPackageGroupName", "ModelPackageGroupName"
    ),
    "AWS::SageMaker::DataQualityJobDefinition": _sagemaker(
        "data-quality-job-definition", "JobDefinitionName", "JobDefinitionName"
    ),
    "AWS::SageMaker::MonitoringSchedule": _sagemaker(
        "monitoring-schedule", "MonitoringScheduleName", "MonitoringScheduleName"
    ),
    "AWS::SQS::Queue": _queue,
    "AWS::Events::Rule": _rule,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::EC2::VPC": _vpc,
    "AWS::EC2::Subnet": _ec2("subnet", "SubnetId"),
    "AWS::EC2::SecurityGroup": _ec2("sg", "GroupId"),
    "AWS::EC2::RouteTable": _ec2("rtb", "RouteTableId"),
    "AWS::EC2::VPCEndpoint": _ec2("vpce", "Id"),
    "AWS::EC2::FlowLog": _ec2("fl", "Id"),
}


def attributes(resource_type: str, ctx: Ctx) -> dict[str, Any]:
    """``Ref`` and the attributes of one resource; any other type's Ref is its physical id."""
    return TYPES.get(resource_type, _physical_id)(ctx)
