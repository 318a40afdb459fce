"""LOCAL EMULATION ONLY: the work behind each Task of the training workflow, on local compute.

``LocalTasks(resource, parameters)`` is what ``workflow.run_definition`` calls. The parameters are the
ones the deployed definition resolves; every input is read from, and every output written to, the
location those parameters name in the local S3:

- ``glue:startJobRun.sync``: the deployed job's ``DefaultArguments`` (``GetJob``) with the run's ``Arguments`` over
  them, as Glue merges them (the workflow passes the training window's end), the raw prefix mirrored to a
  local directory, the real ``pipeline.run_from_args`` on a local SparkSession, the outputs uploaded to the
  curated prefix. (Spark has no S3 connector offline; the mirror is the one indirection.)
- ``sagemaker:createTrainingJob.sync``: the ``train`` channel read from its ``S3Uri``, xgboost trained with
  the ``HyperParameters`` exactly as the built-in algorithm's container calls it
  (``tools.build_default_model.train``), ``xgboost-model`` archived to
  ``<S3OutputPath><TrainingJobName>/output/model.tar.gz`` with the ``KmsKeyId``, as SageMaker writes it.
- ``sagemaker:createTransformJob.sync``: the model's ``ModelDataUrl`` loaded as the container loads it,
  every input object scored line by line with the ``DataProcessing`` filters and join, one
  ``<input file name>.out`` per input object under ``S3OutputPath``.
- ``sagemaker:createProcessingJob.sync``: every ``S3Input`` downloaded under a temporary directory that stands in
  for ``/opt/ml/processing`` (each object at its ``LocalPath`` as SageMaker lays an S3Prefix input out), the
  ``ContainerEntrypoint`` script run by this Python in a process of its own (its xgboost stands in for the
  image's) with the ``ContainerArguments`` the job gets, every path below ``/opt/ml/processing`` mapped into that
  directory; each output's ``LocalPath`` uploaded to its ``S3Uri`` with the ``KmsKeyId``.
- ``sagemaker:createModel``, ``aws-sdk:<service>:<action>`` and ``sns:publish``: the same API call on the
  local server (``UpdateEndpoint``, which moto lacks, is applied to moto's endpoint record).
- a Lambda function ARN: the function's handler module, run in this process (its boto3 clients reach the
  local server through ``AWS_ENDPOINT_URL``); with a ``recorder``, its AWS requests are recorded as the
  function's role (``tools.iam.record``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import math
import random
import re
import signal
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local_sandbox import NotEmulatedError, interrupts
from local_sandbox.endpoint import invoke_pipeline, load_pipeline
from local_sandbox.workflow import TaskFailed
from ml_constructs.monitoring.runtime.drift_job import parse_s3_uri
from tools.iam.record import Recorder

#: Lambda handler string (the deployed function's ``Handler``) -> the module that implements it.
LAMBDA_HANDLERS: dict[str, str] = {
    "handler.handler": "ml_constructs.training.runtime.handler",
    "drift_job.handler": "ml_constructs.monitoring.runtime.drift_job",
}


def sample_hyperparameters(ranges: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """One draw from a tuning job's ``ParameterRanges``, as strings (what the algorithm receives)."""
    values: dict[str, str] = {}
    for spec in ranges.get("ContinuousParameterRanges", []):
        low, high = float(spec["MinValue"]), float(spec["MaxValue"])
        scaling = spec.get("ScalingType", "Auto")
        if scaling == "Logarithmic":
            values[spec["Name"]] = f"{math.exp(rng.uniform(math.log(low), math.log(high))):.6g}"
        elif scaling in ("Auto", "Linear"):
            values[spec["Name"]] = f"{rng.uniform(low, high):.6g}"
        else:
            raise NotEmulatedError(f"ScalingType {scaling} of {spec['Name']} is not emulated")
    for spec in ranges.get("IntegerParameterRanges", []):
        if spec.get("ScalingType", "Auto") not in ("Auto", "Linear"):
            raise NotEmulatedError(f"ScalingType {spec['ScalingType']} of {spec['Name']} is not emulated")
        values[spec["Name"]] = str(rng.randint(int(spec["MinValue"]), int(spec["MaxValue"])))
    for spec in ranges.get("CategoricalParameterRanges", []):
        values[spec["Name"]] = rng.choice(spec["Values"])
    return values


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _csv_filter(expression: str | None, fields: list[str]) -> list[str]:
    """A batch-transform ``InputFilter``/``OutputFilter`` on one CSV record: ``$``, ``$[a:]``, ``$[i,j,...]``."""
    if expression in (None, "$"):
        return fields
    assert expression is not None
    if match := re.fullmatch(r"\$\[(-?\d*):(-?\d*)\]", expression):
        start, end = (int(x) if x else None for x in match.groups())
        return fields[start:end]
    if match := re.fullmatch(r"\$\[(-?\d+(?:\s*,\s*-?\d+)*)\]", expression):
        return [fields[int(i)] for i in match.group(1).split(",")]
    raise NotEmulatedError(f"batch transform filter {expression!r} is not emulated")


