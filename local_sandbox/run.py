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

DEFAULT_EVENTS = 20_000
DEFAULT_SEED = 20261124
#: The injected drift: ``amount`` of every request becomes ``amount * scale + shift`` (the generator's Drift
#: semantics, applied to the encoded request: a customer population that spends more).
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


def drifted(row: str, column: int) -> str:
    fields = row.split(",")
    fields[column] = repr(float(fields[column]) * DRIFT_SCALE + DRIFT_SHIFT)
    return ",".join(fields)


def run_worked_example(
    aws: Any,
    work: Path,
    *,
    events: int = DEFAULT_EVENTS,
    seed: int = DEFAULT_SEED,
    prefix: str = "mlspec",
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda message: print(message, flush=True),
) -> RunResult:
    """Run the six steps; return what each produced. Raises on any failed step."""
    from stacks.mapping import etl_feature_columns
    from worked_example import producer

    result = RunResult(events=events)
    deployed = Deployed(aws, prefix)
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    s3 = aws.client("s3")
    steps = 6

    @contextlib.contextmanager
    def step(number: int, title: str) -> Iterator[None]:
        progress(f"[{number}/{steps}] {title}")
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        result.timings.append(StepTiming(title, seconds))
        progress(f"      done in {seconds:.1f} s")

    with environ(aws.environ()):
        # 1. Events into the stream, through the producer's command line.
        stream = deployed.one("streaming", "AWS::Kinesis::Stream")
        with step(1, f"producer: {events} events (seed {seed}) -> Kinesis stream {stream}"):
            argv = ["--stream", stream, "--count", str(events), "--seed", str(seed)]
            code = producer.main([*argv, "--endpoint-url", aws.endpoint_url, "--region", aws.region, "--no-progress"])
            if code != 0:
                raise RuntimeError(f"the producer exited with {code}")

        # 2. The delivery stream's work: stream -> raw zone.
        delivery = deployed.one("streaming", "AWS::KinesisFirehose::DeliveryStream")
        with step(2, f"Firehose bridge (emulated delivery of {delivery}) -> raw zone"):
            result.bridge = firehose_bridge.run(aws, delivery)
            failed = sum(result.bridge.failed.values())
            progress(
                f"      {result.bridge.records} records -> {len(result.bridge.objects)} objects in "
                f"{len(result.bridge.partitions)} dt= partitions; {failed} to the error prefix"
            )

        # 3. The deployed training workflow, state by state.
        state_machine = deployed.output("training", "StateMachineArn")
        definition = json.loads(
            aws.client("stepfunctions").describe_state_machine(stateMachineArn=state_machine)["definition"]
        )
        execution_name = str(uuid.uuid4())  # what StartExecution names an execution by default
        tasks = LocalTasks(aws, work, progress=lambda message: progress(f"      {message}"))
        try:
            with step(3, f"training workflow {state_machine.rsplit(':', 1)[-1]} (execution {execution_name})"):
                execution = run_definition(
                    definition,
                    execution_name=execution_name,
                    execution_id=f"{state_machine.replace(':stateMachine:', ':execution:')}:{execution_name}",
                    tasks=tasks,
                    on_state=lambda name, kind: progress(f"      state {name} ({kind})"),
                )
                result.execution = execution
                if execution.status != "SUCCEEDED":
                    caught = "; ".join(f"{state}: {error}: {cause}" for state, error, cause in execution.caught)
                    evaluation = (execution.last_state or {}).get("evaluation", {}).get("metrics")
                    measured = ", ".join(f"{k}={evaluation[k]:.3f}" for k in ("auc", "precision", "recall", "f1"))
                    raise RuntimeError(
                        f"the training workflow failed: {execution.error}: {execution.cause}"
                        + (f" (measured: {measured})" if evaluation else "")
                        + (f" (caught: {caught})" if caught else "")
                    )
                metrics = execution.output["metrics"]
                progress(
                    "      gate passed: "
                    + ", ".join(f"{k}={metrics[k]:.3f}" for k in ("auc", "precision", "recall", "f1"))
                    + f"; registered {execution.output['model_package_arn'].rsplit('/', 2)[-2:]}"
                )
        finally:
            tasks.close()

        # 4. The crawlers, as their schedule would run them: raw partitions, the curated table.
        with step(4, "Glue crawlers (emulated crawl): raw events partitions, the curated table"):
            for name in deployed.physical("glue-etl", "AWS::Glue::Crawler"):
                crawl = crawlers.crawl(aws, name)
                result.crawls.append(crawl)
                progress(
                    f"      {name}: created {crawl.tables_created or '-'}, updated {crawl.tables_updated or '-'}, "
                    f"partitions added {crawl.partitions_added}"
                )

        # 5. Traffic through the endpoint (now serving the new model), captured per hour.
        endpoint_name = deployed.output("serving", "EndpointName")
        job = aws.client("glue").get_job(JobName=deployed.output("glue-etl", "JobName"))["Job"]
        curated = job["DefaultArguments"]["--curated_path"]
        columns = etl_feature_columns()
        normal_hour, drifted_hour = now - timedelta(hours=3), now - timedelta(hours=2)
        with step(5, f"endpoint {endpoint_name}: the test split as requests, normal then drifted traffic"):
            endpoint = LocalEndpoint(aws, endpoint_name)
            progress(f"      serving {endpoint.model_data_url}")
            rows: list[str] = []
            for bucket, key in tasks.objects(curated.rstrip("/") + "/test/"):
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
                rows += [line.split(",", 1)[1] for line in body.splitlines() if line.strip()]
            result.traffic_rows = len(rows)
            normal_scores = endpoint.invoke_rows(rows, normal_hour + timedelta(minutes=30))
            column = columns.index(DRIFT_COLUMN)
            endpoint.invoke_rows([drifted(r, column) for r in rows], drifted_hour + timedelta(minutes=30))
            result.capture_objects = list(endpoint.capture.objects) if endpoint.capture else []
            flagged = sum(p >= 0.5 for p in normal_scores)
            progress(f"      {len(rows)} requests per hour; {flagged} flagged as fraud in the normal hour")

        # 6. The drift job, as its schedule invokes it, and the alarm on its metric.
        with step(6, "drift job per hour of traffic, drift alarm evaluated, alerts topic notified"):
            if not deployed.physical("serving", "AWS::Events::Rule") and deployed.physical(
                "serving", "AWS::SageMaker::MonitoringSchedule"
            ):
                raise NotEmulatedError(
                    "monitoring.engine=model_monitor: its schedule runs SageMaker's Model Monitor analyzer "
                    "container, which the local sandbox does not emulate (steps 1-5 ran); run locally with the "
                    "default engine, drift"
                )
            rule = deployed.one("serving", "AWS::Events::Rule")
            target = aws.client("events").list_targets_by_rule(Rule=rule)["Targets"][0]
            event = json.loads(target["Input"])
            alarm_names = deployed.physical("serving", "AWS::CloudWatch::Alarm")
            described = aws.client("cloudwatch").describe_alarms(AlarmNames=alarm_names)["MetricAlarms"]
            drift_alarm = next(a["AlarmName"] for a in described if a["MetricName"] == "ViolationCount")
            topic = deployed.one("alerts", "AWS::SNS::Topic")
            sqs = aws.client("sqs")
            inbox = sqs.create_queue(QueueName=f"{prefix}-local-alerts-inbox")["QueueUrl"]
            inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
            for label, hour in (("normal", normal_hour), ("drifted", drifted_hour)):
                end = hour + timedelta(hours=1, minutes=5)
                report = drift_job.handler({**event, "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ")}, None)
                result.drift_runs[label] = report
                evaluation = alarms.evaluate(aws, drift_alarm, hour + timedelta(hours=1))
                result.alarm_states[label] = evaluation.state
                progress(
                    f"      {label}: {report['status']}, {report['records']} records, {report['violations']} "
                    f"violations {report['drifted_features']}; alarm {evaluation.previous} -> {evaluation.state}"
                )
            messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
            result.notifications = [json.loads(m["Body"]) for m in messages]

    artifacts = f"s3://{deployed.output('serving', 'CaptureUri')[5:].split('/', 1)[0]}"
    raw_root = job["DefaultArguments"]["--raw_path"].rsplit("/", 2)[0]
    result.zones = {
        f"{raw_root}/events/": _count(s3, f"{raw_root}/events/"),
        f"{raw_root}/errors/": _count(s3, f"{raw_root}/errors/"),
        curated: _count(s3, curated),
        f"{artifacts}/models/": _count(s3, f"{artifacts}/models/"),
        f"{artifacts}/evaluation/": _count(s3, f"{artifacts}/evaluation/"),
        f"{artifacts}/capture/": _count(s3, f"{artifacts}/capture/"),
        f"{artifacts}/monitoring/": _count(s3, f"{artifacts}/monitoring/"),
    }
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
