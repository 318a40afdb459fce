"""Seeded, deterministic generator of the worked example's card-transaction events.

``generate_events(n, seed)`` yields ``n`` event dicts in schema order, exactly as they travel on the
wire (the timestamp is already a string). ``to_json_line(event)`` turns one into a compact JSON line.

Why it looks the way it does (each property is something a later stage of the pipeline exercises):

- **Imbalance.** The label ``is_fraud`` is drawn from a logistic model of the features whose intercept
  is calibrated so that ~4 % of events are positive (``TARGET_POSITIVE_RATE``). Training has to deal
  with it (``scale_pos_weight``, rebalancing in the ETL), and accuracy is a useless metric here: the
  quality gate uses precision, recall, F1 and AUC.
- **Learnable signal.** The logit depends on the amount relative to the merchant category, card-not-
  present, velocity, account age, distance from home, merchant/channel risk and the tier, with one
  interaction. A linear model on the observed columns already gets an AUC well above 0.8; gradient
  boosting does better. ``fraud_probability`` exposes the true model (tests use it as an oracle).
- **Missing values.** ``distance_from_home_km`` is null with probability ``MISSING_RATE`` (missing
  completely at random: "no location"). The label is drawn from the true distance, so imputation
  matters but cannot recover everything: exactly the trade-off the syllabus asks about.
- **Outliers.** With probability ``OUTLIER_RATE`` the *recorded* ``amount`` is the true amount x100 (the
  transaction was keyed in minor units: cents instead of dollars). The label is drawn from the true
  amount, so these are noise that the ETL should cap (or flag), not signal.
- **Heavy tail.** Amounts are log-normal per merchant category, so even without the outliers the mean is
  well above the median (log transform or binning in the ETL).
- **Time.** Event times are spread evenly (with jitter) over ``span`` from ``start``; they are
  non-decreasing in the event index, formatted ``2026-11-20T10:15:30.123Z`` (see ``schema``).
- **Determinism.** One ``random.Random(seed)`` per call, no global state, no numpy, and a fixed number of
  draws per event, so the same seed gives the same bytes on every machine and Python 3.11+ release; event
  ids are a hash of ``(seed, index)``. ``Drift`` changes values *after* the draws, so a drifted run with
  the same seed differs from the baseline run only where the drift says it should.

Command line: ``python -m worked_example.generator --count 1000 --seed 7 --output events.jsonl``: the events of
the last 3 days before today (UTC), so the lake's daily queries and the ETL's training window find them whatever
day it is run; the same seed on the same day gives the same bytes, and ``--start 2026-11-20`` pins the dates (and
so the bytes) for good.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, BinaryIO

from worked_example.schema import FIELDS_BY_NAME, Kind, field_names, format_timestamp

#: The API's default first event time: fixed, so ``generate_events(n, seed)`` is byte-for-byte reproducible on any
#: day (the tests and the shipped default model rely on it). The command lines (this module's, the producer's)
#: default to ``relative_start()`` instead: the worked example run today has today's dates.
DEFAULT_START = datetime(2026, 11, 20, 0, 0, 0, tzinfo=UTC)
#: Default window over which the event times are spread.
DEFAULT_SPAN = timedelta(days=3)
#: Probability that ``distance_from_home_km`` is null.
MISSING_RATE = 0.05
#: Probability that ``amount`` is recorded x100 (minor-unit entry error).
OUTLIER_RATE = 0.01
#: Factor applied to an outlier amount.
OUTLIER_FACTOR = 100.0
#: The positive rate the intercept below is calibrated for (default parameters, no drift).
TARGET_POSITIVE_RATE = 0.04

# --- Categorical distributions (relative weights; order = schema's allowed values) -----------------

_CHANNEL_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"in_store": 0.55, "online": 0.25, "mobile_app": 0.12, "atm": 0.08}
)
# Merchant mix differs between card-present and remote channels; an ATM is always a cash withdrawal.
_MERCHANT_WEIGHTS_PRESENT: Mapping[str, float] = MappingProxyType(
    {
        "grocery": 0.30,
        "restaurant": 0.20,
        "gas_station": 0.15,
        "entertainment": 0.06,
        "health": 0.09,
        "travel": 0.03,
        "online_retail": 0.0,
        "electronics": 0.10,
        "jewelry": 0.04,
        "cash_withdrawal": 0.0,
    }
)
_MERCHANT_WEIGHTS_REMOTE: Mapping[str, float] = MappingProxyType(
    {
        "grocery": 0.08,
        "restaurant": 0.07,
        "gas_station": 0.0,
        "entertainment": 0.14,
        "health": 0.05,
        "travel": 0.14,
        "online_retail": 0.38,
        "electronics": 0.11,
        "jewelry": 0.03,
        "cash_withdrawal": 0.0,
    }
)
_TIER_WEIGHTS: Mapping[str, float] = MappingProxyType({"bronze": 0.45, "silver": 0.30, "gold": 0.18, "platinum": 0.07})

# Log-normal amount per merchant category: (median amount, sigma of ln(amount)).
_AMOUNT_MEDIAN_SIGMA: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "grocery": (42.0, 0.7),
        "restaurant": (31.0, 0.6),
        "gas_station": (48.0, 0.5),
        "entertainment": (38.0, 0.8),
        "health": (65.0, 0.9),
        "travel": (320.0, 0.9),
        "online_retail": (55.0, 0.9),
        "electronics": (210.0, 1.0),
        "jewelry": (380.0, 1.0),
        "cash_withdrawal": (120.0, 0.6),
    }
)

# --- The true fraud model: logit = intercept + sum of the terms in ``_logit`` ------------------------

#: Calibrated (20 x 200,000 events) so that the default positive rate is TARGET_POSITIVE_RATE.
INTERCEPT = -7.755
_MERCHANT_RISK: Mapping[str, float] = MappingProxyType(
    {
        "grocery": -0.6,
        "restaurant": -0.4,
        "gas_station": 0.3,
        "entertainment": 0.1,
        "health": -0.5,
        "travel": 0.5,
        "online_retail": 0.4,
        "electronics": 0.8,
        "jewelry": 0.9,
        "cash_withdrawal": 0.6,
    }
)
_CHANNEL_RISK: Mapping[str, float] = MappingProxyType({"in_store": 0.0, "online": 0.3, "mobile_app": 0.0, "atm": 0.2})
_TIER_RISK: Mapping[str, float] = MappingProxyType({"bronze": 0.35, "silver": 0.15, "gold": 0.0, "platinum": -0.25})

#: Numeric fields: domain minimum (Drift results are clamped to it) and whether the value is an int.
_NUMERIC_DOMAIN: Mapping[str, tuple[float, bool]] = MappingProxyType(
    {
        "amount": (0.01, False),
        "account_age_days": (0, True),
        "prior_transactions_24h": (0, True),
        "distance_from_home_km": (0.0, False),
    }
)
#: Fields whose category mix a Drift may override.
_WEIGHTED_FIELDS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "channel": _CHANNEL_WEIGHTS,
        "merchant_category": _MERCHANT_WEIGHTS_REMOTE,
        "customer_tier": _TIER_WEIGHTS,
    }
)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@dataclass(frozen=True)
class Drift:
    """Deliberate changes to the generated data, for the drift-monitoring stage and its tests.

    - ``shift`` / ``scale``: numeric field -> offset / factor. The generated value becomes
      ``value * scale + shift`` (rounded for int fields, clamped to the field's domain minimum: amounts
      stay >= 0.01, counts and distances >= 0). Applied to the *true* value before the label is drawn,
      so this is covariate shift: P(x) moves, P(y | x) stays the same. ``shift={"amount": 50.0}`` moves
      the mean amount by +50 (outliers, recorded x100, move by +5000).
    - ``category_weights``: ``channel``, ``merchant_category`` or ``customer_tier`` -> new relative
      weights over its allowed values (missing values get weight 0). For ``merchant_category`` the new
      mix applies to all non-ATM transactions (an ATM transaction stays ``cash_withdrawal``).
    - ``drop``: fields left out of the event entirely (a data-quality violation: a missing column).
      ``drop=("is_fraud",)`` also gives the unlabelled traffic an inference endpoint receives.
    - ``as_string``: fields whose non-null value is sent as a JSON string (``12.5`` -> ``"12.5"``,
      ``true`` -> ``"true"``): the type change a data-quality monitor must report.

    The random draws are the same with or without drift, so with the same seed every field a drift
    does not touch (directly or through the label and the fields derived from a changed category) is
    identical to the baseline run.
    """

    shift: Mapping[str, float] = field(default_factory=dict)
    scale: Mapping[str, float] = field(default_factory=dict)
    category_weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    drop: Sequence[str] = ()
    as_string: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in (*self.shift, *self.scale):
            if name not in _NUMERIC_DOMAIN:
                raise ValueError(f"Drift shift/scale: {name!r} is not one of {sorted(_NUMERIC_DOMAIN)}")
        for name, factor in self.scale.items():
            if not (math.isfinite(factor) and factor > 0):
                raise ValueError(f"Drift scale for {name!r} must be a finite number > 0, got {factor!r}")
        self._check_category_weights()
        for name in (*self.drop, *self.as_string):
            if name not in FIELDS_BY_NAME:
                raise ValueError(f"Drift drop/as_string: unknown field {name!r}")

    def _check_category_weights(self) -> None:
        for name, weights in self.category_weights.items():
            if name not in _WEIGHTED_FIELDS:
                raise ValueError(f"Drift category_weights: {name!r} is not one of {sorted(_WEIGHTED_FIELDS)}")
            unknown = set(weights) - set(_WEIGHTED_FIELDS[name])
            if unknown:
                raise ValueError(f"Drift category_weights[{name!r}]: unknown values {sorted(unknown)}")
            if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(f"Drift category_weights[{name!r}]: weights must be >= 0 with a sum > 0")
            if name == "merchant_category" and weights.get("cash_withdrawal", 0) > 0:
                raise ValueError(
                    "Drift category_weights['merchant_category']: cash_withdrawal comes only from the atm "
                    "channel; change the channel weights instead"
                )

    def adjust(self, name: str, value: float) -> float:
        """Apply ``scale`` then ``shift`` to a numeric value, clamped to the field's domain."""
        if name not in self.shift and name not in self.scale:
            return value
        minimum, is_int = _NUMERIC_DOMAIN[name]
        new = value * self.scale.get(name, 1.0) + self.shift.get(name, 0.0)
        new = max(minimum, new)
        return float(round(new)) if is_int else new


