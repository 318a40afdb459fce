"""Benchmark: the drift analyzer on 10^4, 10^5 and 10^6 captured records, showing that memory stays bounded.

Run it with ``python -m bench.bench_analyzer`` (``--sizes 10000,100000`` to vary it). The baseline is built
from 4,000 ETL-like feature rows (the encoding helper of ``tests/monitoring/test_analyzer.py``, the columns of
``contract.feature_columns(spec)``). The capture lines are produced lazily: a pool of 5,000 distinct lines in
the documented data-capture format is cycled by a generator, so the input never exists as a whole (what the
Lambda handler does with S3 objects streamed line by line).

For each size it prints the elapsed time, records per second, the tracemalloc peak of the analysis (Python
allocations made while it ran) and the process's peak RSS so far; then the ratio time(10^6) / time(10^5)
(about 10 for a linear-time, streaming analysis). The tracemalloc peak is measured in a second pass with
tracing on (tracing slows Python down, so it is not part of the timed pass). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python bench/bench_analyzer.py`
    sys.path.insert(0, str(ROOT))

from ml_constructs.monitoring.runtime.drift_job import analyzer  # noqa: E402
from tests.monitoring.test_analyzer import baseline_files, capture_line, feature_rows  # noqa: E402

POOL = 5000
TRAFFIC_SEED = 2


def lines(n: int, pool: Sequence[str]) -> Iterator[str]:
    return itertools.islice(itertools.cycle(pool), n)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"building the baseline and a pool of {POOL} capture lines ...", flush=True)
    statistics, constraints = baseline_files()
    pool = [capture_line(row, index=i) for i, row in enumerate(feature_rows(POOL, TRAFFIC_SEED))]
    features = len(statistics["features"])
    print(f"{features} features, threshold 0.1; RSS after setup {rss_mib():.1f} MiB", flush=True)
    print(f"{'records':>10} {'seconds':>9} {'records/s':>11} {'tracemalloc peak':>17} {'peak RSS':>10} violations")

    times: dict[int, float] = {}
    for n in sizes:
        start = time.perf_counter()
        report = analyzer.analyze(lines(n, pool), statistics, constraints, distance_threshold=0.1)
        elapsed = time.perf_counter() - start
        times[n] = elapsed
        assert report["records"] == n
        peak = "-"
        if not args.no_trace:
            tracemalloc.start()
            analyzer.analyze(lines(n, pool), statistics, constraints, distance_threshold=0.1)
            peak = f"{tracemalloc.get_traced_memory()[1] / 1024:.0f} KiB"
            tracemalloc.stop()
        print(
            f"{n:>10,} {elapsed:>9.2f} {n / elapsed:>11,.0f} {peak:>17} {rss_mib():>7.1f} MiB "
            f"{len(report['constraint_violations']['violations'])}",
            flush=True,
        )
    if 100_000 in times and 1_000_000 in times:
        print(f"time(10^6) / time(10^5) = {times[1_000_000] / times[100_000]:.2f} (10 = linear)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
