"""The alternatives to the default binning and outlier treatment (``bin_method=equal_width``, ``outlier_mode=drop``).

Both keep the ETL's guarantees: fitted on train only, deterministic whatever the file layout, and served through
the same ``fitted.json`` steps as the default (a bin step is its edges, an outlier step its bounds), so the endpoint's
preprocessor needs nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

from ml_constructs.glue_etl.runtime.contract import SPLIT_COLUMN, outlier_flag_name
from ml_constructs.glue_etl.runtime.fitting import BinFit, OutlierFit, ordered_aggregates


def equal_width_edges(lowest: float, highest: float, n_bins: int) -> tuple[float, ...]:
    """The ``n_bins - 1`` interior edges ``lowest + i * (highest - lowest) / n_bins``, i = 1..n-1, computed the same
    way for every i (one multiplication, one division, one addition: no accumulated step), duplicates merged (a
    constant column has one edge). Pure Python: the tests and the endpoint read the same numbers."""
    width = highest - lowest
    return tuple(sorted({lowest + i * width / n_bins for i in range(1, n_bins)}))


def fit_equal_width_bins(train: DataFrame, column: str, n_bins: int) -> BinFit:
    """Equal-width binning (syllabus §2.10, "bins of equal width"): edges between the train minimum and maximum.

    Minimum and maximum are exact whatever the row order. Unlike quantile bins, a skewed column puts most rows in
    the first bins and a value beyond the train range lands in the first or last bin (bin 0 and the last bin are
    open-ended, as for quantile bins). ``pyspark.ml.feature.Bucketizer`` would apply such edges the same way; the
    job applies them with the shared ``preprocessing`` formula so the endpoint computes the identical bin.
    """
    aggregates = ordered_aggregates(train, {"min": ("min", F.col(column)), "max": ("max", F.col(column))})
    if aggregates["min"] is None:
        raise ValueError(f"binning: no observed value of {column!r} in the train split")
    edges = equal_width_edges(float(aggregates["min"]), float(aggregates["max"]), n_bins)
    return BinFit(column, n_bins, edges, len(edges) + 1, "equal_width")


def any_outlier(fits: Mapping[str, OutlierFit]) -> Column:
    """1 when a row is flagged in any outlier column (after ``steps.apply_outliers``), else 0."""
    flags = [F.col(outlier_flag_name(c)) for c in fits]
    return F.greatest(*flags) if len(flags) > 1 else flags[0]


def drop_train_outliers(df: DataFrame, fits: Mapping[str, OutlierFit]) -> DataFrame:
    """``outlier_mode=drop``: remove the train rows flagged in any outlier column; validation and test keep theirs
    (clipped and flagged like the endpoint's requests: an endpoint must answer every request, and a metric measured
    on a test split without its extreme rows would flatter the model)."""
    if not fits:
        return df
    return df.filter((F.col(SPLIT_COLUMN) != "train") | (any_outlier(fits) == 0))


def count_train_outliers(df: DataFrame, fits: Mapping[str, OutlierFit]) -> int:
    """Train rows flagged in any outlier column: what ``drop_train_outliers`` removes (counted independently)."""
    if not fits:
        return 0
    return df.filter((F.col(SPLIT_COLUMN) == "train") & (any_outlier(fits) == 1)).count()
