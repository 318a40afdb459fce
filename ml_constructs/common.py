"""Small helpers shared by the constructs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import IConstruct

from ml_config.config import LOG_RETENTION_DAYS, RemovalPolicy

# RetentionDays lists the periods CloudWatch Logs accepts in increasing order, then INFINITE; a unit test
# checks the mapping against the synthesized RetentionInDays.
_RETENTION = dict(zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m.name != "INFINITE"], strict=True))


def log_retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a number of days CloudWatch Logs accepts (validated in the config)."""
    return _RETENTION[days]


def retention_days(retention: logs.RetentionDays) -> int:
    """The number of days of a RetentionDays member (for L1 properties such as ``RetentionInDays``)."""
    return next(days for days, member in _RETENTION.items() if member == retention)


def via_service(scope: IConstruct, *services: str) -> dict[str, dict[str, object]]:
    """IAM condition: the KMS key may be used only through these services of this region (kms:ViaService)."""
    stack = cdk.Stack.of(scope)
    names = [f"{service}.{stack.region}.{stack.url_suffix}" for service in services]
    return {"StringEquals": {"kms:ViaService": names[0] if len(names) == 1 else names}}


def sagemaker_vpc_access() -> iam.PolicyStatement:
    """What a SageMaker job or endpoint role needs to run in a VPC: its network interfaces. The ENIs get
    generated ids and the Describe calls have no resource type, hence '*' (acknowledged where it is used)."""
    return iam.PolicyStatement(
        sid="RunInTheVpc",
        actions=[
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeVpcs",
            "ec2:DescribeDhcpOptions",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
        ],
        resources=["*"],
    )


def removal_policy(policy: RemovalPolicy) -> cdk.RemovalPolicy:
    """The CDK removal policy for the configured lake.removal_policy (shared by every stateful resource)."""
    return cdk.RemovalPolicy.RETAIN if policy is RemovalPolicy.RETAIN else cdk.RemovalPolicy.DESTROY
