"""The fitted preprocessing: ONE definition of every engineered feature, applied by Spark and by the endpoint.

Standard library only. The Glue job runs the formulas below on Spark columns (``spark_ops.SparkOps``); the
endpoint's preprocessing container runs the very same formulas on one raw event (``PythonOps``), with the values
the job fitted on the training split, read from ``preprocessing/fitted.json`` (``Preprocessor``). A feature is
changed here, once: the training data and the endpoint cannot drift apart.

How one definition serves two engines: every formula is written against a small set of operations (``Ops``) with
SQL's null semantics (null in, null out; ``coalesce``; ``when``; ``least``/``greatest`` skipping nulls). Spark
implements them with ``pyspark.sql.functions``, ``PythonOps`` with floats and ``None``. The parity tests run the
same events through both and compare every column.

The document (``fitted.json``, ``FITTED_VERSION``)::

    {"fitted_version": 1,
     "fields":   [{"name", "type", "kind", "nullable", "values"}, ...],   # the raw event, wire order
     "label", "id_column", "timestamp_column", "timestamp_regex",
     "encoding": [{"encoding": "numeric"|"boolean"|"ordinal"|"categorical", "field", ...}, ...],
     "steps":    [{"step": "outliers"|"impute"|"bin", "column", ...fitted values...}, ...],
     "columns":  [feature columns in the model's order]}

Rules for what a request may hold (identical to training, see docs/glue-etl.md "The fitted preprocessing"):

- a missing or null **optional** field (``distance_from_home_km``) is imputed exactly as in training, and its
  ``<name>_was_missing`` flag is 1; an absent key and a JSON null are the same thing (the ETL's JSON reader makes
  no difference either);
- an **unseen category** (a value outside the schema's list) is encoded as "none of the known values": all its
  one-hot columns 0, and for an ordinal field a missing rank (an empty CSV cell, XGBoost's missing value). The
  ETL quarantines such records, so the model never trained on one; it scores them by its learned defaults;
- a missing **required** field, a value of the wrong JSON type or an unparsable timestamp is an ``EventError``
  (the endpoint answers 400 with one line naming the field); the label and unknown extra keys are ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

#: Bump when the meaning of fitted.json changes; ``Preprocessor`` refuses other versions.
FITTED_VERSION = 1

_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}


class EventError(ValueError):
    """A raw event the preprocessor cannot turn into features; ``str()`` is one line naming the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


#: ``(ops, query, weight, reference coordinates) -> distance`` (``nan_euclidean``).
Distance = Callable[[Any, Sequence[Any], Any, Sequence[Any]], Any]


class Ops(Protocol):
    """The operations the formulas use, with SQL's null semantics (``PythonOps``, ``spark_ops.SparkOps``)."""

    def lit(self, value: Any) -> Any: ...
    def null(self) -> Any: ...
    def add(self, a: Any, b: Any) -> Any: ...
    def mul(self, a: Any, b: Any) -> Any: ...
    def log1p(self, a: Any) -> Any: ...
    def expm1(self, a: Any) -> Any: ...
    def least(self, a: Any, b: Any) -> Any: ...
    def greatest(self, a: Any, b: Any) -> Any: ...
    def lt(self, a: Any, b: Any) -> Any: ...
    def gt(self, a: Any, b: Any) -> Any: ...
    def ge(self, a: Any, b: Any) -> Any: ...
    def eq(self, a: Any, b: Any) -> Any: ...
    def or_(self, a: Any, b: Any) -> Any: ...
    def is_null(self, a: Any) -> Any: ...
    def coalesce(self, a: Any, b: Any) -> Any: ...
    def when(self, condition: Any, then: Any, otherwise: Any) -> Any: ...
    def cast(self, a: Any, type_name: str) -> Any: ...
    def sub(self, a: Any, b: Any) -> Any: ...
    def div(self, a: Any, b: Any) -> Any: ...
    def sqrt(self, a: Any) -> Any: ...
    def lazy(self, condition: Any, value: Callable[[], Any]) -> Any: ...
    def nearest_mean(
        self, query: Sequence[Any], weight: Any, reference: Sequence[Sequence[float]], k: int, distance: Distance
    ) -> Any: ...


