"""Shared helpers of the declared rows: S3 URIs, bucket keys, request contexts and call construction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tools.iam.calls import Call, ContextValue
from tools.iam.deployment import Deployment, Resource


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/prefix`` -> ``("bucket", "key/prefix")``."""
    bucket, _, key = str(uri).removeprefix("s3://").partition("/")
    return bucket, key


def object_under(prefix: str, name: str) -> str:
    """A sample object key under a prefix (a URI's key, possibly without a trailing slash)."""
    return f"{prefix.rstrip('/')}/{name}" if prefix else name


def bucket(deployment: Deployment, name: str) -> Resource | None:
    return deployment.find("AWS::S3::Bucket", "Ref", name)


def bucket_key(deployment: Deployment, name: str) -> str | None:
    """The KMS key ARN a bucket encrypts new objects with by default (SSE-KMS), if any."""
    res = bucket(deployment, name)
    if res is None:
        return None
    rules = res.props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    for rule in rules:
        default = rule.get("ServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
            return key_arn(deployment, default.get("KMSMasterKeyID")) or deployment.aws_managed_key("s3")
    return None


def key_arn(deployment: Deployment, reference: Any) -> str | None:
    """A KMS key ARN from an ARN, key id or alias the templates use."""
    if not reference:
        return None
    text = str(reference)
    if text.startswith("arn:") and ":key/" in text:
        return text
    found = deployment.find("AWS::KMS::Key", "Ref", text)
    return found.att("Arn") if found is not None else deployment.env.arn("kms", f"key/{text}")


def s3_kms_context(deployment: Deployment, bucket_name: str, key: str) -> dict[str, ContextValue]:
    """The context S3 sends when it uses a KMS key for an object (SSE-KMS): the service and the object."""
    env = deployment.env
    return {
        "kms:ViaService": env.endpoint("s3"),
        "kms:EncryptionContext:aws:s3:arn": env.s3(bucket_name, key) if key else env.s3(bucket_name),
    }


def list_context(prefix: str) -> dict[str, ContextValue]:
    return {"s3:prefix": prefix, "s3:delimiter": "/"}


class Emitter:
    """Builds the calls of one row: the row id is the calls' source."""

    def __init__(self, deployment: Deployment, source: str) -> None:
        self.deployment = deployment
        self.env = deployment.env
        self.source = source

    def call(
        self,
        principal: str,
        actions: str | Iterable[str],
        resource: str,
        why: str,
        context: Mapping[str, ContextValue] | None = None,
        endpoints: tuple[str, ...] = (),
    ) -> Iterator[Call]:
        for action in [actions] if isinstance(actions, str) else actions:
            yield Call(principal, action, resource, self.source, why, dict(context or {}), endpoints)

    def s3_read(
        self, principal: str, uri: str, why: str, endpoints: tuple[str, ...] = (), *, kms: str | None = None
    ) -> Iterator[Call]:
        """Get an object (a URI ending in ``/`` is a prefix: list it, then get an object under it), and decrypt it
        with ``kms`` (objects written with a key of their own) or the bucket's default key, if KMS."""
        name, prefix = split_s3(uri)
        is_prefix = not prefix or prefix.endswith("/")
        key = object_under(prefix, "part-00000") if is_prefix else prefix
        if is_prefix:
            yield from self.call(principal, "s3:ListBucket", self.env.s3(name), why, list_context(prefix), endpoints)
        yield from self.call(principal, "s3:GetObject", self.env.s3(name, key), why, endpoints=endpoints)
        kms = kms or bucket_key(self.deployment, name)
        if kms:
            yield from self.call(principal, "kms:Decrypt", kms, why, s3_kms_context(self.deployment, name, key))

    def s3_write(
        self, principal: str, uri: str, why: str, *, kms: str | None = None, endpoints: tuple[str, ...] = ()
    ) -> Iterator[Call]:
        """Put an object under the prefix; with SSE-KMS (the given key or the bucket's), generate its data key."""
        name, prefix = split_s3(uri)
        key = prefix if prefix and not prefix.endswith("/") else object_under(prefix, "part-00000")
        yield from self.call(principal, "s3:PutObject", self.env.s3(name, key), why, endpoints=endpoints)
        kms = kms or bucket_key(self.deployment, name)
        if kms:
            context = s3_kms_context(self.deployment, name, key)
            yield from self.call(principal, "kms:GenerateDataKey", kms, why, context)

    def logs(self, principal: str, group: str, stream: str, why: str, *, create_group: bool = False) -> Iterator[Call]:
        """Create a stream in a log group (and the group, when the service may have to) and put events."""
        if create_group:
            yield from self.call(principal, "logs:CreateLogGroup", self.env.log_stream(group, ""), why)
        target = self.env.log_stream(group, stream)
        yield from self.call(principal, ["logs:CreateLogStream", "logs:PutLogEvents"], target, why)
