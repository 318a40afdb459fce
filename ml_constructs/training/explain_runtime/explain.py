"""Global feature attributions of a trained XGBoost model, written in SageMaker Clarify's ``analysis.json`` layout.

The entry point of the workflow's Explain step: a SageMaker Processing job on the built-in XGBoost image the model
was trained with (``python3 /opt/ml/processing/input/code/explain.py --model ... --validation ... --fitted ...
--output ...``), so the same xgboost release reads the model. This file is the whole asset: it needs the standard
library, numpy and xgboost, all of which the image has; it never imports the project.

What it does (docs/bias-and-explainability.md, "Explainability"):

1. loads ``xgboost-model`` from the training job's ``model.tar.gz``;
2. reads the ETL's validation CSV (label first, no header, the engineered columns of ``fitted.json``'s ``columns``);
3. computes exact TreeSHAP with ``Booster.predict(pred_contribs=True)``: per row, one contribution per engineered
   column and a bias, which sum to the row's margin (log-odds); the largest ``|sum - margin|`` is recorded;
4. adds each row's contributions up per raw field (a one-hot column, missing indicator, outlier flag, bin or rank
   belongs to the field it was derived from, as ``fitted.json`` says), so each row's total is unchanged;
5. aggregates as Clarify's default ``mean_abs``: the mean over rows of ``|contribution|``, per raw field and per
   engineered column, and writes ``analysis.json``.

Bad input ends with one line naming what is wrong and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tarfile
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: The layout version Clarify writes at the top of ``analysis.json``.
ANALYSIS_VERSION = "1.0"
#: Clarify's key for SHAP explanations and for the (only) label of a binary model's output.
METHOD_KEY = "kernel_shap"
LABEL_KEY = "label0"
#: The extra top-level key with what Clarify's layout has no place for (documented in the module docstring).
DETAILS_KEY = "treeshap"
#: The model file inside the built-in algorithm's ``model.tar.gz`` (the container's ``MODEL_NAME``).
MODEL_FILE = "xgboost-model"
OUTPUT_FILE = "analysis.json"
#: ``fitted.json`` steps whose derived column belongs to the step's ``column`` (the raw field).
DERIVED_COLUMN_KEYS = {"impute": "indicator_column", "outliers": "flag_column", "bin": "bin_column"}


class ExplainError(ValueError):
    """Input the script cannot explain: the message names the input and what is wrong."""


# --- the engineered columns' raw fields ---------------------------------------------------------------------


def column_fields(fitted: Mapping[str, Any]) -> dict[str, str]:
    """Engineered column -> raw field, for every column of ``fitted.json``'s ``columns``, in that order.

    The encoding says which columns each field becomes (numeric and boolean: the field's own column; ordinal: its
    rank column; categorical: one column per value); the steps add derived columns (missing indicator, outlier
    flag, bin) to the field they are fitted on. A column neither names is an error, never a guess."""
    owner: dict[str, str] = {}
    for entry in fitted.get("encoding", []):
        field = entry["field"]
        if entry["encoding"] in ("numeric", "boolean"):
            owner[field] = field
        elif entry["encoding"] == "ordinal":
            owner[entry["column"]] = field
        else:
            owner.update({column: field for column in entry["columns"]})
    for step in fitted.get("steps", []):
        key = DERIVED_COLUMN_KEYS.get(step.get("step", ""))
        if key and step.get(key):
            owner[step[key]] = step["column"]
    columns = list(fitted.get("columns", []))
    if not columns:
        raise ExplainError("fitted.json: 'columns' is missing or empty; expected the model's feature columns")
    unknown = [c for c in columns if c not in owner]
    if unknown:
        raise ExplainError(f"fitted.json: columns {unknown} come from no encoding entry or step")
    return {column: owner[column] for column in columns}


def fields_in_order(mapping: Mapping[str, str]) -> list[str]:
    """The raw fields in the order their first column appears."""
    return list(dict.fromkeys(mapping.values()))


# --- SHAP and its aggregation -------------------------------------------------------------------------------


def contributions(booster: Any, features: Any) -> tuple[Any, Any]:
    """``(contributions, margin)``: TreeSHAP per row (columns, then the bias last) and the row's raw margin."""
    import xgboost as xgb

    matrix = xgb.DMatrix(features)
    return booster.predict(matrix, pred_contribs=True), booster.predict(matrix, output_margin=True)


def to_fields(values: Any, columns: Sequence[str], mapping: Mapping[str, str]) -> tuple[list[str], Any]:
    """Per row, the contributions of each raw field's columns added up: ``(fields, rows x fields)``. The bias
    column, if present beyond ``columns``, is left out (it belongs to no field)."""
    fields = fields_in_order(mapping)
    index = {field: i for i, field in enumerate(fields)}
    out = np.zeros((values.shape[0], len(fields)), dtype=np.float64)
    for j, column in enumerate(columns):
        out[:, index[mapping[column]]] += values[:, j]
    return fields, out


def mean_abs(values: Any, names: Sequence[str]) -> dict[str, float]:
    """Clarify's default global aggregation (``agg_method`` ``mean_abs``): the mean of |value| over rows."""
    means = np.abs(values).mean(axis=0) if values.shape[0] else np.zeros(len(names))
    return {name: float(m) for name, m in zip(names, means, strict=True)}


