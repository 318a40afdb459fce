"""Record the AWS requests our own code makes, as the IAM check's recorded calls (``--recorded``, JSON lines).

``recording(principal, sink, names)`` is a context manager: every AWS request made inside the block, by the
thread that entered it, is written to ``sink`` as one line::

    {"action": "s3:GetObject", "context": {}, "principal": "mlspec-training/TrainingEvaluateRole17A45342",
     "resource": "arn:aws:s3:::${mlspec-data-lake/DataLakeArtifactsB270B651}/evaluation/...", "source": "..."}

How: botocore event handlers (``before-parameter-build`` keeps the request's parameters, ``before-call`` writes
the line, ``after-call`` adds the KMS call S3 makes with the caller's permissions for an SSE-KMS object),
registered on boto3's default session, which ``boto3.client`` uses (the runtime code's way of making clients),
and on every botocore session created inside the block. Clients made before the block are not seen; a client
made inside it records nothing once the block has exited.

The IAM action of each operation comes from ``OPERATIONS``, an explicit table of the operations our runtime
code calls (Service Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/,
checked 2026-12). An operation missing from it raises ``UnknownOperationError`` (the request is not made), and
the block raises it again on exit in case the code under it swallowed it: the table stays complete.

Physical names differ between the local sandbox and the deploy the check resolves, so each name listed in
``names`` (physical name -> ``stack/logical id``, from ``deployed_names``) is written, wherever it occurs whole
(a bucket, a key id, an endpoint name inside an object key), as the placeholder ``${stack/logical id}`` (the
resource's ``Ref``) or ``${stack/logical id.Attribute}`` (its name, for a resource whose ``Ref`` is an ARN),
which the check replaces with the value it resolves. The KMS call's encryption context is the object's ARN,
or the bucket's when the bucket uses an S3 Bucket Key (``buckets_with_bucket_keys``: as the deployed
templates say, since the local server does not keep that setting).
``patterns`` then replaces what differs from run to run (UUIDs, the hour of a path, a part number) with stable
placeholders, ``{uuid}`` and the like, and deduplicates: the form of the committed recording.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

Params = Mapping[str, Any]

#: The S3 documentation of the KMS permissions an SSE-KMS request needs from its caller.
S3_KMS_DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html"

#: The resource types whose names can appear in a request, each with the attribute that carries its name when
#: its ``Ref`` is an ARN (None: ``Ref`` is the name or id itself).
NAMED_TYPES: dict[str, str | None] = {
    "AWS::S3::Bucket": None,
    "AWS::KMS::Key": None,
    "AWS::IAM::Role": None,
    "AWS::Lambda::Function": None,
    "AWS::Kinesis::Stream": None,
    "AWS::KinesisFirehose::DeliveryStream": None,
    "AWS::Logs::LogGroup": None,
    "AWS::Glue::Job": None,
    "AWS::SNS::Topic": "TopicName",
    "AWS::StepFunctions::StateMachine": "Name",
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
}


class UnknownOperationError(LookupError):
    """An AWS operation with no row in ``OPERATIONS``: add it (action, resource, context) before recording."""


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


@dataclass(frozen=True)
class Request:
    """One request as the table sees it: its API parameters and the client's region."""

    params: Params
    region: str

    def s3(self, key: str | None = None) -> str:
        bucket = str(self.params["Bucket"])
        return f"arn:{_partition(self.region)}:s3:::{bucket}" + ("" if key is None else f"/{key}")

    def s3_endpoint(self) -> str:
        return f"s3.{self.region}.amazonaws.com" + (".cn" if self.region.startswith("cn-") else "")


def _bucket(request: Request) -> str:
    return request.s3()


def _object(request: Request) -> str:
    return request.s3(str(request.params["Key"]))


def _list_context(request: Request) -> dict[str, str]:
    """The condition keys S3 sets for a listing (only those the request carries)."""
    keys = {"Prefix": "s3:prefix", "Delimiter": "s3:delimiter", "MaxKeys": "s3:max-keys"}
    return {key: str(request.params[name]) for name, key in keys.items() if name in request.params}