def _json_filter(expression: str | None, record: dict[str, Any]) -> dict[str, Any]:
    """A batch-transform ``OutputFilter`` on one JSON record: ``$`` or ``$['a','b',...]``."""
    if expression in (None, "$"):
        return record
    assert expression is not None
    if match := re.fullmatch(r"\$\[((?:'[^']*'\s*,?\s*)+)\]", expression):
        keys = re.findall(r"'([^']*)'", match.group(1))
        return {key: record[key] for key in keys if key in record}
    raise NotEmulatedError(f"batch transform filter {expression!r} is not emulated")


def _transform_lines(
    containers: list[Any], lines: list[str], content_type: str, processing: dict[str, Any]
) -> list[str]:
    """One object's records through the pipeline (one MultiRecord request), joined and filtered."""
    join = processing.get("JoinSource") == "Input"
    if content_type == "text/csv":
        sent = [",".join(_csv_filter(processing.get("InputFilter"), line.split(","))) for line in lines]
    elif processing.get("InputFilter") in (None, "$"):
        sent = lines
    else:
        raise NotEmulatedError(f"InputFilter {processing['InputFilter']!r} on JSON records is not emulated")
    answer = invoke_pipeline(containers, "\n".join(sent) + "\n", content_type, "text/csv")
    if answer.status != 200:
        raise RuntimeError(f"the model answered {answer.status}: {answer.body.strip()}")
    scores = answer.body.splitlines()
    if len(scores) != len(lines):
        raise RuntimeError(f"{len(lines)} records in, {len(scores)} answers out")
    if content_type == "text/csv":
        joined = [[*(line.split(",") if join else []), score] for line, score in zip(lines, scores, strict=True)]
        return [",".join(_csv_filter(processing.get("OutputFilter"), fields)) for fields in joined]
    out = []
    for line, score in zip(lines, scores, strict=True):
        record = {**json.loads(line), "SageMakerOutput": float(score)} if join else {"SageMakerOutput": float(score)}
        out.append(json.dumps(_json_filter(processing.get("OutputFilter"), record)))
    return out


#: The ``.sync`` job integrations (the part of the resource after ``:states:::``) and the method that runs each.
SYNC_JOBS = {
    "glue:startJobRun.sync": "glue_job",
    "sagemaker:createTrainingJob.sync": "training_job",
    "sagemaker:createHyperParameterTuningJob.sync": "tuning_job",
    "sagemaker:createTransformJob.sync": "transform_job",
    "sagemaker:createProcessingJob.sync": "processing_job",
}


