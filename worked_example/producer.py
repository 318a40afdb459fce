"""Batched Kinesis Data Streams producer for the worked example: ``python -m worked_example.producer``.

It sends generated events (``--count N --seed S``) or the lines of a JSON Lines file (``--file PATH``)
to a stream with ``PutRecords``, the batch API. What a reader should take away:

**Why batch.** ``PutRecord`` costs one HTTPS round trip per record; ``PutRecords`` carries up to 500.
Per-shard write capacity (1 MiB/s or 1,000 records/s) is the same either way, but a single producer
thread doing one round trip per record tops out at a few hundred records per second, and every
request is a signed API call. ``bench/bench_producer.py`` measures the difference.

**The limits a batch must respect** (``KinesisLimits``; the API rejects the *whole* request otherwise):

- at most 500 records per ``PutRecords`` request;
- at most 5 MiB per request, counting every record's data *and* partition key;
- at most 1 MiB per record (data + partition key). This is the default stream setting; since late
  2025 a stream can be raised to 10 MiB with ``UpdateMaxRecordSize``, in which case pass a larger
  ``KinesisLimits.max_record_bytes`` to the Python API. Note that Firehose, the next hop in this
  project, buffers records of at most 1,000 KiB, so the worked example keeps records small.
- a partition key is 1 to 256 Unicode characters. Kinesis hashes it with MD5 to pick the shard, so a
  high-cardinality key (``event_id``) spreads load evenly across shards.

Batches are packed greedily: records are added in order until the next one would break the count or
byte cap, then the batch is sent. A record that can never fit (over 1 MiB) is not sent at all: it is
reported with its index and makes the run exit 1, while the other records are still sent.

**Partial failures.** ``PutRecords`` is not atomic: HTTP 200 can come back with ``FailedRecordCount > 0``
and, for each failed entry, an ``ErrorCode`` (``ProvisionedThroughputExceededException`` when a shard is
over its write limit, ``InternalFailure``). The response entries are in request order, so the producer
re-sends exactly the failed entries, after an exponential backoff with *full jitter* (sleep a uniform
random time in ``[0, min(cap, base * 2**attempt)]``: many producers retrying at once spread out instead
of hitting the hot shard again in lockstep). A whole-request throttling error
(``ProvisionedThroughputExceededException``, ``LimitExceededException``, ``ThrottlingException``,
``KMSThrottlingException``) or an HTTP 5xx is retried the same way. Anything else
(``ResourceNotFoundException``, ``AccessDeniedException``, validation errors, missing credentials) will
not get better by retrying: the producer stops with one clear line and exit status 3.

**Delivery semantics.** Kinesis is at-least-once: a request that timed out may still have been written,
and retrying it writes the records again. Consumers must tolerate duplicates (the worked example's
``event_id`` is the deduplication key). Retried records can also overtake later ones, so ``PutRecords``
does not preserve order within a partition key; when strict per-key order matters, use ``PutRecord``
with ``SequenceNumberForOrdering`` (and accept the lower throughput).

**Stopping early.** A circuit breaker stops the run after ``--max-consecutive-failures`` requests in a row
failed as a whole, instead of retrying every remaining batch against a stream that is down; a response
that does not have the request's shape (``response_entries``) is fatal too. Whatever stops a run (SIGINT,
SIGTERM, a fatal error), the summary lists every record not confirmed written (in flight, waiting for a
retry, not sent yet) by input index, and the index to resume from with ``--start-index``.

**Exit status.** 0 every record was written; 1 some records were not (over the size limit, or given up
on after ``--max-retries``), each reported on stderr with its 0-based index; 2 bad arguments;
3 a fatal error stopped the run (a non-retryable AWS error, a malformed response, the circuit breaker);
130 interrupted (SIGINT or SIGTERM). Blank lines in ``--file`` input are skipped and counted in the
summary, never sent (Kinesis rejects empty data, and a blank line is not an event).

The structure follows the project's rule for runtime code: ``KinesisProducer``, ``iter_batches`` and the
record builders are pure logic that take a boto3 client (tests pass moto or a botocore ``Stubber``);
``main(argv)`` is the thin command-line entry.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any, NoReturn

from worked_example.generator import add_label_bias_argument, non_negative_int, to_json_line
from worked_example.schema import ID_FIELD, field_names

# ---------------------------------------------------------------------------------------------------
# Limits and error classification
# ---------------------------------------------------------------------------------------------------

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class KinesisLimits:
    """The ``PutRecords`` limits the batcher packs against (defaults: the documented API limits)."""

    max_records_per_request: int = 500
    max_request_bytes: int = 5 * MiB  # sum over the request of len(data) + len(partition key)
    max_record_bytes: int = 1 * MiB  # len(data) + len(partition key), stream default
    max_partition_key_chars: int = 256


DEFAULT_LIMITS = KinesisLimits()

#: Error codes worth retrying: the request (or entry) may succeed later without any change on our side.
RETRYABLE_ERROR_CODES: frozenset[str] = frozenset(
    {
        "ProvisionedThroughputExceededException",  # shard write limit (entry or whole request)
        "LimitExceededException",  # too many concurrent control/data operations
        "ThrottlingException",
        "Throttling",
        "KMSThrottlingException",  # the stream's KMS key is being throttled
        "InternalFailure",  # per-entry internal error
        "InternalFailureException",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

#: Hints printed with a fatal error: the next thing the user should check.
_FATAL_HINTS: Mapping[str, str] = {
    "ResourceNotFoundException": "check --stream, --region and, for a local stream, --endpoint-url",
    "AccessDeniedException": "the caller needs kinesis:PutRecords on the stream "
    "(and kms:GenerateDataKey on the stream's KMS key)",
    "UnrecognizedClientException": "the credentials are not valid for this endpoint",
    "ExpiredTokenException": "the session credentials have expired; refresh them",
    "KMSAccessDeniedException": "the caller needs kms:GenerateDataKey on the stream's KMS key",
    "KMSDisabledException": "the stream's KMS key is disabled",
    "NoCredentialsError": "configure AWS credentials (environment, profile or role)",
}


def is_retryable(error_code: str, http_status: int | None = None) -> bool:
    """True when an error is transient: a throttling/internal code, or any HTTP 5xx response."""
    return error_code in RETRYABLE_ERROR_CODES or (http_status is not None and http_status >= 500)


# ---------------------------------------------------------------------------------------------------
# Records and the report
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One Kinesis record: its 0-based input index (event number or file line), data and key."""

    index: int
    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        """Bytes this record counts against the request and record limits (data + UTF-8 key)."""
        return len(self.data) + len(self.partition_key.encode("utf-8"))

    def entry(self) -> dict[str, Any]:
        """The ``PutRecords`` request entry (boto3 base64-encodes ``Data`` itself)."""
        return {"Data": self.data, "PartitionKey": self.partition_key}


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """A record that was not written, with the reason."""

    index: int
    error_code: str
    message: str

    def line(self) -> str:
        return f"record {self.index}: {self.error_code}: {self.message}"


