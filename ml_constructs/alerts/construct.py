"""The alerts topic every pipeline's alarms publish to: SNS, encrypted with the caller's key, TLS-only.

The caller controls the key and an optional e-mail subscription (AWS sends a confirmation mail first).
Fixed: encryption, TLS-only, and what CloudWatch alarms of this account need to publish to the encrypted
topic, added here next to the topic that needs it: the topic policy statement and the key policy statement.

``enforce_ssl`` attaches a topic policy (the TLS Deny) to the topic, and a topic policy replaces SNS's default
one, which would otherwise let the account's own services publish: without the statement below nothing allows
CloudWatch, and every alarm is silent. Both statements are scoped to alarms of this account (``aws:SourceAccount``
and ``aws:SourceArn``), so CloudWatch cannot be made to publish on behalf of another account's alarm.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

CLOUDWATCH = "cloudwatch.amazonaws.com"


class AlertTopic(Construct):
    """``topic``: the SNS topic alarms notify, encrypted with ``key``; ``email`` (if any) is subscribed."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="ML specialty reference alerts",
            master_key=key,
            enforce_ssl=True,
        )
        _allow_alarms_to_publish(self.topic)
        _allow_alarms_to_use_the_key(key)
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))


def alarms_of_this_account(scope: Construct) -> dict[str, dict[str, str]]:
    """IAM condition: the request comes from a CloudWatch alarm of this account and region (any alarm name)."""
    stack = cdk.Stack.of(scope)
    alarms = stack.format_arn(
        service="cloudwatch", resource="alarm", resource_name="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
    )
    return {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": alarms}}


def _allow_alarms_to_publish(topic: sns.Topic) -> None:
    """The topic policy statement CloudWatch alarms publish with
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html, checked
    2026-12): ``sns:Publish`` for ``cloudwatch.amazonaws.com``, for alarms of this account only."""
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsOfThisAccountToPublish",
            principals=[iam.ServicePrincipal(CLOUDWATCH)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=alarms_of_this_account(topic),
        )
    )


def _allow_alarms_to_use_the_key(key: kms.IKey) -> None:
    """The key policy statement for alarms on a KMS-encrypted topic
    (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html, checked 2026-12): CloudWatch encrypts
    the message with the topic's key, so its service principal needs ``kms:GenerateDataKey*`` and
    ``kms:Decrypt`` on that key. Without conditions, as AWS documents it: AWS does not document that CloudWatch
    sends ``aws:SourceAccount``/``aws:SourceArn`` on its KMS requests, and a condition it does not send would
    silence every alarm again. The topic policy is where the account is enforced."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublishToEncryptedTopics",
            principals=[iam.ServicePrincipal(CLOUDWATCH)],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        )
    )
