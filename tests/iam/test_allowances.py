"""The allowance table: a grant no call uses is KEPT only when an allowance explains all of it, with its reason;
an allowance that explains nothing is STALE."""

from __future__ import annotations

import pytest

from tests.iam.test_check import STATEMENTS, _app
from tools.iam import allowances, check, report
from tools.iam.allowances import ALLOWANCES, Allowance
from tools.iam.declared import declared_calls
from tools.iam.deployment import Deployment
from tools.iam.synth import VARIANTS

REASON = "a reason a reviewer would accept, long enough to say why"


@pytest.fixture(scope="module")
def small() -> Deployment:
    return Deployment(_app(STATEMENTS))


def run(deployment: Deployment, table: tuple[Allowance, ...]) -> tuple[check.Report, dict[Allowance, bool]]:
    result = check.run(deployment, declared_calls(deployment))
    return result, allowances.apply(result, table)


def test_an_allowance_explaining_every_unused_action_keeps_the_grant(small):
    keep = Allowance("app/Role", ("s3:GetObject", "s3:PutObject"), REASON)
    result, seen = run(small, (keep,))
    assert result.unused == []
    assert [(u.sid, a) for u, a in result.kept] == [("Extra", keep)]
    assert seen == {keep: True}
    (line,) = [line for line in report.lines("sandbox", result) if line.startswith("KEPT")]
    assert line.startswith("KEPT    [sandbox] app/Role  app/Policy [Extra]  no call uses actions s3:GetObject")
    assert line.endswith(f"  -- {REASON}")
    assert ", 0 unused grants, 1 kept, " in report.summary("sandbox", result, (0.0, 0.0), 0)


def test_an_allowance_explaining_part_of_a_grant_keeps_nothing_and_is_stale(small):
    partial = Allowance("app/*", ("s3:GetObject",), REASON)
    elsewhere = Allowance("other-stack/Role*", ("s3:GetObject",), REASON)
    result, seen = run(small, (partial, elsewhere))
    assert [u.sid for u in result.unused] == ["Extra"]
    assert result.kept == []
    assert seen == {partial: False}  # the other names no role of this deployment
    assert allowances.stale((partial, elsewhere), [seen], every_variant=False) == [partial]
    # checked in every variant, an allowance for a role none of them has is stale too
    assert allowances.stale((partial, elsewhere), [seen], every_variant=True) == [partial, elsewhere]
    line = report.format_stale(partial, ["sandbox"])
    assert line.startswith("STALE   app/*  s3:GetObject  -- covers no unused grant in sandbox: ")


def test_resources_explain_a_grant_whose_actions_are_used_elsewhere(small):
    """Logs is used, but not on a second log group added to it: an allowance must name that resource."""
    extra = "arn:aws:logs:us-east-1:123456789012:log-group:other:*"
    statements = [{**STATEMENTS[0], "Resource": [STATEMENTS[0]["Resource"], extra]}]
    deployment = Deployment(_app(statements))
    by_action = Allowance("app/Role", ("logs:PutLogEvents",), REASON)
    by_resource = Allowance("app/Role", (), REASON, resources=("arn:*:logs:*:log-group:other:*",))
    assert run(deployment, (by_action,))[0].kept == []
    result, _ = run(deployment, (by_resource,))
    assert (result.unused, [u.resources for u, _ in result.kept]) == ([], [(extra,)])


def test_every_allowance_has_a_reason_and_none_covers_our_own_code():
    """Our own handlers' grants are explained by their recorded calls, never by an allowance."""
    for allowance in ALLOWANCES:
        assert len(allowance.reason) >= 80, allowance.role
        assert allowance.actions or allowance.resources, allowance.role
    assert not [a.role for a in ALLOWANCES if "EvaluateRole" in a.role or "DriftRole" in a.role]


def test_the_cli_keeps_reasoned_grants_and_reports_stale_allowances_after_every_variant(monkeypatch, capsys):
    from tools.iam import __main__ as cli

    keep = Allowance("app/Role", ("s3:GetObject", "s3:PutObject"), REASON)
    ghost = Allowance("*-serving/NoSuchRole*", ("s3:GetObject",), REASON)
    monkeypatch.setattr(cli, "synthesize", lambda overrides: _app(STATEMENTS))
    monkeypatch.setattr(allowances, "ALLOWANCES", (keep, ghost))
    assert cli.main(["--variant", *VARIANTS]) == 0  # stale allowances are reported, they do not fail the check
    out = capsys.readouterr().out.splitlines()
    assert len([line for line in out if line.startswith("KEPT")]) == len(VARIANTS)
    assert [line for line in out if line.startswith("STALE")] == [report.format_stale(ghost, list(VARIANTS))]
    assert not [line for line in out if line.startswith("UNUSED")]
    assert out[-1] == "iam check: 0 denied call(s)"
