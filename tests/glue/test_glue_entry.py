"""The Glue job script, run without awsglue: fake ``awsglue.utils/context/job`` modules record the calls.

The fakes behave like the real ones where the script depends on them: ``getResolvedOptions`` exits
through argparse on a listed argument that is missing, as the real one does, and ignores the others Glue passes
(``--job-bookmark-option``, ``--TempDir``, ...); ``GlueContext`` wraps the SparkContext and exposes the
session as ``spark_session``; ``Job.init``/``Job.commit`` just record.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from ml_constructs.glue_etl.runtime import contract, pipeline
from stacks.mapping import etl_spec
from tests.glue.conftest import TEST_PARAMS, RawData, Run, csv_bytes

ENTRY = "ml_constructs.glue_etl.runtime.glue_entry"


class Calls:
    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []


def install_fake_awsglue(monkeypatch: pytest.MonkeyPatch, calls: Calls, curated: Path | None = None) -> None:
    def get_resolved_options(argv: list[str], options: list[str]) -> dict[str, str]:
        calls.log.append(("getResolvedOptions", list(options)))
        parser = argparse.ArgumentParser(prog=argv[0])
        for name in options:
            parser.add_argument(f"--{name}", required=True)
        known, _ = parser.parse_known_args(argv[1:])
        return vars(known)

    class GlueContext:
        def __init__(self, spark_context: Any) -> None:
            from pyspark.sql import SparkSession

            calls.log.append(("GlueContext", spark_context))
            self.spark_session = SparkSession.builder.getOrCreate()

    class Job:
        def __init__(self, glue_context: GlueContext) -> None:
            self.glue_context = glue_context

        def init(self, name: str, args: dict[str, str]) -> None:
            calls.log.append(("init", (name, dict(args))))

        def commit(self) -> None:
            report_exists = curated is not None and (curated / contract.REPORT_KEY).exists()
            calls.log.append(("commit", report_exists))

    package = types.ModuleType("awsglue")
    package.__path__ = []  # a package, so that the submodules import
    modules = {
        "awsglue": package,
        "awsglue.utils": types.ModuleType("awsglue.utils"),
        "awsglue.context": types.ModuleType("awsglue.context"),
        "awsglue.job": types.ModuleType("awsglue.job"),
    }
    modules["awsglue.utils"].getResolvedOptions = get_resolved_options
    modules["awsglue.context"].GlueContext = GlueContext
    modules["awsglue.job"].Job = Job
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, ENTRY, raising=False)


def test_entry_runs_the_job_and_commits(
    spark, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raw_data: RawData, json_run: Run
) -> None:
    calls = Calls()
    curated = tmp_path / "curated"
    install_fake_awsglue(monkeypatch, calls, curated)
    entry = importlib.import_module(ENTRY)

    params = contract.EtlParams(raw_format="json", **TEST_PARAMS)
    arguments = contract.job_arguments(str(raw_data.json_raw), str(curated), etl_spec(), params)
    argv = ["glue_entry.py", "--JOB_NAME", "mlspec-etl", "--job-bookmark-option", "job-bookmark-disable"]
    for key, value in arguments.items():
        argv += [key, value]
    report = entry.main(argv)

    names = [name for name, _ in calls.log]
    assert names == ["getResolvedOptions", "GlueContext", "init", "commit"]
    init_name, init_args = calls.log[2][1]
    assert init_name == "mlspec-etl"
    assert init_args["raw_path"] == str(raw_data.json_raw)
    assert calls.log[3] == ("commit", True)  # committed after the outputs were written
    for prefix in (*contract.CSV_PREFIXES.values(), contract.PREPARED_PREFIX, contract.QUARANTINE_PREFIX):
        assert (curated / prefix).is_dir(), prefix
    assert report["quarantine"]["rows"] == len(raw_data.json_bad)
    # A second run of the same job on the same input: byte-identical training data.
    for split in contract.SPLITS:
        assert csv_bytes(curated / split) == csv_bytes(json_run.curated / split), split


def test_entry_passes_only_the_optional_arguments_given(spark, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls()
    install_fake_awsglue(monkeypatch, calls)
    entry = importlib.import_module(ENTRY)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(pipeline, "run_from_args", lambda spark, args: seen.update(args) or {"ok": True})
    argv = ["x.py", "--JOB_NAME", "j", "--raw_path", "r", "--curated_path", "c", "--etl_spec", "{}", "--n_bins", "5"]
    assert entry.main(argv) == {"ok": True}
    assert calls.log[0] == ("getResolvedOptions", [*contract.REQUIRED_ARGS, "n_bins"])
    assert seen["n_bins"] == "5"
    assert [name for name, _ in calls.log][-1] == "commit"


def test_entry_fails_without_a_required_argument(
    spark, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = Calls()
    install_fake_awsglue(monkeypatch, calls)
    entry = importlib.import_module(ENTRY)
    with pytest.raises(SystemExit):
        entry.main(["x.py", "--JOB_NAME", "j", "--raw_path", "r", "--curated_path", "c"])
    assert "--etl_spec" in capsys.readouterr().err
    assert "init" not in [name for name, _ in calls.log]


def test_entry_holds_no_logic_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_awsglue(monkeypatch, Calls())
    entry = importlib.import_module(ENTRY)
    assert entry.pipeline is pipeline  # the same module the tests run, by the same name as in Glue
    assert not hasattr(entry, "F")  # no Spark logic of its own
