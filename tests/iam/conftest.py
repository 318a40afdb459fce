"""The sandbox app as the check sees it: resolved once per session from the shared synthesis."""

from __future__ import annotations

import pytest

from tools.iam import check
from tools.iam.declared import declared_calls
from tools.iam.deployment import Deployment


@pytest.fixture(scope="session")
def sandbox_deployment(sandbox) -> Deployment:
    return Deployment(sandbox.templates, name="sandbox")


@pytest.fixture(scope="session")
def sandbox_report(sandbox_deployment) -> check.Report:
    return check.run(sandbox_deployment, declared_calls(sandbox_deployment))
