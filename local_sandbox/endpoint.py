"""LOCAL EMULATION ONLY: the deployed endpoint's model container and data capture, run in process.

moto 5.2's ``InvokeEndpoint`` returns canned bytes. This module follows the deployed endpoint the way
SageMaker would: ``DescribeEndpoint`` -> endpoint config -> production variant -> model -> ``ModelDataUrl``,
downloads that ``model.tar.gz`` from the local S3, and loads it the way the XGBoost 3.2-0 container's
``serve_utils.get_loaded_booster`` does (pickle first, then ``Booster.load_model``). A request is the
endpoint's ``text/csv`` body (feature rows, no label); the response is one probability per row.

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
    for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
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

    def add(self, request: str, response: str, when: datetime) -> None:
        self._count += 1
        if (self._count * self.sampling_percentage) // 100 == ((self._count - 1) * self.sampling_percentage) // 100:
            return  # not sampled
        bucket, prefix = parse_s3_uri(self.destination, "DestinationS3Uri")
        hour = f"{prefix.rstrip('/')}/{self.endpoint}/{self.variant}/{when:%Y/%m/%d/%H}/"
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": request,
                    "encoding": "CSV",
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
        container = model.get("PrimaryContainer") or model["Containers"][0]
        self.model_data_url = container["ModelDataUrl"]
        self.boosters = self._load(self.model_data_url)
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

    def _load(self, url: str) -> list[Any]:
        bucket, key = parse_s3_uri(url, "ModelDataUrl")
        archive = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with tempfile.TemporaryDirectory(prefix="local-endpoint-") as tmp:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                tar.extractall(tmp, filter="data")
            return load_boosters(Path(tmp))

    def invoke(self, body: str, when: datetime) -> str:
        """``InvokeEndpoint`` with ``ContentType: text/csv``; the response body (one probability per line)."""
        response = "\n".join(str(p) for p in predict_csv(self.boosters, body))
        if self.capture:
            self.capture.add(body, response, when)
        return response

    def invoke_rows(self, rows: Iterable[str], when: datetime) -> list[float]:
        """One request per row (a client scoring events one at a time); the captured files are then written."""
        scores = [float(self.invoke(row, when)) for row in rows]
        if self.capture:
            self.capture.flush(when)
        return scores
