"""Fixtures for the Glue ETL tests: one local SparkSession, and raw zones laid out as Firehose writes them.

Firehose writes the raw zone in one of two modes (the ETL's input):

- json: GZIP-compressed JSON Lines under ``events/dt=YYYY-MM-DD/``, objects named like
  ``mlspec-firehose-1-2026-11-20-10-15-30-<uuid>.gz``; written here byte for byte with ``gzip``;
- parquet: Snappy Parquet with exactly the schema's columns under the same ``dt=`` layout. Firehose's record
  format conversion is not available locally, so Spark writes the Parquet files (``partitionBy("dt")``) as
  its stand-in, and the part files are renamed to Firehose-style names.

The session is configured like a small Glue 5 worker: Spark 3.5 (non-ANSI), UTC session time zone, and
kept small for a 2-core machine (``local[2]``, 4 shuffle partitions, no UI).
"""

from __future__ import annotations

import gzip
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from worked_example.generator import generate_events, to_json_line
from worked_example.schema import FIELDS, parse_timestamp

N_EVENTS = 3000
SEED = 20261120
#: Parameters for the tests: small partition counts for a 2-core machine, everything else the defaults.
TEST_PARAMS: Mapping[str, Any] = {"canonical_partitions": 4, "csv_files": 2}
#: The facets whose pre-training bias the shared runs report (the config's default).
BIAS_FACETS = ("customer_tier", "channel")
#: The runs' reference time (a fixed one, so the reports of two runs compare equal), and the resulting limit
#: of the future_time rule with the default tolerance.
RUN_TIME = datetime(2026, 12, 1, tzinfo=UTC)
NOT_AFTER = RUN_TIME + timedelta(minutes=60)


@pytest.fixture(scope="session")
def spark():
    from ml_constructs.glue_etl.local import local_spark

    session = local_spark("glue-etl-tests")
    yield session
    session.stop()


# --- Firehose layouts ------------------------------------------------------------------------------


def event_date(event: Mapping[str, Any]) -> str:
    """The ``dt`` partition of an event: the UTC date of its event_time."""
    return str(event["event_time"])[:10]


def firehose_name(date: str, index: int, extension: str) -> str:
    """A Firehose-style object name with a reproducible uuid."""
    unique = uuid.uuid5(uuid.NAMESPACE_URL, f"{date}/{index}")
    return f"mlspec-firehose-1-{date}-10-15-{index:02d}-{unique}{extension}"


