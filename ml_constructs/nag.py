"""cdk-nag acknowledgements, with the one rule the project adds: every acknowledgement carries a reason a
reviewer would accept (a full sentence, not "ok" or "n/a")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from constructs import IConstruct, IValidation

MIN_REASON_LENGTH = 40


def _check_reason(rule_id: str, reason: str) -> None:
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgement of {rule_id} needs a reason of at least {MIN_REASON_LENGTH} characters")


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge cdk-nag finding ``rule_id`` on ``construct`` and everything below it, for ``reason``."""
    _check_reason(rule_id, reason)
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def flatten_reference(node: Any) -> str:
    """A resolved CloudFormation value as the flat string cdk-nag uses in granular finding ids.

    Mirrors ``flattenCfnReference`` in cdk-nag 3 (lib/utils/flatten-cfn-reference): strings as they are
    (``${x}`` -> ``<x>``), Fn::Join joined, Fn::Sub unwrapped, Ref -> ``<id>``, GetAtt -> ``<id.attr>``,
    anything else (Fn::GetStackOutput, ...) as compact JSON. A test pins the two against each other: if
    cdk-nag changes its format, synthesis fails with the unacknowledged finding, never silently passes.
    """
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict) and "Fn::Join" in node:
        delimiter, items = node["Fn::Join"]
        return delimiter.join(flatten_reference(item) for item in items)
    if isinstance(node, dict) and "Fn::Sub" in node:
        return flatten_reference(node["Fn::Sub"])
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        resource, attribute = node["Fn::GetAtt"]
        return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
    if isinstance(node, dict) and "Fn::ImportValue" in node:
        return flatten_reference(node["Fn::ImportValue"])
    if isinstance(node, dict) and "Ref" in node:
        return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


@jsii.implements(IValidation)
class _AcknowledgeResolvedResources:
    """Acknowledges IAM5 resource findings once cross-stack references are resolved.

    Granular cdk-nag ids embed the *rendered* resource, and a resource in another stack renders only after
    CDK has resolved cross-stack references (after construction, before validation plugins run). Construct
    validations run in that window, so the acknowledgement is added there, for exactly the given resources.
    """

    def __init__(self, construct: IConstruct, resources: Sequence[str], reason: str) -> None:
        self._construct, self._resources, self._reason = construct, list(resources), reason

    def validate(self) -> list[str]:
        stack = cdk.Stack.of(self._construct)
        for resource in self._resources:
            finding = f"AwsSolutions-IAM5[Resource::{flatten_reference(stack.resolve(resource))}]"
            cdk.Validations.of(self._construct).acknowledge(cdk.Acknowledgment(id=finding, reason=self._reason))
        return []


def acknowledge_wildcard_resources(construct: IConstruct, resources: Sequence[str], reason: str) -> None:
    """Acknowledge cdk-nag's IAM5 finding for each of ``resources`` (wildcard ARNs) on ``construct`` only.

    Unlike acknowledging the whole rule, any other wildcard added to the same policy later is still reported.
    """
    _check_reason("AwsSolutions-IAM5", reason)
    construct.node.add_validation(_AcknowledgeResolvedResources(construct, resources, reason))


class WildcardLedger:
    """Collects the wildcard resources a construct grants to its roles, then acknowledges each by name.

    ``track(role, resource)`` where the grant is written; ``acknowledge(reason)`` once, after the last grant:
    the IAM5 finding of exactly those resources is acknowledged on each role's default policy, so a wildcard
    added later without being tracked is still reported.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, list[str]]] = {}

    def track(self, role: Any, *resources: str) -> None:
        """Remember ``resources`` (wildcard ARNs, or ``"*"``) granted to ``role`` (an ``iam.IRole``)."""
        assert role is not None, "a role to track"
        self._entries.setdefault(role.node.path, (role, []))[1].extend(resources)

    def acknowledge(self, reason: str) -> None:
        """Acknowledge every tracked resource on its role's default policy, for ``reason``."""
        for role, resources in self._entries.values():
            policy = role.node.find_child("DefaultPolicy").node.default_child
            assert policy is not None, f"{role.node.path} has no default policy"
            acknowledge_wildcard_resources(policy, resources, reason)


#: The conformance packs the app runs besides AwsSolutions (cdk-nag 3 rule-id prefixes).
COMPLIANCE_PACKS = ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")
#: The packs that check Lambda dead-letter queues and reserved concurrency (PCI DSS 3.2.1 has neither rule).
LAMBDA_RELIABILITY_PACKS = ("NIST.800.53.R5", "HIPAA.Security")


def acknowledge_packs(
    construct: IConstruct | None, rule: str, reason: str, packs: Sequence[str] = COMPLIANCE_PACKS
) -> None:
    """Acknowledge the finding ``rule`` (e.g. ``S3BucketReplicationEnabled``) of each of ``packs`` on ``construct``
    only: the same control in three packs is one decision, with one reason. ``construct`` is typically an L2's
    ``node.default_child`` (typed optional by CDK), so None is refused here rather than at every call."""
    assert construct is not None, f"a construct to acknowledge {rule} on"
    for pack in packs:
        acknowledge(construct, f"{pack}-{rule}", reason)


#: Why the project's functions reserve no concurrency (cdk-nag LambdaConcurrency). Lambda documents that reserved
#: concurrency must leave at least 100 unreserved executions in the account ("Configuring reserved concurrency",
#: Lambda developer guide, checked 2026-12); new accounts often start with a lower quota, where any reservation
#: fails the deploy.
UNRESERVED_CONCURRENCY_REASON = (
    "A low-rate function (a schedule, a workflow step or a deploy) that fronts nothing a burst could overload; a "
    "reservation would only take capacity from the account's unreserved pool, which Lambda keeps at 100 or more, "
    "so on a new account with a lower quota it would fail the deploy."
)
#: Why a role's CDK-generated default policy is not a customer-managed policy (cdk-nag IAMNoInlinePolicy).
GRANT_POLICY_REASON = (
    "The role's own policy, written by CDK's least-privilege grants for this one role and never shared; a "
    "customer-managed policy would add an attachable copy of the same statements without narrowing any of them."
)


def acknowledge_grant_policy(policy_owner: IConstruct | None, reason: str = GRANT_POLICY_REASON) -> None:
    """Acknowledge IAMNoInlinePolicy on the policy of ``policy_owner``: an ``iam.Policy`` (its resource), or a role
    (its ``DefaultPolicy``)."""
    assert policy_owner is not None, "a role or policy to acknowledge IAMNoInlinePolicy on"
    policy = policy_owner.node.try_find_child("DefaultPolicy") or policy_owner
    resource = policy.node.default_child
    assert resource is not None, f"{policy_owner.node.path} has no policy resource"
    acknowledge_packs(resource, "IAMNoInlinePolicy", reason)


def acknowledge_function_outside_vpc(function: Any, *, reserved: bool, why_outside: str) -> None:
    """A Lambda function (``aws_lambda.Function``) of ours outside the VPC: IAMNoInlinePolicy on its role's own
    policy, LambdaConcurrency when it reserves no concurrency, and LambdaInsideVPC with ``why_outside``."""
    acknowledge_grant_policy(function.role)
    resource = function.node.default_child
    if not reserved:
        acknowledge_packs(resource, "LambdaConcurrency", UNRESERVED_CONCURRENCY_REASON, LAMBDA_RELIABILITY_PACKS)
    acknowledge_packs(resource, "LambdaInsideVPC", why_outside)
