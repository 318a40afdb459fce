"""A client of the fraud endpoint: generated events in, one probability per event out, and a summary.

    python -m worked_example.score --endpoint mlspec-endpoint --events 200
    python -m worked_example.score --endpoint NAME --events 1000 --batch 50 --shift amount=100
    python -m worked_example.score --endpoint NAME --events 100 --endpoint-url http://localhost:5000

Each request is what a real client sends: raw events as the generator writes them, without the label, as
``application/json`` (one event, the default) or ``application/jsonlines`` (``--batch K`` events per request),
``Accept: text/csv``; the answer is one probability per event, one a line. The generator's drift options
(``--shift``, ``--scale``, ``--drop``, ``--as-string``) send shifted, incomplete or mistyped traffic, to watch
the drift job or the endpoint's validation. The summary: requests, errors by HTTP status, latency p50/p90/p99
and the distribution of the scores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from worked_example.generator import Drift, generate_events, non_negative_int
from worked_example.schema import LABEL

#: Score buckets of the summary: [0, 0.1), [0.1, 0.5), [0.5, 0.9), [0.9, 1].
BUCKETS = (0.1, 0.5, 0.9)
MAX_BATCH = 1000


@dataclass
class Summary:
    """What the run measured."""

    requests: int = 0
    events: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # HTTP status (or error code) -> requests
    latencies_ms: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, latency_ms: float, scores: list[float] | None = None, error: str | None = None) -> None:
        self.requests += 1
        self.latencies_ms.append(latency_ms)
        if error is not None:
            self.errors[error] += 1
        else:
            self.scores.extend(scores or [])

    def lines(self) -> list[str]:
        out = [f"requests: {self.requests} ({self.events} events), scored: {len(self.scores)}"]
        out.append("errors: " + (", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"))
        if self.latencies_ms:
            p50, p90, p99 = (percentile(self.latencies_ms, q) for q in (50, 90, 99))
            out.append(f"latency ms: p50 {p50:.1f}, p90 {p90:.1f}, p99 {p99:.1f}")
        if self.scores:
            counts = Counter(sum(score >= edge for edge in BUCKETS) for score in self.scores)
            labels = ("<0.1", "0.1-0.5", "0.5-0.9", ">=0.9")
            share = ", ".join(f"{label}: {counts[i]}" for i, label in enumerate(labels))
            out.append(f"scores: mean {statistics.fmean(self.scores):.4f}, {share}")
            out.append(f"flagged as fraud (>= 0.5): {sum(s >= 0.5 for s in self.scores)}")
        return out


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile, nearest rank (the value a share ``q`` % of the requests were at or below)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def requests(events: Iterable[dict[str, Any]], batch: int) -> Iterable[tuple[str, str, int]]:
    """``(body, content type, events in it)``: one JSON event each, or ``batch`` JSON lines."""
    if batch <= 1:
        for event in events:
            yield json.dumps(event), "application/json", 1
        return
    chunk: list[str] = []
    for event in events:
        chunk.append(json.dumps(event))
        if len(chunk) == batch:
            yield "".join(line + "\n" for line in chunk), "application/jsonlines", len(chunk)
            chunk = []
    if chunk:
        yield "".join(line + "\n" for line in chunk), "application/jsonlines", len(chunk)


def parse_scores(body: str, expected: int) -> list[float]:
    """The answer: one probability a line, as many as events sent."""
    scores = [float(line) for line in body.splitlines() if line.strip()]
    if len(scores) != expected:
        raise ValueError(f"{expected} events sent, {len(scores)} scores answered")
    return scores


Invoke = Callable[[str, str], str]  # (body, content type) -> the answer's body; raises on a non-200 answer


def run(invoke: Invoke, events: Iterable[dict[str, Any]], batch: int, progress: Any = None) -> Summary:
    """Send every request, timing each; an error is counted by its status (``error_code``), not raised."""
    summary = Summary()
    for body, content_type, count in requests(events, batch):
        summary.events += count
        started = time.perf_counter()
        try:
            answer = invoke(body, content_type)
        except Exception as exc:  # every failure is a counted outcome of the run
            summary.add((time.perf_counter() - started) * 1000, error=error_code(exc))
        else:
            elapsed = (time.perf_counter() - started) * 1000
            try:
                summary.add(elapsed, parse_scores(answer, count))
            except ValueError:
                summary.add(elapsed, error="bad answer")
        if progress is not None:
            progress.update(count)
    return summary


def error_code(exc: Exception) -> str:
    """The HTTP status of a botocore ``ClientError`` (SageMaker runtime's ``ModelError`` carries the container's
    ``OriginalStatusCode``), else the exception's name."""
    response = getattr(exc, "response", None) or {}
    status = response.get("OriginalStatusCode") or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else type(exc).__name__


def endpoint_invoker(endpoint: str, endpoint_url: str | None, region: str | None) -> Invoke:
    import boto3

    client = boto3.client("sagemaker-runtime", endpoint_url=endpoint_url, region_name=region)

    def invoke(body: str, content_type: str) -> str:
        response = client.invoke_endpoint(
            EndpointName=endpoint, Body=body.encode(), ContentType=content_type, Accept="text/csv"
        )
        return response["Body"].read().decode()

    return invoke


def _pair(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not (sep and name):
            raise ValueError(text)
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: FIELD=NUMBER, e.g. amount=100") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m worked_example.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="the endpoint's name (the serving stack's EndpointName)")
    parser.add_argument("--events", type=non_negative_int, default=100, help="events to send (default 100)")
    parser.add_argument("--batch", type=non_negative_int, default=1, help=f"events per request, 1..{MAX_BATCH}")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--endpoint-url", help="another SageMaker runtime endpoint (the local sandbox's server)")
    parser.add_argument("--region", help="AWS region (default: the profile's)")
    parser.add_argument("--shift", type=_pair, action="append", default=[], help="FIELD=OFFSET, repeatable")
    parser.add_argument("--scale", type=_pair, action="append", default=[], help="FIELD=FACTOR, repeatable")
    parser.add_argument("--drop", action="append", default=[], help="leave FIELD out of every event")
    parser.add_argument("--as-string", action="append", default=[], help="send FIELD's value as a string")
    return parser


def drift_of(args: argparse.Namespace) -> Drift:
    """The generator's drift from the options; the label is always left out (a client does not know it)."""
    return Drift(
        shift=dict(args.shift),
        scale=dict(args.scale),
        drop=tuple(dict.fromkeys([*args.drop, LABEL])),
        as_string=tuple(args.as_string),
    )


def main(argv: Sequence[str] | None = None, invoke: Invoke | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= MAX_BATCH:
        parser.error(f"--batch={args.batch}: 1 to {MAX_BATCH} events per request")
    try:
        drift = drift_of(args)
    except ValueError as exc:
        parser.error(str(exc))
    events = generate_events(args.events, args.seed, drift=drift)
    invoke = invoke or endpoint_invoker(args.endpoint, args.endpoint_url, args.region)
    from tqdm import tqdm

    with tqdm(total=args.events, unit="event", file=sys.stderr, disable=None) as progress:
        summary = run(invoke, events, args.batch, progress)
    print("\n".join(summary.lines()))
    return 0 if not summary.errors else 1


if __name__ == "__main__":
    sys.exit(main())
