"""The preprocessing container's script (SAGEMAKER_PROGRAM=inference.py in the prebuilt scikit-learn image):
raw events in, the model's feature rows out as ``text/csv`` for the XGBoost container behind it.

Shipped inside the model's ``model.tar.gz`` as ``code/inference.py`` with ``code/preprocessing.py`` beside it and
``fitted.json`` at the top (``fitted.model_archive``); SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code, so nothing is
downloaded (the model runs with network isolation). Standard library only: no requirements.txt to install.

The serving contract (the container's ``Transformer``): ``model_fn(model_dir)`` once per worker, then per request
``input_fn(body, content_type)`` -> ``predict_fn(data, model)`` -> ``output_fn(prediction, accept)``.

- ``application/json``: one event (a JSON object, exactly as the producer writes it to Kinesis);
  ``application/jsonlines``: one event per line (batch transform). Any other content type: 415.
- The response: one CSV line per event, in request order, ending with a newline. Accept must allow ``text/csv``
  (406 otherwise).
- A bad request is answered 400 with one line naming the field (``line 3: amount: expected a finite number, got
  string "12.5"``); an empty body gets no prediction (204, as the XGBoost container answers it).

How a status reaches the client. The single-model image serves through ``sagemaker_containers`` (gunicorn +
Flask): it wraps any exception of these functions into ``ClientError`` and answers 500, but it returns a Response
object that ``output_fn`` gives back as it is, status included. The multi-model server (``sagemaker_inference``)
turns an exception deriving from ``BaseInferenceToolkitError`` into its ``status_code``. So ``input_fn`` and
``predict_fn`` never raise for a bad request: they pass a ``RequestError`` on, and ``output_fn`` answers with a
Response of that status, or raises it where the toolkit handles errors (docs/serving-and-monitoring.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

try:  # the multi-model server's error mechanism, when present
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ErrorBase
except ImportError:  # pragma: no cover - depends on the image
    _ErrorBase = Exception

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
CONTENT_TYPES = (JSON, JSONLINES)
_MODULE = "fitted_preprocessing"


class RequestError(_ErrorBase):
    """A request the preprocessor answers without features: ``status_code`` and a one-line ``message``."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code, self.message, self.phrase = status_code, message, message
        Exception.__init__(self, status_code, message, message)


def model_fn(model_dir: str) -> Any:
    """Load ``code/preprocessing.py`` and ``fitted.json`` from the model directory (by path: the same files
    whatever the container did with the submit directory)."""
    root = Path(model_dir)
    spec = importlib.util.spec_from_file_location(_MODULE, root / "code" / "preprocessing.py")
    if spec is None or spec.loader is None:  # pragma: no cover - a missing file raises below instead
        raise ImportError(f"cannot load {root / 'code' / 'preprocessing.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = module  # dataclasses and typing resolve names through sys.modules
    spec.loader.exec_module(module)
    return module.Preprocessor.from_file(root / "fitted.json")


def input_fn(request_body: str | bytes, content_type: str) -> list[Any] | RequestError:
    """The events of the request, or the ``RequestError`` that answers it."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in CONTENT_TYPES:
        return RequestError(415, f"content type {content_type!r} is not supported: send {JSON} or {JSONLINES}")
    if isinstance(request_body, (bytes, bytearray)):
        try:
            request_body = bytes(request_body).decode("utf-8")
        except UnicodeDecodeError:
            return RequestError(400, "body: not UTF-8 text")
    if not request_body.strip():
        return RequestError(204, "")
    texts = [request_body] if media_type == JSON else request_body.splitlines()
    events: list[Any] = []
    for number, text in enumerate(texts, 1):
        if not text.strip():
            continue
        try:
            events.append(json.loads(text))
        except ValueError as exc:
            where = "body" if media_type == JSON else f"line {number}"
            return RequestError(400, f"{where}: invalid JSON ({getattr(exc, 'msg', exc)})")
    return events


def predict_fn(data: list[Any] | RequestError, model: Any) -> list[str] | RequestError:
    """The CSV line of every event; the first bad event answers the whole request (400)."""
    if isinstance(data, RequestError):
        return data
    lines = []
    for number, event in enumerate(data, 1):
        try:
            lines.append(model.csv(event))
        except ValueError as exc:
            if not hasattr(exc, "field"):
                raise
            return RequestError(400, f"line {number}: {exc}" if len(data) > 1 else str(exc))
    return lines


def output_fn(prediction: list[str] | RequestError, accept: str) -> Any:
    """``(body, "text/csv")``, or the error's answer (a Response with its status, or the error raised)."""
    if isinstance(prediction, RequestError):
        return _answer(prediction)
    accepted = [part.split(";")[0].strip().lower() for part in (accept or "*/*").split(",")]
    if not {CSV, "*/*", "text/*"} & set(accepted):
        return _answer(RequestError(406, f"accept {accept!r}: this model answers {CSV}"))
    return "".join(line + "\n" for line in prediction), CSV


def _answer(error: RequestError) -> Any:
    if os.environ.get("SAGEMAKER_MULTI_MODEL") is None:
        try:
            from sagemaker_containers.beta.framework import worker
        except ImportError:
            worker = None
        if worker is not None:
            body = error.message + "\n" if error.message else ""
            return worker.Response(response=body, status=error.status_code, mimetype="text/plain")
    raise error