class PythonOps:
    """``Ops`` on Python values: ``None`` is SQL's null, booleans are SQL booleans."""

    def lit(self, value: Any) -> Any:
        return value

    def null(self) -> Any:
        return None

    def add(self, a: Any, b: Any) -> Any:
        return None if a is None or b is None else a + b

    def mul(self, a: Any, b: Any) -> Any:
        return None if a is None or b is None else a * b

    def log1p(self, a: Any) -> Any:
        return None if a is None or a <= -1 else math.log1p(a)  # Spark: log1p of <= -1 is null

    def expm1(self, a: Any) -> Any:
        if a is None:
            return None
        try:
            return math.expm1(a)
        except OverflowError:  # Spark (Java's Math.expm1) gives +Infinity, which the clamp then bounds
            return math.inf

    def least(self, a: Any, b: Any) -> Any:  # Spark's least/greatest skip nulls
        return b if a is None else a if b is None else min(a, b)

    def greatest(self, a: Any, b: Any) -> Any:
        return b if a is None else a if b is None else max(a, b)

    def lt(self, a: Any, b: Any) -> Any:
        return None if a is None or b is None else a < b

    def gt(self, a: Any, b: Any) -> Any:
        return None if a is None or b is None else a > b

    def ge(self, a: Any, b: Any) -> Any:
        return None if a is None or b is None else a >= b

    def eq(self, a: Any, b: Any) -> Any:
        return None if a is None or b is None else a == b

    def or_(self, a: Any, b: Any) -> Any:  # three-valued logic
        if a is True or b is True:
            return True
        return None if a is None or b is None else False

    def is_null(self, a: Any) -> Any:
        return a is None

    def coalesce(self, a: Any, b: Any) -> Any:
        return b if a is None else a

    def when(self, condition: Any, then: Any, otherwise: Any) -> Any:
        return then if condition is True else otherwise

    def cast(self, a: Any, type_name: str) -> Any:
        if a is None:
            return None
        if type_name == "double":
            return float(a)
        if type_name in ("int", "bigint"):
            return int(a)  # truncates toward zero, as Spark's cast of a double does
        raise ValueError(f"cast to {type_name!r} is not one of the preprocessing's types")

    def sub(self, a: Any, b: Any) -> Any:
        return None if a is None or b is None else a - b

    def div(self, a: Any, b: Any) -> Any:  # Spark (non-ANSI): division by zero is null
        return None if a is None or b is None or b == 0 else a / b

    def sqrt(self, a: Any) -> Any:
        return None if a is None else math.sqrt(a) if a >= 0 else math.nan

    def lazy(self, condition: Any, value: Callable[[], Any]) -> Any:
        """``value()`` where ``condition`` holds, else null; computed only when needed (``when`` without otherwise)."""
        return value() if condition is True else None

    def nearest_mean(
        self, query: Sequence[Any], weight: Any, reference: Sequence[Sequence[float]], k: int, distance: Distance
    ) -> Any:
        """Mean target of the ``k`` reference rows nearest to ``query`` by ``distance``; rows are ``[target, index,
        *coords]`` and ties go to the smaller index (``SparkOps.nearest_mean`` sorts the same triples)."""
        scored = sorted((_distance_key(distance(self, query, weight, row[2:])), row[1], row[0]) for row in reference)
        scored = scored[:k]
        total = 0.0
        for _, _, target in scored:  # left to right, as Spark's aggregate
            total += target
        return total / len(scored)


def _distance_key(distance: float | None) -> float:
    return math.inf if distance is None else distance  # no present coordinate: the caller ignores the result


PYTHON_OPS = PythonOps()

Columns = Mapping[str, Any]


# --- The formulas: encoding of the raw fields, then the fitted steps in order -------------------------------


