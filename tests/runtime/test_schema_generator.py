"""The worked example's schema and generator: the contract every later stage relies on."""

from __future__ import annotations

import json
import math
import random
import re
import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from worked_example import generator as gen
from worked_example import schema
from worked_example.schema import FIELDS, FIELDS_BY_NAME, Kind

N = 20_000  # events for the statistical tests: ~0.3 s to generate
SIGMAS = 4.5  # tolerance in binomial standard deviations: a false alarm is a ~1-in-150,000 event


def binomial_tolerance(p: float, n: int) -> float:
    """``SIGMAS`` standard deviations of an observed rate, for an event of probability p in n trials."""
    return SIGMAS * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return list(gen.generate_events(N, seed=20261120))


@pytest.fixture(scope="module")
def clean_events() -> list[dict]:
    """Same seed, no missing values and no outliers: the true values behind ``events``."""
    return list(gen.generate_events(N, seed=20261120, missing_rate=0.0, outlier_rate=0.0))


def auc(scores: list[float], labels: list[int]) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


# --- Schema --------------------------------------------------------------------------------------


def test_field_names_are_unique_lower_snake_case():
    names = schema.field_names()
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)
    assert names[:2] == [schema.ID_FIELD, schema.TIMESTAMP_FIELD]


def test_types_are_in_the_allowed_set():
    allowed = {"string", "int", "bigint", "double", "boolean", "timestamp"}
    assert allowed == schema.GLUE_TYPES
    assert {f.type for f in FIELDS} <= allowed


def test_categorical_and_ordinal_fields_list_their_values():
    for f in FIELDS:
        if f.kind in (Kind.CATEGORICAL, Kind.ORDINAL):
            assert len(f.values) >= 2, f.name
            assert len(set(f.values)) == len(f.values), f.name
        elif f.kind is not Kind.LABEL:
            assert f.values == (), f.name
    assert FIELDS_BY_NAME["customer_tier"].kind is Kind.ORDINAL
    assert FIELDS_BY_NAME["customer_tier"].values == ("bronze", "silver", "gold", "platinum")


def test_label_is_a_binary_int():
    label = FIELDS_BY_NAME[schema.LABEL]
    assert label.kind is Kind.LABEL
    assert label.type == "int"
    assert label.values == (0, 1)
    assert schema.POSITIVE_CLASS == 1
    assert [f.name for f in FIELDS if f.kind is Kind.LABEL] == [schema.LABEL]


def test_timestamp_and_id_fields():
    assert FIELDS_BY_NAME[schema.TIMESTAMP_FIELD].type == "timestamp"
    assert FIELDS_BY_NAME[schema.ID_FIELD].kind is Kind.ID
    assert not FIELDS_BY_NAME[schema.TIMESTAMP_FIELD].nullable


def test_glue_columns_mirror_the_fields():
    columns = schema.glue_columns()
    assert [c["name"] for c in columns] == schema.field_names()
    assert [c["type"] for c in columns] == [f.type for f in FIELDS]
    assert all(set(c) == {"name", "type", "comment"} for c in columns)
    assert all(0 < len(c["comment"]) <= schema.MAX_GLUE_COMMENT_CHARS for c in columns)


def test_feature_fields_exclude_id_timestamp_and_label():
    features = [f.name for f in schema.feature_fields()]
    assert schema.LABEL not in features
    assert schema.TIMESTAMP_FIELD not in features
    assert schema.ID_FIELD not in features
    assert len(features) == len(FIELDS) - 3
    kinds = {f.kind for f in schema.feature_fields()}
    assert {Kind.NUMERIC, Kind.CATEGORICAL, Kind.ORDINAL} == kinds
    assert [f.name for f in schema.fields_of_kind("numeric") if f.nullable] == ["distance_from_home_km"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Amount", "type": "double", "kind": Kind.NUMERIC}, "snake case"),
        ({"name": "amount", "type": "float", "kind": Kind.NUMERIC}, "not one of"),
        ({"name": "colour", "type": "string", "kind": Kind.CATEGORICAL}, "at least two"),
        ({"name": "amount", "type": "double", "kind": Kind.NUMERIC, "values": (1, 2)}, "must not list"),
        ({"name": "amount", "type": "double", "kind": Kind.NUMERIC, "description": "x" * 256}, "255"),
    ],
)
def test_field_definitions_are_checked(kwargs, message):
    kwargs = {"nullable": False, "description": "d", **kwargs}
    with pytest.raises(ValueError, match=message):
        schema.Field(**kwargs)