_NO_DRIFT = Drift()


@dataclass(frozen=True)
class LabelBias:
    """A facet-dependent label bias, for the bias metrics and their tests (docs/bias-and-explainability.md).

    Events whose ``field`` (a categorical or ordinal field) has ``value`` draw their label with ``shift`` added to the
    true log-odds: a biased labelling process (say, one group's transactions investigated more often), not a change
    of the truth (``fraud_probability`` stays the oracle). The random draws are the same as without it, so with the
    same seed only labels of that group can change, and only in the direction of ``shift``. Written
    ``customer_tier=bronze:1.5`` on the command lines (``parse``).
    """

    field: str
    value: str
    shift: float

    def __post_init__(self) -> None:
        spec = FIELDS_BY_NAME.get(self.field)
        if spec is None or spec.kind not in (Kind.CATEGORICAL, Kind.ORDINAL):
            allowed = [f.name for f in FIELDS_BY_NAME.values() if f.kind in (Kind.CATEGORICAL, Kind.ORDINAL)]
            raise ValueError(f"label bias: {self.field!r} is not a categorical or ordinal field; one of {allowed}")
        values = [json.dumps(v) if isinstance(v, bool) else str(v) for v in spec.values]
        if self.value not in values:
            raise ValueError(f"label bias: {self.field}={self.value!r} is not a value of {self.field}; one of {values}")
        if not (math.isfinite(self.shift) and abs(self.shift) <= MAX_LABEL_BIAS):
            raise ValueError(f"label bias: shift {self.shift!r} is not a log-odds shift in [-10, 10]")

    @classmethod
    def parse(cls, text: str) -> LabelBias:
        """``FIELD=VALUE:SHIFT``, e.g. ``customer_tier=bronze:1.5`` (``ValueError`` with the reason otherwise)."""
        field_name, _, rest = text.partition("=")
        value, _, shift = rest.rpartition(":")
        try:
            number = float(shift)
        except ValueError:
            example = "customer_tier=bronze:1.5"
            raise ValueError(f"label bias {text!r}: expected FIELD=VALUE:SHIFT, e.g. {example}") from None
        return cls(field_name.strip(), value.strip(), number)

    def logit_shift(self, features: Mapping[str, Any]) -> float:
        """``shift`` for an event of the group, 0.0 for any other."""
        value = features[self.field]
        return self.shift if (json.dumps(value) if isinstance(value, bool) else str(value)) == self.value else 0.0


