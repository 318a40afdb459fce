"""Every prefix of the data lake, in one place: which zone holds what, under which key prefix.

The zones are three buckets (raw, curated, artifacts); each stage writes under its own prefix, and every grant
is scoped to the prefixes below. The Glue job's sub-prefixes of ``CURATED_ROOT`` (train/, validation/,
test/, prepared/, quarantine/, report/, preprocessing/, raw/) are its output contract, in
``ml_constructs.glue_etl.runtime.contract``.
"""

from __future__ import annotations

# --- raw zone: what Firehose writes ------------------------------------------------------------------------
#: Events, partitioned ``dt=YYYY-MM-DD/`` (Parquet or JSON lines).
EVENTS_PREFIX = "events/"
#: Records Firehose could not convert or deliver, with the reason in the key.
ERRORS_PREFIX = "errors/"

# --- curated zone: what the Glue ETL job writes --------------------------------------------------------------
#: The job's output root: train/ validation/ test/ (CSV for XGBoost), prepared/, quarantine/, report/,
#: preprocessing/ (fitted.json, the preprocessing container's model.tar.gz, baseline/ of the raw fields) and
#: raw/validation/, raw/test/ (the clean raw events as JSON Lines, for batch transform through both containers).
CURATED_ROOT = "etl/"
#: Below CURATED_ROOT: the preprocessing artifact, its raw-field baseline, and the raw splits the pipeline scores.
ETL_PREPROCESSING = "preprocessing/"
#: Below CURATED_ROOT: the hyperparameters the preparation needs (``{}``, or scale_pos_weight with class_weight).
ETL_HYPERPARAMETERS = "preprocessing/hyperparameters.json"
ETL_RAW_SPLITS = "raw/"

# --- artifacts zone: models, their evaluation, serving and monitoring ------------------------------------------
#: Training jobs' output (``<job>/output/model.tar.gz``).
MODELS_PREFIX = "models/"
#: The model the endpoint serves before any training run (shipped with the project).
DEFAULT_MODEL_PREFIX = "models/default/"
#: The default model's preprocessing artifact (the inference pipeline's first container: code and fitted JSON).
DEFAULT_PREPROCESSING_PREFIX = "models/default/preprocessing/"
DEFAULT_PREPROCESSING_FILE = "preprocessing-model.tar.gz"
#: Where a trained model's files sit beside its artifact: ``models/<run>/preprocessing/model.tar.gz`` (the ETL's
#: preprocessing artifact of that run) and ``models/<run>/baseline/`` (statistics.json, constraints.json).
PREPROCESSING_FOLDER = "preprocessing/"
BASELINE_FOLDER = "baseline/"
#: Batch-transform output of the validation split, per execution, read by the evaluation function.
EVALUATION_PREFIX = "evaluation/"
#: Batch-transform output of the test split, per execution.
PREDICTIONS_PREFIX = "predictions/"
#: The default model's raw-field baseline (statistics and constraints) drift is measured against. Like a trained
#: model's (``models/<run>/baseline/``), it sits in ``baseline/`` beside the ``preprocessing/`` folder of the model's
#: preprocessing artifact: the drift job finds the serving model's baseline that way.
BASELINE_PREFIX = "models/default/baseline/"
#: The endpoint's data capture (SageMaker's layout: ``<endpoint>/<variant>/yyyy/mm/dd/hh/``).
CAPTURE_PREFIX = "capture/"
#: Drift reports, one per monitored hour.
REPORTS_PREFIX = "monitoring/"
#: Athena query results of the lake's workgroup.
QUERY_RESULTS_PREFIX = "athena-results/"
