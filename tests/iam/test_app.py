"""The whole app as `make verify-iam` checks it, in its four variants and in the tests' combined variant: every
declared call allowed, every grant used by a call or kept by an allowance with its reason, every role used, and
no allowance that keeps nothing."""

from __future__ import annotations

import pytest

from tools.iam import allowances, check, report
from tools.iam.allowances import ALLOWANCES, Allowance
from tools.iam.declared import declared_calls
from tools.iam.deployment import Deployment
from tools.iam.synth import VARIANTS

#: The app each variant of `make verify-iam` (tools/iam/synth.py) is synthesized as, by fixture.
APPS = {"sandbox": "sandbox", "production": "production", "tuning": "tuning_app", "model_monitor": "model_monitor_app"}


def checked(deployment: Deployment) -> tuple[check.Report, dict[Allowance, bool]]:
    result = check.run(deployment, declared_calls(deployment))
    return result, allowances.apply(result)


@pytest.fixture(scope="module")
def reports(request, sandbox_checked) -> dict[str, tuple[check.Report, dict[Allowance, bool]]]:
    assert set(APPS) == set(VARIANTS)
    found = {"sandbox": sandbox_checked}
    for name, fixture in APPS.items():
        if name != "sandbox":
            found[name] = checked(Deployment(request.getfixturevalue(fixture).templates, name=name))
    return found


def findings(name: str, result: check.Report) -> list[str]:
    """Every line that fails the check: denied calls, errors, unexplained grants, idle roles."""
    return [line for line in report.lines(name, result) if not line.startswith("KEPT")]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_call_is_allowed_and_every_grant_used_or_kept(reports, name):
    result, _ = reports[name]
    assert len(result.results) > 300
    assert findings(name, result) == []


def test_no_allowance_is_stale(reports):
    seen = [applied for _, applied in reports.values()]
    assert allowances.stale(ALLOWANCES, seen, every_variant=True) == []


def test_the_combined_variant_of_the_tests_is_clean_too(variant):
    """Another prefix, SSE-S3 buckets, JSON delivery, tuning without the test transform, Model Monitor."""
    result, _ = checked(Deployment(variant.templates, name="variant"))
    assert findings("variant", result) == []
