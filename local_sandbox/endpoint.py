"""LOCAL EMULATION ONLY: the deployed endpoint's inference pipeline and data capture, run in process.

moto 5.2's ``InvokeEndpoint`` returns canned bytes. This module follows the deployed endpoint the way
SageMaker would: ``DescribeEndpoint`` -> endpoint config -> production variant -> model -> its containers, in
order, each ``ModelDataUrl`` downloaded from the local S3 and unpacked as the container's ``/opt/ml/model``:

- a container with ``SAGEMAKER_PROGRAM`` (the prebuilt scikit-learn image running our code): that script from
  the archive's ``code/`` folder, called as the image's serving stack calls it (``model_fn`` once, then
  ``input_fn`` -> ``predict_fn`` -> ``output_fn`` per request); an error carrying ``status_code`` is that HTTP
  answer with its message;
- the last container (built-in XGBoost): loaded the way the 3.2-0 container's ``serve_utils.get_loaded_booster``
  does (every file but dotfiles, pickle first, then ``Booster.load_model``); an empty body is answered 204, a
  CSV body with one probability per row, each line ending with a newline.

Each container's answer is the next one's request (its body and content type); a non-200 answer ends the
pipeline there, as SageMaker returns the failing container's answer. The client's Accept goes to the last
container; the ones before it are asked for ``text/csv`` (what XGBoost reads).

When the endpoint config enables data capture, every request and response is written as SageMaker writes
capture files: JSON Lines under ``<DestinationS3Uri><endpoint>/<variant>/yyyy/mm/dd/hh/``, with the config's
KMS key, sampled by ``InitialSamplingPercentage``. What the drift job reads is exactly this layout.

Not emulated: the container's HTTP server, multi-model or multi-variant routing (the first variant serves),
the container's own limits and errors, invocation metrics.
"""

from __future__ import annotations

import io
import json
import pickle
import tarfile
import tempfile
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ml_constructs.monitoring.runtime.drift_job import parse_s3_uri


def load_boosters(model_dir: Path) -> list[Any]:
    """``serve_utils.get_loaded_booster``: every file in the model directory, pickle first, one thread."""
    import xgboost as xgb

    boosters = []
    for path in sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            with path.open("rb") as f:
                booster = pickle.load(f)
        except pickle.UnpicklingError:
            booster = xgb.Booster()
            with warnings.catch_warnings():  # a file name without extension: xgboost guesses UBJSON, as intended
                warnings.filterwarnings("ignore", message=".*UBJSON")
                booster.load_model(str(path))
        booster.set_param("nthread", "1")
        boosters.append(booster)
    if not boosters:
        raise ValueError(f"{model_dir}: the model archive holds no file")
    return boosters


def predict_csv(boosters: list[Any], body: str) -> list[float]:
    """The ``text/csv`` request of feature rows -> one probability per row (averaged over the files)."""
    import numpy
    import xgboost as xgb

    rows = [["nan" if v == "" else v for v in line.split(",")] for line in body.strip().split("\n")]
    matrix = xgb.DMatrix(numpy.array(rows).astype(float))
    predictions = [b.predict(matrix, validate_features=False) for b in boosters]
    return [float(sum(p[i] for p in predictions) / len(predictions)) for i in range(len(rows))]


@dataclass(frozen=True)
class Answer:
    """One container's (or the endpoint's) HTTP answer."""

    status: int
    body: str
    content_type: str


