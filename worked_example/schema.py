"""The event schema of the worked example: the single source of truth for every stage.

The worked example is a stream of card transactions, each labelled ``is_fraud`` (1 = fraudulent). It is
deliberately the kind of data the ML Specialty exam talks about: numeric, categorical and ordinal
features, a binary label with a strong class imbalance (~4 % positives), missing values, outliers and
an event timestamp.

Who reads this module:

- the producer and the generator (field order = JSON key order on the wire),
- the Firehose delivery stream's Glue table (``glue_columns()``: Parquet conversion needs the schema),
- the Glue crawler / ETL job (feature kinds drive imputation, outlier capping, binning, encoding),
- training (``LABEL``, ``feature_fields()``) and the drift monitor (baseline per field kind).

Conventions (these are contracts; change them only together with every consumer):

- Column names are lower snake case, so Glue, Athena (case-insensitive, lower-cased) and Spark agree.
- Types are Glue/Athena (Hive) type names, restricted to ``string, int, bigint, double, boolean,
  timestamp``. ``int`` is a signed 32-bit integer in Hive/Parquet, ``bigint`` 64-bit.
- The timestamp travels as a string in ISO-8601 UTC with exactly three fractional digits and a literal
  ``Z``: ``2026-11-20T10:15:30.123Z``. In Joda-Time notation (what Firehose's Hive JSON deserializer and
  the OpenX SerDe's ``timestamp.formats`` take) that is ``TIMESTAMP_JODA_FORMAT`` below.
- Missing values are JSON ``null``; only fields with ``nullable=True`` may be null.
- The label is an ``int`` with values 0 and 1 (not a boolean): SageMaker's built-in XGBoost and most
  metrics code expect a numeric 0/1 target.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

#: The Glue/Athena column types this schema may use. Kept small on purpose: every one of them maps
#: cleanly to Parquet, Spark, pandas and JSON.
GLUE_TYPES: frozenset[str] = frozenset({"string", "int", "bigint", "double", "boolean", "timestamp"})

#: Glue limits a column comment to 255 characters; longer descriptions fail CreateTable.
MAX_GLUE_COMMENT_CHARS = 255

#: Timestamp wire format (Python ``strftime`` cannot print milliseconds, see ``format_timestamp``).
TIMESTAMP_EXAMPLE = "2026-11-20T10:15:30.123Z"
#: The same format as a Joda-Time pattern, for Firehose's ``HiveJsonInputFormat(timestamp_parsers=...)``.
TIMESTAMP_JODA_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
#: The same format as a Spark/Java ``DateTimeFormatter`` pattern (``to_timestamp(col, fmt)`` in Glue).
TIMESTAMP_SPARK_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"
#: The wire format as a regular expression (the ETL's validator uses it too).
TIMESTAMP_REGEX = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
_TIMESTAMP_RE = re.compile(TIMESTAMP_REGEX)

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class Kind(StrEnum):
    """What role a field plays in the ML pipeline (drives ETL, training and drift monitoring)."""

    ID = "id"  # unique per event; never a feature (it would be memorised, not learned)
    TIMESTAMP = "timestamp"  # event time; used for partitioning and time-based splits, not as a feature
    NUMERIC = "numeric"  # continuous or count: impute, cap outliers, scale or bin
    CATEGORICAL = "categorical"  # unordered labels: one-hot or target encoding
    ORDINAL = "ordinal"  # ordered labels: map to 0..k-1 keeping the order
    LABEL = "label"  # the training target


@dataclass(frozen=True, slots=True)
class Field:
    """One column of the event schema.

    ``values`` lists the allowed values of a categorical field (any order), of an ordinal field (in
    ascending order: ``values[0] < values[1] < ...``) and of the label (``(0, 1)``); it is empty for
    the other kinds. ``minimum`` / ``maximum`` bound a numeric field's plausible values (inclusive, None =
    unbounded): a value outside them is well-typed but impossible (a negative amount), and the ETL
    quarantines it as ``out_of_range:<field>``.
    """

    name: str
    type: str
    kind: Kind
    nullable: bool
    description: str
    values: tuple[str | int | bool, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"field name {self.name!r} must be lower snake case ([a-z][a-z0-9_]*)")
        if self.type not in GLUE_TYPES:
            raise ValueError(f"field {self.name!r}: type {self.type!r} is not one of {sorted(GLUE_TYPES)}")
        if len(self.description) > MAX_GLUE_COMMENT_CHARS:
            raise ValueError(f"field {self.name!r}: description longer than {MAX_GLUE_COMMENT_CHARS} chars")
        needs_values = self.kind in (Kind.CATEGORICAL, Kind.ORDINAL, Kind.LABEL)
        if needs_values and len(self.values) < 2:
            raise ValueError(f"field {self.name!r} ({self.kind}) needs at least two allowed values")
        if not needs_values and self.values:
            raise ValueError(f"field {self.name!r} ({self.kind}) must not list allowed values")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"field {self.name!r}: allowed values are not unique")
        bounds = [b for b in (self.minimum, self.maximum) if b is not None]
        if bounds and (self.kind is not Kind.NUMERIC or not all(math.isfinite(b) for b in bounds)):
            raise ValueError(f"field {self.name!r}: minimum/maximum need a numeric field and finite bounds")
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            raise ValueError(f"field {self.name!r}: minimum {bounds[0]} is above maximum {bounds[1]}")

    def glue_column(self) -> dict[str, str]:
        """The Glue ``Column`` structure (``Name``/``Type``/``Comment`` in the API, lower case here)."""
        return {"name": self.name, "type": self.type, "comment": self.description}


#: The ordered field list. The order is the JSON key order on the wire and the column order of the
#: Glue table; append new fields at the end so positional readers (CSV for XGBoost) keep working.
FIELDS: tuple[Field, ...] = (
    Field("event_id", "string", Kind.ID, False, "Unique event identifier (UUID), deterministic per seed."),
    Field(
        "event_time",
        "timestamp",
        Kind.TIMESTAMP,
        False,
        "Transaction time, ISO-8601 UTC with milliseconds and a trailing Z (2026-11-20T10:15:30.123Z).",
    ),
    Field(
        "amount",
        "double",
        Kind.NUMERIC,
        False,
        "Transaction amount in major currency units. Log-normal (heavy right tail); ~1% are recording "
        "errors entered in minor units (x100), the outliers the ETL caps.",
        minimum=0,
    ),
    Field("account_age_days", "int", Kind.NUMERIC, False, "Days since the card account was opened.", minimum=0),
    Field(
        "prior_transactions_24h",
        "int",
        Kind.NUMERIC,
        False,
        "Number of transactions on the same card in the previous 24 hours (velocity).",
        minimum=0,
    ),
    Field(
        "distance_from_home_km",
        "double",
        Kind.NUMERIC,
        True,
        "Distance between the transaction and the cardholder's home, km. Null (~5%) when no location "
        "was available: the missing values the ETL imputes.",
        minimum=0,
    ),
    Field(
        "merchant_category",
        "string",
        Kind.CATEGORICAL,
        False,
        "Merchant category group; ATM transactions are always cash_withdrawal.",
        (
            "grocery",
            "restaurant",
            "gas_station",
            "entertainment",
            "health",
            "travel",
            "online_retail",
            "electronics",
            "jewelry",
            "cash_withdrawal",
        ),
    ),
    Field(
        "channel",
        "string",
        Kind.CATEGORICAL,
        False,
        "How the transaction was made.",
        ("in_store", "online", "mobile_app", "atm"),
    ),
    Field(
        "customer_tier",
        "string",
        Kind.ORDINAL,
        False,
        "Card tier, ordered bronze < silver < gold < platinum.",
        ("bronze", "silver", "gold", "platinum"),
    ),
    Field(
        "card_present",
        "boolean",
        Kind.CATEGORICAL,
        False,
        "True when the physical card was read (chip, swipe, contactless); false when card-not-present.",
        (False, True),
    ),
    Field("is_fraud", "int", Kind.LABEL, False, "Label: 1 = fraudulent, 0 = genuine (~4% positive).", (0, 1)),
)

#: Name -> Field, read-only.
FIELDS_BY_NAME: Mapping[str, Field] = MappingProxyType({f.name: f for f in FIELDS})
if len(FIELDS_BY_NAME) != len(FIELDS):  # pragma: no cover - a programming error caught at import
    raise ValueError("duplicate field names in FIELDS")

#: The training target.
LABEL = "is_fraud"
#: The event-time column (Firehose/Glue partitioning, time-based splits, drift windows).
TIMESTAMP_FIELD = "event_time"
#: The unique event id (the producer's default Kinesis partition key).
ID_FIELD = "event_id"
#: The positive (minority) class value of ``LABEL``.
POSITIVE_CLASS = 1

for _name, _kind in ((LABEL, Kind.LABEL), (TIMESTAMP_FIELD, Kind.TIMESTAMP), (ID_FIELD, Kind.ID)):
    if FIELDS_BY_NAME[_name].kind is not _kind:  # pragma: no cover - a programming error caught at import
        raise ValueError(f"{_name!r} must be of kind {_kind}")


def field_names() -> list[str]:
    """All column names in schema (wire) order."""
    return [f.name for f in FIELDS]


def glue_columns() -> list[dict[str, str]]:
    """Column definitions for a Glue table: ``[{"name", "type", "comment"}, ...]`` in schema order.

    CDK's ``glue.CfnTable.ColumnProperty(name=..., type=..., comment=...)`` takes exactly these keys.
    """
    return [f.glue_column() for f in FIELDS]


def feature_fields() -> list[Field]:
    """The model inputs: every field except the id, the timestamp and the label (schema order)."""
    return [f for f in FIELDS if f.kind not in (Kind.ID, Kind.TIMESTAMP, Kind.LABEL)]


def fields_of_kind(kind: Kind | str) -> list[Field]:
    """The fields of one kind, e.g. ``fields_of_kind("numeric")`` for the ETL's imputation step."""
    return [f for f in FIELDS if f.kind == Kind(kind)]