def test_timestamp_format_round_trips():
    moment = datetime(2026, 11, 20, 10, 15, 30, 123999, tzinfo=UTC)
    text = schema.format_timestamp(moment)
    assert text == "2026-11-20T10:15:30.123Z" == schema.TIMESTAMP_EXAMPLE
    assert schema.parse_timestamp(text) == moment.replace(microsecond=123000)
    other_zone = datetime(2026, 11, 20, 11, 15, 30, 123000, tzinfo=datetime.now(UTC).astimezone().tzinfo)
    assert schema.format_timestamp(other_zone).endswith("Z")
    with pytest.raises(ValueError, match="timezone-aware"):
        schema.format_timestamp(datetime(2026, 11, 20))
    bad_values: list[Any] = [
        "2026-11-20 10:15:30.123",
        "2026-11-20T10:15:30Z",
        "2026-11-20T10:15:30.123+00:00",
        17,
    ]
    for bad in bad_values:
        with pytest.raises(ValueError, match="not a timestamp"):
            schema.parse_timestamp(bad)


def test_validate_event_reports_each_problem(events):
    good = dict(events[0])
    assert schema.validate_event(good) == []
    bad = {
        **good,
        "amount": "12.5",  # type change
        "account_age_days": True,  # a bool is not an int
        "customer_tier": "diamond",  # not an allowed value
        "is_fraud": 2,  # label out of range
        "merchant_category": None,  # null in a non-nullable field
        "extra": 1,
    }
    del bad["channel"]
    problems = schema.validate_event(bad)
    assert len(problems) == 7
    for needle in (
        "amount",
        "account_age_days",
        "diamond",
        "is_fraud",
        "merchant_category: null",
        "extra",
        "channel",
    ):
        assert any(needle in p for p in problems), needle
    assert schema.validate_event({**good, "distance_from_home_km": None}) == []


# --- Generator: determinism and validity ---------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_different_seed_does_not():
    first = b"".join(gen.to_json_line(e) for e in gen.generate_events(500, seed=7))
    second = b"".join(gen.to_json_line(e) for e in gen.generate_events(500, seed=7))
    other = b"".join(gen.to_json_line(e) for e in gen.generate_events(500, seed=8))
    assert first == second
    assert first != other
    assert not set(first.splitlines()) & set(other.splitlines())  # not even one identical event


def test_generation_is_independent_of_global_random_state():
    random.seed(1)
    first = list(gen.generate_events(50, seed=3))
    random.seed(2)
    assert list(gen.generate_events(50, seed=3)) == first


def test_every_event_validates_against_the_schema(events):
    for event in events:
        assert list(event) == schema.field_names()
        assert schema.validate_event(event) == [], event
    assert len({e[schema.ID_FIELD] for e in events}) == N


def test_event_ids_are_uuids_derived_from_seed_and_index():
    ids = [e["event_id"] for e in gen.generate_events(3, seed=11)]
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids)
    # Ids depend on (seed, index) only: a longer run starts with the same ids.
    assert [e["event_id"] for e in gen.generate_events(5, seed=11)][:3] == ids


def test_every_allowed_category_value_occurs(events):
    for f in schema.fields_of_kind(Kind.CATEGORICAL) + schema.fields_of_kind(Kind.ORDINAL):
        assert set(Counter(e[f.name] for e in events)) == set(f.values), f.name


def test_atm_and_remote_channels_are_consistent(events):
    for event in events:
        if event["channel"] == "atm":
            assert event["merchant_category"] == "cash_withdrawal"
        else:
            assert event["merchant_category"] != "cash_withdrawal"
        if event["channel"] in ("online", "mobile_app"):
            assert event["card_present"] is False


# --- Generator: the statistical properties the later stages depend on ------------------------------


def test_missing_rate_is_as_configured(events):
    missing = [f.name for f in FIELDS if f.nullable]
    assert missing == ["distance_from_home_km"]
    observed = sum(e["distance_from_home_km"] is None for e in events) / N
    assert abs(observed - gen.MISSING_RATE) <= binomial_tolerance(gen.MISSING_RATE, N)


