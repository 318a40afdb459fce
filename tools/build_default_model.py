"""Build the endpoint's default model: ``python -m tools.build_default_model [--events N] [--seed S] [--out DIR]``.

Why a default model
-------------------
The serving stack deploys a real-time endpoint on its first ``cdk deploy``, before any training job has run. A
SageMaker model needs a ``model.tar.gz`` to point at, so the project ships a small one that it builds itself, the
same way the training workflow builds a real one, only locally:

1. the worked example's generator writes ``--events`` events (fixed ``--seed``) as Firehose's json mode lays them
   out in the raw zone (GZIP JSON Lines under ``events/dt=YYYY-MM-DD/``);
2. the real Glue job (``ml_constructs.glue_etl.runtime.pipeline.run``) runs on a local SparkSession and writes the
   ``train/`` and ``validation/`` CSV channels (label first, no header) and the ``prepared/`` Parquet;
3. xgboost trains on the train channel the way the built-in algorithm does (the container's CSV parser options,
   the config's ``training.algorithm_hyperparameters()`` as strings, ``num_round`` rounds), with one thread and a
   fixed seed so that a rebuild gives the same model, byte for byte;
4. the validation channel is scored as the workflow's batch transform does (``<label>,<probability>`` lines) and
   the quality-gate metrics come from ``ml_constructs.training.runtime.metrics`` (what the evaluation Lambda
   runs); the build fails if the model does not pass the config's gate;
5. the drift monitor's baselines, both *without* the oversampled copies of the positives (the endpoint sees the
   natural class balance): ``statistics.json``, ``constraints.json`` are the ones the ETL wrote for the raw
   event fields of the train split (``preprocessing/baseline/``, ``glue_etl/runtime/raw_baseline.py``): the
   endpoint receives raw events (the inference pipeline), and these are deployed beside the default model for the
   drift job; ``feature-statistics.json``, ``feature-constraints.json`` describe the 23 feature columns XGBoost
   receives (the drift analyzer's ``baseline`` over the ``prepared/`` Parquet rows with ``oversample_copy`` = 0),
   for reference;
6. the preprocessing container's artifact is the ETL's too: ``fitted.json`` (everything fitted on train) and
   ``preprocessing-model.tar.gz`` (``code/inference.py``, ``code/preprocessing.py`` and ``fitted.json``), the first
   container of the endpoint's inference pipeline, in front of ``model.tar.gz``.

The artifact, in the format the SageMaker XGBoost container loads
-----------------------------------------------------------------
``model.tar.gz`` holds one file, ``xgboost-model``. The container (``aws/sagemaker-xgboost-container``) extracts
the archive into ``/opt/ml/model`` and ``serve_utils.get_loaded_booster`` loads *every* file there: it first tries
``pickle.load`` (models of the 0.90/1.0 containers were pickled Boosters) and, when that fails, ``xgb.Booster()``
+ ``load_model(path)``; then ``set_param("nthread", 1)``. Its own training code saves with
``bst.save_model(os.path.join(model_dir, "xgboost-model"))`` (``algorithm_mode/train.py``), and so does this
command: xgboost 3.2 writes UBJSON for a file name without an extension (the default since 2.1), and its
``load_model`` guesses UBJSON for such a name. ``pickle.load`` of UBJSON fails at once (``invalid load key '{'``),
so the container falls through to ``load_model``. One file only: with several files the container would average
the predictions of all of them.

Determinism: the tar entry has a fixed name, mtime 0, uid/gid 0, empty owner names and mode 0644; the gzip header
has mtime 0 and no file name. The ETL output depends on the data only (see ``pipeline``), training runs single
threaded with ``seed`` fixed, so the same arguments give the same ``model.tar.gz`` bytes (the tests check it).

Outputs in ``--out`` (default ``ml_constructs/serving/default_model/``, next to this project's serving code):
``model.tar.gz``, ``preprocessing-model.tar.gz``, ``fitted.json``, ``raw-statistics.json``, ``raw-constraints.json``,
``statistics.json``, ``constraints.json`` and ``manifest.json`` (versions, columns, data, metrics and the sha256 of
both archives). ``make default-model`` runs this command.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import hashlib
import io
import json
import sys
import tarfile
import tempfile
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ml_config import load_config
from ml_config.config import TrainingSettings
from ml_constructs.glue_etl.runtime import contract, pipeline
from ml_constructs.monitoring.runtime.drift_job import analyzer
from ml_constructs.training.runtime import metrics
from sagemaker_images import DEFAULT_XGBOOST_VERSION
from stacks.mapping import etl_spec
from worked_example.generator import DEFAULT_START, generate_events, to_json_line

#: Where the committed artifact lives (relative to this file, never the working directory).
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "ml_constructs" / "serving" / "default_model"
DEFAULT_EVENTS = 20_000
DEFAULT_SEED = 20261120
#: The file name the SageMaker XGBoost container's training code writes and its serving code loads.
MODEL_FILE = "xgboost-model"
ARCHIVE = "model.tar.gz"
#: The model's input columns' statistics (what XGBoost receives after the preprocessing container): reference only.
STATISTICS = "feature-statistics.json"
CONSTRAINTS = "feature-constraints.json"
MANIFEST = "manifest.json"
PREPROCESSING_ARCHIVE = "preprocessing-model.tar.gz"
FITTED = "fitted.json"
#: The raw-field baseline the drift job reads (the endpoint receives raw events): deployed beside the model.
RAW_STATISTICS = "statistics.json"
RAW_CONSTRAINTS = "constraints.json"
#: ETL parameters: the job's defaults except the partition counts, sized for a laptop (they change file layout
#: and, for ``canonical_partitions``, at most the last bits of a fitted statistic; see ``EtlParams``).
ETL_OVERRIDES: Mapping[str, Any] = {"raw_format": "json", "canonical_partitions": 4, "csv_files": 2}
#: Added to the config's hyperparameters for reproducibility: one thread, a fixed sampling seed (both are
#: hyperparameters the built-in algorithm accepts; ``seed`` 0 is xgboost's default).
REPRODUCIBILITY_PARAMS: Mapping[str, str] = {"nthread": "1", "seed": "0"}


def progress(message: str) -> None:
    """One progress line (stdout, flushed: a user should never stare at a silent terminal)."""
    print(f"[default-model] {message}", flush=True)


# --- 1. The raw zone ---------------------------------------------------------------------------------------


def write_raw_json(events: Sequence[Mapping[str, Any]], root: Path, files_per_day: int = 2) -> Path:
    """Write events as Firehose's json mode: ``root/events/dt=<date>/<firehose-style name>.gz``."""
    by_day: dict[str, list[bytes]] = defaultdict(list)
    for event in events:
        by_day[str(event["event_time"])[:10]].append(to_json_line(event))
    events_dir = root / "events"
    for date, lines in sorted(by_day.items()):
        day = events_dir / f"dt={date}"
        day.mkdir(parents=True, exist_ok=True)
        for i in range(files_per_day):
            unique = uuid.uuid5(uuid.NAMESPACE_URL, f"{date}/{i}")
            with gzip.open(day / f"mlspec-firehose-1-{date}-10-15-{i:02d}-{unique}.gz", "wb") as out:
                out.writelines(line if line.endswith(b"\n") else line + b"\n" for line in lines[i::files_per_day])
    return events_dir


