"""Benchmark: the ETL's read and validation with a fixed training window while the lake grows, on local Spark.

Prints figures; it asserts nothing. Lakes of 10, 25, 50 and 100 days of ``dt=`` partitions (the same number of
events every day, GZIP JSON Lines in the Firehose layout) are written first, outside the timing; the days are
generated once and hard-linked into each lake. For each lake three ways of reading are timed:

- ``window``: the job's way (``steps.read_raw`` with the window's days): one glob names the in-window ``dt=``
  prefixes, so only those are listed and read;
- ``filter``: the whole lake's path and a filter on the discovered ``dt`` column: the same files are read (the
  filter is a ``PartitionFilters`` entry), but Spark lists every partition first (on S3: LIST requests that grow
  with the lake's age);
- ``whole``: no window (``--window_days 0``): every partition listed and read.

Timed: ``list`` (building the DataFrame: partition discovery and the file listing) and ``read+validate`` (the
pipeline's first pass: rows per partition, then ``parse_records`` and ``validate_records`` with the rows per
quarantine reason). A warm-up pass on the smallest lake comes first (JIT, class loading).

Usage: ``python -m bench.bench_window [--days 10,25,50,100] [--window 7] [--events-per-day 500] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ml_constructs.glue_etl.runtime import steps  # noqa: E402 - after the sys.path set-up
from ml_constructs.glue_etl.runtime.contract import PARTITION_COLUMN, REASON_COLUMN  # noqa: E402
from stacks.mapping import etl_spec  # noqa: E402
from worked_example.generator import generate_events, to_json_line  # noqa: E402

FILES_PER_DAY = 2
LAST_DAY = date(2026, 12, 5)  # the lakes end here; the window ends here too


def log(message: str) -> None:
    print(message, flush=True)


def write_days(root: Path, days: int, per_day: int) -> list[Path]:
    """``days`` partitions ending on LAST_DAY, ``per_day`` events each over ``FILES_PER_DAY`` files."""
    partitions = []
    for offset in range(days):
        day = LAST_DAY - timedelta(days=days - 1 - offset)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        lines = [to_json_line(e) for e in generate_events(per_day, seed=offset, start=start, span=timedelta(days=1))]
        folder = root / f"dt={day.isoformat()}"
        folder.mkdir(parents=True)
        for i in range(FILES_PER_DAY):
            with gzip.open(folder / f"mlspec-firehose-1-{day}-00-00-{i:02d}-bench.gz", "wb") as out:
                out.writelines(lines[i::FILES_PER_DAY])
        partitions.append(folder)
    return partitions


def lake_of(partitions: list[Path], days: int, root: Path) -> Path:
    """A lake of the last ``days`` partitions: their files hard-linked (no copy) under ``root/events``."""
    lake = root / f"lake-{days}" / "events"
    for folder in partitions[-days:]:
        target = lake / folder.name
        target.mkdir(parents=True)
        for file in folder.iterdir():
            os.link(file, target / file.name)
    return lake


def read(spark: Any, lake: Path, mode: str, window: tuple[date, date]) -> Any:
    path = str(lake) + "/"
    if mode == "window":
        return steps.read_raw(spark, path, "json", window)
    raw = steps.read_raw(spark, path, "json")
    if mode == "filter":
        start, end = (d.isoformat() for d in window)
        return raw.filter(raw[PARTITION_COLUMN].between(start, end))
    return raw


def measure(spark: Any, lake: Path, mode: str, window: tuple[date, date]) -> dict[str, Any]:
    spec = etl_spec()
    began = time.perf_counter()
    raw = read(spark, lake, mode, window)
    listed = time.perf_counter()
    per_day = {r[PARTITION_COLUMN]: r["count"] for r in raw.groupBy(PARTITION_COLUMN).count().collect()}
    validated = steps.validate_records(steps.parse_records(raw, spec, "json"), spec, datetime.now(UTC))
    reasons = validated.groupBy(REASON_COLUMN).count().collect()
    done = time.perf_counter()
    return {
        "partitions": len(per_day),
        "files_listed": len(raw.inputFiles()),  # the file index: what Spark listed, read or not
        "rows": sum(per_day.values()),
        "clean": sum(r["count"] for r in reasons if r[REASON_COLUMN] is None),
        "list_s": listed - began,
        "read_validate_s": done - listed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_window", description=__doc__.splitlines()[0])
    parser.add_argument("--days", default="10,25,50,100", help="lake sizes in days (%(default)s)")
    parser.add_argument("--window", type=int, default=7, help="training window in days (%(default)s)")
    parser.add_argument("--events-per-day", type=int, default=500, help="events per day (%(default)s)")
    parser.add_argument("--workdir", help="where to write the lakes (default: a temporary directory, removed)")
    args = parser.parse_args(argv)
    sizes = sorted(int(d) for d in args.days.split(","))
    window = (LAST_DAY - timedelta(days=args.window - 1), LAST_DAY)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-window-"))
    try:
        log(f"writing {max(sizes)} days x {args.events_per_day} events ({FILES_PER_DAY} files a day) under {work}")
        partitions = write_days(work / "days", max(sizes), args.events_per_day)
        lakes = {days: lake_of(partitions, days, work) for days in sizes}
        from ml_constructs.glue_etl.local import local_spark

        spark = local_spark("bench-window")
        log(f"warm-up on the {sizes[0]}-day lake")
        for mode in ("window", "whole"):
            measure(spark, lakes[sizes[0]], mode, window)
        log(f"window: {args.window} days, {window[0]} .. {window[1]}")
        header = f"{'lake days':>9} {'mode':>7} {'partitions':>10} {'files listed':>12} {'rows':>7} "
        log(header + f"{'list s':>7} {'read+validate s':>15}")
        for days in sizes:
            for mode in ("window", "filter", "whole"):
                m = measure(spark, lakes[days], mode, window)
                log(
                    f"{days:>9} {mode:>7} {m['partitions']:>10} {m['files_listed']:>12} {m['rows']:>7} "
                    f"{m['list_s']:>7.2f} {m['read_validate_s']:>15.2f}"
                )
        spark.stop()
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
