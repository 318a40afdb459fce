"""The data-preparation alternatives: rebalancing (none, oversample, undersample, smote, class_weight), equal-width
binning and outlier dropping, each on the session's 3,000 events (about 84 positives in train).

Expected values are derived independently of the code under test: SMOTE's neighbours by scikit-learn's
``NearestNeighbors`` on the embedding the docstring of ``rebalancing.nearest_positive_neighbours`` defines, the
undersampling target and the class weight from the train counts, bin widths and outlier bounds from the train values
recomputed in Python.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections import Counter

import numpy as np
import pytest
from pyspark.sql import functions as F  # noqa: N812
from sklearn.neighbors import NearestNeighbors

from ml_constructs.glue_etl.runtime import contract as c
from ml_constructs.glue_etl.runtime import exports, fitted, pipeline, rebalancing, steps, treatments
from ml_constructs.glue_etl.runtime.preprocessing import Preprocessor
from stacks.mapping import etl_spec
from tests.glue.conftest import TEST_PARAMS, RawData
from tests.glue.test_preprocessing_parity import mismatches

PARAMS = c.EtlParams(raw_format="json", **TEST_PARAMS)


@pytest.fixture(scope="module")
def spec() -> c.EtlSpec:
    return etl_spec()


@pytest.fixture(scope="module")
def base(json_base):
    """The shared clean, encoded and split json-mode records (``conftest.json_base``)."""
    return json_base


ALTERNATIVE = dataclasses.replace(PARAMS, bin_method="equal_width", outlier_mode="drop")


@pytest.fixture(scope="module")
def alternative(base, spec: c.EtlSpec):
    """Equal-width bins and outlier dropping, fitted once: the preparation every test below starts from."""
    df, fits = pipeline._fit_and_apply(base, spec, ALTERNATIVE)
    df = df.persist()
    yield df, fits
    df.unpersist()


@pytest.fixture(scope="module")
def train(alternative):
    return alternative[0].filter(F.col(c.SPLIT_COLUMN) == "train")


@pytest.fixture(scope="module")
def smoted(alternative, train, spec: c.EtlSpec):
    """SMOTE on that train split: the rows (id, copy, features) and what the method reports."""
    out, done = rebalancing.rebalance_train(
        train, spec, rebalanced("smote"), train_counts(train, spec), alternative[1].bins
    )
    return [r.asDict() for r in out.select(*ROW_COLUMNS(spec)).collect()], done


def train_counts(train, spec: c.EtlSpec) -> tuple[int, int]:
    labels = Counter(r[spec.label] for r in train.select(spec.label).collect())
    return labels[1], labels[0]


def rebalanced(method: str, **changes) -> c.EtlParams:
    return dataclasses.replace(ALTERNATIVE, rebalance_method=method, **changes)


def ROW_COLUMNS(spec: c.EtlSpec) -> list[str]:  # noqa: N802 - reads as the constant it is
    return [spec.id_column, spec.label, c.COPY_COLUMN, *c.feature_columns(spec)]


# --- Rebalancing --------------------------------------------------------------------------------------------------


def test_smote_rows_lie_on_segments_to_one_of_the_k_nearest_positives(train, smoted, alternative, spec) -> None:
    rows, done = smoted
    bins = alternative[1].bins
    positives, negatives = train_counts(train, spec)
    target = round(ALTERNATIVE.rebalance_ratio * negatives)  # imbalanced-learn's float sampling_strategy
    originals = {r[spec.id_column]: r for r in rows if r[spec.label] == 1 and r[c.COPY_COLUMN] == 0}
    synthetic = [r for r in rows if r[c.COPY_COLUMN] > 0]
    assert (len(originals), len(synthetic), done.synthesised) == (positives, target - positives, target - positives)
    assert len(rows) == target + negatives
    assert all(r[spec.label] == 1 for r in synthetic)

    # The embedding the neighbour search defines: numeric features / std of the positives, categorical fields as
    # one-hot / sqrt(2) (a differing field adds exactly 1 to the squared distance, as in SMOTE-NC with std 1).
    raw = {r[spec.id_column]: r.asDict() for r in train.filter(F.col(spec.label) == 1).collect()}
    continuous, discrete = rebalancing.smote_columns(spec)
    ids = sorted(raw)
    matrix = np.array([[raw[i][col] for col in continuous] for i in ids], dtype=float)
    blocks = [matrix / matrix.std(axis=0, ddof=1)]
    for field in discrete:
        values = sorted({str(raw[i][field]) for i in ids})
        blocks.append(np.array([[str(raw[i][field]) == v for v in values] for i in ids], float) / math.sqrt(2))
    embedding = np.hstack(blocks)
    k = ALTERNATIVE.smote_k
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(embedding).kneighbors(embedding)
    nearest = {ids[row[0]]: [ids[j] for j in row[1:]] for row in neighbours}  # column 0 is the point itself

    int_columns = {col for col in continuous if spec.column(col).type == "int"}
    for row in synthetic:
        x = originals[row[spec.id_column]]
        assert any(_on_segment(row, x, originals[n], continuous, int_columns) for n in nearest[x[spec.id_column]]), row
        assert row[c.bin_name(bins.column)] == sum(row[bins.column] >= e for e in bins.edges)  # recomputed bin
        for group in ("merchant_category", "channel"):  # one-hot groups stay one-hot
            assert sum(v for key, v in row.items() if key.startswith(f"{group}__")) == 1


def _on_segment(row, x, nn, continuous, int_columns) -> bool:
    """row = x + u * (nn - x) for one u in [0, 1] on every numeric column (integers rounded to the nearest)."""
    double = [col for col in continuous if col not in int_columns and nn[col] != x[col]]
    if not double:
        return False
    pivot = max(double, key=lambda col: abs(nn[col] - x[col]))
    u = (row[pivot] - x[pivot]) / (nn[pivot] - x[pivot])
    if not -1e-9 <= u <= 1 + 1e-9:
        return False
    for col in continuous:
        expected = x[col] + u * (nn[col] - x[col])
        tolerance = 0.5 + 1e-6 if col in int_columns else 1e-6 * max(1.0, abs(expected))
        if abs(row[col] - expected) > tolerance:
            return False
    return True


def test_undersampling_keeps_every_positive_and_reaches_the_ratio(train, spec: c.EtlSpec) -> None:
    positives, negatives = counts = train_counts(train, spec)
    out, done = rebalancing.rebalance_train(train, spec, rebalanced("undersample"), counts)
    kept = round(positives / ALTERNATIVE.rebalance_ratio)  # negatives per positive = 1 / ratio
    assert train_counts(out, spec) == (positives, kept)
    assert done.negatives_dropped == negatives - kept
    rows = train.select(spec.id_column, spec.label).collect()
    out_ids = {r[0] for r in out.select(spec.id_column).collect()}
    assert {r[0] for r in rows if r[1] == 1} <= out_ids  # every positive
    # the kept negatives are the ones with the smallest crc32('<seed>:undersample:<id>'), recomputed in Python
    seed = ALTERNATIVE.rebalance_seed
    negative_ids = sorted((r[0] for r in rows if r[1] == 0), key=lambda i: (_unit(f"{seed}:undersample:{i}"), i))
    assert out_ids - {r[0] for r in rows if r[1] == 1} == set(negative_ids[:kept])


def _unit(text: str) -> float:
    return zlib.crc32(text.encode()) / 2**32


def test_class_weight_resamples_nothing_and_weighs_the_positives(train, spec: c.EtlSpec) -> None:
    positives, negatives = counts = train_counts(train, spec)
    out, done = rebalancing.rebalance_train(train, spec, rebalanced("class_weight"), counts)
    assert out.count() == positives + negatives
    weight = ALTERNATIVE.rebalance_ratio * negatives / positives  # the copies oversampling would make, as a weight
    assert done.scale_pos_weight == pytest.approx(weight)
    assert done.hyperparameters() == {"scale_pos_weight": f"{weight:.6g}"}
    _, none = rebalancing.rebalance_train(train, spec, rebalanced("none"), counts)
    assert none.hyperparameters() == {}
    assert none.result.positives_after == positives


def test_smote_falls_back_to_copies_above_its_positive_limit(train, spec: c.EtlSpec) -> None:
    positives, negatives = counts = train_counts(train, spec)
    _, done = rebalancing.rebalance_train(train, spec, rebalanced("smote", smote_max_positives=positives - 1), counts)
    assert "oversampled by copies instead" in done.details["fallback"]
    assert done.synthesised == 0
    assert done.result.positives_after == round(ALTERNATIVE.rebalance_ratio * negatives)


# --- Binning and outliers -----------------------------------------------------------------------------------------


def test_equal_width_bins_have_equal_widths_between_the_train_extremes(base, alternative, spec: c.EtlSpec) -> None:
    prepared_df, fits = alternative
    column, n = spec.bin_column, ALTERNATIVE.n_bins
    # the train rows the bins were fitted on: those left after the outlier drop
    train = prepared_df.filter(F.col(c.SPLIT_COLUMN) == "train")
    train_values = [r[0] for r in train.select(column).collect()]
    lo, hi = min(train_values), max(train_values)
    assert fits.bins.method == "equal_width"
    assert fits.bins.n_bins == n
    widths = np.diff([lo, *fits.bins.edges, hi])
    assert widths == pytest.approx([(hi - lo) / n] * n, rel=1e-12)
    bins = Counter(r[0] for r in train.select(c.bin_name(column)).collect())
    assert bins[0] > bins[n - 1]  # account age is right-skewed: equal widths, unequal counts


def test_outlier_drop_removes_and_counts_the_train_rows_beyond_the_bounds(base, alternative, spec: c.EtlSpec) -> None:
    dropped_df, fits = alternative
    (column,) = spec.outlier_columns
    bounds = fits.outliers[column]
    rows = base.select(spec.id_column, c.SPLIT_COLUMN, column).collect()
    beyond = {r[0] for r in rows if r[1] == "train" and not bounds.lower <= r[2] <= bounds.upper}
    assert fits.outliers_dropped == len(beyond) > 0  # the generator's x100 recording errors
    kept = dropped_df.select(spec.id_column, c.SPLIT_COLUMN, column, c.outlier_flag_name(column)).collect()
    assert {r[0] for r in kept} == {r[0] for r in rows} - beyond  # validation and test keep every row
    others = [r for r in kept if r[1] != "train"]
    assert all(bounds.lower <= r[2] <= bounds.upper for r in others)  # clipped, as the endpoint does
    assert any(r[3] == 1 for r in others)  # and flagged


def test_alternatives_serve_exactly_as_prepared(alternative, raw_data: RawData, spec: c.EtlSpec) -> None:
    """Parity: the fitted.json of equal-width bins and outlier dropping, through the endpoint's preprocessor, gives
    the rows the ETL prepared (every kept train row, and all of validation and test)."""
    prepared_df, fits = alternative
    document = fitted.document(spec, exports.fitted_steps(spec, fits, ALTERNATIVE.outlier_mode))
    rows = {
        r[spec.id_column]: r.asDict() for r in prepared_df.select(spec.id_column, *c.feature_columns(spec)).collect()
    }
    events = [e for e in raw_data.events if e["event_id"] in rows]
    assert len(events) == len(rows)
    assert mismatches(rows, events, document) == []
    assert Preprocessor(document).steps[0]["clip"] is True  # drop mode serves by clipping and flagging


# --- Leakage: only train is fitted on ------------------------------------------------------------------------------


@pytest.mark.slow  # two more fits and a SMOTE run on re-cut input (about 8 s): `make test-slow`
def test_only_train_is_fitted_and_the_layout_does_not_matter(base, alternative, smoted, spec: c.EtlSpec) -> None:
    """Validation and test rows distorted (amounts x1000, account ages + 5000 days: far beyond the train range) AND
    the rows reshuffled into other partitions before the canonical order (what another file layout gives): the
    fits of outlier dropping and equal-width bins and the train rows are the same, and so is SMOTE's output (its
    own statistics and neighbours). Every rebalancing method reads the train rows only (``pipeline._rebalance``
    passes ``_train(prepared)``), so equal train rows give undersampling and class weight the same input; their
    results are recomputed from the train ids alone in the tests above."""
    not_train = F.col(c.SPLIT_COLUMN) != "train"
    distorted = base.withColumns(
        {
            "amount": F.when(not_train, F.col("amount") * 1000).otherwise(F.col("amount")),
            spec.bin_column: F.when(not_train, F.col(spec.bin_column) + 5000).otherwise(F.col(spec.bin_column)),
        }
    )
    reshuffled = steps.canonical_order(distorted.repartition(7, F.rand(3)), spec, PARAMS.canonical_partitions)
    other_df, other_fits = pipeline._fit_and_apply(reshuffled, spec, ALTERNATIVE)
    assert other_fits == alternative[1]
    columns = [spec.id_column, *c.feature_columns(spec)]

    def train_rows(df) -> list[tuple]:
        return sorted(tuple(r) for r in df.filter(F.col(c.SPLIT_COLUMN) == "train").select(*columns).collect())

    assert train_rows(other_df) == train_rows(alternative[0])
    other_train = other_df.filter(F.col(c.SPLIT_COLUMN) == "train")
    out, done = rebalancing.rebalance_train(
        other_train, spec, rebalanced("smote"), train_counts(other_train, spec), other_fits.bins
    )
    assert sorted(tuple(r) for r in out.select(*ROW_COLUMNS(spec)).collect()) == sorted(
        tuple(r.values()) for r in smoted[0]
    )
    assert done == smoted[1]


def test_equal_width_edges_are_computed_without_accumulation() -> None:
    assert treatments.equal_width_edges(0.0, 1.0, 4) == (0.25, 0.5, 0.75)
    assert treatments.equal_width_edges(3.0, 3.0, 5) == (3.0,)  # a constant column: one edge, two bins
