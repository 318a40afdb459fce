"""Training/serving parity: the Spark ETL and the endpoint's preprocessor give the same feature rows.

Two independent computations are compared, column by column (one-hots, flags, bins and ranks identical; doubles
equal to 1e-9 relative):

- **the ETL's own output** (``prepared/`` Parquet of a whole ``pipeline.run``, computed from the fitted objects)
  against ``Preprocessor(fitted.json)`` on the raw events: this is what the mutation test breaks, since changing a
  value in fitted.json changes the serving side only;
- **the Spark engine against the Python engine** on generated events plus hand-written edge cases that the
  ETL would quarantine or rarely meets (missing values, values exactly on the bin edges and the clip bounds and
  beyond them, unseen categories, extreme amounts): the ETL's ``encode_features`` and ``spark_ops`` with the
  fitted steps against ``Preprocessor``.

Every imputation method (``etl.impute_method``) is fitted on a few hundred events and compared the same way, with
the fitted document checked to depend on the train rows only, whatever their layout (``slow``: two fits each).

The full-size run (``pipeline.run`` on 10,000 events, and those events through both engines) is marked ``slow``
(``make test-slow``); the default run compares the session's 3,000-event ETL run with serving, and 2,000 generated
events plus the edge cases through both engines.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F  # noqa: N812

from ml_constructs.glue_etl.runtime import contract as c
from ml_constructs.glue_etl.runtime import exports, fitted, pipeline, spark_ops, steps
from ml_constructs.glue_etl.runtime.preprocessing import Preprocessor
from stacks.mapping import etl_spec
from tests.glue.conftest import RawData, Run, run_etl, spark_rows, write_raw_json
from tests.glue.test_imputation import COLUMN, PARAMS, SEED, N, prepare, split_of
from worked_example.generator import generate_events
from worked_example.schema import FIELDS

N_ENGINE = 10_000
#: The default run's engine comparison: 2,000 events (~100 missing distances, ~20 recording errors) plus the edge
#: cases; the full 10,000 run in the slow test.
N_ENGINE_DEFAULT = 2_000
ENGINE_SEED = 424242


def fitted_document(run: Run) -> dict[str, Any]:
    return json.loads((run.curated / c.FITTED_KEY).read_text())


def etl_rows(spark, run: Run) -> dict[str, dict[str, Any]]:
    """event_id -> the ETL's feature values (originals only, not the oversampled copies)."""
    spec = etl_spec()
    prepared = spark.read.parquet(str(run.curated / c.PREPARED_PREFIX)).filter(F.col(c.COPY_COLUMN) == 0)
    return {r[spec.id_column]: r.asDict() for r in prepared.select(spec.id_column, *c.feature_columns(spec)).collect()}


def mismatches(
    spark_rows_by_id: Mapping[str, Mapping[str, Any]], events: Sequence[Mapping[str, Any]], document: Mapping[str, Any]
) -> list[str]:
    """Every (event, column) where the two sides differ, as readable lines (empty: parity)."""
    pre = Preprocessor(document)
    found = []
    for event in events:
        expected = spark_rows_by_id[event["event_id"]]
        for column, value in zip(pre.columns, pre.features(event), strict=True):
            if not same(expected[column], value):
                found.append(f"{event['event_id']} {column}: spark {expected[column]!r}, serving {value!r}")
    return found


def same(spark_value: Any, serving_value: Any) -> bool:
    if spark_value is None or serving_value is None:
        return spark_value is None and serving_value is None
    if isinstance(spark_value, float):
        return isinstance(serving_value, float) and math.isclose(spark_value, serving_value, rel_tol=1e-9, abs_tol=0)
    return type(spark_value) is type(serving_value) and spark_value == serving_value


# --- The ETL's output against the serving preprocessor ---------------------------------------------------------


@pytest.fixture(scope="module")
def etl_output(spark, json_run: Run, raw_data: RawData) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The session ETL run's feature rows by event id, and the clean events they came from."""
    rows = etl_rows(spark, json_run)
    return rows, [e for e in raw_data.events if e["event_id"] in rows]


