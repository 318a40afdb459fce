"""Policy documents AWS owns that the templates only point to, embedded so the check runs offline.

Each entry names its source page and the date it was checked. When AWS publishes a new version of a managed
policy, update the document and the date here (the check cannot see the change by itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.iam.arns import Environment


@dataclass(frozen=True)
class Embedded:
    name: str
    source: str
    checked: str
    document: dict[str, Any]


#: AWS managed policies attached by ARN (``arn:<partition>:iam::aws:policy/<path><name>``), by path and name.
AWS_MANAGED_POLICIES: dict[str, Embedded] = {
    "service-role/AWSLambdaBasicExecutionRole": Embedded(
        name="AWSLambdaBasicExecutionRole",
        source="https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaBasicExecutionRole.html",
        checked="2026-12",
        document={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": "*",
                }
            ],
        },
    ),
}

#: A topic created without an AWS::SNS::TopicPolicy keeps the access policy SNS gives every new topic: the
#: owner account's principals (``AWS:SourceOwner``) may use it, which lets CloudWatch alarms of the account
#: publish. An AWS::SNS::TopicPolicy replaces it entirely.
#: https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html (aws:SourceAccount versus
#: aws:SourceOwner), checked 2026-12.
SNS_DEFAULT_TOPIC_POLICY_SOURCE = "https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html"


def sns_default_topic_policy(env: Environment, topic_arn: str) -> dict[str, Any]:
    return {
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [
            {
                "Sid": "__default_statement_ID",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "SNS:GetTopicAttributes",
                    "SNS:SetTopicAttributes",
                    "SNS:AddPermission",
                    "SNS:RemovePermission",
                    "SNS:DeleteTopic",
                    "SNS:Subscribe",
                    "SNS:ListSubscriptionsByTopic",
                    "SNS:Publish",
                ],
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": env.account}},
            }
        ],
    }


#: The key policy of an AWS managed key (``alias/aws/<service>``): any principal of the account may use the key
#: through that one service. https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key,
#: checked 2026-12.
AWS_MANAGED_KEY_POLICY_SOURCE = "https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key"


def aws_managed_key_policy(env: Environment, service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"Allow access through {service} for all principals in the account",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": env.account, "kms:ViaService": env.endpoint(service)}
                },
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{env.partition}:iam::{env.account}:root"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    }


#: A KMS key created without a KeyPolicy gets the default key policy: the account (and so its IAM policies)
#: may use it. https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html, checked 2026-12.
def default_key_policy(env: Environment) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{env.partition}:iam::{env.account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
