"""Benchmark: the batched producer (PutRecords) against a naive loop of one PutRecord per event.

Run it with ``python -m bench.bench_producer`` (``--count``, ``--shards``, ``--seed`` to vary it). It starts
a moto server on 127.0.0.1 on a free port (nothing leaves the machine; dummy credentials), creates one
stream per mode, sends the same generated events both ways, checks that every record arrived in each
stream, and prints for both modes: requests, requests per record, elapsed time, records per second, and
the ratios against the targets (>= 100x fewer requests, >= 20x the throughput).

Why the gap: each API call is a signed HTTPS round trip. PutRecords carries up to 500 records (5 MiB) per
round trip, so the request count falls by ~500x and the per-request overhead is paid once per batch.
Against moto the round trip is a local HTTP call of well under a millisecond plus moto's own work, so
the measured throughput ratio is a *lower* bound: over the internet to a real endpoint each round trip
costs milliseconds, which the naive loop pays 10,000 times. What batching does not change is a shard's
write capacity (1 MiB/s or 1,000 records/s per shard): against real Kinesis, size the stream for the
rate you need, or the batched producer will meet throttling (and retry it).

Prints figures; asserts nothing about speed. Exit status 1 only if records went missing (a correctness
failure, not a slow run).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as `python bench/bench_producer.py`
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from tqdm import tqdm  # noqa: E402

from worked_example.generator import generate_events  # noqa: E402
from worked_example.producer import KinesisProducer, Record, records_from_events  # noqa: E402

REQUEST_RATIO_TARGET = 100.0
THROUGHPUT_RATIO_TARGET = 20.0


def count_records(client: Any, stream: str) -> int:
    """Records in a stream: every shard read from TRIM_HORIZON to its end (the local Firehose bridge's reader)."""
    from local_sandbox.firehose_bridge import read_stream

    return sum(1 for _ in read_stream(client, stream))


def run_batched(client: Any, stream: str, records: list[Record]) -> tuple[int, float]:
    with tqdm(total=len(records), unit="rec", desc="batched PutRecords", file=sys.stderr) as bar:
        producer = KinesisProducer(client, stream, on_progress=bar.update)
        start = time.perf_counter()
        report = producer.send(records)
        elapsed = time.perf_counter() - start
    if not report.ok:
        raise RuntimeError(report.summary(stream))
    return report.requests, elapsed


def run_naive(client: Any, stream: str, records: list[Record]) -> tuple[int, float]:
    requests = 0
    start = time.perf_counter()
    for record in tqdm(records, unit="rec", desc="naive PutRecord", file=sys.stderr):
        client.put_record(StreamName=stream, Data=record.data, PartitionKey=record.partition_key)
        requests += 1
    return requests, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_producer", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="events per mode (default %(default)s)")
    parser.add_argument("--shards", type=int, default=4, help="shards per stream (default %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default %(default)s)")
    args = parser.parse_args(argv)

    # Dummy credentials, no profile: the clients below only ever talk to the local moto server.
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(var, None)

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # One attempt per call, as in the producer's CLI: retries are counted by the producer itself.
        client = boto3.client(
            "kinesis",
            region_name="us-east-1",
            endpoint_url=endpoint,
            config=Config(retries={"total_max_attempts": 1}),
        )
        records = list(records_from_events(generate_events(args.count, args.seed)))
        payload_mib = sum(r.size for r in records) / 2**20
        print(
            f"moto server at {endpoint}; {len(records):,} events ({payload_mib:.2f} MiB incl. partition keys), "
            f"{args.shards} shards per stream"
        )
        for stream in ("bench-batched", "bench-naive"):
            client.create_stream(StreamName=stream, ShardCount=args.shards)
            client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0})
        # Warm the connection pool so neither mode pays for the first TCP connect.
        client.describe_stream_summary(StreamName="bench-batched")

        results = {
            "batched (PutRecords)": run_batched(client, "bench-batched", records),
            "naive (PutRecord loop)": run_naive(client, "bench-naive", records),
        }
        arrived = {stream: count_records(client, stream) for stream in ("bench-batched", "bench-naive")}
    finally:
        server.stop()

    print()
    print(f"{'mode':<24}{'requests':>10}{'req/record':>12}{'elapsed s':>11}{'records/s':>12}")
    for mode, (requests, elapsed) in results.items():
        rate = len(records) / elapsed
        print(f"{mode:<24}{requests:>10,}{requests / len(records):>12.4f}{elapsed:>11.2f}{rate:>12,.0f}")
    (batched_requests, batched_s), (naive_requests, naive_s) = results.values()
    request_ratio = naive_requests / batched_requests
    throughput_ratio = naive_s / batched_s
    print()
    verdict = {True: "meets", False: "MISSES"}
    print(
        f"requests: {request_ratio:,.0f}x fewer with batching "
        f"({verdict[request_ratio >= REQUEST_RATIO_TARGET]} the >= {REQUEST_RATIO_TARGET:.0f}x target)"
    )
    print(
        f"throughput: {throughput_ratio:,.1f}x higher with batching "
        f"({verdict[throughput_ratio >= THROUGHPUT_RATIO_TARGET]} the >= {THROUGHPUT_RATIO_TARGET:.0f}x target)"
    )
    print(f"records read back: {arrived['bench-batched']:,} (batched), {arrived['bench-naive']:,} (naive)")
    return 0 if all(n == len(records) for n in arrived.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
