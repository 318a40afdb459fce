"""The committed default model (``ml_constructs/serving/default_model/``) is what the endpoint can serve.

The endpoint's first deploy serves ``model.tar.gz`` with the built-in XGBoost image ``3.2-0``. These tests check
the artifact the way the container treats it (``aws/sagemaker-xgboost-container``):

- loading (``serve_utils.get_loaded_booster``): every file of the extracted archive is tried with
  ``pickle.load`` first, then ``xgb.Booster().load_model(path)``; then ``set_param("nthread", 1)``;
- a ``text/csv`` request (``encoder.csv_to_dmatrix``): the body is stripped, split into lines and on the sniffed
  delimiter, empty fields become ``"nan"``, the rows become one float numpy array and a ``DMatrix``;
- prediction: ``booster.predict(dmatrix, validate_features=False)``.

The last test rebuilds the artifact with the committed manifest's arguments (about 40 s: a local Spark ETL of
20,000 events and 100 boosting rounds) and compares the bytes: the committed file is reproducible from the code.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy
import pytest
import xgboost as xgb

from ml_config import load_config
from ml_constructs.glue_etl.runtime.preprocessing import Preprocessor
from ml_constructs.training.runtime import metrics
from sagemaker_images import DEFAULT_XGBOOST_VERSION
from stacks.mapping import etl_feature_columns
from tools import build_default_model as builder
from worked_example.generator import generate_events
from worked_example.schema import feature_fields

DEFAULT_MODEL = Path(builder.__file__).resolve().parent.parent / "ml_constructs" / "serving" / "default_model"
ARCHIVE = DEFAULT_MODEL / builder.ARCHIVE
MANIFEST: dict[str, Any] = json.loads((DEFAULT_MODEL / builder.MANIFEST).read_text())
COLUMNS = etl_feature_columns()

# The container loads a file name without an extension, and xgboost says it guesses UBJSON: expected here.
# The rebuild reads the CSV channel with xgboost's text parser, deprecated in 3.1 but what the container uses.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Unknown file format.*UBJSON:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*Text file input has been deprecated:UserWarning"),
]


# --- The container, emulated -----------------------------------------------------------------------------------


def container_load(model_dir: Path) -> list[xgb.Booster]:
    """``serve_utils.get_loaded_booster``: pickle first, then ``Booster.load_model``, one thread."""
    boosters = []
    for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
        try:
            with path.open("rb") as f:
                booster = pickle.load(f)  # the 0.90/1.0 containers' format; must fail for our artifact
            raise AssertionError(f"{path.name} unpickled to {type(booster).__name__}: expected an xgboost model file")
        except pickle.UnpicklingError:
            booster = xgb.Booster()
            booster.load_model(str(path))
        booster.set_param("nthread", "1")  # the container passes 1; set_param sends every value as a string
        boosters.append(booster)
    return boosters


def csv_to_dmatrix(body: str) -> xgb.DMatrix:
    """``encoder.csv_to_dmatrix`` of a ``text/csv`` request body."""
    text = body.strip()
    sniffed = csv.Sniffer().sniff(text.split("\n")[0][:512]).delimiter
    delimiter = "," if sniffed.isalnum() else sniffed
    rows = [["nan" if v == "" else v for v in line.split(delimiter)] for line in text.split("\n")]
    return xgb.DMatrix(numpy.array(rows).astype(float))


def invoke(booster: xgb.Booster, body: str) -> list[float]:
    return [float(p) for p in booster.predict(csv_to_dmatrix(body), validate_features=False)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> xgb.Booster:
    """The committed archive extracted into a model directory and loaded as the container loads it."""
    model_dir = tmp_path_factory.mktemp("opt-ml-model")
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        tar.extractall(model_dir, filter="data")
    boosters = container_load(model_dir)
    assert len(boosters) == 1
    return boosters[0]


def baseline_rows() -> list[list[str]]:
    """Request rows as the endpoint's first container makes them: generated raw events through the default
    model's own preprocessor (``fitted.json``)."""
    preprocessor = Preprocessor(json.loads((DEFAULT_MODEL / builder.FITTED).read_text()))
    return [preprocessor.csv(event).split(",") for event in generate_events(40, 7)]


