"""The imputation methods (``etl.impute_method``): each one against an independent computation, fitted on train
only, the same whatever the file layout, and the same in Spark and at the endpoint.

Independent references: the standard library's ``statistics.fmean`` (mean), scikit-learn's ``KNNImputer`` (KNN:
a test-only dependency), a data set with a known linear relation (MICE), and the generator's own missing values
(drop). Small DataFrames on the session's Spark: a few hundred generated events. MICE's convergence is marked
``slow`` (``make test-slow``). The per-method guarantees (train only, any layout, serving parity) are in
``test_preprocessing_parity.py``.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pyspark.sql import functions as F  # noqa: N812
from sklearn.impute import KNNImputer

from ml_constructs.glue_etl.runtime import contract as c
from ml_constructs.glue_etl.runtime import fitting, imputation, pipeline, steps
from ml_constructs.glue_etl.runtime.preprocessing import reference_rows
from stacks.mapping import etl_spec
from tests.glue.conftest import spark_rows
from worked_example.generator import generate_events
from worked_example.schema import FIELDS

N = 500  # events: ~350 train rows, ~25 missing distances
SEED = 31337
COLUMN = "distance_from_home_km"
PARAMS = c.EtlParams(raw_format="json", canonical_partitions=4, knn_reference_rows=5000, mice_max_rounds=5)
DDL = ", ".join(f"{f.name} {f.type}" for f in FIELDS) + ", dt string"


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(generate_events(N, SEED))


def prepare(spark, rows: Sequence[Mapping[str, Any]], partitions: int):
    """Encoded, split rows in the canonical order, from ``rows`` cut into ``partitions`` input partitions."""
    spec = etl_spec()
    df = spark.createDataFrame(spark_rows(rows), DDL).repartition(partitions)
    encoded = steps.encode_features(steps.canonical_order(df, spec, PARAMS.canonical_partitions), spec)
    return steps.assign_split(encoded, spec, PARAMS.split_fractions, PARAMS.split_seed)


@pytest.fixture(scope="module")
def base(spark, events):
    df = prepare(spark, events, 2).persist()
    yield df
    df.unpersist()


def train_of(df):
    return df.filter(F.col(c.SPLIT_COLUMN) == "train")


def split_of(event_id: str) -> str:
    u = c.split_unit_interval(event_id, PARAMS.split_seed)
    train, validation, _ = PARAMS.split_fractions
    return "train" if u < train else "validation" if u < train + validation else "test"


def imputed(df, column: str = COLUMN) -> dict[str, tuple[float, int]]:
    rows = df.select("event_id", column, c.was_missing_name(column)).collect()
    return {r[0]: (r[1], r[2]) for r in rows}


# --- mean -----------------------------------------------------------------------------------------------------


def test_mean_is_the_arithmetic_mean_of_the_observed_train_values(base, events) -> None:
    spec = etl_spec()
    observed = [e[COLUMN] for e in events if split_of(e["event_id"]) == "train" and e[COLUMN] is not None]
    fits = fitting.fit_imputation(train_of(base), spec, "mean", params=PARAMS)
    assert fits[COLUMN].value == pytest.approx(statistics.fmean(observed), rel=1e-12)
    values = imputed(steps.apply_imputation(base, fits))
    for e in events:
        assert values[e["event_id"]] == ((fits[COLUMN].value, 1) if e[COLUMN] is None else (e[COLUMN], 0))


# --- KNN against scikit-learn -------------------------------------------------------------------------------------


def standardised(rows: Sequence[Mapping[str, Any]], features: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The matrix KNNImputer sees: each feature transformed and standardised with the fitted mean and std."""
    out = np.full((len(rows), len(features)), np.nan)
    for i, row in enumerate(rows):
        for j, f in enumerate(features):
            x = row[f["column"]]
            if x is not None:
                v = math.log1p(x) if f["transform"] == "log1p" else float(x)
                out[i, j] = (v - f["mean"]) / f["std"]
    return out