def test_outliers_are_amounts_recorded_times_100_at_the_configured_rate(events, clean_events):
    outliers = 0
    for noisy, clean in zip(events, clean_events, strict=True):
        if noisy["amount"] != clean["amount"]:
            outliers += 1
            assert noisy["amount"] == round(clean["amount"] * gen.OUTLIER_FACTOR, 2)
    observed = outliers / N
    assert abs(observed - gen.OUTLIER_RATE) <= binomial_tolerance(gen.OUTLIER_RATE, N)
    # Heavy tail: even the clean amounts have a mean well above the median.
    amounts = [e["amount"] for e in clean_events]
    assert statistics.fmean(amounts) > 1.3 * statistics.median(amounts)


def test_missing_values_and_outliers_do_not_change_the_label(events, clean_events):
    assert [e["is_fraud"] for e in events] == [e["is_fraud"] for e in clean_events]


def test_positive_rate_matches_the_model_and_is_imbalanced(events, clean_events):
    positives = sum(e["is_fraud"] for e in events)
    # The label is Bernoulli(p_i) with p_i the true model's probability, so the positive count has
    # mean sum(p_i) and variance sum(p_i * (1 - p_i)).
    probabilities = [gen.fraud_probability(e) for e in clean_events]
    expected = sum(probabilities)
    sd = math.sqrt(sum(p * (1 - p) for p in probabilities))
    assert abs(positives - expected) <= SIGMAS * sd
    rate = positives / N
    assert 0.03 <= rate <= 0.05
    assert abs(rate - gen.TARGET_POSITIVE_RATE) <= 0.005 + binomial_tolerance(gen.TARGET_POSITIVE_RATE, N)


def test_label_is_learnable_from_the_observed_columns(events):
    """A plain logistic regression on the *observed* data (with nulls and outliers) gets AUC > 0.8.

    Gradient boosting (the project's XGBoost) can only do better: it also finds the thresholds and the
    interaction that this linear model cannot express.
    """
    categories = {f.name: f.values for f in schema.fields_of_kind(Kind.CATEGORICAL)}
    tiers = FIELDS_BY_NAME["customer_tier"].values
    train, test = events[:14_000], events[14_000:]
    known = [e["distance_from_home_km"] for e in train if e["distance_from_home_km"] is not None]
    median_distance = statistics.median(known)

    def features(e: dict) -> list[float]:
        distance = e["distance_from_home_km"]
        row = [
            math.log(min(e["amount"], 5_000.0)),  # cap the outliers, log the heavy tail
            math.log1p(median_distance if distance is None else distance),  # median imputation
            float(distance is None),
            math.exp(-e["account_age_days"] / 60),
            float(e["prior_transactions_24h"]),
            float(e["card_present"]),
            tiers.index(e["customer_tier"]) / 3,
        ]
        for name in ("merchant_category", "channel"):
            row += [float(e[name] == value) for value in categories[name]]
        return row

    x_train = [features(e) for e in train]
    columns = list(zip(*x_train, strict=True))
    means = [statistics.fmean(c) for c in columns]
    sds = [statistics.pstdev(c) or 1.0 for c in columns]

    def standardise(row: list[float]) -> list[float]:
        return [(v - m) / s for v, m, s in zip(row, means, sds, strict=True)]

    xs = [standardise(r) for r in x_train]
    ys = [e["is_fraud"] for e in train]
    weights, bias, rate = [0.0] * len(xs[0]), -3.0, 0.05
    order = list(range(len(xs)))
    shuffler = random.Random(0)
    for _ in range(3):  # plain SGD on the log loss
        shuffler.shuffle(order)
        for i in order:
            z = bias + sum(w * v for w, v in zip(weights, xs[i], strict=True))
            gradient = 1.0 / (1.0 + math.exp(-z)) - ys[i]
            bias -= rate * gradient
            weights = [w - rate * gradient * v for w, v in zip(weights, xs[i], strict=True)]
    scores = [sum(w * v for w, v in zip(weights, standardise(features(e)), strict=True)) for e in test]
    assert auc(scores, [e["is_fraud"] for e in test]) > 0.85
    # The oracle (the true model on the true values) is an upper bound and is well above it.
    oracle = [gen.fraud_logit(e) for e in gen.generate_events(N, seed=5, missing_rate=0, outlier_rate=0)]
    labels = [e["is_fraud"] for e in gen.generate_events(N, seed=5, missing_rate=0, outlier_rate=0)]
    assert auc(oracle, labels) > 0.9