# --- (1) the archive ---------------------------------------------------------------------------------------


def test_archive_holds_exactly_the_model_file():
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        members = tar.getmembers()
    assert [(m.name, m.isfile()) for m in members] == [("xgboost-model", True)]
    assert (members[0].mtime, members[0].uid, members[0].gid, members[0].mode) == (0, 0, 0, 0o644)
    assert ARCHIVE.stat().st_size < 100_000  # tens of KB: fine to commit


# --- (2) loads and predicts as the 3.2-0 container does --------------------------------------------------------


def test_local_xgboost_is_the_serving_images_version():
    assert ".".join(xgb.__version__.split(".")[:2]) == DEFAULT_XGBOOST_VERSION.split("-")[0]
    assert MANIFEST["image_version"] == DEFAULT_XGBOOST_VERSION
    assert MANIFEST["xgboost_version"].split(".")[:2] == xgb.__version__.split(".")[:2]


def test_the_model_file_is_ubjson_not_a_pickle():
    with tarfile.open(ARCHIVE, "r:gz") as tar:
        member = tar.extractfile("xgboost-model")
        assert member is not None
        data = member.read()
    assert data[:1] == b"{"  # an object...
    assert data[1:2] != b'"'  # ...in UBJSON ('{' then a typed key length), not JSON text


def test_served_model_predicts_probabilities_for_feature_rows(served: xgb.Booster):
    assert served.num_features() == len(COLUMNS) == 23
    rows = baseline_rows()
    body = "\n".join(",".join(row) for row in rows) + "\n"
    predictions = invoke(served, body)
    assert len(predictions) == len(rows)
    assert all(0.0 <= p <= 1.0 for p in predictions)
    assert len(set(predictions)) > 1  # not a constant model
    # One row at a time (the usual real-time request) gives the same numbers; an empty field is a missing value.
    assert invoke(served, ",".join(rows[0])) == pytest.approx([predictions[0]])
    blank = ",".join(["", *rows[0][1:]])
    assert 0.0 <= invoke(served, blank)[0] <= 1.0


def test_served_model_refuses_too_many_features(served: xgb.Booster):
    row = baseline_rows()[0]
    with pytest.raises(xgb.core.XGBoostError, match="does not match number of features"):
        invoke(served, ",".join([*row, "0"]))
    with pytest.raises(ValueError, match="inhomogeneous"):  # ragged rows: numpy cannot make one float array
        invoke(served, ",".join(row) + "\n" + ",".join(row[:-1]))


def test_too_few_features_are_not_refused_by_xgboost(served: xgb.Booster):
    """A known gap, pinned: xgboost treats absent trailing columns as missing, and the container checks the
    feature count only for pickled models. A client that drops a column gets an answer, not an error; the drift
    monitor counts such rows as malformed records. Validate the width before invoking."""
    row = baseline_rows()[0]
    assert 0.0 <= invoke(served, ",".join(row[:-1]))[0] <= 1.0


# --- (3) the manifest ---------------------------------------------------------------------------------------


def test_manifest_describes_the_artifact():
    data = ARCHIVE.read_bytes()
    assert MANIFEST["artifact_sha256"] == hashlib.sha256(data).hexdigest()
    assert MANIFEST["artifact_bytes"] == len(data)
    assert MANIFEST["model_file"] == "xgboost-model"
    assert MANIFEST["content_type"] == "text/csv"
    # The endpoint's request columns are the ETL's feature columns: the two stages agree.
    assert MANIFEST["feature_columns"] == COLUMNS
    assert MANIFEST["events"] == builder.DEFAULT_EVENTS
    assert MANIFEST["seed"] == builder.DEFAULT_SEED


