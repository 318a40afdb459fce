"""The check end to end: every call decided, findings one per line, recorded calls read, unused grants found,
and statements mutated to prove the check depends on them. (Zero denied calls and no unexplained grant on the
whole app, every variant: test_app.py.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tools.iam import __main__ as cli
from tools.iam import check, report
from tools.iam.calls import RecordedCallError, read_recorded
from tools.iam.declared import declared_calls
from tools.iam.deployment import Deployment

LINE = re.compile(r"^(DENIED|UNUSED|KEPT|IDLE|ERROR)  +\[sandbox\] \S+ ")


def test_every_declared_call_of_the_sandbox_is_decided(sandbox_report):
    assert len(sandbox_report.results) > 300
    assert sandbox_report.errors == [], [
        report.format_error("sandbox", sandbox_report.deployment, r) for r in sandbox_report.errors[:5]
    ]
    assert sum(r.allowed for r in sandbox_report.results) > 250


def test_the_report_has_one_line_per_finding(sandbox_report):
    lines = report.lines("sandbox", sandbox_report)
    findings = [sandbox_report.denied, sandbox_report.unused, sandbox_report.kept, sandbox_report.idle_roles]
    assert len(lines) == sum(len(f) for f in findings)
    for unused, allowance in sandbox_report.kept:
        line = report.format_kept("sandbox", unused, allowance)
        assert line.startswith(f"KEPT    [sandbox] {unused.role.label}  ")
        assert line.endswith(f"  -- {allowance.reason}")
    assert all(LINE.match(line) for line in lines), [line for line in lines if not LINE.match(line)][:3]
    for result in sandbox_report.denied:
        line = report.format_denied("sandbox", sandbox_report.deployment, result)
        assert result.call.action in line
        assert result.call.resource in line
        assert " -- no Allow in " in line or " -- explicit Deny in " in line
    summary = report.summary("sandbox", sandbox_report, (1.0, 1.0), 0)
    assert summary.startswith(f"sandbox: {len(sandbox_report.results)} calls")


def _app(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A function with its role and log group, and a second role nothing uses."""

    def trust(service: str) -> dict[str, Any]:
        statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        return {"Version": "2012-10-17", "Statement": [statement]}

    return {
        "app": {
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {"AssumeRolePolicyDocument": trust("lambda.amazonaws.com")},
                },
                "Idle": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {"AssumeRolePolicyDocument": trust("glue.amazonaws.com")},
                },
                "Policy": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {
                        "PolicyName": "p",
                        "Roles": [{"Ref": "Role"}],
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                    },
                },
                "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                        "LoggingConfig": {"LogGroup": {"Ref": "Logs"}},
                    },
                },
            }
        }
    }


STATEMENTS: list[dict[str, Any]] = [
    {
        "Sid": "Logs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": {"Fn::GetAtt": ["Logs", "Arn"]},
    },
    {
        "Sid": "Extra",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::elsewhere/*",
    },
]


@pytest.fixture(scope="module")
def small() -> Deployment:
    return Deployment(_app(STATEMENTS))


def test_grants_no_call_uses_and_roles_nothing_uses(small):
    result = check.run(small, declared_calls(small))
    assert result.denied == []
    assert result.errors == []
    assert [(u.sid, u.actions, u.resources) for u in result.unused] == [
        ("Extra", ("s3:GetObject", "s3:PutObject"), ("arn:aws:s3:::elsewhere/*",))
    ]
    assert [role.logical_id for role in result.idle_roles] == ["Idle"]


def test_recorded_calls_are_evaluated_with_the_declared_ones(small, tmp_path):
    recorded = tmp_path / "calls.jsonl"
    lines = [
        {"principal": "Role", "action": "s3:GetObject", "resource": "arn:aws:s3:::elsewhere/a", "source": "handler"},
        {"principal": "app/Role", "action": "s3:GetObject", "resource": "arn:aws:s3:::other/a"},
        {"principal": small.role("Role").arn, "action": "s3:PutObject", "resource": "arn:aws:s3:::elsewhere/b"},
        {
            "principal": "events.amazonaws.com",
            "action": "lambda:InvokeFunction",
            "resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "context": {"aws:SourceArn": "x"},
        },
    ]
    recorded.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    calls = list(read_recorded(recorded, lambda ref: getattr(small.role(ref), "arn", None)))
    assert [c.source for c in calls] == ["recorded:calls.jsonl"] * 4
    result = check.run(small, [*declared_calls(small), *calls])
    denied = {(r.call.action, r.call.resource) for r in result.denied}
    assert denied == {
        ("s3:GetObject", "arn:aws:s3:::other/a"),
        ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:f"),
    }
    assert result.unused == [], "the recorded calls use the Extra statement"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "expected a JSON object"),
        ('{"principal": "Role", "action": "s3:GetObject"}', "expected a JSON object"),
        ('{"principal": "Nobody", "action": "s3:GetObject", "resource": "*"}', "no role 'Nobody'"),
    ],
)
def test_a_bad_recorded_line_is_named(small, tmp_path, line, message):
    recorded = tmp_path / "calls.jsonl"
    recorded.write_text(line + "\n")
    with pytest.raises(RecordedCallError, match=rf"calls.jsonl:1: .*{re.escape(message)}"):
        list(read_recorded(recorded, lambda ref: getattr(small.role(ref), "arn", None)))


def test_deleting_a_statement_a_call_depends_on_is_caught_and_names_the_call(small):
    result = check.run(small, declared_calls(small))
    mutations = check.mutate(result, check.mutation_candidates(result))
    caught = {(m.policy.label, m.sid or m.statement): sorted(r.call.action for r in m.caught) for m in mutations}
    assert caught == {
        ("app/Policy", "Logs"): ["logs:CreateLogStream", "logs:PutLogEvents"],
        ("app/Role trust policy", 1): ["sts:AssumeRole"],
    }


def test_a_sample_of_the_sandbox_statements_is_caught(sandbox_report):
    candidates = check.mutation_candidates(sandbox_report)
    assert len(candidates) > 50
    kinds = {policy.kind for policy, _, _ in candidates}
    assert kinds == {"identity", "resource", "endpoint"}, "role, resource and endpoint policies all take part"
    mutations = check.mutate(sandbox_report, check.sample(candidates, 15))
    survivors = [report.format_mutation("sandbox", m) for m in mutations if m.survived]
    assert len(mutations) == 15
    assert survivors == []
    for mutation in mutations:
        assert {id(r) for r in mutation.caught} <= {id(r) for r in mutation.dependents}


def test_the_cli_reports_and_exits_on_denied_calls(sandbox, monkeypatch, capsys):
    monkeypatch.setattr(cli, "synthesize", lambda overrides: sandbox.templates)
    status = cli.main(["--variant", "sandbox", "--mutations", "--sample", "3"])
    out = capsys.readouterr().out
    denied = [line for line in out.splitlines() if line.startswith("DENIED")]
    assert status == (1 if denied else 0)
    assert "sandbox: mutations: 3 statements deleted, 3 caught, 0 survived" in out
    assert re.search(r"^sandbox: \d+ calls \(\d+ declared, 0 recorded\), \d+ denied, 0 errors", out, re.MULTILINE)
    assert out.splitlines()[-1].startswith(f"iam check: {len(denied)} denied call(s)")


def test_the_cli_refuses_a_missing_recorded_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(["--recorded", str(tmp_path / "absent.jsonl")])
    assert exit_info.value.code == 2
    assert "no such file" in capsys.readouterr().err
