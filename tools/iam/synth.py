"""Synthesize the app in-process for one variant, as the tests do, and return its templates by stack name."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The variants `make verify-iam` checks: name -> context overrides.
VARIANTS: dict[str, dict[str, str]] = {
    "sandbox": {},
    "production": {"profile": "production"},
    "tuning": {"training.tuning.enabled": "true", "training.schedule": "cron(0 3 ? * SUN *)"},  # and the schedule
    "model_monitor": {"monitoring.engine": "model_monitor"},
}


def synthesize(overrides: Mapping[str, Any], outdir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The templates of the app built with ``overrides`` (synthesized into ``outdir`` or a temporary directory)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,21,22")
    import app as app_module

    with tempfile.TemporaryDirectory(prefix="iam-check-") as scratch:
        target = outdir or Path(scratch)
        app, _, stacks = app_module.create_app(
            dict(overrides), outdir=str(target), builtin_cloud_formation_validation=False
        )
        assembly = app.synth()
        return {
            stack.stack_name: json.loads(
                Path(assembly.get_stack_by_name(stack.stack_name).template_full_path).read_text()
            )
            for stack in stacks.all()
        }
