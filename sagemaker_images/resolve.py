"""The image URIs a stack deploys, resolved for its region at synth time without a network call: a string
when the region is known and in the table, else a CloudFormation mapping of every region the table knows,
looked up with ``AWS::Region`` at deploy time.

Each lookup records on the stack which image table it used (``ImageUse``): the region table of the app
(``stacks/regions.py``) reads those records to know where the stack can run, refuses a pinned region that a
table lacks and, for an environment-agnostic stack, adds the rule that stops a deploy to such a region.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from sagemaker_images import (
    DEFAULT_SKLEARN_VERSION,
    IMAGE_TABLES,
    MODEL_MONITOR_REPOSITORY,
    SKLEARN_REPOSITORY,
    SKLEARN_TAG_SUFFIX,
    XGBOOST_REPOSITORY,
    ecr_image_uri,
    resolve_xgboost_version,
)


class ImageUse(Construct):
    """A marker in the construct tree (nothing in the template): ``stack`` deploys an image of ``table``."""

    def __init__(self, scope: Construct, table: str) -> None:
        super().__init__(scope, f"ImageUse-{table}")
        self.table = table


def images_used(stack: cdk.Stack) -> list[str]:
    """The names of the image tables (``IMAGE_TABLES``) ``stack`` resolves images from."""
    return sorted(child.table for child in stack.node.children if isinstance(child, ImageUse))


def _account(stack: cdk.Stack, table: str, mapping_id: str) -> str:
    """The registry account of ``table`` for ``stack``'s region: a string when known, else a mapping lookup."""
    if stack.node.try_find_child(f"ImageUse-{table}") is None:
        ImageUse(stack, table)
    accounts = IMAGE_TABLES[table]
    if not cdk.Token.is_unresolved(stack.region) and stack.region in accounts:
        return accounts[stack.region]
    found = stack.node.try_find_child(mapping_id)
    mapping = found if isinstance(found, cdk.CfnMapping) else None
    if mapping is None:
        mapping = cdk.CfnMapping(stack, mapping_id, mapping={r: {"account": a} for r, a in accounts.items()})
    return mapping.find_in_map(cdk.Aws.REGION, "account")


def xgboost_image(stack: cdk.Stack, configured_version: str) -> str:
    """The built-in XGBoost image URI for ``stack``'s region, without a network call.

    A region known at synth resolves to a string. Environment-agnostic, the account of the image is looked up at
    deploy time in a mapping of every region the table knows; the app's region rule stops a deploy to any other
    region before anything is created (and a pinned region outside the table is a config error).
    """
    version = resolve_xgboost_version(configured_version)
    account = _account(stack, XGBOOST_REPOSITORY, "XgboostImageAccounts")
    return ecr_image_uri(account, stack.region, XGBOOST_REPOSITORY, version, stack.url_suffix)


def model_monitor_image(stack: cdk.Stack) -> str:
    """The Model Monitor analyzer image URI for ``stack``'s region (same rules as ``xgboost_image``)."""
    account = _account(stack, MODEL_MONITOR_REPOSITORY, "ModelMonitorImageAccounts")
    return ecr_image_uri(account, stack.region, MODEL_MONITOR_REPOSITORY, None, stack.url_suffix)


def sklearn_image(stack: cdk.Stack, version: str = DEFAULT_SKLEARN_VERSION) -> str:
    """The prebuilt scikit-learn image URI (the endpoint's preprocessing container) for ``stack``'s region (same
    rules as ``xgboost_image``)."""
    account = _account(stack, SKLEARN_REPOSITORY, "SklearnImageAccounts")
    return ecr_image_uri(account, stack.region, SKLEARN_REPOSITORY, version + SKLEARN_TAG_SUFFIX, stack.url_suffix)
