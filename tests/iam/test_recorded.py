"""The committed recording (tools/iam/recorded/sandbox.jsonl, what our own code called in the local sandbox):
every line names a role and resources of the sandbox templates, and the check evaluates every call (no ERROR).
Whether each is allowed depends on the constructs' grants; the report says which are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.iam import __main__ as cli
from tools.iam import check, report
from tools.iam.calls import NotInTemplatesError, read_recorded
from tools.iam.declared import declared_calls
from tools.iam.deployment import Deployment
from tools.iam.record import ACCOUNT

COMMITTED = Path(__file__).resolve().parents[2] / "tools" / "iam" / "recorded" / "sandbox.jsonl"


def _read(deployment: Deployment, path: Path = COMMITTED, skipped: list[str] | None = None) -> list[check.Call]:
    role = lambda ref: getattr(deployment.role(ref), "arn", None)  # noqa: E731
    return list(read_recorded(path, role, cli._resolve_names(deployment), skipped))


def test_the_committed_recording_is_sorted_distinct_and_uses_placeholders():
    lines = COMMITTED.read_text().splitlines()
    assert lines, "the committed recording is empty"
    records = [json.loads(line) for line in lines]
    keys = [(r["principal"], r["action"], r["resource"], json.dumps(r["context"], sort_keys=True)) for r in records]
    assert keys == sorted(set(keys))
    assert {r["principal"] for r in records} == {
        "mlspec-serving/DriftRole8A5FB833",
        "mlspec-training/TrainingEvaluateRole17A45342",
    }
    # a resource of the templates appears as its placeholder; what a run names (a model, an endpoint config of a
    # training run) as an ARN in the check's account and region with the run's name as {uuid}
    per_run = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:"
    assert all(
        r["resource"] == "*"
        or "${mlspec-" in r["resource"]
        or (r["resource"].startswith(per_run) and "{uuid}" in r["resource"])
        for r in records
    )


def test_every_recorded_call_of_the_sandbox_is_evaluated(sandbox_deployment):
    recorded = _read(sandbox_deployment)
    assert len(recorded) == len(COMMITTED.read_text().splitlines())
    assert not any("${" in call.resource or "${" in json.dumps(call.context) for call in recorded)
    result = check.run(sandbox_deployment, [*declared_calls(sandbox_deployment), *recorded])
    mine = [r for r in result.results if r.call.source == f"recorded:{COMMITTED.name}"]
    assert len(mine) == len(recorded)
    assert [r for r in mine if r.error] == []
    denied = [report.format_denied("sandbox", sandbox_deployment, r) for r in mine if not r.allowed]
    print(f"recorded calls: {len(mine)}, allowed {len(mine) - len(denied)}, denied {len(denied)}", *denied, sep="\n")


def test_a_placeholder_the_templates_lack_is_named_or_left_out(sandbox_deployment, tmp_path):
    line = {
        "principal": "mlspec-serving/DriftRole8A5FB833",
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::${mlspec-data-lake/NoSuchBucket}/a",
    }
    recorded = tmp_path / "calls.jsonl"
    recorded.write_text(json.dumps(line) + "\n")
    with pytest.raises(NotInTemplatesError, match=r"calls.jsonl:1: no resource \$\{mlspec-data-lake/NoSuchBucket\}"):
        _read(sandbox_deployment, recorded)
    skipped: list[str] = []
    assert _read(sandbox_deployment, recorded, skipped) == []
    assert len(skipped) == 1
