"""The image URIs a stack deploys, resolved for its region at synth time without a network call: a string
when the region is known, else a CloudFormation mapping of every region the table knows (and, for XGBoost, a
rule that stops a deploy to any other region before anything is created)."""

from __future__ import annotations

import aws_cdk as cdk

from sagemaker_images import (
    DEFAULT_SKLEARN_VERSION,
    MODEL_MONITOR_ACCOUNTS,
    MODEL_MONITOR_REPOSITORY,
    SKLEARN_ACCOUNTS,
    SKLEARN_REPOSITORY,
    SKLEARN_TAG_SUFFIX,
    XGBOOST_ACCOUNTS,
    ecr_image_uri,
    image_uri_expression,
    resolve_xgboost_version,
)


def xgboost_image(stack: cdk.Stack, configured_version: str) -> str:
    """The built-in XGBoost image URI for ``stack``'s region, without a network call.

    A region known at synth (``-c region=``; the config validated it against the table) resolves to a string.
    Environment-agnostic: the account of the image is looked up at deploy time in a mapping of every region the
    table knows, and a rule stops a deploy to any other region before anything is created.
    """
    version = resolve_xgboost_version(configured_version)
    if not cdk.Token.is_unresolved(stack.region):
        return image_uri_expression(XGBOOST_ACCOUNTS[stack.region], stack.region, stack.url_suffix, version)
    mapping = cdk.CfnMapping(
        stack, "XgboostImageAccounts", mapping={region: {"account": a} for region, a in XGBOOST_ACCOUNTS.items()}
    )
    cdk.CfnRule(
        stack,
        "SupportedRegion",
        assertions=[
            cdk.CfnRuleAssertion(
                assert_=cdk.Fn.condition_contains(sorted(XGBOOST_ACCOUNTS), cdk.Aws.REGION),
                assert_description="The built-in XGBoost image table of this project has no account for this region "
                "(sagemaker_images.XGBOOST_ACCOUNTS)",
            )
        ],
    )
    account = mapping.find_in_map(cdk.Aws.REGION, "account")
    return image_uri_expression(account, stack.region, stack.url_suffix, version)


def model_monitor_image(stack: cdk.Stack) -> str:
    """The Model Monitor analyzer image URI for ``stack``'s region (same rules as ``xgboost_image``)."""
    if not cdk.Token.is_unresolved(stack.region):
        if stack.region not in MODEL_MONITOR_ACCOUNTS:
            raise ValueError(f"monitoring.engine=model_monitor: no Model Monitor analyzer image in {stack.region}")
        return ecr_image_uri(
            MODEL_MONITOR_ACCOUNTS[stack.region], stack.region, MODEL_MONITOR_REPOSITORY, None, stack.url_suffix
        )
    mapping = cdk.CfnMapping(
        stack, "ModelMonitorImageAccounts", mapping={r: {"account": a} for r, a in MODEL_MONITOR_ACCOUNTS.items()}
    )
    account = mapping.find_in_map(cdk.Aws.REGION, "account")
    return ecr_image_uri(account, stack.region, MODEL_MONITOR_REPOSITORY, None, stack.url_suffix)


def sklearn_image(stack: cdk.Stack, version: str = DEFAULT_SKLEARN_VERSION) -> str:
    """The prebuilt scikit-learn image URI (the endpoint's preprocessing container) for ``stack``'s region: a string
    when the region is known, else a mapping lookup (its regions are XGBoost's, so XGBoost's rule covers it)."""
    tag = version + SKLEARN_TAG_SUFFIX
    if not cdk.Token.is_unresolved(stack.region):
        if stack.region not in SKLEARN_ACCOUNTS:
            raise ValueError(f"region={stack.region}: no SageMaker scikit-learn image there (preprocessing container)")
        return ecr_image_uri(SKLEARN_ACCOUNTS[stack.region], stack.region, SKLEARN_REPOSITORY, tag, stack.url_suffix)
    mapping = cdk.CfnMapping(
        stack, "SklearnImageAccounts", mapping={r: {"account": a} for r, a in SKLEARN_ACCOUNTS.items()}
    )
    account = mapping.find_in_map(cdk.Aws.REGION, "account")
    return ecr_image_uri(account, stack.region, SKLEARN_REPOSITORY, tag, stack.url_suffix)