def test_serving_reproduces_the_etl_rows(json_run: Run, etl_output) -> None:
    rows, clean = etl_output
    assert len(clean) == len(rows) == json_run.report["steps"][1]["rows_out"]  # every clean event compared
    assert mismatches(rows, clean, fitted_document(json_run)) == []


def _mutate_bin_edge(doc: dict[str, Any]) -> None:
    step = next(s for s in doc["steps"] if s["step"] == "bin")
    step["edges"][0] += 1  # events exactly on the first edge (an observed value) move to bin 0


def _mutate_clip_bound(doc: dict[str, Any]) -> None:
    step = next(s for s in doc["steps"] if s["step"] == "outliers")
    step["upper"] *= 0.5  # the recording errors are clipped to another value


def _mutate_coefficient(doc: dict[str, Any]) -> None:
    step = next(s for s in doc["steps"] if s["step"] == "impute")
    step["model"]["intercept"] += 0.01  # every imputed distance moves by about 1 %


@pytest.mark.parametrize("mutate", [_mutate_bin_edge, _mutate_clip_bound, _mutate_coefficient])
def test_a_changed_fitted_value_breaks_parity(json_run: Run, etl_output, mutate) -> None:
    rows, clean = etl_output
    document = copy.deepcopy(fitted_document(json_run))
    mutate(document)
    assert mismatches(rows, clean, document)


# --- The Spark engine against the Python engine: generated events and edge cases -------------------------------


