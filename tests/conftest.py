"""Shared fixtures. The app is synthesized once per test session per profile (jsii start-up and synthesis
dominate the run time) through app.create_app, the same entry point `cdk synth` uses."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Offline and quiet, whatever the caller's shell has: never reach AWS, never print jsii's Node banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,21")
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(_var, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",  # a dummy value for moto
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Synth:
    """One synthesized app: its config, stacks, cloud assembly directory and the templates as dicts."""

    app: Any
    config: Any
    stacks: Any
    outdir: Path
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def template(self, stack: Any) -> dict[str, Any]:
        return self.templates[stack.stack_name]


def synth(outdir: Path, overrides: dict[str, Any] | None = None) -> Synth:
    import app as app_module

    app, config, stacks = app_module.create_app(
        overrides or {}, outdir=str(outdir), builtin_cloud_formation_validation=False
    )
    assembly = app.synth()
    result = Synth(app=app, config=config, stacks=stacks, outdir=outdir)
    for stack in stacks.all():
        artifact = assembly.get_stack_by_name(stack.stack_name)
        result.templates[stack.stack_name] = json.loads(Path(artifact.template_full_path).read_text())
    return result


@pytest.fixture
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region, and no config files, profiles or endpoint overrides: nothing a test
    does with boto3 can reach real AWS (moto intercepts, or the call fails)."""
    for var in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_KINESIS",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(var, raising=False)
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(var, value)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The default app (sandbox profile), as `make synth` builds it."""
    return synth(tmp_path_factory.mktemp("cdk-sandbox"))


@pytest.fixture(scope="session")
def production(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The production profile: retained data, Object Lock, more AZs."""
    return synth(tmp_path_factory.mktemp("cdk-production"), {"profile": "production"})


# One app with every non-default choice the variant tests need (they do not interact): one synthesis instead
# of one per variant, which keeps the CDK test tier within its time budget.
VARIANT = {
    "prefix": "alice",  # a second copy of the app in the same account
    "lake.encryption": "s3",
    "lake.raw.standard_ia_days": "45",
    "lake.raw.glacier_ir_days": "100",
    "lake.raw.glacier_days": "200",
    "lake.raw.deep_archive_days": "400",
    "network.cidr": "10.0.0.0/26",
    "network.subnet_mask": "28",
    "network.max_azs": "2",
    "firehose.output_format": "json",
    "alerts.email": "ops@example.com",
    "catalog.encryption": "unmanaged",
    "training.gate.auc": "0.9",
    "training.batch_transform_test": "false",
    "training.tuning.enabled": "true",
    "training.tuning.max_jobs": "6",
    "training.schedule": "cron(0 3 ? * SUN *)",
    "monitoring.engine": "model_monitor",
}


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The app with the VARIANT overrides."""
    return synth(tmp_path_factory.mktemp("cdk-variant"), VARIANT)


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """The resources of one type, by logical id."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}
