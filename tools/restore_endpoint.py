"""Bring back the endpoint the idle-endpoint guard deleted: ``python -m tools.restore_endpoint``
(``make restore-endpoint``).

The guard deletes only the endpoint; the serving stack still records it, with its model, endpoint config and
autoscaling. A ``cdk deploy`` with no change to those resources does nothing (CloudFormation compares templates,
not the account), so the endpoint is restored here, exactly as the stack describes it, which makes the account
agree with the stack again:

1. the endpoint, under the same name, from the stack's endpoint config (or ``--endpoint-config``: the config the
   guard's message names, when a training run had rolled the endpoint to a newer model), with the stack's tags;
2. once it is ``InService``, its scalable target (the stack's minimum and maximum) and its target-tracking policy,
   which SageMaker deregistered with the endpoint.

Nothing happens when the endpoint exists. Uses your credentials (as ``make deploy`` does), never the guard's role.
Exit status: 0 restored or nothing to do; 1 the endpoint did not come up; 2 bad arguments or no such stack.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Plan:
    """What the serving stack says the endpoint is."""

    endpoint_name: str
    endpoint_config_arn: str  # CloudFormation's physical id of the endpoint config (SageMaker lower-cases ARNs)
    tags: list[dict[str, str]]
    target: dict[str, Any] = field(default_factory=dict)  # RegisterScalableTarget's arguments, or {} (no scaling)
    policies: list[dict[str, Any]] = field(default_factory=list)  # PutScalingPolicy's arguments


def _one(resources: Mapping[str, Mapping[str, Any]], kind: str) -> tuple[str, Mapping[str, Any]]:
    (found,) = [(k, v) for k, v in resources.items() if v["Type"] == kind]
    return found


def plan_from(template: Mapping[str, Any], physical: Mapping[str, str], endpoint_name: str) -> Plan:
    """The plan from the stack's template, its resources' physical ids (logical id -> id) and the endpoint's name
    (the stack's ``EndpointName`` output). Only literal values are read: ids and names come from ``physical``."""
    resources = template["Resources"]
    _, endpoint = _one(resources, "AWS::SageMaker::Endpoint")
    config_id = endpoint["Properties"]["EndpointConfigName"]["Fn::GetAtt"][0]
    tags = list(endpoint["Properties"].get("Tags", []))
    targets = [(k, v) for k, v in resources.items() if v["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"]
    if not targets:
        return Plan(endpoint_name, physical[config_id], tags)
    target_id, target = targets[0]
    p = target["Properties"]
    variant = str(p["ResourceId"]["Fn::Join"][1][-1]).removeprefix("/variant/")
    key = {
        "ServiceNamespace": p["ServiceNamespace"],
        "ResourceId": f"endpoint/{endpoint_name}/variant/{variant}",
        "ScalableDimension": p["ScalableDimension"],
    }
    # no RoleARN: Application Auto Scaling then uses its service-linked role for SageMaker, the one the stack names
    register = {**key, "MinCapacity": p["MinCapacity"], "MaxCapacity": p["MaxCapacity"]}
    policies = [
        {
            **key,
            "PolicyName": v["Properties"]["PolicyName"],
            "PolicyType": v["Properties"]["PolicyType"],
            "TargetTrackingScalingPolicyConfiguration": v["Properties"]["TargetTrackingScalingPolicyConfiguration"],
        }
        for v in resources.values()
        if v["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
        and v["Properties"].get("ScalingTargetId") == {"Ref": target_id}
    ]
    return Plan(endpoint_name, physical[config_id], tags, register, policies)


def config_name(sagemaker: Any, arn: str) -> str:
    """The endpoint config's name from its ARN (the name's case is not in the ARN)."""
    for page in sagemaker.get_paginator("list_endpoint_configs").paginate():
        for config in page["EndpointConfigs"]:
            if config["EndpointConfigArn"].lower() == arn.lower():
                return str(config["EndpointConfigName"])
    raise LookupError(f"no endpoint config {arn}: pass --endpoint-config NAME")


def restore(
    plan: Plan,
    sagemaker: Any,
    autoscaling: Any,
    *,
    endpoint_config: str | None = None,
    progress: Callable[[str], None] = print,
    poll_seconds: float = 30,
) -> str:
    """Create the endpoint, wait for it, register its scaling; return what was done (``exists`` or
    ``restored``). Raises RuntimeError when the endpoint ends in another state than InService."""
    existing = {e["EndpointName"] for e in sagemaker.list_endpoints(NameContains=plan.endpoint_name)["Endpoints"]}
    if plan.endpoint_name in existing:
        progress(f"endpoint {plan.endpoint_name} exists: nothing to restore")
        return "exists"
    config = endpoint_config or config_name(sagemaker, plan.endpoint_config_arn)
    progress(f"creating endpoint {plan.endpoint_name} from {config} (typically 5-10 minutes)")
    sagemaker.create_endpoint(EndpointName=plan.endpoint_name, EndpointConfigName=config, Tags=plan.tags)
    while (status := sagemaker.describe_endpoint(EndpointName=plan.endpoint_name)["EndpointStatus"]) == "Creating":
        progress(f"  {status} ...")
        time.sleep(poll_seconds)
    if status != "InService":
        raise RuntimeError(f"endpoint {plan.endpoint_name} is {status}: see describe-endpoint's FailureReason")
    if plan.target:
        autoscaling.register_scalable_target(**plan.target)
        for policy in plan.policies:
            autoscaling.put_scaling_policy(**policy)
        progress(f"autoscaling {plan.target['MinCapacity']}-{plan.target['MaxCapacity']} registered again")
    progress(f"endpoint {plan.endpoint_name} is InService")
    return "restored"


def plan_of_stack(cloudformation: Any, stack: str) -> Plan:
    """The plan of the deployed serving stack ``stack``."""
    template = cloudformation.get_template(StackName=stack)["TemplateBody"]
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    name = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "EndpointName")
    return plan_from(template, physical, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.restore_endpoint", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default="mlspec", help="the app's prefix (cdk.json's prefix): <prefix>-serving")
    parser.add_argument("--endpoint-config", help="restore with this endpoint config (default: the stack's)")
    args = parser.parse_args(argv)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    stack = f"{args.prefix}-serving"
    try:
        plan = plan_of_stack(boto3.client("cloudformation"), stack)
    except (ClientError, BotoCoreError, StopIteration, ValueError) as exc:
        print(f"restore-endpoint: cannot read the stack {stack}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        restore(
            plan,
            boto3.client("sagemaker"),
            boto3.client("application-autoscaling"),
            endpoint_config=args.endpoint_config,
            progress=lambda m: print(m, flush=True),
        )
    except (RuntimeError, LookupError, ClientError) as exc:
        print(f"restore-endpoint: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