def test_knn_equals_scikit_learns_knn_imputer_on_the_standardised_rows(base) -> None:
    spec = etl_spec()
    fits = fitting.fit_imputation(train_of(base), spec, "knn", params=PARAMS)
    knn = fits[COLUMN].knn
    assert knn is not None
    assert knn["k"] == PARAMS.knn_k
    features = knn["features"]
    names = [f["column"] for f in features]
    rows = [r.asDict() for r in base.select("event_id", c.SPLIT_COLUMN, *names).collect()]
    train = [r for r in rows if r[c.SPLIT_COLUMN] == "train"]
    # the standardisation is the train mean and population standard deviation (StandardScaler's)
    z_train = standardised(train, [{**f, "mean": 0.0, "std": 1.0} for f in features])
    assert [f["mean"] for f in features] == pytest.approx(list(np.nanmean(z_train, axis=0)), rel=1e-9)
    assert [f["std"] for f in features] == pytest.approx(list(np.nanstd(z_train, axis=0)), rel=1e-9)
    # fewer complete train rows than knn_reference_rows: every one is in the reference set (exact KNN)
    assert len(knn["reference"]) == sum(r[COLUMN] is not None for r in train)

    reference = KNNImputer(n_neighbors=PARAMS.knn_k).fit(standardised(train, features))
    missing = [r for r in rows if r[COLUMN] is None]
    target = names.index(COLUMN)
    z = reference.transform(standardised(missing, features))[:, target]
    f = features[target]
    expected = {r["event_id"]: math.expm1(v * f["std"] + f["mean"]) for r, v in zip(missing, z, strict=True)}
    got = imputed(steps.apply_imputation(base, fits))
    assert len(expected) > 20
    for event_id, value in expected.items():
        assert got[event_id][0] == pytest.approx(value, rel=1e-9), event_id


def test_knn_reference_set_is_bounded_and_chosen_by_the_id_hash(base) -> None:
    spec = etl_spec()
    bounded = c.EtlParams(raw_format="json", canonical_partitions=4, knn_reference_rows=40)
    knn = fitting.fit_imputation(train_of(base), spec, "knn", params=bounded)[COLUMN].knn
    assert knn is not None
    complete = [r for r in train_of(base).select("event_id", COLUMN).collect() if r[1] is not None]
    key = {r[0]: (zlib.crc32(f"{bounded.split_seed}:knn:{r[0]}".encode()), r[0]) for r in complete}
    chosen = sorted(key, key=key.__getitem__)[:40]
    values = dict(complete)
    target = [f["column"] for f in knn["features"]].index(COLUMN)
    assert [row[target] for row in reference_rows(knn)] == [values[i] for i in chosen]


# --- MICE on a known linear relation ------------------------------------------------------------------------------

MICE_SPEC = c.EtlSpec(
    columns=(
        c.ColumnSpec("event_id", "string", "id", False),
        c.ColumnSpec("event_time", "timestamp", "timestamp", False),
        c.ColumnSpec("z", "double", "numeric", False),
        c.ColumnSpec("x1", "double", "numeric", True),
        c.ColumnSpec("x2", "double", "numeric", True),
        c.ColumnSpec("is_fraud", "int", "label", False, (0, 1)),
    ),
    label="is_fraud",
    id_column="event_id",
    timestamp_column="event_time",
    timestamp_regex=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
    impute_columns=("x1", "x2"),
)
NOISE = 0.05  # standard deviation of the noise of x2 given x1 and z


def linear_rows(n: int) -> tuple[list[tuple[Any, ...]], dict[str, tuple[float, float]]]:
    """x1 = 1 + 2 z + e1 (e1 ~ N(0, 1)), x2 = -1 + 0.5 x1 + z + e2 (e2 ~ N(0, NOISE)); x1 missing for 1 row in 5,
    x2 for 1 in 5 others (never both): the rows and the true (x1, x2) by id."""
    rng = np.random.default_rng(7)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    rows, truth = [], {}
    for i in range(n):
        z = float(rng.normal())
        x1 = 1 + 2 * z + float(rng.normal())
        x2 = -1 + 0.5 * x1 + z + float(rng.normal(0, NOISE))
        event_id = f"m-{i:05d}"
        truth[event_id] = (x1, x2)
        rows.append((event_id, start + timedelta(seconds=i), z, None if i % 5 == 1 else x1,
                     None if i % 5 == 3 else x2, i % 2))  # fmt: skip
    return rows, truth