def format_timestamp(moment: datetime) -> str:
    """Serialize an aware datetime as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds truncated).

    Naive datetimes are rejected: a timestamp without a zone is the classic source of off-by-hours
    partitions once a job runs somewhere whose local time is not UTC.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("format_timestamp needs a timezone-aware datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse the wire format back into an aware UTC datetime; anything else raises ``ValueError``."""
    if not isinstance(text, str) or not _TIMESTAMP_RE.match(text):
        raise ValueError(f"not a timestamp in the format {TIMESTAMP_EXAMPLE}: {text!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _type_problem(field: Field, value: Any) -> str | None:
    """Return why ``value`` does not fit ``field.type`` (non-null values only), or None."""
    if field.type == "string":
        ok = isinstance(value, str)
    elif field.type in ("int", "bigint"):
        lo, hi = (_INT32_MIN, _INT32_MAX) if field.type == "int" else (_INT64_MIN, _INT64_MAX)
        # bool is a subclass of int in Python, but JSON true is not an integer column value.
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    elif field.type == "double":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif field.type == "boolean":
        ok = isinstance(value, bool)
    else:  # timestamp
        try:
            parse_timestamp(value)
            ok = True
        except ValueError:
            ok = False
    return None if ok else f"{field.name}: {value!r} is not a valid {field.type}"


def validate_event(event: Mapping[str, Any]) -> list[str]:
    """Check one decoded event against the schema; return the problems (empty list = valid).

    Checks: no unknown keys, every field present, nulls only where nullable, the value's type, numeric
    bounds (``minimum``/``maximum``), a non-blank id, and for categorical/ordinal/label fields membership
    in the allowed values. Used by the tests, and usable as
    a data-quality check by any stage that reads the events back.
    """
    problems = [f"unknown field {key!r}" for key in event if key not in FIELDS_BY_NAME]
    for field in FIELDS:
        if field.name not in event:
            problems.append(f"{field.name}: missing")
            continue
        value = event[field.name]
        if value is None:
            if not field.nullable:
                problems.append(f"{field.name}: null in a non-nullable field")
            continue
        problem = _type_problem(field, value) or _range_problem(field, value)
        if problem:
            problems.append(problem)
        elif field.values and value not in field.values:
            problems.append(f"{field.name}: {value!r} is not one of {list(field.values)}")
    return problems


def _range_problem(field: Field, value: Any) -> str | None:
    """Why a well-typed value is implausible (outside the field's bounds, or a blank id), or None."""
    if field.minimum is not None and value < field.minimum:
        return f"{field.name}: {value!r} is below the minimum {field.minimum}"
    if field.maximum is not None and value > field.maximum:
        return f"{field.name}: {value!r} is above the maximum {field.maximum}"
    if field.kind is Kind.ID and not str(value).strip():
        return f"{field.name}: blank"
    return None


__all__ = [
    "FIELDS",
    "FIELDS_BY_NAME",
    "GLUE_TYPES",
    "ID_FIELD",
    "LABEL",
    "MAX_GLUE_COMMENT_CHARS",
    "POSITIVE_CLASS",
    "TIMESTAMP_EXAMPLE",
    "TIMESTAMP_FIELD",
    "TIMESTAMP_JODA_FORMAT",
    "TIMESTAMP_SPARK_FORMAT",
    "Field",
    "Kind",
    "feature_fields",
    "field_names",
    "fields_of_kind",
    "format_timestamp",
    "glue_columns",
    "parse_timestamp",
    "validate_event",
]
