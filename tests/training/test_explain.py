"""The Explain step's script (``explain_runtime/explain.py``): TreeSHAP's identity, the mapping of engineered columns
to raw fields, and the ``analysis.json`` it writes, on local xgboost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from ml_constructs.glue_etl.runtime import contract, fitted
from ml_constructs.glue_etl.runtime.fitting import ImputationFit
from ml_constructs.training.explain_runtime import explain
from stacks.mapping import etl_spec

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "ml_constructs" / "serving" / "default_model"


def fitted_document() -> dict[str, Any]:
    """``fitted.json`` as the ETL writes it for the worked example's spec: the real document builder, with a step
    for every column the spec treats (the fitted numbers do not matter to the mapping)."""
    spec = etl_spec()
    types = {c.name: c.type for c in spec.features()}
    steps = [
        fitted.imputation_step(ImputationFit(column=c, method="median", median=1.0, n_observed=1), {}, types[c])
        for c in spec.impute_columns
    ]
    steps += [
        fitted.outlier_step(
            SimpleNamespace(column=c, lower=0.0, upper=1.0, log_scale=False, k=3.0, mean=0.5, std=0.1), "flag", types[c]
        )
        for c in spec.outlier_columns
    ]
    if spec.bin_column:
        steps.append(fitted.bin_step(SimpleNamespace(column=spec.bin_column, edges=[1.0, 2.0])))
    return fitted.document(spec, steps)


def expected_fields() -> dict[str, str]:
    """The other route to the same mapping: the contract's naming helpers applied to each feature of the spec."""
    spec, owner = etl_spec(), {}
    for c in spec.features():
        names = [c.name, contract.rank_name(c.name), contract.was_missing_name(c.name)]
        names += [contract.outlier_flag_name(c.name), contract.bin_name(c.name)]
        names += [contract.one_hot_name(c.name, v) for v in c.values]
        owner.update({name: c.name for name in names})
    return {column: owner[column] for column in contract.feature_columns(spec)}


@pytest.fixture(scope="module")
def small_model() -> tuple[xgb.Booster, np.ndarray]:
    """A small booster on synthetic rows (one column carries the label's signal, a missing value here and there)."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(300, 6)).astype(np.float32)
    features[rng.random(features.shape) < 0.05] = np.nan
    label = (np.nan_to_num(features[:, 0]) + 0.5 * rng.normal(size=300) > 0.8).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}
    booster = xgb.train(params, xgb.DMatrix(features, label=label), num_boost_round=15)
    return booster, features


def test_contributions_sum_to_each_rows_margin(small_model):
    booster, features = small_model
    contribs, margin = explain.contributions(booster, features)
    assert contribs.shape == (features.shape[0], features.shape[1] + 1)  # one per column, then the bias
    # TreeSHAP's local accuracy (xgboost's documented property of pred_contribs): float32 sums, so 1e-5
    assert np.abs(contribs.sum(axis=1) - margin).max() < 1e-5
    assert np.unique(contribs[:, -1]).size == 1  # the bias: the same expected margin for every row


def test_every_engineered_column_maps_to_the_raw_field_it_comes_from():
    mapping = explain.column_fields(fitted_document())
    assert mapping == expected_fields()
    assert explain.fields_in_order(mapping) == [c.name for c in etl_spec().features()]


def test_the_shipped_default_models_columns_all_map():
    document = json.loads((DEFAULT_MODEL / "fitted.json").read_text())
    assert list(explain.column_fields(document)) == document["columns"]


def test_mapping_to_raw_fields_keeps_each_rows_total(small_model):
    booster, features = small_model
    contribs, _ = explain.contributions(booster, features)
    columns = [f"c{i}" for i in range(features.shape[1])]
    mapping = dict(zip(columns, ["a", "a", "b", "c", "c", "c"], strict=True))
    fields, per_field = explain.to_fields(contribs, columns, mapping)
    assert fields == ["a", "b", "c"]
    np.testing.assert_allclose(per_field.sum(axis=1), contribs[:, :-1].sum(axis=1), rtol=0, atol=1e-5)
    np.testing.assert_allclose(per_field[:, 0], contribs[:, 0] + contribs[:, 1], rtol=0, atol=1e-6)


def test_a_column_no_entry_names_is_an_error():
    document = fitted_document()
    document["columns"] = [*document["columns"], "mystery"]
    with pytest.raises(explain.ExplainError, match=r"\['mystery'\] come from no encoding entry or step"):
        explain.column_fields(document)


def _inputs(tmp_path: Path, rows: np.ndarray) -> list[str]:
    """The job's input folders as SageMaker lays them out: the model archive, the validation CSV, fitted.json."""
    for name in ("model", "validation", "fitted"):
        (tmp_path / name).mkdir()
    shutil.copy(DEFAULT_MODEL / "model.tar.gz", tmp_path / "model" / "model.tar.gz")
    shutil.copy(DEFAULT_MODEL / "fitted.json", tmp_path / "fitted" / "fitted.json")
    labels = np.zeros((rows.shape[0], 1))
    np.savetxt(tmp_path / "validation" / "part-00000.csv", np.hstack([labels, rows]), delimiter=",", fmt="%.6g")
    folders = {"model": "model", "validation": "validation", "fitted": "fitted", "output": "output"}
    return [arg for name, folder in folders.items() for arg in (f"--{name}", str(tmp_path / folder))]


