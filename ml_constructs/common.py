"""Small helpers shared by the constructs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

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


def sagemaker_security_group(scope: Construct, construct_id: str, vpc: ec2.IVpc, description: str) -> ec2.SecurityGroup:
    """The security group of SageMaker instances in the isolated subnets: no inbound, HTTPS out only.

    The isolated subnets' only route leads to the S3 gateway endpoint, whose policy admits the lake buckets only:
    the route table and the endpoint policy are the control, not this rule. (A rule on S3's managed prefix list
    would need a lookup at synth, which this project does not do.)
    """
    group = ec2.SecurityGroup(scope, construct_id, vpc=vpc, description=description, allow_all_outbound=False)
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: S3 via the gateway endpoint")
    return group


def removal_policy(policy: RemovalPolicy) -> cdk.RemovalPolicy:
    """The CDK removal policy for the configured lake.removal_policy (shared by every stateful resource)."""
    return cdk.RemovalPolicy.RETAIN if policy is RemovalPolicy.RETAIN else cdk.RemovalPolicy.DESTROY
