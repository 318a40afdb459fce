"""AlertTopic alone in a bare stack: the encrypted, TLS-only topic, and the topic and key statements alarms of
this account need to publish to it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from ml_constructs.alerts.budget import CostBudget
from ml_constructs.alerts.construct import AlertTopic

#: Alarms of the stack's account and region, in the stack's partition (never a literal "arn:aws:").
ALARMS_OF_THIS_ACCOUNT = {
    "StringEquals": {"aws:SourceAccount": "123456789012"},
    "ArnLike": {
        "aws:SourceArn": {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudwatch:us-east-1:123456789012:alarm:*"]]
        }
    },
}


def alerts(stack: cdk.Stack, **props) -> Template:
    AlertTopic(stack, "Alerts", key=kms.Key(stack, "Key"), **props)
    return Template.from_stack(stack)


def test_topic_is_encrypted_with_the_key_and_tls_only(stack):
    template = alerts(stack)
    (key,) = template.find_resources("AWS::KMS::Key")
    template.resource_count_is("AWS::SNS::Topic", 1)
    template.has_resource_properties(
        "AWS::SNS::Topic", Match.object_like({"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}})
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                }
            )
        },
    )


def test_cloudwatch_may_use_the_key_to_publish_alarms(stack):
    template = alerts(stack)
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [
                            {
                                "Sid": "AllowCloudWatchAlarmsToPublishToEncryptedTopics",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Resource": "*",
                                "Condition": Match.absent(),  # as AWS documents it: see the construct
                            }
                        ]
                    )
                }
            )
        },
    )


def test_cloudwatch_alarms_of_this_account_may_publish_despite_the_tls_only_policy(stack):
    """enforce_ssl's topic policy replaces SNS's default one: without its own statement CloudWatch may not
    publish, and every alarm is silent."""
    template = alerts(stack)
    (topic,) = template.find_resources("AWS::SNS::Topic")
    (policy,) = template.find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in statements] == [
        "AllowPublishThroughSSLOnly",
        "AllowCloudWatchAlarmsOfThisAccountToPublish",
    ]
    assert statements[1] == {
        "Sid": "AllowCloudWatchAlarmsOfThisAccountToPublish",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": {"Ref": topic},
        "Condition": ALARMS_OF_THIS_ACCOUNT,
    }


def test_no_subscription_by_default(stack):
    alerts(stack).resource_count_is("AWS::SNS::Subscription", 0)


def test_an_email_address_is_subscribed(stack):
    template = alerts(stack, email="ops@example.com")
    (topic,) = template.find_resources("AWS::SNS::Topic")
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": topic}}
    )


def budget(stack: cdk.Stack, **props) -> Template:
    key = kms.Key(stack, "Key")
    CostBudget(stack, "Budget", topic=AlertTopic(stack, "Alerts", key=key).topic, key=key, **props)
    return Template.from_stack(stack)


def test_the_budget_is_monthly_in_usd_and_notifies_the_topic_three_times(stack):
    """Forecast above 100% (early warning), actual above 80% and above 100%, each to the alerts topic."""
    template = budget(stack, monthly_limit_usd=25, tags={"Project": "mlspec"})
    (topic,) = template.find_resources("AWS::SNS::Topic")
    (resource,) = template.find_resources("AWS::Budgets::Budget").values()
    props = resource["Properties"]
    assert props["Budget"] == {
        "BudgetLimit": {"Amount": 25, "Unit": "USD"},
        "BudgetType": "COST",
        "TimeUnit": "MONTHLY",
    }
    notifications = [
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"], n["Notification"]["ThresholdType"])
        for n in props["NotificationsWithSubscribers"]
    ]
    assert notifications == [
        ("FORECASTED", 100, "PERCENTAGE"),
        ("ACTUAL", 80, "PERCENTAGE"),
        ("ACTUAL", 100, "PERCENTAGE"),
    ]
    assert all(n["Notification"]["ComparisonOperator"] == "GREATER_THAN" for n in props["NotificationsWithSubscribers"])
    assert all(
        n["Subscribers"] == [{"Address": {"Ref": topic}, "SubscriptionType": "SNS"}]
        for n in props["NotificationsWithSubscribers"]
    )
    assert props["ResourceTags"] == [{"Key": "Project", "Value": "mlspec"}]
    assert any(d.startswith("AlertsTopicPolicy") for d in resource["DependsOn"])  # Budgets checks the policy on create


def test_budgets_of_this_account_may_publish_and_use_the_key(stack):
    template = budget(stack, monthly_limit_usd=10)
    (policy,) = template.find_resources("AWS::SNS::TopicPolicy").values()
    statement = next(
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "AllowBudgetsOfThisAccountToPublish"
    )
    assert statement["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        # budget ARNs have no region
        "ArnLike": {
            "aws:SourceArn": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":budgets::123456789012:*"]]}
        },
    }
    template.has_resource_properties(
        "AWS::KMS::Key",
        Match.object_like(
            {
                "KeyPolicy": Match.object_like(
                    {
                        "Statement": Match.array_with(
                            [
                                Match.object_like(
                                    {
                                        "Sid": "AllowBudgetsToPublishToEncryptedTopics",
                                        "Principal": {"Service": "budgets.amazonaws.com"},
                                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                    }
                                )
                            ]
                        )
                    }
                )
            }
        ),
    )


def test_a_budget_below_one_dollar_is_refused(stack):
    import pytest

    with pytest.raises(ValueError, match="at least 1 USD"):
        budget(stack, monthly_limit_usd=0)