@pytest.mark.slow
def test_mice_converges_to_the_known_linear_relation(spark) -> None:
    rows, truth = linear_rows(400)
    df = spark.createDataFrame(rows, "event_id string, event_time timestamp, z double, x1 double, x2 double, "
                               "is_fraud int")  # fmt: skip
    df = steps.canonical_order(df, MICE_SPEC, 4).withColumn(c.SPLIT_COLUMN, F.lit("train")).persist()
    params = c.EtlParams(mice_max_rounds=20, mice_tolerance=1e-4)
    mice = fitting.fit_imputation(df, MICE_SPEC, "mice", params=params)
    one_round = fitting.fit_imputation(df, MICE_SPEC, "regression")
    rounds = len(mice["x1"].changes)
    assert 2 < rounds < params.mice_max_rounds  # it iterated, and stopped by the tolerance
    assert max(mice["x1"].changes[-1], mice["x2"].changes[-1]) < params.mice_tolerance
    # The last round's regression of x2 recovers x2 = -1 + 0.5 x1 + z. Standard errors: NOISE / sqrt(n) / sd of
    # the predictor given the other one: x1 given z has sd 1 (e1), z given x1 sqrt(1 - 4/5) = 0.45; with n = 320
    # observed x2 that is 0.003 and 0.006 (the intercept about 0.01): 0.05 is over five of them.
    last = mice["x2"].rounds[-1]
    coefficients = dict(zip([name for name, _ in last.predictors], last.coefficients, strict=True))
    assert coefficients["x1"] == pytest.approx(0.5, abs=0.05)
    assert coefficients["z"] == pytest.approx(1.0, abs=0.05)
    assert last.intercept == pytest.approx(-1.0, abs=0.05)

    def errors(fits) -> list[float]:
        values = {r[0]: (r[1], r[2]) for r in steps.apply_imputation(df, fits).select("event_id", "x1", "x2").collect()}
        return [abs(values[i][k] - truth[i][k]) for i, *row in rows for k in (0, 1) if row[2 + k] is None]

    # An imputed value misses the truth by what the other columns cannot tell: x2 given x1 and z by e2 (sd NOISE),
    # x1 given z and x2 by e1 given e2, sd 1 * NOISE / sqrt(0.25 + NOISE^2) ~ 2 NOISE. So every error is below
    # 4 of those sigmas (plus the coefficients' error), and MICE is closer than one round from the median start.
    assert max(errors(mice)) < 4 * 2 * NOISE + 0.05
    assert statistics.fmean(errors(mice)) < statistics.fmean(errors(one_round))
    df.unpersist()


# --- drop ---------------------------------------------------------------------------------------------------------


def test_drop_leaves_incomplete_train_rows_out_and_fills_the_others_with_the_median(base, events) -> None:
    spec = etl_spec()
    fits = fitting.fit_imputation(train_of(base), spec, "drop", params=PARAMS)
    prepared = steps.apply_imputation(base, fits)
    stats = {s: {"rows": 0, "positives": 0} for s in c.SPLITS}
    for e in events:
        stats[split_of(e["event_id"])]["rows"] += 1
        stats[split_of(e["event_id"])]["positives"] += e["is_fraud"]
    kept, after, dropped = imputation.training_rows(prepared, spec, "drop", stats)
    incomplete = [e for e in events if split_of(e["event_id"]) == "train" and e[COLUMN] is None]
    assert dropped == imputation.Dropped(len(incomplete), sum(e["is_fraud"] for e in incomplete))
    assert after["train"]["rows"] == stats["train"]["rows"] - len(incomplete)
    assert after["validation"] == stats["validation"]
    assert after["test"] == stats["test"]
    values = imputed(kept)
    assert len(values) == N - len(incomplete)
    for e in events:
        if e[COLUMN] is None and split_of(e["event_id"]) != "train":
            assert values[e["event_id"]] == (fits[COLUMN].median, 1)  # as the endpoint will fill it
    # any other method keeps every row
    assert imputation.training_rows(prepared, spec, "median", stats)[2] == imputation.Dropped(0, 0)


def test_drop_is_a_step_of_the_report_and_the_rows_still_balance() -> None:
    """The report of a ``drop`` run: the rows left out are a step between imputation and rebalancing (rebalancing
    starts from what is left), and every column's entry gives them with the rule."""
    fit = fitting.ImputationFit(COLUMN, "drop", 10.0, 90)
    report: dict[str, Any] = {
        "imputation": {COLUMN: {"method": "drop"}},
        "split": {"rows": {"train": 100, "validation": 20, "test": 20}},
        "steps": [{"step": "impute", "rows_in": 140, "rows_out": 140}, {"step": "rebalance", "rows_in": 100}],
    }
    fits = pipeline._Fits({}, {COLUMN: fit}, None)
    params = dataclasses.replace(PARAMS, impute_method="drop")
    pipeline._add_imputation_report(report, fits, params, imputation.Dropped(10, 1))
    assert report["steps"] == [
        {"step": "impute", "rows_in": 140, "rows_out": 140},
        {"step": "drop_incomplete_train", "rows_in": 100, "rows_out": 90},
        {"step": "rebalance", "rows_in": 90},
    ]
    assert report["imputation"][COLUMN]["dropped_from_training"]["rows"] == 10
    assert report["imputation"][COLUMN]["dropped_from_training"]["positives"] == 1
