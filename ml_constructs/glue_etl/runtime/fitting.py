"""What the ETL fits on the training split, and the fitted values: outlier bounds, imputation (median and
regression), quantile bin edges. Every statistic is computed on train only, before oversampling, and applied
unchanged to every split (``steps.apply_*``); fitting on all the data would leak validation and test
information into training.

Determinism: floating-point sums run in a fixed order (``ordered_aggregates``) and quantiles are exact, so the
same data gives the same statistics however it was cut into files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

from ml_constructs.glue_etl.runtime import preprocessing
from ml_constructs.glue_etl.runtime.contract import IMPUTE_METHODS, EtlParams, EtlSpec, encoded_base_columns

# --- Reproducible aggregates --------------------------------------------------------------------------------


def ordered_aggregates(df: DataFrame, aggs: Mapping[str, tuple[str, Column]]) -> dict[str, Any]:
    """Aggregate ``{name: (sum|min|max, expression)}`` over ``df`` with a reproducible result.

    A floating-point sum depends on the order of its terms, and Spark fixes neither the order of rows in a
    partition after a shuffle nor the order in which it merges partial sums. So: ``df`` must be in the
    canonical order (``steps.canonical_order``: hash-partitioned by the id, sorted within each partition); each
    partition is summed in its row order (one group per partition id, so the partial aggregate of a
    partition is its whole sum), and the per-partition results are merged here, in partition order.
    Spark keeps a sort below a sum of doubles (its optimizer knows such sums are order-sensitive).
    """
    functions = {"sum": F.sum, "min": F.min, "max": F.max}
    exprs = [functions[kind](expr).alias(name) for name, (kind, expr) in aggs.items()]
    rows = sorted(df.groupBy(F.spark_partition_id().alias("_pid")).agg(*exprs).collect(), key=lambda r: r["_pid"])
    out: dict[str, Any] = {}
    for name, (kind, _) in aggs.items():
        values = [r[name] for r in rows if r[name] is not None]
        if kind == "sum":
            total: Any = 0
            for v in values:  # left to right, in partition order
                total += v
            out[name] = total
        else:
            out[name] = (min if kind == "min" else max)(values) if values else None
    return out


def exact_quantiles(df: DataFrame, columns: list[str], probabilities: list[float]) -> list[list[float]]:
    """Exact quantiles (``approxQuantile`` with relativeError 0): for sorted non-null values ``v`` and
    probability ``q``, the observed value ``v[max(ceil(q * n), 1) - 1]``. Exact, hence independent of the
    row order; an observed value, never an interpolation."""
    return df.approxQuantile(columns, probabilities, 0.0)


# --- Outliers: k standard deviations of the train mean -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutlierFit:
    """Mean and sample standard deviation of one column on train (on the ``log1p`` scale if ``log_scale``),
    and the resulting bounds in the column's own units: ``lower/upper = inverse(mean -/+ k * std)``."""

    column: str
    log_scale: bool
    k: float
    mean: float
    std: float
    lower: float
    upper: float
    n: int