@dataclass
class SendReport:
    """What happened during a run; ``summary()`` renders it as one paragraph.

    Besides the counts it tracks where the run is, so that a run stopped at any point (a signal, a fatal
    error) can say exactly which records were not confirmed written: ``batch_end`` is one past the last
    index of the batches started so far, ``in_flight`` the records of the current batch that were sent (or
    wait for a retry) without being confirmed, ``written_in_batch`` those of the current batch already
    written. Every index below ``resume_index()`` is settled: written, given up on, oversized or blank.
    """

    sent: int = 0
    sent_bytes: int = 0
    requests: int = 0  # PutRecords calls made, including failed and retried ones
    retries: int = 0  # calls that re-sent records after a partial or whole-request failure
    throttled_requests: int = 0  # whole-request retryable errors (a subset of requests)
    failed: list[RecordFailure] = field(default_factory=list)  # given up on after retries
    oversized: list[RecordFailure] = field(default_factory=list)  # over max_record_bytes, never sent
    blank_lines: list[int] = field(default_factory=list)  # skipped input lines (file mode)
    elapsed: float = 0.0
    stopped: str | None = None  # set when a fatal error or an interrupt ended the run early
    first_unsent_index: int | None = None
    start_index: int = 0  # the first input index of this run (--start-index)
    total: int | None = None  # one past the last input index, when known (--count, or the lines of a file)
    batch_end: int | None = None  # one past the last index of the batches started so far (None: start_index)
    in_flight: list[int] = field(default_factory=list)
    written_in_batch: list[int] = field(default_factory=list)
    resume_args: str = ""  # what else a resumed run must repeat (generated events: their first event time)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.oversized and self.stopped is None

    @property
    def records_per_second(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def begin_batch(self, indexes: Sequence[int]) -> None:
        self.in_flight = list(indexes)
        self.written_in_batch = []
        self.batch_end = indexes[-1] + 1

    def resume_index(self) -> int:
        """The index to resume from: the first record of the current batch not confirmed, else the next batch."""
        if self.in_flight:
            return min(self.in_flight)
        return self.start_index if self.batch_end is None else self.batch_end

    def unconfirmed(self) -> list[tuple[int, int | None]]:
        """Inclusive ranges of the input indexes from ``resume_index()`` on that are not confirmed written (in
        flight, waiting for a retry, or not sent yet); an end of None means "to the end of the input"."""
        start = self.resume_index()
        settled = chain(self.written_in_batch, (f.index for f in (*self.failed, *self.oversized)), self.blank_lines)
        ranges: list[tuple[int, int | None]] = []
        for index in sorted({i for i in settled if i >= start}):
            if self.total is not None and index >= self.total:
                break
            if index > start:
                ranges.append((start, index - 1))
            start = index + 1
        if self.total is None:
            ranges.append((start, None))
        elif start < self.total:
            ranges.append((start, self.total - 1))
        return ranges

    def summary(self, stream: str, *, max_indexes: int = 20) -> str:
        """One paragraph: records sent, requests, retries, failures with indexes, elapsed, rate; for a stopped
        run, exactly what was written, what was not, and where to resume."""

        def indexes(items: Sequence[int], where: str = "") -> str:
            return _ranges_text(_compress(items), max_indexes, where)

        attempted = self.sent + len(self.failed) + len(self.oversized)
        of = "" if self.stopped else f" of {attempted}"
        resumed = f" from index {self.start_index}" if self.start_index else ""
        parts = [
            f"Sent {self.sent}{of} records{resumed} ({self.sent_bytes / MiB:.2f} MiB) to {stream} in {self.requests} "
            f"PutRecords {_plural(self.requests, 'request')} ({self.retries} {_plural(self.retries, 'retry')}, "
            f"{self.throttled_requests} throttled) in {self.elapsed:.2f} s ({self.records_per_second:,.0f} records/s)."
        ]
        if self.failed:
            codes = sorted({f.error_code for f in self.failed})
            parts.append(
                f"NOT WRITTEN: {len(self.failed)} ({', '.join(codes)}) at indexes "
                f"{indexes([f.index for f in self.failed], ' (all listed on stderr)')}."
            )
        else:
            parts.append("Given up on: 0." if self.stopped else "Not written: 0.")
        if self.oversized:
            parts.append(
                f"OVERSIZED (not sent): {len(self.oversized)} at indexes "
                f"{indexes([f.index for f in self.oversized], ' (all listed on stderr)')}."
            )
        else:
            parts.append("Oversized: 0.")
        parts.append(
            f"Blank lines skipped: {len(self.blank_lines)}"
            + (f" (line indexes {indexes(self.blank_lines)})." if self.blank_lines else ".")
        )
        if self.stopped:
            parts.append(self.stop_message(max_indexes))
        return " ".join(parts)

    def stop_message(self, max_ranges: int = 20) -> str:
        """What a stopped run wrote and did not write, and the index to resume from."""
        resume = self.resume_index()
        ranges = self.unconfirmed()
        again = sorted(i for i in self.written_in_batch if i >= resume)
        written = f"Written: {self.sent} records"
        if again:
            written += f", {len(again)} of them at or after index {resume} (indexes {_ranges_text(_compress(again))})"
        text = f"STOPPED at record index {resume}: {self.stopped}. {written}."
        if not ranges:
            return text + " Nothing is left to send."
        count = sum(b - a + 1 for a, b in ranges if b is not None)
        how_many = f"{count} records"
        if ranges[-1][1] is None:  # standard input: the end is not known
            tail = f"every record from index {ranges[-1][0]} on"
            how_many = f"{how_many} and {tail}" if count else tail
        text += (
            f" NOT CONFIRMED WRITTEN: {how_many} ({len(self.in_flight)} in flight or waiting for a retry, the "
            f"others not sent yet) at indexes {_ranges_text(ranges, max_ranges, ' (all listed on stderr)')}."
            f" Resume with --start-index {resume}{self.resume_args}"
        )
        if again:
            text += f"; it sends the {len(again)} written records after {resume} again (duplicates, see event_id)"
        return text + "."


def _compress(indexes: Iterable[int]) -> list[tuple[int, int | None]]:
    """Sorted indexes as inclusive ranges of consecutive values: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[int, int | None]] = []
    for i in sorted(indexes):
        last = ranges[-1][1] if ranges else None
        if last is not None and i == last + 1:
            ranges[-1] = (ranges[-1][0], i)
        else:
            ranges.append((i, i))
    return ranges


def _ranges_text(ranges: Sequence[tuple[int, int | None]], limit: int | None = None, where: str = "") -> str:
    """``0-4, 7, 9-end`` (an end of None is the end of the input); beyond ``limit`` ranges, ``..., and N more``."""
    shown = [f"{a}" if a == b else f"{a}-{'end' if b is None else b}" for a, b in ranges[:limit]]
    more = len(ranges) - len(shown)
    return ", ".join(shown) + (f", ... and {more} more {_plural(more, 'range')}{where}" if more > 0 else "")


def _plural(n: int, word: str) -> str:
    if n == 1:
        return word
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


class FatalProducerError(Exception):
    """A non-retryable error: retrying cannot help, so the run stops (exit status 3). Also raised for a
    malformed ``PutRecords`` response and when the circuit breaker opens."""

    def __init__(self, error_code: str, message: str, first_unsent_index: int | None) -> None:
        self.error_code = error_code
        self.message = message
        self.first_unsent_index = first_unsent_index
        hint = _FATAL_HINTS.get(error_code)
        text = f"{error_code}: {message}" + (f" ({hint})" if hint else "")
        super().__init__(" ".join(text.split()))  # always one line, whatever the service sent


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: the run stops and the summary says what was and was not written (exit 130)."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        super().__init__(self.signal_name)


class SignalGuard:
    """Turns SIGINT and SIGTERM into ``Interrupted``, but never inside ``hold()``.

    The producer updates its bookkeeping (what was written, what is in flight) inside ``hold()`` blocks,
    so a signal can never leave it half done: one that arrives there is raised when the block ends. A
    signal anywhere else (during a request, a backoff sleep, reading the input) is raised at once.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._pending: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on (Python lets only the main thread set handlers; elsewhere
        the caller's handling stays, and Ctrl-C still arrives as KeyboardInterrupt)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)

    def ignore(self) -> None:
        """From now on SIGINT and SIGTERM do nothing (until ``restore``)."""
        for signum in self._previous:
            signal.signal(signum, signal.SIG_IGN)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self._depth:
            self._pending = signum
            return
        raise Interrupted(signum)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if not self._depth and self._pending is not None:
            signum, self._pending = self._pending, None
            raise Interrupted(signum)


# ---------------------------------------------------------------------------------------------------
# Building records
# ---------------------------------------------------------------------------------------------------


def _md5_key(data: bytes) -> str:
    # MD5 here is not security: it is the same hash Kinesis uses to map keys to shards, and a 32-char
    # hex digest is a well-spread, deterministic key.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def partition_key_for(value: Any, data: bytes, limits: KinesisLimits = DEFAULT_LIMITS) -> str:
    """The partition key for one record.

    ``value`` is the record's partition-key field (None when absent). A string or number of 1 to 256
    characters is used as-is; a longer one is replaced by its MD5 hex digest (same value -> same key ->
    same shard); anything else (absent, null, empty, boolean, object, array) falls back to the MD5 of
    the record data, which still spreads records evenly.
    """
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value)
        if 1 <= len(text) <= limits.max_partition_key_chars:
            return text
        if text:
            return _md5_key(text.encode("utf-8"))
    return _md5_key(data)


def records_from_events(
    events: Iterable[Mapping[str, Any]], partition_key_field: str = ID_FIELD, start: int = 0
) -> Iterator[Record]:
    """Serialize events with ``to_json_line`` (newline-terminated JSON) and key them, from index ``start`` on."""
    for index, event in enumerate(events):
        if index < start:
            continue
        data = to_json_line(event)
        yield Record(index, data, partition_key_for(event.get(partition_key_field), data))


def records_from_lines(
    lines: Iterable[bytes],
    partition_key_field: str = ID_FIELD,
    on_blank: Callable[[int], None] | None = None,
    start: int = 0,
) -> Iterator[Record]:
    """Turn JSON Lines input into records: one non-blank line = one record, index = 0-based line number.

    The data is the line exactly as read, with its line terminator (``\\n`` or ``\\r\\n``) normalised to
    one ``\\n`` (added if the last line had none), so the objects Firehose writes stay JSON Lines. A line
    that is not valid JSON is still sent as-is (Kinesis carries bytes; rejecting malformed events is the
    ETL's job, where they land in a quarantine prefix); it is keyed by the hash of its content. Blank
    (whitespace-only) lines are not sent and are passed to ``on_blank``. Lines before ``start`` are skipped.
    """
    for index, raw in enumerate(lines):
        if index < start:
            continue
        content = raw[:-1] if raw.endswith(b"\n") else raw
        if content.endswith(b"\r"):
            content = content[:-1]
        if not content.strip():
            if on_blank is not None:
                on_blank(index)
            continue
        data = content + b"\n"
        value = None
        try:
            decoded = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            decoded = None
        if isinstance(decoded, dict):
            value = decoded.get(partition_key_field)
        yield Record(index, data, partition_key_for(value, data))


# ---------------------------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------------------------


def iter_batches(records: Iterable[Record], limits: KinesisLimits = DEFAULT_LIMITS) -> Iterator[list[Record]]:
    """Pack records greedily, in order, into batches within the count and byte caps of one request.

    Every record must already be within ``limits.max_record_bytes`` (``KinesisProducer`` diverts the
    oversized ones before they get here); a record that is not raises ``ValueError``.
    """
    batch: list[Record] = []
    batch_bytes = 0
    for record in records:
        size = record.size
        if size > limits.max_record_bytes:
            raise ValueError(f"record {record.index} is {size} bytes, over {limits.max_record_bytes}")
        if batch and (len(batch) == limits.max_records_per_request or batch_bytes + size > limits.max_request_bytes):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(record)
        batch_bytes += size
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------------
# Sending with retries
# ---------------------------------------------------------------------------------------------------


def stream_target(stream: str) -> dict[str, str]:
    """``{"StreamARN": ...}`` for an ARN, else ``{"StreamName": ...}`` (AWS recommends the ARN)."""
    return {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}


_Outcome = list[tuple[Record, str, str, bool]]  # (record, error code, message, retryable) per record not written


class KinesisProducer:
    """Sends records with ``PutRecords``: greedy batching, retries of failed entries, full-jitter backoff.

    ``sleep`` and ``rand`` are injectable so tests run instantly and deterministically; ``on_progress``
    is called with a number of records each time records are settled (written, rejected or given up
    on), which is what drives the progress bar; ``on_failure`` gets each ``RecordFailure`` as it
    happens (the CLI prints them to stderr). ``hold`` is the context in which the report is updated
    (``SignalGuard.hold`` in the CLI, so that a signal cannot interrupt an update halfway).

    **Circuit breaker.** ``max_consecutive_failures`` whole-request failures in a row (throttling, HTTP 5xx,
    network errors), across batches, stop the run with ``FatalProducerError("CircuitBreakerOpen", ...)``
    instead of retrying every remaining batch ``max_retries`` times against a stream that is down. Any
    response that comes back (even with failed entries) closes the breaker again.
    """

    def __init__(
        self,
        client: Any,
        stream: str,
        *,
        max_retries: int = 8,
        max_consecutive_failures: int = 20,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        limits: KinesisLimits = DEFAULT_LIMITS,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.perf_counter,
        on_progress: Callable[[int], None] | None = None,
        on_failure: Callable[[RecordFailure], None] | None = None,
        hold: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if max_consecutive_failures < 1:
            raise ValueError("max_consecutive_failures must be >= 1")
        self._client = client
        self._target = stream_target(stream)
        self.max_retries = max_retries
        self.max_consecutive_failures = max_consecutive_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.limits = limits
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._on_progress = on_progress or (lambda n: None)
        self._on_failure = on_failure or (lambda failure: None)
        self._hold = hold
        self._consecutive_failures = 0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in ``[0, min(max_delay, base_delay * 2**attempt)]`` (attempt from 0)."""
        return self._rand() * min(self.max_delay, self.base_delay * (2**attempt))

    def send(self, records: Iterable[Record], report: SendReport | None = None) -> SendReport:
        """Send every record; never drop one silently.

        Returns the report (``report`` if given, which the CLI uses to count blank lines as it reads).
        On a non-retryable error it raises ``FatalProducerError`` after recording in the report where the
        run stopped; everything counted up to then is accurate, and so it is after an interrupt.
        """
        report = report if report is not None else SendReport()
        started = self._clock()
        try:
            for batch in iter_batches(self._divert_oversized(records, report), self.limits):
                self._send_batch(batch, report)
        except FatalProducerError as exc:
            report.stopped = str(exc)
            report.first_unsent_index = exc.first_unsent_index
            raise
        finally:
            report.elapsed = self._clock() - started
        return report

    def _divert_oversized(self, records: Iterable[Record], report: SendReport) -> Iterator[Record]:
        limit = self.limits.max_record_bytes
        for record in records:
            if record.size > limit:
                failure = RecordFailure(
                    record.index,
                    "RecordTooLarge",
                    f"{record.size} bytes (data + partition key) exceeds the {limit}-byte record limit",
                )
                with self._hold():
                    report.oversized.append(failure)
                self._on_failure(failure)
                self._on_progress(1)
            else:
                yield record

    def _give_up(self, record: Record, code: str, message: str, report: SendReport) -> None:
        failure = RecordFailure(record.index, code, message)
        report.failed.append(failure)
        report.in_flight.remove(record.index)
        self._on_failure(failure)
        self._on_progress(1)

    def _send_batch(self, batch: list[Record], report: SendReport) -> None:
        """Send one batch; re-send only what failed, until written, given up on, or a fatal error."""
        with self._hold():
            report.begin_batch([r.index for r in batch])
        pending = batch
        attempt = 0  # retries done so far for this batch
        while pending:
            with self._hold():
                report.retries += 1 if attempt else 0
                report.requests += 1
            failed = self._put(pending, report)
            with self._hold():
                retry = self._settle(pending, failed, attempt, report)
            if retry:
                self._sleep(self.backoff(attempt))
                attempt += 1
            pending = retry
        report.written_in_batch = []

    def _put(self, pending: list[Record], report: SendReport) -> _Outcome:
        """One PutRecords request: (record, error code, message, retryable) for every record not written."""
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            response = self._client.put_records(Records=[r.entry() for r in pending], **self._target)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = str(error.get("Message", exc))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if not is_retryable(code, status):
                raise FatalProducerError(code, message, pending[0].index) from exc
            with self._hold():
                report.throttled_requests += 1
            return self._whole_request_failed(pending, code, message)
        except (BotoConnectionError, HTTPClientError) as exc:
            # Network trouble (refused, reset, timed out): retryable, but the request may have been
            # written already, so a retry can duplicate records (at-least-once delivery).
            return self._whole_request_failed(pending, type(exc).__name__, str(exc))
        except BotoCoreError as exc:  # no credentials, bad parameters, ...: retrying cannot help
            raise FatalProducerError(type(exc).__name__, str(exc), pending[0].index) from exc
        self._consecutive_failures = 0
        # Entries come back in request order, one per record: pair them up. (FailedRecordCount says how
        # many failed, but it is absent on a full success; the entries are the truth.)
        return [
            (record, str(result["ErrorCode"]), str(result.get("ErrorMessage", "")), is_retryable(result["ErrorCode"]))
            for record, result in zip(pending, response_entries(response, pending), strict=True)
            if "ErrorCode" in result
        ]

    def _whole_request_failed(self, pending: list[Record], code: str, message: str) -> _Outcome:
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.max_consecutive_failures:
            raise FatalProducerError(
                "CircuitBreakerOpen",
                f"{self._consecutive_failures} PutRecords requests in a row failed as a whole (last: {code}: "
                f"{message}); stopped instead of retrying every remaining batch (--max-consecutive-failures)",
                pending[0].index,
            )
        return [(r, code, message, True) for r in pending]

    def _settle(self, pending: list[Record], failed: _Outcome, attempt: int, report: SendReport) -> list[Record]:
        """Count what was written; give up on what retrying cannot fix or has retried enough; return the rest."""
        not_written = {record.index for record, _, _, _ in failed}
        written = [r for r in pending if r.index not in not_written]
        report.sent += len(written)
        report.sent_bytes += sum(r.size for r in written)
        written_indexes = {r.index for r in written}
        report.written_in_batch += sorted(written_indexes)
        report.in_flight = [i for i in report.in_flight if i not in written_indexes]
        self._on_progress(len(written))
        retry: list[Record] = []
        for record, code, message, retryable in failed:
            if not retryable:  # an entry-level error that retrying cannot fix: report it now
                self._give_up(record, code, message, report)
            elif attempt >= self.max_retries:
                self._give_up(record, code, f"{message} (gave up after {attempt} retries)", report)
            else:
                retry.append(record)
        return retry


def response_entries(response: Any, pending: Sequence[Record]) -> list[Mapping[str, Any]]:
    """The ``Records`` of a ``PutRecords`` response, checked: one entry per record sent, each either written
    (``SequenceNumber``) or failed (``ErrorCode``), and ``FailedRecordCount`` (when present) agreeing.

    Anything else is a ``FatalProducerError("MalformedResponse")``: pairing entries with records by position
    is only right when the response has exactly the request's shape, so nothing of the batch is confirmed.
    """
    entries = response.get("Records") if isinstance(response, Mapping) else None

    def malformed(what: str) -> FatalProducerError:
        return FatalProducerError("MalformedResponse", f"PutRecords response {what}", pending[0].index)

    if not isinstance(entries, list):
        raise malformed("has no Records list")
    if len(entries) != len(pending):
        raise malformed(f"has {len(entries)} entries for the {len(pending)} records sent")
    for position, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or ("ErrorCode" in entry) == ("SequenceNumber" in entry):
            raise malformed(f"entry {position} has neither or both of SequenceNumber and ErrorCode")
    failed = response.get("FailedRecordCount")
    if failed is not None and failed != sum("ErrorCode" in e for e in entries):
        raise malformed(f"says FailedRecordCount={failed!r} but its entries say otherwise")
    return entries


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------

_STREAM_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
_STREAM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kinesis:([a-z0-9-]+):\d{12}:stream/[a-zA-Z0-9_.-]{1,128}$")

EXIT_OK, EXIT_RECORDS_LOST, EXIT_USAGE, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _stream(text: str) -> str:
    if _STREAM_NAME_RE.match(text) or _STREAM_ARN_RE.match(text):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is neither a stream name (1-128 of a-z A-Z 0-9 _ . -) nor a Kinesis stream ARN"
    )


def _breaker_threshold(text: str) -> int:
    value = non_negative_int(text)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"must be from 1 to 10000, got {value}")
    return value


class _OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...``) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _start_date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date or time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(
        prog="python -m worked_example.producer",
        description="Send worked-example events (or JSON Lines) to a Kinesis data stream with PutRecords.",
        epilog="Exit status: 0 all records written; 1 some records not written (listed on stderr); "
        "2 bad arguments; 3 fatal error (non-retryable AWS error, malformed response, circuit breaker open); "
        "130 interrupted (SIGINT or SIGTERM). A stopped run prints the index to resume from (--start-index).",
    )
    parser.add_argument("--stream", required=True, type=_stream, help="stream name or ARN")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--count", type=non_negative_int, help="send N generated events")
    source.add_argument("--file", help="send the lines of a JSON Lines file ('-' = standard input)")
    parser.add_argument("--seed", type=int, help="generator seed for --count (default 0)")
    parser.add_argument(
        "--start",
        type=_start_date,
        help="first event time of --count, ISO-8601 (default: midnight UTC 3 days before today, so the events "
        "fill the last 3 days; resuming a run on another day needs the first run's --start)",
    )
    parser.add_argument("--endpoint-url", help="Kinesis endpoint, e.g. http://localhost:5000 for moto")
    parser.add_argument("--region", help="AWS region (default: from the ARN, else the AWS config)")
    parser.add_argument(
        "--max-retries",
        type=non_negative_int,
        default=8,
        help="retries per batch for throttled or failed entries (default %(default)s)",
    )
    parser.add_argument(
        "--max-consecutive-failures",
        type=_breaker_threshold,
        default=20,
        help="stop after this many PutRecords requests in a row failed as a whole (default %(default)s)",
    )
    parser.add_argument(
        "--start-index",
        type=non_negative_int,
        default=0,
        help="skip the records before this input index: resume a stopped run (default %(default)s)",
    )
    parser.add_argument(
        "--partition-key-field",
        default=ID_FIELD,
        help="JSON field used as partition key (default %(default)s; lines without it use a hash)",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    add_label_bias_argument(parser)  # for --count: bias the generated labels of one facet value
    return parser


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.file is not None and args.seed is not None:
        parser.error("--seed only applies to --count")
    if args.file is not None and args.start is not None:
        parser.error("--start only applies to --count")
    if args.file not in (None, "-") and not os.path.isfile(args.file):
        parser.error(f"--file: no such file: {args.file}")
    if not args.partition_key_field:
        parser.error("--partition-key-field must not be empty")
    if args.count is not None and args.partition_key_field not in field_names():
        parser.error(
            f"--partition-key-field {args.partition_key_field!r} is not an event field "
            f"(one of: {', '.join(field_names())})"
        )
    args.total = args.count if args.count is not None else None
    if args.file not in (None, "-"):
        args.total = _count_lines(args.file)
    if args.total is not None and args.start_index > args.total:
        parser.error(f"--start-index {args.start_index} is past the end of the input ({args.total} records)")
    if args.endpoint_url and not args.endpoint_url.startswith(("http://", "https://")):
        parser.error(f"--endpoint-url must start with http:// or https://, got {args.endpoint_url!r}")
    arn = _STREAM_ARN_RE.match(args.stream)
    args.region = args.region or (arn.group(1) if arn else None) or _configured_region()
    if not args.region:
        parser.error("no AWS region: pass --region, set AWS_DEFAULT_REGION, or give the stream as an ARN")
    return args


def _configured_region() -> str | None:
    import boto3

    return boto3.session.Session().region_name


def _make_client(args: argparse.Namespace) -> Any:
    import boto3
    from botocore.config import Config

    # botocore's own retries are switched off (one attempt per call): the producer retries with
    # visibility (it counts requests and retries, and re-sends only the failed entries).
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=30)
    return boto3.client("kinesis", region_name=args.region, endpoint_url=args.endpoint_url, config=config)


def _count_lines(path: str) -> int:
    """Number of lines in a file (a last line without a newline counts), read in 1 MiB chunks."""
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(MiB), b""):
            count += chunk.count(b"\n")
            last = chunk
    return count + (0 if last.endswith(b"\n") else 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: parse, send, print the summary; return the exit status.

    Whatever ends the run (the end of the input, a fatal error, SIGINT or SIGTERM), the summary is printed
    and says which records were not confirmed written and where to resume; never a traceback.
    """
    from tqdm import tqdm

    args = _parse_args(argv)
    report = SendReport(start_index=args.start_index, total=args.total)
    total = None if args.total is None else args.total - args.start_index
    # disable=None lets tqdm switch itself off when stderr is not a terminal (CI logs stay clean).
    bar = tqdm(
        total=total,
        unit="rec",
        desc="PutRecords",
        file=sys.stderr,
        disable=True if args.no_progress else None,
        dynamic_ncols=True,
    )
    guard = SignalGuard()
    guard.install()
    try:
        try:
            status = _send(args, report, bar, guard)
        except Interrupted as exc:  # a signal in the last instants of the run (closing the input)
            report.stopped, status = f"interrupted by {exc.signal_name}", EXIT_INTERRUPTED
        guard.ignore()  # the run is over: a late signal must not cut the summary short
        print(report.summary(args.stream))
        if report.stopped:
            _print_unconfirmed(report)
    finally:
        guard.restore()
    if status == EXIT_OK and not report.ok:
        status = EXIT_RECORDS_LOST
    return status


def _send(args: argparse.Namespace, report: SendReport, bar: Any, guard: SignalGuard) -> int:
    """Read the input and send it; turn every way the run can stop into a status and ``report.stopped``."""
    from botocore.exceptions import BotoCoreError

    def on_blank(index: int) -> None:
        report.blank_lines.append(index)
        bar.update(1)

    def on_failure(item: RecordFailure) -> None:
        bar.write(item.line(), file=sys.stderr)  # prints above the bar without breaking it

    handle = None
    status = EXIT_OK
    try:
        if args.count is not None:
            from worked_example.generator import generate_events, relative_start

            start = args.start or relative_start()
            report.resume_args = f" --start {start.isoformat()}"  # the same dates on any later day
            seed = args.seed if args.seed is not None else 0
            events = generate_events(args.count, seed, start=start, label_bias=args.label_bias)
            records: Iterable[Record] = records_from_events(events, args.partition_key_field, args.start_index)
        else:
            handle = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
            records = records_from_lines(handle, args.partition_key_field, on_blank, args.start_index)
        producer = KinesisProducer(
            _make_client(args),
            args.stream,
            max_retries=args.max_retries,
            max_consecutive_failures=args.max_consecutive_failures,
            on_progress=bar.update,
            on_failure=on_failure,
            hold=guard.hold,
        )
        producer.send(records, report)
    except FatalProducerError as exc:
        status = _stop(report, bar, f"{exc}", EXIT_FATAL)
    except BotoCoreError as exc:  # e.g. a client that cannot be created for this endpoint/region
        status = _stop(report, bar, f"{type(exc).__name__}: {exc}", EXIT_FATAL)
    except (Interrupted, KeyboardInterrupt) as exc:
        name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
        report.stopped = f"interrupted by {name}"
        status = EXIT_INTERRUPTED
    except Exception as exc:  # last resort (an unreadable input, a broken client): never a traceback
        status = _stop(report, bar, f"{type(exc).__name__}: {exc}", EXIT_FATAL)
    finally:
        bar.close()
        if handle is not None and handle is not sys.stdin.buffer:
            handle.close()
    return status


def _stop(report: SendReport, bar: Any, message: str, status: int) -> int:
    """A fatal error: one line on stderr, and the reason in the report (its summary tells the rest)."""
    bar.close()
    line = " ".join(message.split())
    print(f"error: {line}", file=sys.stderr)
    report.stopped = line
    return status


def _print_unconfirmed(report: SendReport, shown: int = 20) -> None:
    """When the summary had to shorten the list of records not confirmed written, the whole list on stderr."""
    ranges = report.unconfirmed()
    if len(ranges) > shown:
        print(f"not confirmed written (all): {_ranges_text(ranges)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
