"""The endpoint's contract, through the emulated inference pipeline with the shipped default artifacts: the
preprocessing archive's own ``inference.py`` (model_fn/input_fn/predict_fn/output_fn) in front of the default
XGBoost model, as the local sandbox serves them. Raw events in (JSON, JSON Lines), one probability per event
out; every malformed request answered with its status and a one-line message.

Expected probabilities are derived from the two containers called one after the other by hand: the emulated
pipeline must equal that composition (the order and the hand-over are what is under test).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from local_sandbox.endpoint import (
    Answer,
    ScriptContainer,
    XGBoostContainer,
    invoke_pipeline,
    load_container,
)
from ml_constructs.serving.construct import PREPROCESSING_ENVIRONMENT
from ml_constructs.serving.model_copy import DEFAULT_MODEL_DIR
from worked_example.generator import generate_events
from worked_example.schema import LABEL

PREPROCESSING = DEFAULT_MODEL_DIR / "preprocessing-model.tar.gz"
MODEL = DEFAULT_MODEL_DIR / "model.tar.gz"


def unpack(archive: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    with tarfile.open(archive, mode="r:gz") as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> list:
    root = tmp_path_factory.mktemp("pipeline")
    preprocessing = load_container(unpack(PREPROCESSING, root / "pre"), dict(PREPROCESSING_ENVIRONMENT))
    xgboost_dir = unpack(MODEL, root / "xgb")
    (xgboost_dir / ".hidden").write_text("not a model")  # the container skips dotfiles in the model directory
    return [preprocessing, load_container(xgboost_dir, None)]


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return [{k: v for k, v in e.items() if k != LABEL} for e in generate_events(20, 7)]


def test_the_containers_are_the_preprocessor_then_xgboost(pipeline):
    assert isinstance(pipeline[0], ScriptContainer)
    assert isinstance(pipeline[1], XGBoostContainer)


def test_one_json_event_in_one_probability_out(pipeline, events):
    answer = invoke_pipeline(pipeline, json.dumps(events[0]), "application/json")
    features = pipeline[0].invoke(json.dumps(events[0]), "application/json", "text/csv")
    expected = pipeline[1].invoke(features.body, features.content_type, "text/csv")
    assert answer == expected
    assert answer.status == 200
    assert answer.body.endswith("\n")
    (line,) = answer.body.splitlines()
    assert 0.0 <= float(line) <= 1.0


def test_json_lines_in_one_probability_per_event_in_order(pipeline, events):
    body = "".join(json.dumps(e) + "\n" for e in events)
    answer = invoke_pipeline(pipeline, body, "application/jsonlines")
    assert answer.status == 200
    singles = [invoke_pipeline(pipeline, json.dumps(e), "application/json").body for e in events]
    assert answer.body == "".join(singles)  # the same probability for an event alone or in a batch, in order


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "fragment"),
    [
        ('{"amount": 1}', "text/csv", "text/csv", 415, "content type"),
        ("{not json", "application/json", "text/csv", 400, "invalid JSON"),
        ('{"a": 1}\n{not json\n', "application/jsonlines", "text/csv", 400, "line 2"),
        ("", "application/json", "text/csv", 204, ""),
    ],
)
def test_malformed_requests_get_their_status_and_one_line(pipeline, body, content_type, accept, status, fragment):
    answer = invoke_pipeline(pipeline, body, content_type, accept)
    assert answer.status == status
    assert answer.body.count("\n") <= 1
    assert fragment in answer.body


def test_a_bad_field_is_a_400_naming_it(pipeline, events):
    event = {**events[0], "amount": "12.5"}  # a string where a number belongs
    answer = invoke_pipeline(pipeline, json.dumps(event), "application/json")
    assert answer.status == 400
    assert "amount" in answer.body
    assert answer.body.count("\n") == 1


def test_xgboost_answers_an_empty_body_with_204(pipeline):
    assert pipeline[1].invoke("", "text/csv", "text/csv") == Answer(204, "", "text/csv")


def test_a_failing_container_ends_the_pipeline_with_its_answer(pipeline):
    class Refuses:
        def invoke(self, body, content_type, accept):
            return Answer(503, "busy\n", "text/plain")

    class MustNotRun:
        def invoke(self, body, content_type, accept):
            raise AssertionError("a container after a failed one ran")

    assert invoke_pipeline([Refuses(), MustNotRun()], "{}", "application/json") == Answer(503, "busy\n", "text/plain")
