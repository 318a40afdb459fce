"""Benchmark: fit + apply of each data-preparation alternative of the Glue ETL at 10^5 and 10^6 events (local Spark).

Prints figures; it asserts nothing. For each size the raw zone is written (Firehose json layout) and the clean,
encoded, split records (``base``) are prepared and cached outside the timings; then each alternative is timed:

- ``outliers=drop``, ``bins=equal_width`` and the default (``clip``, ``quantile``): the fits on train and their
  application (``pipeline._fit_and_apply``), materialised by a count;
- each rebalancing method on the default preparation: ``rebalancing.rebalance_train`` on train, materialised by a
  count of its rows.

The last column is time(10^6) / time(10^5): about 10 is linear. SMOTE's neighbour search compares every train
positive with every other (O(P^2)); ``--smote-max-positives`` (default 200000) lifts the job's fallback so that the
search itself is measured.

Usage: ``python -m bench.bench_alternatives [--sizes 100000,1000000] [--driver-memory 3g]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_glue import write_json_raw  # noqa: E402 - after the sys.path set-up
from ml_constructs.glue_etl.runtime import contract, pipeline, rebalancing, steps  # noqa: E402
from stacks.mapping import etl_spec  # noqa: E402


def log(message: str) -> None:
    print(message, flush=True)


def prepare_base(spark: Any, raw: Path, spec: contract.EtlSpec, params: contract.EtlParams) -> Any:
    from datetime import UTC, datetime

    parsed = steps.parse_records(steps.read_raw(spark, str(raw), "json"), spec, "json")
    clean = steps.clean_records(steps.validate_records(parsed, spec, datetime(2100, 1, 1, tzinfo=UTC)), spec)
    base = steps.canonical_order(clean, spec, params.canonical_partitions)
    base = steps.assign_split(steps.encode_features(base, spec), spec, params.split_fractions, params.split_seed)
    base = base.persist()
    base.count()
    return base


def timed(action: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    rows = action()
    return time.perf_counter() - started, rows


def measure(spark: Any, n: int, work: Path, smote_max: int) -> dict[str, tuple[float, int]]:
    from pyspark.sql import functions as F  # noqa: N812

    spec = etl_spec()
    params = contract.EtlParams(raw_format="json", smote_max_positives=smote_max)
    log(f"{n} events: writing the raw zone and preparing the clean records (not timed)")
    base = prepare_base(spark, write_json_raw(n, 20261120, work / f"raw-{n}"), spec, params)
    out: dict[str, tuple[float, int]] = {}
    for label, changes in (
        ("default fit+apply", {}),
        ("outliers=drop", {"outlier_mode": "drop"}),
        ("bins=equal_width", {"bin_method": "equal_width"}),
    ):
        chosen: contract.EtlParams = dataclasses.replace(params, **changes)  # type: ignore[arg-type]

        def fit_apply(c: contract.EtlParams = chosen) -> int:
            return int(pipeline._fit_and_apply(base, spec, c)[0].count())

        out[label] = timed(fit_apply)
        log(f"  {label}: {out[label][0]:.1f} s")
    prepared, fits = pipeline._fit_and_apply(base, spec, params)
    train = prepared.filter(F.col(contract.SPLIT_COLUMN) == "train").persist()
    positives = train.filter(F.col(spec.label) == 1).count()
    counts = (positives, train.count() - positives)
    log(f"  train: {counts[0]} positives, {counts[1]} negatives")
    for method in contract.REBALANCE_METHODS:
        chosen = dataclasses.replace(params, rebalance_method=method)

        def rebalance(c: contract.EtlParams = chosen) -> int:
            return int(rebalancing.rebalance_train(train, spec, c, counts, fits.bins)[0].count())

        out[f"rebalance={method}"] = timed(rebalance)
        log(f"  rebalance={method}: {out[f'rebalance={method}'][0]:.1f} s")
    train.unpersist()
    base.unpersist()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_alternatives", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated event counts (two or more)")
    parser.add_argument("--driver-memory", default="3g", help="spark.driver.memory (local mode: the only JVM)")
    parser.add_argument("--smote-max-positives", type=int, default=200_000, help="SMOTE's fallback limit")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    from ml_constructs.glue_etl.local import local_spark

    spark = local_spark("bench-alternatives", shuffle_partitions=8, driver_memory=args.driver_memory)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-alternatives-") as tmp:
        for n in sizes:
            results[n] = measure(spark, n, Path(tmp), args.smote_max_positives)
    spark.stop()
    first, last = sizes[0], sizes[-1]
    log(f"\n{'alternative':<28}" + "".join(f"{n:>14,}" for n in sizes) + f"{'growth':>10}")
    for label in results[first]:
        times = [results[n][label][0] for n in sizes]
        growth = times[-1] / times[0] if times[0] else float("nan")
        log(f"{label:<28}" + "".join(f"{t:>12.1f} s" for t in times) + f"{growth:>9.1f}x")
    log(f"(linear growth from {first:,} to {last:,} events: {last / first:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
