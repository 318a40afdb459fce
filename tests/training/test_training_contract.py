"""The training contract, checked locally: ETL CSV -> built-in XGBoost -> batch transform join -> metrics -> gate.

Each stage reads what the stage before it really writes:

1. The Glue job (``ml_constructs.glue_etl.runtime.pipeline.run``) on a local Spark session, over a raw zone
   written in Firehose's layout (the helpers of ``tests/glue/conftest.py``), write the ``train/`` and
   ``validation/`` CSV channels.
2. xgboost, the same major.minor as the SageMaker image (``images.DEFAULT_XGBOOST_VERSION``), reads each
   channel as the built-in algorithm does in File mode: the channel directory holds the S3 objects of the
   prefix, the delimiter is sniffed from the first line, and the matrix is loaded with
   ``DMatrix("<path>?format=csv&label_column=0&delimiter=,")``: label first, no header (the container's
   ``data_utils._get_csv_dmatrix_file_mode``); the files are read in name order (see ``read_channel``).
   It trains with the config's ``training.algorithm_hyperparameters()`` passed as strings (as SageMaker passes them),
   ``num_round`` as the number of boosting rounds.
3. The batch transform with ``InputFilter "$[1:]"``, ``JoinSource "Input"``, ``OutputFilter "$[0,-1]"`` is
   emulated per validation file: features without the label go to the model, each prediction is written as
   the container's batch mode writes it (``str`` of the float), joined to its input line, and the first and
   last fields kept: ``<label>,<probability>``, one ``<input file>.out`` per input file.
4. ``metrics.Predictions``/``metrics.evaluate`` (what the Lambda handler runs) compute the gate with
   the config's ``training.decision_threshold`` and ``training.gate``.

Data size: 20,000 events (seed 20261120), about 3,000 validation rows with ~110 frauds. With 8,000 events the
validation split holds only ~50 frauds and recall's standard error is ~0.07, so whether a model passes the
gate would be decided by two or three rows; the ETL costs the same few seconds at either size.

The measured values are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import csv
import random
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import pytest
import xgboost as xgb

from ml_config import load_config
from ml_constructs.glue_etl.runtime import contract, pipeline
from ml_constructs.training.runtime.metrics import Predictions, evaluate
from sagemaker_images import DEFAULT_XGBOOST_VERSION
from stacks.mapping import etl_spec
from tests.glue.conftest import SEED, TEST_PARAMS, data_files, spark, write_raw_json  # noqa: F401 - spark: fixture
from worked_example.generator import generate_events

# The deployed workflow's own settings: the defaults of the config (what `make synth` deploys).
TRAINING = load_config({}).training
XGBOOST_HYPERPARAMETERS = TRAINING.algorithm_hyperparameters()
DECISION_THRESHOLD = TRAINING.decision_threshold
GATE_THRESHOLDS = TRAINING.gate.model_dump()

N_EVENTS = 20_000
SHUFFLE_SEED = 7

# xgboost >= 3.1 warns that text-file input is deprecated; it is exactly how the built-in container reads CSV.
pytestmark = pytest.mark.filterwarnings("ignore:.*Text file input has been deprecated:UserWarning")


@dataclass(frozen=True)
class Channels:
    train: Path
    validation: Path
    report: dict[str, Any]


def as_channel(split_dir: Path, channel: Path) -> Path:
    """What SageMaker downloads for a channel: the data objects under the prefix (no local .crc files)."""
    channel.mkdir(parents=True)
    for path in data_files(split_dir):
        shutil.copy(path, channel / path.name)
    return channel


@pytest.fixture(scope="module")
def channels(spark, tmp_path_factory: pytest.TempPathFactory) -> Channels:  # noqa: F811 - the imported fixture
    started = time.perf_counter()
    root = tmp_path_factory.mktemp("training-contract")
    raw = write_raw_json(list(generate_events(N_EVENTS, SEED)), root / "raw")
    params = contract.EtlParams(raw_format="json", **TEST_PARAMS)
    report = pipeline.run(spark, str(raw), str(root / "curated"), etl_spec(), params)
    print(f"\n[training contract] ETL of {N_EVENTS} events: {time.perf_counter() - started:.1f} s")
    curated = root / "curated"
    return Channels(
        train=as_channel(curated / "train", root / "channels" / "train"),
        validation=as_channel(curated / "validation", root / "channels" / "validation"),
        report=report,
    )


# --- SageMaker's built-in XGBoost, emulated --------------------------------------------------------------------


def container_dmatrix(path: Path) -> xgb.DMatrix:
    """The built-in container's CSV loading (File mode): sniff the delimiter, label in column 0, no header."""
    first_file = path if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())[0]
    with first_file.open() as f:
        delimiter = csv.Sniffer().sniff(f.readline()).delimiter
    return xgb.DMatrix(f"{path}?format=csv&label_column=0&delimiter={delimiter}")


