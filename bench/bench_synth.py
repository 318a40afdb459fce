"""Benchmark: full-app synth against an empty cdk.App() synth, and the test-suite times (`make bench`).

Prints figures; it asserts nothing (targets: full synth <= 1.6x the empty App; CDK test tier <= 15 s).
Each synth runs in a fresh interpreter, as a user's `python app.py` does, so jsii start-up is included.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
# Like is compared with like: the app turns CDK's built-in CloudFormation validator off by default
# (synth.cloudformation_validation; cfn-lint covers every template in the tests), so the reference is an
# empty App with the validator off too. The validator-on figures are printed as well.
EMPTY_APP = "import sys, aws_cdk as cdk; cdk.App(outdir=sys.argv[1], builtin_cloud_formation_validation={v}).synth()"
FULL_APP = (
    "import sys, app; a, _, _ = app.create_app({{}}, outdir=sys.argv[1], builtin_cloud_formation_validation={v}); "
    "a.synth()"
)
CDK_TIER = ["tests/unit", "tests/snapshots", "tests/compliance"]


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=ROOT, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return time.perf_counter() - start


def synth_seconds(code: str) -> list[float]:
    times = []
    for run in range(RUNS):
        with tempfile.TemporaryDirectory() as outdir:
            times.append(timed([sys.executable, "-c", code, outdir]))
        print(f"  run {run + 1}/{RUNS}: {times[-1]:.2f} s", flush=True)
    return times


def main() -> int:
    env_note = os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {RUNS} runs each (median), "
        f"jsii banner off ({env_note})"
    )
    figures = {}
    for validator in (False, True):
        label = "on" if validator else "off"
        print(f"empty cdk.App() synth, built-in CloudFormation validator {label}:")
        empty = statistics.median(synth_seconds(EMPTY_APP.format(v=validator)))
        print(f"full app synth (all stacks, cdk-nag), validator {label}:")
        full = statistics.median(synth_seconds(FULL_APP.format(v=validator)))
        figures[label] = (empty, full)
    print("CDK test tier (unit, snapshot, compliance):", flush=True)
    tier = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CDK_TIER])
    print("whole test suite:", flush=True)
    suite = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"])

    print()
    for label, (empty, full) in figures.items():
        note = (
            "   (target <= 1.6x: the app's default)"
            if label == "off"
            else "   (opt-in: -c synth.cloudformation_validation=true)"
        )
        print(f"validator {label:3}: empty App {empty:5.2f} s, full app {full:5.2f} s, ratio {full / empty:.2f}x{note}")
    print(f"CDK test tier        {tier:6.2f} s   (target <= 15 s)")
    print(f"whole test suite     {suite:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
