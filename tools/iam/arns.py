"""The one deploy the check reasons about (account, region, partition) and the ARNs built for it.

Every ARN the check builds goes through ``Environment`` so that a deploy to another partition (aws-cn,
aws-us-gov) gets its ARNs and service endpoints right: ARN formats per service are those of the Service
Authorization Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/reference.html,
checked 2026-12).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: The DNS suffix of each partition (what ``AWS::URLSuffix`` resolves to).
URL_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


@dataclass(frozen=True)
class Environment:
    """One account, region and partition: the concrete values every token resolves to."""

    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"

    @property
    def url_suffix(self) -> str:
        return URL_SUFFIX[self.partition]

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        """``arn:<partition>:<service>:<region>:<account>:<resource>``; pass ``""`` for a global part."""
        return (
            f"arn:{self.partition}:{service}:{self.region if region is None else region}:"
            f"{self.account if account is None else account}:{resource}"
        )

    def endpoint(self, service: str) -> str:
        """A regional service endpoint, the value ``kms:ViaService`` carries (``s3.us-east-1.amazonaws.com``)."""
        return f"{service}.{self.region}.{self.url_suffix}"

    def role_arn(self, name: str, path: str = "/") -> str:
        return self.arn("iam", f"role{path}{name}", region="")

    def session_arn(self, role_name: str, session: str) -> str:
        """The assumed-role session a service acts as when it uses a role."""
        return self.arn("sts", f"assumed-role/{role_name}/{session}", region="")

    def s3(self, bucket: str, key: str | None = None) -> str:
        return self.arn("s3", bucket if key is None else f"{bucket}/{key}", region="", account="")

    def log_stream(self, group: str, stream: str) -> str:
        """The resource ``logs:CreateLogStream`` and ``logs:PutLogEvents`` are authorized against."""
        return self.arn("logs", f"log-group:{group}:log-stream:{stream}")

    def log_group(self, group: str) -> str:
        return self.arn("logs", f"log-group:{group}")

    def glue(self, resource: str) -> str:
        return self.arn("glue", resource)


def token(*parts: str, length: int = 12, alphabet: str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") -> str:
    """A deterministic pseudo-random suffix, as CloudFormation appends to the names it generates."""
    digest = int(hashlib.sha256("/".join(parts).encode()).hexdigest(), 16)
    out = []
    for _ in range(length):
        digest, index = divmod(digest, len(alphabet))
        out.append(alphabet[index])
    return "".join(out)


def hex_id(*parts: str, length: int = 17) -> str:
    """A deterministic hexadecimal id (EC2 resource ids: ``vpc-0a1b...``)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def uuid_like(*parts: str) -> str:
    """A deterministic UUID-shaped id (KMS key ids)."""
    h = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
