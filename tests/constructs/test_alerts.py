"""AlertTopic alone in a bare stack: the encrypted, TLS-only topic, and the topic and key statements alarms of
this account need to publish to it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

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
