"""CostBudget: a monthly AWS Budgets cost budget that notifies the alerts topic.

A budget is an account-level resource: it counts everything the account spends, not only this app's resources (a
filter on the ``Project`` tag would count nothing until someone activates that cost allocation tag in the billing
console, and a budget that never fires is worse than none). It lives in the alerts stack, next to the topic it
notifies, so it comes and goes with the alerts.

Three notifications, each sent once per month by AWS Budgets: forecast above 100% (the early warning: the month is
on course to overrun while there is time to act), actual above 80% (close to the limit), actual above 100%
(over). Fixed here, next to the budget that needs them: the topic policy statement for ``budgets.amazonaws.com``
scoped to this account's budgets, and the key policy statement that lets Budgets encrypt with the topic's key.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

BUDGETS = "budgets.amazonaws.com"
#: (notification type, threshold in % of the limit), in the order they usually fire.
THRESHOLDS: tuple[tuple[str, int], ...] = (("FORECASTED", 100), ("ACTUAL", 80), ("ACTUAL", 100))


class CostBudget(Construct):
    """``budget``: a monthly cost budget of ``monthly_limit_usd`` USD on the account; its notifications go to
    ``topic`` (encrypted with ``key``); ``tags`` become the budget's resource tags."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.Topic,
        key: kms.IKey,
        monthly_limit_usd: int,
        tags: Mapping[str, str] = {},
    ) -> None:
        super().__init__(scope, construct_id)
        if monthly_limit_usd < 1:
            raise ValueError(f"monthly_limit_usd={monthly_limit_usd}: at least 1 USD")
        self.budget = budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=monthly_limit_usd, unit="USD"),
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type=kind,
                        comparison_operator="GREATER_THAN",
                        threshold=threshold,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=[
                        budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=topic.topic_arn)
                    ],
                )
                for kind, threshold in THRESHOLDS
            ],
            resource_tags=[budgets.CfnBudget.ResourceTagProperty(key=k, value=v) for k, v in tags.items()] or None,
        )
        # the topic must allow Budgets before the budget is created (AWS Budgets checks it on create)
        policy = _allow_budgets_to_publish(topic)
        if policy is not None:
            self.budget.node.add_dependency(policy)
        _allow_budgets_to_use_the_key(key)


def budgets_of_this_account(scope: Construct) -> dict[str, dict[str, str]]:
    """IAM condition: the request comes from a budget of this account (budget ARNs have no region)."""
    stack = cdk.Stack.of(scope)
    arn = stack.format_arn(service="budgets", region="", resource="*")
    return {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": arn}}


def _allow_budgets_to_publish(topic: sns.Topic) -> iam.PolicyDocument | None:
    """The topic policy statement of the AWS Budgets user guide ("Creating an Amazon SNS topic for budget
    notifications", https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html, checked
    2026-12): ``SNS:Publish`` for ``budgets.amazonaws.com``, limited to this account's budgets."""
    result = topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowBudgetsOfThisAccountToPublish",
            principals=[iam.ServicePrincipal(BUDGETS)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=budgets_of_this_account(topic),
        )
    )
    return result.policy_dependable  # type: ignore[return-value]


def _allow_budgets_to_use_the_key(key: kms.IKey) -> None:
    """The key policy statement for an encrypted topic (same page, "Encrypted Amazon SNS topics"; and
    https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html): Budgets encrypts the message with the
    topic's key, so its service principal needs ``kms:GenerateDataKey*`` and ``kms:Decrypt``. Without conditions,
    as AWS documents it and as for CloudWatch (``AlertTopic``): the topic policy is where the account is enforced."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowBudgetsToPublishToEncryptedTopics",
            principals=[iam.ServicePrincipal(BUDGETS)],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        )
    )
