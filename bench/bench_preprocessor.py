"""Benchmark: the endpoint's preprocessor (raw event -> feature row as CSV), single-threaded.

``python -m bench.bench_preprocessor [--events 100000] [--fitted PATH]``. Prints figures; asserts nothing.

- throughput: events per second over the whole run of ``Preprocessor.csv(event)`` (checks, encoding, the fitted
  steps, the CSV line), one thread, the events already decoded (what ``predict_fn`` does per event);
- latency: p50 and p99 microseconds per event, each event timed on its own (``perf_counter_ns``);
- memory: the peak traced by ``tracemalloc`` during a second pass (tracing slows Python, so that pass is not
  timed), and the process's peak resident set (``resource``).

The fitted values come from the committed default model's ``fitted.json`` (the ETL's output on 20,000 events).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from ml_constructs.glue_etl.runtime.preprocessing import Preprocessor
from worked_example.generator import generate_events

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FITTED = ROOT / "ml_constructs" / "serving" / "default_model" / "fitted.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_preprocessor", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--fitted", type=Path, default=DEFAULT_FITTED)
    args = parser.parse_args(argv)
    preprocessor = Preprocessor(json.loads(args.fitted.read_text()))
    print(f"generating {args.events} events ...", flush=True)
    events = list(generate_events(args.events, 99))

    latencies = []
    clock = time.perf_counter_ns
    started = clock()
    for event in events:
        t0 = clock()
        preprocessor.csv(event)
        latencies.append(clock() - t0)
    elapsed = (clock() - started) / 1e9

    tracemalloc.start()
    for event in events:
        preprocessor.csv(event)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    cuts = statistics.quantiles(latencies, n=100)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {platform.python_version()} on {platform.machine()}, {args.events} events, 1 thread")
    print(f"machine: {os.cpu_count()} cores, load average {load} (other processes stretch the tail)")
    print(f"throughput: {args.events / elapsed:,.0f} events/s ({elapsed:.2f} s, timer overhead included)")
    print(f"latency per event: p50 {cuts[49] / 1000:.1f} us, p99 {cuts[98] / 1000:.1f} us")
    print(f"memory: tracemalloc peak during a pass {peak / 1024:.1f} KiB; process peak RSS {maxrss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