def fit_outliers(train: DataFrame, spec: EtlSpec, k: float) -> dict[str, OutlierFit]:
    """Fit the k-standard-deviation rule (syllabus §2.9) on the train split's observed values.

    Two passes (the mean, then the centred sum of squares) instead of ``sum(x^2) - n*mean^2``, which
    cancels catastrophically when the mean is large relative to the spread. ``amount`` is judged on the
    log scale: it is log-normal, so on the raw scale the mean and standard deviation are dominated by the
    heavy tail and the x100 recording errors themselves (they inflate the very std that should expose
    them), while on the log scale a x100 error is a shift of ln(100) = 4.6, several standard deviations.
    """
    if not spec.outlier_columns:
        return {}

    def scaled(name: str) -> Column:
        return F.log1p(F.col(name)) if name in spec.log_scale_columns else F.col(name).cast("double")

    first = ordered_aggregates(
        train,
        {
            **{f"n:{c}": ("sum", F.when(scaled(c).isNotNull(), 1).otherwise(0)) for c in spec.outlier_columns},
            **{f"s:{c}": ("sum", scaled(c)) for c in spec.outlier_columns},
        },
    )
    means = {}
    for c in spec.outlier_columns:
        if first[f"n:{c}"] < 2:
            raise ValueError(f"outliers: fewer than two observed values of {c!r} in the train split")
        means[c] = first[f"s:{c}"] / first[f"n:{c}"]
    second = ordered_aggregates(
        train, {f"ss:{c}": ("sum", F.pow(scaled(c) - F.lit(means[c]), 2)) for c in spec.outlier_columns}
    )
    fits = {}
    for c in spec.outlier_columns:
        n = int(first[f"n:{c}"])
        std = math.sqrt(second[f"ss:{c}"] / (n - 1))
        log = c in spec.log_scale_columns
        inverse = math.expm1 if log else float
        lo, hi = means[c] - k * std, means[c] + k * std
        fits[c] = OutlierFit(c, log, float(k), means[c], std, inverse(lo), inverse(hi), n)
    return fits


# --- Imputation: the median, chained regressions (the other methods: ``imputation``) ------------------------


@dataclass(frozen=True, slots=True)
class RegressionModel:
    """``target_hat = intercept + sum(coefficient * predictor)``, with ``target = log1p(x)`` if
    ``target_transform == "log1p"``; the imputed value is the back-transformed prediction clamped to the
    observed train range ``[lower, upper]``. ``predictors`` are ``(column, transform)`` pairs."""

    target_transform: str
    predictors: tuple[tuple[str, str], ...]
    coefficients: tuple[float, ...]
    intercept: float
    lower: float
    upper: float
    ridge: float
    n: int
    r2_train: float


@dataclass(frozen=True, slots=True)
class ImputationFit:
    """One imputed column. ``median`` is always fitted (the baseline, MICE's start, ``drop``'s serving fill); the
    other fields belong to one method each (``imputation`` fits them): ``value`` the train mean (``mean``),
    ``model`` the first round's regression (``regression``, ``mice``), ``rounds`` MICE's later rounds and
    ``changes`` the largest relative change of this column's imputed train values in each round, ``knn`` the KNN
    step's entry (k, standardisation, reference rows)."""

    column: str
    method: str
    median: float
    n_observed: int
    model: RegressionModel | None = None
    value: float | None = None
    rounds: tuple[RegressionModel, ...] = ()
    changes: tuple[float, ...] = ()
    knn: Mapping[str, Any] | None = None


def fit_imputation(
    train: DataFrame, spec: EtlSpec, method: str, ridge: float = 1e-4, params: EtlParams | None = None
) -> dict[str, ImputationFit]:
    """Fit the imputation of every column in ``spec.impute_columns`` on train (syllabus §2.7).

    The median is always computed: it is the baseline, and the starting value of not-yet-imputed
    predictors. ``method="regression"`` then fits a MICE-style chained equation per column: a linear
    regression of the column (``log1p`` scale for a log-normal column) on every other encoded feature,
    the columns imputed one after another, each regression seeing the previous ones already imputed.
    With one nullable column (the worked example) this is regression imputation; ``mice`` repeats the rounds
    until they converge (single imputation: predictions, not draws from the predictive distribution).

    ``mean``, ``knn``, ``mice`` and ``drop`` are fitted by ``imputation`` on top of this (``params`` carries their
    settings); docs/glue-etl.md compares the methods.
    """
    if method not in IMPUTE_METHODS:
        raise ValueError(f"impute_method={method!r}, allowed: {list(IMPUTE_METHODS)}")
    columns = list(spec.impute_columns)
    if not columns:
        return {}
    quantiles = exact_quantiles(train, columns, [0.5])
    medians: dict[str, float] = {}
    for c, q in zip(columns, quantiles, strict=True):
        if not q:
            raise ValueError(f"imputation: no observed value of {c!r} in the train split")
        medians[c] = float(q[0])
    counts = train.agg(*[F.count(F.col(c)).alias(c) for c in columns]).collect()[0]
    fits: dict[str, ImputationFit] = {}
    current = train
    regression = method in ("regression", "mice")
    for c in columns:
        pending = {other: medians[other] for other in columns if other not in fits and other != c}
        model = _fit_regression(current, spec, c, ridge, pending) if regression else None
        fits[c] = ImputationFit(c, method, float(medians[c]), int(counts[c]), model)
        if not regression:
            continue
        # the next regressions see this column imputed (the chained equations), in its own type
        filled = F.coalesce(F.col(c).cast("double"), imputed_value(fits[c], pending))
        current = current.withColumn(c, filled.cast(dict(current.dtypes)[c]))
    if method in ("mean", "knn", "mice"):
        from ml_constructs.glue_etl.runtime import imputation

        return imputation.extend(train, spec, fits, ridge, params or EtlParams())
    return fits