#: The account of every ARN our code's SageMaker calls name (the local server's, and the check's deploy's).
ACCOUNT = "123456789012"


def _sagemaker(request: Request, kind: str, name: object) -> str:
    return f"arn:{_partition(request.region)}:sagemaker:{request.region}:{ACCOUNT}:{kind}/{name}"


def _nothing(request: Request) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Operation:
    """How one operation is authorized: its action, its resource and context, and, for S3 object requests on
    an SSE-KMS object, the KMS action S3 then makes with the caller's permissions (``S3_KMS_DOC``)."""

    action: str
    resource: Callable[[Request], str]
    context: Callable[[Request], dict[str, str]] = _nothing
    kms: str | None = None


#: (service id as botocore hyphenizes it, operation) -> how IAM authorizes it.
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("s3", "ListObjectsV2"): Operation("s3:ListBucket", _bucket, _list_context),
    ("s3", "ListObjects"): Operation("s3:ListBucket", _bucket, _list_context),
    ("s3", "HeadObject"): Operation("s3:GetObject", _object),
    ("s3", "GetObject"): Operation("s3:GetObject", _object, kms="kms:Decrypt"),
    ("s3", "PutObject"): Operation("s3:PutObject", _object, kms="kms:GenerateDataKey"),
    ("s3", "CreateMultipartUpload"): Operation("s3:PutObject", _object, kms="kms:GenerateDataKey"),
    ("s3", "UploadPart"): Operation("s3:PutObject", _object),
    ("s3", "CompleteMultipartUpload"): Operation("s3:PutObject", _object, kms="kms:Decrypt"),
    ("s3", "AbortMultipartUpload"): Operation("s3:AbortMultipartUpload", _object),
    ("cloudwatch", "PutMetricData"): Operation(
        "cloudwatch:PutMetricData", lambda r: "*", lambda r: {"cloudwatch:namespace": str(r.params["Namespace"])}
    ),
    ("sns", "Publish"): Operation("sns:Publish", lambda r: str(r.params.get("TopicArn") or r.params["TargetArn"])),
    ("sagemaker", "DescribeEndpoint"): Operation(
        "sagemaker:DescribeEndpoint", lambda r: _sagemaker(r, "endpoint", r.params["EndpointName"])
    ),
    ("sagemaker", "DescribeEndpointConfig"): Operation(
        "sagemaker:DescribeEndpointConfig", lambda r: _sagemaker(r, "endpoint-config", r.params["EndpointConfigName"])
    ),
    ("sagemaker", "DescribeModel"): Operation(
        "sagemaker:DescribeModel", lambda r: _sagemaker(r, "model", r.params["ModelName"])
    ),
}


class Names:
    """Physical names of deployed resources -> ``${stack/logical id}`` (or ``${stack/logical id.Attribute}``)
    placeholders, replaced wherever they occur whole in a recorded string."""

    def __init__(self, names: Mapping[str, str], bucket_keys: Iterable[str] = ()) -> None:
        self.names = dict(names)
        #: Buckets whose SSE-KMS objects use an S3 Bucket Key (the encryption context is then the bucket's ARN).
        self.bucket_keys = frozenset(bucket_keys)
        alternatives = "|".join(re.escape(name) for name in sorted(self.names, key=len, reverse=True))
        self._pattern = re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w.-])") if self.names else None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda match: f"${{{self.names[match.group(0)]}}}", text)


