"""Faulty input the ETL must catch, case by case: plausibility rules at their boundaries, duplicates with and
without conflicting content, carriage returns inside records, and a training set without enough positives.

The bulk of the bad records (one per quarantine reason) rides along in the session's full runs
(``conftest.bad_json_records``, ``bad_parquet_events``); here each rule is checked at its edges, in one run of
``pipeline.run`` over these cases and a single positive label, a run that must then stop at the positives
minimum.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from ml_constructs.glue_etl.runtime import contract as c
from ml_constructs.glue_etl.runtime import pipeline, steps
from stacks.mapping import etl_spec
from tests.glue.conftest import NOT_AFTER, RUN_TIME, TEST_PARAMS, write_gzip_lines
from worked_example.generator import generate_events, to_json_line
from worked_example.schema import format_timestamp

TEMPLATE = next(e for e in generate_events(50, 3) if e["distance_from_home_km"] is not None)


def line(**changes) -> str:
    """The template event (a negative label unless changed) with changes, as the JSON line the producer sends."""
    return to_json_line({**TEMPLATE, "is_fraud": 0, **changes}).decode().rstrip("\n")


# Each case is one record with its own id; the expected reason follows from the schema's bounds (minimum 0 for
# the four numeric fields) and from NOT_AFTER = RUN_TIME + 60 minutes (the default tolerance).
PLAUSIBILITY_CASES = [
    ("amount zero is allowed", {"amount": 0.0}, None),
    ("amount one cent below zero", {"amount": -0.01}, "out_of_range:amount"),
    ("account age zero", {"account_age_days": 0}, None),
    ("account age negative", {"account_age_days": -1}, "out_of_range:account_age_days"),
    ("velocity negative", {"prior_transactions_24h": -1}, "out_of_range:prior_transactions_24h"),
    ("distance null is still imputed", {"distance_from_home_km": None}, None),
    ("distance negative", {"distance_from_home_km": -0.01}, "out_of_range:distance_from_home_km"),
    ("event time exactly at the limit", {"event_time": format_timestamp(NOT_AFTER)}, None),
    (
        "event time 1 ms after the limit",
        {"event_time": format_timestamp(NOT_AFTER + timedelta(milliseconds=1))},
        "future_time:event_time",
    ),
    ("event time in 2099", {"event_time": "2099-12-31T23:59:59.999Z"}, "future_time:event_time"),
    ("empty id", {"event_id": ""}, "blank:event_id"),
    ("whitespace id", {"event_id": " \t "}, "blank:event_id"),
    ("id null", {"event_id": None}, "missing:event_id"),
    ("a type error wins over the range", {"amount": "-1"}, "wrong_type:amount"),
    ("the first field's problem wins", {"event_id": "", "amount": -1.0}, "blank:event_id"),
]


def sha(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()


def duplicate_cases() -> list[tuple[str, list[str], list[str | None]]]:
    """(name, lines sharing one id, expected reasons). Per id, the record with the smallest sha256 of its
    stripped text survives (derived here with hashlib); copies equal to it are ``duplicate_event_id``, other
    contents ``conflicting_duplicate_event_id``; between equal hashes the smaller raw text survives."""
    cases: list[tuple[str, list[str], list[str | None]]] = []
    for k, name in enumerate(("a retry", "equal after strip", "conflict", "conflict reversed", "mixed")):
        a, b = line(event_id=f"dup-{k}", amount=10.0), line(event_id=f"dup-{k}", amount=11.0)
        s, o = sorted((a, b), key=sha)  # survivor, other
        padded = " " + a + "\r"  # same content as a; " " sorts before "{", so the padded text survives
        cases.append(
            {
                "a retry": (name, [a, a], [None, "duplicate_event_id"]),
                "equal after strip": (name, [a, padded], ["duplicate_event_id", None]),
                "conflict": (name, [s, o], [None, "conflicting_duplicate_event_id"]),
                "conflict reversed": (name, [o, s], ["conflicting_duplicate_event_id", None]),
                "mixed": (
                    name,
                    [o, s, s, o],
                    ["conflicting_duplicate_event_id", None, "duplicate_event_id", "conflicting_duplicate_event_id"],
                ),
            }[name]
        )
    bad = line(event_id="dup-bad", amount=-1.0)
    cases.append(("a bad copy does not compete", [bad, line(event_id="dup-bad")], ["out_of_range:amount", None]))
    return cases


def test_faulty_records_are_quarantined_and_too_few_positives_stop_the_job(spark, tmp_path: Path) -> None:
    """One run of the pipeline over every case (each case has ids of its own, so the cases cannot interact) and a
    single positive: the quarantine holds exactly the expected (raw record, reason) pairs; then the job fails with
    one line before writing anything a training job reads."""
    cases: list[tuple[str, list[str], list[str | None]]] = [
        (name, [line(**{"event_id": f"case-{i}", **changes})], [reason])
        for i, (name, changes, reason) in enumerate(PLAUSIBILITY_CASES)
    ]
    cases += duplicate_cases()
    lines = [text for _, texts, _ in cases for text in texts] + [line(event_id="the-only-positive", is_fraud=1)]
    raw = tmp_path / "raw" / "events"
    write_gzip_lines(raw / "dt=2026-11-20" / "part.gz", [text.encode() for text in lines])
    curated = tmp_path / "curated"
    params = c.EtlParams(raw_format="json", **{**TEST_PARAMS, "canonical_partitions": 1})

    with pytest.raises(steps.TooFewPositivesError, match=r"^too few positives \(is_fraud=1\) to train") as info:
        pipeline.run(spark, str(raw), str(curated), etl_spec(), params, run_time=RUN_TIME)
    assert "\n" not in str(info.value)
    assert {p.name for p in curated.iterdir()} == {c.QUARANTINE_PREFIX.rstrip("/")}  # nothing training reads

    stored = spark.read.parquet(str(curated / c.QUARANTINE_PREFIX)).collect()
    got = Counter((r[c.RAW_RECORD_COLUMN], r[c.REASON_COLUMN]) for r in stored)
    expected = Counter(
        (text, reason) for _, texts, reasons in cases for text, reason in zip(texts, reasons, strict=True) if reason
    )
    assert got == expected


@pytest.mark.parametrize(
    ("positives", "expected"),
    [
        ({"train": 10, "validation": 10, "test": 10}, None),
        ({"train": 10, "validation": 9, "test": 10}, "validation=9"),
        ({"train": 1, "validation": 0, "test": 0}, "train=1, validation=0, test=0"),
    ],
)
def test_positives_minimum_per_split(positives: dict[str, int], expected: str | None) -> None:
    if expected is None:
        steps.check_positives(positives, 10, etl_spec(), 0.15)
        return
    with pytest.raises(steps.TooFewPositivesError, match=expected) as info:
        steps.check_positives(positives, 10, etl_spec(), 0.15)
    assert "\n" not in str(info.value)


def test_an_empty_test_split_is_not_checked() -> None:
    steps.check_positives({"train": 10, "validation": 10, "test": 0}, 10, etl_spec(), 0.0)


def test_new_parameters_are_validated_with_one_line() -> None:
    for args, message in (
        ({"min_positives": "0"}, "--min_positives=0"),
        ({"future_tolerance_minutes": "-5"}, "--future_tolerance_minutes=-5"),
        ({"min_positives": "many"}, "--min_positives='many'"),
    ):
        with pytest.raises(ValueError, match="^" + message) as info:
            c.EtlParams.from_args(args)
        assert "\n" not in str(info.value)


def test_spec_carries_the_schema_ranges_and_rejects_bad_ones() -> None:
    spec = etl_spec()
    assert json.loads(spec.to_json())["columns"][2]["minimum"] == 0  # amount
    assert c.EtlSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="minimum 5 is above maximum 1"):
        c.ColumnSpec("x", "double", "numeric", False, (), 5, 1)
    with pytest.raises(ValueError, match="need a numeric column"):
        c.ColumnSpec("x", "string", "categorical", False, ("a", "b"), 0)


def test_the_schema_carries_the_bounds_and_its_validator_applies_them() -> None:
    from worked_example import schema

    event = dict(TEMPLATE)
    assert schema.validate_event(event) == []
    assert schema.validate_event({**event, "amount": -1.0}) == ["amount: -1.0 is below the minimum 0"]
    assert schema.validate_event({**event, "event_id": " "}) == ["event_id: blank"]
    assert {f.name for f in schema.FIELDS if f.minimum == 0} == {
        "amount",
        "account_age_days",
        "prior_transactions_24h",
        "distance_from_home_km",
    }
    with pytest.raises(ValueError, match="minimum/maximum need a numeric field"):
        schema.Field("x", "string", schema.Kind.CATEGORICAL, False, "d", ("a", "b"), minimum=0)
