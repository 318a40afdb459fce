"""The worked example, end to end, against the stacks deployed in the local server.

Every step finds its inputs through the deployed resources (stack outputs, ``Describe*``/``Get*`` of the
stream, delivery stream, Glue job, state machine, endpoint, schedule and alarm), so each stage reads what the
stage before it really wrote, where the deployed stacks say it lives:

1. the producer CLI (``worked_example.producer``) sends ``events`` events to the Kinesis stream;
2. the Firehose bridge (``firehose_bridge``, emulation) delivers the stream into the raw zone;
3. the training workflow's deployed definition runs state by state (``workflow`` + ``tasks``, emulation of
   Step Functions' integrations): the Glue transforms on local Spark, xgboost training, the validation
   transform, the real evaluation Lambda handler, the quality gate, the registry, the endpoint update;
4. the deployed crawlers crawl (``crawlers``, emulation): partitions of the raw events table, the curated table;
5. the endpoint (``endpoint``, emulation of the container) scores the held-out ``test`` split, one request per
   event, and data capture writes the requests for the hour ``normal_hour``; then the same requests with a
   covariate shift on ``amount`` for the next hour;
6. the drift job's Lambda handler runs with the event its deployed schedule sends, once per hour of traffic;
   its metrics go to CloudWatch, and the drift alarm is evaluated (``alarms``, emulation) after each run,
   notifying the alerts topic, whose messages an SQS queue collects.

With ``record_iam``, the AWS requests of our own code (the evaluation and drift-job handlers, each as its
function's role) are recorded for the IAM check (``tools.iam.record``) and written there; nothing else is.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local_sandbox import NotEmulatedError, alarms, crawlers, firehose_bridge
from local_sandbox.endpoint import LocalEndpoint
from local_sandbox.tasks import LocalTasks
from local_sandbox.workflow import Execution, run_definition
from ml_constructs.monitoring.runtime import drift_job
from ml_constructs.monitoring.runtime.drift_job import parse_s3_uri
from tools.iam.record import Recorder, buckets_with_bucket_keys, deployed_names
from worked_example import score
from worked_example.schema import LABEL

DEFAULT_EVENTS = 20_000
DEFAULT_SEED = 20261124
#: The injected drift: ``amount`` of every request becomes ``amount * scale + shift`` (the generator's Drift
#: semantics, applied to the raw event a client sends: a customer population that spends more).
DRIFT_COLUMN = "amount"
DRIFT_SCALE = 1.0
DRIFT_SHIFT = 100.0


@dataclass
class StepTiming:
    title: str
    seconds: float


@dataclass
class RunResult:
    events: int
    bridge: firehose_bridge.BridgeReport | None = None
    execution: Execution | None = None
    traffic_rows: int = 0
    capture_objects: list[str] = field(default_factory=list)
    drift_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarm_states: dict[str, str] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    timings: list[StepTiming] = field(default_factory=list)
    zones: dict[str, int] = field(default_factory=dict)
    crawls: list[crawlers.CrawlReport] = field(default_factory=list)
    recorded_calls: int = 0  # distinct calls written with record_iam


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """This process's environment set to ``values`` for the block (handlers create their own boto3 clients)."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Deployed:
    """What the local deploy created, found the way an operator would: stack outputs and stack resources."""

    def __init__(self, aws: Any, prefix: str) -> None:
        self.aws = aws
        self.prefix = prefix
        cloudformation = aws.client("cloudformation")
        self.outputs: dict[str, dict[str, str]] = {}
        self.resources: dict[str, list[dict[str, Any]]] = {}
        for stack in cloudformation.describe_stacks()["Stacks"]:
            name = stack["StackName"]
            if not name.startswith(f"{prefix}-"):
                continue
            self.outputs[name] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            self.resources[name] = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]

    def physical(self, stack: str, resource_type: str) -> list[str]:
        return [
            r["PhysicalResourceId"]
            for r in self.resources[f"{self.prefix}-{stack}"]
            if r["ResourceType"] == resource_type
        ]

    def one(self, stack: str, resource_type: str) -> str:
        found = self.physical(stack, resource_type)
        if len(found) != 1:
            raise RuntimeError(f"{self.prefix}-{stack}: expected one {resource_type}, found {found}")
        return found[0]

    def output(self, stack: str, key: str) -> str:
        return self.outputs[f"{self.prefix}-{stack}"][key]


