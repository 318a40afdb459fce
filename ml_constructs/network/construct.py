"""A VPC for the SageMaker jobs: isolated subnets only, an S3 gateway endpoint, flow logs.

No public subnets, no internet gateway and no NAT gateway: a NAT gateway bills every hour whether or not a
job runs, and the jobs need nothing but S3, which the gateway endpoint (free) reaches from inside the VPC
(syllabus §1.1, "VPC Endpoint Gateway"). The endpoint policy allows only the buckets the caller passes, so code
inside the VPC cannot copy data to any other bucket (an exfiltration guard); the buckets themselves refuse
anything but TLS.

Precedence: the caller's ``cidr``, ``max_azs``, ``buckets`` and log settings; the security defaults
(isolation, endpoint policy, flow logs of all traffic) are fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_constructs.nag import acknowledge_grant_policy


class IsolatedNetwork(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        max_azs: int,
        subnet_mask: int,
        buckets: Sequence[s3.IBucket],
        log_key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=max_azs,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=subnet_mask
                )
            ],
            restrict_default_security_group=True,
        )
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=log_key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[ec2.SubnetSelection(subnets=self.vpc.isolated_subnets)],
        )
        bucket_arns = [arn for bucket in buckets for arn in (bucket.bucket_arn, bucket.arn_for_objects("*"))]
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="OnlyTheLakeBuckets",
                principals=[iam.AnyPrincipal()],
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                    "s3:GetBucketLocation",
                ],
                resources=bucket_arns,
            )
        )
        self._acknowledge(flow_log)

    def _acknowledge(self, flow_log: ec2.FlowLog) -> None:
        """The flow-log delivery role's policy is CDK's own grant to the one log group (IAMNoInlinePolicy)."""
        acknowledge_grant_policy(flow_log.node.find_child("IAMRole"))
