"""LOCAL EMULATION ONLY: teach moto's CloudFormation the resources this app deploys that moto 5.2.5 skips.

Nothing here is part of the product: the constructs and templates are the ones AWS deploys. This module runs
inside the local sandbox's moto server process (``local_sandbox.server``) and changes moto, never a template.

Three kinds of emulation (each listed in ``EMULATED_TYPES`` / ``CUSTOM_RESOURCE_RESPONDERS`` and in
docs/local-sandbox.md):

1. *Resource models* for CloudFormation types moto skips while still reporting CREATE_COMPLETE (Firehose,
   Glue, Athena, CloudWatch alarms, Application Auto Scaling, bucket and topic policies, ...). Each model
   calls moto's own API for that service with the template's properties, over HTTP to the same server, so the
   deployed stack really contains the resource and ``describe_*``/``get_*`` return its configuration. Where
   moto has no API for a type (Glue Data Quality rulesets) the properties are recorded and visible through
   ``describe_stack_resource``'s metadata only.
2. *Property completion* for types moto creates but without some properties: S3 buckets (lifecycle,
   versioning, public access block, ownership, logging, Object Lock, policy), Kinesis streams (SSE-KMS) and
   KMS keys (moto reads tags as ``TagKey``/``TagValue`` and stores a key policy object unserialised).
3. A *custom-resource responder*: in AWS a Lambda function answers ``Custom::`` resources; moto would invoke
   it in Docker and wait forever. The responder does, in process, what CDK's handlers do: empty a bucket on
   delete (``Custom::S3AutoDeleteObjects``), strip the default security group's rules
   (``Custom::VpcRestrictDefaultSG``) and unzip asset archives into a bucket (``Custom::CDKBucketDeployment``).
   The Lambda functions themselves are still created by moto (from the assets ``cdk deploy`` uploaded); they
   are never run.

What none of this does: enforce IAM, KMS key policies or bucket policies (moto stores them and never
evaluates them), run a crawler, a Glue job, a training job or Firehose delivery (see ``local_sandbox.run``).
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.core.common_models import CloudFormationModel

ACCOUNT_ID = "123456789012"
_STATE: dict[str, str] = {}
_LOCK = threading.Lock()
_UNDO: list[tuple[Any, str, Any]] = []
_MISSING = object()  # an attribute the emulation added: uninstall deletes it


def client(service: str, region: str) -> Any:
    """A boto3 client for the local server (the models call moto's own API, like CloudFormation would)."""
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=_STATE["endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}),
    )


# --- 1. Models for the types moto skips ---------------------------------------------------------------------


@dataclass(frozen=True)
class Emulated:
    """How one CloudFormation type is created (and deleted) through moto's API."""

    type: str
    service: str
    name_property: str | None
    create: Callable[[Any, dict[str, Any], str], dict[str, str]]  # returns {"Ref": ..., other attributes}


def _tags_list(tags: Any) -> list[dict[str, str]]:
    if isinstance(tags, dict):
        return [{"Key": k, "Value": v} for k, v in tags.items()]
    return list(tags or [])


def _tags_dict(tags: Any) -> dict[str, str]:
    if isinstance(tags, dict):
        return dict(tags)
    return {t["Key"]: t["Value"] for t in tags or []}


_STRING_MAPS = ("Parameters", "DefaultArguments", "NonOverridableArguments")


def _strings(value: Any) -> Any:
    """CloudFormation turns the scalars of a string map into strings (``true`` -> ``"true"``); the API does not."""
    if isinstance(value, list):
        return [_strings(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in _STRING_MAPS and isinstance(item, dict):
            item = {k: v if isinstance(v, str) else json.dumps(v) for k, v in item.items()}
        out[key] = _strings(item)
    return out


def _args(p: dict[str, Any], name: str, name_key: str, tags: Callable[[Any], Any]) -> dict[str, Any]:
    """The API arguments: the properties, the generated name unless the template names it, tags reshaped."""
    args = {k: v for k, v in p.items() if k != "Tags"}
    args.setdefault(name_key, name)
    if p.get("Tags"):
        args["Tags"] = tags(p["Tags"])
    return args


def _firehose(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args: dict[str, Any] = {"DeliveryStreamName": p.get("DeliveryStreamName", name)}
    for key in (
        "DeliveryStreamType",
        "KinesisStreamSourceConfiguration",
        "ExtendedS3DestinationConfiguration",
        "S3DestinationConfiguration",
    ):
        if key in p:
            args[key] = p[key]
    if "DeliveryStreamEncryptionConfigurationInput" in p:
        args["DeliveryStreamEncryptionConfigurationInput"] = p["DeliveryStreamEncryptionConfigurationInput"]
    if p.get("Tags"):
        args["Tags"] = _tags_list(p["Tags"])
    arn = c.create_delivery_stream(**args)["DeliveryStreamARN"]
    return {"Ref": args["DeliveryStreamName"], "Arn": arn}


def _glue_database(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    c.create_database(DatabaseInput=p["DatabaseInput"])
    return {"Ref": p["DatabaseInput"]["Name"]}


def _glue_table(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    c.create_table(DatabaseName=p["DatabaseName"], TableInput=p["TableInput"])
    return {"Ref": p["TableInput"]["Name"]}


def _glue_crawler(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args = _args(p, name, "Name", _tags_dict)
    if "Schedule" in p:
        args["Schedule"] = p["Schedule"]["ScheduleExpression"]
    c.create_crawler(**args)
    return {"Ref": args["Name"]}


def _glue_job(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args = _args(p, name, "Name", _tags_dict)
    c.create_job(**args)
    return {"Ref": args["Name"]}


def _glue_security(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    encryption = dict(p["EncryptionConfiguration"])
    if "S3Encryptions" in encryption:  # the API calls the list S3Encryption
        encryption["S3Encryption"] = encryption.pop("S3Encryptions")
    c.create_security_configuration(Name=p.get("Name", name), EncryptionConfiguration=encryption)
    return {"Ref": p.get("Name", name)}


def _glue_catalog_encryption(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    c.put_data_catalog_encryption_settings(
        CatalogId=p["CatalogId"], DataCatalogEncryptionSettings=p["DataCatalogEncryptionSettings"]
    )
    return {"Ref": name}


def _athena_workgroup(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args: dict[str, Any] = {"Name": p.get("Name", name)}
    if "Description" in p:
        args["Description"] = p["Description"]
    if "WorkGroupConfiguration" in p:
        args["Configuration"] = p["WorkGroupConfiguration"]
    if p.get("Tags"):
        args["Tags"] = _tags_list(p["Tags"])
    c.create_work_group(**args)
    return {"Ref": args["Name"]}


def _athena_named_query(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    query_id = c.create_named_query(**p)["NamedQueryId"]
    return {"Ref": query_id, "NamedQueryId": query_id}


def _alarm(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args = _args(p, name, "AlarmName", _tags_list)
    c.put_metric_alarm(**args)
    arn = c.describe_alarms(AlarmNames=[args["AlarmName"]])["MetricAlarms"][0]["AlarmArn"]
    return {"Ref": args["AlarmName"], "Arn": arn}


def _scalable_target(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args = {k: p[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension", "MinCapacity", "MaxCapacity")}
    c.register_scalable_target(**args)
    ref = f"{p['ResourceId']}|{p['ScalableDimension']}|{p['ServiceNamespace']}"
    return {"Ref": ref}


def _scaling_policy(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args = {k: v for k, v in p.items() if k != "ScalingTargetId"}
    if "ScalingTargetId" in p:
        resource_id, dimension, namespace = p["ScalingTargetId"].split("|")
        args.update(ResourceId=resource_id, ScalableDimension=dimension, ServiceNamespace=namespace)
    arn = c.put_scaling_policy(**args)["PolicyARN"]
    return {"Ref": arn, "Arn": arn}


def _model_package_group(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args = _args(p, name, "ModelPackageGroupName", _tags_list)
    arn = c.create_model_package_group(**args)["ModelPackageGroupArn"]
    return {"Ref": arn, "ModelPackageGroupArn": arn}


def _bucket_policy(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    c.put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))
    return {"Ref": p["Bucket"]}


def _budget(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    """A cost budget with its notifications (moto's Budgets API takes the amount as a string)."""
    budget = {**p["Budget"], "BudgetName": p["Budget"].get("BudgetName", name)}
    budget["BudgetLimit"] = {**budget["BudgetLimit"], "Amount": str(budget["BudgetLimit"]["Amount"])}
    notifications = [
        {**n, "Notification": {**n["Notification"], "Threshold": float(n["Notification"]["Threshold"])}}
        for n in p.get("NotificationsWithSubscribers", [])
    ]
    c.create_budget(AccountId=ACCOUNT_ID, Budget=budget, NotificationsWithSubscribers=notifications)
    return {"Ref": budget["BudgetName"]}


def _queue_policy(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    for queue in p["Queues"]:
        c.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
    return {"Ref": name}


def _topic_policy(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    for topic in p["Topics"]:
        c.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(p["PolicyDocument"]))
    return {"Ref": name}


def _sg_egress(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    permission: dict[str, Any] = {"IpProtocol": p["IpProtocol"]}
    for key in ("FromPort", "ToPort"):
        if key in p:
            permission[key] = int(p[key])
    if "CidrIp" in p:
        permission["IpRanges"] = [{"CidrIp": p["CidrIp"], "Description": p.get("Description", "")}]
    if "DestinationSecurityGroupId" in p:
        permission["UserIdGroupPairs"] = [{"GroupId": p["DestinationSecurityGroupId"]}]
    if "DestinationPrefixListId" in p:
        permission["PrefixListIds"] = [{"PrefixListId": p["DestinationPrefixListId"]}]
    c.authorize_security_group_egress(GroupId=p["GroupId"], IpPermissions=[permission])
    return {"Ref": name}


def _log_stream(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    stream = p.get("LogStreamName", name)
    c.create_log_stream(logGroupName=p["LogGroupName"], logStreamName=stream)
    return {"Ref": stream}


def _subscription(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args = {k: p[k] for k in ("TopicArn", "Protocol", "Endpoint") if k in p}
    arn = c.subscribe(**args, ReturnSubscriptionArn=True)["SubscriptionArn"]
    return {"Ref": arn}


def _data_quality_job_definition(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    args = _args(p, name, "JobDefinitionName", _tags_list)
    arn = c.create_data_quality_job_definition(**args)["JobDefinitionArn"]
    return {"Ref": arn, "JobDefinitionArn": arn}


#: Glue Data Quality rulesets, which moto does not model: (region, name) -> what ListDataQualityRulesets shows.
_RULESETS: dict[tuple[str, str], dict[str, Any]] = {}


def _quality_ruleset(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    ruleset = {"Name": p.get("Name", name), "Description": p.get("Description", ""), "RuleCount": 0}
    if "TargetTable" in p:
        ruleset["TargetTable"] = p["TargetTable"]
    _RULESETS[(c.meta.region_name, ruleset["Name"])] = {**ruleset, "Ruleset": p.get("Ruleset", "")}
    return {"Ref": ruleset["Name"]}


def _recorded(c: Any, p: dict[str, Any], name: str) -> dict[str, str]:
    """No moto API for the type: the properties are kept on the model (and so on the stack), nothing else."""
    return {"Ref": p.get("Name", name)}


EMULATED_TYPES: tuple[Emulated, ...] = (
    Emulated("AWS::KinesisFirehose::DeliveryStream", "firehose", "DeliveryStreamName", _firehose),
    Emulated("AWS::Glue::Database", "glue", None, _glue_database),
    Emulated("AWS::Glue::Table", "glue", None, _glue_table),
    Emulated("AWS::Glue::Crawler", "glue", "Name", _glue_crawler),
    Emulated("AWS::Glue::Job", "glue", "Name", _glue_job),
    Emulated("AWS::Glue::SecurityConfiguration", "glue", "Name", _glue_security),
    Emulated("AWS::Glue::DataCatalogEncryptionSettings", "glue", None, _glue_catalog_encryption),
    Emulated("AWS::Glue::DataQualityRuleset", "glue", "Name", _quality_ruleset),
    Emulated("AWS::Athena::WorkGroup", "athena", "Name", _athena_workgroup),
    Emulated("AWS::Athena::NamedQuery", "athena", None, _athena_named_query),
    Emulated("AWS::CloudWatch::Alarm", "cloudwatch", "AlarmName", _alarm),
    Emulated("AWS::ApplicationAutoScaling::ScalableTarget", "application-autoscaling", None, _scalable_target),
    Emulated("AWS::ApplicationAutoScaling::ScalingPolicy", "application-autoscaling", None, _scaling_policy),
    Emulated("AWS::SageMaker::ModelPackageGroup", "sagemaker", "ModelPackageGroupName", _model_package_group),
    Emulated("AWS::S3::BucketPolicy", "s3", None, _bucket_policy),
    Emulated("AWS::SNS::TopicPolicy", "sns", None, _topic_policy),
    Emulated("AWS::SQS::QueuePolicy", "sqs", None, _queue_policy),
    Emulated("AWS::EC2::SecurityGroupEgress", "ec2", None, _sg_egress),
    Emulated("AWS::Logs::LogStream", "logs", None, _log_stream),
    Emulated("AWS::SNS::Subscription", "sns", None, _subscription),
    Emulated("AWS::Budgets::Budget", "budgets", None, _budget),
    # monitoring.engine=model_monitor (closed to new customers; moto has no monitoring-schedule API)
    Emulated(
        "AWS::SageMaker::DataQualityJobDefinition", "sagemaker", "JobDefinitionName", _data_quality_job_definition
    ),
    Emulated("AWS::SageMaker::MonitoringSchedule", "sagemaker", "MonitoringScheduleName", _recorded),
)


def _scaling_target(p: dict[str, Any]) -> dict[str, str]:
    if "ScalingTargetId" in p:
        resource_id, dimension, namespace = p["ScalingTargetId"].split("|")
        return {"ResourceId": resource_id, "ScalableDimension": dimension, "ServiceNamespace": namespace}
    return {k: p[k] for k in ("ResourceId", "ScalableDimension", "ServiceNamespace")}


#: What CloudFormation does on delete, per emulated type (``cdk destroy`` in the local server). Types missing here
#: leave nothing to delete (the catalog encryption setting, which AWS also keeps; recorded-only types; topic and
#: queue policies and egress rules, which go with their topic, queue and group; Athena named queries: moto has no
#: delete).
#: RETAIN resources are never deleted (moto skips them, as CloudFormation does).
_DELETES: dict[str, Callable[[Any, dict[str, Any], dict[str, str]], Any]] = {
    "AWS::KinesisFirehose::DeliveryStream": lambda c, p, a: c.delete_delivery_stream(DeliveryStreamName=a["Ref"]),
    "AWS::Glue::Database": lambda c, p, a: c.delete_database(Name=a["Ref"]),
    "AWS::Glue::Table": lambda c, p, a: c.delete_table(DatabaseName=p["DatabaseName"], Name=a["Ref"]),
    "AWS::Glue::Crawler": lambda c, p, a: c.delete_crawler(Name=a["Ref"]),
    "AWS::Glue::Job": lambda c, p, a: c.delete_job(JobName=a["Ref"]),
    "AWS::Glue::SecurityConfiguration": lambda c, p, a: c.delete_security_configuration(Name=a["Ref"]),
    "AWS::Athena::WorkGroup": lambda c, p, a: c.delete_work_group(WorkGroup=a["Ref"], RecursiveDeleteOption=True),
    "AWS::CloudWatch::Alarm": lambda c, p, a: c.delete_alarms(AlarmNames=[a["Ref"]]),
    "AWS::ApplicationAutoScaling::ScalableTarget": lambda c, p, a: c.deregister_scalable_target(**_scaling_target(p)),
    "AWS::ApplicationAutoScaling::ScalingPolicy": lambda c, p, a: c.delete_scaling_policy(
        PolicyName=p["PolicyName"], **_scaling_target(p)
    ),
    "AWS::SageMaker::ModelPackageGroup": lambda c, p, a: c.delete_model_package_group(
        ModelPackageGroupName=a["Ref"].rsplit("/", 1)[-1]
    ),
    "AWS::S3::BucketPolicy": lambda c, p, a: c.delete_bucket_policy(Bucket=p["Bucket"]),
    "AWS::Glue::DataQualityRuleset": lambda c, p, a: _RULESETS.pop((c.meta.region_name, a["Ref"]), None),
    "AWS::Logs::LogStream": lambda c, p, a: c.delete_log_stream(logGroupName=p["LogGroupName"], logStreamName=a["Ref"]),
    "AWS::SNS::Subscription": lambda c, p, a: c.unsubscribe(SubscriptionArn=a["Ref"]),
    "AWS::Budgets::Budget": lambda c, p, a: c.delete_budget(AccountId=ACCOUNT_ID, BudgetName=a["Ref"]),
    "AWS::SageMaker::DataQualityJobDefinition": lambda c, p, a: c.delete_data_quality_job_definition(
        JobDefinitionName=a["Ref"].rsplit("/", 1)[-1]
    ),
}
#: Error codes meaning "already gone" (a parent deleted first, in moto's retry-until-done delete order).
_GONE = ("NotFound", "NoSuch", "ResourceNotFound", "EntityNotFound")


class _EmulatedResource:
    """What moto's stack keeps for an emulated resource: its physical id, attributes and properties."""

    def __init__(self, spec: Emulated, region: str, properties: dict[str, Any], attrs: dict[str, str]) -> None:
        self.spec = spec
        self.region = region
        self.properties = properties
        self.attrs = attrs
        self.physical_resource_id = attrs["Ref"]

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name in self.attrs:
            return self.attrs[attribute_name]
        raise UnformattedGetAttTemplateException()

    def delete(self, account_id: str, region_name: str) -> None:
        from botocore.exceptions import ClientError

        delete = _DELETES.get(self.spec.type)
        if delete is None:
            return
        try:
            delete(client(self.spec.service, self.region), self.properties, self.attrs)
        except ClientError as exc:
            if not any(word in exc.response["Error"]["Code"] for word in _GONE):
                raise


class _EmulatedModel(CloudFormationModel):
    """The one direct ``CloudFormationModel`` subclass here: moto lists only direct subclasses as models, so
    the per-type classes below reach moto only through ``install`` (and leave it with ``uninstall``)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "Local::Sandbox::Emulated"


def _model_class(spec: Emulated) -> type[CloudFormationModel]:
    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
    ) -> _EmulatedResource:
        properties = _strings(cloudformation_json.get("Properties", {}))
        attrs = spec.create(client(spec.service, region_name), properties, resource_name)
        return _EmulatedResource(spec, region_name, properties, attrs)

    return type(
        "Local" + spec.type.replace("::", ""),
        (_EmulatedModel,),
        {
            "cloudformation_type": staticmethod(lambda: spec.type),
            "cloudformation_name_type": staticmethod(lambda: spec.name_property or ""),
            "has_cfn_attr": classmethod(lambda cls, attr: True),
            "create_from_cloudformation_json": classmethod(create_from_cloudformation_json),
        },
    )


# --- 2. Properties moto's own models leave out ---------------------------------------------------------------


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    api: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule["Status"]}
    api["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "Transitions" in rule:
        api["Transitions"] = [
            {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
        ]
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]}
    if "NoncurrentVersionTransitions" in rule:
        api["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return api


def complete_bucket(region: str, name: str, p: dict[str, Any]) -> None:
    """Apply the bucket properties moto's CloudFormation model ignores, through the S3 API."""
    s3 = client("s3", region)
    if "VersioningConfiguration" in p:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=p["VersioningConfiguration"])
    if "ObjectLockConfiguration" in p:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=p["ObjectLockConfiguration"])
    if "LifecycleConfiguration" in p:
        rules = [_lifecycle_rule(rule) for rule in p["LifecycleConfiguration"]["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in p:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
    if "OwnershipControls" in p:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=p["OwnershipControls"])
    if "LoggingConfiguration" in p:
        # Stored directly: moto's PutBucketLogging wants the target's log-delivery grant or policy to exist
        # already, and CloudFormation creates the target's policy after this bucket (AWS checks neither for a
        # bucket-owner-enforced target). GetBucketLogging returns it as S3 would.
        from moto.s3.models import s3_backends

        logging = p["LoggingConfiguration"]
        bucket = s3_backends[ACCOUNT_ID]["aws"].get_bucket(name)
        bucket.logging = {
            "TargetBucket": logging["DestinationBucketName"],
            "TargetPrefix": logging.get("LogFilePrefix", ""),
        }


def _install_completions() -> list[tuple[Any, str, Any]]:
    """Patch moto's bucket, stream and key models; return ``(class, attribute, original)`` to undo it."""
    return [
        *_enforce_unconditional_bucket_statements(),
        *_complete_created_buckets(),
        *_encrypt_created_streams(),
        *_create_pipeline_models(),
        *_adapt_created_keys(),
        *_keep_deleted_stack_outputs(),
        *_refuse_deleting_non_empty_buckets(),
        *_delete_network_models(),
        *_serve_data_quality_rulesets(),
    ]


def _enforce_unconditional_bucket_statements() -> list[tuple[Any, str, Any]]:
    """Bucket policies: enforce the statements without a ``Condition`` only."""
    from moto.s3.models import FakeBucket

    original = FakeBucket.__dict__["get_permission"]

    def get_permission(self: Any, action: str, resource: str) -> Any:
        # moto evaluates a bucket policy's statements without the request's context, so every conditional Deny
        # (TLS only, TLS >= 1.2, no SSE-C: all of this app's statements) would match every request. The policy
        # stays on the bucket as deployed (GetBucketPolicy returns it); only its unconditional statements are
        # enforced. The local endpoint is plain HTTP: in AWS the TLS-only statements deny such requests.
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy)
        statements = document.get("Statement", [])
        document["Statement"] = [
            s for s in (statements if isinstance(statements, list) else [statements]) if "Condition" not in s
        ]
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
    return [(FakeBucket, "get_permission", original)]


def _complete_created_buckets() -> list[tuple[Any, str, Any]]:
    """Bucket creation: Object Lock when the template enables it, then the properties ``complete_bucket`` sets."""
    from moto.s3.models import FakeBucket

    original = FakeBucket.__dict__["create_from_cloudformation_json"]
    bucket_create = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def bucket(cls: type, resource_name: str, cfn: dict[str, Any], account_id: str, region: str, **kw: Any) -> Any:
        if cfn.get("Properties", {}).get("ObjectLockEnabled"):
            # moto creates the bucket without Object Lock; create it with the flag first, as S3 requires.
            client("s3", region).create_bucket(Bucket=resource_name, ObjectLockEnabledForBucket=True)
        created = bucket_create(cls, resource_name, cfn, account_id, region, **kw)
        complete_bucket(region, resource_name, cfn.get("Properties", {}))
        return created

    FakeBucket.create_from_cloudformation_json = classmethod(bucket)  # type: ignore[assignment,method-assign]
    return [(FakeBucket, "create_from_cloudformation_json", original)]


def _encrypt_created_streams() -> list[tuple[Any, str, Any]]:
    """Stream creation: start the template's ``StreamEncryption`` (SSE-KMS)."""
    from moto.kinesis.models import Stream

    original = Stream.__dict__["create_from_cloudformation_json"]
    stream_create = Stream.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def stream(cls: type, resource_name: str, cfn: dict[str, Any], account_id: str, region: str, **kw: Any) -> Any:
        created = stream_create(cls, resource_name, cfn, account_id, region, **kw)
        encryption = cfn.get("Properties", {}).get("StreamEncryption")
        if encryption:
            client("kinesis", region).start_stream_encryption(
                StreamName=created.stream_name, EncryptionType=encryption["EncryptionType"], KeyId=encryption["KeyId"]
            )
        return created

    Stream.create_from_cloudformation_json = classmethod(stream)  # type: ignore[assignment,method-assign]
    return [(Stream, "create_from_cloudformation_json", original)]


def _create_pipeline_models() -> list[tuple[Any, str, Any]]:
    """Model creation: moto 5.2's CloudFormation model requires ``PrimaryContainer``; an inference pipeline names
    ``Containers`` instead (both are optional in AWS::SageMaker::Model, one of them is given)."""
    from moto.sagemaker.models import Model

    original = Model.__dict__["create_from_cloudformation_json"]
    model_create = Model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def model(cls: type, resource_name: str, cfn: dict[str, Any], account_id: str, region: str, **kw: Any) -> Any:
        properties = cfn.get("Properties", {})
        if "PrimaryContainer" not in properties:
            cfn = {**cfn, "Properties": {**properties, "PrimaryContainer": {}}}
        return model_create(cls, resource_name, cfn, account_id, region, **kw)

    Model.create_from_cloudformation_json = classmethod(model)  # type: ignore[assignment,method-assign]
    return [(Model, "create_from_cloudformation_json", original)]


def _adapt_created_keys() -> list[tuple[Any, str, Any]]:
    """Key creation: the key policy serialised and the tags as ``TagKey``/``TagValue``, as moto reads them."""
    from moto.kms.models import Key

    original = Key.__dict__["create_from_cloudformation_json"]
    key_create = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def key(cls: type, resource_name: str, cfn: dict[str, Any], account_id: str, region: str, **kw: Any) -> Any:
        properties = dict(cfn["Properties"])
        if isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        properties["Tags"] = [
            {"TagKey": t.get("Key", t.get("TagKey")), "TagValue": t.get("Value", t.get("TagValue"))}
            for t in properties.get("Tags", [])
        ]
        return key_create(cls, resource_name, {**cfn, "Properties": properties}, account_id, region, **kw)

    Key.create_from_cloudformation_json = classmethod(key)  # type: ignore[assignment,method-assign]
    return [(Key, "create_from_cloudformation_json", original)]


def _keep_deleted_stack_outputs() -> list[tuple[Any, str, Any]]:
    """A deleted stack shows the outputs it had when it was deleted, and exports nothing."""
    # A deleted stack's outputs are evaluated lazily by moto, which re-creates the deleted resources they refer
    # to (and fails where a name is fixed): DescribeStacks after `cdk destroy` must show the outputs as they were
    # when the stack was deleted, and a deleted stack exports nothing.
    from moto.cloudformation.models import Stack

    stack_delete = Stack.__dict__["delete"]
    stack_outputs = Stack.__dict__["outputs"]
    stack_exports = Stack.__dict__["exports"]

    def delete_stack(self: Any) -> None:
        self._local_outputs = stack_outputs.fget(self)
        stack_delete(self)

    def outputs_of(self: Any) -> Any:
        if self.status == "DELETE_COMPLETE":
            return getattr(self, "_local_outputs", None)
        return stack_outputs.fget(self)

    def exports_of(self: Any) -> Any:
        return [] if self.status == "DELETE_COMPLETE" else stack_exports.fget(self)

    Stack.delete = delete_stack  # type: ignore[method-assign]
    Stack.outputs = property(outputs_of)  # type: ignore[assignment,method-assign]
    Stack.exports = property(exports_of)  # type: ignore[assignment,method-assign]
    return [(Stack, "delete", stack_delete), (Stack, "outputs", stack_outputs), (Stack, "exports", stack_exports)]


def _refuse_deleting_non_empty_buckets() -> list[tuple[Any, str, Any]]:
    """Bucket deletion: refused while the bucket still has objects, as S3 refuses it."""
    # moto's bucket delete silently keeps a bucket that still has objects, and CloudFormation reports it deleted:
    # S3 (and CloudFormation) refuse instead, so that the stack's delete order is retried after the auto-delete
    # custom resource empties it, or fails as it would in AWS.
    from moto.s3.models import FakeBucket

    bucket_delete = FakeBucket.__dict__["delete_from_cloudformation_json"]

    def delete_bucket(cls: type, resource_name: str, cfn: Any, account_id: str, region_name: str) -> None:
        from moto.s3.exceptions import BucketNotEmpty
        from moto.s3.models import s3_backends

        found = s3_backends[account_id]["aws"].buckets.get(resource_name)
        if found is not None and found.keys:
            raise BucketNotEmpty(resource_name)
        bucket_delete.__func__(cls, resource_name, cfn, account_id, region_name)

    FakeBucket.delete_from_cloudformation_json = classmethod(delete_bucket)  # type: ignore[assignment,method-assign]
    return [(FakeBucket, "delete_from_cloudformation_json", bucket_delete)]


def _delete_network_models() -> list[tuple[Any, str, Any]]:
    """A CloudFormation delete for moto's network models without one: left behind, they keep the VPC alive."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.flow_logs import FlowLogs
    from moto.ec2.models.route_tables import RouteTable
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpcs import VPCEndPoint

    def disassociate(self: Any, account_id: str, region_name: str) -> None:
        table = ec2_backends[account_id][region_name].get_route_table(self.route_table_id)
        for association, subnet in list(table._associations.items()):
            if subnet == self.subnet_id:
                table._associations.pop(association)

    network_deletes = {
        SubnetRouteTableAssociation: disassociate,
        RouteTable: lambda self, account, region: ec2_backends[account][region].delete_route_table(self.id),
        FlowLogs: lambda self, account, region: ec2_backends[account][region].delete_flow_logs([self.id]),
        VPCEndPoint: lambda self, account, region: ec2_backends[account][region].delete_vpc_endpoints([self.id]),
    }
    originals: list[tuple[Any, str, Any]] = []
    for model, delete in network_deletes.items():
        originals.append((model, "delete", model.__dict__.get("delete", _MISSING)))
        model.delete = _tolerant(delete)  # type: ignore[attr-defined]
    return originals


def _tolerant(delete: Callable[[Any, str, str], Any]) -> Callable[[Any, str, str], None]:
    """``delete``, except that a model already gone with its parent is not an error."""

    def run(self: Any, account_id: str, region_name: str) -> None:
        try:
            delete(self, account_id, region_name)
        except Exception as exc:  # moto's EC2 errors: already gone with its parent is what CloudFormation wants
            if "does not exist" not in str(exc):
                raise

    return run


def _serve_data_quality_rulesets() -> list[tuple[Any, str, Any]]:
    """The two Glue Data Quality reads `make leftovers` uses, served from the rulesets recorded above."""
    from moto.core.responses import ActionResult
    from moto.glue.exceptions import EntityNotFoundException
    from moto.glue.responses import GlueResponse

    def list_rulesets(self: Any) -> Any:
        listed = [
            {k: v for k, v in ruleset.items() if k != "Ruleset"}
            for (region, _), ruleset in _RULESETS.items()
            if region == self.region
        ]
        return ActionResult({"Rulesets": listed})

    def get_ruleset(self: Any) -> Any:
        name = self._get_param("Name")
        if (self.region, name) not in _RULESETS:
            raise EntityNotFoundException(f"Cannot find Data Quality Ruleset in account {self.current_account}: {name}")
        return ActionResult(_RULESETS[(self.region, name)])

    originals: list[tuple[Any, str, Any]] = []
    for action, method in (("list_data_quality_rulesets", list_rulesets), ("get_data_quality_ruleset", get_ruleset)):
        originals.append((GlueResponse, action, GlueResponse.__dict__.get(action, _MISSING)))
        setattr(GlueResponse, action, method)
    return originals


# --- 3. The custom-resource responder ------------------------------------------------------------------------


def _auto_delete_objects(region: str, request: str, p: dict[str, Any]) -> dict[str, Any]:
    """CDK's auto-delete-objects handler: on Delete, remove every object version so the bucket can go."""
    if request != "Delete":
        return {}
    # moto delivers server access logs the moment a logged bucket is used, AWS minutes later: a bucket being
    # emptied for deletion stops receiving them here, or the other buckets' own deletion would refill it. (In AWS
    # the late delivery can still race a destroy: docs/runbook.md, troubleshooting.)
    from moto.s3.models import s3_backends

    for source in s3_backends[ACCOUNT_ID]["aws"].buckets.values():
        if source.logging.get("TargetBucket") == p["BucketName"]:
            source.logging = {}
    s3 = client("s3", region)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=p["BucketName"]):
        items = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if items:
            s3.delete_objects(Bucket=p["BucketName"], Delete={"Objects": items, "Quiet": True})
    return {}


def _restrict_default_sg(region: str, request: str, p: dict[str, Any]) -> dict[str, Any]:
    """CDK's restrict-default-security-group handler: the VPC's default group keeps no rule."""
    if request != "Create":
        return {}
    ec2 = client("ec2", region)
    group = ec2.describe_security_groups(GroupIds=[p["DefaultSecurityGroupId"]])["SecurityGroups"][0]
    if group["IpPermissions"]:
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    if group["IpPermissionsEgress"]:
        ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
    return {}


def _bucket_deployment(region: str, request: str, p: dict[str, Any]) -> dict[str, Any]:
    """CDK's BucketDeployment handler (``aws s3 sync`` of each unzipped source), without pruning."""
    if request != "Create":
        return {}
    s3 = client("s3", region)
    prefix = p.get("DestinationBucketKeyPrefix", "")
    extra: dict[str, Any] = {}
    metadata = p.get("SystemMetadata", {})
    if metadata.get("sse") == "aws:kms":
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": metadata["sse-kms-key-id"]}
    keys: list[str] = []
    for bucket, key in zip(p["SourceBucketNames"], p["SourceObjectKeys"], strict=True):
        archive = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        for member in archive.infolist():
            if member.is_dir():
                continue
            s3.put_object(
                Bucket=p["DestinationBucketName"], Key=prefix + member.filename, Body=archive.read(member), **extra
            )
            keys.append(prefix + member.filename)
    return {"SourceObjectKeys": keys}


#: Custom resource type -> what CDK's Lambda handler does, done in process.
CUSTOM_RESOURCE_RESPONDERS: dict[str, Callable[[str, str, dict[str, Any]], dict[str, Any]]] = {
    "Custom::S3AutoDeleteObjects": _auto_delete_objects,
    "Custom::VpcRestrictDefaultSG": _restrict_default_sg,
    "Custom::CDKBucketDeployment": _bucket_deployment,
}


class _RespondedResource:
    def __init__(self, resource_type: str, region: str, properties: dict[str, Any], name: str) -> None:
        self.resource_type = resource_type
        self.region = region
        self.properties = properties
        self.physical_resource_id = name
        self.data = CUSTOM_RESOURCE_RESPONDERS[resource_type](region, "Create", properties)

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.data.get(attribute_name)

    def delete(self, account_id: str, region_name: str) -> None:
        CUSTOM_RESOURCE_RESPONDERS[self.resource_type](self.region, "Delete", self.properties)


class _LocalCustomResource(_EmulatedModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "Custom::LocalSandboxResponder"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _RespondedResource:
        properties = cloudformation_json.get("Properties", {})
        return _RespondedResource(kwargs["ResourceType"], region_name, properties, resource_name)


def install(endpoint_url: str) -> None:
    """Register the models, completions and responder with moto, for the server at ``endpoint_url``.

    Active until ``uninstall`` (``server.local_aws`` pairs them): other moto users in the same process, such
    as tests with ``mock_aws``, get moto's own behaviour back.
    """
    from moto.cloudformation import parsing

    with _LOCK:
        if _STATE:
            raise RuntimeError(f"the local emulation is already installed for {_STATE['endpoint_url']}")
        _STATE["endpoint_url"] = endpoint_url
        _UNDO.extend(_install_completions())
        _UNDO.append((parsing, "resource_class_from_type", parsing.resource_class_from_type))
        original = parsing.resource_class_from_type

        def resource_class_from_type(resource_type: str) -> type[CloudFormationModel]:
            if resource_type in CUSTOM_RESOURCE_RESPONDERS:
                return _LocalCustomResource
            model = original(resource_type)
            if model is None and resource_type not in parsing.NULL_MODELS:
                # moto would skip the resource and still report CREATE_COMPLETE: a local pass must not hide it.
                # A CloudFormation ValidationError reaches the caller (the CDK CLI) as a readable message.
                from moto.cloudformation.exceptions import ValidationError

                raise ValidationError(
                    message=f"LOCAL EMULATION: moto has no model for {resource_type} and local_sandbox.emulation "
                    "registers none (add one to EMULATED_TYPES)"
                )
            return model

        parsing.resource_class_from_type = resource_class_from_type
        _clear_model_caches()
        models = {spec.type: _model_class(spec) for spec in EMULATED_TYPES}
        parsing.get_model_map().update(models)
        parsing.get_name_type_map().update({t: m.cloudformation_name_type() for t, m in models.items()})


def uninstall() -> None:
    """Undo ``install``: moto's own models and behaviour again."""
    with _LOCK:
        while _UNDO:
            owner, name, value = _UNDO.pop()
            if value is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        _clear_model_caches()
        _STATE.clear()
        _RULESETS.clear()


def _clear_model_caches() -> None:
    from moto.cloudformation import parsing

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


# --- 4. API operations moto lacks ------------------------------------------------------------------------------


def update_endpoint(region: str, endpoint_name: str, endpoint_config_name: str) -> None:
    """``UpdateEndpoint``: point the endpoint at another endpoint config (moto 5.2.5 has no such operation).

    In AWS the endpoint goes to ``Updating`` and rolls its instances; locally the switch is immediate and the
    endpoint stays ``InService``.
    """
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[ACCOUNT_ID][region]
    endpoint = backend.endpoints[endpoint_name]
    config = backend.describe_endpoint_config(endpoint_config_name)
    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
    endpoint.data_capture_config = config.get("DataCaptureConfig") or {}
