"""Bad input through the entry points a user runs: `python app.py` and `npx cdk synth`.

Each bad value must give one clear line (key, value, what is allowed) on stderr, a non-zero exit, and no
Python traceback or jsii dump."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import assume, given, settings

from ml_config import ConfigError, load_config
from tests.conftest import ROOT
from tests.unit.test_config_properties import key_and_text

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


# One representative of each class of careless or hostile input (tests/unit/test_config_hardening.py has the
# full tables): every value gives its own line, in one run.
ONE_PER_CLASS = {
    "account": "\uff11" * 12,  # non-ASCII digits
    "lake.raw.deep_archive_days": "99999999999",  # a number beyond the bound
    "catalog.crawler_schedule": "cron(0 0 ? * FOO *)",  # not the AWS cron dialect
    "serving.instance_type": "ml.m5.medium",  # no such endpoint instance type
    "training.instance_type": "ml.t2.medium",  # an endpoint type, not a training type
    "network.cidr": "224.0.0.0/16",  # multicast: no VPC's
    "prefix": "sthree",  # the lake's bucket names would begin with S3's reserved 'sthree-'
    "alerts.email": "ops@localhost",  # not an address SNS can mail
    "training.schedule": "rate(1 day)\n",  # a trailing newline
}


def test_python_app_reports_every_class_of_bad_input_one_line_each(tmp_path):
    args = [arg for key, value in ONE_PER_CLASS.items() for arg in ("-c", f"{key}={value}")]
    result = run([sys.executable, "app.py", *args], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()  # in the models' order, which is not the command line's
    assert sorted(line.split("=", 1)[0] for line in lines) == sorted(f"invalid config: {key}" for key in ONE_PER_CLASS)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_python_app_refuses_a_trailing_newline(tmp_path):
    result = run([sys.executable, "app.py", "-c", "prefix=mlspec\n"], tmp_path)
    assert result.returncode == 2
    assert_one_clear_line(result, "prefix='mlspec\\n'")


@settings(max_examples=2, deadline=None, database=None)
@given(key_and_text.filter(lambda case: "\x00" not in case[1]))  # a NUL cannot travel in argv
def test_python_app_prints_exactly_the_loaders_lines(case):
    """Generated values (see tests/unit/test_config_properties.py) through the entry point: the same lines as the
    loader in process, exit 2. Values the loader accepts are skipped here (they would synthesize the app)."""
    key, value = case
    try:
        load_config({key: value})
        assume(False)
    except ConfigError as exc:
        expected = exc.problems
    result = run([sys.executable, "app.py", "-c", f"{key}={value}"], None)
    assert (result.returncode, result.stderr.splitlines(), result.stdout) == (2, expected, "")


def test_cdk_cli_synth_reports_hostile_input_without_a_jsii_trace(tmp_path):
    """Two lookalike values through the CDK CLI: full-width digits in the account reached jsii before. (The
    CLI trims whitespace around a -c value itself, so a trailing newline never reaches the app that way.)"""
    assert CDK.exists(), "run make test (it installs the pinned CDK CLI)"
    pairs = ["-c", "account=" + "\uff11" * 12, "-c", "serving.instance_type=ml.m5.medium"]
    result = run([str(CDK), "synth", "--no-notices", "-q", "-o", str(tmp_path / "out"), *pairs], tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid config:")]
    assert [line.split("=", 1)[0] for line in lines] == [
        "invalid config: account",
        "invalid config: serving.instance_type",
    ]
    for noise in ("Traceback", "jsii", "JavaScriptError"):
        assert noise not in result.stderr + result.stdout
