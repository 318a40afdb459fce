"""Benchmark: each imputation method's fit (on train) and apply (to every split) on local Spark, at 10^5 and 10^6
events, and the growth ratio (time at 10x the events / time at the smaller size; 10 = linear).

Prints figures; it asserts nothing. For each size the raw zone is written (Firehose layout, GZIP JSON Lines), read,
validated, encoded, split and put in the canonical order once, cached and counted: none of that is timed. Then,
per method, ``fitting.fit_imputation`` on the train split and ``steps.apply_imputation`` on all rows, forced by a
sum over the imputed column (every imputed value is computed), are timed together. KNN is given its default
reference set (``knn_reference_rows``), MICE its default rounds and tolerance.

Usage: ``python -m bench.bench_impute [--sizes 100000,1000000] [--methods median,mean,...] [--driver-memory 2g]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_glue import write_json_raw  # noqa: E402 - after the sys.path set-up
from ml_constructs.glue_etl.runtime import contract, fitting, steps  # noqa: E402
from stacks.mapping import etl_spec  # noqa: E402


def log(message: str) -> None:
    print(message, flush=True)


def prepared(spark: Any, raw: Path, params: contract.EtlParams) -> Any:
    """Clean, encoded, split records in the canonical order, cached (the input of the fitted steps)."""
    spec = etl_spec()
    parsed = steps.parse_records(steps.read_raw(spark, str(raw), "json"), spec, "json")
    clean = steps.clean_records(steps.validate_records(parsed, spec), spec)
    ordered = steps.canonical_order(clean, spec, params.canonical_partitions)
    base = steps.assign_split(steps.encode_features(ordered, spec), spec, params.split_fractions, params.split_seed)
    return base.persist()


def time_method(base: Any, method: str, params: contract.EtlParams) -> tuple[float, str]:
    """Seconds for fit + apply of one method, and a short note (MICE's rounds, KNN's reference rows)."""
    from pyspark.sql import functions as F  # noqa: N812

    spec = etl_spec()
    (column,) = spec.impute_columns
    params = dataclasses.replace(params, impute_method=method)
    started = time.perf_counter()
    train = base.filter(F.col(contract.SPLIT_COLUMN) == "train")
    fits = fitting.fit_imputation(train, spec, method, params.ridge, params)
    applied = steps.apply_imputation(base, fits)
    applied.agg(F.sum(column), F.sum(contract.was_missing_name(column))).collect()
    seconds = time.perf_counter() - started
    fit = fits[column]
    note = ""
    if fit.knn is not None:
        note = f"reference rows {len(fit.knn['reference'])}, k {fit.knn['k']}"
    elif method == "mice":
        note = f"rounds {len(fit.changes)}, final change {fit.changes[-1]:.2e}"
    return seconds, note


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ml_constructs.glue_etl.local import local_spark

    spark = local_spark("bench-impute", shuffle_partitions=8, driver_memory=args.driver_memory)
    params = contract.EtlParams(raw_format="json", canonical_partitions=args.partitions)
    workdir = Path(tempfile.mkdtemp(prefix="bench-impute-"))
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    times: dict[str, dict[int, float]] = {m: {} for m in methods}
    try:
        for n in sizes:
            log(f"[{n:,}] writing and preparing the events (not timed) ...")
            base = prepared(spark, write_json_raw(n, args.seed, workdir / f"n{n}"), params)
            missing = base.filter(base["distance_from_home_km"].isNull()).count()
            log(f"[{n:,}] {base.count():,} clean rows, {missing:,} missing distances")
            for method in methods:
                seconds, note = time_method(base, method, params)
                times[method][n] = seconds
                log(f"[{n:,}] {method:<10} fit + apply {seconds:8.1f} s  {note}")
            base.unpersist()
    finally:
        spark.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(sizes, times)
    return 0


def print_table(sizes: list[int], times: dict[str, dict[int, float]]) -> None:
    header = "| method | " + " | ".join(f"{n:,} events (s)" for n in sizes) + " | growth |"
    log("\n" + header)
    log("|---" * (len(sizes) + 2) + "|")
    for method, by_size in times.items():
        cells = [f"{by_size[n]:.1f}" for n in sizes]
        growth = by_size[sizes[-1]] / by_size[sizes[0]] if len(sizes) > 1 and by_size[sizes[0]] else float("nan")
        log(f"| {method} | " + " | ".join(cells) + f" | {growth:.1f}x for {sizes[-1] / sizes[0]:.0f}x the events |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_impute", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated event counts")
    parser.add_argument("--methods", default=",".join(contract.IMPUTE_METHODS))
    parser.add_argument("--driver-memory", default="2g", help="spark.driver.memory (local mode: the only JVM)")
    parser.add_argument("--partitions", type=int, default=contract.EtlParams().canonical_partitions)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
