"""The grants the crawlers and the job share: one prefix of one bucket, the lake database's catalog, Glue's
own log groups, the lake key through the services that use it. Each wildcard resource is recorded in the
caller's ``WildcardLedger`` and acknowledged by name at the end of the construct."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from ml_constructs.common import key_through
from ml_constructs.nag import WildcardLedger


def grant_prefix(role: iam.Role, bucket: s3.IBucket, prefix: str, *, write: bool, ledger: WildcardLedger) -> None:
    """Objects under one prefix of one bucket: read, or read and write (deletes: the job rewrites it). No
    s3:AbortMultipartUpload: Glue documents none for a job's role, and the lake's lifecycle rule removes the parts
    of an upload that never completed."""
    objects = bucket.arn_for_objects(f"{prefix}*")
    actions = ["s3:GetObject"] + (["s3:PutObject", "s3:DeleteObject"] if write else [])
    role.add_to_policy(iam.PolicyStatement(actions=actions, resources=[objects]))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*", prefix.rstrip("/")]}},
        )
    )
    ledger.track(role, objects)


def grant_catalog(role: iam.Role, database: glue.IDatabase, *, ledger: WildcardLedger) -> None:
    """Read the tables and partitions of the lake database, create and update them (what a crawler does)."""
    stack = cdk.Stack.of(role)
    actions = [
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:GetTables",
        "glue:GetPartition",
        "glue:GetPartitions",
        "glue:BatchGetPartition",
        "glue:CreateTable",
        "glue:UpdateTable",
        "glue:CreatePartition",
        "glue:BatchCreatePartition",
        "glue:UpdatePartition",
        "glue:BatchUpdatePartition",
    ]
    tables = stack.format_arn(service="glue", resource="table", resource_name=f"{database.database_name}/*")
    role.add_to_policy(
        iam.PolicyStatement(
            sid="LakeCatalog",
            actions=actions,
            resources=[stack.format_arn(service="glue", resource="catalog"), database.database_arn, tables],
        )
    )
    ledger.track(role, tables)


def grant_glue_logs(role: iam.Role, kind: str, *, ledger: WildcardLedger) -> None:
    """Glue writes to /aws-glue/<kind>/... log groups; with a security configuration it also associates
    the lake key with them (logs:AssociateKmsKey)."""
    groups = cdk.Stack.of(role).format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"/aws-glue/{kind}*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="GlueLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
            resources=[groups],
        )
    )
    ledger.track(role, groups)


def grant_key(role: iam.Role, key: kms.IKey, *, s3_kms: bool, writes_s3: bool) -> None:
    """The lake key through S3, for objects when the lake uses SSE-KMS: decrypt to read, data keys to write (for
    the writer). Only what that use needs: a Data Catalog encrypted with the key gets its own statement
    (grant_catalog_key); Glue's log groups need nothing here, since CloudWatch Logs encrypts them with its own
    statement in the key policy and the role only associates the key (grant_glue_logs)."""
    if s3_kms:
        actions = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if writes_s3 else [])
        role.add_to_policy(key_through(role, key, actions, "s3", sid="LakeKeyThroughS3"))


def grant_catalog_key(role: iam.IRole, key: kms.IKey) -> None:
    """The lake key through Glue, for a Data Catalog encrypted with it: decrypt to read tables, data keys to write
    them (what a crawler does)."""
    role.add_to_principal_policy(
        key_through(role, key, ["kms:Decrypt", "kms:GenerateDataKey"], "glue", sid="LakeKeyThroughGlue")
    )