# --- 2. The ETL ---------------------------------------------------------------------------------------------


def local_spark() -> Any:
    """A small local SparkSession configured like a Glue 5 worker (UTC, non-ANSI Spark 3.5, no UI)."""
    from ml_constructs.glue_etl.local import local_spark as session

    return session("build-default-model")


def csv_files(directory: Path) -> list[Path]:
    """The data files of a Spark CSV output directory, in name order (part number first)."""
    return sorted(p for p in directory.iterdir() if p.name.startswith("part-") and p.name.endswith(".csv"))


def baseline_rows(spark: Any, prepared: Path, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """The train split's feature rows without the oversampled copies (``oversample_copy`` = 0)."""
    from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

    df = spark.read.parquet(str(prepared))
    train = df.filter((F.col(contract.SPLIT_COLUMN) == "train") & (F.col(contract.COPY_COLUMN) == 0))
    return [tuple(row) for row in train.select(*columns).collect()]


# --- 3. Training as the built-in algorithm trains --------------------------------------------------------


def read_channel(files: Sequence[Path], work: Path) -> Any:
    """A CSV channel as the container reads it (label in column 0, no header), the files in name order.

    The container hands xgboost the channel directory, whose files xgboost reads in directory-listing order;
    concatenating them in name order first makes the row order, and so a model trained with ``subsample`` < 1,
    reproducible. The parser and its options are the container's.
    """
    import xgboost as xgb

    combined = work / "channel.csv"
    combined.write_bytes(b"".join(p.read_bytes() for p in files))
    with combined.open() as f:
        delimiter = csv.Sniffer().sniff(f.readline()).delimiter
    return xgb.DMatrix(f"{combined}?format=csv&label_column=0&delimiter={delimiter}")


def train(train_files: Sequence[Path], hyperparameters: Mapping[str, str], work: Path) -> Any:
    """``xgb.train`` with string hyperparameters and ``num_round`` rounds, as the container calls it."""
    import xgboost as xgb

    params = {name: str(value) for name, value in hyperparameters.items()}
    rounds = int(params.pop("num_round"))
    return xgb.train(params, read_channel(train_files, work), num_boost_round=rounds, verbose_eval=False)


def joined_output(booster: Any, path: Path) -> str:
    """A validation file scored like the workflow's batch transform: ``<label>,<probability>`` per line."""
    import numpy
    import xgboost as xgb

    rows = [line.split(",") for line in path.read_text().splitlines()]
    features = numpy.array([row[1:] for row in rows], dtype=numpy.float64)  # InputFilter "$[1:]"
    predictions = booster.predict(xgb.DMatrix(features)).tolist()
    return "".join(f"{row[0]},{p}\n" for row, p in zip(rows, predictions, strict=True))  # OutputFilter "$[0,-1]"


# --- 4. The deterministic archive ------------------------------------------------------------------------


def deterministic_tar_gz(name: str, data: bytes) -> bytes:
    """``<name>`` alone in a gzip'd tar, with every varying header field fixed: same input, same bytes."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    # filename="" keeps the name out of the gzip header; mtime=0 keeps the clock out of it.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(tar_bytes.getvalue())
    return out.getvalue()


def json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n"


# --- The command ---------------------------------------------------------------------------------------------


def _run_etl(raw: Path, curated: Path, spec: Any, params: contract.EtlParams) -> Any:
    """The Glue transforms on a local Spark session; returns the session, to read their output with."""
    progress("starting a local Spark session and running the Glue transforms (about 20 s)")
    spark = local_spark()
    report = pipeline.run(spark, str(raw), str(curated), spec, params)
    progress(f"ETL done: {report['input']['rows_in']} rows in, split rows {report['split']['rows']}")
    return spark


def _train_and_save(train_files: Sequence[Path], hyperparameters: Mapping[str, str], work: Path) -> tuple[Any, bytes]:
    """Train on the train channel and save the model as the container does; returns the booster and the bytes."""
    import xgboost as xgb

    progress(f"training xgboost {xgb.__version__} ({hyperparameters['num_round']} rounds, 1 thread)")
    with warnings.catch_warnings():
        # xgboost >= 3.1 deprecates text-file input; it is exactly how the built-in container reads CSV.
        warnings.filterwarnings("ignore", message=".*Text file input has been deprecated")
        booster = train(train_files, hyperparameters, work)
    model_path = work / MODEL_FILE
    with warnings.catch_warnings():
        # Saving without an extension warns that UBJSON is the default: that default is what we want.
        warnings.filterwarnings("ignore", message=".*UBJSON format as default")
        booster.save_model(str(model_path))
    return booster, model_path.read_bytes()


def _evaluate(booster: Any, validation_files: Sequence[Path], config: TrainingSettings) -> dict[str, Any]:
    """The validation split scored like the batch transform, and the quality gate's verdict on it."""
    progress("scoring the validation split like the batch transform and applying the quality gate")
    predictions = metrics.Predictions()
    for path in validation_files:
        predictions.add_text(joined_output(booster, path), path.name)
    return metrics.evaluate(predictions, config.decision_threshold, config.gate.model_dump())


def _check_csv_types(statistics: Mapping[str, Any], csv_rows: list[list[str]], columns: Sequence[str]) -> None:
    """Exit unless the train rows as CSV text give every feature the type the Parquet baseline inferred."""
    # The baseline is read from Parquet (typed values), the endpoint receives CSV text: both must give every
    # feature the same inferred type, or the drift monitor's data_type_check would flag valid requests.
    from_csv, _ = analyzer.baseline(csv_rows, columns)
    types = [(f["name"], f["inferred_type"]) for f in statistics["features"]]
    csv_types = [(f["name"], f["inferred_type"]) for f in from_csv["features"]]
    if types != csv_types:
        raise SystemExit(f"inferred types differ between the Parquet and the CSV train rows: {types} != {csv_types}")


def _manifest(
    archive: bytes,
    preprocessing: bytes,
    *,
    xgboost_version: str,
    events: int,
    seed: int,
    columns: list[str],
    params: contract.EtlParams,
    hyperparameters: Mapping[str, str],
    train_rows: int,
    baseline_rows: int,
    baseline_fields: list[str],
    config: TrainingSettings,
    result: Mapping[str, Any],
) -> dict[str, Any]:
    """``manifest.json``: versions, columns, data, metrics and the sha256 of the archive."""
    return {
        "artifact": ARCHIVE,
        "artifact_sha256": hashlib.sha256(archive).hexdigest(),
        "artifact_bytes": len(archive),
        "model_file": MODEL_FILE,
        "model_format": "ubjson (xgboost Booster.save_model, file name without extension)",
        "preprocessing_artifact": PREPROCESSING_ARCHIVE,
        "preprocessing_sha256": hashlib.sha256(preprocessing).hexdigest(),
        "preprocessing_content_types": ["application/json", "application/jsonlines"],
        "baseline_fields": baseline_fields,
        "xgboost_version": xgboost_version,
        "image_version": DEFAULT_XGBOOST_VERSION,
        "content_type": "text/csv",
        "feature_columns": columns,
        "events": events,
        "seed": seed,
        "etl_params": {k: v for k, v in params.to_args().items()},
        "hyperparameters": hyperparameters,
        "train_rows": train_rows,
        "baseline_rows": baseline_rows,
        "decision_threshold": config.decision_threshold,
        "gate": config.gate.model_dump(),
        "validation": {"metrics": result["metrics"], "passed": result["passed"], "records": result["records"]},
        "rebuild": f"python -m tools.build_default_model --events {events} --seed {seed}",
    }


def _write_outputs(
    out: Path,
    archive: bytes,
    serving: Mapping[str, bytes],
    statistics: Any,
    constraints: Any,
    manifest: Mapping[str, Any],
) -> None:
    """The files of the artifact, into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / ARCHIVE).write_bytes(archive)
    for name, data in serving.items():
        (out / name).write_bytes(data)
    (out / STATISTICS).write_text(json_text(statistics))
    (out / CONSTRAINTS).write_text(json_text(constraints))
    (out / MANIFEST).write_text(json_text(manifest))


def _report_done(out: Path, scores: Mapping[str, Any], manifest: Mapping[str, Any], started: float) -> None:
    """The closing progress lines: the validation metrics, the files written, the archive's hash and the time."""
    figures = " ".join(f"{k}={scores[k]:.4f}" for k in ("auc", "precision", "recall", "f1"))
    progress(f"validation: {figures} ({scores['positives']} positives of {scores['count']}); gate passed")
    progress(
        f"wrote {out}/{{{ARCHIVE},{PREPROCESSING_ARCHIVE},{FITTED},{RAW_STATISTICS},{RAW_CONSTRAINTS},"
        f"{STATISTICS},{CONSTRAINTS},{MANIFEST}}} "
        f"({manifest['artifact_bytes']} bytes model archive)"
    )
    progress(f"sha256 {manifest['artifact_sha256']}; done in {time.perf_counter() - started:.1f} s")


def build(events: int, seed: int, out: Path, work_dir: Path | None = None) -> dict[str, Any]:
    """Run every step and write the four files into ``out``; return the manifest.

    The intermediate files (raw zone, curated zone, the bare ``xgboost-model``) go to a temporary directory that
    is removed at the end, or to ``work_dir`` (kept: the tests read the ETL's validation CSV from it).
    """
    import xgboost as xgb

    started = time.perf_counter()
    config = load_config({}).training
    spec = etl_spec()
    columns = contract.feature_columns(spec)
    hyperparameters = {**config.algorithm_hyperparameters(), **REPRODUCIBILITY_PARAMS}
    params = contract.EtlParams(**ETL_OVERRIDES)

    scratch = tempfile.TemporaryDirectory(prefix="default-model-") if work_dir is None else None
    with scratch or contextlib.nullcontext(str(work_dir)) as tmp:
        work = Path(tmp)
        progress(f"generating {events} events (seed {seed}) as Firehose json mode")
        # the fixed start pins the events' dates (and so every byte): the command lines' default is relative to today
        raw = write_raw_json(list(generate_events(events, seed, start=DEFAULT_START)), work / "raw")
        curated = work / "curated"
        spark = _run_etl(raw, curated, spec, params)
        rows = baseline_rows(spark, curated / contract.PREPARED_PREFIX, columns)
        serving = {
            PREPROCESSING_ARCHIVE: (curated / contract.PREPROCESSING_MODEL_KEY).read_bytes(),
            FITTED: (curated / contract.FITTED_KEY).read_bytes(),
            RAW_STATISTICS: (curated / f"{contract.RAW_BASELINE_PREFIX}statistics.json").read_bytes(),
            RAW_CONSTRAINTS: (curated / f"{contract.RAW_BASELINE_PREFIX}constraints.json").read_bytes(),
        }
        train_files = csv_files(curated / "train")
        validation_files = csv_files(curated / "validation")
        booster, model_bytes = _train_and_save(train_files, hyperparameters, work)
        result = _evaluate(booster, validation_files, config)
        csv_rows = [line.split(",")[1:] for p in train_files for line in p.read_text().splitlines()]
    if not result["passed"]:
        raise SystemExit(f"the default model fails the quality gate: {result['failures']}")

    progress(f"baseline of {len(rows)} train rows (without {len(csv_rows) - len(rows)} oversampled copies)")
    statistics, constraints = analyzer.baseline(rows, columns)
    _check_csv_types(statistics, csv_rows, columns)
    raw_fields = [f["name"] for f in json.loads(serving[RAW_STATISTICS])["features"]]
    archive = deterministic_tar_gz(MODEL_FILE, model_bytes)
    manifest = _manifest(
        archive,
        serving[PREPROCESSING_ARCHIVE],
        xgboost_version=xgb.__version__,
        events=events,
        seed=seed,
        columns=columns,
        params=params,
        hyperparameters=hyperparameters,
        train_rows=len(csv_rows),
        baseline_rows=len(rows),
        baseline_fields=raw_fields,
        config=config,
        result=result,
    )
    _write_outputs(out, archive, serving, statistics, constraints, manifest)
    _report_done(out, result["metrics"], manifest, started)
    return manifest


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.build_default_model", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help=f"events to generate ({DEFAULT_EVENTS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"generator seed ({DEFAULT_SEED})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (the committed artifact)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.events < 1:
        print(f"--events={args.events}: at least 1", file=sys.stderr)
        return 2
    build(args.events, args.seed, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
