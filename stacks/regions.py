"""Which regions can run which stacks, derived, never typed by hand.

A stack can run in a region when CloudFormation offers there every resource type its template uses and every
SageMaker image table it resolves from (``sagemaker_images.IMAGE_TABLES``) has an account there. The resource
types are read from the constructed stack itself; where each type is unavailable comes from
``stacks/region_table.py``, generated from cfn-lint's per-region CloudFormation schemas by
``python -m tools.regions --write`` (a test keeps it equal to what the tool produces; cfn-lint is a development
dependency, so synth reads the generated table instead of cfn-lint).

``apply_region_support`` uses the table two ways: a pinned region (``-c region=...``) that cannot run a stack is
a config error before anything is synthesized; an environment-agnostic stack gets a CloudFormation rule that
stops a deploy to any region of the table that cannot run it, before anything is created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk

from ml_config.config import ConfigError
from sagemaker_images import IMAGE_TABLES
from sagemaker_images.resolve import images_used
from stacks.region_table import REGIONS, UNAVAILABLE

RULE_ID = "SupportedRegion"


def resource_types(stack: cdk.Stack) -> list[str]:
    """The CloudFormation resource types of ``stack``'s template (custom resources run anywhere: left out)."""
    return sorted(
        {
            node.cfn_resource_type
            for node in stack.node.find_all()
            if isinstance(node, cdk.CfnResource) and not node.cfn_resource_type.startswith("Custom::")
        }
    )


@dataclass(frozen=True)
class Needs:
    """What a stack needs from a region: its resource types and its image tables (read once: jsii calls)."""

    stack_name: str
    types: tuple[str, ...]
    images: tuple[str, ...]

    @classmethod
    def of(cls, stack: cdk.Stack) -> Needs:
        return cls(stack.stack_name, tuple(resource_types(stack)), tuple(images_used(stack)))

    def missing(self, region: str) -> list[str]:
        """What ``region`` lacks: resource types, then images (``the <table> image``)."""
        types = [t for t in self.types if region in _unavailable(t)]
        return types + [f"the {name} image" for name in self.images if region not in IMAGE_TABLES[name]]

    def unsupported_regions(self) -> dict[str, list[str]]:
        """Every region of the table that cannot run the stack, with what it lacks."""
        return {region: lacks for region in REGIONS if (lacks := self.missing(region))}


def _unavailable(resource_type: str) -> tuple[str, ...]:
    try:
        return UNAVAILABLE[resource_type]
    except KeyError:
        raise LookupError(
            f"{resource_type} is not in stacks/region_table.py: run python -m tools.regions --write"
        ) from None


def working_regions(needs: Sequence[Needs]) -> list[str]:
    """The regions of the table that can run every stack of ``needs``."""
    return [region for region in REGIONS if not any(n.missing(region) for n in needs)]


def check_pinned_region(needs: Sequence[Needs], region: str) -> None:
    """Raise ``ConfigError`` (one line) when ``region`` cannot run one of the stacks of ``needs``."""
    lines = [f"{n.stack_name} needs {', '.join(lacks)}" for n in needs if (lacks := n.missing(region))]
    if lines:
        works = ", ".join(working_regions(needs))
        raise ConfigError([f"invalid config: region={region!r}: {'; '.join(lines)}; regions that work: {works}"])


def add_region_rule(stack: cdk.Stack) -> None:
    """A rule that stops a deploy of ``stack`` to any region of the table that cannot run it."""
    unsupported = sorted(Needs.of(stack).unsupported_regions())
    if not unsupported:
        return
    cdk.CfnRule(
        stack,
        RULE_ID,
        assertions=[
            cdk.CfnRuleAssertion(
                assert_=cdk.Fn.condition_not(cdk.Fn.condition_contains(unsupported, cdk.Aws.REGION)),
                assert_description=f"{stack.stack_name} cannot run in this region: CloudFormation or SageMaker "
                "lacks a resource type or an image it needs there (README, Regions; python -m tools.regions)",
            )
        ],
    )


def apply_region_support(stacks: Sequence[cdk.Stack]) -> None:
    """Pinned stacks: refuse a region that cannot run them. Environment-agnostic stacks: add the rule."""
    pinned = [stack for stack in stacks if not cdk.Token.is_unresolved(stack.region)]
    if pinned:
        check_pinned_region([Needs.of(stack) for stack in pinned], pinned[0].region)
    for stack in stacks:
        if cdk.Token.is_unresolved(stack.region):
            add_region_rule(stack)