class _Recording:
    """The handlers of one block; ``active`` turns them off for clients that outlive it."""

    def __init__(self, principal: str, sink: TextIO, names: Names, source: str) -> None:
        self.principal, self.sink, self.names, self.source = principal, sink, names, source
        self.thread = threading.get_ident()
        self.active = True
        self.error: UnknownOperationError | None = None
        self.handlers: list[tuple[str, Callable[..., None]]] = [
            ("before-parameter-build", self.keep),
            ("before-call", self.request),
            ("after-call", self.response),
        ]

    def mine(self) -> bool:
        return self.active and threading.get_ident() == self.thread

    def keep(self, params: Params, model: Any, context: dict[str, Any], **_: Any) -> None:
        """Before the request is built: find the operation's row (or fail), keep its parameters."""
        if not self.mine():
            return
        service = model.service_model.service_id.hyphenize()
        operation = OPERATIONS.get((service, model.name))
        if operation is None:
            self.error = UnknownOperationError(
                f"{service} {model.name} has no row in tools.iam.record.OPERATIONS: add its IAM action, resource "
                f"and context keys, then record again"
            )
            raise self.error
        context["iam_record"] = (operation, Request(dict(params), str(context.get("client_region"))))

    def request(self, context: dict[str, Any], **_: Any) -> None:
        """The request goes out: one line."""
        if self.mine() and "iam_record" in context:
            operation, request = context["iam_record"]
            self.write(operation.action, operation.resource(request), operation.context(request))

    def response(self, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        """After an S3 object request on an SSE-KMS object: the KMS call S3 made with our permissions."""
        if not self.mine() or "iam_record" not in context:
            return
        operation, request = context["iam_record"]
        encrypted = parsed.get("ServerSideEncryption") in ("aws:kms", "aws:kms:dsse") and parsed.get("SSEKMSKeyId")
        if operation.kms is None or not encrypted:
            return
        # With an S3 Bucket Key the encryption context is the bucket's ARN, otherwise the object's.
        bucket_key = parsed.get("BucketKeyEnabled") or request.params["Bucket"] in self.names.bucket_keys
        subject = request.s3() if bucket_key else operation.resource(request)
        keys = {"kms:ViaService": request.s3_endpoint(), "kms:EncryptionContext:aws:s3:arn": subject}
        self.write(operation.kms, str(parsed["SSEKMSKeyId"]), keys)

    def write(self, action: str, resource: str, context: Mapping[str, str]) -> None:
        line = {
            "principal": self.principal,
            "action": action,
            "resource": self.names(resource),
            "context": {key: self.names(value) for key, value in context.items()},
            "source": self.source,
        }
        self.sink.write(json.dumps(line, sort_keys=True) + "\n")

    def register(self, events: Any) -> None:
        for event, handler in self.handlers:
            events.register(event, handler, unique_id=f"iam-record-{id(self)}-{event}")

    def unregister(self, events: Any) -> None:
        for event, handler in self.handlers:
            events.unregister(event, handler, unique_id=f"iam-record-{id(self)}-{event}")


@contextlib.contextmanager
def _new_sessions(recording: _Recording, registered: list[Any]) -> Iterator[None]:
    """Register the handlers on every botocore session the recording thread creates inside the block."""
    import botocore.session

    original = botocore.session.Session.__init__

    def init(session: Any, *args: Any, **kwargs: Any) -> None:
        original(session, *args, **kwargs)
        if recording.mine():
            events = session.get_component("event_emitter")
            recording.register(events)
            registered.append(events)

    botocore.session.Session.__init__ = init
    try:
        yield
    finally:
        botocore.session.Session.__init__ = original


@contextlib.contextmanager
def recording(
    principal: str, sink: TextIO, names: Names | Mapping[str, str] | None = None, source: str = ""
) -> Iterator[None]:
    """Write one line to ``sink`` for every AWS request this thread makes inside the block, as ``principal``
    (``stack/logical id`` of the role the code runs as); ``names``: physical name -> ``stack/logical id``."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    names = names if isinstance(names, Names) else Names(names or {})
    recorder = _Recording(principal, sink, names, source or principal)
    registered: list[Any] = [boto3.DEFAULT_SESSION.events]
    recorder.register(boto3.DEFAULT_SESSION.events)
    try:
        with _new_sessions(recorder, registered):
            yield
    finally:
        recorder.active = False
        for events in registered:
            recorder.unregister(events)
    if recorder.error is not None:
        raise recorder.error


# --- the deployed names and principals --------------------------------------------------------------------


def deployed_names(cloudformation: Any, stacks: Iterable[str]) -> dict[str, str]:
    """Physical name -> ``stack/logical id`` (``stack/logical id.Attribute`` for the name of a resource whose
    ``Ref`` is an ARN) of the resources of ``NAMED_TYPES`` in the stacks (CloudFormation's
    DescribeStackResources)."""
    names: dict[str, str] = {}
    for stack in stacks:
        for resource in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]:
            physical, kind = resource.get("PhysicalResourceId"), resource["ResourceType"]
            if not physical or kind not in NAMED_TYPES:
                continue
            reference = f"{stack}/{resource['LogicalResourceId']}"
            attribute = NAMED_TYPES[kind]
            if attribute is None:
                names[physical] = reference
                continue
            if physical.startswith("arn:"):
                names[physical] = reference
            names[physical.rsplit(":", 1)[-1].rsplit("/", 1)[-1]] = f"{reference}.{attribute}"
    return names


def buckets_with_bucket_keys(cloudformation: Any, stacks: Iterable[str]) -> set[str]:
    """The buckets whose default encryption uses an S3 Bucket Key, as the deployed templates say (GetTemplate)."""
    found = set()
    for stack in stacks:
        body = cloudformation.get_template(StackName=stack)["TemplateBody"]
        template = json.loads(body) if isinstance(body, str) else body
        resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
        physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
        for logical_id, resource in template.get("Resources", {}).items():
            encryption = resource.get("Properties", {}).get("BucketEncryption", {})
            rules = encryption.get("ServerSideEncryptionConfiguration", [])
            if resource["Type"] == "AWS::S3::Bucket" and any(r.get("BucketKeyEnabled") is True for r in rules):
                found.add(physical[logical_id])
    return found


def function_principal(configuration: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """``stack/logical id`` of a Lambda function's role, from its configuration (``GetFunction``)."""
    role = str(configuration["Role"]).rsplit("/", 1)[-1]
    if role not in names:
        raise LookupError(f"the role {configuration['Role']} of {configuration.get('FunctionName')} is in no stack")
    return names[role]


# --- stable patterns --------------------------------------------------------------------------------------

#: What differs between two runs of the same code, and the placeholder that stands for it.
STABLE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "{uuid}"),
    (re.compile(r"/\d{4}/\d{2}/\d{2}/\d{2}/"), "/{yyyy}/{mm}/{dd}/{hh}/"),
    (re.compile(r"/\d{2}-\d{2}-\d{3}-"), "/{MM}-{ss}-{mmm}-"),
    (re.compile(r"\bpart-\d{5}\b"), "part-{n}"),
)