class LocalTasks:
    """Callable: ``(resource, parameters) -> result``, as Step Functions' integrations return it."""

    def __init__(
        self, aws: Any, work: Path, progress: Callable[[str], None] = print, recorder: Recorder | None = None
    ) -> None:
        self.aws = aws
        self.work = work
        self.progress = progress
        self.recorder = recorder
        self._spark: Any = None
        self._owns_spark = False

    def __call__(self, resource: str, parameters: dict[str, Any]) -> Any:
        job = SYNC_JOBS.get(resource.rsplit(":states:::", 1)[-1]) if ":states:::" in resource else None
        if job is not None:
            return getattr(self, job)(parameters)
        if resource.endswith(":states:::sagemaker:createModel"):
            return self.sdk_call("sagemaker", "createModel", parameters)
        if resource.endswith(":states:::sns:publish"):
            message = parameters["Message"]
            text = message if isinstance(message, str) else json.dumps(message)
            args = {"TopicArn": parameters["TopicArn"], "Message": text}
            if "Subject" in parameters:
                args["Subject"] = parameters["Subject"]
            return self.sdk_call("sns", "publish", args)
        if match := re.search(r":states:::aws-sdk:([a-z0-9]+):(\w+)$", resource):
            return self.sdk_call(match.group(1), match.group(2), parameters)
        if ":lambda:" in resource and ":function:" in resource:
            return self.lambda_function(resource, parameters)
        raise NotEmulatedError(f"task resource {resource!r} is not emulated")

    # --- moto calls ---------------------------------------------------------------------------------------

    def sdk_call(self, service: str, action: str, parameters: dict[str, Any]) -> Any:
        if (service, action) == ("sagemaker", "updateEndpoint"):
            from local_sandbox.emulation import update_endpoint

            update_endpoint(self.aws.region, parameters["EndpointName"], parameters["EndpointConfigName"])
            return {"EndpointArn": parameters["EndpointName"]}
        if (service, action) == ("sagemaker", "createModelPackage") and ":model-package-group/" in str(
            parameters.get("ModelPackageGroupName")
        ):
            # AWS takes the group's name or ARN (the template passes Ref, which is the ARN); moto only the name.
            parameters = {**parameters, "ModelPackageGroupName": parameters["ModelPackageGroupName"].rsplit("/", 1)[-1]}
        from botocore.exceptions import ClientError

        try:
            response = getattr(self.aws.client(service), _snake(action))(**parameters)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            raise TaskFailed(f"{service.capitalize()}.{code}", str(exc)) from exc
        response.pop("ResponseMetadata", None)
        if (service, action) == ("s3", "getObject"):  # Step Functions returns the body as text
            response["Body"] = response["Body"].read().decode("utf-8")
        return json.loads(json.dumps(response, default=str))

    def lambda_function(self, arn: str, payload: dict[str, Any]) -> Any:
        configuration = self.aws.client("lambda").get_function(FunctionName=arn)["Configuration"]
        handler = configuration["Handler"]
        if handler not in LAMBDA_HANDLERS:
            raise NotEmulatedError(f"Lambda handler {handler!r} ({arn}) has no local module")
        module = importlib.import_module(LAMBDA_HANDLERS[handler])
        as_function = self.recorder.as_function(configuration) if self.recorder else contextlib.nullcontext()
        try:
            with as_function:
                return module.handler(payload, None)
        except Exception as exc:  # a Lambda error surfaces to Step Functions as the exception's type
            raise TaskFailed(type(exc).__name__, str(exc)) from exc

    # --- S3 helpers -----------------------------------------------------------------------------------------

    def objects(self, uri: str) -> list[tuple[str, str]]:
        bucket, prefix = parse_s3_uri(uri, "S3Uri")
        s3 = self.aws.client("s3")
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [(bucket, o["Key"]) for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        return keys

    def download(self, uri: str, target: Path) -> list[Path]:
        """Mirror every object under ``uri`` into ``target``, keeping the key layout below the prefix."""
        _, prefix = parse_s3_uri(uri, "S3Uri")
        s3 = self.aws.client("s3")
        files = []
        for bucket, key in self.objects(uri):
            path = target / key[len(prefix) :].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(path))
            files.append(path)
        return files

    def upload(self, directory: Path, uri: str, kms_key: str | None = None) -> list[str]:
        """Upload a Spark output tree (without Spark's local ``.crc`` checksum files) below ``uri``."""
        bucket, prefix = parse_s3_uri(uri, "S3Uri")
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else None
        s3 = self.aws.client("s3")
        keys = []
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.endswith(".crc")):
            key = prefix + path.relative_to(directory).as_posix()
            s3.upload_file(str(path), bucket, key, ExtraArgs=extra)
            keys.append(key)
        return keys

    # --- Glue ------------------------------------------------------------------------------------------------

    def spark(self) -> Any:
        if self._spark is None:
            from pyspark.sql import SparkSession

            from ml_constructs.glue_etl.local import local_spark

            active = SparkSession.getActiveSession()  # e.g. the test session's: reuse it, and leave it running
            self._owns_spark = active is None
            if active is None:
                self.progress("starting a local SparkSession (local[2], UTC, as a Glue 5 worker)")
            sigint = signal.getsignal(signal.SIGINT)
            with interrupts.deferred():  # the JVM's launch is not cut halfway: the interrupt follows it
                self._spark = active or local_spark("local-sandbox")
                if active is None and threading.current_thread() is threading.main_thread():
                    # SparkContext replaces the SIGINT handler with one that makes a py4j call (cancelAllJobs) on
                    # the connection the interrupted call still waits on, then fails with a py4j error; after
                    # stop() it fails on its own ('NoneType' object has no attribute 'sc'). The caller's stays.
                    signal.signal(signal.SIGINT, sigint)
        return self._spark

    def glue_job(self, parameters: dict[str, Any]) -> dict[str, Any]:
        from ml_constructs.glue_etl.runtime import pipeline

        job = self.aws.client("glue").get_job(JobName=parameters["JobName"])["Job"]
        arguments = {**job.get("DefaultArguments", {}), **parameters.get("Arguments", {})}
        args = {name[2:]: value for name, value in arguments.items() if name.startswith("--")}
        run_dir = Path(tempfile.mkdtemp(prefix="glue-", dir=self.work))
        raw, curated = run_dir / "raw", run_dir / "curated"
        files = self.download(args["raw_path"], raw)
        self.progress(f"mirrored {len(files)} raw objects from {args['raw_path']}")
        if not files:
            raise TaskFailed("Glue.JobRunFailed", f"no object under {args['raw_path']}: nothing to transform")
        pipeline.run_from_args(self.spark(), {**args, "raw_path": str(raw) + "/", "curated_path": str(curated) + "/"})
        keys = self.upload(curated, args["curated_path"])
        self.progress(f"ETL wrote {len(keys)} objects under {args['curated_path']}")
        return {"JobName": job["Name"], "Id": f"jr_{uuid.uuid4().hex}", "JobRunState": "SUCCEEDED"}

    # --- SageMaker -----------------------------------------------------------------------------------------

    def training_job(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """``createTrainingJob.sync``: one job, its result shaped as ``DescribeTrainingJob``."""
        name = parameters["TrainingJobName"]
        url, _ = self._train(name, parameters, dict(parameters["HyperParameters"]), objective=None)
        return {
            "TrainingJobName": name,
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": url},
            "HyperParameters": parameters["HyperParameters"],
        }

    def tuning_job(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """``createHyperParameterTuningJob.sync``: the trials run one after another on local xgboost.

        The search strategy is not emulated: each trial draws its hyperparameters from the ranges with a fixed
        seed (uniformly, or on a log scale for ``Logarithmic``), up to ``MaxNumberOfTrainingJobs``; early
        stopping and parallelism are ignored. The objective is computed as the built-in algorithm reports it
        (``validation:auc``: xgboost's evaluation of the validation channel after the last round).
        """
        name = parameters["HyperParameterTuningJobName"]
        config = parameters["HyperParameterTuningJobConfig"]
        objective = config["HyperParameterTuningJobObjective"]
        channel, metric = objective["MetricName"].split(":")
        definition = parameters["TrainingJobDefinition"]
        trials = []
        for index in range(int(config["ResourceLimits"]["MaxNumberOfTrainingJobs"])):
            tuned = sample_hyperparameters(config["ParameterRanges"], random.Random(f"{name}/{index}"))
            digest = hashlib.sha256(json.dumps(tuned, sort_keys=True).encode()).hexdigest()[:8]
            job = f"{name}-{index + 1:03d}-{digest}"
            hyperparameters = {**definition.get("StaticHyperParameters", {}), **tuned}
            _, value = self._train(job, definition, hyperparameters, objective=(channel, metric))
            assert value is not None
            trials.append((value, job, tuned))
            self.progress(f"trial {job}: {tuned} -> {objective['MetricName']} {value:.4f}")
        pick = max if objective["Type"] == "Maximize" else min
        value, best, tuned = pick(trials, key=lambda trial: trial[0])
        return {
            "HyperParameterTuningJobName": name,
            "HyperParameterTuningJobStatus": "Completed",
            "TrainingJobStatusCounters": {"Completed": len(trials)},
            "BestTrainingJob": {
                "TrainingJobName": best,
                "TunedHyperParameters": tuned,
                "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": objective["MetricName"], "Value": value},
            },
        }

    def _train(
        self, name: str, definition: dict[str, Any], hyperparameters: dict[str, str], objective: tuple[str, str] | None
    ) -> tuple[str, float | None]:
        """Train one job as SageMaker would; write its artifact and register the job with the local server.

        Returns the artifact's S3 URL and, when asked, the objective (``channel``, ``metric``) after the last round.
        """
        import xgboost as xgb

        from tools.build_default_model import MODEL_FILE, deterministic_tar_gz, read_channel, train

        job_dir = Path(tempfile.mkdtemp(prefix="training-", dir=self.work))
        channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]}
        train_files = sorted(self.download(channels["train"], job_dir / "train"))
        if not train_files:
            raise TaskFailed("SageMaker.ClientError", f"no data in the train channel {channels['train']}")
        self.progress(f"training {name}: xgboost {xgb.__version__}, {hyperparameters['num_round']} rounds")
        value = None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Text file input has been deprecated")
            warnings.filterwarnings("ignore", message=".*UBJSON format as default")
            booster = train(train_files, hyperparameters, job_dir)
            booster.save_model(str(job_dir / MODEL_FILE))
            if objective is not None:
                channel, metric = objective
                files = sorted(self.download(channels[channel], job_dir / channel))
                combined = job_dir / f"{channel}-combined"
                combined.mkdir()
                evaluated = booster.eval(read_channel(files, combined), channel)
                value = float(dict(p.split(":") for p in evaluated.split("\t")[1:])[f"{channel}-{metric}"])
        output = definition["OutputDataConfig"]
        bucket, prefix = parse_s3_uri(output["S3OutputPath"], "S3OutputPath")
        key = f"{prefix.rstrip('/')}/{name}/output/model.tar.gz".lstrip("/")
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": output["KmsKeyId"]} if output.get("KmsKeyId") else {}
        archive = deterministic_tar_gz(MODEL_FILE, (job_dir / MODEL_FILE).read_bytes())
        self.aws.client("s3").put_object(Bucket=bucket, Key=key, Body=archive, **extra)
        # The job's record, so that DescribeTrainingJob (the tuning path's BestTrainingJob state) finds it; moto
        # reports it Completed with the artifact at <S3OutputPath><name>/output/model.tar.gz, where it now is.
        self.aws.client("sagemaker").create_training_job(
            TrainingJobName=name,
            HyperParameters=hyperparameters,
            AlgorithmSpecification=definition["AlgorithmSpecification"],
            RoleArn=definition["RoleArn"],
            InputDataConfig=definition["InputDataConfig"],
            OutputDataConfig=output,
            ResourceConfig=definition["ResourceConfig"],
            StoppingCondition=definition["StoppingCondition"],
        )
        return f"s3://{bucket}/{key}", value

    def transform_job(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Every input object through the model's containers as one MultiRecord request per object, the answers
        joined to their records as the ``DataProcessing`` says (CSV: appended; JSON Lines: ``SageMakerOutput``)."""
        sagemaker, s3 = self.aws.client("sagemaker"), self.aws.client("s3")
        model = sagemaker.describe_model(ModelName=parameters["ModelName"])
        processing = parameters.get("DataProcessing", {})
        content_type = parameters["TransformInput"].get("ContentType", "text/csv")
        source = parameters["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        output = parameters["TransformOutput"]
        out_bucket, out_prefix = parse_s3_uri(output["S3OutputPath"], "S3OutputPath")
        out_prefix = out_prefix if out_prefix.endswith("/") or not out_prefix else out_prefix + "/"
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": output["KmsKeyId"]} if output.get("KmsKeyId") else {}
        started, records = time.perf_counter(), 0
        with tempfile.TemporaryDirectory(prefix="transform-", dir=self.work) as tmp:
            containers = load_pipeline(s3, model, Path(tmp))
            for in_bucket, in_key in self.objects(source):
                lines = s3.get_object(Bucket=in_bucket, Key=in_key)["Body"].read().decode().splitlines()
                lines = [line for line in lines if line.strip()]
                out_lines = _transform_lines(containers, lines, content_type, processing) if lines else []
                name = in_key.rsplit("/", 1)[-1] + ".out"
                s3.put_object(
                    Bucket=out_bucket, Key=out_prefix + name, Body=("\n".join(out_lines) + "\n").encode(), **extra
                )
                records += len(lines)
        self.progress(
            f"transform {parameters['TransformJobName']}: {records} records in {time.perf_counter() - started:.1f} s"
        )
        return {"TransformJobName": parameters["TransformJobName"], "TransformJobStatus": "Completed"}

    def processing_job(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """``createProcessingJob.sync``: the inputs laid out as SageMaker lays them out, the entrypoint run on local
        Python, the outputs uploaded; a non-zero exit fails the task with the script's last line."""
        import subprocess
        import sys

        name, started = parameters["ProcessingJobName"], time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="processing-", dir=self.work) as tmp:
            local = _processing_paths(Path(tmp))
            for item in parameters.get("ProcessingInputs", []):
                self._processing_input(item["S3Input"], Path(local(item["S3Input"]["LocalPath"])))
            outputs = parameters.get("ProcessingOutputConfig", {})
            for output in outputs.get("Outputs", []):
                Path(local(output["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
            app = parameters["AppSpecification"]
            program, *entry = app["ContainerEntrypoint"]
            if program not in ("python3", "python"):
                raise NotEmulatedError(f"processing entrypoint {program!r}: only a Python script is emulated")
            # a process of its own, as in the container: the script shares nothing with the sandbox's process
            command = [sys.executable, *map(local, entry), *map(local, app.get("ContainerArguments", []))]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            status, out, err = done.returncode, done.stdout, done.stderr
            if status != 0:
                lines = (err or out).strip().splitlines() or [f"exit status {status}"]
                raise TaskFailed("States.TaskFailed", f"processing job {name} failed: {lines[-1]}")
            for output in outputs.get("Outputs", []):
                target = output["S3Output"]
                self.upload(Path(local(target["LocalPath"])), target["S3Uri"], outputs.get("KmsKeyId"))
        self.progress(f"processing {name}: {out.strip()} ({time.perf_counter() - started:.1f} s)")
        return {"ProcessingJobName": name, "ProcessingJobStatus": "Completed"}

    def _processing_input(self, source: dict[str, Any], target: Path) -> None:
        """An S3Prefix input: each object under the URI, at its key below the URI's last ``/`` (a URI naming one
        object puts that object in ``target`` under its own name)."""
        _, prefix = parse_s3_uri(source["S3Uri"], "S3Uri")
        base = prefix[: prefix.rfind("/") + 1]
        target.mkdir(parents=True, exist_ok=True)
        s3 = self.aws.client("s3")
        objects = self.objects(source["S3Uri"])
        if not objects:
            raise TaskFailed("SageMaker.ClientError", f"no object under the processing input {source['S3Uri']}")
        for bucket, key in objects:
            path = target / key[len(base) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(path))

    def close(self) -> None:
        if self._spark is not None and self._owns_spark:
            if interrupts.received() is None:
                self._spark.stop()
            else:  # the interrupted py4j call's answer is still pending: no py4j call can stop the session now
                interrupts.stop_spark_jvm()
        self._spark = None


#: A processing job's container paths, and where the local emulation puts them.
PROCESSING_ROOT = "/opt/ml/processing"


def _processing_paths(root: Path) -> Callable[[str], str]:
    """Map a path below ``/opt/ml/processing`` into ``root`` (any other argument stays as it is)."""

    def local(value: str) -> str:
        if value == PROCESSING_ROOT or value.startswith(f"{PROCESSING_ROOT}/"):
            return str(root / value[len(PROCESSING_ROOT) :].lstrip("/"))
        return value

    return local
