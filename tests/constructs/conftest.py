"""Construct tests: each construct synthesized alone in a bare Stack, with only the references it needs."""

from __future__ import annotations

import aws_cdk as cdk
import pytest


@pytest.fixture
def stack() -> cdk.Stack:
    """An empty stack in a fixed account and region, in an app of its own."""
    return cdk.Stack(cdk.App(), "Test", env=cdk.Environment(account="123456789012", region="us-east-1"))