def read_channel(channel: Path) -> xgb.DMatrix:
    """A channel as the container reads it, with the files in name order.

    The container passes the channel directory, and xgboost reads its files in directory-listing (readdir)
    order, which differs between file systems and between ETL runs (file names carry a random uuid per run).
    Row order changes a model trained with ``subsample < 1``, so for a reproducible test the files are
    concatenated in name order into one file first; the parser and its options are the container's.
    """
    files = sorted(p for p in channel.iterdir() if p.is_file())
    combined = channel.with_name(channel.name + "-in-name-order.csv")
    if not combined.exists():
        combined.write_bytes(b"".join(p.read_bytes() for p in files))
    return container_dmatrix(combined)


def train_like_sagemaker(train: Path, validation: Path, hyperparameters: Mapping[str, object]) -> xgb.Booster:
    """``xgb.train`` as the container calls it: string hyperparameters, num_round rounds, both channels as evals."""
    params = {name: str(value) for name, value in hyperparameters.items()}  # SageMaker's HyperParameters map
    rounds = int(params.pop("num_round"))
    dtrain, dvalidation = read_channel(train), read_channel(validation)
    return xgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=[(dtrain, "train"), (dvalidation, "validation")],
        verbose_eval=False,
    )


def batch_transform_join(booster: xgb.Booster, validation: Path) -> dict[str, str]:
    """The joined transform output per input file: ``{"<file>.out": "<label>,<probability>\\n..."}``."""
    outputs = {}
    for path in sorted(p for p in validation.iterdir() if p.is_file()):
        rows = [line.split(",") for line in path.read_text().splitlines()]
        features = xgb.DMatrix([[float(v) for v in row[1:]] for row in rows])  # InputFilter "$[1:]"
        predictions = booster.predict(features).tolist()  # the container's batch mode: str() of each float
        joined = [[*row, str(p)] for row, p in zip(rows, predictions, strict=True)]  # JoinSource "Input"
        outputs[path.name + ".out"] = "".join(f"{r[0]},{r[-1]}\n" for r in joined)  # OutputFilter "$[0,-1]"
    return outputs


def gate_result(booster: xgb.Booster, validation: Path) -> dict[str, Any]:
    predictions = Predictions()
    for name, text in batch_transform_join(booster, validation).items():
        predictions.add_text(text, name)
    return evaluate(predictions, DECISION_THRESHOLD, GATE_THRESHOLDS)


def show(label: str, result: Mapping[str, Any]) -> None:
    m = result["metrics"]
    print(
        f"[training contract] {label}: auc={m['auc']:.4f} precision={m['precision']:.4f} recall={m['recall']:.4f} "
        f"f1={m['f1']:.4f} (positives {m['positives']} of {m['count']}, predicted {m['predicted_positives']}) "
        f"passed={result['passed']} {result['failures']}"
    )


# --- The contract ----------------------------------------------------------------------------------------------


def test_local_xgboost_is_the_sagemaker_version():
    assert ".".join(xgb.__version__.split(".")[:2]) == DEFAULT_XGBOOST_VERSION.split("-")[0]


