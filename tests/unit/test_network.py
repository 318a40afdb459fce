"""NetworkStack: isolated subnets only, no NAT, an S3 gateway endpoint limited to the lake, flow logs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import resources


@pytest.fixture(scope="module")
def network(sandbox):
    return sandbox.template(sandbox.stacks.network)


def test_no_internet_path_and_nothing_that_bills_by_the_hour(network):
    for kind in (
        "AWS::EC2::NatGateway",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::VPCGatewayAttachment",
    ):
        assert resources(network, kind) == {}, kind
    # Interface endpoints bill hourly per AZ; the gateway endpoint for S3 is free.
    endpoints = resources(network, "AWS::EC2::VPCEndpoint").values()
    assert [e["Properties"]["VpcEndpointType"] for e in endpoints if "VpcEndpointType" in e["Properties"]] in (
        [],
        ["Gateway"],
    )


def test_isolated_subnets_one_per_az_and_cidr_from_config(sandbox, network):
    subnets = resources(network, "AWS::EC2::Subnet").values()
    assert len(subnets) == sandbox.config.network.max_azs
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)
    (vpc,) = resources(network, "AWS::EC2::VPC").values()
    assert vpc["Properties"]["CidrBlock"] == sandbox.config.network.cidr
    routes = resources(network, "AWS::EC2::Route")
    assert routes == {}  # isolated: no route to 0.0.0.0/0 at all (the S3 endpoint adds a prefix-list route)


def test_production_spreads_over_more_azs(production):
    template = production.template(production.stacks.network)
    # An environment-agnostic stack can only see 2 AZs (Fn::GetAZs); pinning an env with -c region= gives more.
    assert len(resources(template, "AWS::EC2::Subnet")) == min(production.config.network.max_azs, 2)


def test_s3_gateway_endpoint_allows_only_the_lake_buckets(sandbox, network):
    (endpoint,) = (
        e["Properties"]
        for e in resources(network, "AWS::EC2::VPCEndpoint").values()
        if "s3" in json.dumps(e["Properties"]["ServiceName"])
    )
    assert len(endpoint["RouteTableIds"]) == sandbox.config.network.max_azs
    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert "s3:*" not in statement["Action"]
    outputs = sorted(json.dumps(r) for r in statement["Resource"])
    lake = sandbox.template(sandbox.stacks.data_lake)
    bucket_ids = ["DataLakeRaw1F82835B", "DataLakeCuratedD6D7CE2D", "DataLakeArtifactsB270B651"]
    # each lake bucket, and its objects, and nothing else
    assert len(outputs) == 2 * len(bucket_ids)
    for bucket in bucket_ids:
        assert sum(bucket in r for r in outputs) == 2
    assert "DataLakeAccessLogs" not in "".join(outputs)
    assert set(bucket_ids) <= set(lake["Resources"])


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_group(sandbox, network):
    (flow_log,) = resources(network, "AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    assert flow_log["Properties"]["LogDestinationType"] == "cloud-watch-logs"
    (group_id, group), *_ = resources(network, "AWS::Logs::LogGroup").items()
    assert flow_log["Properties"]["LogGroupName"] == {"Ref": group_id}
    assert "DataLakeKey" in json.dumps(group["Properties"]["KmsKeyId"])
    assert group["Properties"]["RetentionInDays"] == sandbox.config.logs.retention_days
    assert group["DeletionPolicy"] == "Delete"


def test_default_security_group_is_restricted(network):
    assert len(resources(network, "Custom::VpcRestrictDefaultSG")) == 1


def test_log_retention_mapping_matches_cloudwatch_values():
    from ml_config.config import LOG_RETENTION_DAYS as VALIDATED
    from ml_constructs.common import LOG_RETENTION_DAYS, log_retention

    assert VALIDATED == LOG_RETENTION_DAYS, "the config accepts exactly the periods the constructs can map"

    spelled = {
        1: "ONE_DAY",
        7: "ONE_WEEK",
        14: "TWO_WEEKS",
        30: "ONE_MONTH",
        365: "ONE_YEAR",
        731: "TWO_YEARS",
        3653: "TEN_YEARS",
    }
    for days, name in spelled.items():
        assert log_retention(days).name == name
    assert len({log_retention(d) for d in LOG_RETENTION_DAYS}) == len(LOG_RETENTION_DAYS)


def test_a_tiny_vpc_synthesizes(variant):
    """The config's fit check and CDK's subnet allocation agree: /28 subnets in a /26 VPC."""
    from tests.conftest import VARIANT

    subnets = resources(variant.template(variant.stacks.network), "AWS::EC2::Subnet").values()
    assert len(subnets) == int(VARIANT["network.max_azs"])
    assert all(s["Properties"]["CidrBlock"].endswith("/" + VARIANT["network.subnet_mask"]) for s in subnets)


def test_the_smallest_vpc_synthesizes(tmp_path):
    """A /28 VPC with one /28 subnet: the edge of what AWS allows, and no jsii error."""
    from tests.conftest import synth

    result = synth(tmp_path, {"network.cidr": "10.0.0.0/28", "network.subnet_mask": "28", "network.max_azs": "1"})
    (subnet,) = resources(result.template(result.stacks.network), "AWS::EC2::Subnet").values()
    assert subnet["Properties"]["CidrBlock"] == "10.0.0.0/28"
