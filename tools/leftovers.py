"""What is left of the app in an AWS account: ``python -m tools.leftovers`` (``make leftovers``).

Run it after ``make destroy``: it prints one line per resource of the project that still exists (type, name,
region, why it counts) and a summary, and exits 0 only when nothing is left. Read-only: it never deletes
anything; docs/runbook.md says how to remove what it finds.

How it looks, in every region given (``--region``, repeatable; default: ``AWS_DEFAULT_REGION``, the AWS config,
``AWS_REGION``):

1. **Tags.** The app tags every resource CloudFormation lets it tag with ``Project=<prefix>``
   (``stacks.build_app``). The Resource Groups Tagging API (``GetResources`` with that tag filter) lists them.
   That API returns resources that were "tagged or previously tagged", and can keep listing a deleted resource
   for a while, so every hit of a type the app creates is read back with its own service's API first (S3, KMS,
   CloudWatch Logs and alarms, SageMaker, CloudFormation, Kinesis, Firehose, Step Functions, Lambda, SNS, EC2,
   EventBridge rules, Glue jobs, crawlers and rulesets, Athena workgroups) and dropped when it is gone; other
   types are reported as "not verified". A KMS key in ``PendingDeletion`` is what ``cdk destroy`` leaves on
   purpose: it is printed as info and does not count.
2. **Names**, for what tags do not reach or what CloudFormation does not own:

   - S3 buckets named ``<prefix>-<stack>-...`` (CloudFormation generates the lake's bucket names from the stack
     name, in lower case), unless tagged for another project; never the CDK bootstrap bucket
     (``cdk-<qualifier>-assets-<account>-<region>``). S3 is global: buckets of every region are listed once.
   - CloudFormation stacks ``<prefix>-<stack>`` in any status but ``DELETE_COMPLETE``.
   - CloudWatch log groups whose name holds ``<prefix>-<stack>-`` at its start or after a ``/``: the stacks'
     own groups and those services create at run time and no stack deletes (``/aws/lambda/<function>`` of
     CDK's custom-resource handlers, Glue's ``/aws-glue/jobs/<security configuration>-role/<role>/...`` and
     ``/aws-glue/crawlers-role/<role>-...``). In the shared groups ``/aws/sagemaker/TrainingJobs`` and
     ``/aws/sagemaker/TransformJobs``: the log streams of the training workflow's jobs (``<prefix>-...``).
     Groups ``/aws/sagemaker/Endpoints/<name>`` of endpoints that no longer exist are printed as info (the app's
     endpoint has a CloudFormation-generated name without the prefix, so they cannot be attributed).
   - Kinesis data streams named ``<prefix>-<stack>-...``.
   - SageMaker, what the training workflow creates at run time (see ``run_prefix``): models and endpoint configs
     (free, but no stack deletes them) and training, transform and tuning jobs still ``InProgress`` (jobs that
     ended cannot be deleted and cost nothing), all named ``<prefix>-<execution name>`` (transform jobs
     ``...-val`` and ``...-test``; a tuning job ``<prefix>-<execution name up to its first hyphen>``, its
     training jobs ``<tuning job>-<NNN>-<hash>``). Every endpoint whose model runs with one of the app's roles
     (``<prefix>-<stack>-...``) or, that model gone, whose endpoint config is one of those runs' (the app's
     endpoint has a name CloudFormation generates; it bills every hour). Model package groups
     ``<prefix>-<stack>-...`` (the training stack retains its group).

     Another copy whose prefix extends this one (``mlspec-dev`` for ``mlspec``) names its runs
     ``mlspec-dev-...``, which start with ``mlspec-`` too. So a run-time name counts by itself only when no such
     longer prefix could have produced it: ``<prefix>-<UUID>`` (Step Functions' default execution name, and the
     names derived from it above), or a name with no hyphen after ``<prefix>-`` in its first 21 characters (a
     prefix has at most 20). Any other name ``<prefix>-...`` is attributed by the role the resource runs with
     (a job's, a model's, or its model's for an endpoint config or transform job; a log stream's job's); when
     that role is gone too (a model deleted by the quality gate or by hand), the resource is printed as info,
     to be checked by hand.
   - Glue security configurations (not taggable; CDK names them ``<prefix without hyphens><stack>...``), the
     lake database ``<prefix>_lake`` and data quality rulesets ``<prefix>-<stack>-...``; the Athena workgroup
     ``<prefix>-lake``. These have fixed names: left behind, they also make the next deploy fail.

What it cannot see: resources of types the Tagging API does not cover that no check above lists by name (IAM
roles and policies are global and deleted with their stacks), objects the app wrote into buckets of other
projects, the account-wide Data Catalog encryption setting, CloudWatch metrics (they expire by themselves), and
anything in a region not passed.

Exit status: 0 nothing left; 1 something is left, or a check could not run (then nothing can be promised;
each such check is named on stderr); 2 bad arguments or no usable credentials (one line, no traceback).
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
#: ``ml_config``'s rule for a prefix: a letter, then up to 19 letters, digits or hyphens (pinned by a test).
MAX_PREFIX = 20
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: What follows ``<prefix>-`` in the names of a run with Step Functions' default (UUID) execution name: training
#: job, model and endpoint config (the UUID), transform jobs (``-val``, ``-test``), tuning job (the UUID's first
#: 8 hex digits) and the tuning job's training jobs (SageMaker appends ``-<NNN>-<8 hex digits>``).
DEFAULT_RUN = re.compile(rf"^(?:{_UUID}(?:-val|-test)?|[0-9a-f]{{8}}(?:-\d{{3}}-[0-9a-f]{{8}})?)$")
#: Shared log groups SageMaker writes the workflow's job logs into; they outlive every stack.
JOB_LOG_GROUPS = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/TransformJobs")
ENDPOINT_LOG_GROUPS = "/aws/sagemaker/Endpoints/"
#: The CDK bootstrap buckets (``cdk bootstrap``): shared by every CDK app of the account, never a leftover.
BOOTSTRAP_BUCKET = re.compile(r"^cdk-[a-z0-9]+-(?:container-)?assets-\d{12}-[a-z0-9-]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")

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


def run_prefix(prefix: str) -> str:
    """The start of every name the training workflow of copy ``prefix`` gives at run time: the training stack
    passes ``job_prefix=f"{config.prefix}-"`` to the construct, whose default ``DEFAULT_JOB_PREFIX`` is the
    default copy's (both pinned by a test; importing them would start jsii)."""
    return f"{prefix}-"


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
    ("glue", "database"): "glue database",
    ("glue", "dataQualityRuleset"): "glue data quality ruleset",
    ("sagemaker", "endpoint"): "sagemaker endpoint",
    ("sagemaker", "endpoint-config"): "sagemaker endpoint config",
    ("sagemaker", "model"): "sagemaker model",
    ("sagemaker", "model-package-group"): "sagemaker model package group",
    ("sagemaker", "training-job"): "sagemaker training job",
    ("sagemaker", "transform-job"): "sagemaker transform job",
    ("sagemaker", "hyper-parameter-tuning-job"): "sagemaker tuning job",
}
RUNBOOK = "docs/runbook.md#remove-what-is-left"  # a test checks the heading exists


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
        self._bucket = re.compile(rf"^{re.escape(prefix.lower())}-(?:{suffixes})-")
        self._log_group = re.compile(rf"(?:^|/){p}-(?:{suffixes})-")
        # CDK's unique ids drop the hyphens: mlspec-glue-etl/Etl/Security -> mlspecglueetlEtlSecurity<hash>
        alnum = "|".join(re.sub(r"[^A-Za-z0-9]", "", s) for s in STACK_SUFFIXES)
        self._unique_id = re.compile(rf"^{re.escape(re.sub(r'[^A-Za-z0-9]', '', prefix))}(?:{alnum})")
        self.database = f"{prefix.lower().replace('-', '_')}_lake"  # stacks/data_lake_stack.py
        self.workgroup = f"{prefix}-lake"  # stacks/glue_etl_stack.py
        self._own_prefix = run_prefix(prefix)
        self._tag = f"tagged Project={prefix}"

    # --- bookkeeping --------------------------------------------------------------------------------------

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

    def _foreign(self, tags: dict[str, str]) -> bool:
        """Tagged for another project: a name that only looks like ours."""
        return "Project" in tags and tags["Project"] != self.prefix

    def _role_is_ours(self, role_arn: str | None) -> bool | None:
        """Whether a SageMaker resource runs with one of this copy's roles (CloudFormation names them
        ``<stack name>-<logical id>-<random>``); None when the role is unknown."""
        if not role_arn:
            return None
        return bool(self._generated.match(role_arn.rsplit("/", 1)[-1]))

    def _name_is_ours(self, name: str) -> bool | None:
        """Whether a run-time name (``<prefix>-<execution name>...``) is this copy's by the name alone; None when a
        copy with a longer prefix (``<prefix>-<more>``, at most ``MAX_PREFIX`` characters) could have given it."""
        if not name.startswith(self._own_prefix):
            return False
        rest = name[len(self._own_prefix) :]
        if DEFAULT_RUN.match(rest):
            return True
        # another copy's prefix would be <prefix>-<rest up to one of its hyphens>, and its execution name the rest
        longest = min(MAX_PREFIX - len(self._own_prefix) + 1, len(rest) - 1)
        return None if "-" in rest[: max(longest, 0)] else True

    def _owner(self, name: str, region: str, role: Callable[[str, str], str | None]) -> bool | None:
        """Whether a run-time resource is this copy's: by its name, else (an ambiguous name) by the role it runs
        with, ``role(name, region)``; None when neither tells."""
        owner = self._name_is_ours(name)
        return self._role_is_ours(role(name, region)) if owner is None else owner

    def _runtime(self, key: str, kind: str, name: str, region: str, owner: bool | None, reason: str) -> None:
        """A resource the training workflow created at run time, ``owner`` as ``_owner`` says."""
        if owner is False:
            return
        if owner:
            self.add(key, kind, name, region, reason)
        else:
            self.add(key, kind, name, region, reason, self._ambiguous, leftover=False)

    @property
    def _ambiguous(self) -> str:
        return (
            f"a copy with a longer prefix ({self._own_prefix}...) could have named it too, and its role is gone: "
            "check manually"
        )

    # --- the checks -----------------------------------------------------------------------------------------

    def checks(self) -> list[tuple[str, str, Callable[[str], None]]]:
        """``(description, region, check)``: S3 once (global), the rest per region."""
        regional: list[tuple[str, Callable[[str], None]]] = [
            ("tagged resources", self.tagged),
            ("cloudformation stacks", self.stacks),
            ("log groups", self.log_groups),
            ("kinesis streams", self.kinesis_streams),
            ("sagemaker endpoints", self.endpoints),
            ("sagemaker endpoint configs", self.endpoint_configs),
            ("sagemaker models", self.models),
            ("sagemaker jobs", self.jobs),
            ("sagemaker model package groups", self.model_package_groups),
            ("glue security configurations", self.security_configurations),
            ("glue databases", self.databases),
            ("glue data quality rulesets", self.quality_rulesets),
            ("athena workgroups", self.workgroups),
        ]
        checks = [("s3 buckets", self.regions[0], self.buckets)]
        return checks + [(name, region, check) for region in self.regions for name, check in regional]

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
        for arn in self._tagged_arns(region):
            if _key(arn) in self._seen_tagged:  # S3 buckets come back in every region's answer
                continue
            self._seen_tagged.add(_key(arn))
            self._tagged(arn, region)

    def _tagged(self, arn: str, region: str) -> None:
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
        self._add_bucket(name, self._tag)

    def _verify_key(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        meta = self.aws.client("kms", region).describe_key(KeyId=arn)["KeyMetadata"]
        if meta.get("KeyManager") == "AWS":
            return
        state = meta.get("KeyState", "?")
        if state in _KMS_PENDING:
            when = meta.get("DeletionDate")
            on = f" on {when:%Y-%m-%d}" if hasattr(when, "strftime") else ""
            self.add(
                arn,
                label,
                arn,
                region,
                self._tag,
                f"{state}: deleted{on} by KMS, as `cdk destroy` scheduled it: not a leftover",
                leftover=False,
            )
        else:
            self.add(arn, label, arn, region, self._tag, f"{state}: a customer-managed key bills monthly until deleted")

    def _verify_log_group(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        logs = self.aws.client("logs", region)
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        if group is not None:
            self._add_log_group(group, region, self._tag)

    def _verify_sagemaker(self, arn: str, label: str, kind: str, name: str, region: str) -> None:
        sm = self.aws.client("sagemaker", region)
        if kind == "endpoint":
            endpoint = sm.describe_endpoint(EndpointName=name)
            self._add_endpoint(endpoint, region, self._tag)
        elif kind == "endpoint-config":
            config = sm.describe_endpoint_config(EndpointConfigName=name)
            self.add(arn, label, config["EndpointConfigName"], region, self._tag)
        elif kind == "model":
            model = sm.describe_model(ModelName=name)
            self.add(arn, label, model["ModelName"], region, self._tag)
        elif kind == "model-package-group":
            group = sm.describe_model_package_group(ModelPackageGroupName=name)
            self._add_package_group(group["ModelPackageGroupName"], group["ModelPackageGroupArn"], region, self._tag)
        elif kind == "model-package":  # a version in the retained group, counted on the group's line
            return
        elif kind in ("training-job", "transform-job", "hyper-parameter-tuning-job"):
            describe, status_key = {
                "training-job": (lambda: sm.describe_training_job(TrainingJobName=name), "TrainingJobStatus"),
                "transform-job": (lambda: sm.describe_transform_job(TransformJobName=name), "TransformJobStatus"),
                "hyper-parameter-tuning-job": (
                    lambda: sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
                    "HyperParameterTuningJobStatus",
                ),
            }[kind]
            status = describe()[status_key]
            if status in _RUNNING:  # a job that ended cannot be deleted and costs nothing
                self.add(arn, label, name, region, self._tag, f"{status}: bills until it stops")
        else:
            self.add(arn, label, name, region, f"{self._tag} (not verified)")

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

    # S3 (global) ----------------------------------------------------------------------------------------------

    def buckets(self, region: str) -> None:
        s3 = self.aws.client("s3", region)
        for page in _pages(s3, "list_buckets", token="ContinuationToken"):
            for bucket in page.get("Buckets", []):
                name = bucket["Name"]
                if BOOTSTRAP_BUCKET.match(name) or not self._bucket.match(name):
                    continue
                if self._foreign(self._bucket_tags(name)):
                    continue
                self._add_bucket(name, f"name starts with {self.prefix.lower()}-<stack>- (generated from the stack)")

    def _bucket_tags(self, name: str) -> dict[str, str]:
        try:
            tag_set = self.aws.client("s3", self.regions[0]).get_bucket_tagging(Bucket=name)["TagSet"]
        except Exception as exc:
            if _error(exc)[0] in {"NoSuchTagSet", "NoSuchTagSetError"}:
                return {}
            raise
        return {t["Key"]: t["Value"] for t in tag_set}

    def _add_bucket(self, name: str, reason: str) -> None:
        s3 = self.aws.client("s3", self.regions[0])
        location = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        region = "eu-west-1" if location == "EU" else location
        detail = ""
        try:
            lock = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
            if lock.get("ObjectLockEnabled") == "Enabled":
                detail = "Object Lock on: delete its object versions with governance bypass first"
        except Exception as exc:
            if "ObjectLockConfigurationNotFound" not in _error(exc)[0]:
                raise
        self.add(f"arn:{self.partition}:s3:::{name}", "s3 bucket", name, region, reason, detail)

    # CloudFormation --------------------------------------------------------------------------------------------

    def stacks(self, region: str) -> None:
        cfn = self.aws.client("cloudformation", region)
        for page in _pages(cfn, "list_stacks"):
            for stack in page.get("StackSummaries", []):
                if stack["StackStatus"] != "DELETE_COMPLETE" and self._stack.match(stack["StackName"]):
                    self._add_stack(stack["StackId"], stack["StackName"], stack["StackStatus"], region, "stack name")

    def _add_stack(self, stack_id: str, name: str, status: str, region: str, reason: str) -> None:
        hint = "delete failed: see its events" if status == "DELETE_FAILED" else "still deployed: make destroy"
        self.add(stack_id, "cloudformation stack", name, region, reason, f"{status}: {hint}")

    # CloudWatch Logs -------------------------------------------------------------------------------------------

    def log_groups(self, region: str) -> None:
        logs = self.aws.client("logs", region)
        for page in _pages(logs, "describe_log_groups"):
            for group in page.get("logGroups", []):
                name = group["logGroupName"]
                if self._log_group.search(name):
                    if not self._foreign(self._log_group_tags(logs, group)):
                        self._add_log_group(group, region, f"name holds {self.prefix}-<stack>-")
                elif name in JOB_LOG_GROUPS:
                    self._job_streams(logs, group, region)
                elif name.startswith(ENDPOINT_LOG_GROUPS):
                    self._endpoint_log_group(group, region)

    @staticmethod
    def _log_group_tags(logs: Any, group: dict[str, Any]) -> dict[str, str]:
        arn = group.get("logGroupArn") or str(group.get("arn", "")).removesuffix(":*")
        return dict(logs.list_tags_for_resource(resourceArn=arn).get("tags", {}))

    def _add_log_group(self, group: dict[str, Any], region: str, reason: str) -> None:
        arn = group.get("logGroupArn") or group.get("arn") or f"log-group:{region}:{group['logGroupName']}"
        stored = int(group.get("storedBytes") or 0)
        self.add(arn, "log group", group["logGroupName"], region, reason, f"{stored:,} bytes stored")

    def _job_streams(self, logs: Any, group: dict[str, Any], region: str) -> None:
        """The streams of this copy's jobs (``<job name>/<instance>...``), counted per group."""
        name, prefix = group["logGroupName"], self._own_prefix
        role = self._training_job_role if name.endswith("/TrainingJobs") else self._transform_job_role
        owners: dict[str, bool | None] = {}  # per job: its streams are one per instance
        counts: Counter[bool | None] = Counter()
        for page in _pages(logs, "describe_log_streams", logGroupName=name, logStreamNamePrefix=prefix):
            for stream in page.get("logStreams", []):
                job = stream["logStreamName"].split("/", 1)[0]
                if job not in owners:
                    owners[job] = self._owner(job, region, role)
                counts[owners[job]] += 1
        reason = "written by the training workflow's jobs; the shared group outlives the stacks"
        if counts[True]:
            self.add(f"{name}|{prefix}|{region}", "log streams", f"{name} ({counts[True]} x {prefix}*)", region, reason)
        if counts[None]:
            label = f"{name} ({counts[None]} x {prefix}* of jobs it cannot attribute)"
            self.add(
                f"{name}|{prefix}?|{region}", "log streams", label, region, reason, self._ambiguous, leftover=False
            )

    def _endpoint_log_group(self, group: dict[str, Any], region: str) -> None:
        endpoint = group["logGroupName"].removeprefix(ENDPOINT_LOG_GROUPS)
        try:
            self.aws.client("sagemaker", region).describe_endpoint(EndpointName=endpoint)
            return  # a live endpoint: attributed (or not) by the endpoint check
        except Exception as exc:
            if not _missing(exc):
                raise
        self.add(
            group.get("logGroupArn") or group["logGroupName"],
            "log group",
            group["logGroupName"],
            region,
            "log group of an endpoint that no longer exists: check whether it was this project's",
            leftover=False,
        )

    # Kinesis ---------------------------------------------------------------------------------------------------

    def kinesis_streams(self, region: str) -> None:
        kinesis = self.aws.client("kinesis", region)
        for page in _pages(kinesis, "list_streams"):
            summaries = page.get("StreamSummaries") or [{"StreamName": n} for n in page.get("StreamNames", [])]
            for stream in summaries:
                name = stream["StreamName"]
                if not self._generated.match(name):
                    continue
                tags = kinesis.list_tags_for_stream(StreamName=name).get("Tags", [])
                if self._foreign({t["Key"]: t["Value"] for t in tags}):
                    continue
                arn = stream.get("StreamARN") or f"arn:{self.partition}:kinesis:{region}:{self.account}:stream/{name}"
                self.add(arn, "kinesis stream", name, region, f"name starts with {self.prefix}-<stack>-", _STREAM_COST)

    # SageMaker -------------------------------------------------------------------------------------------------

    def _describe(self, region: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """A SageMaker Describe call; {} when the resource is gone."""
        try:
            return dict(getattr(self.aws.client("sagemaker", region), operation)(**kwargs))
        except Exception as exc:
            if _missing(exc):
                return {}
            raise

    # The role a run-time resource runs with, by its name; None when it (or the model it names) is gone. Jobs
    # are kept after they end: the role of a job whose log streams remain is known.

    def _model_role(self, name: str | None, region: str) -> str | None:
        return self._describe(region, "describe_model", ModelName=name).get("ExecutionRoleArn") if name else None

    def _config_role(self, name: str | None, region: str) -> str | None:
        if not name:
            return None
        variants = self._describe(region, "describe_endpoint_config", EndpointConfigName=name).get("ProductionVariants")
        return self._model_role((variants or [{}])[0].get("ModelName"), region)

    def _training_job_role(self, name: str, region: str) -> str | None:
        return self._describe(region, "describe_training_job", TrainingJobName=name).get("RoleArn")

    def _transform_job_role(self, name: str, region: str) -> str | None:
        job = self._describe(region, "describe_transform_job", TransformJobName=name)
        return self._model_role(job.get("ModelName"), region)

    def _tuning_job_role(self, name: str, region: str) -> str | None:
        job = self._describe(region, "describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=name)
        return (job.get("TrainingJobDefinition") or {}).get("RoleArn")

    def endpoints(self, region: str) -> None:
        # Every endpoint, attributed by the role of the model it serves: the app's endpoint has a generated
        # name without the prefix (it is tagged, but an endpoint bills every hour: look twice).
        sm = self.aws.client("sagemaker", region)
        for page in _pages(sm, "list_endpoints"):
            for item in page.get("Endpoints", []):
                endpoint = self._describe(region, "describe_endpoint", EndpointName=item["EndpointName"])
                if not endpoint:
                    continue
                config = endpoint.get("EndpointConfigName")
                owner = self._role_is_ours(self._config_role(config, region))
                if owner is None:  # its model is gone: the workflow names the endpoint configs it rolls to
                    owner = self._name_is_ours(config or "")
                if owner is not False:
                    reason = "serves a model of this project's roles, or an endpoint config of its training runs"
                    self._add_endpoint(endpoint, region, reason, leftover=bool(owner))

    def _add_endpoint(self, endpoint: dict[str, Any], region: str, reason: str, *, leftover: bool = True) -> None:
        detail = f"{endpoint.get('EndpointStatus', '?')}: an endpoint bills every hour it exists"
        if not leftover:
            detail = f"{detail}; {self._ambiguous}"
        self.add(
            endpoint["EndpointArn"],
            "sagemaker endpoint",
            endpoint["EndpointName"],
            region,
            reason,
            detail,
            leftover=leftover,
        )

    def _runtime_resources(
        self,
        region: str,
        kind: str,
        listing: tuple[str, str, str, str],
        role: Callable[[str, str], str | None],
        reason: str,
        **kwargs: Any,
    ) -> None:
        """This copy's run-time resources among those a SageMaker list call returns: ``listing`` is its operation
        and the keys of its list, of the names and of the ARNs; NameContains narrows to ``<prefix>-...``."""
        operation, list_key, name_key, arn_key = listing
        sm = self.aws.client("sagemaker", region)
        for page in _pages(sm, operation, NameContains=self._own_prefix, **kwargs):
            for item in page.get(list_key, []):
                name = item[name_key]
                self._runtime(item[arn_key], kind, name, region, self._owner(name, region, role), reason)

    def endpoint_configs(self, region: str) -> None:
        reason = "created at run time by the training workflow; cdk destroy does not delete it (free)"
        listing = ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn")
        self._runtime_resources(region, "sagemaker endpoint config", listing, self._config_role, reason)

    def models(self, region: str) -> None:
        reason = "created at run time by the training workflow; cdk destroy does not delete it (free)"
        listing = ("list_models", "Models", "ModelName", "ModelArn")
        self._runtime_resources(region, "sagemaker model", listing, self._model_role, reason)

    def jobs(self, region: str) -> None:
        """Jobs still running (jobs that ended cannot be deleted and cost nothing)."""
        reason = "still running: bills until it stops"
        listings: list[tuple[str, tuple[str, str, str, str], Callable[[str, str], str | None]]] = [
            (
                "sagemaker training job",
                ("list_training_jobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobArn"),
                self._training_job_role,
            ),
            (
                "sagemaker transform job",
                ("list_transform_jobs", "TransformJobSummaries", "TransformJobName", "TransformJobArn"),
                self._transform_job_role,
            ),
            (
                "sagemaker tuning job",
                (
                    "list_hyper_parameter_tuning_jobs",
                    "HyperParameterTuningJobSummaries",
                    "HyperParameterTuningJobName",
                    "HyperParameterTuningJobArn",
                ),
                self._tuning_job_role,
            ),
        ]
        for kind, listing, role in listings:
            self._runtime_resources(region, kind, listing, role, reason, StatusEquals="InProgress")

    def model_package_groups(self, region: str) -> None:
        sm = self.aws.client("sagemaker", region)
        for page in _pages(sm, "list_model_package_groups", NameContains=self.prefix):
            for item in page.get("ModelPackageGroupSummaryList", []):
                name = item["ModelPackageGroupName"]
                if self._generated.match(name):
                    self._add_package_group(
                        name, item["ModelPackageGroupArn"], region, f"name starts with {self.prefix}-<stack>-"
                    )

    def _add_package_group(self, name: str, arn: str, region: str, reason: str) -> None:
        sm = self.aws.client("sagemaker", arn.split(":")[3] or self.regions[0])
        packages = sum(
            len(page.get("ModelPackageSummaryList", []))
            for page in _pages(sm, "list_model_packages", ModelPackageGroupName=name)
        )
        self.add(
            arn,
            "sagemaker model package group",
            name,
            region,
            reason,
            f"retained by the training stack, holds {packages} model package(s); {_FIXED_NAME}",
        )

    # Glue and Athena -------------------------------------------------------------------------------------------

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
        glue = self.aws.client("glue", region)
        for page in _pages(glue, "get_databases"):
            for item in page.get("DatabaseList", []):
                if item["Name"] == self.database:
                    arn = f"arn:{self.partition}:glue:{region}:{self.account}:database/{item['Name']}"
                    self.add(arn, "glue database", item["Name"], region, "the lake's database name", _FIXED_NAME)

    def quality_rulesets(self, region: str) -> None:
        glue = self.aws.client("glue", region)
        for page in _pages(glue, "list_data_quality_rulesets"):
            for item in page.get("Rulesets", []):
                if self._generated.match(item["Name"]):
                    arn = f"arn:{self.partition}:glue:{region}:{self.account}:dataQualityRuleset/{item['Name']}"
                    reason = f"name starts with {self.prefix}-<stack>-"
                    self.add(arn, "glue data quality ruleset", item["Name"], region, reason, _FIXED_NAME)

    def workgroups(self, region: str) -> None:
        athena = self.aws.client("athena", region)
        for page in _pages(athena, "list_work_groups"):
            for item in page.get("WorkGroups", []):
                if item["Name"] == self.workgroup:
                    arn = f"arn:{self.partition}:athena:{region}:{self.account}:workgroup/{item['Name']}"
                    self.add(arn, "athena workgroup", item["Name"], region, "the lake's workgroup name", _FIXED_NAME)

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


_STREAM_COST = "a stream bills every hour (per shard, or per stream on demand)"
_UNVERIFIED = "no read-back for this type, and the Tagging API can list a resource for a while after it is deleted"
_FIXED_NAME = "free, but retained with a fixed name: the next deploy of this prefix fails until it is deleted"

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


def _is_aws_error(exc: Exception) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError)


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
        description="List what is left of the app in an AWS account: resources tagged Project=<prefix>, and "
        "by name what tags do not reach (buckets, stacks, log groups, SageMaker endpoints, models, running jobs, "
        "model package groups, Glue and Athena names). Read-only.",
        epilog="Exit status: 0 nothing left; 1 something left, or a check could not run; 2 bad arguments or "
        "no usable credentials. How to remove leftovers: " + RUNBOOK,
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