def write_gzip_lines(path: Path, lines: Iterable[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as out:
        for line in lines:
            out.write(line if line.endswith(b"\n") else line + b"\n")
    return path


def write_raw_json(events: Sequence[Mapping[str, Any]], root: Path, files_per_day: int = 2) -> Path:
    """Write events as Firehose json mode: ``root/events/dt=<date>/<name>.gz``, round-robin over files."""
    by_day: dict[str, list[bytes]] = defaultdict(list)
    for event in events:
        by_day[event_date(event)].append(to_json_line(event))
    events_dir = root / "events"
    for date, lines in sorted(by_day.items()):
        for i in range(files_per_day):
            write_gzip_lines(events_dir / f"dt={date}" / firehose_name(date, i, ".gz"), lines[i::files_per_day])
    return events_dir


def spark_rows(events: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Events as tuples in schema order, with event_time as an aware datetime (a Parquet timestamp)."""
    return [
        (*(parse_timestamp(e[f.name]) if f.type == "timestamp" else e[f.name] for f in FIELDS), event_date(e))
        for e in events
    ]


def write_raw_parquet(spark, events: Sequence[Mapping[str, Any]], root: Path, name: str = "events") -> Path:
    """Write events as Firehose parquet mode (Spark as the local stand-in for the format conversion)."""
    ddl = ", ".join(f"{f.name} {f.type}" for f in FIELDS) + ", dt string"
    target = root / name
    df = spark.createDataFrame(spark_rows(events), ddl).repartition(2)
    df.write.mode("overwrite").option("compression", "snappy").partitionBy("dt").parquet(str(target))
    for day in sorted(target.glob("dt=*")):
        for i, part in enumerate(sorted(day.glob("part-*.parquet"))):
            part.rename(day / firehose_name(day.name[3:], i, ".parquet"))
        for crc in day.glob(".part-*.crc"):
            crc.unlink()
    (target / "_SUCCESS").unlink(missing_ok=True)
    return target


# --- The data: generated events plus deliberately bad records --------------------------------------


@dataclass(frozen=True)
class BadRecord:
    line: bytes
    reason: str


def conflicting_variant(template: Mapping[str, Any]) -> bytes:
    """The template's event id with another amount, chosen so that the template's line has the smaller content
    hash (sha256 of the stripped line, the ETL's survivor rule): the template survives, this one is quarantined."""
    keep = hashlib.sha256(to_json_line(template).strip()).hexdigest()
    for cents in range(1, 100):
        line = to_json_line({**template, "amount": round(template["amount"] + cents / 100, 2)})
        if hashlib.sha256(line.strip()).hexdigest() > keep:
            return line
    raise AssertionError("no variant with a larger hash in 99 tries")  # p = 2**-99


def bad_json_records(template: Mapping[str, Any], duplicate_of: Mapping[str, Any]) -> list[BadRecord]:
    """Bad JSON lines, one per quarantine reason (some reasons more than once), each with the reason the ETL
    must give it."""

    def variant(index: int, **changes: Any) -> bytes:
        event = {**template, "event_id": f"bad-{index:04d}", **changes}
        return to_json_line(event)

    missing_amount = dict(template, event_id="bad-0007")
    del missing_amount["amount"]
    negative_with_cr = variant(25, amount=-3.5).replace(b',"amount"', b',\r"amount"')
    assert b"\r" in negative_with_cr  # a raw CR as JSON whitespace inside the record: must not split it
    return [
        BadRecord(b'{"event_id": "bad-0000", "amount": 12.5,', "unparsable_json"),
        BadRecord(variant(1)[:-1] + variant(2), "unparsable_json"),  # two records on one line
        BadRecord(variant(3, amount="abc"), "wrong_type:amount"),
        BadRecord(variant(4, amount="12.5"), "wrong_type:amount"),  # a number sent as a string
        BadRecord(variant(5, account_age_days=12.5), "wrong_type:account_age_days"),
        BadRecord(variant(6, merchant_category="casino"), "not_allowed:merchant_category"),
        BadRecord(to_json_line(missing_amount), "missing:amount"),
        BadRecord(variant(8, is_fraud=2), "invalid_label:is_fraud"),
        BadRecord(variant(9, event_time="2026-11-21 10:00:00"), "bad_timestamp:event_time"),
        BadRecord(variant(10, event_time="2026-02-30T10:00:00.000Z"), "bad_timestamp:event_time"),
        BadRecord(variant(11, customer_tier="diamond"), "not_allowed:customer_tier"),
        BadRecord(variant(12, card_present="yes"), "wrong_type:card_present"),
        BadRecord(variant(13, channel=None), "missing:channel"),
        BadRecord(to_json_line(duplicate_of), "duplicate_event_id"),  # a producer retry
        # Plausibility: well-typed, impossible values.
        BadRecord(variant(15, amount=-0.01), "out_of_range:amount"),
        BadRecord(variant(16, account_age_days=-1), "out_of_range:account_age_days"),
        BadRecord(variant(17, prior_transactions_24h=-2), "out_of_range:prior_transactions_24h"),
        BadRecord(variant(18, distance_from_home_km=-0.5), "out_of_range:distance_from_home_km"),
        BadRecord(variant(19, event_time="2099-01-01T00:00:00.000Z"), "future_time:event_time"),
        BadRecord(to_json_line({**template, "event_id": ""}), "blank:event_id"),
        BadRecord(to_json_line({**template, "event_id": " \t "}), "blank:event_id"),
        BadRecord(conflicting_variant(duplicate_of), "conflicting_duplicate_event_id"),
        BadRecord(negative_with_cr, "out_of_range:amount"),
        BadRecord(variant(26, channel="fax")[:-1] + b"\r\n", "not_allowed:channel"),  # a CRLF line end
        BadRecord(b"\r\n", "empty_record"),  # a blank CRLF line is one empty record, not two
        # A raw CR inside a string: one record (not two halves), unparsable (JSON forbids raw control characters).
        BadRecord(variant(27, channel="fax\rmail").replace(b"\\r", b"\r"), "unparsable_json"),
    ]


def bad_parquet_events(template: Mapping[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Bad rows that Parquet can carry (its types are enforced by the converter): values, not types."""
    base = {**template}
    return [
        ({**base, "event_id": "badp-0001", "merchant_category": "casino"}, "not_allowed:merchant_category"),
        ({**base, "event_id": "badp-0002", "is_fraud": 2}, "invalid_label:is_fraud"),
        ({**base, "event_id": "badp-0003", "amount": None}, "missing:amount"),
        ({**base, "event_id": "badp-0004", "customer_tier": "diamond"}, "not_allowed:customer_tier"),
        ({**base, "event_id": "badp-0005", "account_age_days": -7}, "out_of_range:account_age_days"),
        ({**base, "event_id": "badp-0006", "event_time": "2099-01-01T00:00:00.000Z"}, "future_time:event_time"),
        ({**base, "event_id": "  "}, "blank:event_id"),
    ]


@dataclass(frozen=True)
class RawData:
    events: list[dict[str, Any]]  # the generated events (all valid)
    true_events: list[dict[str, Any]]  # the same events before the generator blanked distances
    json_raw: Path  # json mode: events + a corrupted file
    json_bad: list[BadRecord]
    json_raw_reshuffled: Path  # the same records, cut into files differently and in another order
    parquet_raw: Path  # parquet mode: events + a file of bad rows
    parquet_bad: list[tuple[dict[str, Any], str]]


@pytest.fixture(scope="session")
def raw_data(spark, tmp_path_factory: pytest.TempPathFactory) -> RawData:
    events = list(generate_events(N_EVENTS, SEED))
    true_events = list(generate_events(N_EVENTS, SEED, missing_rate=0.0))
    template = next(e for e in events if e["distance_from_home_km"] is not None and event_date(e) == "2026-11-21")
    json_bad = bad_json_records(template, duplicate_of=template)
    corrupted_name = firehose_name("2026-11-21", 99, ".gz")

    json_root = tmp_path_factory.mktemp("raw-json")
    json_raw = write_raw_json(events, json_root, files_per_day=2)
    write_gzip_lines(json_raw / "dt=2026-11-21" / corrupted_name, [b.line for b in json_bad])

    # Same records, other cut: reversed order, 5 files per day, the bad lines spread over two files.
    reshuffled_root = tmp_path_factory.mktemp("raw-json-reshuffled")
    json_reshuffled = write_raw_json(list(reversed(events)), reshuffled_root, files_per_day=5)
    day = json_reshuffled / "dt=2026-11-21"
    write_gzip_lines(day / firehose_name("2026-11-21", 97, ".gz"), [b.line for b in json_bad[::2]])
    write_gzip_lines(day / firehose_name("2026-11-21", 98, ".gz"), [b.line for b in json_bad[1::2]])

    parquet_bad = bad_parquet_events(template)
    parquet_root = tmp_path_factory.mktemp("raw-parquet")
    parquet_raw = write_raw_parquet(spark, events, parquet_root)
    bad_dir = write_raw_parquet(spark, [e for e, _ in parquet_bad], parquet_root, name="bad")
    for file in bad_dir.glob("dt=*/*.parquet"):
        target = parquet_raw / file.parent.name / f"bad-{file.name}"
        target.parent.mkdir(exist_ok=True)
        file.rename(target)
    return RawData(events, true_events, json_raw, json_bad, json_reshuffled, parquet_raw, parquet_bad)


# --- Reading outputs back --------------------------------------------------------------------------


def data_files(directory: Path, suffix: str = ".csv") -> list[Path]:
    """The data files of a Spark output directory (no hidden .crc files, no markers), by part number."""
    return sorted(p for p in directory.iterdir() if p.name.startswith("part-") and p.name.endswith(suffix))


def part_number(path: Path) -> str:
    return path.name.split("-")[1]


def csv_bytes(directory: Path) -> dict[str, bytes]:
    """Part number -> bytes (file names carry a random uuid per run; the part number does not)."""
    return {part_number(p): p.read_bytes() for p in data_files(directory)}


def csv_rows(directory: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    for path in data_files(directory):
        rows.extend(line.split(",") for line in path.read_text().splitlines())
    return rows


# --- Full runs, shared by the tests (each run costs seconds: run once per session) ------------------


@dataclass(frozen=True)
class Run:
    report: dict[str, Any]
    curated: Path


def run_etl(spark, raw: Path, curated: Path, raw_format: str) -> Run:
    from ml_constructs.glue_etl.runtime import pipeline
    from ml_constructs.glue_etl.runtime.contract import EtlParams
    from stacks.mapping import etl_spec

    params = EtlParams(raw_format=raw_format, **TEST_PARAMS)
    report = pipeline.run(spark, str(raw), str(curated), etl_spec(), params, run_time=RUN_TIME, bias_facets=BIAS_FACETS)
    return Run(report, curated)


@pytest.fixture(scope="session")
def json_run(spark, raw_data: RawData, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_etl(spark, raw_data.json_raw, tmp_path_factory.mktemp("curated-json"), "json")


@pytest.fixture(scope="session")
def parquet_run(spark, raw_data: RawData, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_etl(spark, raw_data.parquet_raw, tmp_path_factory.mktemp("curated-parquet"), "parquet")


@pytest.fixture(scope="session")
def reshuffled_run(spark, raw_data: RawData, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_etl(spark, raw_data.json_raw_reshuffled, tmp_path_factory.mktemp("curated-reshuffled"), "json")


@pytest.fixture(scope="session")
def json_base(spark, raw_data: RawData):
    """Clean json-mode records in the canonical order, encoded, with their split (what the fitted steps read),
    cached once for every module that fits on them."""
    from ml_constructs.glue_etl.runtime import contract, steps
    from stacks.mapping import etl_spec

    spec, params = etl_spec(), contract.EtlParams(raw_format="json", **TEST_PARAMS)
    raw = steps.read_raw(spark, str(raw_data.json_raw), "json")
    clean = steps.clean_records(steps.validate_records(steps.parse_records(raw, spec, "json"), spec, NOT_AFTER), spec)
    df = steps.encode_features(steps.canonical_order(clean, spec, params.canonical_partitions), spec)
    # Cached for the rest of the session: it goes with the session's Spark (which other tests may already have
    # stopped at teardown, so an unpersist there could fail).
    return steps.assign_split(df, spec, params.split_fractions, params.split_seed).persist()
