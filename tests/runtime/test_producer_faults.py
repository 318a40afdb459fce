"""The producer under faults, through its command line: malformed responses, a stream that is down (circuit
breaker), interrupts at every stage of a batch, fatal errors, and resuming from the index a stopped run prints.

Most cases run ``producer.main`` in-process against a scripted client (each call answers or raises as the case
says); the interrupt tests send real SIGINT/SIGTERM to real producer subprocesses, against a moto server and
against a local endpoint that answers 503, both started and stopped by the test on localhost.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from worked_example import producer
from worked_example.generator import DEFAULT_START, generate_events, relative_start, to_json_line
from worked_example.producer import Interrupted, RecordFailure, SendReport

pytestmark = pytest.mark.usefixtures("offline_aws")

ROOT = Path(__file__).resolve().parents[2]
COUNT, SEED = 1200, 3  # three batches: 500 (indexes 0-499), 500 (500-999), 200 (1000-1199)


def ok(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"} for _ in entries]}


def fail(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "P")


Answer = Callable[[list[dict[str, Any]]], Any]  # entries of the request -> response (or raises)


class Scripted:
    """A Kinesis client whose n-th PutRecords call is answered by ``script[n]`` (the last one repeats)."""

    def __init__(self, *script: Answer) -> None:
        self.script = script
        self.calls: list[list[dict[str, Any]]] = []

    def put_records(self, *, Records: list[dict[str, Any]], **target: str) -> Any:  # noqa: N803
        self.calls.append(Records)
        return self.script[min(len(self.calls), len(self.script)) - 1](Records)


def raises(exc: BaseException) -> Answer:
    def answer(entries: list[dict[str, Any]]) -> Any:
        raise exc

    return answer


def partial(failing: set[int]) -> Answer:
    """Entries at these positions fail with a retryable code, the others are written."""

    def answer(entries: list[dict[str, Any]]) -> Any:
        records = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "x"} if i in failing else {"SequenceNumber": "1"}
            for i in range(len(entries))
        ]
        return {"FailedRecordCount": len(failing & set(range(len(entries)))), "Records": records}

    return answer


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """COUNT generated events as JSON Lines, written once: reading them back is far cheaper than generating."""
    path = tmp_path_factory.mktemp("producer-faults") / "events.jsonl"
    path.write_bytes(b"".join(to_json_line(e) for e in generate_events(COUNT, SEED)))
    return path


@pytest.fixture
def cli(monkeypatch, capsys, events_file: Path) -> Callable[..., tuple[int, str, str]]:
    """Run ``producer.main`` with a scripted client on ``events_file`` (or ``source``): (status, stdout, stderr)."""

    def run(client: Scripted, *extra: str, source: list[str] | None = None) -> tuple[int, str, str]:
        monkeypatch.setattr(producer, "_make_client", lambda args: client)
        argv = ["--stream", "events", *(source or ["--file", str(events_file)]), "--region", "us-east-1"]
        status = producer.main([*argv, "--no-progress", *extra])
        out, err = capsys.readouterr()
        return status, out, err

    return run


# --- Fatal errors and interrupts, stage by stage ---------------------------------------------------------------
# Each case: the client's script, extra arguments, then what the run must report. The expected indexes follow
# from the batching (500 per request) and from which call fails; "written" is the count confirmed written.

MALFORMED: list[tuple[str, Answer, str]] = [
    ("one entry short", lambda e: ok(e[:-1]), "has 499 entries for the 500 records sent"),
    ("one entry too many", lambda e: ok([*e, e[0]]), "has 501 entries for the 500 records sent"),
    ("no Records", lambda e: {"FailedRecordCount": 0}, "has no Records list"),
    ("Records is null", lambda e: {"Records": None}, "has no Records list"),
    ("not an object", lambda e: None, "has no Records list"),
    ("an empty entry", lambda e: {"Records": [{}, *ok(e)["Records"][1:]]}, "entry 0 has neither or both"),
    (
        "an entry both written and failed",
        lambda e: {"Records": [*ok(e)["Records"][:-1], {"SequenceNumber": "1", "ErrorCode": "InternalFailure"}]},
        "entry 499 has neither or both",
    ),
    ("a wrong FailedRecordCount", lambda e: {**ok(e), "FailedRecordCount": 3}, "FailedRecordCount=3"),
]


@pytest.mark.parametrize(("name", "answer", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_response_stops_with_a_summary(cli, name, answer, message) -> None:
    client = Scripted(ok, answer)
    status, out, err = cli(client)
    assert status == producer.EXIT_FATAL
    assert err.count("\n") == 1
    assert err.startswith("error: MalformedResponse: PutRecords response ")
    assert message in err
    assert "Traceback" not in out + err
    # The first batch (0-499) was written; nothing of the second is confirmed, the third was never sent.
    assert "Written: 500 records." in out
    assert "NOT CONFIRMED WRITTEN: 700 records (500 in flight or waiting for a retry" in out
    assert "at indexes 500-1199. Resume with --start-index 500." in out


STOPS: list[tuple[str, tuple[Answer, ...], tuple[str, ...], int, list[str]]] = [
    (
        "interrupt between batches",
        (ok, raises(Interrupted(signal.SIGINT))),
        (),
        producer.EXIT_INTERRUPTED,
        ["STOPPED at record index 500: interrupted by SIGINT. Written: 500 records.", "700 records", "500-1199"],
    ),
    (
        # call 1: entries 3 and 7 fail and wait for a retry; call 2 (the retry) is interrupted by SIGTERM.
        "interrupt during a retry",
        (partial({3, 7}), raises(Interrupted(signal.SIGTERM))),
        (),
        producer.EXIT_INTERRUPTED,
        [
            "STOPPED at record index 3: interrupted by SIGTERM. Written: 498 records, 495 of them at or after index 3 "
            "(indexes 4-6, 8-499).",
            "NOT CONFIRMED WRITTEN: 702 records (2 in flight or waiting for a retry, the others not sent yet) at "
            "indexes 3, 7, 500-1199.",
            "Resume with --start-index 3; it sends the 495 written records after 3 again",
        ],
    ),
    (
        "Ctrl-C inside a request",
        (ok, ok, raises(KeyboardInterrupt())),
        (),
        producer.EXIT_INTERRUPTED,
        ["STOPPED at record index 1000: interrupted by SIGINT. Written: 1000 records.", "at indexes 1000-1199."],
    ),
    (
        "a non-retryable error on the second batch",
        (ok, raises(fail("ResourceNotFoundException", 400))),
        (),
        producer.EXIT_FATAL,
        ["STOPPED at record index 500: ResourceNotFoundException: m", "at indexes 500-1199."],
    ),
    (
        "a client that breaks",
        (raises(RuntimeError("connection pool is closed")),),
        (),
        producer.EXIT_FATAL,
        ["STOPPED at record index 0: RuntimeError: connection pool is closed.", "1200 records", "0-1199."],
    ),
    (
        # every request fails whole: 3 in a row open the breaker, still within the first batch's retries
        "circuit breaker within a batch",
        (raises(fail("ServiceUnavailable", 503)),),
        ("--max-consecutive-failures", "3"),
        producer.EXIT_FATAL,
        ["CircuitBreakerOpen: 3 PutRecords requests in a row failed as a whole", "at indexes 0-1199."],
    ),
    (
        # with 1 retry per batch, batch 1 is given up on after 2 failures; the breaker opens on batch 2's first
        "circuit breaker across batches",
        (raises(fail("ThrottlingException", 400)),),
        ("--max-consecutive-failures", "3", "--max-retries", "1"),
        producer.EXIT_FATAL,
        ["NOT WRITTEN: 500 (ThrottlingException) at indexes 0-499", "STOPPED at record index 500", "500-1199."],
    ),
]


@pytest.mark.parametrize(("name", "script", "extra", "status", "expected"), STOPS, ids=[s[0] for s in STOPS])
def test_a_stopped_run_says_what_was_written_and_where_to_resume(cli, name, script, extra, status, expected) -> None:
    client = Scripted(*script)
    got, out, err = cli(client, *extra)
    assert got == status
    assert "Traceback" not in out + err
    for text in expected:
        assert text in out, (text, out)


def test_the_breaker_closes_on_any_answer(cli) -> None:
    """Whole-request failures that alternate with answers never add up to the threshold."""
    client = Scripted(*[raises(fail("ServiceUnavailable", 503)), ok] * 3)
    status, out, _ = cli(client, "--max-consecutive-failures", "2")
    assert status == producer.EXIT_OK
    assert "Sent 1200 of 1200 records" in out
    assert len(client.calls) == 6  # each of the 3 batches: one failure, one success


def test_main_runs_outside_the_main_thread(cli) -> None:
    """Only the main thread may set signal handlers: elsewhere the producer runs without them."""
    statuses: list[int] = []
    thread = threading.Thread(target=lambda: statuses.append(cli(Scripted(ok))[0]))
    thread.start()
    thread.join(timeout=60)
    assert statuses == [producer.EXIT_OK]


# --- Resuming ----------------------------------------------------------------------------------------------------


def test_start_index_sends_exactly_the_rest(cli) -> None:
    client = Scripted(ok)
    # --start pins the dates (the command line's default is relative to today) so the bytes equal the API's.
    source = ["--count", str(COUNT), "--seed", str(SEED), "--start", DEFAULT_START.isoformat()]
    status, out, _ = cli(client, "--start-index", "700", source=source)
    expected = [to_json_line(e) for e in islice(generate_events(COUNT, SEED), 700, None)]
    assert status == producer.EXIT_OK
    assert [entry["Data"] for call in client.calls for entry in call] == expected
    assert "Sent 500 of 500 records from index 700" in out


def test_start_index_in_a_file_counts_lines(monkeypatch, capsys, tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event_id":"a"}\n\n{"event_id":"c"}\n{"event_id":"d"}\n')
    client = Scripted(ok)
    monkeypatch.setattr(producer, "_make_client", lambda args: client)
    assert producer.main(["--stream", "s", "--file", str(path), "--start-index", "2", "--no-progress"]) == 0
    assert [e["PartitionKey"] for call in client.calls for e in call] == ["c", "d"]
    assert "Blank lines skipped: 0." in capsys.readouterr().out  # the blank line 1 is before the start


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-consecutive-failures", "0"], "must be from 1 to 10000, got 0"),
        (["--max-consecutive-failures", "10001"], "must be from 1 to 10000, got 10001"),
        (["--max-consecutive-failures", "many"], "not an integer: 'many'"),
        (["--start-index", "-1"], "must be >= 0, got -1"),
        (["--start-index", "1201"], "--start-index 1201 is past the end of the input (1200 records)"),
    ],
)
def test_bad_fault_handling_arguments_exit_2_with_one_line(capsys, extra, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        producer.main(["--stream", "s", "--count", str(COUNT), "--region", "us-east-1", *extra])
    assert exit_info.value.code == producer.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_unconfirmed_ranges_skip_what_is_settled() -> None:
    """In flight 3 and 7 of the batch 0-9, the rest of it written; 12 oversized, 14 blank; 20 records in all."""
    report = SendReport(total=20)
    report.begin_batch(list(range(10)))
    report.in_flight = [3, 7]
    report.written_in_batch = [0, 1, 2, 4, 5, 6, 8, 9]
    report.oversized = [RecordFailure(12, "RecordTooLarge", "")]
    report.blank_lines = [14]
    assert report.resume_index() == 3
    assert report.unconfirmed() == [(3, 3), (7, 7), (10, 11), (13, 13), (15, 19)]
    report.total = None  # standard input: the end is unknown
    assert report.unconfirmed()[-1] == (15, None)


# --- Real signals to real producer processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def start_producer(endpoint: str, *extra: str, stdin: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "worked_example.producer", "--stream", "events", "--region", "us-east-1"]
    return subprocess.Popen(
        [*argv, "--endpoint-url", endpoint, "--no-progress", *extra],
        cwd=ROOT,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="localhost", port=port, verbose=False)
    server.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.stop()


def stream_event_ids(client: Any) -> list[str]:
    ids = []
    for shard in client.list_shards(StreamName="events")["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName="events", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            ids += [json.loads(r["Data"])["event_id"] for r in page["Records"]]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return ids


def test_sigint_between_batches_then_resume_delivers_every_record(tmp_path, capsys) -> None:
    """A producer reading standard input has sent two batches (0-499, 500-999) and holds line 1000, waiting for
    more, when SIGINT arrives: exit 130, the stream holds exactly what the summary says was written, and resuming
    from the printed index with the whole file completes the stream with no record missing and none twice."""
    lines = [to_json_line(e) for e in generate_events(1500, SEED)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines))
    ids = [json.loads(line)["event_id"] for line in lines]
    with moto_server() as endpoint:
        client = boto3.client("kinesis", region_name="us-east-1", endpoint_url=endpoint)
        client.create_stream(StreamName="events", ShardCount=1)
        process = start_producer(endpoint, "--file", "-", stdin=subprocess.PIPE)
        assert process.stdin is not None
        process.stdin.write(b"".join(lines[:1001]).decode())
        process.stdin.flush()
        wait_until(lambda: len(stream_event_ids(client)) == 1000, "two batches in the stream")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == producer.EXIT_INTERRUPTED, out + err
        assert "Traceback" not in out + err
        assert "STOPPED at record index 1000: interrupted by SIGINT. Written: 1000 records." in out
        assert "NOT CONFIRMED WRITTEN: every record from index 1000 on" in out
        assert "Resume with --start-index 1000." in out
        assert stream_event_ids(client) == ids[:1000]

        # The resumed run through the same entry point, in-process (a second interpreter start buys nothing here).
        argv = ["--stream", "events", "--region", "us-east-1", "--endpoint-url", endpoint, "--no-progress"]
        assert producer.main([*argv, "--file", str(path), "--start-index", "1000"]) == 0
        assert "Sent 500 of 500 records from index 1000" in capsys.readouterr().out
        assert stream_event_ids(client) == ids


class _Unavailable(http.server.BaseHTTPRequestHandler):
    """Answers every request with HTTP 503 ServiceUnavailable (a Kinesis endpoint that is down)."""

    requests = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).requests += 1
        body = b'{"__type": "ServiceUnavailable", "message": "down"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_sigterm_during_retries_lists_the_batch_in_flight() -> None:
    """SIGTERM while the producer backs off between retries of its first batch: exit 130, every record listed as
    not confirmed (the batch in flight and the ones never sent), resume from 0."""
    _Unavailable.requests = 0
    server = http.server.ThreadingHTTPServer(("localhost", free_port()), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://localhost:{server.server_address[1]}"
        process = start_producer(endpoint, "--count", "700", "--max-retries", "50", "--max-consecutive-failures", "99")
        wait_until(lambda: _Unavailable.requests >= 2, "two failed requests")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert process.returncode == producer.EXIT_INTERRUPTED, out + err
    assert "Traceback" not in out + err
    assert "STOPPED at record index 0: interrupted by SIGTERM. Written: 0 records." in out
    assert "NOT CONFIRMED WRITTEN: 700 records (500 in flight or waiting for a retry" in out
    # Generated events without --start are dated relative to today: the resume line pins the first run's dates.
    start = relative_start().isoformat()
    assert f"at indexes 0-699. Resume with --start-index 0 --start {start}." in out
