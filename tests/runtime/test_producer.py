"""The batched Kinesis producer: limits, partial-failure retries, exit codes, and a moto round trip."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from worked_example import producer
from worked_example.generator import generate_events, to_json_line
from worked_example.producer import (
    DEFAULT_LIMITS,
    FatalProducerError,
    KinesisProducer,
    MiB,
    Record,
    iter_batches,
    partition_key_for,
    records_from_events,
    records_from_lines,
)

REGION = "us-east-1"


pytestmark = pytest.mark.usefixtures("offline_aws")


class Sleeps:
    """An injectable ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FakeKinesis:
    """A minimal Kinesis client: records every PutRecords call, fails the entries ``fail`` selects."""

    def __init__(self, fail=lambda call, entry: None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail = fail  # (call number, entry) -> error code or None

    def put_records(self, *, Records: list[dict[str, Any]], **target: str) -> dict[str, Any]:  # noqa: N803
        assert set(target) in ({"StreamName"}, {"StreamARN"})
        call = len(self.calls)
        self.calls.append(Records)
        results = []
        for entry in Records:
            code = self.fail(call, entry)
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": f"{code} (fake)"})
            else:
                results.append({"SequenceNumber": str(call), "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def make_records(sizes: list[int], key_chars: int = 10) -> list[Record]:
    """Records whose data + key is exactly ``size`` bytes each (equal sizes share one bytes object)."""
    blobs: dict[int, bytes] = {}
    return [
        Record(i, blobs.setdefault(size, b"x" * (size - key_chars)), f"{i:0{key_chars}d}")
        for i, size in enumerate(sizes)
    ]


def read_shards(client: Any, stream: str) -> dict[str, list[tuple[bytes, str]]]:
    """Shard id -> every (data, partition key) in it, read from TRIM_HORIZON to the end of the shard."""
    received: dict[str, list[tuple[bytes, str]]] = {}
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        records = received.setdefault(shard["ShardId"], [])
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            records += [(r["Data"], r["PartitionKey"]) for r in page["Records"]]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return received


def read_stream(client: Any, stream: str) -> list[tuple[bytes, str]]:
    return [record for records in read_shards(client, stream).values() for record in records]


@pytest.fixture
def kinesis():
    """A moto (in-process) Kinesis client with a 3-shard stream named ``events``."""
    with mock_aws():
        client = boto3.client("kinesis", region_name=REGION)
        client.create_stream(StreamName="events", ShardCount=3)
        client.get_waiter("stream_exists").wait(StreamName="events", WaiterConfig={"Delay": 0})
        yield client


# --- Round trip through moto -------------------------------------------------------------------


def test_every_event_arrives_exactly_once(kinesis):
    events = list(generate_events(1_200, seed=5))
    report = KinesisProducer(kinesis, "events", sleep=Sleeps()).send(records_from_events(events))
    assert report.ok
    assert report.sent == 1_200
    assert report.requests == 3  # ceil(1200 / 500): these records are far below the 5 MiB cap
    assert report.retries == 0
    received = read_stream(kinesis, "events")
    assert Counter(data for data, _ in received) == Counter(to_json_line(e) for e in events)
    assert sorted(key for _, key in received) == sorted(e["event_id"] for e in events)
    shards = read_shards(kinesis, "events")
    assert len(shards) == 3
    assert all(len(records) > 200 for records in shards.values())  # random UUID keys spread evenly


def test_cli_with_a_stream_arn(kinesis, capsys):
    arn = kinesis.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"]["StreamARN"]
    # --start pins the dates: the records are the API's (whose default start is the same fixed date)
    argv = ["--stream", arn, "--count", "1200", "--seed", "5", "--start", "2026-11-20", "--no-progress"]
    assert producer.main(argv) == 0
    out = capsys.readouterr().out
    assert "Sent 1200 of 1200 records" in out
    assert "in 3 PutRecords requests (0 retries" in out
    assert "Not written: 0. Oversized: 0." in out
    received = read_stream(kinesis, "events")
    assert Counter(data for data, _ in received) == Counter(to_json_line(e) for e in generate_events(1200, 5))


def test_cli_events_default_to_the_last_three_days_before_today(kinesis, capsys):
    before = datetime.now(UTC).date()
    assert producer.main(["--stream", "events", "--count", "30", "--seed", "5", "--no-progress"]) == 0
    after = datetime.now(UTC).date()  # the producer read the clock in between (a run across midnight: either day)
    days = {json.loads(data)["event_time"][:10] for data, _ in read_stream(kinesis, "events")}
    # 30 events spread evenly over 3 days from midnight 3 days before today: 10 on each of the 3 days before today
    expected = [{(today - timedelta(days=n)).isoformat() for n in (1, 2, 3)} for today in (before, after)]
    assert days in expected


def test_cli_file_with_an_oversized_record_sends_the_rest_and_exits_1(kinesis, tmp_path, capsys):
    small = [to_json_line(e) for e in generate_events(4, seed=1)]
    huge = json.dumps({"event_id": "huge", "blob": "x" * MiB}).encode() + b"\n"
    path = tmp_path / "events.jsonl"
    path.write_bytes(small[0] + small[1] + b"\n" + huge + small[2] + small[3])  # line 2 blank, line 3 huge
    assert producer.main(["--stream", "events", "--file", str(path), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "record 3: RecordTooLarge:" in captured.err
    assert "Sent 4 of 5 records" in captured.out
    assert "OVERSIZED (not sent): 1 at indexes 3." in captured.out
    assert "Blank lines skipped: 1 (line indexes 2)." in captured.out
    assert Counter(data for data, _ in read_stream(kinesis, "events")) == Counter(small)


def test_cli_unknown_stream_stops_with_one_line_and_exit_3(kinesis, capsys):
    assert producer.main(["--stream", "no-such-stream", "--count", "10", "--no-progress"]) == 3
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ResourceNotFoundException:")
    assert "check --stream, --region" in lines[0]
    assert "Traceback" not in captured.err
    assert "STOPPED at record index 0" in captured.out


# --- Partial failures with botocore's Stubber -------------------------------------------------------


def entries(records: list[Record]) -> list[dict[str, Any]]:
    return [{"Data": r.data, "PartitionKey": r.partition_key} for r in records]


def ok(n: int) -> dict[str, Any]:
    # No FailedRecordCount: the API model says it is >= 1 when present, so a full success omits it.
    return {"Records": [{"SequenceNumber": str(i), "ShardId": "shardId-000000000000"} for i in range(n)]}


def test_only_the_failed_entries_are_retried():
    client = boto3.client("kinesis", region_name=REGION)
    records = list(records_from_events(generate_events(5, seed=2)))
    first = {
        "FailedRecordCount": 2,
        "Records": [
            {"SequenceNumber": "1", "ShardId": "shardId-000000000000"},
            {
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": "Rate exceeded for shard",
            },
            {"SequenceNumber": "2", "ShardId": "shardId-000000000001"},
            {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service failure."},
            {"SequenceNumber": "3", "ShardId": "shardId-000000000002"},
        ],
    }
    sleeps = Sleeps()
    with Stubber(client) as stub:
        stub.add_response("put_records", first, {"StreamName": "events", "Records": entries(records)})
        # The retry must contain exactly the failed entries, records 1 and 3, in their original order.
        stub.add_response("put_records", ok(2), {"StreamName": "events", "Records": entries([records[1], records[3]])})
        report = KinesisProducer(client, "events", sleep=sleeps, rand=lambda: 0.5).send(records)
        stub.assert_no_pending_responses()
    assert report.ok
    assert (report.sent, report.requests, report.retries, report.failed) == (5, 2, 1, [])
    assert sleeps.delays == [0.5 * 0.1]  # full jitter: rand() * min(cap, base * 2**0)


def test_a_throttled_request_is_retried_whole():
    client = boto3.client("kinesis", region_name=REGION)
    records = list(records_from_events(generate_events(3, seed=2)))
    expected = {"StreamName": "events", "Records": entries(records)}
    with Stubber(client) as stub:
        stub.add_client_error("put_records", "ProvisionedThroughputExceededException", "Rate exceeded", 400, expected)
        # Any HTTP 5xx is retried, whatever its code.
        stub.add_client_error("put_records", "SomethingUnexpected", "Service Unavailable", 503, expected)
        stub.add_client_error("put_records", "KMSThrottlingException", "KMS rate exceeded", 400, expected)
        stub.add_response("put_records", ok(3), expected)
        sleeps = Sleeps()
        report = KinesisProducer(client, "events", sleep=sleeps, rand=lambda: 1.0).send(records)
        stub.assert_no_pending_responses()
    assert report.ok
    assert (report.sent, report.requests, report.retries, report.throttled_requests) == (3, 4, 3, 3)
    assert sleeps.delays == [0.1, 0.2, 0.4]  # exponential: base * 2**attempt (rand() = 1 is the maximum)


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException", "ValidationException"])
def test_non_retryable_errors_stop_at_once(code):
    client = boto3.client("kinesis", region_name=REGION)
    records = list(records_from_events(generate_events(3, seed=2)))
    sleeps = Sleeps()
    with Stubber(client) as stub:
        stub.add_client_error("put_records", code, "nope", 400)
        with pytest.raises(FatalProducerError, match=code) as error:
            KinesisProducer(client, "events", sleep=sleeps).send(records)
    assert error.value.first_unsent_index == 0
    assert sleeps.delays == []


def test_an_entry_that_always_fails_is_reported_by_index():
    target = to_json_line(list(generate_events(3, seed=2))[1])
    client = FakeKinesis(fail=lambda call, entry: "ProvisionedThroughputExceededException" * (entry["Data"] == target))
    sleeps = Sleeps()
    failures: list[producer.RecordFailure] = []
    report = KinesisProducer(client, "events", max_retries=4, sleep=sleeps, on_failure=failures.append).send(
        records_from_events(generate_events(3, seed=2))
    )
    assert not report.ok
    assert report.sent == 2
    assert [(f.index, f.error_code) for f in report.failed] == [(1, "ProvisionedThroughputExceededException")]
    assert failures == report.failed
    assert "gave up after 4 retries" in report.failed[0].message
    assert len(client.calls) == report.requests == 1 + 4
    assert all(call == [{"Data": target, "PartitionKey": call[0]["PartitionKey"]}] for call in client.calls[1:])
    assert len(sleeps.delays) == 4
    assert all(0 <= d <= min(5.0, 0.1 * 2**k) for k, d in enumerate(sleeps.delays))


def test_an_entry_with_a_non_retryable_code_is_reported_without_retrying():
    client = FakeKinesis(fail=lambda call, entry: "KMSAccessDeniedException" if entry["PartitionKey"] == "b" else None)
    records = [Record(0, b"1\n", "a"), Record(1, b"2\n", "b"), Record(2, b"3\n", "c")]
    report = KinesisProducer(client, "events", sleep=Sleeps()).send(records)
    assert [(f.index, f.error_code) for f in report.failed] == [(1, "KMSAccessDeniedException")]
    assert report.requests == 1


def test_cli_file_with_a_lost_record_exits_1(monkeypatch, tmp_path, capsys):
    fake = FakeKinesis(fail=lambda call, entry: "InternalFailure" if entry["Data"].startswith(b"bad") else None)
    monkeypatch.setattr(producer, "_make_client", lambda args: fake)
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b'{"event_id":"a"}\nbad line\n{"event_id":"c"}')
    status = producer.main(["--stream", "events", "--file", str(path), "--max-retries", "1", "--no-progress"])
    assert status == 1
    captured = capsys.readouterr()
    assert "record 1: InternalFailure: InternalFailure (fake) (gave up after 1 retries)" in captured.err
    assert "NOT WRITTEN: 1 (InternalFailure) at indexes 1." in captured.out
    assert "Sent 2 of 3 records" in captured.out
    assert len(fake.calls) == 2


# --- Batching limits ---------------------------------------------------------------------------------


def test_at_most_500_records_per_request():
    client = FakeKinesis()
    report = KinesisProducer(client, "events").send(make_records([100] * 1_234))
    assert [len(call) for call in client.calls] == [500, 500, 234]
    assert report.sent == 1_234
    assert report.requests == 3


def test_at_most_5_mib_per_request_counting_partition_keys():
    record_size = 900 * 1024  # data + key; 5 fit in 5 MiB (4.39 MiB), 6 do not (5.27 MiB)
    client = FakeKinesis()
    KinesisProducer(client, "events").send(make_records([record_size] * 12))
    assert [len(call) for call in client.calls] == [5, 5, 2]
    for call in client.calls:
        assert sum(len(e["Data"]) + len(e["PartitionKey"]) for e in call) <= DEFAULT_LIMITS.max_request_bytes


def test_batches_are_packed_greedily_in_order():
    rng = random.Random(3)
    sizes = [rng.choice([200, 5_000, 300_000, 1 * MiB]) for _ in range(2_000)]
    records = make_records(sizes)
    batches = list(iter_batches(records))
    # Nothing lost, nothing reordered.
    assert [r.index for batch in batches for r in batch] == list(range(len(records)))
    for batch, following in itertools.pairwise(batches):
        size = sum(r.size for r in batch)
        assert len(batch) <= 500
        assert size <= 5 * MiB
        # Greedy: the next batch's first record did not fit into this one.
        assert len(batch) == 500 or size + following[0].size > 5 * MiB


def test_a_record_of_exactly_1_mib_is_sent_and_one_byte_more_is_not():
    client = FakeKinesis()
    records = make_records([MiB, MiB + 1, 100])
    report = KinesisProducer(client, "events").send(records)
    assert report.sent == 2
    assert [(f.index, f.error_code) for f in report.oversized] == [(1, "RecordTooLarge")]
    assert str(MiB + 1) in report.oversized[0].message
    assert [[e["PartitionKey"] for e in call] for call in client.calls] == [["0000000000", "0000000002"]]
    assert not report.ok
    with pytest.raises(ValueError, match="record 1"):
        list(iter_batches(records))


def test_partition_key_bytes_count_towards_the_limit():
    key = "é" * 256  # 256 characters (the maximum), 512 bytes in UTF-8
    record = Record(0, b"x" * (MiB - 511), key)
    assert record.size == MiB + 1
    report = KinesisProducer(FakeKinesis(), "events").send([record])
    assert [f.index for f in report.oversized] == [0]


# --- Records from events and files ---------------------------------------------------------------------


def test_partition_keys():
    data = b'{"x":1}\n'
    md5 = hashlib.md5(data).hexdigest()  # the same non-security hash Kinesis uses
    assert partition_key_for("abc", data) == "abc"
    assert partition_key_for(42, data) == "42"
    assert partition_key_for("k" * 256, data) == "k" * 256
    assert partition_key_for("k" * 257, data) == hashlib.md5(b"k" * 257).hexdigest()
    for value in (None, "", True, {"a": 1}, [1]):
        assert partition_key_for(value, data) == md5


def test_records_from_lines():
    lines = [
        b'{"event_id":"e-0","amount":1}\n',
        b"   \n",  # blank: skipped, reported
        b"not json at all\r\n",  # sent as-is, keyed by hash, CRLF normalised
        b'{"amount":2}\n',  # no event_id: keyed by hash
        b"\n",
        b'{"event_id":"e-5"}',  # last line without a newline gets one
    ]
    blanks: list[int] = []
    records = list(records_from_lines(lines, on_blank=blanks.append))
    assert blanks == [1, 4]
    assert [r.index for r in records] == [0, 2, 3, 5]
    assert [r.data for r in records] == [
        b'{"event_id":"e-0","amount":1}\n',
        b"not json at all\n",
        b'{"amount":2}\n',
        b'{"event_id":"e-5"}\n',
    ]
    assert records[0].partition_key == "e-0"
    assert records[1].partition_key == hashlib.md5(b"not json at all\n").hexdigest()
    assert records[2].partition_key == hashlib.md5(b'{"amount":2}\n').hexdigest()
    assert records[3].partition_key == "e-5"
    other_field = list(records_from_lines([b'{"event_id":"e","amount":7}\n'], partition_key_field="amount"))
    assert other_field[0].partition_key == "7"


def test_records_from_events_use_the_event_id():
    events = list(generate_events(3, seed=1))
    records = list(records_from_events(events))
    assert [r.partition_key for r in records] == [e["event_id"] for e in events]
    assert [r.data for r in records] == [to_json_line(e) for e in events]
    by_tier = list(records_from_events(events, partition_key_field="customer_tier"))
    assert [r.partition_key for r in by_tier] == [e["customer_tier"] for e in events]


def test_backoff_is_full_jitter_capped_exponential():
    top = KinesisProducer(FakeKinesis(), "s", base_delay=0.1, max_delay=5.0, rand=lambda: 1.0)
    assert [top.backoff(k) for k in range(8)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
    assert KinesisProducer(FakeKinesis(), "s", rand=lambda: 0.0).backoff(5) == 0.0


def test_stream_arn_is_passed_as_stream_arn():
    client = FakeKinesis()
    arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/events"
    KinesisProducer(client, arn).send([Record(0, b"x\n", "k")])
    assert producer.stream_target(arn) == {"StreamARN": arn}
    assert producer.stream_target("events") == {"StreamName": "events"}


# --- Bad arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--count", "10"], "the following arguments are required: --stream"),
        (["--stream", "s"], "one of the arguments --count --file is required"),
        (["--stream", "s", "--count", "10", "--file", "x"], "not allowed with argument"),
        (["--stream", "s", "--count", "-1"], "must be >= 0, got -1"),
        (["--stream", "s", "--count", "ten"], "not an integer"),
        (["--stream", "s", "--file", "/nonexistent/events.jsonl"], "no such file"),
        (["--stream", "s", "--file", "-", "--seed", "3"], "--seed only applies to --count"),
        (["--stream", "s", "--file", "-", "--start", "2026-11-20"], "--start only applies to --count"),
        (["--stream", "s", "--count", "1", "--start", "yesterday"], "not an ISO-8601 date or time"),
        (["--stream", "bad name!", "--count", "1"], "neither a stream name"),
        (["--stream", "s", "--count", "1", "--partition-key-field", "nope"], "not an event field"),
        (["--stream", "s", "--count", "1", "--max-retries", "-2"], "must be >= 0"),
        (["--stream", "s", "--count", "1", "--endpoint-url", "localhost:5000"], "must start with http"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        producer.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("python -m worked_example.producer: error:")
    assert message in err[0]


def test_missing_region_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(SystemExit) as exit_info:
        producer.main(["--stream", "s", "--count", "1"])
    assert exit_info.value.code == 2
    assert "no AWS region" in capsys.readouterr().err