class ScriptContainer:
    """A framework image running the model archive's ``code/<SAGEMAKER_PROGRAM>``."""

    def __init__(self, model_dir: Path, program: str) -> None:
        import importlib.util
        import sys

        path = model_dir / "code" / program
        spec = importlib.util.spec_from_file_location(f"local_container_{uuid.uuid4().hex}", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{path}: not a Python script")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        self.script = module
        self.model = module.model_fn(str(model_dir))

    def invoke(self, body: str, content_type: str, accept: str) -> Answer:
        script = self.script
        try:
            data = script.input_fn(body, content_type)
            prediction = script.predict_fn(data, self.model)
            output = script.output_fn(prediction, accept)
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            if status is None:
                return Answer(500, f"{type(exc).__name__}: {exc}\n", "text/plain")
            message = getattr(exc, "message", "")
            return Answer(int(status), f"{message}\n" if message else "", "text/plain")
        text, produced = output
        return Answer(200, text, produced)


class XGBoostContainer:
    """The built-in XGBoost serving container on ``text/csv``."""

    def __init__(self, model_dir: Path) -> None:
        self.boosters = load_boosters(model_dir)

    def invoke(self, body: str, content_type: str, accept: str) -> Answer:
        if not body.strip():
            return Answer(204, "", "text/csv")
        if content_type.split(";")[0].strip().lower() != "text/csv":
            return Answer(415, f"content type {content_type!r}: this container reads text/csv\n", "text/plain")
        try:
            scores = predict_csv(self.boosters, body)
        except ValueError as exc:
            return Answer(400, f"{exc}\n", "text/plain")
        return Answer(200, "".join(f"{p}\n" for p in scores), "text/csv")


def load_container(model_dir: Path, environment: dict[str, str] | None) -> ScriptContainer | XGBoostContainer:
    program = (environment or {}).get("SAGEMAKER_PROGRAM")
    return ScriptContainer(model_dir, program) if program else XGBoostContainer(model_dir)


def invoke_pipeline(containers: list[Any], body: str, content_type: str, accept: str = "text/csv") -> Answer:
    """The serial inference pipeline: each answer is the next request; a non-200 answer is the endpoint's."""
    answer = Answer(200, body, content_type)
    for index, container in enumerate(containers):
        last = index == len(containers) - 1
        answer = container.invoke(answer.body, answer.content_type, accept if last else "text/csv")
        if answer.status != 200:
            return answer
    return answer


def load_pipeline(s3: Any, model: dict[str, Any], work: Path) -> list[Any]:
    """Every container of a described model, its archive unpacked under ``work`` (kept: scripts load lazily)."""
    containers = model.get("Containers") or [model["PrimaryContainer"]]
    loaded = []
    for index, container in enumerate(containers):
        bucket, key = parse_s3_uri(container["ModelDataUrl"], "ModelDataUrl")
        archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        model_dir = work / f"container-{index}"
        model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(model_dir, filter="data")
        loaded.append(load_container(model_dir, container.get("Environment")))
    return loaded


@dataclass
class CaptureWriter:
    """SageMaker's data-capture files for one endpoint variant."""

    s3: Any
    destination: str
    endpoint: str
    variant: str
    kms_key: str | None
    sampling_percentage: int
    lines: dict[str, list[str]] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)
    _count: int = 0

    def add(self, request: str, response: str, when: datetime, content_type: str = "text/csv") -> None:
        self._count += 1
        if (self._count * self.sampling_percentage) // 100 == ((self._count - 1) * self.sampling_percentage) // 100:
            return  # not sampled
        bucket, prefix = parse_s3_uri(self.destination, "DestinationS3Uri")
        hour = f"{prefix.rstrip('/')}/{self.endpoint}/{self.variant}/{when:%Y/%m/%d/%H}/"
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": request,
                    "encoding": "CSV" if content_type == "text/csv" else "JSON",
                },
                "endpointOutput": {
                    "observedContentType": "text/csv; charset=utf-8",
                    "mode": "OUTPUT",
                    "data": response,
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
        self.lines.setdefault(f"{bucket}\n{hour}", []).append(json.dumps(record))

    def flush(self, when: datetime) -> None:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key} if self.kms_key else {}
        for location, lines in self.lines.items():
            bucket, hour = location.split("\n")
            key = f"{hour}{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            self.s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode(), **extra)
            self.objects.append(f"s3://{bucket}/{key}")
        self.lines.clear()


class LocalEndpoint:
    """The deployed endpoint, as SageMaker would serve it, for ``invoke`` calls from the local run."""

    def __init__(self, aws: Any, endpoint_name: str) -> None:
        sagemaker = aws.client("sagemaker")
        self.s3 = aws.client("s3")
        self.name = endpoint_name
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        variant = config["ProductionVariants"][0]
        self.variant = variant["VariantName"]
        model = sagemaker.describe_model(ModelName=variant["ModelName"])
        self._work = tempfile.TemporaryDirectory(prefix="local-endpoint-")
        self.containers = load_pipeline(self.s3, model, Path(self._work.name))
        capture = config.get("DataCaptureConfig", {})
        self.capture: CaptureWriter | None = None
        if capture.get("EnableCapture"):
            self.capture = CaptureWriter(
                self.s3,
                capture["DestinationS3Uri"],
                endpoint_name,
                self.variant,
                capture.get("KmsKeyId"),
                int(capture.get("InitialSamplingPercentage", 100)),
            )

    def answer(self, body: str, content_type: str, accept: str, when: datetime) -> Answer:
        """``InvokeEndpoint``: the pipeline's answer; a served request (200) is captured."""
        answer = invoke_pipeline(self.containers, body, content_type, accept)
        if self.capture and answer.status == 200:
            self.capture.add(body, answer.body, when, content_type.split(";")[0].strip())
        return answer

    def invoke(self, body: str, when: datetime, content_type: str = "application/json") -> str:
        """One request; the response body (one probability per event and line); ``EndpointError`` if not 200."""
        answer = self.answer(body, content_type, "text/csv", when)
        if answer.status != 200:
            raise EndpointError(answer)
        return answer.body

    def invoke_events(self, events: Iterable[dict[str, Any]], when: datetime) -> list[float]:
        """One request per event (a client scoring events one at a time); the captured files are then written."""
        scores = [float(self.invoke(json.dumps(event), when)) for event in events]
        if self.capture:
            self.capture.flush(when)
        return scores

    def close(self) -> None:
        self._work.cleanup()


class EndpointError(RuntimeError):
    """The endpoint answered with another status than 200 (``answer`` holds it)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"{answer.status}: {answer.body.strip()}")
        self.answer = answer
