"""IsolatedNetwork alone in a bare stack: isolated subnets, no path to the internet, the S3 gateway endpoint
limited to the given buckets, flow logs of all traffic."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from ml_constructs.network.construct import IsolatedNetwork

CIDR, AZS, MASK = "10.0.0.0/24", 2, 26


@pytest.fixture
def network(stack: cdk.Stack) -> Template:
    key = kms.Key(stack, "Key")
    buckets = [s3.Bucket(stack, "Curated"), s3.Bucket(stack, "Artifacts")]
    IsolatedNetwork(
        stack,
        "Network",
        cidr=CIDR,
        max_azs=AZS,
        subnet_mask=MASK,
        buckets=buckets,
        log_key=key,
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    return Template.from_stack(stack)


def test_isolated_subnets_only_and_nothing_that_bills_by_the_hour(network):
    network.has_resource_properties("AWS::EC2::VPC", Match.object_like({"CidrBlock": CIDR}))
    network.resource_count_is("AWS::EC2::Subnet", AZS)
    network.has_resource_properties(
        "AWS::EC2::Subnet", Match.object_like({"CidrBlock": f"10.0.0.0/{MASK}", "MapPublicIpOnLaunch": False})
    )
    for kind in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP", "AWS::EC2::Route"):
        network.resource_count_is(kind, 0)
    network.resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_s3_gateway_endpoint_admits_only_the_given_buckets(network):
    (endpoint,) = network.find_resources("AWS::EC2::VPCEndpoint").values()
    props = endpoint["Properties"]
    assert props["VpcEndpointType"] == "Gateway"
    assert len(props["RouteTableIds"]) == AZS
    (statement,) = props["PolicyDocument"]["Statement"]
    assert statement["Sid"] == "OnlyTheLakeBuckets"
    assert statement["Principal"] == {"AWS": "*"}
    assert "s3:*" not in statement["Action"]
    ids = list(network.find_resources("AWS::S3::Bucket"))
    buckets = [next(i for i in ids if i.startswith(name)) for name in ("Curated", "Artifacts")]  # in the given order
    assert statement["Resource"] == [
        arn
        for bucket in buckets
        for arn in ({"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]})
    ]


def test_flow_logs_of_all_traffic_go_to_an_encrypted_log_group(network):
    (key,) = network.find_resources("AWS::KMS::Key")
    (group,) = network.find_resources("AWS::Logs::LogGroup")
    network.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": Match.object_like({"KmsKeyId": {"Fn::GetAtt": [key, "Arn"]}, "RetentionInDays": 7}),
            "DeletionPolicy": "Delete",
        },
    )
    network.has_resource_properties(
        "AWS::EC2::FlowLog",
        Match.object_like(
            {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs", "LogGroupName": {"Ref": group}}
        ),
    )
