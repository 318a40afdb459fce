"""cdk-nag AwsSolutions and the NIST 800-53 rev 5, HIPAA Security and PCI DSS 3.2.1 packs run inside the app
itself (build_app registers them, stacks.NAG_PACKS): synthesis fails on any unacknowledged finding, so a green
`cdk synth` means zero findings. These tests prove the gate is live in every pack and that every acknowledgement
carries a reason."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

import app as app_module
from ml_constructs.nag import COMPLIANCE_PACKS, MIN_REASON_LENGTH, acknowledge


def report(outdir) -> dict:
    return json.loads((outdir / "validation-report.json").read_text())


@pytest.mark.parametrize("profile", ["sandbox", "production", "variant"])  # variant: Model Monitor, tuning, ...
def test_app_synthesizes_with_zero_unacknowledged_findings(request, profile):
    synth = request.getfixturevalue(profile)  # synthesis itself raises on a finding
    violations = [v for plugin in report(synth.outdir)["pluginReports"] for v in plugin.get("violations", [])]
    assert violations == []


#: The finding each pack must raise on a bare bucket, which has no server access logging: every pack has the
#: control (cdk-nag 3 rule ids: ``<pack>-<rule>``).
CANARY_RULES = {
    "AwsSolutions": "AwsSolutions-S1",
    **{pack: f"{pack}-S3BucketLoggingEnabled" for pack in COMPLIANCE_PACKS},
}


def test_canary_noncompliant_resources_fail_synthesis_and_an_acknowledgement_silences_one_rule(tmp_path):
    """The gate can fail, in every pack: the real app with two deliberately non-compliant buckets does not
    synthesize. One of them acknowledges each pack's logging finding: exactly those findings disappear, and only
    for that bucket; nothing else in the app is reported."""
    app, _, stacks = app_module.create_app({}, outdir=str(tmp_path), builtin_cloud_formation_validation=False)
    s3.CfnBucket(stacks.data_lake, "CanaryNoncompliantBucket")
    acknowledged = s3.CfnBucket(stacks.data_lake, "CanaryAcknowledgedBucket")
    for rule in CANARY_RULES.values():
        acknowledge(acknowledged, rule, "Canary: proves an acknowledgement silences exactly one rule.")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    plugins = report(tmp_path)["pluginReports"]
    violations = {
        v["ruleName"]: sorted(c["constructPath"] for c in v["violatingConstructs"])
        for plugin in plugins
        for v in plugin["violations"]
    }
    stack = stacks.data_lake.stack_name
    noncompliant, both = [f"{stack}/CanaryNoncompliantBucket"], [f"{stack}/CanaryAcknowledgedBucket"]
    both = sorted(both + noncompliant)
    # every pack ran and raised its logging finding on the unacknowledged bucket only
    assert {plugin["pluginName"] for plugin in plugins} >= set(CANARY_RULES)
    for rule in CANARY_RULES.values():
        assert violations.pop(rule) == noncompliant, rule
    # server access logging (S1) and TLS-only (S10) are the AwsSolutions findings a bare bucket must raise
    assert {r: c for r, c in violations.items() if r.startswith("AwsSolutions-")} == {"AwsSolutions-S10": both}
    # the packs' other findings are on the canaries too, never on the app itself
    assert {path for paths in violations.values() for path in paths} == set(both)
    # what `python app.py` prints instead of a jsii stack trace
    summary = app_module.validation_summary(tmp_path / "validation-report.json").splitlines()
    assert summary[-1].startswith(f"synthesis refused: {len(summary) - 1} finding(s)")
    assert any(line.startswith("compliance: AwsSolutions-S1: ") for line in summary)


def test_acknowledgement_without_a_real_reason_is_refused():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="reason"):
        acknowledge(stack, "AwsSolutions-S1", "ok")
    assert MIN_REASON_LENGTH >= 30


@pytest.mark.parametrize("profile", ["sandbox", "production"])
def test_every_acknowledgement_in_the_app_has_a_reason(request, profile):
    synth = request.getfixturevalue(profile)
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found = []
    for construct in synth.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                found.append(entry.data)
    # metadata entries map "Plugin::RuleId" to the reason; CDK adds some of its own (built-in validator)
    for data in found:
        for rule, reason in data.items():
            assert len(str(reason).strip()) >= MIN_REASON_LENGTH, rule


def test_synth_with_the_builtin_cloudformation_validator(tmp_path):
    """The rest of the suite turns CDK's built-in CloudFormation validation off for speed; one run keeps it on."""
    app, _, stacks = app_module.create_app({}, outdir=str(tmp_path), builtin_cloud_formation_validation=True)
    assembly = app.synth()
    assert {s.stack_name for s in assembly.stacks} == {s.stack_name for s in stacks.all()}