def _count(s3: Any, uri: str) -> int:
    """Objects under an ``s3://bucket/prefix/`` URI."""
    bucket, prefix = parse_s3_uri(uri, "uri")
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        total += len(page.get("Contents", []))
    return total


def drifted(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its ``DRIFT_COLUMN`` moved (a missing amount stays missing)."""
    value = event.get(DRIFT_COLUMN)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {**event, DRIFT_COLUMN: value * DRIFT_SCALE + DRIFT_SHIFT}
    return dict(event)


def _training_outcome(execution: Execution) -> str:
    """A succeeded run: rolled out (the handover's metrics), or the serving model kept (both AUCs)."""
    state = execution.last_state or {}
    metrics = state.get("evaluation", {}).get("metrics") or (execution.output or {}).get("metrics", {})
    measured = ", ".join(f"{k}={metrics[k]:.3f}" for k in ("auc", "precision", "recall", "f1") if k in metrics)
    if execution.history and execution.history[-1][0] == "ChampionKept":
        champion = state.get("champion", {}).get("evaluation", {}).get("metrics", {})
        return (
            f"      gate passed ({measured}), but the serving model scores better (auc={champion.get('auc', 0):.3f}): "
            "registered Rejected, the endpoint keeps its model"
        )
    package = str(execution.output.get("model_package_arn", "")).rsplit("/", 2)[-2:]
    return f"      gate passed: {measured}; registered {package}; the endpoint rolled to the new model"


def _training_failure(execution: Execution) -> str:
    """Why the training workflow failed: its error, the metrics it measured, the gate's failures (the lines the
    notification carries: metrics below their minimums, broken bias bounds), the errors its Catches handled."""
    caught = "; ".join(f"{state}: {error}: {cause}" for state, error, cause in execution.caught)
    evaluation = (execution.last_state or {}).get("evaluation", {})
    metrics = evaluation.get("metrics")
    measured = ", ".join(f"{k}={metrics[k]:.3f}" for k in ("auc", "precision", "recall", "f1")) if metrics else ""
    failures = "; ".join(evaluation.get("failures") or [])
    return (
        f"the training workflow failed: {execution.error}: {execution.cause}"
        + (f" (measured: {measured})" if measured else "")
        + (f" (failures: {failures})" if failures else "")
        + (f" (caught: {caught})" if caught else "")
    )


class _Steps:
    """The six steps, sharing the deployed stacks, the result so far and the progress lines."""

    count = 6

    def __init__(
        self,
        aws: Any,
        deployed: Deployed,
        result: RunResult,
        progress: Callable[[str], None],
        recorder: Recorder | None = None,
    ) -> None:
        self.aws = aws
        self.deployed = deployed
        self.result = result
        self.progress = progress
        self.recorder = recorder
        self.s3 = aws.client("s3")

    @contextlib.contextmanager
    def step(self, number: int, title: str) -> Iterator[None]:
        """Announce the step, then time it: the timing goes to the result and to a ``done in`` line."""
        self.progress(f"[{number}/{self.count}] {title}")
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self.result.timings.append(StepTiming(title, seconds))
        self.progress(f"      done in {seconds:.1f} s")

    def produce(
        self, producer_main: Callable[[list[str]], int], events: int, seed: int, label_bias: str | None = None
    ) -> None:
        """1. Events into the stream, through the producer's command line (``label_bias``: its ``--label-bias``)."""
        stream = self.deployed.one("streaming", "AWS::Kinesis::Stream")
        biased = f", labels biased {label_bias}" if label_bias else ""
        with self.step(1, f"producer: {events} events (seed {seed}{biased}) -> Kinesis stream {stream}"):
            argv = ["--stream", stream, "--count", str(events), "--seed", str(seed)]
            argv += ["--label-bias", label_bias] if label_bias else []
            endpoint = ["--endpoint-url", self.aws.endpoint_url, "--region", self.aws.region, "--no-progress"]
            code = producer_main([*argv, *endpoint])
            if code != 0:
                raise RuntimeError(f"the producer exited with {code}")

    def deliver(self) -> None:
        """2. The delivery stream's work: stream -> raw zone."""
        delivery = self.deployed.one("streaming", "AWS::KinesisFirehose::DeliveryStream")
        with self.step(2, f"Firehose bridge (emulated delivery of {delivery}) -> raw zone"):
            bridge = self.result.bridge = firehose_bridge.run(self.aws, delivery)
            failed = sum(bridge.failed.values())
            self.progress(
                f"      {bridge.records} records -> {len(bridge.objects)} objects in "
                f"{len(bridge.partitions)} dt= partitions; {failed} to the error prefix"
            )

    def train(self, work: Path) -> LocalTasks:
        """3. The deployed training workflow, state by state; returns its tasks (closed), for their S3 listing."""
        state_machine = self.deployed.output("training", "StateMachineArn")
        definition = json.loads(
            self.aws.client("stepfunctions").describe_state_machine(stateMachineArn=state_machine)["definition"]
        )
        execution_name = str(uuid.uuid4())  # what StartExecution names an execution by default
        tasks = LocalTasks(
            self.aws, work, progress=lambda message: self.progress(f"      {message}"), recorder=self.recorder
        )
        try:
            with self.step(3, f"training workflow {state_machine.rsplit(':', 1)[-1]} (execution {execution_name})"):
                execution = run_definition(
                    definition,
                    execution_name=execution_name,
                    execution_id=f"{state_machine.replace(':stateMachine:', ':execution:')}:{execution_name}",
                    tasks=tasks,
                    on_state=lambda name, kind: self.progress(f"      state {name} ({kind})"),
                )
                self.result.execution = execution
                if execution.status != "SUCCEEDED":
                    raise RuntimeError(_training_failure(execution))
                self.progress(_training_outcome(execution))
        finally:
            tasks.close()
        return tasks

    def crawl(self) -> None:
        """4. The crawlers, as their schedule would run them: raw partitions, the curated table."""
        with self.step(4, "Glue crawlers (emulated crawl): raw events partitions, the curated table"):
            for name in self.deployed.physical("glue-etl", "AWS::Glue::Crawler"):
                crawl = crawlers.crawl(self.aws, name)
                self.result.crawls.append(crawl)
                self.progress(
                    f"      {name}: created {crawl.tables_created or '-'}, updated {crawl.tables_updated or '-'}, "
                    f"partitions added {crawl.partitions_added}"
                )

    def serve(self, tasks: LocalTasks, hours: dict[str, datetime]) -> dict[str, Any]:
        """5. Traffic through the endpoint (now serving the new model), captured per hour; returns the Glue job."""
        endpoint_name = self.deployed.output("serving", "EndpointName")
        job_name = self.deployed.output("glue-etl", "JobName")
        job: dict[str, Any] = self.aws.client("glue").get_job(JobName=job_name)["Job"]
        curated = job["DefaultArguments"]["--curated_path"]
        with self.step(5, f"endpoint {endpoint_name}: the raw test events as requests, normal then drifted traffic"):
            endpoint = LocalEndpoint(self.aws, endpoint_name)
            events = self._test_requests(tasks, curated)
            self.result.traffic_rows = len(events)
            normal = self._client(endpoint, events, hours["normal"] + timedelta(minutes=30))
            drift = self._client(endpoint, [drifted(e) for e in events], hours["drifted"] + timedelta(minutes=30))
            self.result.capture_objects = list(endpoint.capture.objects) if endpoint.capture else []
            endpoint.close()
            for line in normal.lines()[1:] + drift.lines()[1:2]:  # errors and latency, then the drifted hour's
                self.progress(f"      {line}")
            self.progress(f"      {len(events)} requests per hour (python -m worked_example.score's requests)")
        return job

    @staticmethod
    def _client(endpoint: LocalEndpoint, events: list[dict[str, Any]], when: datetime) -> score.Summary:
        """The endpoint client's requests (one event each) to the emulated endpoint; the capture then flushed."""
        summary = score.run(lambda body, content_type: endpoint.invoke(body, when, content_type), events, batch=1)
        if endpoint.capture:
            endpoint.capture.flush(when)
        return summary

    def _test_requests(self, tasks: LocalTasks, curated: str) -> list[dict[str, Any]]:
        """The ETL's clean raw test events (``raw/test/``, JSON Lines) without their label: one request each, as a
        client sends it."""
        events: list[dict[str, Any]] = []
        for bucket, key in tasks.objects(curated.rstrip("/") + "/raw/test/"):
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            events += [json.loads(line) for line in body.splitlines() if line.strip()]
        return [{k: v for k, v in event.items() if k != LABEL} for event in events]

    def detect_drift(self, prefix: str, hours: dict[str, datetime]) -> None:
        """6. The drift job, as its schedule invokes it, and the alarm on its metric."""
        with self.step(6, "drift job per hour of traffic, drift alarm evaluated, alerts topic notified"):
            # the drift job's schedule (the serving stack also has the idle-endpoint guard's, with serving.idle_hours)
            drift_rules = [r for r in self.deployed.physical("serving", "AWS::Events::Rule") if "-DriftSchedule" in r]
            if not drift_rules and self.deployed.physical("serving", "AWS::SageMaker::MonitoringSchedule"):
                raise NotEmulatedError(
                    "monitoring.engine=model_monitor: its schedule runs SageMaker's Model Monitor analyzer "
                    "container, which the local sandbox does not emulate (steps 1-5 ran); run locally with the "
                    "default engine, drift"
                )
            (rule,) = drift_rules
            target = self.aws.client("events").list_targets_by_rule(Rule=rule)["Targets"][0]
            event = json.loads(target["Input"])
            drift_alarm = self._drift_alarm()
            sqs = self.aws.client("sqs")
            inbox = self._subscribe_inbox(sqs, prefix)
            for label, hour in hours.items():
                self._run_drift_job(event, target["Arn"], drift_alarm, label, hour)
            messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
            self.result.notifications = [json.loads(m["Body"]) for m in messages]

    def _drift_alarm(self) -> str:
        """The serving stack's alarm on the drift job's ``ViolationCount`` metric."""
        alarm_names = self.deployed.physical("serving", "AWS::CloudWatch::Alarm")
        described = self.aws.client("cloudwatch").describe_alarms(AlarmNames=alarm_names)["MetricAlarms"]
        return next(a["AlarmName"] for a in described if a.get("MetricName") == "ViolationCount")

    def _subscribe_inbox(self, sqs: Any, prefix: str) -> str:
        """An SQS queue subscribed to the alerts topic, collecting its messages; returns the queue's URL."""
        topic = self.deployed.one("alerts", "AWS::SNS::Topic")
        inbox = sqs.create_queue(QueueName=f"{prefix}-local-alerts-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        return inbox

    def _as_function(self, arn: str) -> contextlib.AbstractContextManager[None]:
        """A block of our code run as the Lambda function ``arn``: recorded as its role, with a recorder only."""
        if self.recorder is None:
            return contextlib.nullcontext()
        return self.recorder.as_function(self.aws.client("lambda").get_function(FunctionName=arn)["Configuration"])

    def _run_drift_job(
        self, event: dict[str, Any], function: str, drift_alarm: str, label: str, hour: datetime
    ) -> None:
        """The drift job's handler (of the function ``function``) for one hour of traffic, then the drift alarm
        evaluated at the hour's end."""
        end = hour + timedelta(hours=1, minutes=5)
        with self._as_function(function):
            report = drift_job.handler({**event, "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ")}, None)
        self.result.drift_runs[label] = report
        evaluation = alarms.evaluate(self.aws, drift_alarm, hour + timedelta(hours=1))
        self.result.alarm_states[label] = evaluation.state
        self.progress(
            f"      {label}: {report['status']}, {report['records']} records, {report['violations']} "
            f"violations {report['drifted_features']}; alarm {evaluation.previous} -> {evaluation.state}"
        )

    def zones(self, job: dict[str, Any]) -> dict[str, int]:
        """Objects per zone: raw events and errors, curated, and the artifacts bucket's prefixes."""
        artifacts = f"s3://{self.deployed.output('serving', 'CaptureUri')[5:].split('/', 1)[0]}"
        raw_root = job["DefaultArguments"]["--raw_path"].rsplit("/", 2)[0]
        curated = job["DefaultArguments"]["--curated_path"]
        return {
            f"{raw_root}/events/": _count(self.s3, f"{raw_root}/events/"),
            f"{raw_root}/errors/": _count(self.s3, f"{raw_root}/errors/"),
            curated: _count(self.s3, curated),
            f"{artifacts}/models/": _count(self.s3, f"{artifacts}/models/"),
            f"{artifacts}/evaluation/": _count(self.s3, f"{artifacts}/evaluation/"),
            f"{artifacts}/capture/": _count(self.s3, f"{artifacts}/capture/"),
            f"{artifacts}/monitoring/": _count(self.s3, f"{artifacts}/monitoring/"),
        }


def _recorder(aws: Any, deployed: Deployed) -> Recorder:
    """A recorder that knows the deployed names (and which buckets use S3 Bucket Keys), found before any call
    is recorded."""
    cloudformation = aws.client("cloudformation")
    names = deployed_names(cloudformation, deployed.resources)
    return Recorder(names, buckets_with_bucket_keys(cloudformation, deployed.resources))


def run_worked_example(
    aws: Any,
    work: Path,
    *,
    events: int = DEFAULT_EVENTS,
    seed: int = DEFAULT_SEED,
    prefix: str = "mlspec",
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda message: print(message, flush=True),
    record_iam: Path | None = None,
    label_bias: str | None = None,
) -> RunResult:
    """Run the six steps; return what each produced. Raises on any failed step.

    ``record_iam``: a file to write the recorded calls of our own code to (``tools.iam.record``), or None.
    ``label_bias``: ``FIELD=VALUE:SHIFT``, the generator's label bias (docs/bias-and-explainability.md), or None."""
    from worked_example import producer

    result = RunResult(events=events)
    deployed = Deployed(aws, prefix)
    recorder = _recorder(aws, deployed) if record_iam else None
    steps = _Steps(aws, deployed, result, progress, recorder)
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    hours = {"normal": now - timedelta(hours=3), "drifted": now - timedelta(hours=2)}
    with environ(aws.environ()):
        steps.produce(producer.main, events, seed, label_bias)
        steps.deliver()
        tasks = steps.train(work)
        steps.crawl()
        job = steps.serve(tasks, hours)
        steps.detect_drift(prefix, hours)
    result.zones = steps.zones(job)
    if recorder is not None and record_iam is not None:
        result.recorded_calls = recorder.write(record_iam)
        progress(f"recorded {result.recorded_calls} distinct calls of our own code -> {record_iam}")
    return result


#: What a sandbox `cdk destroy` leaves on purpose (docs/runbook.md, "What each profile leaves"): the retained model
#: registry and the models and endpoint configs the training workflow created at run time.
EXPECTED_AFTER_DESTROY = ("sagemaker model package group", "sagemaker model", "sagemaker endpoint config")


@dataclass
class Teardown:
    expected: list[str]  # finding lines of what the runbook says a sandbox destroy leaves
    unexpected: list[str]  # anything else still there: a teardown bug
    info: list[str]


def check_teardown(aws: Any, prefix: str = "mlspec") -> Teardown:
    """`make leftovers` against the local server, split into what a sandbox destroy is documented to leave and
    everything else."""
    from tools import leftovers

    with environ(aws.environ()):
        result = leftovers.find(prefix, [aws.region], endpoint_url=aws.endpoint_url)
    expected = [f.line() for f in result.leftovers if f.kind in EXPECTED_AFTER_DESTROY]
    unexpected = [f.line() for f in result.leftovers if f.kind not in EXPECTED_AFTER_DESTROY]
    unexpected += [f"could not check {problem}" for problem in result.problems]
    return Teardown(expected, unexpected, [f.line() for f in result.findings if not f.leftover])