def test_timestamps_parse_are_monotonic_and_inside_the_window(events):
    times = [schema.parse_timestamp(e["event_time"]) for e in events]
    assert times == sorted(times)
    start, end = gen.DEFAULT_START, gen.DEFAULT_START + gen.DEFAULT_SPAN
    assert all(start <= t < end for t in times)
    assert times[-1] - times[0] > gen.DEFAULT_SPAN * 0.99  # spread over the whole window
    assert len({t.date() for t in times}) == gen.DEFAULT_SPAN.days


def test_custom_window():
    start = datetime(2027, 1, 1, 12, tzinfo=UTC)
    span = timedelta(hours=1)
    times = [schema.parse_timestamp(e["event_time"]) for e in gen.generate_events(100, 1, start=start, span=span)]
    assert all(start <= t < start + span for t in times)
    assert times == sorted(times)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": -1},
        {"start": datetime(2026, 1, 1)},
        {"span": timedelta(0)},
        {"missing_rate": 1.5},
        {"outlier_rate": -0.1},
    ],
)
def test_bad_generator_arguments_raise(kwargs):
    kwargs = {"n": 1, "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=r"must be|timezone-aware"):
        list(gen.generate_events(**kwargs))


# --- Drift --------------------------------------------------------------------------------------

UNTOUCHED_BY_AMOUNT_DRIFT = [
    "event_id",
    "event_time",
    "account_age_days",
    "prior_transactions_24h",
    "distance_from_home_km",
    "merchant_category",
    "channel",
    "customer_tier",
    "card_present",
]


def test_drift_shift_moves_only_the_shifted_feature():
    shift = gen.Drift(shift={"amount": 50.0})
    base = list(gen.generate_events(3_000, seed=9))
    clean = list(gen.generate_events(3_000, seed=9, outlier_rate=0.0))
    drifted = list(gen.generate_events(3_000, seed=9, drift=shift))
    outliers = 0
    for before, true_before, after in zip(base, clean, drifted, strict=True):
        assert {k: after[k] for k in UNTOUCHED_BY_AMOUNT_DRIFT} == {k: before[k] for k in UNTOUCHED_BY_AMOUNT_DRIFT}
        assert schema.validate_event(after) == []
        if before["amount"] == true_before["amount"]:
            assert after["amount"] == pytest.approx(before["amount"] + 50.0, abs=0.011)
        else:  # an outlier: the true amount was shifted, then recorded x100
            outliers += 1
            assert after["amount"] == pytest.approx(before["amount"] + 50.0 * gen.OUTLIER_FACTOR, abs=1.01)
    assert outliers > 0
    mean_shift = statistics.fmean(a["amount"] for a in drifted) - statistics.fmean(b["amount"] for b in base)
    assert mean_shift == pytest.approx(50.0 * (1 + (gen.OUTLIER_FACTOR - 1) * outliers / len(base)), rel=1e-6)


def test_drift_scale_of_an_int_feature_stays_int():
    base = list(gen.generate_events(1_000, seed=9))
    drifted = list(gen.generate_events(1_000, seed=9, drift=gen.Drift(scale={"account_age_days": 2.0})))
    for before, after in zip(base, drifted, strict=True):
        assert after["account_age_days"] == 2 * before["account_age_days"]
        assert schema.validate_event(after) == []


def test_drift_category_weights_change_the_mix():
    drift = gen.Drift(category_weights={"channel": {"online": 1.0}, "customer_tier": {"platinum": 3, "gold": 1}})
    drifted = list(gen.generate_events(2_000, seed=9, drift=drift))
    assert {e["channel"] for e in drifted} == {"online"}
    assert all(e["card_present"] is False for e in drifted)
    share = sum(e["customer_tier"] == "platinum" for e in drifted) / len(drifted)
    assert abs(share - 0.75) <= binomial_tolerance(0.75, len(drifted))
    assert all(schema.validate_event(e) == [] for e in drifted)


def test_drift_drop_and_type_change_break_the_schema_as_announced():
    drift = gen.Drift(drop=("distance_from_home_km",), as_string=("amount", "card_present"))
    base = list(gen.generate_events(200, seed=4))
    drifted = list(gen.generate_events(200, seed=4, drift=drift))
    for before, after in zip(base, drifted, strict=True):
        assert "distance_from_home_km" not in after
        assert after["amount"] == json.dumps(before["amount"])
        assert after["card_present"] in ("true", "false")
        problems = schema.validate_event(after)
        assert "distance_from_home_km: missing" in problems
        assert any(p.startswith("amount:") for p in problems)
        assert any(p.startswith("card_present:") for p in problems)
        line = gen.to_json_line(after)
        assert b'"amount":"' in line
        assert json.loads(line) == after


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shift": {"merchant_category": 1.0}}, "not one of"),
        ({"scale": {"amount": 0.0}}, "> 0"),
        ({"category_weights": {"card_present": {"true": 1.0}}}, "not one of"),
        ({"category_weights": {"channel": {"teleport": 1.0}}}, "unknown values"),
        ({"category_weights": {"channel": {"online": 0.0}}}, "sum > 0"),
        ({"category_weights": {"merchant_category": {"cash_withdrawal": 1.0}}}, "only from the atm"),
        ({"drop": ("no_such_field",)}, "unknown field"),
    ],
)
def test_invalid_drift_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gen.Drift(**kwargs)