def stable(text: str) -> str:
    for pattern, placeholder in STABLE:
        text = pattern.sub(placeholder, text)
    return text


def patterns(lines: Iterable[str]) -> list[str]:
    """The distinct calls of raw recorded lines, run-specific parts replaced, sorted."""
    distinct: dict[tuple[str, str, str, str], str] = {}
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        record["resource"] = stable(record["resource"])
        record["context"] = {k: stable(str(v)) for k, v in record.get("context", {}).items()}
        key = (record["principal"], record["action"], record["resource"], json.dumps(record["context"], sort_keys=True))
        distinct.setdefault(key, json.dumps(record, sort_keys=True))
    return [distinct[key] for key in sorted(distinct)]


class Recorder:
    """A run's recording: a ``recording`` block per invocation of our code, the patterns written at the end."""

    def __init__(self, names: Mapping[str, str], bucket_keys: Iterable[str] = ()) -> None:
        self.names = Names(names, bucket_keys)
        self.sink = io.StringIO()

    def as_function(self, configuration: Mapping[str, Any]) -> contextlib.AbstractContextManager[None]:
        """A block that runs as a Lambda function (its configuration, ``GetFunction``): its role is the principal,
        ``<handler> of <stack/logical id>`` the source."""
        principal = function_principal(configuration, self.names.names)
        function = self.names.names.get(configuration["FunctionName"], configuration["FunctionName"])
        return recording(principal, self.sink, self.names, f"{configuration['Handler']} of {function}")

    def patterns(self) -> list[str]:
        return patterns(self.sink.getvalue().splitlines())

    def write(self, path: Path) -> int:
        """Write the patterns to ``path``; returns how many."""
        lines = self.patterns()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines))
        return len(lines)
