"""The preprocessing container's model.tar.gz as the ETL writes it: its layout, and ``code/inference.py`` served
the way the prebuilt scikit-learn image serves it.

The image's single-model server (sagemaker-containers 2.8.6, ``_transformer.Transformer._default_transform_fn``)
calls ``input_fn`` -> ``predict_fn`` -> ``output_fn`` and returns what ``output_fn`` returns: a ``(body,
content_type)`` tuple is a 200, a ``worker.Response`` keeps its status. ``serve`` below is that call chain, with
a stand-in for ``sagemaker_containers.beta.framework.worker.Response`` (same constructor keywords). The
multi-model server (sagemaker-inference 1.5, ``Transformer.transform``) answers an exception deriving from
``BaseInferenceToolkitError`` with its ``status_code``: the last test loads the script with a stand-in of that
class and checks the raised error.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tarfile
import types
from pathlib import Path
from typing import Any

import pytest

from ml_constructs.glue_etl.runtime import contract as c
from ml_constructs.glue_etl.runtime import fitted
from ml_constructs.glue_etl.runtime.preprocessing import Preprocessor
from stacks.mapping import etl_spec
from tests.glue.conftest import RawData, Run

RUNTIME = Path(fitted.__file__).resolve().parent


class FakeResponse:
    """``worker.Response(response=..., status=..., mimetype=...)`` as the inference script builds it."""

    def __init__(self, response: str = "", status: int = 200, mimetype: str | None = None) -> None:
        self.response, self.status, self.mimetype = response, status, mimetype


@pytest.fixture
def single_model_server(monkeypatch: pytest.MonkeyPatch) -> None:
    framework = types.ModuleType("sagemaker_containers.beta.framework")
    framework.worker = types.SimpleNamespace(Response=FakeResponse)  # type: ignore[attr-defined]
    for name in ("sagemaker_containers", "sagemaker_containers.beta"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "sagemaker_containers.beta.framework", framework)
    monkeypatch.delenv("SAGEMAKER_MULTI_MODEL", raising=False)


@pytest.fixture(scope="module")
def model_dir(json_run: Run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ETL's model.tar.gz extracted as SageMaker extracts it into /opt/ml/model."""
    target = tmp_path_factory.mktemp("opt-ml-model")
    with tarfile.open(json_run.curated / c.PREPROCESSING_MODEL_KEY) as archive:
        archive.extractall(target, filter="data")
    return target


def load_script(model_dir: Path, name: str = "inference_under_test") -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, model_dir / "code" / "inference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve(script: types.ModuleType, model: Any, body: str | bytes, content_type: str, accept: str = "text/csv"):
    """(status, body, content type) as the single-model server answers."""
    result = script.output_fn(script.predict_fn(script.input_fn(body, content_type), model), accept)
    if isinstance(result, tuple):
        return 200, result[0], result[1]
    return result.status, result.response, result.mimetype


def test_archive_layout_is_the_code_and_the_fitted_document(json_run: Run) -> None:
    path = json_run.curated / c.PREPROCESSING_MODEL_KEY
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == ["code/inference.py", "code/preprocessing.py", "fitted.json"]
        assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {(0, 0, 0, "", 0o644)}
        for name, source in (("code/inference.py", "inference.py"), ("code/preprocessing.py", "preprocessing.py")):
            assert archive.extractfile(name).read() == (RUNTIME / source).read_bytes()  # type: ignore[union-attr]
        document = archive.extractfile("fitted.json").read()  # type: ignore[union-attr]
    assert document == (json_run.curated / c.FITTED_KEY).read_bytes()
    assert fitted.model_archive(document.decode()) == path.read_bytes()  # deterministic: same bytes again