def edge_events(document: Mapping[str, Any], template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Hand-written events around every fitted value of ``document`` (derived from it, so they sit exactly on
    the edges and bounds whatever the training data was)."""
    steps_by_kind = {s["step"]: s for s in document["steps"]}
    outliers, bins = steps_by_kind["outliers"], steps_by_kind["bin"]
    lower, upper = outliers["lower"], outliers["upper"]
    variants: list[dict[str, Any]] = [
        {"distance_from_home_km": None},
        {"distance_from_home_km": None, "amount": 1e12, "card_present": False, "channel": "online"},
        {"distance_from_home_km": None, "customer_tier": "diamond"},
        {"distance_from_home_km": 0.0},
        {"distance_from_home_km": 1e9},
        {"amount": lower},
        {"amount": upper},
        {"amount": math.nextafter(upper, math.inf)},
        {"amount": math.nextafter(lower, -math.inf)},
        {"amount": 0.0},
        {"amount": 1e-300},
        {"amount": 1.7e308},
        {"amount": 12},  # a JSON integer in a double field
        {"merchant_category": "casino"},
        {"channel": "teleport", "merchant_category": "space_travel"},
        {"customer_tier": "diamond"},
        {"account_age_days": 0, "prior_transactions_24h": 0},
        {"account_age_days": 2**31 - 1},
        {"account_age_days": -5},
    ]
    for edge in bins["edges"]:
        variants += [{"account_age_days": int(edge)}, {"account_age_days": int(edge) - 1}]
    return [{**template, **v, "event_id": f"edge-{i:03d}"} for i, v in enumerate(variants)]


def spark_engine_rows(spark, events: Sequence[Mapping[str, Any]], document: Mapping[str, Any]) -> dict[str, dict]:
    """The ETL's Spark code on ``events``: ``steps.encode_features``, then every fitted step with ``spark_ops``."""
    spec = etl_spec()
    ddl = ", ".join(f"{f.name} {f.type}" for f in FIELDS) + ", dt string"
    doubles = [f.name for f in FIELDS if f.type == "double"]
    typed = [{**e, **{d: None if e[d] is None else float(e[d]) for d in doubles}} for e in events]  # as the JSON reader
    df = steps.encode_features(spark.createDataFrame(spark_rows(typed), ddl), spec)
    for step in document["steps"]:
        df = spark_ops.apply_step(df, step)
    return {r[spec.id_column]: r.asDict() for r in df.select(spec.id_column, *document["columns"]).collect()}


def test_spark_and_python_engines_agree_on_generated_and_edge_events(spark, json_run: Run) -> None:
    document = fitted_document(json_run)
    events = list(generate_events(N_ENGINE_DEFAULT, ENGINE_SEED))
    edges = edge_events(document, events[0])
    rows = spark_engine_rows(spark, events + edges, document)
    assert mismatches(rows, events + edges, document) == []
    # the edge cases did reach what they aim at (derived from the fitted values, checked on the Spark side)
    by_id = {e["event_id"]: rows[e["event_id"]] for e in edges}
    assert by_id["edge-002"]["customer_tier_rank"] is None  # an unseen ordinal has no rank
    assert by_id["edge-002"]["distance_from_home_km_was_missing"] == 1
    assert sum(v for k, v in by_id["edge-013"].items() if k.startswith("merchant_category__")) == 0
    assert by_id["edge-007"]["amount_is_outlier"] == 1
    assert by_id["edge-006"]["amount_is_outlier"] == 0


# --- Full size: the whole ETL on 10,000 events --------------------------------------------------------------


@pytest.mark.slow
def test_full_size_parity_through_the_whole_etl(spark, tmp_path: Path) -> None:
    events = list(generate_events(N_ENGINE, ENGINE_SEED))
    run = run_etl(spark, write_raw_json(events, tmp_path / "raw"), tmp_path / "curated", "json")
    rows = etl_rows(spark, run)
    assert len(rows) == N_ENGINE
    document = fitted_document(run)
    assert mismatches(rows, events, document) == []
    edges = edge_events(document, events[0])
    assert mismatches(spark_engine_rows(spark, events + edges, document), events + edges, document) == []


# --- Every imputation method: train only, whatever the layout, and the same at the endpoint -------------


def document_for(spark, rows: Sequence[Mapping[str, Any]], partitions: int, method: str) -> dict[str, Any]:
    """fitted.json of the outlier, imputation and bin steps fitted (as the ETL does) on ``rows``."""
    spec = etl_spec()
    params = dataclasses.replace(PARAMS, impute_method=method, knn_reference_rows=100)
    _, fits = pipeline._fit_and_apply(prepare(spark, rows, partitions), spec, params)
    return fitted.document(spec, exports.fitted_steps(spec, fits, params.outlier_mode))


def other_splits_changed(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validation and test rows changed (distances blanked or multiplied by 7, amounts doubled), train untouched,
    in reverse order."""
    out = []
    for i, e in enumerate(events):
        if split_of(e["event_id"]) != "train":
            distance = None if i % 3 == 0 or e[COLUMN] is None else e[COLUMN] * 7
            e = {**e, COLUMN: distance, "amount": e["amount"] * 2}
        out.append(e)
    return out[::-1]


@pytest.mark.slow
@pytest.mark.parametrize("method", c.IMPUTE_METHODS)
def test_fitted_on_train_only_whatever_the_layout_and_served_alike(spark, method: str) -> None:
    """Per method: (1) validation and test rows changed and the data cut into other partitions in another order:
    the same fitted.json; (2) Spark and the endpoint's preprocessor give the same rows, generated events and
    events with missing and extreme values included."""
    events = list(generate_events(N, SEED))  # the events of test_imputation
    document = document_for(spark, events, 2, method)
    assert document_for(spark, other_splits_changed(events), 5, method) == document
    imputes = [s for s in document["steps"] if s["step"] == "impute"]
    assert {s["method"] for s in imputes} == {method}
    template = next(e for e in events if e[COLUMN] is not None)
    extra = [
        {**template, "event_id": "edge-0", COLUMN: None},
        {**template, "event_id": "edge-1", COLUMN: None, "amount": 1e9, "channel": "online", "card_present": False},
        {**template, "event_id": "edge-2", COLUMN: None, "account_age_days": 0, "prior_transactions_24h": 0},
        {**template, "event_id": "edge-3", COLUMN: None, "customer_tier": "diamond", "merchant_category": "casino"},
    ]
    probe = list(generate_events(150, SEED + 1)) + extra
    rows = spark_engine_rows(spark, probe, document)
    assert mismatches(rows, probe, document) == []
    assert all(rows[e["event_id"]][COLUMN] is not None for e in extra)