def analysis(columns: Sequence[str], mapping: Mapping[str, str], contribs: Any, margin: Any) -> dict[str, Any]:
    """The ``analysis.json`` document: Clarify's keys with the raw fields, and ``treeshap`` with the rest."""
    per_column, bias = contribs[:, : len(columns)], contribs[:, len(columns)]
    fields, per_field = to_fields(per_column, columns, mapping)
    identity = float(np.abs(contribs.sum(axis=1) - margin).max()) if len(margin) else 0.0
    field_identity = float(np.abs(per_field.sum(axis=1) + bias - margin).max()) if len(margin) else 0.0
    expected = float(bias.mean()) if len(bias) else 0.0
    return {
        "version": ANALYSIS_VERSION,
        "explanations": {
            METHOD_KEY: {LABEL_KEY: {"global_shap_values": mean_abs(per_field, fields), "expected_value": expected}}
        },
        DETAILS_KEY: {
            "method": "TreeSHAP: xgboost Booster.predict(pred_contribs=True), exact for the trees, no baseline sample",
            "units": "log-odds (the model's margin before the logistic link), as Clarify with use_logit",
            "agg_method": "mean_abs",
            "rows": int(contribs.shape[0]),
            "engineered_columns": {"global_shap_values": mean_abs(per_column, columns), "expected_value": expected},
            "column_fields": dict(mapping),
            "identity_check": {
                "max_abs_error_columns": identity,
                "max_abs_error_fields": field_identity,
                "meaning": "max over rows of |sum of contributions + bias - margin|",
            },
        },
    }


# --- files ----------------------------------------------------------------------------------------------------


def data_files(directory: Path) -> list[Path]:
    """Every file under the channel directory, in name order, without dotfiles (as SageMaker's channels)."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))


def read_rows(files: Iterable[Path], width: int) -> Any:
    """The feature columns of the CSV files (label first, no header; an empty field is missing), as a matrix."""
    rows: list[list[float]] = []
    for path in files:
        with path.open(newline="") as f:
            for number, record in enumerate(csv.reader(f), start=1):
                if not record:
                    continue
                if len(record) != width + 1:
                    raise ExplainError(
                        f"{path.name} line {number}: {len(record)} fields; expected the label and {width} columns"
                    )
                try:
                    rows.append([float(v) if v.strip() else float("nan") for v in record[1:]])
                except ValueError as exc:
                    raise ExplainError(f"{path.name} line {number}: not a number ({exc})") from None
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), width)


def load_booster(model_input: Path, work: Path) -> Any:
    """``xgboost-model`` out of the ``model.tar.gz`` in ``model_input`` (a file or the directory holding it)."""
    import xgboost as xgb

    archives = [model_input] if model_input.is_file() else sorted(model_input.glob("*.tar.gz"))
    if len(archives) != 1:
        raise ExplainError(f"--model {model_input}: expected one model.tar.gz, found {len(archives)}")
    with tarfile.open(archives[0], "r:gz") as archive:
        member = next((m for m in archive.getmembers() if Path(m.name).name == MODEL_FILE and m.isfile()), None)
        if member is None:
            raise ExplainError(f"--model {archives[0].name}: no {MODEL_FILE} in the archive")
        extracted = archive.extractfile(member)
        assert extracted is not None
        (work / MODEL_FILE).write_bytes(extracted.read())
    booster = xgb.Booster()
    try:
        with warnings.catch_warnings():  # the container saves it without an extension: xgboost guesses UBJSON
            warnings.filterwarnings("ignore", message=".*Unknown file format")
            booster.load_model(str(work / MODEL_FILE))
    except xgb.core.XGBoostError as exc:
        raise ExplainError(f"--model {archives[0].name}: xgboost cannot read {MODEL_FILE} ({exc})") from None
    return booster


def read_fitted(path: Path) -> dict[str, Any]:
    files = [path] if path.is_file() else [p for p in data_files(path) if p.suffix == ".json"]
    if len(files) != 1:
        raise ExplainError(f"--fitted {path}: expected one fitted.json, found {len(files)}")
    try:
        document = json.loads(files[0].read_text())
    except ValueError as exc:
        raise ExplainError(f"--fitted {files[0].name}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ExplainError(f"--fitted {files[0].name}: expected a JSON object")
    return document


def explain(model: Path, validation: Path, fitted: Path, output: Path) -> dict[str, Any]:
    """Read the inputs, compute the attributions, write ``output/analysis.json``; returns the document."""
    mapping = column_fields(read_fitted(fitted))
    columns = list(mapping)
    files = data_files(validation)
    if not files:
        raise ExplainError(f"--validation {validation}: no data files")
    features = read_rows(files, len(columns))
    if features.shape[0] == 0:
        raise ExplainError(f"--validation {validation}: no rows")
    with tempfile.TemporaryDirectory() as work:
        booster = load_booster(model, Path(work))
    if booster.num_features() != len(columns):
        raise ExplainError(
            f"--model: the model takes {booster.num_features()} columns, fitted.json names {len(columns)}"
        )
    contribs, margin = contributions(booster, features)
    document = analysis(columns, mapping, contribs, margin)
    output.mkdir(parents=True, exist_ok=True)
    (output / OUTPUT_FILE).write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="model.tar.gz, or the directory holding it")
    parser.add_argument("--validation", type=Path, required=True, help="directory of the validation CSV files")
    parser.add_argument("--fitted", type=Path, required=True, help="fitted.json, or the directory holding it")
    parser.add_argument("--output", type=Path, required=True, help="directory analysis.json is written to")
    args = parser.parse_args(argv)
    try:
        document = explain(args.model, args.validation, args.fitted, args.output)
    except (ExplainError, OSError, tarfile.TarError) as exc:
        print(f"explain: {exc}", file=sys.stderr)
        return 2
    details = document[DETAILS_KEY]
    print(
        f"explain: {details['rows']} rows, {len(details['column_fields'])} columns, "
        f"identity max |error| {details['identity_check']['max_abs_error_columns']:.2e} -> {args.output / OUTPUT_FILE}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
