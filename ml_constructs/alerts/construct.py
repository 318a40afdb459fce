"""The alerts topic every pipeline's alarms publish to: SNS, encrypted with the caller's key, TLS-only.

The caller controls the key and an optional e-mail subscription (AWS sends a confirmation mail first).
Fixed: encryption, TLS-only, and the key policy statement that lets CloudWatch alarms publish to the
encrypted topic, added here next to the topic that needs it.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


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
        # Documented requirement for alarms on a KMS-encrypted topic: CloudWatch encrypts the message with
        # the topic's key, so its service principal needs GenerateDataKey and Decrypt on that key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