def encode(ops: Ops, value: Any, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The encoded columns of one raw field (``value``: the field's value or column) from its encoding entry.

    - numeric: the value in its schema type (a JSON integer in a double field becomes a double);
    - boolean: 0/1;
    - ordinal: the rank 0..k-1 of the value in the schema's order; an unseen value has no rank (null);
    - categorical: one 0/1 column per known value; an unseen or missing value is 0 in all of them.
    """
    kind = entry["encoding"]
    if kind == "numeric":
        return {entry["field"]: ops.cast(value, entry["type"])}
    if kind == "boolean":
        return {entry["field"]: ops.cast(value, "int")}
    if kind == "ordinal":
        rank = ops.null()
        for i, known in enumerate(entry["values"]):
            rank = ops.when(ops.eq(value, ops.lit(known)), ops.lit(i), rank)
        return {entry["column"]: rank}
    if kind == "categorical":
        return {
            column: ops.coalesce(ops.cast(ops.eq(value, ops.lit(known)), "int"), ops.lit(0))
            for column, known in zip(entry["columns"], entry["values"], strict=True)
        }
    raise ValueError(f"fitted.json: unknown encoding {kind!r}")


def apply_step(ops: Ops, cols: Columns, step: Mapping[str, Any]) -> dict[str, Any]:
    """The columns one fitted step adds or replaces, computed from ``cols`` (all read before any is replaced)."""
    kind = step["step"]
    if kind == "outliers":
        return _outliers(ops, cols, step)
    if kind == "impute":
        return _impute(ops, cols, step)
    if kind == "bin":
        return _bin(ops, cols, step)
    raise ValueError(f"fitted.json: unknown step {kind!r}")


def _outliers(ops: Ops, cols: Columns, step: Mapping[str, Any]) -> dict[str, Any]:
    """``<col>_is_outlier`` = value outside [lower, upper] (0 when missing); in clip mode the value is capped."""
    x, lower, upper = cols[step["column"]], ops.lit(step["lower"]), ops.lit(step["upper"])
    outside = ops.or_(ops.lt(x, lower), ops.gt(x, upper))
    out = {step["flag_column"]: ops.cast(ops.coalesce(outside, ops.lit(False)), "int")}
    if step["clip"]:
        clipped = ops.least(ops.greatest(x, lower), upper)
        out[step["column"]] = ops.cast(ops.when(ops.is_null(x), x, clipped), step["type"])
    return out


def _impute(ops: Ops, cols: Columns, step: Mapping[str, Any]) -> dict[str, Any]:
    """``<col>_was_missing`` = 1 when missing, and the missing value replaced by ``imputed_value`` (computed only
    for a missing value). A MICE round after the first (``round`` > 1) re-imputes the values its indicator marks
    as missing from the current values of the other columns, and leaves the indicator alone."""
    x = cols[step["column"]]
    if step.get("round", 1) > 1:
        missing = ops.eq(cols[step["indicator_column"]], ops.lit(1))
        value = ops.coalesce(ops.lazy(missing, lambda: imputed_value(ops, cols, step)), ops.cast(x, "double"))
        return {step["column"]: ops.cast(value, step["type"])}
    filled = ops.coalesce(ops.cast(x, "double"), ops.lazy(ops.is_null(x), lambda: imputed_value(ops, cols, step)))
    return {step["indicator_column"]: ops.cast(ops.is_null(x), "int"), step["column"]: ops.cast(filled, step["type"])}


def imputed_value(ops: Ops, cols: Columns, step: Mapping[str, Any]) -> Any:
    """The constant fill (``value``: the train mean for ``mean``, the median otherwise), the KNN mean (``knn``),
    or the regression's prediction: ``intercept + sum(coefficient * transform(predictor))``, back-transformed
    (``expm1`` for a ``log1p`` target) and clamped to the observed train range. A nullable predictor not imputed
    yet counts as its median (``fill``)."""
    if step.get("knn") is not None:
        return knn_value(ops, cols, step)
    model = step.get("model")
    if model is None:
        return ops.lit(step["median"] if step.get("value") is None else step["value"])
    fill = step.get("fill") or {}
    y_hat = ops.lit(model["intercept"])
    for predictor in model["predictors"]:
        if predictor["coefficient"]:
            value = ops.cast(cols[predictor["column"]], "double")
            if predictor["column"] in fill:
                value = ops.coalesce(value, ops.lit(fill[predictor["column"]]))
            if predictor["transform"] == "log1p":
                value = ops.log1p(value)
            y_hat = ops.add(y_hat, ops.mul(ops.lit(predictor["coefficient"]), value))
    value = ops.expm1(y_hat) if model["target_transform"] == "log1p" else y_hat
    return ops.least(ops.greatest(value, ops.lit(model["lower"])), ops.lit(model["upper"]))


def knn_value(ops: Ops, cols: Columns, step: Mapping[str, Any]) -> Any:
    """KNN imputation, as scikit-learn's ``KNNImputer(n_neighbors=k, weights="uniform", metric="nan_euclidean")``
    on the standardised matrix: every feature ``f`` becomes ``z = (transform(x) - mean) / std`` (train mean and
    population standard deviation); the query's missing coordinates (the imputed column itself, and any other
    imputed column the row is missing, by its indicator) are left out and the squared distance over the present
    ones is scaled by ``n_features / n_present`` (the nan_euclidean rescaling); the ``k`` nearest reference rows
    (ties: smaller index) give the mean of their ``z`` of the column, back-transformed. A query with no present
    coordinate gets the mean over the whole reference set (``KNNImputer`` uses the column mean there)."""
    knn = step["knn"]
    query = []
    for f in knn["features"]:
        value = ops.null() if f["column"] == step["column"] else ops.cast(cols[f["column"]], "double")
        indicator = f.get("indicator")
        if indicator is not None and indicator in cols:
            value = ops.when(ops.eq(cols[indicator], ops.lit(1)), ops.null(), value)
        if f["transform"] == "log1p":
            value = ops.log1p(value)
        query.append(ops.div(ops.sub(value, ops.lit(f["mean"])), ops.lit(f["std"])))
    present = ops.lit(0)
    for q in query:
        present = ops.add(present, ops.cast(ops.is_null(q), "int"))
    n = len(query)
    present = ops.sub(ops.lit(n), present)
    weight = ops.div(ops.lit(float(n)), ops.cast(present, "double"))
    reference, everything = knn_reference(step)
    nearest = ops.nearest_mean(query, weight, reference, knn["k"], nan_euclidean)
    z = ops.when(ops.eq(present, ops.lit(0)), ops.lit(everything), nearest)
    target = next(f for f in knn["features"] if f["column"] == step["column"])
    value = ops.add(ops.mul(z, ops.lit(target["std"])), ops.lit(target["mean"]))
    return ops.expm1(value) if target["transform"] == "log1p" else value


def nan_euclidean(ops: Ops, query: Sequence[Any], weight: Any, row: Sequence[Any]) -> Any:
    """``sqrt(weight * sum((q - r)^2 over the query's present coordinates))``, summed in coordinate order;
    ``weight`` = coordinates / present coordinates (the reference rows are complete)."""
    total = ops.lit(0.0)
    for q, r in zip(query, row, strict=True):
        diff = ops.sub(q, r)
        total = ops.add(total, ops.coalesce(ops.mul(diff, diff), ops.lit(0.0)))
    return ops.sqrt(ops.mul(weight, total))


def knn_reference(step: Mapping[str, Any]) -> tuple[list[list[float]], float]:
    """The reference rows of a KNN step as ``[z of the target, index, z of every feature...]`` (standardised here,
    in Python, for both engines: the same doubles), and the mean ``z`` of the target over all of them."""
    knn = step["knn"]
    cached = knn.get(_STANDARDISED)
    if cached is not None:
        return cached
    features = knn["features"]
    target = next(j for j, f in enumerate(features) if f["column"] == step["column"])
    rows: list[list[float]] = []
    for index, raw in enumerate(reference_rows(knn)):
        z = []
        for f, x in zip(features, raw, strict=True):
            v = math.log1p(x) if f["transform"] == "log1p" else float(x)
            z.append((v - f["mean"]) / f["std"])
        rows.append([z[target], float(index), *z])
    total = 0.0
    for row in rows:
        total += row[0]
    return rows, total / len(rows)


def reference_rows(knn: Mapping[str, Any]) -> list[list[float]]:
    """The raw reference rows of a KNN entry: each one a line of comma-separated numbers in the order of
    ``features`` (one string per row keeps fitted.json, which is indented, about 50 bytes a row)."""
    return [[float(v) for v in row.split(",")] for row in knn["reference"]]


_STANDARDISED = "_standardised"  # the serving copy's precomputed ``knn_reference`` (never written to fitted.json)


def _serving_step(step: Mapping[str, Any]) -> Mapping[str, Any]:
    """A KNN step with its standardised reference computed once, at load (a copy: the document is unchanged)."""
    if step.get("knn") is None:
        return step
    return {**step, "knn": {**step["knn"], _STANDARDISED: knn_reference(step)}}


def _bin(ops: Ops, cols: Columns, step: Mapping[str, Any]) -> dict[str, Any]:
    """``<col>_bin`` = the number of edges at or below the value (0..n_bins-1); null when the value is."""
    x = cols[step["column"]]
    index = ops.lit(0)
    for edge in step["edges"]:
        index = ops.add(index, ops.cast(ops.ge(x, ops.lit(edge)), "int"))
    return {step["bin_column"]: ops.when(ops.is_null(x), ops.null(), index)}


# --- Serving: one raw event -> one feature row ---------------------------------------------------------------


class Preprocessor:
    """``fitted.json`` loaded: ``features(event)`` is the feature row, in the model's column order."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        version = document.get("fitted_version") if isinstance(document, Mapping) else None
        if version != FITTED_VERSION:
            raise ValueError(f"fitted.json: fitted_version={version!r}, this preprocessor reads {FITTED_VERSION}")
        self.document = document
        self.fields: list[Mapping[str, Any]] = list(document["fields"])
        self.encoding: list[Mapping[str, Any]] = list(document["encoding"])
        self.steps: list[Mapping[str, Any]] = [_serving_step(s) for s in document["steps"]]
        self.columns: list[str] = list(document["columns"])
        self._timestamp_re = re.compile(document["timestamp_regex"])
        self._ignored = {document["label"]}

    @classmethod
    def from_file(cls, path: Any) -> Preprocessor:
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def check(self, event: Any) -> None:
        """Raise ``EventError`` for the first field (wire order) a request cannot have."""
        if not isinstance(event, Mapping):
            raise EventError("event", f"expected a JSON object, got {_json_type(event)}")
        for field in self.fields:
            name = field["name"]
            if name in self._ignored:
                continue
            value = event.get(name)
            if value is None:
                if not field["nullable"]:
                    raise EventError(name, "missing required field")
                continue
            problem = self._type_problem(field, value)
            if problem:
                raise EventError(name, problem)

    def _type_problem(self, field: Mapping[str, Any], value: Any) -> str | None:
        kind = field["type"]
        if kind == "timestamp":
            return (
                None
                if isinstance(value, str) and _is_timestamp(value, self._timestamp_re)
                else (f"unparsable timestamp {value!r} (expected like 2026-11-20T10:15:30.123Z)")
            )
        if kind == "string":
            ok = isinstance(value, str)
        elif kind == "boolean":
            ok = isinstance(value, bool)
        elif kind in _INT_RANGES:
            lo, hi = _INT_RANGES[kind]
            ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        else:  # double
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
        return None if ok else f"expected {_EXPECTED[kind]}, got {_json_type(value)} {_short(value)}"

    def features(self, event: Any) -> list[Any]:
        """The feature row of one raw event (checked first); ``None`` is a missing value (unseen ordinal)."""
        self.check(event)
        return self.unchecked_features(event.get)

    def csv(self, event: Any) -> str:
        """The feature row of one raw event as a CSV line (``csv_line``)."""
        return csv_line(self.features(event))

    def unchecked_features(self, get: Callable[[str], Any]) -> list[Any]:
        cols: dict[str, Any] = {}
        for entry in self.encoding:
            cols.update(encode(PYTHON_OPS, get(entry["field"]), entry))
        for step in self.steps:
            cols.update(apply_step(PYTHON_OPS, cols, step))
        return [cols[name] for name in self.columns]


_EXPECTED = {
    "string": "a string",
    "boolean": "true or false",
    "int": "a 32-bit integer",
    "bigint": "a 64-bit integer",
    "double": "a finite number",
}


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the double range (JSON allows 1e400 written out as digits)
        return False


def _is_timestamp(text: str, pattern: re.Pattern[str]) -> bool:
    if not pattern.match(text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")  # the calendar: 2026-02-30 is no date
    except ValueError:
        return False
    return True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def csv_line(row: Sequence[Any]) -> str:
    """One feature row as a CSV line for XGBoost: integers as integers, doubles in their shortest exact form
    (``repr``), a missing value as an empty field (the XGBoost container reads it as NaN)."""
    return ",".join("" if v is None else repr(float(v)) if isinstance(v, float) else str(int(v)) for v in row)


__all__ = [
    "FITTED_VERSION",
    "PYTHON_OPS",
    "EventError",
    "Ops",
    "Preprocessor",
    "PythonOps",
    "apply_step",
    "csv_line",
    "encode",
    "imputed_value",
    "knn_value",
    "nan_euclidean",
]