def test_manifest_metrics_pass_the_configs_gate():
    training = load_config({}).training
    validation = MANIFEST["validation"]
    passed, failures = metrics.gate(validation["metrics"], training.gate.model_dump())
    assert passed, failures
    assert validation["passed"] is True
    assert MANIFEST["gate"] == training.gate.model_dump()
    assert MANIFEST["decision_threshold"] == training.decision_threshold
    expected = {**training.algorithm_hyperparameters(), **builder.REPRODUCIBILITY_PARAMS}
    assert MANIFEST["hyperparameters"] == expected


# --- (4) the drift baseline ------------------------------------------------------------------------------------


def test_baseline_files_describe_the_raw_event_fields():
    statistics = json.loads((DEFAULT_MODEL / builder.STATISTICS).read_text())
    constraints = json.loads((DEFAULT_MODEL / builder.CONSTRAINTS).read_text())
    assert set(statistics) == {"version", "dataset", "features"}
    assert set(constraints) == {"version", "features", "monitoring_config"}
    fields = [f.name for f in feature_fields()]  # what a client sends, not the engineered columns
    assert [f["name"] for f in statistics["features"]] == fields == MANIFEST["baseline_fields"]
    assert [f["name"] for f in constraints["features"]] == fields
    # The train events without the oversampled copies: the natural balance the endpoint will see.
    assert statistics["dataset"]["item_count"] == MANIFEST["baseline_rows"] < MANIFEST["train_rows"]
    for feature in statistics["features"]:
        body = feature.get("numerical_statistics") or feature["string_statistics"]
        assert body["common"]["num_present"] + body["common"]["num_missing"] == MANIFEST["baseline_rows"]
    completeness = {f["name"]: f["completeness"] for f in constraints["features"]}
    assert completeness == {name: 0.9 if name == "distance_from_home_km" else 1.0 for name in fields}