def test_channels_are_what_the_builtin_algorithm_reads(channels: Channels):
    spec = etl_spec()
    width = len(contract.csv_columns(spec))
    for channel in (channels.train, channels.validation):
        files = sorted(channel.iterdir())
        assert files
        assert all(p.name.startswith("part-") and p.suffix == ".csv" for p in files)  # no hidden files
        rows = [line.split(",") for p in files for line in p.read_text().splitlines()]
        assert all(len(r) == width for r in rows)  # the same columns everywhere, no header line
        assert {r[0] for r in rows} == {"0", "1"}  # the label first
        expected = numpy.array(rows, dtype=numpy.float64)
        # The files in name order, row for row; xgboost's text parser may be one float32 ulp off the correctly
        # rounded value, hence the tolerance.
        ordered = read_channel(channel)
        loaded = numpy.column_stack([ordered.get_label(), ordered.get_data().toarray()]).astype(numpy.float64)
        assert loaded.shape == (len(rows), width)
        assert numpy.array_equal(loaded[:, 0], expected[:, 0])
        assert numpy.allclose(loaded, expected, rtol=1e-6, atol=0)
        # The directory itself, exactly as the container loads it: same rows, in listing order.
        listed = container_dmatrix(channel)
        loaded = numpy.column_stack([listed.get_label(), listed.get_data().toarray()]).astype(numpy.float64)
        assert loaded.shape == (len(rows), width)
        assert loaded[:, 0].sum() == expected[:, 0].sum()
        assert numpy.allclose(loaded.sum(axis=0), expected.sum(axis=0), rtol=1e-6, atol=1e-6)
        with files[0].open() as f:
            assert csv.Sniffer().sniff(f.readline()).delimiter == ","
    assert read_channel(channels.validation).num_row() > 2_500


@pytest.fixture(scope="module")
def trained(channels: Channels) -> xgb.Booster:
    return train_like_sagemaker(channels.train, channels.validation, XGBOOST_HYPERPARAMETERS)


def test_the_default_model_passes_the_gate(channels: Channels, trained: xgb.Booster):
    result = gate_result(trained, channels.validation)
    show("default hyperparameters", result)
    assert result["passed"], result["failures"]
    # The joined lines carry every validation row, with the probabilities xgboost gives the whole channel.
    validation = read_channel(channels.validation)
    assert result["records"] == validation.num_row()
    assert result["metrics"]["positives"] == int(validation.get_label().sum())
    direct = Predictions().add_text(
        "".join(
            f"{int(y)},{p}\n"
            for y, p in zip(validation.get_label().tolist(), trained.predict(validation).tolist(), strict=True)
        ),
        "direct",
    )
    # Close, not equal: the container parses request CSV with numpy, training channels with xgboost's parser.
    assert evaluate(direct, DECISION_THRESHOLD, GATE_THRESHOLDS)["metrics"] == pytest.approx(
        result["metrics"], abs=1e-3
    )


def test_shuffled_labels_fail_the_gate(channels: Channels, tmp_path: Path):
    """Train on the same features with the train labels permuted: no signal left, the gate must say so."""
    shuffled = tmp_path / "train-shuffled"
    shuffled.mkdir()
    files = sorted(channels.train.iterdir())
    rows = [[line.split(",") for line in p.read_text().splitlines()] for p in files]
    labels = [r[0] for file_rows in rows for r in file_rows]
    random.Random(SHUFFLE_SEED).shuffle(labels)
    position = 0
    for path, file_rows in zip(files, rows, strict=True):
        out = []
        for r in file_rows:
            out.append(",".join([labels[position], *r[1:]]))
            position += 1
        (shuffled / path.name).write_text("\n".join(out) + "\n")

    booster = train_like_sagemaker(shuffled, channels.validation, XGBOOST_HYPERPARAMETERS)
    result = gate_result(booster, channels.validation)
    show("shuffled train labels", result)
    assert not result["passed"]
    assert any(f.startswith("auc ") for f in result["failures"])
    assert abs(result["metrics"]["auc"] - 0.5) < 0.1  # chance level
