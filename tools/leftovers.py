"""What is left of the app in an AWS account: ``python -m tools.leftovers`` (``make leftovers``).

Run it after ``make destroy``: one line per resource of the project that still exists (type, name, region, why
it counts) and a summary; exit 0 only when nothing is left. Read-only. docs/runbook.md says how to remove what it
finds, and why it looks where it looks. In every region given (``--region``, repeatable; default:
``AWS_DEFAULT_REGION``, the AWS config, ``AWS_REGION``):

1. **Tags.** Everything the app creates carries ``Project=<prefix>``: the stacks' resources (``stacks.build_app``)
   and what the training workflow creates at run time (SageMaker jobs, models, endpoint configs, model packages).
   The Resource Groups Tagging API (``GetResources``) lists them, and a deleted resource for a while too, so each
   hit is read back with its own service's API and dropped when gone; a type without a read-back is reported
   "not verified". Not counted: a KMS key ``PendingDeletion`` (``cdk destroy`` scheduled it: info), SageMaker
   jobs that ended (they cannot be deleted and cost nothing), versioned model packages (in their group's line).
   Buckets, Kinesis streams, the Athena workgroup and SageMaker resources are all tagged, of types the Tagging
   API lists: no name check for them (moto 5.2.5's Tagging API leaves out Kinesis streams; AWS's does not).
2. **Names**, for what cannot carry the tag or what no stack owns:

   - CloudFormation stacks ``<prefix>-<stack>``: a stack's own tags are not in its template; its name is exact;
   - untagged log groups whose name holds ``<prefix>-<stack>-`` (at its start or after a ``/``): services create
     them at run time (``/aws/lambda/...`` of CDK's custom-resource handlers, Glue's ``/aws-glue/...``);
   - fixed names that block the next deploy: Glue security configurations ``<prefix without hyphens><stack>...``
     (not taggable), the database ``<prefix>_lake`` (CloudFormation cannot tag it), data quality rulesets
     ``<prefix>-<stack>-...`` (tagged too, but moto 5.2.5 has no ruleset API: only this check can be tested);
   - info only, to check by hand: log streams ``<prefix>-...`` in ``/aws/sagemaker/TrainingJobs``,
     ``TransformJobs`` and ``ProcessingJobs`` (the Explain step). A stream cannot be tagged, and a copy whose
     prefix extends this one (``mlspec-dev``) names its jobs ``mlspec-...`` too.

What it cannot see: untagged resources not named above (``/aws/sagemaker/Endpoints/<endpoint>`` log groups: the
endpoint's generated name has no prefix), IAM (global, deleted with the stacks), objects written into other
projects' buckets, the account-wide Data Catalog encryption setting, metrics, regions not passed.

Exit status: 0 nothing left; 1 something is left, or a check could not run (named on stderr); 2 bad arguments or
no usable credentials (one line, no traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
PROG = "python -m tools.leftovers"
EXIT_CLEAN, EXIT_LEFTOVERS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The stacks of ``stacks.build_app``, as ``<prefix>-<suffix>`` (a test pins this list to stacks/__init__.py).
STACK_SUFFIXES = ("data-lake", "network", "alerts", "streaming", "glue-etl", "training", "serving")
#: Shared log groups SageMaker writes the workflow's job logs into; they outlive every stack.
JOB_LOG_GROUPS = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/TransformJobs", "/aws/sagemaker/ProcessingJobs")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
#: moto 5.2.5 (local sandbox) lists an endpoint config's ARN as a 1-tuple's repr, ``('arn:...',)``: unwrapped.
_TUPLE_ARN = re.compile(r"^\('(arn:[^']+)',\)$")

# Error codes that mean the credentials themselves are unusable: stop with exit 2 instead of checking on.
_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AuthFailure",
}
_MISSING_CODES = {
    "404",
    "NoSuchBucket",
    "NotFound",
    "NotFoundException",
    "NoSuchEntity",
    "ResourceNotFound",
    "ResourceNotFoundException",
    "StateMachineDoesNotExist",
    "EntityNotFoundException",
}
_NOT_IMPLEMENTED_CODES = {"NotImplemented", "InvalidAction", "UnknownOperationException"}
_KMS_PENDING = {"PendingDeletion", "PendingReplicaDeletion"}
_RUNNING = {"InProgress", "Stopping"}

# Friendly names of resource types (service, resource type from the ARN); others print as "service type".
_KINDS = {
    ("s3", ""): "s3 bucket",
    ("sns", ""): "sns topic",
    ("sqs", ""): "sqs queue",
    ("kms", "key"): "kms key",
    ("logs", "log-group"): "log group",
    ("kinesis", "stream"): "kinesis stream",
    ("firehose", "deliverystream"): "firehose delivery stream",
    ("cloudformation", "stack"): "cloudformation stack",
    ("states", "stateMachine"): "step functions state machine",
    ("lambda", "function"): "lambda function",
    ("athena", "workgroup"): "athena workgroup",
    ("glue", "dataQualityRuleset"): "glue data quality ruleset",
    ("sagemaker", "endpoint"): "sagemaker endpoint",
    ("sagemaker", "endpoint-config"): "sagemaker endpoint config",
    ("sagemaker", "model"): "sagemaker model",
    ("sagemaker", "model-package"): "sagemaker model package",
    ("sagemaker", "model-package-group"): "sagemaker model package group",
    ("sagemaker", "training-job"): "sagemaker training job",
    ("sagemaker", "transform-job"): "sagemaker transform job",
    ("sagemaker", "processing-job"): "sagemaker processing job",
    ("sagemaker", "hyper-parameter-tuning-job"): "sagemaker tuning job",
}
RUNBOOK = "docs/runbook.md#remove-what-is-left"  # a test checks the heading exists

_STREAM_COST = "a stream bills every hour (per shard, or per stream on demand)"
_UNVERIFIED = "no read-back for this type, and the Tagging API can list a resource for a while after it is deleted"
_FIXED_NAME = "free, but retained with a fixed name: the next deploy of this prefix fails until it is deleted"
_RUN_TIME = "free, but no stack deletes what the training workflow created"

#: SageMaker types read back by name: ARN type -> (Describe operation, its name parameter and the answer's name
#: key, the answer's status key).
_SAGEMAKER = {
    "endpoint": ("describe_endpoint", "EndpointName", "EndpointStatus"),
    "endpoint-config": ("describe_endpoint_config", "EndpointConfigName", ""),
    "model": ("describe_model", "ModelName", ""),
    "training-job": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "transform-job": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
    "processing-job": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
    "hyper-parameter-tuning-job": (
        "describe_hyper_parameter_tuning_job",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
    ),
}


def _sagemaker_detail(kind: str, status: str) -> str | None:
    """What a SageMaker resource costs; None: not a leftover (a job that ended cannot be deleted, costs nothing)."""
    if kind == "endpoint":
        return f"{status}: an endpoint bills every hour it exists"
    if kind.endswith("-job"):
        return f"{status}: bills until it stops" if status in _RUNNING else None
    return _RUN_TIME


# Existence checks of the other tagged types the app creates: (service, ARN resource type) -> read that is
# empty or raises a not-found error once the resource is gone. The boto3 client name where it differs.
_CLIENT = {"states": "stepfunctions"}
_EXISTS: dict[tuple[str, str], Callable[[Any, str, str], Any]] = {
    ("states", "stateMachine"): lambda c, arn, _: c.describe_state_machine(stateMachineArn=arn),
    ("lambda", "function"): lambda c, arn, _: c.get_function_configuration(FunctionName=arn),
    ("sns", ""): lambda c, arn, _: c.get_topic_attributes(TopicArn=arn),
    ("ec2", "*"): lambda c, _, name: c.describe_tags(Filters=[{"Name": "resource-id", "Values": [name]}])["Tags"],
    ("cloudwatch", "alarm"): lambda c, _, name: c.describe_alarms(AlarmNames=[name])["MetricAlarms"],
    ("events", "rule"): lambda c, _, name: c.describe_rule(Name=name),
    ("firehose", "deliverystream"): lambda c, _, name: c.describe_delivery_stream(DeliveryStreamName=name),
    ("glue", "job"): lambda c, _, name: c.get_job(JobName=name),
    ("glue", "crawler"): lambda c, _, name: c.get_crawler(Name=name),
    ("glue", "dataQualityRuleset"): lambda c, _, name: c.get_data_quality_ruleset(Name=name),
    ("athena", "workgroup"): lambda c, _, name: c.get_work_group(WorkGroup=name),
}


class UsageError(Exception):
    """Bad arguments or unusable credentials: one line, exit 2."""


@dataclass
class Finding:
    kind: str
    name: str
    region: str
    reasons: list[str]  # how it was found (by tag, by name): one or two
    details: list[str] = field(default_factory=list)  # what it is (state, size, cost), once each
    leftover: bool = True  # False: printed as info, does not change the exit status

    def line(self) -> str:
        label = "LEFTOVER" if self.leftover else "info    "
        return f"{label}  {self.kind}  {self.name}  ({self.region})  {'; '.join(self.reasons + self.details)}"


@dataclass
class Result:
    account: str
    regions: list[str]
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # checks that could not run
    notes: list[str] = field(default_factory=list)  # checks the endpoint does not implement (local emulators)

    @property
    def leftovers(self) -> list[Finding]:
        return [f for f in self.findings if f.leftover]


def parse_arn(arn: str) -> tuple[str, str, str, str]:
    """``(service, region, resource type, resource name)`` of an ARN (type '' for S3 buckets, SNS topics)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "", "", "", arn
    service, region, resource = parts[2], parts[3], parts[5]
    slash, colon = resource.find("/"), resource.find(":")
    if slash >= 0 and (colon < 0 or slash < colon):
        kind, name = resource.split("/", 1)
    elif colon >= 0:
        kind, name = resource.split(":", 1)
    else:
        kind, name = "", resource
    if service == "cloudformation":
        name = name.split("/", 1)[0]  # stack/<name>/<id>
    return service, region, kind, name


