"""The role SageMaker assumes to run the endpoint's model: read models, write data capture, run in the VPC.

The training workflow's new models run with the same role when it rolls the endpoint, hence ``models/*`` rather
than the default model's prefix alone.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_constructs.common import sagemaker_logs, sagemaker_vpc_access
from ml_constructs.lake_layout import CAPTURE_PREFIX, MODELS_PREFIX
from ml_constructs.nag import WildcardLedger, acknowledge_grant_policy


def model_role(scope: Construct, artifacts: s3.IBucket, key: kms.IKey, *, s3_kms: bool) -> iam.Role:
    """Read ``models/``, write ``capture/`` of ``artifacts``; ``key`` for the capture (the endpoint config names it)
    and, with ``s3_kms``, for reading the models; its logs and metrics; the network interfaces of the VPC.

    The endpoint's volumes are encrypted with the key too, but through a grant the endpoint's creator makes
    (CloudFormation's role, or the training workflow's when it rolls the endpoint), not this role. No
    s3:AbortMultipartUpload: SageMaker documents none, and the lake's lifecycle rule clears incomplete uploads."""
    role = iam.Role(
        scope,
        "ModelRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="SageMaker endpoint: read models/, write data capture to capture/",
    )
    models = artifacts.arn_for_objects(f"{MODELS_PREFIX}*")
    capture = artifacts.arn_for_objects(f"{CAPTURE_PREFIX}*")
    endpoint_logs, endpoint_logs_arn = sagemaker_logs(scope, "/aws/sagemaker/Endpoints/*", "EndpointLogs")
    for statement in (
        iam.PolicyStatement(sid="ReadModels", actions=["s3:GetObject"], resources=[models]),
        iam.PolicyStatement(sid="WriteCapture", actions=["s3:PutObject"], resources=[capture]),
        iam.PolicyStatement(
            sid="ModelAndCaptureEncryption",
            actions=(["kms:Decrypt"] if s3_kms else []) + ["kms:GenerateDataKey"],
            resources=[key.key_arn],
        ),
        sagemaker_vpc_access(),
        endpoint_logs,
        iam.PolicyStatement(
            sid="EndpointMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        ),
    ):
        role.add_to_policy(statement)
    ledger = WildcardLedger()
    ledger.track(role, models, capture, endpoint_logs_arn, "*")
    ledger.acknowledge(
        "Objects under the models/ and capture/ prefixes of the artifacts bucket (SageMaker names capture files "
        "by time), the /aws/sagemaker/Endpoints/ log groups, and '*' only for EC2 network-interface and "
        "CloudWatch PutMetricData calls, which have no resource type."
    )
    acknowledge_grant_policy(role)
    return role
