"""The Glue job's runtime on local PySpark 3.5: each step on its own, then whole runs in both raw modes.

Expected values are derived here, independently of Spark where possible: the generator gives the events
(and, with ``missing_rate=0``, the true values behind the blanked distances), ``split_unit_interval`` is
the pure-Python twin of the split hash, and medians, quantiles, means and standard deviations are
recomputed with the standard library.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import functions as F  # noqa: N812

from ml_constructs.glue_etl.runtime import contract as c
from ml_constructs.glue_etl.runtime import fitting, steps
from stacks.mapping import etl_spec
from tests.glue.conftest import (
    N_EVENTS,
    NOT_AFTER,
    TEST_PARAMS,
    RawData,
    Run,
    csv_bytes,
    csv_rows,
    data_files,
    event_date,
)
from worked_example.schema import FIELDS, LABEL, parse_timestamp

ROOT = Path(__file__).resolve().parents[2]
PARAMS = c.EtlParams(raw_format="json", **TEST_PARAMS)
SIGMAS = 4.5  # binomial tolerance for the split fractions


@pytest.fixture(scope="module")
def spec() -> c.EtlSpec:
    return etl_spec()


@pytest.fixture(scope="module")
def base(json_base):
    """The shared clean, encoded and split json-mode records (``conftest.json_base``)."""
    return json_base


def train_of(df):
    return df.filter(F.col(c.SPLIT_COLUMN) == "train")


def python_split(event_id: str) -> str:
    u = c.split_unit_interval(event_id, PARAMS.split_seed)
    train, validation, _ = PARAMS.split_fractions
    return "train" if u < train else "validation" if u < train + validation else "test"


def exact_quantile(sorted_values: list[float], q: float) -> float:
    """The observed value at rank ceil(q * n) (1-based), what approxQuantile(relativeError=0) returns."""
    return sorted_values[max(math.ceil(q * len(sorted_values)), 1) - 1]


def train_events(raw_data: RawData) -> list[dict]:
    return [e for e in raw_data.events if python_split(e["event_id"]) == "train"]


# --- The spec and the parameters: what the CDK construct passes --------------------------------------


def test_spec_is_derived_from_the_schema_and_round_trips(spec: c.EtlSpec) -> None:
    assert [c.name for c in spec.columns] == [f.name for f in FIELDS]
    assert spec.label == LABEL
    assert spec.impute_columns == tuple(f.name for f in FIELDS if f.kind == "numeric" and f.nullable)
    assert c.EtlSpec.from_json(spec.to_json()) == spec
    assert c.EtlSpec.from_args({"etl_spec": spec.to_args()["--etl_spec"]}) == spec
    assert json.loads(spec.to_json())["spec_version"] == c.SPEC_VERSION


def test_params_round_trip_through_job_arguments() -> None:
    params = c.EtlParams(raw_format="json", split_fractions=(0.8, 0.1, 0.1), outlier_k=2.5, n_bins=7)
    args = params.to_args()
    assert all(key.startswith("--") and isinstance(value, str) for key, value in args.items())
    assert c.EtlParams.from_args({k[2:]: v for k, v in args.items()}) == params
    assert c.EtlParams.from_args({}) == c.EtlParams()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"outlier_k": "-1"}, "--outlier_k="),
        ({"n_bins": "ten"}, "--n_bins='ten'"),
        ({"raw_format": "csv"}, "--raw_format='csv'"),
        ({"split_fractions": "0.5,0.2"}, "--split_fractions="),
        ({"split_fractions": "0.7,0.2,0.2"}, "--split_fractions="),
        ({"outlier_mode": "winsorize"}, "--outlier_mode='winsorize'"),
        ({"rebalance_method": "adasyn"}, "--rebalance_method='adasyn' is not allowed: one of ['none', 'oversample'"),
        ({"bin_method": "kmeans"}, "--bin_method='kmeans' is not allowed: one of ['quantile', 'equal_width']"),
        ({"smote_k": "0"}, "--smote_k=0 is not allowed: an integer from 1 to 100"),
        ({"rebalance_ratio": "2"}, "--rebalance_ratio="),
        ({"impute_method": "hot_deck"}, "--impute_method='hot_deck' is not allowed: one of "),
        ({"knn_k": "0"}, "--knn_k=0 is not allowed: an integer from 1 to 100"),
        ({"knn_k": "8", "knn_reference_rows": "5"}, "--knn_reference_rows=5 is not allowed: an integer from knn_k"),
        ({"mice_max_rounds": "51"}, "--mice_max_rounds=51 is not allowed: 1 to 50 rounds"),
        ({"mice_tolerance": "nan"}, "--mice_tolerance=nan is not allowed: a number in"),
    ],
)
def test_bad_parameters_fail_with_one_clear_line(args: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)) as info:
        c.EtlParams.from_args(args)
    assert "\n" not in str(info.value)


def test_job_arguments_for_the_cdk_construct(spec: c.EtlSpec) -> None:
    args = c.job_arguments("s3://raw/events/", "s3://curated/etl/", spec, c.EtlParams())
    assert {"--raw_path", "--curated_path", "--etl_spec", "--raw_format", "--outlier_k"} <= set(args)
    argv = ["script.py", "--JOB_NAME", "j", "--raw_path", "r", "--n_bins", "5", "--job-bookmark-option", "x"]
    assert c.job_argument_names(argv) == [*c.REQUIRED_ARGS, "n_bins"]


def test_contract_imports_and_builds_arguments_without_pyspark(spec: c.EtlSpec) -> None:
    """The CDK construct imports the contract at synth time, where pyspark is not installed."""
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "from ml_constructs.glue_etl.runtime import contract as c\n"
        "args = c.job_arguments('s3://r/events/', 's3://c/', c.EtlSpec.from_json(sys.stdin.read()), c.EtlParams())\n"
        "loaded = {m.split('.')[0] for m in sys.modules if sys.modules[m]}\n"
        "assert not loaded & {'pyspark', 'awsglue', 'aws_cdk', 'worked_example'}, loaded\n"
        "print(len(args))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=spec.to_json(), cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    # every parameter but an empty window_end (the run's own date), and the three required arguments
    assert int(result.stdout) == len(c.EtlParams.arg_names()) - 1 + 3


def test_feature_columns_follow_the_schema(spec: c.EtlSpec) -> None:
    columns = c.csv_columns(spec)
    assert columns[0] == LABEL
    features = [f for f in FIELDS if f.kind in ("numeric", "categorical", "ordinal")]
    encoded = sum(len(f.values) if f.kind == "categorical" and f.type != "boolean" else 1 for f in features)
    derived = len(spec.impute_columns) + len(spec.outlier_columns) + (1 if spec.bin_column else 0)
    assert len(columns) == 1 + encoded + derived
    for name in spec.impute_columns:
        assert columns.index(c.was_missing_name(name)) == columns.index(name) + 1


# --- Quarantine --------------------------------------------------------------------------------------


def test_bad_json_records_land_in_quarantine_with_their_reason(spark, json_run: Run, raw_data: RawData) -> None:
    report = json_run.report
    expected = Counter(b.reason for b in raw_data.json_bad)
    assert report["quarantine"]["by_reason"] == dict(expected)
    assert report["quarantine"]["rows"] == len(raw_data.json_bad)
    assert report["input"]["rows_in"] == N_EVENTS + len(raw_data.json_bad)
    validate = next(s for s in report["steps"] if s["step"] == "validate")
    assert validate["rows_in"] == validate["rows_out"] + validate["rows_quarantined"]
    assert validate["rows_out"] == N_EVENTS

    stored = spark.read.parquet(str(json_run.curated / "quarantine")).collect()
    got = Counter((r[c.REASON_COLUMN], r[c.RAW_RECORD_COLUMN]) for r in stored)
    assert got == Counter((b.reason, b.line.decode().rstrip("\n")) for b in raw_data.json_bad)
    assert all(str(r["dt"]) == "2026-11-21" and r[c.SOURCE_FILE_COLUMN].endswith(".gz") for r in stored)


def test_bad_parquet_rows_land_in_quarantine(spark, parquet_run: Run, raw_data: RawData) -> None:
    expected = Counter(reason for _, reason in raw_data.parquet_bad)
    assert parquet_run.report["quarantine"]["by_reason"] == dict(expected)
    stored = spark.read.parquet(str(parquet_run.curated / "quarantine")).collect()
    by_id = {json.loads(r[c.RAW_RECORD_COLUMN])["event_id"]: r[c.REASON_COLUMN] for r in stored}
    assert by_id == {event["event_id"]: reason for event, reason in raw_data.parquet_bad}


def test_a_type_error_is_a_value_present_in_the_raw_but_null_after_the_cast(spark, spec: c.EtlSpec) -> None:
    lines = ['{"amount": "abc"}', '{"amount": null}', '{"amount": 1e999}', '{"amount": 3}']
    raw = spark.createDataFrame(
        [(line, "2026-11-20", "f.gz") for line in lines], "value string, dt string, source_file string"
    )
    rows = steps.parse_records(raw, spec, "json").select("amount", "_present_amount").collect()
    assert [(r["amount"], r["_present_amount"]) for r in rows] == [
        (None, True),
        (None, False),
        (None, True),
        (3.0, True),
    ]


def test_accounting_that_does_not_balance_fails_the_job() -> None:
    steps.check_accounting(10, 8, 2)
    with pytest.raises(steps.EtlInvariantError, match="rows_in=10"):
        steps.check_accounting(10, 7, 2)


def test_both_raw_modes_give_the_same_clean_rows(spark, raw_data: RawData, spec: c.EtlSpec) -> None:
    names = [c.name for c in spec.columns]
    expected = sorted(
        (*(parse_timestamp(e[n]).replace(tzinfo=None) if n == "event_time" else e[n] for n in names), event_date(e))
        for e in raw_data.events
    )
    for raw_path, mode in ((raw_data.json_raw, "json"), (raw_data.parquet_raw, "parquet")):
        raw = steps.read_raw(spark, str(raw_path), mode)
        validated = steps.validate_records(steps.parse_records(raw, spec, mode), spec, NOT_AFTER)
        clean = steps.clean_records(validated, spec).collect()
        assert sorted(tuple(r) for r in clean) == expected, mode


def test_both_raw_modes_give_the_same_csv_bytes(json_run: Run, parquet_run: Run) -> None:
    for split in c.SPLITS:
        assert csv_bytes(json_run.curated / split) == csv_bytes(parquet_run.curated / split), split


# --- Split -------------------------------------------------------------------------------------------


def test_split_is_the_hash_of_the_id(base, raw_data: RawData) -> None:
    got = {r[0]: r[1] for r in base.select("event_id", c.SPLIT_COLUMN).collect()}
    assert got == {e["event_id"]: python_split(e["event_id"]) for e in raw_data.events}


def test_split_sizes_are_near_the_fractions(json_run: Run) -> None:
    rows = json_run.report["split"]["rows"]
    total = sum(rows.values())
    assert total == N_EVENTS
    for split, fraction in zip(c.SPLITS, PARAMS.split_fractions, strict=True):
        tolerance = SIGMAS * math.sqrt(fraction * (1 - fraction) / total)
        assert abs(rows[split] / total - fraction) <= tolerance, split


def test_runs_are_deterministic_whatever_the_input_files(json_run: Run, reshuffled_run: Run) -> None:
    """Same records cut into other files in another order: identical CSV bytes and identical statistics."""
    for split in c.SPLITS:
        assert csv_bytes(json_run.curated / split) == csv_bytes(reshuffled_run.curated / split), split

    def without_paths(report: dict) -> str:
        text = json.dumps(report, sort_keys=True)
        return text.replace(str(reshuffled_run.curated), "C").replace(str(json_run.curated), "C")

    a, b = json.loads(without_paths(json_run.report)), json.loads(without_paths(reshuffled_run.report))
    for report in (a, b):
        del report["input"]["raw_path"]
        del report["input"]["window"]["files"]  # the number of files read is the input's cut, the rest is equal
    assert a == b


# --- Outliers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2.0, 3.0])
@pytest.mark.parametrize("mode", ["flag", "clip"])
def test_outliers_beyond_k_standard_deviations_of_train(base, spec: c.EtlSpec, k: float, mode: str) -> None:
    (fit,) = fitting.fit_outliers(train_of(base), spec, k).values()
    train_logs = [math.log1p(r[0]) for r in train_of(base).select("amount").collect()]
    mean, std = statistics.fmean(train_logs), statistics.stdev(train_logs)
    assert fit.mean == pytest.approx(mean, rel=1e-12)
    assert fit.std == pytest.approx(std, rel=1e-12)
    lower, upper = math.expm1(mean - k * std), math.expm1(mean + k * std)

    original = {r[0]: r[1] for r in base.select("event_id", "amount").collect()}
    applied = steps.apply_outliers(base, {"amount": fit}, mode)
    rows = applied.select("event_id", "amount", c.outlier_flag_name("amount")).collect()
    flagged = 0
    for event_id, amount, flag in rows:
        x = original[event_id]
        beyond = abs(math.log1p(x) - mean) > k * std
        assert flag == int(beyond), (event_id, x)
        flagged += flag
        if mode == "clip":
            assert amount == pytest.approx(min(max(x, lower), upper), rel=1e-12)
        else:
            assert amount == x
    assert flagged > 0


def test_a_smaller_k_flags_more(base, spec: c.EtlSpec) -> None:
    counts = []
    for k in (2.0, 3.0):
        fits = fitting.fit_outliers(train_of(base), spec, k)
        counts.append(steps.apply_outliers(base, fits, "flag").agg(F.sum(c.outlier_flag_name("amount"))).first()[0])
    assert counts[0] > counts[1] > 0


def test_report_outlier_statistics_are_fitted_on_train_only(json_run: Run, raw_data: RawData) -> None:
    logs = [math.log1p(e["amount"]) for e in train_events(raw_data)]
    reported = json_run.report["outliers"]["amount"]
    assert reported["mean"] == pytest.approx(statistics.fmean(logs), rel=1e-12)
    assert reported["std"] == pytest.approx(statistics.stdev(logs), rel=1e-12)
    assert reported["fitted_rows"] == len(logs)


# --- Imputation ----------------------------------------------------------------------------------------


def _imputed(df, column: str) -> dict[str, tuple[float, int]]:
    return {r[0]: (r[1], r[2]) for r in df.select("event_id", column, c.was_missing_name(column)).collect()}


def test_median_imputation_uses_the_train_median(base, spec: c.EtlSpec, raw_data: RawData) -> None:
    (column,) = spec.impute_columns
    observed = sorted(e[column] for e in train_events(raw_data) if e[column] is not None)
    median = exact_quantile(observed, 0.5)
    fits = fitting.fit_imputation(train_of(base), spec, "median")
    assert fits[column].median == median
    imputed = _imputed(steps.apply_imputation(base, fits), column)
    for event in raw_data.events:
        value, was_missing = imputed[event["event_id"]]
        assert value is not None
        assert was_missing == int(event[column] is None)
        assert value == (median if event[column] is None else event[column])


def test_regression_imputation_beats_the_median_against_the_true_values(
    base, spec: c.EtlSpec, raw_data: RawData
) -> None:
    (column,) = spec.impute_columns
    truth = {e["event_id"]: e[column] for e in raw_data.true_events}
    missing = [e["event_id"] for e in raw_data.events if e[column] is None]
    assert len(missing) > 50

    median_fits = fitting.fit_imputation(train_of(base), spec, "median")
    model_fits = fitting.fit_imputation(train_of(base), spec, "regression")
    assert model_fits[column].median == median_fits[column].median
    by_median = _imputed(steps.apply_imputation(base, median_fits), column)
    by_model = _imputed(steps.apply_imputation(base, model_fits), column)

    assert all(v is not None for v, _ in by_model.values())
    assert all(by_model[i][1] == 1 for i in missing)
    assert sum(by_model[i][0] != by_median[i][0] for i in missing) > 0.9 * len(missing)

    def mean_error(imputed: dict, scale) -> float:
        return statistics.fmean(abs(scale(imputed[i][0]) - scale(truth[i])) for i in missing)

    # The distance is log-normal: judge the relative (log-scale) error, where the model is fitted, and the
    # plain absolute error too. The noise is large (sigma 1.0-1.3 on the log scale), so the gain is
    # moderate: ~20 % on the log scale, ~10 % in km on this sample.
    assert mean_error(by_model, math.log1p) < 0.9 * mean_error(by_median, math.log1p)
    assert mean_error(by_model, float) < mean_error(by_median, float)
    # Observed values are never touched.
    observed = {e["event_id"]: e[column] for e in raw_data.events if e[column] is not None}
    assert all(by_model[i] == (v, 0) for i, v in observed.items())


def test_report_imputation_counts_and_train_median(json_run: Run, raw_data: RawData) -> None:
    (column,) = json_run.report["imputation"]
    entry = json_run.report["imputation"][column]
    observed = sorted(e[column] for e in train_events(raw_data) if e[column] is not None)
    assert entry["median"] == exact_quantile(observed, 0.5)
    assert entry["method"] == "regression"
    missing = Counter(python_split(e["event_id"]) for e in raw_data.events if e[column] is None)
    assert entry["imputed"] == {s: missing[s] for s in c.SPLITS}


# --- Binning -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bins", [4, 10])
def test_bin_edges_are_the_train_quantiles(base, spec: c.EtlSpec, raw_data: RawData, n_bins: int) -> None:
    column = spec.bin_column
    values = sorted(float(e[column]) for e in train_events(raw_data))
    fit = fitting.fit_bins(train_of(base), spec, n_bins)
    expected = sorted({exact_quantile(values, i / n_bins) for i in range(1, n_bins)})
    assert list(fit.edges) == expected
    assert fit.n_bins == n_bins

    edges = [-math.inf, *fit.edges, math.inf]
    binned = steps.apply_bins(base, fit).select(column, c.bin_name(column), c.SPLIT_COLUMN).collect()
    for value, b, _ in binned:
        assert edges[b] <= value < edges[b + 1], (value, b)
    train_bins = Counter(b for _, b, split in binned if split == "train")
    assert sorted(train_bins) == list(range(n_bins))
    assert max(train_bins.values()) <= 1.5 * min(train_bins.values())  # "even sizes in each bin"


# --- Rebalancing ---------------------------------------------------------------------------------------


def test_rebalancing_reaches_the_target_ratio_in_train_only(json_run: Run, raw_data: RawData) -> None:
    balance = json_run.report["class_balance"]
    before, after = balance["train_before"], balance["train_after"]
    assert after["negatives"] == before["negatives"]
    assert after["positives"] / after["negatives"] == pytest.approx(PARAMS.rebalance_ratio, abs=1 / after["negatives"])

    natural = Counter((python_split(e["event_id"]), e[LABEL]) for e in raw_data.events)
    assert before["positives"] == natural["train", 1]
    for split in ("validation", "test"):
        assert balance[split]["positives"] == natural[split, 1]
        assert balance[split]["negatives"] == natural[split, 0]
    # The CSVs say the same: train oversampled, validation and test natural.
    for split, (positives, negatives) in {
        "train": (after["positives"], after["negatives"]),
        "validation": (natural["validation", 1], natural["validation", 0]),
        "test": (natural["test", 1], natural["test", 0]),
    }.items():
        labels = Counter(row[0] for row in csv_rows(json_run.curated / split))
        assert labels == {"1": positives, "0": negatives}, split


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0])
def test_rebalance_function(base, spec: c.EtlSpec, ratio: float) -> None:
    train = train_of(base)
    out, result = steps.rebalance(train, spec, ratio, seed=3)
    labels = Counter(r[0] for r in out.select(LABEL).collect())
    assert labels[0] == result.negatives_before == result.negatives_after
    if ratio == 0.0:
        assert labels[1] == result.positives_before
    else:
        assert labels[1] == round(ratio * labels[0])
    again, _ = steps.rebalance(train.repartition(3), spec, ratio, seed=3)
    key = [spec.id_column, c.COPY_COLUMN]
    assert sorted(out.select(*key).collect()) == sorted(again.select(*key).collect())


# --- The outputs' contracts ----------------------------------------------------------------------------


def test_xgboost_csv_contract(json_run: Run, spec: c.EtlSpec) -> None:
    """Label first, no header, only numbers, the same columns in every split, label in {0, 1}."""
    width = len(c.csv_columns(spec))
    assert json_run.report["csv"]["columns"] == c.csv_columns(spec)
    for split in c.SPLITS:
        files = data_files(json_run.curated / split)
        assert 1 <= len(files) <= PARAMS.csv_files
        assert not any((json_run.curated / split / name).exists() for name in ("_SUCCESS",))
        rows = csv_rows(json_run.curated / split)
        assert len(rows) == json_run.report["outputs"][split]["rows"]
        for row in rows:
            assert len(row) == width
            assert row[0] in ("0", "1")
            values = [float(v) for v in row]  # raises on a header or any non-number
            assert all(math.isfinite(v) for v in values)


def test_prepared_parquet_for_athena(spark, json_run: Run, spec: c.EtlSpec) -> None:
    prepared = spark.read.parquet(str(json_run.curated / "prepared"))
    assert prepared.columns == [*c.prepared_columns(spec), c.SPLIT_COLUMN, "dt"]
    counts = {r[0]: r[1] for r in prepared.groupBy(c.SPLIT_COLUMN).count().collect()}
    assert counts == {s: json_run.report["outputs"][s]["rows"] for s in c.SPLITS}
    nulls = prepared.select(*[F.sum(F.col(c).isNull().cast("int")) for c in c.csv_columns(spec)]).first()
    assert set(nulls) == {0}
    originals = prepared.filter(F.col(c.COPY_COLUMN) == 0).groupBy(c.SPLIT_COLUMN).count().collect()
    assert sum(r[1] for r in originals) == N_EVENTS


def test_report_is_written_and_complete(json_run: Run) -> None:
    written = json.loads((json_run.curated / "report" / "etl_report.json").read_text())
    assert written == json_run.report
    assert {"input", "steps", "quarantine", "split", "imputation", "outliers", "binning", "class_balance"} <= set(
        written
    )
    assert [s["step"] for s in written["steps"]] == [
        "read", "validate", "split", "outliers", "impute", "bin", "rebalance", "write",
    ]  # fmt: skip
    assert written["steps"][-1]["rows_out"] == sum(written["outputs"][s]["rows"] for s in c.SPLITS)
