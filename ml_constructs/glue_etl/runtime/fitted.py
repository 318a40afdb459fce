"""What the job fitted, as the documents the endpoint loads: the encoding entries and fitted steps that
``preprocessing`` applies (in Spark and in the container), ``fitted.json``, and the preprocessing container's
``model.tar.gz``.

Standard library only (the fits are read by attribute), so building the artifact needs no Spark.
"""

from __future__ import annotations

import gzip
import io
import json
import pkgutil
import tarfile
from collections.abc import Mapping, Sequence
from typing import Any

from ml_constructs.glue_etl.runtime.contract import (
    EtlSpec,
    bin_name,
    feature_columns,
    one_hot_name,
    outlier_flag_name,
    rank_name,
    was_missing_name,
)
from ml_constructs.glue_etl.runtime.preprocessing import FITTED_VERSION

#: The files of the preprocessing container's model.tar.gz: (name in the archive, file of this package).
#: ``code/`` is SAGEMAKER_SUBMIT_DIRECTORY (/opt/ml/model/code) and ``inference.py`` its SAGEMAKER_PROGRAM.
MODEL_CODE_FILES: tuple[tuple[str, str], ...] = (
    ("code/inference.py", "inference.py"),
    ("code/preprocessing.py", "preprocessing.py"),
)
FITTED_FILE = "fitted.json"


def encoding_entries(spec: EtlSpec) -> list[dict[str, Any]]:
    """How each feature field becomes model columns, in schema order (``preprocessing.encode``)."""
    entries: list[dict[str, Any]] = []
    for c in spec.features():
        if c.is_boolean:
            entries.append({"encoding": "boolean", "field": c.name})
        elif c.kind == "numeric":
            entries.append({"encoding": "numeric", "field": c.name, "type": c.type})
        elif c.kind == "ordinal":
            entries.append({"encoding": "ordinal", "field": c.name, "column": rank_name(c.name), "values": [*c.values]})
        else:
            columns = [one_hot_name(c.name, v) for v in c.values]
            entries.append({"encoding": "categorical", "field": c.name, "columns": columns, "values": [*c.values]})
    return entries


def outlier_step(fit: Any, mode: str, column_type: str) -> dict[str, Any]:
    """The outlier step of a ``fitting.OutlierFit``: the bounds applied, and how they were fitted."""
    return {
        "step": "outliers",
        "column": fit.column,
        "type": column_type,
        "flag_column": outlier_flag_name(fit.column),
        "clip": mode in ("clip", "drop"),  # drop: train rows beyond the bounds are gone; the rest is clipped
        "lower": fit.lower,
        "upper": fit.upper,
        "fitted": {"scale": "log1p" if fit.log_scale else "linear", "k": fit.k, "mean": fit.mean, "std": fit.std},
    }


def imputation_step(fit: Any, fill: Mapping[str, float], column_type: str, round_: int = 1) -> dict[str, Any]:
    """The imputation step of a ``fitting.ImputationFit``; ``fill``: medians of nullable predictors not yet
    imputed when this column is (MICE's starting values). ``round_`` > 1: MICE's re-imputation with that round's
    model (``fit.rounds[round_ - 2]``). A constant fill (``value``: the mean) or a KNN search (``knn``) are
    written only for the methods that have one, so the document of the other methods is unchanged."""
    step: dict[str, Any] = {
        "step": "impute",
        "column": fit.column,
        "type": column_type,
        "indicator_column": was_missing_name(fit.column),
        "method": fit.method,
        "median": fit.median,
        "fill": dict(fill),
        "model": None,
    }
    if fit.value is not None:
        step["value"] = fit.value
    if fit.knn is not None:
        step["knn"] = dict(fit.knn)
    model = fit.model if round_ == 1 else fit.rounds[round_ - 2]
    if round_ > 1:
        step["round"] = round_
    if model is not None:
        m = model
        step["model"] = {
            "target_transform": m.target_transform,
            "intercept": m.intercept,
            "predictors": [
                {"column": name, "transform": transform, "coefficient": coefficient}
                for (name, transform), coefficient in zip(m.predictors, m.coefficients, strict=True)
            ],
            "lower": m.lower,
            "upper": m.upper,
        }
    return step


def imputation_steps(fits: Mapping[str, Any], types: Mapping[str, str]) -> list[dict[str, Any]]:
    """The imputation steps in their fitted order, each with the medians of the columns still pending."""
    medians = {c: f.median for c, f in fits.items()}
    steps, done = [], set()
    for c, fit in fits.items():
        steps.append(imputation_step(fit, {o: m for o, m in medians.items() if o not in done and o != c}, types[c]))
        done.add(c)
    rounds = max((len(f.rounds) for f in fits.values()), default=0)
    for r in range(2, rounds + 2):  # MICE: every column again, round after round, in the fitted order
        steps += [imputation_step(fit, {}, types[c], r) for c, fit in fits.items()]
    return steps


def bin_step(fit: Any) -> dict[str, Any]:
    """The binning step of a ``fitting.BinFit``: bin = number of edges at or below the value."""
    return {"step": "bin", "column": fit.column, "bin_column": bin_name(fit.column), "edges": [*fit.edges]}


def document(spec: EtlSpec, steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``fitted.json``: the raw event's fields, the encoding, the fitted steps in order, the column order."""
    return {
        "fitted_version": FITTED_VERSION,
        "fields": [
            {"name": c.name, "type": c.type, "kind": c.kind, "nullable": c.nullable, "values": [*c.values]}
            for c in spec.columns
        ],
        "label": spec.label,
        "id_column": spec.id_column,
        "timestamp_column": spec.timestamp_column,
        "timestamp_regex": spec.timestamp_regex,
        "encoding": encoding_entries(spec),
        "steps": [dict(s) for s in steps],
        "columns": feature_columns(spec),
    }


def document_json(doc: Mapping[str, Any]) -> str:
    """Stable bytes: sorted keys, two-space indent, no NaN (a fitted value is always finite)."""
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"


def model_archive(fitted_json: str) -> bytes:
    """The preprocessing container's ``model.tar.gz``: ``fitted.json`` and ``code/`` (this package's
    ``inference.py`` and ``preprocessing.py``, read with ``pkgutil`` so it works from the Glue job's zip too).
    Deterministic: fixed order, mtime 0, uid/gid 0, no owner names, mode 0644, gzip header without time or name."""
    files = [(FITTED_FILE, fitted_json.encode("utf-8"))]
    for name, resource in MODEL_CODE_FILES:
        data = pkgutil.get_data(__package__ or "ml_constructs.glue_etl.runtime", resource)
        if data is None:  # pragma: no cover - only when the package is not importable from files or a zip
            raise FileNotFoundError(resource)
        files.append((name, data))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()
