"""``preprocessing.Ops`` on Spark columns: the engine the Glue job runs the shared feature formulas on.

Each operation is the Spark function whose null semantics ``preprocessing.PythonOps`` copies; ``apply`` runs one
encoding entry or fitted step of ``preprocessing`` over a DataFrame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

from ml_constructs.glue_etl.runtime import preprocessing


class SparkOps:
    """``preprocessing.Ops`` with ``pyspark.sql.functions``."""

    def lit(self, value: Any) -> Column:
        return F.lit(value)

    def null(self) -> Column:
        return F.lit(None)

    def add(self, a: Column, b: Column) -> Column:
        return a + b

    def mul(self, a: Column, b: Column) -> Column:
        return a * b

    def log1p(self, a: Column) -> Column:
        return F.log1p(a)

    def expm1(self, a: Column) -> Column:
        return F.expm1(a)

    def least(self, a: Column, b: Column) -> Column:
        return F.least(a, b)

    def greatest(self, a: Column, b: Column) -> Column:
        return F.greatest(a, b)

    def lt(self, a: Column, b: Column) -> Column:
        return a < b

    def gt(self, a: Column, b: Column) -> Column:
        return a > b

    def ge(self, a: Column, b: Column) -> Column:
        return a >= b

    def eq(self, a: Column, b: Column) -> Column:
        return a == b

    def or_(self, a: Column, b: Column) -> Column:
        return a | b

    def is_null(self, a: Column) -> Column:
        return a.isNull()

    def coalesce(self, a: Column, b: Column) -> Column:
        return F.coalesce(a, b)

    def when(self, condition: Column, then: Column, otherwise: Column) -> Column:
        return F.when(condition, then).otherwise(otherwise)

    def cast(self, a: Column, type_name: str) -> Column:
        return a.cast(type_name)

    def sub(self, a: Column, b: Column) -> Column:
        return a - b

    def div(self, a: Column, b: Column) -> Column:
        return a / b

    def sqrt(self, a: Column) -> Column:
        return F.sqrt(a)

    def lazy(self, condition: Column, value: Callable[[], Column]) -> Column:
        return F.when(condition, value())  # CASE WHEN evaluates the branch only for the rows that take it

    def nearest_mean(
        self, query: Sequence[Column], weight: Column, reference: Sequence[Sequence[float]], k: int, distance: Any
    ) -> Column:
        """``reference`` is in the column ``KNN_REFERENCE`` (``apply_step`` cross-joins it as a broadcast one-row
        table: as a literal, 1,000 rows would cost seconds of query planning). The query coordinates and the weight
        are packed once per row (a lambda would otherwise recompute them for every reference row); then each row's
        distance to every reference row (``transform``), the ``(distance, index, target)`` triples sorted
        (``sort_array``: by distance, then index) and the targets of the first ``k`` averaged in order."""
        width = len(reference[0]) - 2
        packed = F.array(F.struct(F.array(*query).alias("q"), weight.alias("w")))

        def per_row(p: Column) -> Column:
            q = [p["q"][j] for j in range(width)]
            scored = F.transform(
                F.col(KNN_REFERENCE),
                lambda r: F.struct(
                    distance(self, q, p["w"], [r[2 + j] for j in range(width)]).alias("d"),
                    r[1].alias("i"),
                    r[0].alias("t"),
                ),
            )
            total = F.aggregate(F.slice(F.sort_array(scored), 1, k), F.lit(0.0), lambda acc, s: acc + s["t"])
            return total / F.lit(float(min(k, len(reference))))

        return F.transform(packed, per_row)[0]


SPARK_OPS = SparkOps()
KNN_REFERENCE = "_knn_reference"


def columns(df: DataFrame) -> dict[str, Column]:
    return {name: F.col(name) for name in df.columns}


def apply_encoding(df: DataFrame, entry: Mapping[str, Any]) -> DataFrame:
    """Add (or replace) the encoded columns of one raw field."""
    return df.withColumns(preprocessing.encode(SPARK_OPS, F.col(entry["field"]), entry))


def apply_step(df: DataFrame, step: Mapping[str, Any]) -> DataFrame:
    """Add (or replace) the columns of one fitted step. A KNN step first cross-joins its reference set, one row
    holding the standardised reference rows, broadcast to every task (and drops it again)."""
    if step.get("knn") is None:
        return df.withColumns(preprocessing.apply_step(SPARK_OPS, columns(df), step))
    reference, _ = preprocessing.knn_reference(step)
    table = df.sparkSession.createDataFrame([(reference,)], f"{KNN_REFERENCE} array<array<double>>")
    joined = df.crossJoin(F.broadcast(table))
    return joined.withColumns(preprocessing.apply_step(SPARK_OPS, columns(df), step)).drop(KNN_REFERENCE)
