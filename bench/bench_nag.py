"""Benchmark: what the compliance packs cost at synth. The app with cdk-nag AwsSolutions only, and with the NIST
800-53 rev 5, HIPAA Security and PCI DSS 3.2.1 packs beside it (``stacks.NAG_PACKS``, what `cdk synth` runs).

    .venv/bin/python -m bench.bench_nag          # BENCH_RUNS=5 by default; PROFILE=production for the other profile

Each run is a fresh interpreter (jsii start-up included, as in a user's ``python app.py``); the two variants
alternate so that a busy machine slows both alike. Prints the median wall time of the whole process and of
``app.synth()`` alone (where the validation plugins run). Prints figures; asserts nothing.
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
PROFILE = os.environ.get("PROFILE", "sandbox")
CODE = """
import sys, time, aws_cdk as cdk, app, stacks
from cdk_nag import AwsSolutionsChecks
from ml_config import load_config
context = {{**app.cdk_json_context(), "profile": "{profile}"}}
application = cdk.App(context=context, outdir=sys.argv[1], builtin_cloud_formation_validation=False)
stacks.build_app(application, load_config(context), nag_packs={packs})
start = time.perf_counter()
application.synth()
print(time.perf_counter() - start)
"""
VARIANTS = {"AwsSolutions only": "(AwsSolutionsChecks,)", "AwsSolutions + NIST + HIPAA + PCI": "stacks.NAG_PACKS"}


def run(packs: str) -> tuple[float, float]:
    """(wall seconds of the process, seconds of app.synth()) for one fresh synth with ``packs``."""
    with tempfile.TemporaryDirectory() as outdir:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", CODE.format(profile=PROFILE, packs=packs), outdir],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"synth with {packs} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return wall, float(result.stdout.strip().splitlines()[-1])


def main() -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, profile {PROFILE}, {RUNS} runs each (median)")
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for index in range(RUNS):
        for name, packs in VARIANTS.items():
            figures[name].append(run(packs))
            wall, synth = figures[name][-1]
            print(f"  run {index + 1}/{RUNS} {name}: process {wall:.2f} s, app.synth() {synth:.2f} s", flush=True)
    medians = {name: tuple(statistics.median(x[i] for x in runs) for i in (0, 1)) for name, runs in figures.items()}
    for name, (wall, synth) in medians.items():
        print(f"{name}: process {wall:.2f} s, app.synth() {synth:.2f} s")
    (base_wall, base_synth), (packs_wall, packs_synth) = medians.values()
    print(f"the three packs add {packs_wall - base_wall:+.2f} s per synth ({packs_synth - base_synth:+.2f} s in synth)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