def imputed_value(fit: ImputationFit, pending: Mapping[str, float]) -> Column:
    """The value that replaces a null of ``fit.column``: the median, or the regression's prediction from the
    row's other features (``pending``: medians of the nullable predictors not imputed yet). The formula is
    ``preprocessing.imputed_value``, shared with the endpoint."""
    from ml_constructs.glue_etl.runtime.fitted import imputation_step
    from ml_constructs.glue_etl.runtime.spark_ops import SPARK_OPS

    return preprocessing.imputed_value(SPARK_OPS, _AnyColumn(), imputation_step(fit, pending, "double"))


class _AnyColumn(dict[str, Column]):
    """Every column by name, on demand (the regression's predictors)."""

    def __missing__(self, name: str) -> Column:
        return F.col(name)


def _transformed(name: str, transform: str, fill: Mapping[str, float]) -> Column:
    col = F.col(name).cast("double")
    if name in fill:  # a nullable predictor not yet imputed: its median (MICE's starting point)
        col = F.coalesce(col, F.lit(fill[name]))
    return F.log1p(col) if transform == "log1p" else col


def _predictor_columns(spec: EtlSpec, target: str) -> list[tuple[str, str]]:
    """(column, transform) of the regression's inputs: every encoded feature but the target."""
    return [
        (name, "log1p" if name in spec.log_scale_columns else "none")
        for name in encoded_base_columns(spec)
        if name != target
    ]


