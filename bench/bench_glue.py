"""Benchmark: the whole Glue ETL (``pipeline.run``) on local Spark for 10^4, 10^5 and 10^6 events.

Prints figures; it asserts nothing (target: time(10^6) / time(10^5) <= 12, i.e. close to linear once the
fixed cost of a dozen Spark jobs is paid). For each size the raw zone is written first, outside the timing,
in the Firehose layout (``events/dt=YYYY-MM-DD/*.gz`` JSON Lines, or Snappy Parquet), then one run is timed.

Memory figures:
- Python RSS: peak resident size of this process (``resource.getrusage``), the PySpark driver's Python side;
- JVM RSS: peak resident size of the Spark JVM (``VmHWM`` in ``/proc/<pid>/status``, reset before each size
  through ``/proc/<pid>/clear_refs`` when the kernel allows it);
- JVM heap: peak used heap, the sum over the heap memory pools of their peak usage (``MemoryPoolMXBean``,
  reset before each size), read through py4j; and the old generation's peak alone (what survived
  collections: closer to the data the run really retained).

A warm-up run on a small input comes first (JIT compilation, class loading), reported separately.

Usage: ``python -m bench.bench_glue [--sizes 10000,100000,1000000] [--raw-format json|parquet]
[--driver-memory 2g] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ml_constructs.glue_etl.runtime import contract, pipeline  # noqa: E402 - after the sys.path set-up
from stacks.mapping import etl_spec  # noqa: E402
from worked_example.generator import generate_events, to_json_line  # noqa: E402
from worked_example.schema import FIELDS  # noqa: E402

LINES_PER_FILE = 50_000  # roughly one Firehose object per buffer interval at a steady rate
WARM_UP_EVENTS = 5_000


def log(message: str) -> None:
    print(message, flush=True)


def write_json_raw(n: int, seed: int, root: Path) -> Path:
    """GZIP JSON Lines in the Firehose layout, ``LINES_PER_FILE`` lines per object."""
    events_dir = root / "events"
    buffers: dict[str, list[bytes]] = defaultdict(list)
    counters: dict[str, int] = defaultdict(int)

    def flush(day: str) -> None:
        name = f"mlspec-firehose-1-{day}-00-00-{counters[day]:02d}-bench.gz"
        path = events_dir / f"dt={day}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb", compresslevel=6) as out:
            out.writelines(buffers[day])
        buffers[day].clear()
        counters[day] += 1

    for event in generate_events(n, seed):
        day = event["event_time"][:10]
        buffers[day].append(to_json_line(event))
        if len(buffers[day]) >= LINES_PER_FILE:
            flush(day)
    for day in list(buffers):
        if buffers[day]:
            flush(day)
    return events_dir


def write_parquet_raw(spark: Any, json_dir: Path, root: Path) -> Path:
    """Convert the JSON raw zone to Parquet with Spark (the local stand-in for Firehose's converter)."""
    from pyspark.sql import functions as F  # noqa: N812

    schema = ", ".join(f"{f.name} {'string' if f.type == 'timestamp' else f.type}" for f in FIELDS)
    target = root / "events-parquet"
    df = spark.read.schema(schema).json(str(json_dir))
    df = df.withColumn("event_time", F.col("event_time").cast("timestamp"))
    df = df.withColumn("dt", F.substring(F.col("event_time").cast("string"), 1, 10))
    df.write.mode("overwrite").partitionBy("dt").parquet(str(target))
    return target


class Memory:
    """Peak memory of the Python driver and of the Spark JVM."""

    def __init__(self, spark: Any) -> None:
        jvm = spark.sparkContext._jvm
        self.management = jvm.java.lang.management.ManagementFactory
        self.heap_type = jvm.java.lang.management.MemoryType.HEAP
        self.jvm_pid = int(jvm.java.lang.ProcessHandle.current().pid())
        self.max_heap = int(jvm.java.lang.Runtime.getRuntime().maxMemory())

    def _heap_pools(self) -> list[Any]:
        return [p for p in self.management.getMemoryPoolMXBeans() if p.getType().equals(self.heap_type)]

    def reset(self) -> None:
        for pool in self._heap_pools():
            pool.resetPeakUsage()
        with contextlib.suppress(OSError):  # "5" resets the peak RSS (VmHWM) of a process the caller owns
            Path(f"/proc/{self.jvm_pid}/clear_refs").write_text("5")

    def jvm_heap_peak(self) -> int:
        return sum(int(pool.getPeakUsage().getUsed()) for pool in self._heap_pools())

    def jvm_old_gen_peak(self) -> int | None:
        """Peak of the old generation: what survived collections, a better proxy for retained data than the
        heap peak, which mostly shows how far the young generation was allowed to fill before a collection."""
        old = [p for p in self._heap_pools() if "Old" in str(p.getName()) or "Tenured" in str(p.getName())]
        return sum(int(p.getPeakUsage().getUsed()) for p in old) if old else None

    def jvm_rss_peak(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.jvm_pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    @staticmethod
    def python_rss_peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ml_constructs.glue_etl.local import local_spark

    cores = os.cpu_count() or 1
    log(f"starting Spark: local[{min(cores, 2)}], driver memory {args.driver_memory}, python {sys.version.split()[0]}")
    spark = local_spark("bench-glue-etl", shuffle_partitions=8, driver_memory=args.driver_memory)
    memory = Memory(spark)
    log(f"spark {spark.version}, JVM pid {memory.jvm_pid}, max heap {mib(memory.max_heap)}, {cores} cores")

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-glue-"))
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    try:
        for label, n in [("warm-up", WARM_UP_EVENTS), *((f"{s:,}", s) for s in sizes)]:
            result = run_case(spark, memory, args, workdir / f"n{n}", label, n)
            if label != "warm-up":
                results.append(result)
    finally:
        spark.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print_results(args, results)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_glue", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated event counts")
    parser.add_argument("--raw-format", choices=contract.RAW_FORMATS, default="json")
    parser.add_argument("--driver-memory", default="2g", help="spark.driver.memory (local mode: the only JVM)")
    parser.add_argument("--partitions", type=int, default=contract.EtlParams().canonical_partitions)
    parser.add_argument("--workdir", help="where to write raw and curated data (default: a temporary directory)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def run_case(spark: Any, memory: Memory, args: argparse.Namespace, case: Path, label: str, n: int) -> dict[str, Any]:
    """Write the raw zone of ``n`` events (not timed), then time one run of the ETL on it."""
    shutil.rmtree(case, ignore_errors=True)
    log(f"[{label}] generating {n:,} events and writing the raw zone ({args.raw_format}) ...")
    started = time.perf_counter()
    raw = write_json_raw(n, args.seed, case)
    if args.raw_format == "parquet":
        raw = write_parquet_raw(spark, raw, case)
    raw_bytes = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())
    log(f"[{label}] raw zone: {mib(raw_bytes)} in {time.perf_counter() - started:.1f} s (not timed)")

    params = contract.EtlParams(raw_format=args.raw_format, canonical_partitions=args.partitions)
    memory.reset()
    log(f"[{label}] running the ETL ...")
    started = time.perf_counter()
    report = pipeline.run(spark, str(raw), str(case / "curated"), etl_spec(), params)
    seconds = time.perf_counter() - started
    result = {
        "label": label,
        "n": n,
        "seconds": seconds,
        "rows_per_second": n / seconds,
        "python_rss": memory.python_rss_peak(),
        "jvm_rss": memory.jvm_rss_peak(),
        "jvm_heap": memory.jvm_heap_peak(),
        "jvm_old": memory.jvm_old_gen_peak(),
        "rows_written": report["steps"][-1]["rows_out"],
    }
    log(
        f"[{label}] {seconds:.1f} s, {result['rows_per_second']:,.0f} rows/s, JVM heap peak "
        f"{mib(result['jvm_heap'])} (old gen {mib(result['jvm_old'])}), JVM RSS peak {mib(result['jvm_rss'])}"
    )
    shutil.rmtree(case, ignore_errors=True)
    return result


def print_results(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    log("")
    log(f"raw format {args.raw_format}, partitions {args.partitions}, driver memory {args.driver_memory}")
    columns = ("events", "seconds", "rows/s", "written", "py RSS", "JVM RSS", "JVM heap", "old gen")
    widths = (10, 8, 9, 9, 9, 10, 10, 10)
    log(" ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for r in results:
        log(
            f"{r['n']:>10,} {r['seconds']:>8.1f} {r['rows_per_second']:>9,.0f} {r['rows_written']:>9,} "
            f"{mib(r['python_rss']):>9} {mib(r['jvm_rss']):>10} {mib(r['jvm_heap']):>10} {mib(r['jvm_old']):>10}"
        )
    by_n = {r["n"]: r["seconds"] for r in results}
    if 100_000 in by_n and 1_000_000 in by_n:
        log(f"time(10^6) / time(10^5) = {by_n[1_000_000] / by_n[100_000]:.2f} (target <= 12)")


if __name__ == "__main__":
    sys.exit(main())