#: The largest log-odds shift a label bias may add (e^10: twenty-two thousand times the odds).
MAX_LABEL_BIAS = 10.0


class _Categorical:
    """Inverse-CDF sampler: exactly one ``random()`` draw per sample, whatever the weights."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        total = sum(weights.values())
        self._values: list[str] = []
        self._cumulative: list[float] = []
        acc = 0.0
        for value, weight in weights.items():
            if weight > 0:
                acc += weight / total
                self._values.append(value)
                self._cumulative.append(acc)

    def sample(self, u: float) -> str:
        for value, edge in zip(self._values, self._cumulative, strict=True):
            if u < edge:
                return value
        return self._values[-1]  # u within rounding error of 1.0


_STANDARD_NORMAL = NormalDist()


def _normal(u: float) -> float:
    """Standard normal quantile of one uniform draw (inverse CDF), clipped so that it stays finite."""
    return _STANDARD_NORMAL.inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12))


def _poisson(lam: float, u: float) -> int:
    """Poisson sample by inversion of the CDF from a single uniform ``u`` (fine for small lambda)."""
    k, p = 0, math.exp(-lam)
    cumulative = p
    while u > cumulative and k < 1000:
        k += 1
        p *= lam / k
        cumulative += p
    return k


def fraud_logit(features: Mapping[str, Any]) -> float:
    """The true log-odds of fraud for the *true* feature values (no nulls, no outlier factor)."""
    category = features["merchant_category"]
    median, sigma = _AMOUNT_MEDIAN_SIGMA[category]
    log_amount = math.log(max(features["amount"], 0.01))
    card_absent = not features["card_present"]
    age = features["account_age_days"]
    logit = INTERCEPT
    logit += 1.6 * max(0.0, (log_amount - math.log(median)) / sigma)  # unusually large for the category
    logit += 0.3 * (log_amount - math.log(50.0))  # and larger amounts in general
    logit += 1.8 * card_absent  # card-not-present
    logit += 0.7 * max(0, features["prior_transactions_24h"] - 3)  # velocity burst
    logit += 2.5 * math.exp(-age / 60.0)  # brand-new account
    logit += 1.0 * (card_absent and age < 30)  # interaction: new account used remotely
    logit += 1.4 * max(0.0, math.log1p(features["distance_from_home_km"]) - math.log1p(50.0))  # far away
    risk = _MERCHANT_RISK[category] + _CHANNEL_RISK[features["channel"]] + _TIER_RISK[features["customer_tier"]]
    logit += 1.3 * risk
    return logit


def fraud_probability(features: Mapping[str, Any]) -> float:
    """P(is_fraud = 1 | true features): the oracle score (an upper bound for any model's AUC)."""
    return _sigmoid(fraud_logit(features))


def _event_id(seed: int | str, index: int) -> str:
    """A UUID-formatted id that depends only on (seed, index): reproducible, unique per event."""
    digest = hashlib.sha256(f"worked-example:{seed}:{index}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


@dataclass(frozen=True)
class _Samplers:
    """The categorical draws of one run (the drift's category weights applied)."""

    channel: _Categorical
    tier: _Categorical
    merchant_present: _Categorical
    merchant_remote: _Categorical

    @classmethod
    def for_drift(cls, drift: Drift) -> _Samplers:
        weights = {**_WEIGHTED_FIELDS, **drift.category_weights}
        if "merchant_category" in drift.category_weights:
            present = remote = _Categorical(drift.category_weights["merchant_category"])
        else:
            present, remote = _Categorical(_MERCHANT_WEIGHTS_PRESENT), _Categorical(_MERCHANT_WEIGHTS_REMOTE)
        return cls(_Categorical(weights["channel"]), _Categorical(weights["customer_tier"]), present, remote)

    def merchant(self, channel: str, u_merchant: float, u_present: float) -> tuple[str, bool]:
        """The merchant category and whether the card was present, for a channel."""
        if channel == "atm":
            return "cash_withdrawal", u_present < 0.995  # the rare card-less ATM withdrawal
        if channel == "in_store":
            return self.merchant_present.sample(u_merchant), u_present < 0.96  # the rest is manual key entry
        return self.merchant_remote.sample(u_merchant), False


def _check_generator_args(n: int, start: datetime, span: timedelta, rates: Mapping[str, float]) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (use datetime(..., tzinfo=UTC))")
    if span <= timedelta(0):
        raise ValueError("span must be positive")
    for name, rate in rates.items():
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {rate}")


def _true_features(draws: Sequence[float], samplers: _Samplers, drift: Drift) -> dict[str, Any]:
    """The features of one event as they really are (before missing values and recording errors)."""
    _, u_channel, u_merchant, u_present, u_tier, u_amount, u_age, u_velocity, u_distance = draws[:9]
    channel = samplers.channel.sample(u_channel)
    merchant, card_present = samplers.merchant(channel, u_merchant, u_present)
    tier = samplers.tier.sample(u_tier)
    tier_rank = FIELDS_BY_NAME["customer_tier"].values.index(tier)
    median, sigma = _AMOUNT_MEDIAN_SIGMA[merchant]
    amount = drift.adjust("amount", round(median * math.exp(sigma * _normal(u_amount)), 2))
    # Older accounts in higher tiers; exponential by inversion (one draw).
    age = drift.adjust("account_age_days", float(int(-(500 + 450 * tier_rank) * math.log(1.0 - u_age))))
    velocity = drift.adjust("prior_transactions_24h", float(_poisson(2.2, u_velocity)))
    home_scale, home_sigma = (6.0, 1.0) if card_present else (30.0, 1.3)
    distance = drift.adjust("distance_from_home_km", round(home_scale * math.exp(home_sigma * _normal(u_distance)), 2))
    return {
        "amount": amount,
        "account_age_days": int(age),
        "prior_transactions_24h": int(velocity),
        "distance_from_home_km": distance,
        "merchant_category": merchant,
        "channel": channel,
        "customer_tier": tier,
        "card_present": card_present,
    }


def _drifted_format(event: dict[str, Any], drift: Drift) -> dict[str, Any]:
    """The drift's format faults: fields sent as JSON strings, fields left out."""
    for name in drift.as_string:
        if event[name] is not None and not isinstance(event[name], str):
            event[name] = json.dumps(event[name])
    for name in drift.drop:
        del event[name]
    return event


def relative_start(today: date | None = None, span: timedelta = DEFAULT_SPAN) -> datetime:
    """Midnight UTC ``span`` before ``today`` (default: today, UTC): events spread over ``span`` from there end at
    today's midnight, so with the default span they fill the last 3 whole days before today (no event is in the
    future, every one is inside a training window ending today). Deterministic for a given seed and day."""
    day = today or datetime.now(UTC).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - span


def generate_events(
    n: int,
    seed: int | str,
    *,
    start: datetime = DEFAULT_START,
    span: timedelta = DEFAULT_SPAN,
    missing_rate: float = MISSING_RATE,
    outlier_rate: float = OUTLIER_RATE,
    drift: Drift | None = None,
    label_bias: LabelBias | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` events (dicts in schema order, JSON-ready values) deterministically from ``seed``.

    Event ``i`` gets an ``event_time`` in ``[start + span*i/n, start + span*(i+1)/n)``, so times are
    non-decreasing and inside ``[start, start + span)``. The generator is lazy: memory use is constant,
    so ``generate_events(10_000_000, 1)`` streams fine. ``label_bias`` biases the labels of one facet value
    (``LabelBias``).
    """
    _check_generator_args(n, start, span, {"missing_rate": missing_rate, "outlier_rate": outlier_rate})
    drift = drift or _NO_DRIFT
    rng = random.Random(seed)
    samplers = _Samplers.for_drift(drift)
    span_us = span / timedelta(microseconds=1)
    names = field_names()
    for index in range(n):
        # A fixed sequence of 12 uniform draws per event, whatever the values: this is what keeps a
        # drifted run aligned with the baseline run of the same seed, event by event.
        draws = [rng.random() for _ in range(12)]
        u_time, u_missing, u_outlier, u_label = draws[0], draws[9], draws[10], draws[11]
        true_features = _true_features(draws, samplers, drift)
        probability = fraud_probability(true_features)
        if label_bias is not None:  # a biased labelling of one group: the same draw against a shifted probability
            probability = _sigmoid(fraud_logit(true_features) + label_bias.logit_shift(true_features))
        is_fraud = int(u_label < probability)
        amount, distance = true_features["amount"], true_features["distance_from_home_km"]
        event: dict[str, Any] = {
            "event_id": _event_id(seed, index),
            "event_time": format_timestamp(start + timedelta(microseconds=span_us * (index + u_time) / n)),
            **true_features,
            "amount": round(amount * OUTLIER_FACTOR, 2) if u_outlier < outlier_rate else round(amount, 2),
            "distance_from_home_km": None if u_missing < missing_rate else round(distance, 2),
            "is_fraud": is_fraud,
        }
        yield _drifted_format({name: event[name] for name in names}, drift)  # schema order


def to_json_line(event: Mapping[str, Any]) -> bytes:
    """Serialize one event as compact JSON + ``\\n``, keys in schema order (then any extra keys).

    Newline-terminated on purpose: Firehose concatenates the records it delivers, so a terminator in
    each record is what keeps the raw-zone S3 objects valid JSON Lines (Athena, Glue and Spark read
    one object per line). ``allow_nan=False``: NaN/Infinity are not JSON and would break every reader.
    """
    ordered = {name: event[name] for name in field_names() if name in event}
    ordered.update((key, value) for key, value in event.items() if key not in ordered)
    return (json.dumps(ordered, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


# --- Command line --------------------------------------------------------------------------------


def _parse_start(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 datetime: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def non_negative_int(text: str) -> int:
    """argparse type for a count (shared by the generator's and the producer's command lines)."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m worked_example.generator",
        description="Write seeded card-transaction events as JSON Lines (one event per line).",
    )
    parser.add_argument("--count", type=non_negative_int, required=True, help="number of events")
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed = same bytes)")
    parser.add_argument("--output", help="output file (default: standard output)")
    parser.add_argument(
        "--start",
        type=_parse_start,
        help="first event time, ISO-8601, e.g. 2026-11-20: pins the dates, so the bytes are the same on any day "
        "(default: midnight UTC --days before today, so the events fill the last days before today)",
    )
    parser.add_argument("--days", type=_positive_float, default=DEFAULT_SPAN.days, help="time window in days")
    add_label_bias_argument(parser)
    return parser


def label_bias_argument(text: str) -> LabelBias:
    """argparse type for ``--label-bias`` (the generator's, the producer's and the sandbox's command lines)."""
    try:
        return LabelBias.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_label_bias_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label-bias",
        type=label_bias_argument,
        metavar="FIELD=VALUE:SHIFT",
        help="bias the labels of one facet value: add SHIFT to its log-odds of fraud, e.g. customer_tier=bronze:1.5",
    )


def _write(out: BinaryIO, args: argparse.Namespace) -> None:
    span = timedelta(days=args.days)
    start = args.start or relative_start(span=span)
    events = generate_events(args.count, args.seed, start=start, span=span, label_bias=args.label_bias)
    out.writelines(to_json_line(event) for event in events)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad arguments via argparse)."""
    args = build_parser().parse_args(argv)
    if args.output:
        with open(args.output, "wb") as out:
            _write(out, args)
        print(f"wrote {args.count} events to {args.output}", file=sys.stderr)
    else:
        _write(sys.stdout.buffer, args)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