def test_preprocessing_archive_serves_raw_events_to_the_model(served: xgb.Booster, tmp_path: Path):
    data = (DEFAULT_MODEL / builder.PREPROCESSING_ARCHIVE).read_bytes()
    assert MANIFEST["preprocessing_sha256"] == hashlib.sha256(data).hexdigest()
    with tarfile.open(DEFAULT_MODEL / builder.PREPROCESSING_ARCHIVE, "r:gz") as tar:
        assert tar.getnames() == ["code/inference.py", "code/preprocessing.py", "fitted.json"]
        assert tar.extractfile("fitted.json").read() == (DEFAULT_MODEL / builder.FITTED).read_bytes()  # type: ignore[union-attr]
        tar.extractall(tmp_path, filter="data")
    document = json.loads((DEFAULT_MODEL / builder.FITTED).read_text())
    assert document["columns"] == COLUMNS == MANIFEST["feature_columns"]
    spec = importlib.util.spec_from_file_location("default_model_inference", tmp_path / "code" / "inference.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    model = script.model_fn(str(tmp_path))
    body = "\n".join(json.dumps(e) for e in generate_events(20, 3))
    features, content_type = script.output_fn(
        script.predict_fn(script.input_fn(body, "application/jsonlines"), model), "text/csv"
    )
    assert content_type == "text/csv"
    predictions = invoke(served, features)  # the second container: the features as XGBoost reads them
    assert len(predictions) == 20
    assert all(0.0 <= p <= 1.0 for p in predictions)


# --- (5) reproducible -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rebuild")
    builder.build(MANIFEST["events"], MANIFEST["seed"], root / "out", work_dir=root / "work")
    return root


def _rounded(value: object) -> object:
    """JSON with floats rounded to 9 significant digits: equal up to floating-point noise of another CPU."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_rebuild_reproduces_the_committed_artifact(rebuilt: Path, served: xgb.Booster):
    """The committed files are what the command builds. On this machine the bytes are identical; the check
    allows the last bits of a float to differ, so that another CPU or xgboost build does not fail it."""
    out = rebuilt / "out"
    for name in (builder.PREPROCESSING_ARCHIVE, builder.FITTED):
        fresh_doc, committed_doc = (_fitted_of(p) for p in (out / name, DEFAULT_MODEL / name))
        assert _rounded(fresh_doc) == _rounded(committed_doc), f"{name}: run `make default-model`, read the diff"
    for name in (builder.STATISTICS, builder.CONSTRAINTS, builder.MANIFEST):
        fresh, committed = (json.loads(p.read_text()) for p in (out / name, DEFAULT_MODEL / name))
        if name == builder.MANIFEST:  # the archive's hash follows the model's bytes, compared below instead
            for manifest in (fresh, committed):
                manifest.pop("artifact_sha256")
                manifest.pop("preprocessing_sha256")  # compared through fitted.json above
        assert _rounded(fresh) == _rounded(committed), f"{name}: run `make default-model`, read the diff, commit"
    with tarfile.open(out / builder.ARCHIVE, "r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]
    model_dir = rebuilt / "opt-ml-model"
    model_dir.mkdir()
    with tarfile.open(out / builder.ARCHIVE, "r:gz") as tar:
        tar.extractall(model_dir, filter="data")
    (fresh_model,) = container_load(model_dir)
    body = "\n".join(",".join(row) for row in baseline_rows())
    assert invoke(fresh_model, body) == pytest.approx(invoke(served, body), abs=1e-6)


def _fitted_of(path: Path) -> Any:
    """fitted.json itself, or the one inside a preprocessing archive."""
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path, "r:gz") as tar:
            return json.loads(tar.extractfile("fitted.json").read())  # type: ignore[union-attr]
    return json.loads(path.read_text())


def test_raw_validation_events_through_both_containers_match_the_manifest_metrics(rebuilt: Path, served: xgb.Booster):
    """The ETL's raw validation events (what batch transform reads), through the preprocessor and then the
    model, score exactly as the ETL's engineered validation rows did when the manifest was written."""
    preprocessor = Preprocessor(json.loads((rebuilt / "out" / builder.FITTED).read_text()))
    predictions = metrics.Predictions()
    for path in sorted((rebuilt / "work" / "curated" / "raw" / "validation").glob("part-*")):
        events = [json.loads(line) for line in path.read_text().splitlines()]
        scores = invoke(served, "\n".join(preprocessor.csv(e) for e in events))
        predictions.add_text("".join(f"{e['is_fraud']},{p}\n" for e, p in zip(events, scores, strict=True)), path.name)
    training = load_config({}).training
    result = metrics.evaluate(predictions, training.decision_threshold, training.gate.model_dump())
    assert result["metrics"] == pytest.approx(MANIFEST["validation"]["metrics"], abs=1e-9)


def test_endpoint_requests_from_the_etl_match_the_manifest_metrics(rebuilt: Path, served: xgb.Booster):
    """The ETL's validation rows without the label, sent as requests, score as the manifest says."""
    predictions = metrics.Predictions()
    for path in builder.csv_files(rebuilt / "work" / "curated" / "validation"):
        lines = path.read_text().splitlines()
        assert all(len(line.split(",")) == 1 + len(COLUMNS) for line in lines)
        body = "\n".join(line.split(",", 1)[1] for line in lines)  # what a client sends: features only
        scores = invoke(served, body)
        predictions.add_text("".join(f"{line[0]},{p}\n" for line, p in zip(lines, scores, strict=True)), path.name)
    training = load_config({}).training
    result = metrics.evaluate(predictions, training.decision_threshold, training.gate.model_dump())
    assert result["passed"]
    assert result["metrics"] == pytest.approx(MANIFEST["validation"]["metrics"], abs=1e-9)