def _key(arn_or_id: str) -> str:
    # SageMaker lower-cases names in its ARNs; log group ARNs may end in ':*'.
    return arn_or_id.removesuffix(":*").lower()


def _error(exc: Exception) -> tuple[str, str]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    message = str(error.get("Message", exc)).strip().splitlines() or [""]
    return str(error.get("Code", type(exc).__name__)), message[0][:300]


def _missing(exc: Exception) -> bool:
    code, message = _error(exc)
    if code in _MISSING_CODES:
        return True
    text = message.lower()
    return code in {"ValidationException", "ValidationError", "InvalidRequestException"} and any(
        phrase in text for phrase in ("not find", "not found", "does not exist", "no such")
    )


def _is_aws_error(exc: Exception) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError)


def _pages(client: Any, operation: str, token: str = "NextToken", **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every page of a list call: botocore's paginator where it has one, else the NextToken loop."""
    if client.can_paginate(operation):
        yield from client.get_paginator(operation).paginate(**kwargs)
        return
    call = getattr(client, operation)
    while True:
        page = call(**kwargs)
        yield page
        if not page.get(token):
            return
        kwargs[token] = page[token]


_LOADER: Any = None  # botocore's service models, parsed once per process (main() may run many times)


def _session() -> Any:
    """A fresh botocore session (credentials and region as the environment says now) sharing the model loader:
    parsing the service models' JSON would otherwise dominate every run after the first."""
    global _LOADER
    import botocore.session

    session = botocore.session.get_session()
    if _LOADER is None:
        _LOADER = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _LOADER)
    return session