def _fit_regression(
    train: DataFrame, spec: EtlSpec, target: str, ridge: float, fill: Mapping[str, float]
) -> RegressionModel:
    """Ridge-regularised least squares, closed form, from sums computed by Spark (two passes).

    Pass 1: counts, means of the predictors and the target, the target's range. Pass 2: centred cross
    products. The normal equations are solved on the standardised predictors (the correlation matrix, well
    scaled whatever the units: days, km, counts) with ``ridge`` added to the diagonal; a predictor that is
    constant on train gets coefficient 0. The coefficients are then expressed in the original units.
    """
    predictors = _predictor_columns(spec, target)
    transform = "log1p" if target in spec.log_scale_columns else "none"
    observed = train.filter(F.col(target).isNotNull())
    y = _transformed(target, transform, {})
    xs = [_transformed(n, t, fill) for n, t in predictors]
    p = len(xs)
    first = ordered_aggregates(
        observed,
        {
            "n": ("sum", F.lit(1)),
            "y": ("sum", y),
            "min": ("min", F.col(target).cast("double")),
            "max": ("max", F.col(target).cast("double")),
            **{f"x{j}": ("sum", x) for j, x in enumerate(xs)},
        },
    )
    n = int(first["n"])
    if n < p + 2:
        raise ValueError(f"imputation: {n} observed values of {target!r} in train, too few for {p} predictors")
    mean_y = first["y"] / n
    means = [first[f"x{j}"] / n for j in range(p)]
    centred = [x - F.lit(m) for x, m in zip(xs, means, strict=True)]
    cy = y - F.lit(mean_y)
    pairs = {f"c{j}_{k}": ("sum", centred[j] * centred[k]) for j in range(p) for k in range(j, p)}
    second = ordered_aggregates(
        observed, {**pairs, **{f"cy{j}": ("sum", centred[j] * cy) for j in range(p)}, "yy": ("sum", cy * cy)}
    )
    stds = [math.sqrt(second[f"c{j}_{j}"] / n) for j in range(p)]
    active = [j for j in range(p) if stds[j] > 0]
    corr = [
        [second[f"c{min(j, k)}_{max(j, k)}"] / (n * stds[j] * stds[k]) + (ridge if j == k else 0.0) for k in active]
        for j in active
    ]
    rhs = [second[f"cy{j}"] / (n * stds[j]) for j in active]
    beta_std = _solve(corr, rhs) if active else []
    coefficients = [0.0] * p
    for j, b in zip(active, beta_std, strict=True):
        coefficients[j] = b / stds[j]
    intercept = mean_y - sum(c * m for c, m in zip(coefficients, means, strict=True))
    var_y = second["yy"] / n
    explained = sum(b * r for b, r in zip(beta_std, rhs, strict=True))
    return RegressionModel(
        target_transform=transform,
        predictors=tuple(predictors),
        coefficients=tuple(coefficients),
        intercept=intercept,
        lower=float(first["min"]),
        upper=float(first["max"]),
        ridge=ridge,
        n=n,
        r2_train=explained / var_y if var_y > 0 else 0.0,
    )


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve ``A x = b`` by Gaussian elimination with partial pivoting (A is small and positive definite)."""
    n = len(vector)
    a = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-300:
            raise ValueError("imputation: singular normal equations")
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(col + 1, n):
            factor = a[r][col] / a[col][col]
            if factor:
                for j in range(col, n + 1):
                    a[r][j] -= factor * a[col][j]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (a[i][n] - sum(a[i][j] * x[j] for j in range(i + 1, n))) / a[i][i]
    return x


# --- Quantile binning -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinFit:
    """Interior quantile edges of the train values: bin 0 is ``(-inf, edges[0])``, bin i is
    ``[edges[i-1], edges[i])``, the last bin ``[edges[-1], +inf)``. Equal edges (ties) are merged, so
    ``n_bins`` can be below ``n_bins_requested`` for a column with few distinct values."""

    column: str
    n_bins_requested: int
    edges: tuple[float, ...]
    n_bins: int
    method: str = "quantile"


def fit_bins(train: DataFrame, spec: EtlSpec, n_bins: int, method: str = "quantile") -> BinFit | None:
    """Quantile binning (syllabus §2.10): edges at the train quantiles 1/n, ..., (n-1)/n, so each bin holds
    about the same number of train rows ("even sizes in each bin"), whatever the skew of the column.
    Exact quantiles (relativeError 0): deterministic, and an approximation could move an edge by up to
    relativeError * n ranks. ``method="equal_width"``: ``treatments.equal_width_edges`` instead."""
    if spec.bin_column is None:
        return None
    if method != "quantile":
        from ml_constructs.glue_etl.runtime.treatments import fit_equal_width_bins

        return fit_equal_width_bins(train, spec.bin_column, n_bins)
    probabilities = [i / n_bins for i in range(1, n_bins)]
    (edges,) = exact_quantiles(train, [spec.bin_column], probabilities)
    if not edges:
        raise ValueError(f"binning: no observed value of {spec.bin_column!r} in the train split")
    unique = tuple(sorted({float(e) for e in edges}))
    return BinFit(spec.bin_column, n_bins, unique, len(unique) + 1)
