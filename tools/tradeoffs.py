"""Measure the data-preparation alternatives: ``python -m tools.tradeoffs [--events N] [--seeds 1,2,3,4,5]``.

For each generator seed the worked example's events are written once as Firehose's json mode lays them out and the
Glue job's own steps read, validate, order, encode and split them once (``prepare_base``, in ``pipeline.run``'s
order, on ONE local Spark session for the whole command). Then for each variant (one ETL choice changed from the
defaults at a time: every imputation method of ``contract.IMPUTE_METHODS``, every rebalancing method, binning method
and outlier mode, plus a few combinations) the job's fitting and rebalancing run with their count checks
(``pipeline._fit_and_apply``, ``_split_statistics``, ``_check_splits``, ``_rebalance``; only the writes are skipped)
and xgboost trains on the train rows with the training workflow's hyperparameters (the config's, with the ETL's
``scale_pos_weight`` merged over them for ``class_weight``, one thread, seed 0). The model scores the held-out test
split and ``metrics.binary_metrics`` gives AUC, precision, recall and F1 at the config's decision threshold.

The measured numbers go to ``docs/data-prep-tradeoffs.json`` and the page ``docs/data-prep-tradeoffs.md`` is rendered
from that file only (``render``), so the page is reproducible: a default-run test checks that the committed page is
the rendering of the committed file, and a ``slow`` test re-runs the reproducibility check (``CHECK``: fewer events,
one seed) and compares its deterministic numbers (metrics and row counts; not timings) with the committed ones.

``--render`` rewrites the page from the committed results without measuring.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ml_config import load_config
from ml_constructs.glue_etl.runtime import contract
from ml_constructs.training.runtime import metrics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "data-prep-tradeoffs.json"
PAGE = ROOT / "docs" / "data-prep-tradeoffs.md"
RESULTS_VERSION = 1
EVENTS = 20_000
SEEDS = (1, 2, 3, 4, 5)
#: The reproducibility check the slow test re-runs: fewer events (those of the Glue tests), one seed, every variant.
CHECK = {"events": 3_000, "seeds": [20261120]}
#: Fixed dates: the measurement must not depend on the day it runs (the ETL's future-time rule reads the run time).
START = datetime(2026, 11, 20, tzinfo=UTC)
SPAN = timedelta(days=3)
RUN_TIME = START + SPAN + timedelta(days=1)
#: The ETL's parameters the measurement fixes (the local run's sizes); every other parameter is the default.
BASE_PARAMS: Mapping[str, Any] = {"raw_format": "json", "canonical_partitions": 4, "csv_files": 2}
METRICS = ("auc", "precision", "recall", "f1")
#: A difference from the default counts when it exceeds this many standard errors of the paired difference.
Z = 2.0
COMBINATIONS: tuple[Mapping[str, str], ...] = (
    {"rebalance_method": "class_weight", "outlier_mode": "drop"},
    {"rebalance_method": "smote", "bin_method": "equal_width"},
    {"rebalance_method": "undersample", "impute_method": "median"},
)


def progress(message: str) -> None:
    print(f"[tradeoffs] {message}", flush=True)


def variants() -> list[dict[str, str]]:
    """The default, then one step varied at a time (every allowed value but the default's), then the combinations."""
    default = contract.EtlParams()
    axes = {
        "impute_method": contract.IMPUTE_METHODS,
        "rebalance_method": contract.REBALANCE_METHODS,
        "bin_method": contract.BIN_METHODS,
        "outlier_mode": contract.OUTLIER_MODES,
    }
    out: list[dict[str, str]] = [{}]
    for key, values in axes.items():
        out += [{key: value} for value in values if value != getattr(default, key)]
    return out + [dict(c) for c in COMBINATIONS]


def variant_name(changes: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in changes.items()) or "default"


# --- One run: the ETL's steps, training, test metrics ---------------------------------------------------------------


def prepare_base(spark: Any, raw: Path, work: Path) -> tuple[Any, Any]:
    """What every variant of one seed shares, computed once with the ETL's own steps in ``pipeline.run``'s order: read,
    validate (quarantine), canonical order, encoding, split. Returns the cached frame and the validation counts."""
    from ml_constructs.glue_etl.runtime import pipeline, steps
    from stacks.mapping import etl_spec

    spec, params = etl_spec(), contract.EtlParams(**BASE_PARAMS)
    persisted = pipeline._Persisted()
    not_after = RUN_TIME + timedelta(minutes=params.future_tolerance_minutes)
    validated, counts = pipeline._validate(
        spark, str(raw), str(work / "quarantine"), spec, params, persisted, not_after, None
    )
    base = steps.canonical_order(steps.clean_records(validated, spec), spec, params.canonical_partitions)
    base = steps.assign_split(steps.encode_features(base, spec), spec, params.split_fractions, params.split_seed)
    base = base.persist()
    base.count()
    persisted.release()
    return base, counts


def _matrix(df: Any, spec: contract.EtlSpec) -> tuple[Any, Any]:
    """Labels and features of the CSV columns, rows in (id, copy) order: a reproducible input for xgboost."""
    import numpy

    rows = df.orderBy(spec.id_column, contract.COPY_COLUMN).select(*contract.csv_columns(spec)).collect()
    data = numpy.array([[math.nan if v is None else float(v) for v in r] for r in rows], dtype=numpy.float64)
    return data[:, 0], data[:, 1:]


def _train_and_score(final: Any, spec: contract.EtlSpec, hyperparameters: Mapping[str, str], threshold: float) -> dict:
    """xgboost on the train rows with the workflow's hyperparameters (strings, ``num_round`` rounds, as the built-in
    algorithm calls it); the test split scored; the four metrics at the decision threshold."""
    import xgboost as xgb
    from pyspark.sql import functions as F  # noqa: N812

    train_labels, train_features = _matrix(final.filter(F.col(contract.SPLIT_COLUMN) == "train"), spec)
    test_labels, test_features = _matrix(final.filter(F.col(contract.SPLIT_COLUMN) == "test"), spec)
    params = dict(hyperparameters)
    rounds = int(params.pop("num_round"))
    booster = xgb.train(params, xgb.DMatrix(train_features, label=train_labels), num_boost_round=rounds)
    scores = booster.predict(xgb.DMatrix(test_features)).tolist()
    found = metrics.binary_metrics([int(v) for v in test_labels], scores, threshold)
    return {name: round(float(found[name]), 6) for name in METRICS}


def run_variant(base: Any, counts: Any, changes: Mapping[str, str], config: Any) -> dict[str, Any]:
    """The fitted steps and rebalancing of ``pipeline.run`` with ``changes`` (with its count checks), then training;
    the test metrics, the rows dropped and synthesised, the time."""
    from ml_constructs.glue_etl.runtime import pipeline
    from stacks.mapping import etl_spec
    from tools.build_default_model import REPRODUCIBILITY_PARAMS

    started = time.perf_counter()
    spec, params = etl_spec(), contract.EtlParams(**{**BASE_PARAMS, **changes})
    persisted = pipeline._Persisted()
    try:
        ready = pipeline.prepare_training(base, spec, params, persisted, counts.rows_clean)
        final, balance, written = ready.final, ready.balance, ready.written
        dropped = ready.fits.outliers_dropped + ready.dropped.rows
        hyperparameters = {**config.algorithm_hyperparameters(), **REPRODUCIBILITY_PARAMS, **balance.hyperparameters()}
        scores = _train_and_score(final, spec, hyperparameters, config.decision_threshold)
    finally:
        persisted.release()
    return {
        **scores,
        "train_rows": int(written["train"]),
        "rows_dropped": dropped + int(balance.negatives_dropped),
        "rows_synthesised": int(balance.synthesised),
        "scale_pos_weight": hyperparameters.get("scale_pos_weight"),
        "seconds": round(time.perf_counter() - started, 1),
    }


def measure(
    spark: Any, events: int, seeds: Sequence[int], work: Path, log: Callable[[str], None] = progress
) -> list[dict[str, Any]]:
    """Every variant on every seed's data; one entry per variant with its runs in seed order."""
    from tools.build_default_model import write_raw_json
    from worked_example.generator import generate_events

    config = load_config({}).training
    chosen = variants()
    runs: dict[str, list[dict[str, Any]]] = {variant_name(v): [] for v in chosen}
    for s, seed in enumerate(seeds, 1):
        raw = write_raw_json(list(generate_events(events, seed, start=START, span=SPAN)), work / f"raw-{seed}")
        base, counts = prepare_base(spark, raw, work / f"curated-{seed}")
        for v, changes in enumerate(chosen, 1):
            result = run_variant(base, counts, changes, config)
            runs[variant_name(changes)].append({"seed": seed, **result})
            figures = " ".join(f"{m}={result[m]:.3f}" for m in METRICS)
            log(
                f"seed {seed} ({s}/{len(seeds)}), {v}/{len(chosen)} {variant_name(changes)}: {figures} "
                f"({result['seconds']} s)"
            )
        base.unpersist()
    return [{"name": variant_name(v), "changes": v, "runs": runs[variant_name(v)]} for v in chosen]


# --- The page: rendered from the results file only -------------------------------------------------------------


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired_difference(
    runs: Sequence[Mapping[str, Any]], default: Sequence[Mapping[str, Any]], metric: str
) -> tuple[float, float]:
    """Mean difference from the default over the same seeds (same data), and its standard error."""
    diffs = [r[metric] - d[metric] for r, d in zip(runs, default, strict=True)]
    mean, sd = _mean_sd(diffs)
    return mean, sd / math.sqrt(len(diffs))


def _cell(
    runs: Sequence[Mapping[str, Any]], default: Sequence[Mapping[str, Any]], metric: str, is_default: bool
) -> str:
    mean, sd = _mean_sd([r[metric] for r in runs])
    text = f"{mean:.3f} ± {sd:.3f}"
    if is_default:
        return text
    diff, se = paired_difference(runs, default, metric)
    marker = " **▲**" if diff > Z * se and se > 0 else " **▼**" if diff < -Z * se and se > 0 else ""
    return f"{text} ({diff:+.3f}){marker}"


def render(results: Mapping[str, Any]) -> str:
    """The Markdown page of a results document (deterministic: the same file gives the same bytes)."""
    main = results["main"]
    default = main["variants"][0]["runs"]
    lines = [
        *_HEADER.format(
            events=main["events"],
            seeds=", ".join(map(str, main["seeds"])),
            n=len(main["seeds"]),
            z=Z,
            threshold=results["decision_threshold"],
        ).splitlines(),
        "",
    ]
    lines += [
        "| variant | AUC | precision | recall | F1 | train rows | dropped | synthesised | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant in main["variants"]:
        runs, is_default = variant["runs"], variant["name"] == "default"
        cells = [_cell(runs, default, m, is_default) for m in METRICS]
        counts = [
            round(statistics.fmean(r[k] for r in runs)) for k in ("train_rows", "rows_dropped", "rows_synthesised")
        ]
        seconds = statistics.fmean(r["seconds"] for r in runs)
        lines.append(
            f"| {variant['name']} | " + " | ".join(cells) + " | " + " | ".join(map(str, counts)) + f" | {seconds:.1f} |"
        )
    lines += [
        "",
        *_FOOTER.format(
            check_events=results["check"]["events"], check_seeds=", ".join(map(str, results["check"]["seeds"]))
        ).splitlines(),
    ]
    lines += ["", "Verdicts (differences beyond the criterion, from the table):", ""]
    lines += _verdicts(main) or ["- none: no alternative differs from the default by more than the criterion."]
    return "\n".join(lines) + "\n"


def _verdicts(main: Mapping[str, Any]) -> list[str]:
    default = main["variants"][0]["runs"]
    out = []
    for variant in main["variants"][1:]:
        moved = []
        for metric in METRICS:
            diff, se = paired_difference(variant["runs"], default, metric)
            if se > 0 and abs(diff) > Z * se:
                moved.append(f"{metric} {diff:+.3f} (SE {se:.3f})")
        if moved:
            out.append(f"- {variant['name']}: " + ", ".join(moved))
    return out


_HEADER = """# Data preparation trade-offs, measured

Generated by `make tradeoffs` (`tools/tradeoffs.py`) from `docs/data-prep-tradeoffs.json`; do not edit by hand.

Each row changes one step of the Glue ETL from its defaults (docs/glue-etl.md), or a few steps together; everything
else (the data, the split, the XGBoost hyperparameters of the training workflow) stays the same. For each of {n}
generator seeds ({seeds}) the worked example's {events} events go through the Glue job's own steps on local Spark
(validation, split, fitting, rebalancing, with their count checks; the writes skipped), XGBoost trains on the train
rows with the training workflow's hyperparameters (and the ETL's `scale_pos_weight` merged in for `class_weight`),
and the model scores the **held-out test split** (natural balance) at the decision threshold {threshold}.

How to read it: each cell is the mean ± standard deviation over the seeds, and for a variant the mean paired
difference from the default (same seed, same data). **▲**/**▼** marks a difference larger than {z:g} standard errors of
that paired difference: smaller differences are not told apart from the noise of {n} seeds. Rows: train rows written
(after rebalancing), rows dropped (train outliers and undersampled negatives) and rows synthesised (SMOTE), means
over the seeds. Seconds: fitting, rebalancing and training per run (the shared read, validation and split of a seed
excluded) on the machine that ran the command, which was shared with other work: indicative only, not reproducible,
and not compared by the tests."""

_FOOTER = """Reproducibility: `docs/data-prep-tradeoffs.json` also holds a smaller run ({check_events} events, seed
{check_seeds}, every variant); `make test-slow` re-runs it and requires the same metrics and row counts (timings
excluded). The default test run checks that this page is the rendering of the results file."""


# --- The command ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.tradeoffs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=EVENTS, help=f"events per seed (default {EVENTS})")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma-separated generator seeds")
    parser.add_argument("--render", action="store_true", help="only re-render the page from the results file")
    return parser


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if len(seeds) < 2:
        raise SystemExit(f"--seeds={text!r}: at least two comma-separated integers (the spread needs two)")
    return seeds


def run(events: int, seeds: Sequence[int], check: Mapping[str, Any] = CHECK) -> dict[str, Any]:
    """Both measurements on one Spark session: the page's, then the reproducibility check's."""
    from ml_constructs.glue_etl.local import local_spark

    config = load_config({}).training
    progress(
        f"{len(variants())} variants x {len(seeds)} seeds of {events} events, then the check "
        f"({check['events']} events, seeds {check['seeds']}); starting local Spark"
    )
    spark = local_spark("tradeoffs")
    try:
        with tempfile.TemporaryDirectory(prefix="tradeoffs-") as tmp:
            main = measure(spark, events, seeds, Path(tmp) / "main")
            checked = measure(spark, check["events"], check["seeds"], Path(tmp) / "check")
    finally:
        spark.stop()
    return {
        "results_version": RESULTS_VERSION,
        "decision_threshold": config.decision_threshold,
        "main": {"events": events, "seeds": list(seeds), "variants": main},
        "check": {"events": check["events"], "seeds": list(check["seeds"]), "variants": checked},
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.events < 1000:
        raise SystemExit(f"--events={args.events}: at least 1000 (each split needs enough positives)")
    if not args.render:
        results = run(args.events, _seeds(args.seeds))
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        progress(f"wrote {RESULTS.relative_to(ROOT)}")
    PAGE.write_text(render(json.loads(RESULTS.read_text())))
    progress(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
