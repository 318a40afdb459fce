"""The app as the check sees it: resolved from the shared syntheses (sandbox, production), plus the two variants
of `make verify-iam` no other test builds (tuning, Model Monitor), each synthesized once per session."""

from __future__ import annotations

import pytest

from tests.conftest import Synth, synth
from tools.iam import allowances, check
from tools.iam.declared import declared_calls
from tools.iam.deployment import Deployment
from tools.iam.synth import VARIANTS


@pytest.fixture(scope="session")
def sandbox_deployment(sandbox) -> Deployment:
    return Deployment(sandbox.templates, name="sandbox")


@pytest.fixture(scope="session")
def sandbox_checked(sandbox_deployment) -> tuple[check.Report, dict[allowances.Allowance, bool]]:
    """The sandbox's report as `make verify-iam` prints it (unused grants an allowance covers are KEPT), and
    which allowances kept a grant."""
    report = check.run(sandbox_deployment, declared_calls(sandbox_deployment))
    return report, allowances.apply(report)


@pytest.fixture(scope="session")
def sandbox_report(sandbox_checked) -> check.Report:
    return sandbox_checked[0]


@pytest.fixture(scope="session")
def tuning_app(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth(tmp_path_factory.mktemp("cdk-tuning"), dict(VARIANTS["tuning"]))


@pytest.fixture(scope="session")
def model_monitor_app(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth(tmp_path_factory.mktemp("cdk-model-monitor"), dict(VARIANTS["model_monitor"]))
