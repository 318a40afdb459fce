"""Benchmark ``make local``: wall time and peak memory of the whole process tree. Prints figures; asserts nothing.

``python -m bench.bench_local [--events N] [--interval S]``

Runs ``python -m local_sandbox`` (the default event count unless ``--events``) as a child process and samples,
every ``--interval`` seconds, the resident memory (``VmRSS`` in ``/proc``) of the child and all its
descendants: the Python process with the moto server, the CDK CLI's Node processes, the app's jsii Node
process, and Spark's JVM. The peak of the sum is what the machine must have free; the peaks per command show
who needs it. Target (issue #7): under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.exists():
            found += [int(c) for c in children.read_text().split()]
    return found


def _tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        try:
            stack += _children(current)
        except OSError:
            continue
    return pids


def _rss_kib(pid: int) -> tuple[str, int]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "", 0
    name = next((line.split()[1] for line in status.splitlines() if line.startswith("Name:")), "?")
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return name, rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_local", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, help="events (default: the local sandbox's default)")
    parser.add_argument("--interval", type=float, default=0.2, help="sampling interval in seconds (0.2)")
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("bench_local samples /proc: Linux only", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "local_sandbox"] + (["--events", str(args.events)] if args.events else [])
    log = tempfile.NamedTemporaryFile(prefix="bench-local-", suffix=".log", delete=False)  # noqa: SIM115
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    peak_total, peak_by_name = 0, defaultdict[str, int](int)
    while child.poll() is None:
        total, by_name = 0, defaultdict[str, int](int)
        for pid in _tree(child.pid):
            name, rss = _rss_kib(pid)
            total += rss
            by_name[name] += rss
        peak_total = max(peak_total, total)
        for name, rss in by_name.items():
            peak_by_name[name] = max(peak_by_name[name], rss)
        time.sleep(args.interval)
    wall = time.perf_counter() - started
    log.close()
    text = Path(log.name).read_text(errors="replace")
    summary = text[text.find("local sandbox: summary") :] if "local sandbox: summary" in text else text[-3000:]
    print(summary.rstrip())
    print()
    print(f"make local ({' '.join(command[1:])}): exit {child.returncode}")
    print(f"  wall time            {wall:8.1f} s   (target < 300 s)")
    print(f"  peak RSS, all procs  {peak_total / 1024:8.0f} MiB (sampled every {args.interval} s)")
    for name, rss in sorted(peak_by_name.items(), key=lambda item: -item[1]):
        if rss > 10 * 1024:
            print(f"    peak {name:<14} {rss / 1024:6.0f} MiB")
    print(f"  cores: {os.cpu_count()}; full output: {log.name}")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
