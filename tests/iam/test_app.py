"""The whole app as `make verify-iam` checks it, in its four variants and in the tests' combined variant: every
declared call allowed, every grant used by a call or kept by an allowance with its reason, every role used, and
no allowance that keeps nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.iam import __main__ as cli
from tools.iam import allowances, check, report
from tools.iam.allowances import ALLOWANCES, Allowance
from tools.iam.calls import read_recorded
from tools.iam.declared import declared_calls
from tools.iam.deployment import Deployment
from tools.iam.synth import VARIANTS

#: What our own handlers called in the local sandbox (the app's default prefix, ``mlspec``).
RECORDED = Path(__file__).resolve().parents[2] / "tools" / "iam" / "recorded" / "sandbox.jsonl"

#: The app each variant of `make verify-iam` (tools/iam/synth.py) is synthesized as, by fixture.
APPS = {"sandbox": "sandbox", "production": "production", "tuning": "tuning_app", "model_monitor": "model_monitor_app"}


def recorded(deployment: Deployment, tmp: Path, prefix: str = "mlspec", sse_kms: bool = True) -> list[check.Call]:
    """The committed recording, as this deployment names things (another prefix renames its stacks); lines for a
    role the variant does not have (the drift job with Model Monitor) are left out, as `make verify-iam` does.
    The recording was made with SSE-KMS buckets: with SSE-S3 ones, S3 makes no KMS call for the handlers."""
    lines = RECORDED.read_text().replace("mlspec-", f"{prefix}-").splitlines()
    path = tmp / "recorded.jsonl"
    path.write_text("\n".join(line for line in lines if sse_kms or '"action": "kms:' not in line) + "\n")
    role = lambda ref: getattr(deployment.role(ref), "arn", None)  # noqa: E731
    return list(read_recorded(path, role, cli._resolve_names(deployment), skipped=[]))


def checked(
    deployment: Deployment, tmp: Path, prefix: str = "mlspec", sse_kms: bool = True
) -> tuple[check.Report, dict[Allowance, bool]]:
    result = check.run(deployment, [*declared_calls(deployment), *recorded(deployment, tmp, prefix, sse_kms)])
    return result, allowances.apply(result)


@pytest.fixture(scope="module")
def reports(request, tmp_path_factory) -> dict[str, tuple[check.Report, dict[Allowance, bool]]]:
    assert set(APPS) == set(VARIANTS)
    tmp = tmp_path_factory.mktemp("recorded")
    return {
        name: checked(Deployment(request.getfixturevalue(fixture).templates, name=name), tmp)
        for name, fixture in APPS.items()
    }


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


def test_the_recorded_calls_are_in_the_check(reports):
    """Our own handlers' calls count: the evaluation role's in every variant, the drift role's where it exists."""
    lines = RECORDED.read_text().splitlines()
    evaluation = [line for line in lines if "TrainingEvaluateRole" in line]
    assert evaluation
    assert len(evaluation) < len(lines)
    for name, (result, _) in reports.items():
        mine = [r for r in result.results if r.call.source.startswith("recorded:")]
        assert len(mine) == (len(evaluation) if name == "model_monitor" else len(lines)), name


def test_the_combined_variant_of_the_tests_is_clean_too(variant, tmp_path):
    """Another prefix, SSE-S3 buckets, JSON delivery, tuning without the test transform, Model Monitor."""
    config = variant.config
    sse_kms = config.lake.encryption.value == "kms"
    result, _ = checked(Deployment(variant.templates, name="variant"), tmp_path, config.prefix, sse_kms)
    assert findings("variant", result) == []
