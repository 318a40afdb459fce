"""Faulty input the ETL must catch, case by case: plausibility rules at their boundaries, duplicates with and
without conflicting content, carriage returns inside records, and a training set without enough positives.

The bulk of the bad records (one per quarantine reason) rides along in the session's full runs
(``conftest.bad_json_records``, ``bad_parquet_events``); here each rule is checked at its edges on a few rows,
and the positives minimum through ``pipeline.run`` itself.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest

from ml_constructs.glue_etl.runtime import contract as c
from ml_constructs.glue_etl.runtime import pipeline, steps
from stacks.mapping import etl_spec
from tests.glue.conftest import NOT_AFTER, RUN_TIME, TEST_PARAMS, write_raw_json
from worked_example.generator import generate_events, to_json_line
from worked_example.schema import format_timestamp

TEMPLATE = next(e for e in generate_events(50, 3) if e["distance_from_home_km"] is not None)


def line(**changes) -> str:
    return to_json_line({**TEMPLATE, **changes}).decode().rstrip("\n")


def reasons(spark, lines: list[str]) -> list[str | None]:
    """The quarantine reason of each line (None = clean), in input order, through parse and validate."""
    rows = [(text, "2026-11-20", f"f{i:05d}.gz") for i, text in enumerate(lines)]
    raw = spark.createDataFrame(rows, "value string, dt string, source_file string")
    validated = steps.validate_records(steps.parse_records(raw, etl_spec(), "json"), etl_spec(), NOT_AFTER)
    by_file = dict(validated.select(c.SOURCE_FILE_COLUMN, c.REASON_COLUMN).collect())
    return [by_file[name] for _, _, name in rows]


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


def test_plausibility_rules_and_duplicates(spark) -> None:
    """Every case in one Spark job (each case has ids of its own, so the cases cannot interact)."""
    cases: list[tuple[str, list[str], list[str | None]]] = [
        (name, [line(**{"event_id": f"case-{i}", **changes})], [reason])
        for i, (name, changes, reason) in enumerate(PLAUSIBILITY_CASES)
    ]
    cases += duplicate_cases()
    got = iter(reasons(spark, [text for _, lines, _ in cases for text in lines]))
    assert {name: [next(got) for _ in lines] for name, lines, _ in cases} == {
        name: expected for name, _, expected in cases
    }


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


def test_too_few_positives_fail_the_job_before_any_training_output(spark, tmp_path: Path) -> None:
    """One positive in 300 events: the job fails with one line; no CSV, no prepared data, no report is written."""
    events = [{**e, "is_fraud": 0} for e in generate_events(300, 5)]
    events[7]["is_fraud"] = 1
    raw = write_raw_json(events, tmp_path / "raw", files_per_day=1)
    curated = tmp_path / "curated"
    params = c.EtlParams(raw_format="json", **TEST_PARAMS)
    with pytest.raises(steps.TooFewPositivesError, match=r"too few positives \(is_fraud=1\)") as info:
        pipeline.run(spark, str(raw), str(curated), etl_spec(), params, run_time=RUN_TIME)
    assert "\n" not in str(info.value)
    written = {p.name for p in curated.iterdir()} if curated.exists() else set()
    assert written <= {c.QUARANTINE_PREFIX.rstrip("/")}, written  # the quarantine only: nothing training reads


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
