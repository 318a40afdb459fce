"""Fixtures shared by the evaluation function's tests."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
BUCKET = "artifacts-test"


@pytest.fixture
def s3():
    """An in-process moto S3 holding the artifacts bucket the evaluation reads and writes."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client
