"""The evaluator (simulate.mjs with @cloud-copilot/iam-simulate) on hand-made cases that must be allowed or
denied: conditions the project uses, service principals, resource and endpoint policies, and the two defects
the check was built to find. All cases run in one Node process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tools.iam.evaluate import Decision, Request, evaluate

ACCOUNT = "123456789012"
ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/session"
BUCKET = "arn:aws:s3:::lake"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
ALARM = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:latency"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:drift"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/hourly"


def allow(action: Any, resource: Any, condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition:
        statement["Condition"] = condition
    return statement


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


TLS_ONLY_BUCKET = doc(
    {
        **allow("s3:*", [BUCKET, f"{BUCKET}/*"], {"Bool": {"aws:SecureTransport": "false"}}),
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
    },
    {
        **allow("s3:*", [BUCKET, f"{BUCKET}/*"], {"NumericLessThan": {"s3:TlsVersion": 1.2}}),
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
    },
)
READER = doc(
    allow("s3:GetObject", f"{BUCKET}/events/*"),
    allow("s3:ListBucket", BUCKET, {"StringLike": {"s3:prefix": ["events/*", "events"]}}),
    allow(
        ["kms:Decrypt", "kms:GenerateDataKey"], KEY, {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    ),
    allow(["kms:CreateGrant"], KEY, {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
    allow("cloudwatch:PutMetricData", "*", {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
)
KEY_POLICY = doc(
    allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
    allow(["kms:Decrypt", "kms:GenerateDataKey*"], "*", Principal={"Service": "cloudwatch.amazonaws.com"}),
    allow(
        ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"],
        "*",
        {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"}},
        Principal={"Service": "logs.us-east-1.amazonaws.com"},
    ),
)
#: The alerts topic's policy as enforce_ssl alone makes it: the TLS Deny and nothing else (the app adds the next).
TLS_ONLY_TOPIC = doc(
    {**allow("sns:Publish", TOPIC, {"Bool": {"aws:SecureTransport": "false"}}), "Effect": "Deny", "Principal": "*"}
)
ALARMS_MAY_PUBLISH = doc(
    TLS_ONLY_TOPIC["Statement"][0],
    allow(
        "sns:Publish",
        TOPIC,
        {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:*"}},
        Principal={"Service": "cloudwatch.amazonaws.com"},
    ),
)
#: A workflow role granting the tuning rule under a name Step Functions does not use (the app's grant before its fix).
SYNC_RULES = doc(
    allow(
        ["events:PutRule", "events:PutTargets", "events:DescribeRule"],
        [
            f"arn:aws:events:us-east-1:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
            f"arn:aws:events:us-east-1:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerHyperParameterTuningJobsRule",
        ],
    )
)
FIXED_SYNC_RULES = doc(
    allow("events:PutRule", f"arn:aws:events:us-east-1:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTuningJobsRule")
)
LAMBDA_PERMISSION = doc(
    allow(
        "lambda:InvokeFunction",
        FUNCTION,
        {"ArnLike": {"AWS:SourceArn": RULE}, "StringEquals": {"AWS:SourceAccount": ACCOUNT}},
        Principal={"Service": "events.amazonaws.com"},
    )
)
LAKE_ONLY_ENDPOINT = doc(allow(["s3:GetObject", "s3:ListBucket"], [BUCKET, f"{BUCKET}/*"], Principal="*"))
STATES_TRUST = doc(
    allow(
        "sts:AssumeRole",
        None,
        {
            "ArnLike": {"aws:SourceArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:*"},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
        Principal={"Service": "states.amazonaws.com"},
    )
)
del STATES_TRUST["Statement"][0]["Resource"]

POLICIES = {
    "tls-only-bucket": TLS_ONLY_BUCKET,
    "reader": READER,
    "key-policy": KEY_POLICY,
    "tls-only-topic": TLS_ONLY_TOPIC,
    "alarms-may-publish": ALARMS_MAY_PUBLISH,
    "sync-rules": SYNC_RULES,
    "fixed-sync-rules": FIXED_SYNC_RULES,
    "lambda-permission": LAMBDA_PERMISSION,
    "lake-only-endpoint": LAKE_ONLY_ENDPOINT,
    "states-trust": STATES_TRUST,
}
SECURE = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.2"}


@dataclass
class Case:
    principal: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    identity: tuple[str, ...] = ()
    resource_policy: str | None = None
    endpoints: tuple[str, ...] = ()


CASES: dict[str, tuple[Case, str]] = {
    # S3: the TLS deny of every lake bucket, prefixes
    "s3 read over TLS": (
        Case(ROLE, "s3:GetObject", f"{BUCKET}/events/dt=1/a", SECURE, ("reader",), "tls-only-bucket"),
        "Allowed",
    ),
    "s3 read without TLS": (
        Case(
            ROLE,
            "s3:GetObject",
            f"{BUCKET}/events/dt=1/a",
            {"aws:SecureTransport": "false"},
            ("reader",),
            "tls-only-bucket",
        ),
        "ExplicitlyDenied",
    ),
    "s3 read over TLS 1.1": (
        Case(
            ROLE,
            "s3:GetObject",
            f"{BUCKET}/events/a",
            {**SECURE, "s3:TlsVersion": "1.1"},
            ("reader",),
            "tls-only-bucket",
        ),
        "ExplicitlyDenied",
    ),
    "s3 read outside the prefix": (
        Case(ROLE, "s3:GetObject", f"{BUCKET}/curated/a", SECURE, ("reader",), "tls-only-bucket"),
        "ImplicitlyDenied",
    ),
    "list the granted prefix": (
        Case(ROLE, "s3:ListBucket", BUCKET, {**SECURE, "s3:prefix": "events/dt=1/"}, ("reader",), "tls-only-bucket"),
        "Allowed",
    ),
    "list another prefix": (
        Case(ROLE, "s3:ListBucket", BUCKET, {**SECURE, "s3:prefix": "etl/"}, ("reader",), "tls-only-bucket"),
        "ImplicitlyDenied",
    ),
    # KMS: the key policy delegates to IAM; ViaService and GrantIsForAWSResource; service principals
    "kms through s3": (
        Case(ROLE, "kms:Decrypt", KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com"}, ("reader",), "key-policy"),
        "Allowed",
    ),
    "kms directly": (Case(ROLE, "kms:Decrypt", KEY, {}, ("reader",), "key-policy"), "ImplicitlyDenied"),
    "kms through another service": (
        Case(ROLE, "kms:Decrypt", KEY, {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}, ("reader",), "key-policy"),
        "ImplicitlyDenied",
    ),
    "kms without the key policy": (
        Case(ROLE, "kms:Decrypt", KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com"}, ("reader",)),
        "ImplicitlyDenied",
    ),
    "grant for an AWS resource": (
        Case(ROLE, "kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}, ("reader",), "key-policy"),
        "Allowed",
    ),
    "grant for anyone": (
        Case(ROLE, "kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "false"}, ("reader",), "key-policy"),
        "ImplicitlyDenied",
    ),
    "cloudwatch uses the key": (
        Case("cloudwatch.amazonaws.com", "kms:GenerateDataKey", KEY, {}, (), "key-policy"),
        "Allowed",
    ),
    "logs encrypts a group of the account": (
        Case(
            "logs.us-east-1.amazonaws.com",
            "kms:GenerateDataKey",
            KEY,
            {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:g"},
            (),
            "key-policy",
        ),
        "Allowed",
    ),
    "logs encrypts another account's group": (
        Case(
            "logs.us-east-1.amazonaws.com",
            "kms:GenerateDataKey",
            KEY,
            {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:999999999999:log-group:g"},
            (),
            "key-policy",
        ),
        "ImplicitlyDenied",
    ),
    # CloudWatch metrics namespaces
    "metrics in the granted namespace": (
        Case(
            ROLE, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}, ("reader",)
        ),
        "Allowed",
    ),
    "metrics in another namespace": (
        Case(ROLE, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Glue"}, ("reader",)),
        "ImplicitlyDenied",
    ),
    # (a) the alerts topic: its TLS-only policy replaced SNS's default one, so no alarm may publish
    "alarm publishes to the TLS-only topic": (
        Case(
            "cloudwatch.amazonaws.com",
            "sns:Publish",
            TOPIC,
            {"aws:SecureTransport": "true", "aws:SourceArn": ALARM, "aws:SourceAccount": ACCOUNT},
            (),
            "tls-only-topic",
        ),
        "ImplicitlyDenied",
    ),
    "alarm publishes once the topic policy allows CloudWatch": (
        Case(
            "cloudwatch.amazonaws.com",
            "sns:Publish",
            TOPIC,
            {"aws:SecureTransport": "true", "aws:SourceArn": ALARM, "aws:SourceAccount": ACCOUNT},
            (),
            "alarms-may-publish",
        ),
        "Allowed",
    ),
    # (b) tuning: the role grants the rule under the wrong name
    "the training rule is granted": (
        Case(
            ROLE,
            "events:PutRule",
            f"arn:aws:events:us-east-1:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
            {},
            ("sync-rules",),
        ),
        "Allowed",
    ),
    "the tuning rule Step Functions manages is not": (
        Case(
            ROLE,
            "events:PutRule",
            f"arn:aws:events:us-east-1:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTuningJobsRule",
            {},
            ("sync-rules",),
        ),
        "ImplicitlyDenied",
    ),
    "the tuning rule under its name": (
        Case(
            ROLE,
            "events:PutRule",
            f"arn:aws:events:us-east-1:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTuningJobsRule",
            {},
            ("fixed-sync-rules",),
        ),
        "Allowed",
    ),
    # Lambda permissions: aws:SourceArn/aws:SourceAccount
    "the rule invokes the function": (
        Case(
            "events.amazonaws.com",
            "lambda:InvokeFunction",
            FUNCTION,
            {"aws:SourceArn": RULE, "aws:SourceAccount": ACCOUNT},
            (),
            "lambda-permission",
        ),
        "Allowed",
    ),
    "another rule may not": (
        Case(
            "events.amazonaws.com",
            "lambda:InvokeFunction",
            FUNCTION,
            {"aws:SourceArn": f"{RULE}-other", "aws:SourceAccount": ACCOUNT},
            (),
            "lambda-permission",
        ),
        "ImplicitlyDenied",
    ),
    "a service principal without a resource policy": (
        Case("events.amazonaws.com", "lambda:InvokeFunction", FUNCTION, {"aws:SourceArn": RULE}),
        "ImplicitlyDenied",
    ),
    # the VPC endpoint policy bounds what a job in the VPC reaches
    "through the endpoint to the lake": (
        Case(
            ROLE, "s3:GetObject", f"{BUCKET}/events/a", SECURE, ("reader",), "tls-only-bucket", ("lake-only-endpoint",)
        ),
        "Allowed",
    ),
    "through the endpoint elsewhere": (
        Case(ROLE, "s3:GetObject", "arn:aws:s3:::other/events/a", SECURE, ("reader",), None, ("lake-only-endpoint",)),
        "ImplicitlyDenied",
    ),
    # trust policies: the service, with the confused-deputy conditions
    "Step Functions assumes the role": (
        Case(
            "states.amazonaws.com",
            "sts:AssumeRole",
            f"arn:aws:iam::{ACCOUNT}:role/workflow",
            {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:m"},
            (),
            "states-trust",
        ),
        "Allowed",
    ),
    "another account's state machine does not": (
        Case(
            "states.amazonaws.com",
            "sts:AssumeRole",
            f"arn:aws:iam::{ACCOUNT}:role/workflow",
            {
                "aws:SourceAccount": "999999999999",
                "aws:SourceArn": "arn:aws:states:us-east-1:999999999999:stateMachine:m",
            },
            (),
            "states-trust",
        ),
        "ImplicitlyDenied",
    ),
}


@pytest.fixture(scope="module")
def decisions() -> dict[str, Decision]:
    requests = [
        Request(name, c.principal, c.action, c.resource, ACCOUNT, c.context, c.identity, c.resource_policy, c.endpoints)
        for name, (c, _) in CASES.items()
    ]
    return dict(zip(CASES, evaluate(requests, POLICIES), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_case(decisions, name):
    expected = CASES[name][1]
    decision = decisions[name]
    assert decision.result == expected, f"{name}: {decision}"


def test_an_explicit_deny_names_its_statement(decisions):
    denial = decisions["s3 read over TLS 1.1"].denials
    assert [(d.policy_type, d.policy_id, d.statement, d.explicit) for d in denial] == [
        ("resource", "tls-only-bucket", 2, True)
    ]


def test_an_allow_names_the_statements_that_granted_it(decisions):
    grants = {(g.policy_type, g.policy_id, g.statement) for g in decisions["kms through s3"].grants}
    assert grants == {("identity", "reader", 3), ("resource", "key-policy", 1)}, (
        "IAM (statement 3) through the key policy's root statement"
    )


def test_a_missing_allow_names_the_policy_types_that_failed(decisions):
    denial = decisions["alarm publishes to the TLS-only topic"].denials
    assert {(d.policy_type, d.explicit) for d in denial} == {("identity", False), ("resource", False)}


def test_an_invalid_request_is_an_error_not_a_decision():
    bad = Request("bad", ROLE, "s3:NoSuchAction", f"{BUCKET}/a", ACCOUNT, {}, ("reader",))
    (decision,) = evaluate([bad], POLICIES)
    assert decision.result == "Error"
    assert "invalid.action" in decision.error
