"""The plumbing every construct repeats, in one place each: the encrypted log group, the KMS key used through
a service, the alarm that notifies the alerts topic, a role's default policy, and the SageMaker network
pieces."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

#: The retention periods CloudWatch Logs accepts, in days, in the order of ``logs.RetentionDays`` (which lists
#: them in increasing order, then INFINITE); a unit test checks the pairing against the synthesized template.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
_RETENTION = dict(zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m.name != "INFINITE"], strict=True))


def log_retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a number of days CloudWatch Logs accepts."""
    return _RETENTION[days]


def retention_days(retention: logs.RetentionDays) -> int:
    """The number of days of a RetentionDays member (for L1 properties such as ``RetentionInDays``)."""
    return next(days for days, member in _RETENTION.items() if member == retention)


def encrypted_log_group(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group encrypted with ``key``, kept ``retention`` long, removed or kept with the stack's data."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        encryption_key=key,
        retention=retention,
        removal_policy=removal_policy,
    )


def via_service(scope: IConstruct, *services: str) -> dict[str, dict[str, object]]:
    """IAM condition: the KMS key may be used only through these services of this region (kms:ViaService)."""
    stack = cdk.Stack.of(scope)
    names = [f"{service}.{stack.region}.{stack.url_suffix}" for service in services]
    return {"StringEquals": {"kms:ViaService": names[0] if len(names) == 1 else names}}


def key_through(
    scope: IConstruct, key: kms.IKey, actions: Sequence[str], *services: str, sid: str | None = None
) -> iam.PolicyStatement:
    """Allow ``actions`` on ``key`` only when ``services`` (``"s3"``, ``"sns"``, ...) make the call for the
    principal: the key encrypts the lake, so it is never usable directly."""
    return iam.PolicyStatement(
        sid=sid, actions=list(actions), resources=[key.key_arn], conditions=via_service(scope, *services)
    )


def notify(alarm: cloudwatch.Alarm, topic: sns.ITopic) -> cloudwatch.Alarm:
    """Send the alarm's state changes to ALARM to ``topic`` (the alerts topic); returns the alarm."""
    alarm.add_alarm_action(actions.SnsAction(topic))
    return alarm


def default_policy(role: iam.IRole) -> cdk.CfnResource:
    """The L1 resource of the policy CDK attaches to ``role`` for ``add_to_policy`` and ``grant_*`` calls."""
    policy = role.node.find_child("DefaultPolicy").node.default_child
    assert isinstance(policy, cdk.CfnResource), f"{role.node.path} has no default policy yet"
    return policy


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


def sagemaker_logs(scope: IConstruct, groups: str, sid: str) -> tuple[iam.PolicyStatement, str]:
    """What a SageMaker job or endpoint role needs for SageMaker to write its logs to the ``groups`` log groups
    (``/aws/sagemaker/...``, a pattern): the statement and the groups' ARN (a wildcard to acknowledge)."""
    arn = cdk.Stack.of(scope).format_arn(
        service="logs", resource="log-group", resource_name=groups, arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
    )
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    return iam.PolicyStatement(sid=sid, actions=actions, resources=[arn]), arn


def sagemaker_security_group(scope: Construct, construct_id: str, vpc: ec2.IVpc, description: str) -> ec2.SecurityGroup:
    """The security group of SageMaker instances in the isolated subnets: no inbound, HTTPS out only.

    The isolated subnets' only route leads to the S3 gateway endpoint, whose policy admits the lake buckets only:
    the route table and the endpoint policy are the control, not this rule. (A rule on S3's managed prefix list
    would need a lookup at synth, which this project does not do.)
    """
    group = ec2.SecurityGroup(scope, construct_id, vpc=vpc, description=description, allow_all_outbound=False)
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: S3 via the gateway endpoint")
    return group