def test_one_event_and_a_batch_become_csv_rows(model_dir: Path, raw_data: RawData, single_model_server) -> None:
    script = load_script(model_dir)
    model = script.model_fn(str(model_dir))
    expected = Preprocessor(json.loads((model_dir / "fitted.json").read_text()))
    events = raw_data.events[:5]
    status, body, content_type = serve(script, model, json.dumps(events[0]), "application/json; charset=utf-8")
    assert (status, content_type) == (200, "text/csv")
    assert body == expected.csv(events[0]) + "\n"
    lines = "\n".join(json.dumps(e) for e in events).encode()
    status, body, _ = serve(script, model, lines + b"\n\n", "application/jsonlines", accept="*/*")
    assert status == 200
    assert body.splitlines() == [expected.csv(e) for e in events]
    assert len(body.splitlines()[0].split(",")) == len(c.feature_columns(etl_spec()))


@pytest.mark.parametrize(
    ("change", "content_type", "status", "message"),
    [
        ({"amount": None}, "application/json", 400, "amount: missing required field"),
        ({"amount": "12.5"}, "application/json", 400, 'amount: expected a finite number, got string "12.5"'),
        ({"card_present": "yes"}, "application/json", 400, 'card_present: expected true or false, got string "yes"'),
        ({"account_age_days": 1.5}, "application/json", 400, "account_age_days: expected a 32-bit integer, got number"),
        ({"event_time": "2026-02-30T10:00:00.000Z"}, "application/json", 400, "event_time: unparsable timestamp"),
        ({}, "text/csv", 415, "content type 'text/csv' is not supported"),
        ({"is_fraud": "not a label"}, "application/json", 200, ""),  # the label is ignored at serving
        ({"extra_field": [1]}, "application/json", 200, ""),  # unknown keys are ignored, as in the ETL
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(
    model_dir: Path, raw_data: RawData, single_model_server, change, content_type, status, message
) -> None:
    script = load_script(model_dir)
    model = script.model_fn(str(model_dir))
    event = {**raw_data.events[0], **change}
    got_status, body, _ = serve(script, model, json.dumps(event), content_type)
    assert got_status == status
    assert body.startswith(message) if status != 200 else body.count("\n") == 1
    if status != 200:
        assert body.count("\n") == 1  # one line


def test_batch_errors_name_the_line_and_bodies_without_events(model_dir: Path, raw_data: RawData, single_model_server):
    script = load_script(model_dir)
    model = script.model_fn(str(model_dir))
    good = json.dumps(raw_data.events[0])
    missing = dict(raw_data.events[1])
    del missing["channel"]
    assert serve(script, model, f"{good}\n{json.dumps(missing)}\n", "application/jsonlines")[:2] == (
        400,
        "line 2: channel: missing required field\n",
    )
    assert serve(script, model, f"{good}\n{{not json\n", "application/jsonlines")[1].startswith("line 2: invalid JSON")
    assert serve(script, model, "[1, 2", "application/json")[1].startswith("body: invalid JSON")
    assert serve(script, model, "[1, 2]", "application/json")[1] == "event: expected a JSON object, got array\n"
    assert serve(script, model, b"", "application/json")[:2] == (204, "")  # no prediction, as XGBoost answers
    assert serve(script, model, good, "application/json", accept="application/json")[0] == 406


def test_the_multi_model_server_gets_the_toolkit_error(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class BaseInferenceToolkitError(Exception):  # sagemaker_inference.errors, same constructor
        def __init__(self, status_code: int, message: str, phrase: str) -> None:
            self.status_code, self.message, self.phrase = status_code, message, phrase
            super().__init__(status_code, message, phrase)

    errors = types.ModuleType("sagemaker_inference.errors")
    errors.BaseInferenceToolkitError = BaseInferenceToolkitError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sagemaker_inference", types.ModuleType("sagemaker_inference"))
    monkeypatch.setitem(sys.modules, "sagemaker_inference.errors", errors)
    monkeypatch.setenv("SAGEMAKER_MULTI_MODEL", "true")
    script = load_script(model_dir, "inference_multi_model")
    model = script.model_fn(str(model_dir))
    with pytest.raises(BaseInferenceToolkitError) as caught:
        script.output_fn(script.predict_fn(script.input_fn(b"x", "text/plain"), model), "text/csv")
    assert caught.value.status_code == 415
    assert caught.value.message.startswith("content type 'text/plain' is not supported")