class Aws:
    """botocore clients per (service, region), all through one session and the optional endpoint URL."""

    def __init__(self, session: Any, endpoint_url: str | None) -> None:
        from botocore.config import Config

        self._session = session
        self.endpoint_url = endpoint_url
        self._config = Config(
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=10,
            read_timeout=60,
            # a local endpoint (moto) serves buckets by path, not as <bucket>.<host>
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            self._clients[service, region] = self._session.create_client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=self._config
            )
        return self._clients[service, region]


class Scan:
    """The checks for one project prefix; ``run`` fills a ``Result``."""

    def __init__(self, aws: Aws, prefix: str, regions: list[str], account: str, partition: str) -> None:
        self.aws, self.prefix, self.regions = aws, prefix, regions
        self.account, self.partition = account, partition
        self.result = Result(account=account, regions=regions)
        self._found: dict[str, Finding] = {}
        self._seen_tagged: set[str] = set()
        p = re.escape(prefix)
        suffixes = "|".join(map(re.escape, STACK_SUFFIXES))
        self._stack = re.compile(rf"^{p}-(?:{suffixes})$")
        # names CloudFormation generates from the stack name: <stack name>-<logical id>-<random>
        self._generated = re.compile(rf"^{p}-(?:{suffixes})-")
        self._log_group = re.compile(rf"(?:^|/){p}-(?:{suffixes})-")
        # CDK's unique ids drop the hyphens: mlspec-glue-etl/Etl/Security -> mlspecglueetlEtlSecurity<hash>
        alnum = "|".join(re.sub(r"[^A-Za-z0-9]", "", s) for s in STACK_SUFFIXES)
        self._unique_id = re.compile(rf"^{re.escape(re.sub(r'[^A-Za-z0-9]', '', prefix))}(?:{alnum})")
        self.database = f"{prefix.lower().replace('-', '_')}_lake"  # stacks/data_lake_stack.py
        self._tag = f"tagged Project={prefix}"

    def add(
        self, key: str, kind: str, name: str, region: str, reason: str, detail: str = "", *, leftover: bool = True
    ) -> None:
        """One finding per resource: a second sighting (by tag and by name) adds its reason to the first."""
        found = self._found.setdefault(_key(key), Finding(kind, name, region, [], leftover=leftover))
        if reason not in found.reasons:
            found.reasons.append(reason)
        if detail and detail not in found.details:
            found.details.append(detail)
        found.leftover = found.leftover or leftover

    def checks(self) -> list[tuple[str, str, Callable[[str], None]]]:
        """``(description, region, check)`` for every region."""
        regional: list[tuple[str, Callable[[str], None]]] = [
            ("tagged resources", self.tagged),
            ("cloudformation stacks", self.stacks),
            ("log groups", self.log_groups),
            ("glue security configurations", self.security_configurations),
            ("glue databases", self.databases),
            ("glue data quality rulesets", self.quality_rulesets),
        ]
        return [(name, region, check) for region in self.regions for name, check in regional]

    # --- tags ---------------------------------------------------------------------------------------------------

    def _tagged_arns(self, region: str) -> Iterator[str]:
        client = self.aws.client("resourcegroupstaggingapi", region)
        for page in _pages(
            client,
            "get_resources",
            TagFilters=[{"Key": "Project", "Values": [self.prefix]}],
            ResourcesPerPage=100,
        ):
            for mapping in page.get("ResourceTagMappingList", []):
                yield mapping["ResourceARN"]

    def tagged(self, region: str) -> None:
        for listed in self._tagged_arns(region):
            arn = _TUPLE_ARN.sub(r"\1", listed)
            if _key(arn) in self._seen_tagged:  # moto lists every S3 bucket in every region's answer
                continue
            self._seen_tagged.add(_key(arn))
            self._read_back(arn, region)

    def _read_back(self, arn: str, region: str) -> None:
        """One tagged resource, reported as its own service describes it; nothing when it is gone."""
        service, arn_region, kind, name = parse_arn(arn)
        region = arn_region or region
        label = _KINDS.get((service, kind), f"{service} {kind}".strip())
        verify = {
            "s3": self._verify_bucket,
            "kms": self._verify_key,
            "logs": self._verify_log_group,
            "sagemaker": self._verify_sagemaker,
            "cloudformation": self._verify_stack,
            "kinesis": self._verify_stream,
        }.get(service, self._verify_exists)
        try:
            verify(arn, label, kind, name, region)
        except NotImplementedError:  # moto, in-process: no such API
            self.add(arn, label, name, region, f"{self._tag} (not verified: the endpoint cannot read it back)")
        except Exception as exc:
            code, _ = _error(exc)
            if _missing(exc):
                return  # deleted: the Tagging API still lists it for a while
            if code in _CREDENTIAL_CODES or not _is_aws_error(exc):
                raise
            self.add(arn, label, name, region, f"{self._tag} (not verified: {code})")

    def _verify_bucket(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        s3 = self.aws.client("s3", self.regions[0])
        s3.head_bucket(Bucket=name)
        location = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        detail = ""
        try:
            lock = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
            if lock.get("ObjectLockEnabled") == "Enabled":
                detail = "Object Lock on: delete its object versions with governance bypass first"
        except Exception as exc:
            if "ObjectLockConfigurationNotFound" not in _error(exc)[0]:
                raise
        self.add(arn, label, name, "eu-west-1" if location == "EU" else location, self._tag, detail)

    def _verify_key(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        meta = self.aws.client("kms", region).describe_key(KeyId=arn)["KeyMetadata"]
        if meta.get("KeyManager") == "AWS":
            return
        state = meta.get("KeyState", "?")
        if state not in _KMS_PENDING:
            self.add(arn, label, arn, region, self._tag, f"{state}: a customer-managed key bills monthly until deleted")
            return
        when = meta.get("DeletionDate")
        on = f" on {when:%Y-%m-%d}" if hasattr(when, "strftime") else ""
        detail = f"{state}: deleted{on} by KMS, as `cdk destroy` scheduled it: not a leftover"
        self.add(arn, label, arn, region, self._tag, detail, leftover=False)

    def _verify_log_group(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        groups = self.aws.client("logs", region).describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        if group is not None:
            self._add_log_group(group, region, self._tag)

    def _verify_sagemaker(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        sm = self.aws.client("sagemaker", region)
        if kind == "model-package-group":
            group = sm.describe_model_package_group(ModelPackageGroupName=name)
            self._add_package_group(sm, arn, label, group["ModelPackageGroupName"], region)
        elif kind == "model-package":
            package = sm.describe_model_package(ModelPackageName=arn)
            if not package.get("ModelPackageGroupName"):  # a version is counted in its group's line
                self.add(arn, label, package.get("ModelPackageName", name), region, self._tag, _RUN_TIME)
        elif kind in _SAGEMAKER:
            operation, parameter, status_key = _SAGEMAKER[kind]
            item = getattr(sm, operation)(**{parameter: name})
            detail = _sagemaker_detail(kind, str(item.get(status_key, "")))
            if detail is not None:
                self.add(arn, label, item.get(parameter, name), region, self._tag, detail)
        else:
            self.add(arn, label, name, region, f"{self._tag} (not verified: {_UNVERIFIED})")

    def _add_package_group(self, sm: Any, arn: str, label: str, name: str, region: str) -> None:
        packages = sum(
            len(page.get("ModelPackageSummaryList", []))
            for page in _pages(sm, "list_model_packages", ModelPackageGroupName=name)
        )
        detail = f"retained by the training stack, holds {packages} model package(s); {_FIXED_NAME}"
        self.add(arn, label, name, region, self._tag, detail)

    def _verify_stack(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        (stack,) = self.aws.client("cloudformation", region).describe_stacks(StackName=arn)["Stacks"]
        if stack["StackStatus"] != "DELETE_COMPLETE":
            self._add_stack(stack["StackId"], stack["StackName"], stack["StackStatus"], region, self._tag)

    def _verify_stream(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        self.aws.client("kinesis", region).describe_stream_summary(StreamARN=arn)
        self.add(arn, label, name, region, self._tag, _STREAM_COST)

    def _verify_exists(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        """Types without anything to add but their existence: one cheap read each."""
        service = parse_arn(arn)[0]
        exists = _EXISTS.get((service, kind)) or _EXISTS.get((service, "*"))
        if exists is None:
            self.add(arn, label, name, region, f"{self._tag} (not verified: {_UNVERIFIED})")
        elif exists(self.aws.client(_CLIENT.get(service, service), region), arn, name):
            self.add(arn, label, name, region, self._tag)

    # --- names --------------------------------------------------------------------------------------------------

    def stacks(self, region: str) -> None:
        cfn = self.aws.client("cloudformation", region)
        for page in _pages(cfn, "list_stacks"):
            for stack in page.get("StackSummaries", []):
                if stack["StackStatus"] != "DELETE_COMPLETE" and self._stack.match(stack["StackName"]):
                    self._add_stack(stack["StackId"], stack["StackName"], stack["StackStatus"], region, "stack name")

    def _add_stack(self, stack_id: str, name: str, status: str, region: str, reason: str) -> None:
        hint = "delete failed: see its events" if status == "DELETE_FAILED" else "still deployed: make destroy"
        self.add(stack_id, "cloudformation stack", name, region, reason, f"{status}: {hint}")

    def log_groups(self, region: str) -> None:
        logs = self.aws.client("logs", region)
        for page in _pages(logs, "describe_log_groups"):
            for group in page.get("logGroups", []):
                name = group["logGroupName"]
                if name in JOB_LOG_GROUPS:
                    self._job_streams(logs, name, region)
                elif self._log_group.search(name) and "Project" not in self._log_group_tags(logs, group):
                    reason = f"name holds {self.prefix}-<stack>-, untagged: created at run time by a service"
                    self._add_log_group(group, region, reason)

    @staticmethod
    def _log_group_tags(logs: Any, group: dict[str, Any]) -> dict[str, str]:
        """Its tags: a tagged group is the tag check's (ours) or another project's, never a name hit."""
        arn = group.get("logGroupArn") or str(group.get("arn", "")).removesuffix(":*")
        return dict(logs.list_tags_for_resource(resourceArn=arn).get("tags", {}))

    def _add_log_group(self, group: dict[str, Any], region: str, reason: str) -> None:
        arn = group.get("logGroupArn") or group.get("arn") or f"log-group:{region}:{group['logGroupName']}"
        stored = int(group.get("storedBytes") or 0)
        self.add(arn, "log group", group["logGroupName"], region, reason, f"{stored:,} bytes stored")

    def _job_streams(self, logs: Any, group: str, region: str) -> None:
        """The streams ``<prefix>-...`` of the shared group, counted: info, to check by hand."""
        prefix = f"{self.prefix}-"  # the training stack's job_prefix (pinned by a test)
        pages = _pages(logs, "describe_log_streams", logGroupName=group, logStreamNamePrefix=prefix)
        count = sum(len(page.get("logStreams", [])) for page in pages)
        if not count:
            return
        name, key = f"{group} ({count} x {prefix}*)", f"{group}|{prefix}|{region}"
        reason = "named like the training workflow's jobs; the shared group outlives the stacks"
        detail = f"not taggable, and a copy whose prefix starts with {prefix} names its jobs so too: check by hand"
        self.add(key, "log streams", name, region, reason, detail, leftover=False)

    def security_configurations(self, region: str) -> None:
        glue = self.aws.client("glue", region)
        for page in _pages(glue, "get_security_configurations"):
            for item in page.get("SecurityConfigurations", []):
                name = item["Name"]
                if self._unique_id.match(name):
                    key = f"glue-security-configuration|{region}|{name}"
                    reason = "name is CDK's id of the glue-etl stack's security configuration (not taggable)"
                    self.add(key, "glue security configuration", name, region, reason, _FIXED_NAME)

    def databases(self, region: str) -> None:
        try:
            self.aws.client("glue", region).get_database(Name=self.database)
        except Exception as exc:
            if _missing(exc):
                return
            raise
        arn = f"arn:{self.partition}:glue:{region}:{self.account}:database/{self.database}"
        reason = "the lake's database name (CloudFormation cannot tag a database)"
        self.add(arn, "glue database", self.database, region, reason, _FIXED_NAME)

    def quality_rulesets(self, region: str) -> None:
        glue = self.aws.client("glue", region)
        for page in _pages(glue, "list_data_quality_rulesets"):
            for item in page.get("Rulesets", []):
                if self._generated.match(item["Name"]):
                    arn = f"arn:{self.partition}:glue:{region}:{self.account}:dataQualityRuleset/{item['Name']}"
                    reason = f"name starts with {self.prefix}-<stack>-"
                    self.add(arn, "glue data quality ruleset", item["Name"], region, reason, _FIXED_NAME)

    # --- running ------------------------------------------------------------------------------------------------

    def run(self, on_start: Callable[[str], Any] = lambda _: None, on_done: Callable[[], Any] = lambda: None) -> Result:
        """Every check in turn; ``on_start(description)`` and ``on_done()`` drive the progress bar."""
        for description, region, check in self.checks():
            on_start(f"{region}: {description}")
            try:
                check(region)
            except NotImplementedError:  # moto, in-process: an API it does not emulate
                self.result.notes.append(f"{description} in {region}: not implemented by this endpoint, skipped")
            except Exception as exc:
                code, message = _error(exc)
                if code in _CREDENTIAL_CODES:
                    raise UsageError(f"the AWS credentials were refused: {code}: {message}") from None
                # a local emulator (moto server) answers an API it lacks with HTTP 500: not a gap in AWS
                if code in _NOT_IMPLEMENTED_CODES or (self.aws.endpoint_url and code in {"500", "501"}):
                    self.result.notes.append(f"{description} in {region}: not implemented by this endpoint, skipped")
                elif _is_aws_error(exc):
                    self.result.problems.append(f"{description} in {region}: {code}: {message}")
                else:
                    raise
            finally:
                on_done()
        self.result.findings = sorted(
            self._found.values(), key=lambda f: (not f.leftover, f.region, f.kind, f.name.lower())
        )
        return self.result


# --- command line -------------------------------------------------------------------------------------------


class _OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...``) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def default_prefix() -> str:
    """The prefix `make deploy` uses unless -c prefix=... is passed: cdk.json's context, else mlspec."""
    try:
        return str(json.loads((ROOT / "cdk.json").read_text())["context"].get("prefix", "mlspec"))
    except (OSError, ValueError, KeyError):
        return "mlspec"


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(
        prog=PROG,
        description="List what is left of the app in an AWS account: resources tagged Project=<prefix>, each read "
        "back, and by name what cannot carry the tag (stacks, run-time log groups, Glue security configurations, "
        "the lake database, data quality rulesets; the SageMaker job log streams as info). Read-only.",
        epilog="Exit status: 0 nothing left; 1 something left, or a check could not run; 2 bad arguments or "
        "no usable credentials; 130 interrupted. How to remove leftovers: " + RUNBOOK,
    )
    parser.add_argument(
        "--prefix",
        default=default_prefix(),
        help="the app's prefix: stack names <prefix>-..., tag Project=<prefix> (default: cdk.json's, %(default)s)",
    )
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="region to check; repeat for several (default: AWS_DEFAULT_REGION, the AWS config, AWS_REGION)",
    )
    parser.add_argument("--endpoint-url", help="AWS endpoint for every service, e.g. http://localhost:5000 for moto")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    return parser


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from ml_config.config import ConfigError, load_config

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        load_config({"prefix": args.prefix})  # the config's own rule for the prefix
    except ConfigError as exc:
        parser.error(f"--prefix {args.prefix!r}: " + str(exc).removeprefix("invalid config: "))
    if args.endpoint_url and not args.endpoint_url.startswith(("http://", "https://")):
        parser.error(f"--endpoint-url must start with http:// or https://, got {args.endpoint_url!r}")
    for region in args.regions or []:
        if not _REGION.match(region):
            parser.error(f"--region {region!r}: not a region name such as us-east-1 or eu-west-1")
    return args


def _connect(args: argparse.Namespace) -> tuple[Aws, list[str], str, str]:
    """Session, regions, account and partition; UsageError when there is no region or no usable credential."""
    from botocore.exceptions import BotoCoreError, ClientError

    session = _session()
    try:
        # botocore reads AWS_DEFAULT_REGION and the config file; AWS_REGION is what most other SDKs read
        configured = session.get_config_variable("region") or os.environ.get("AWS_REGION")
    except BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile that does not exist
        raise UsageError(str(exc)) from None
    regions = list(dict.fromkeys(args.regions or ([configured] if configured else [])))
    if not regions:
        raise UsageError(
            "no AWS region: pass --region, or set AWS_REGION, AWS_DEFAULT_REGION or region in the AWS config"
        )
    aws = Aws(session, args.endpoint_url)
    try:
        identity = aws.client("sts", regions[0]).get_caller_identity()
    except ClientError as exc:
        code, message = _error(exc)
        raise UsageError(f"the AWS credentials were refused: {code}: {message}") from None
    except BotoCoreError as exc:  # NoCredentialsError, EndpointConnectionError, ...
        raise UsageError(f"{type(exc).__name__}: {exc}") from None
    partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
    return aws, regions, str(identity["Account"]), partition


def find(prefix: str, regions: list[str], *, endpoint_url: str | None = None) -> Result:
    """The scan without the command line (the local sandbox checks its own `cdk destroy` with it).

    Credentials and region come from the environment, as for the command; UsageError as the command reports it.
    """
    aws, regions, account, partition = _connect(argparse.Namespace(regions=regions, endpoint_url=endpoint_url))
    return Scan(aws, prefix, regions, account, partition).run()


def report(result: Result, prefix: str) -> list[str]:
    """The lines printed on stdout: one per finding, then the summary."""
    lines = [finding.line() for finding in result.findings]
    where = f"account {result.account} ({', '.join(result.regions)})"
    leftovers = result.leftovers
    if leftovers:
        kinds = Counter(f.kind for f in leftovers)
        listed = ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items()))
        lines.append(f"{len(leftovers)} leftover(s) of {prefix} in {where}: {listed}. How to remove them: {RUNBOOK}")
    elif not result.problems:
        lines.append(f"Nothing left of {prefix} in {where}.")
    if result.problems:
        lines.append(
            f"{len(result.problems)} check(s) could not run (see stderr): the account may hold more leftovers."
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: parse, scan, print; return the exit status."""
    from tqdm import tqdm

    try:
        args = _parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or one usage line (2); returned, so callers get a status
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        aws, regions, account, partition = _connect(args)
        scan = Scan(aws, args.prefix, regions, account, partition)
        # disable=None: tqdm switches itself off when stderr is not a terminal (logs and tests stay clean)
        with tqdm(
            total=len(scan.checks()),
            unit="check",
            file=sys.stderr,
            leave=False,
            disable=True if args.no_progress else None,
        ) as bar:
            result = scan.run(on_start=bar.set_description_str, on_done=lambda: bar.update(1))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in result.problems:
        print(f"warning: could not check {problem}", file=sys.stderr)
    print("\n".join(report(result, args.prefix)))
    return EXIT_LEFTOVERS if result.leftovers or result.problems else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