# --- Serialization and CLI -------------------------------------------------------------------------


def test_to_json_line_is_compact_ordered_and_newline_terminated(events):
    event = events[1]
    line = gen.to_json_line(event)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert b" " not in line
    assert list(json.loads(line)) == schema.field_names()
    assert json.loads(line) == event
    shuffled = dict(reversed(list(event.items())))
    assert gen.to_json_line(shuffled) == line  # key order comes from the schema, not the dict
    with pytest.raises(ValueError, match="JSON compliant"):
        gen.to_json_line({**event, "amount": float("nan")})


def test_missing_value_is_json_null(events):
    event = next(e for e in events if e["distance_from_home_km"] is None)
    assert b'"distance_from_home_km":null' in gen.to_json_line(event)


def test_cli_writes_the_same_bytes_as_the_api(tmp_path, capsys):
    output = tmp_path / "events.jsonl"
    assert gen.main(["--count", "25", "--seed", "3", "--start", "2026-11-20", "--output", str(output)]) == 0
    # --start 2026-11-20 pins the API's default start (DEFAULT_START): the same bytes on any day
    expected = b"".join(gen.to_json_line(e) for e in gen.generate_events(25, seed=3))
    assert datetime(2026, 11, 20, tzinfo=UTC) == gen.DEFAULT_START
    assert output.read_bytes() == expected
    assert "wrote 25 events" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        gen.main(["--count", "-3", "--seed", "1"])
    assert exit_info.value.code == 2


def test_relative_dates_are_the_days_before_the_given_day_and_repeat_for_seed_and_day():
    day = date(2027, 3, 1)  # after a February: the start crosses a month boundary
    start = gen.relative_start(day)
    assert start == datetime(2027, 2, 26, tzinfo=UTC)  # midnight, DEFAULT_SPAN (3 days) before the day
    first = [gen.to_json_line(e) for e in gen.generate_events(300, seed=4, start=start)]
    assert first == [gen.to_json_line(e) for e in gen.generate_events(300, seed=4, start=gen.relative_start(day))]
    days = {json.loads(line)["event_time"][:10] for line in first}
    assert days == {"2027-02-26", "2027-02-27", "2027-02-28"}  # the three days before 2027-03-01, none later
    moved = [gen.to_json_line(e) for e in gen.generate_events(300, seed=4, start=gen.relative_start(date(2027, 3, 2)))]
    # another day moves the times by exactly one day and changes nothing else
    assert [line.replace(b"2027-02-26T", b"2027-02-27T") for line in first[:100]] == moved[:100]


def test_cli_default_dates_are_relative_to_today(tmp_path):
    output = tmp_path / "events.jsonl"
    before = datetime.now(UTC).date()
    assert gen.main(["--count", "30", "--seed", "3", "--output", str(output)]) == 0
    after = datetime.now(UTC).date()
    written = output.read_bytes()
    expected = [
        b"".join(gen.to_json_line(e) for e in gen.generate_events(30, seed=3, start=gen.relative_start(today)))
        for today in (before, after)  # the CLI read the clock in between
    ]
    assert written in expected
