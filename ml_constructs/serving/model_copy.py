"""The default model and its baseline, copied into the artifacts zone at deploy time.

The endpoint runs in the isolated subnets, whose S3 gateway endpoint admits the lake buckets only, so the
shipped files (``default_model/``, built by ``make default-model``) are copied there by CDK's BucketDeployment.
Its handler gets a role of its own, immutable so that CDK's broad grants (read-write and delete on the whole
bucket) cannot attach, with exactly: read the source archives, write the two prefixes (models/default/, which
holds the preprocessing artifact and the baseline too), use the key through S3, write its logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as deployment
from constructs import Construct, IConstruct

from ml_constructs.common import key_through, retention_days
from ml_constructs.lake_layout import (
    BASELINE_PREFIX,
    DEFAULT_MODEL_PREFIX,
    DEFAULT_PREPROCESSING_FILE,
    DEFAULT_PREPROCESSING_PREFIX,
)
from ml_constructs.nag import (
    LAMBDA_RELIABILITY_PACKS,
    UNRESERVED_CONCURRENCY_REASON,
    acknowledge,
    acknowledge_grant_policy,
    acknowledge_packs,
    acknowledge_wildcard_resources,
)

#: The committed default model: ``model.tar.gz``, its baseline, a manifest and a README (not copied).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
#: What is copied where: (construct id part, folder under DEFAULT_MODEL_DIR, its files, prefix in the artifacts
#: bucket). The preprocessing archive is the inference pipeline's first container (code and fitted JSON).
COPIES = (
    ("Model", ".", ("model.tar.gz",), DEFAULT_MODEL_PREFIX),
    ("Preprocessing", ".", (DEFAULT_PREPROCESSING_FILE,), DEFAULT_PREPROCESSING_PREFIX),
    ("Baseline", ".", ("statistics.json", "constraints.json"), BASELINE_PREFIX),
)


@dataclass(frozen=True)
class DefaultModelCopy:
    role: iam.Role  # the deployment handler's role
    model: deployment.BucketDeployment  # model.tar.gz -> DEFAULT_MODEL_PREFIX
    preprocessing: deployment.BucketDeployment  # the preprocessing archive -> DEFAULT_PREPROCESSING_PREFIX
    baseline: deployment.BucketDeployment  # statistics.json, constraints.json -> BASELINE_PREFIX


def copy_default_model(
    scope: Construct,
    *,
    artifacts: s3.IBucket,
    key: kms.IKey,
    s3_kms: bool,
    log_retention: logs.RetentionDays,
    removal_policy: cdk.RemovalPolicy,
) -> DefaultModelCopy:
    """Copy the default model and its baseline into ``artifacts`` (KMS-encrypted with ``key`` when ``s3_kms``)."""
    role = iam.Role(
        scope,
        "DeploymentRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="Copies the default model and baseline into the artifacts zone at deploy time",
    )
    sources = {
        name: s3_assets.Asset(
            scope, f"{name}Asset", path=str(DEFAULT_MODEL_DIR / folder), exclude=["*", *(f"!{f}" for f in files)]
        )
        for name, folder, files, _ in COPIES
    }
    policy = _deployment_policy(scope, role, list(sources.values()), artifacts, key, s3_kms)
    copies = {}
    for name, _, _, prefix in COPIES:
        asset = sources[name]
        copies[name] = deployment.BucketDeployment(
            scope,
            f"Default{name}",
            destination_bucket=artifacts,
            destination_key_prefix=prefix,
            sources=[deployment.Source.bucket(asset.bucket, asset.s3_object_key)],
            prune=False,  # never delete other objects under the prefix
            role=role.without_policy_updates(),
            server_side_encryption_aws_kms_key_id=key.key_arn if s3_kms else None,
            server_side_encryption=deployment.ServerSideEncryption.AWS_KMS if s3_kms else None,
        )
        copies[name].node.add_dependency(policy)
    _adopt_handler(cdk.Stack.of(scope), key, log_retention, removal_policy)
    return DefaultModelCopy(
        role=role, model=copies["Model"], preprocessing=copies["Preprocessing"], baseline=copies["Baseline"]
    )


def _deployment_policy(
    scope: Construct,
    role: iam.Role,
    sources: list[s3_assets.Asset],
    artifacts: s3.IBucket,
    key: kms.IKey,
    s3_kms: bool,
) -> iam.Policy:
    """Read the source archives, write (never delete) the two prefixes, use the key through S3, write logs."""
    every = [prefix for *_, prefix in COPIES]  # models/default/preprocessing/ is inside models/default/
    prefixes = [p for p in dict.fromkeys(every) if not any(p != q and p.startswith(q) for q in every)]
    destinations = [artifacts.arn_for_objects(f"{prefix}*") for prefix in prefixes]
    handler_logs = cdk.Stack.of(scope).format_arn(
        service="logs",
        resource="log-group",
        resource_name="/aws/lambda/*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    statements = [
        iam.PolicyStatement(
            sid="ReadSources",
            actions=["s3:GetObject"],
            resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in sources],
        ),
        iam.PolicyStatement(sid="WriteDestinations", actions=["s3:PutObject"], resources=destinations),
        iam.PolicyStatement(
            sid="ListDestination",
            actions=["s3:ListBucket"],
            resources=[artifacts.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        ),
        iam.PolicyStatement(
            sid="Logs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[handler_logs],
        ),
    ]
    if s3_kms:  # whole-object uploads (the files are far below the CLI's multipart threshold): data keys only
        statements.append(key_through(scope, key, ["kms:GenerateDataKey"], "s3", sid="EncryptThroughS3"))
    policy = iam.Policy(scope, "DeploymentPolicy", roles=[role], statements=statements)
    acknowledge_wildcard_resources(
        policy.node.default_child,  # type: ignore[arg-type]
        [*destinations, handler_logs],
        "Objects under the models/default/ prefix of the artifacts bucket, and the "
        "deployment function's own /aws/lambda/ log group, whose name CDK generates.",
    )
    acknowledge_grant_policy(
        policy,
        "The deployment role's policy, statement by statement what the copy of the default model needs, attached "
        "to this one role; a customer-managed policy would add an attachable copy without narrowing it.",
    )
    return policy


def _adopt_handler(
    stack: cdk.Stack, key: kms.IKey, log_retention: logs.RetentionDays, removal_policy: cdk.RemovalPolicy
) -> None:
    """CDK's deployment handler (one per stack) logs to a group aws-cdk-lib creates with two years' retention, no
    key and RETAIN: a leftover after every ``cdk destroy``. It gets the project's retention, key and removal policy
    instead; its runtime, chosen by aws-cdk-lib, is acknowledged."""
    for group in stack.node.find_all():
        if isinstance(group, logs.CfnLogGroup) and "/Custom::CDKBucketDeployment" in f"/{group.node.path}":
            group.retention_in_days = retention_days(log_retention)
            group.kms_key_id = key.key_arn
            group.apply_removal_policy(removal_policy)
    for child in stack.node.children:
        if child.node.id.startswith("Custom::CDKBucketDeployment"):
            acknowledge(
                child,
                "AwsSolutions-L1",
                "The runtime of CDK's BucketDeployment handler is chosen by aws-cdk-lib (with its AWS CLI layer) "
                "and moves with it; the function runs only during deploys.",
            )
            _acknowledge_handler_packs(child)


def _acknowledge_handler_packs(handler: IConstruct) -> None:
    """The conformance packs' Lambda findings on CDK's deployment handler, which runs only during deploys."""
    acknowledge_packs(
        handler,
        "LambdaDLQ",
        "CloudFormation invokes CDK's deployment handler for its custom resource and waits for the answer; a "
        "failure fails and rolls back the stack operation, so no failed event is left to keep in a queue.",
        LAMBDA_RELIABILITY_PACKS,
    )
    acknowledge_packs(handler, "LambdaConcurrency", UNRESERVED_CONCURRENCY_REASON, LAMBDA_RELIABILITY_PACKS)
    acknowledge_packs(
        handler,
        "LambdaInsideVPC",
        "CDK's deployment handler copies the packaged model from the CDK asset bucket into the artifacts bucket; "
        "the isolated VPC has no NAT and its S3 endpoint admits only the lake buckets, so inside it the handler "
        "could not read the asset bucket.",
    )
