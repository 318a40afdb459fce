"""Bad input through the entry points a user runs: `python app.py` and `npx cdk synth`.

Each bad value must give one clear line (key, value, what is allowed) on stderr, a non-zero exit, and no
Python traceback or jsii dump."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BAD = [
    ("profile=staging", "profile='staging'"),
    ("lake.raw.standard_ia_dayz=40", "unknown key 'lake.raw.standard_ia_dayz'"),
    ("network.max_azs=two", "network.max_azs='two'"),
    ("network.max_azs=9", "network.max_azs='9'"),
    ("lake.raw.standard_ia_days=20", "lake.raw.standard_ia_days='20'"),
    ("lake.raw.glacier_days=60", "lake.raw.glacier_days=60"),
    ("firehose.buffer_size_mib=16", "firehose.buffer_size_mib=16"),
]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


def run(args: list[str], tmp_path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def assert_one_clear_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config:")]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    for noise in ("Traceback", "jsii", "JavaScriptError", "!!!!"):
        assert noise not in result.stderr + result.stdout


@pytest.mark.parametrize(("pair", "expected"), BAD)
def test_python_app_rejects_bad_config(pair, expected, tmp_path):
    result = run([sys.executable, "app.py", "-c", pair], tmp_path)
    assert result.returncode == 2
    assert_one_clear_line(result, expected)
    assert result.stdout == ""


def test_python_app_synthesizes_the_default_config(tmp_path):
    result = run([sys.executable, "app.py"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "!!!!" not in result.stderr  # jsii's Node banner stays silenced


@pytest.mark.parametrize(("pair", "expected"), BAD[:3])
def test_cdk_cli_synth_rejects_bad_config(pair, expected, tmp_path):
    assert CDK.exists(), "run make test (it installs the pinned CDK CLI)"
    result = run([str(CDK), "synth", "--no-notices", "-q", "-o", str(tmp_path / "out"), "-c", pair], tmp_path)
    assert_one_clear_line(result, expected)