def test_the_job_writes_analysis_json_in_clarifys_layout(tmp_path, capsys):
    columns = _fitted()["columns"]
    rows = np.random.default_rng(3).normal(size=(50, len(columns)))
    assert explain.main(_inputs(tmp_path, rows)) == 0
    document = json.loads((tmp_path / "output" / "analysis.json").read_text())
    # Clarify's keys (developer guide, "Analysis results", SHAP analysis; checked 2026-12)
    assert document["version"] == "1.0"
    label = document["explanations"]["kernel_shap"]["label0"]
    assert set(label) == {"global_shap_values", "expected_value"}
    assert list(label["global_shap_values"]) == explain.fields_in_order(explain.column_fields(_fitted()))
    details = document["treeshap"]
    assert list(details["engineered_columns"]["global_shap_values"]) == columns
    assert details["rows"] == 50
    assert details["identity_check"]["max_abs_error_columns"] < 1e-5
    assert details["identity_check"]["max_abs_error_fields"] < 1e-5
    # the same numbers by another route: xgboost on the same rows, mean |contribution| per column
    booster = xgb.Booster()
    booster.load_model(bytearray(_model_bytes()))
    contribs = booster.predict(xgb.DMatrix(rows.astype(np.float32)), pred_contribs=True)
    assert details["engineered_columns"]["global_shap_values"]["amount"] == pytest.approx(
        float(np.abs(contribs[:, 0]).mean()), rel=1e-6
    )
    assert label["expected_value"] == pytest.approx(float(contribs[0, -1]), rel=1e-6)
    assert "50 rows" in capsys.readouterr().out


def _fitted() -> dict[str, Any]:
    return json.loads((DEFAULT_MODEL / "fitted.json").read_text())


def _model_bytes() -> bytes:
    import tarfile

    with tarfile.open(DEFAULT_MODEL / "model.tar.gz") as archive:
        member = archive.extractfile("xgboost-model")
        assert member is not None
        return member.read()


def test_rows_of_the_wrong_width_end_with_one_line(tmp_path, capsys):
    rows = np.zeros((3, 4))  # the model takes more columns than that
    assert explain.main(_inputs(tmp_path, rows)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("explain: part-00000.csv line 1: 5 fields; expected the label and")


def test_the_script_needs_only_what_the_xgboost_image_has():
    """The asset is the one file: every import is the standard library, numpy or xgboost (never the project)."""
    import ast
    import sys

    tree = ast.parse(Path(explain.__file__).read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - set(sys.stdlib_module_names) == {"numpy", "xgboost"}
