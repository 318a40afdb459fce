"""Rebalancing the train split (syllabus §2.8): ``none``, ``oversample``, ``undersample``, ``smote``, ``class_weight``.

Every method works on the train split only (validation and test keep the natural balance: metrics must be measured
on the distribution the endpoint sees), aims at the same target, ``rebalance_ratio`` positives per negative (0 keeps
the natural balance), and is deterministic for a fixed ``rebalance_seed`` however the input is cut into files:
every choice is a crc32 hash of the event id (``crc32("<seed>:<purpose>:<id>")``), never a random draw.

- ``oversample``: random oversampling by copies (``steps.rebalance``), rows added = copies.
- ``undersample``: every positive is kept; the negatives with the smallest ``crc32("<seed>:undersample:<id>")``
  are kept, ``round(positives / ratio)`` of them; the others are dropped and counted.
- ``smote``: synthetic positives on segments between a positive and one of its k nearest positive neighbours
  (``smote``, below); rows added = synthesised rows, marked ``oversample_copy`` >= 1 with the id of the positive
  they were synthesised from.
- ``class_weight``: no row added or removed; XGBoost's ``scale_pos_weight`` = ``ratio * negatives / positives`` of
  the train split, i.e. the positives weigh as much in the loss as the copies of ``oversample`` would (ratio 1 gives
  XGBoost's documented ``sum(negative) / sum(positive)``). The job writes it to ``preprocessing/hyperparameters.json``
  and the training workflow merges it over its configured hyperparameters.
- ``none``: train as it is.

The input rows still balance: ``rows_in = rows_clean + rows_quarantined``; dropped and synthesised train rows are
reported separately (``class_balance`` in the report), never counted as input rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 - the universal PySpark convention

from ml_constructs.glue_etl.runtime.contract import (
    COPY_COLUMN,
    PARTITION_COLUMN,
    REBALANCE_METHODS,
    SPLIT_COLUMN,
    EtlParams,
    EtlSpec,
)
from ml_constructs.glue_etl.runtime.fitting import BinFit, ordered_aggregates
from ml_constructs.glue_etl.runtime.steps import RebalanceResult, apply_bins, rebalance


@dataclass(frozen=True)
class Rebalanced:
    """What a method did: the counts (``RebalanceResult``) and the method's own report entries."""

    result: RebalanceResult
    method: str
    negatives_dropped: int = 0
    synthesised: int = 0
    scale_pos_weight: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def hyperparameters(self) -> dict[str, str]:
        """What the training job must receive with this preparation (strings, as the algorithm takes them)."""
        return {} if self.scale_pos_weight is None else {"scale_pos_weight": f"{self.scale_pos_weight:.6g}"}


def hash_unit(seed: int, purpose: str, *parts: Column | str) -> Column:
    """``crc32("<seed>:<purpose>:<part>:...") / 2^32`` in [0, 1): a reproducible uniform draw per row."""
    pieces: list[Column] = [F.lit(f"{seed}:{purpose}")]
    for part in parts:
        pieces += [F.lit(":"), part if isinstance(part, Column) else F.lit(part)]
    return F.crc32(F.concat(*pieces).cast("binary")) / F.lit(4294967296.0)


def rebalance_train(
    train: DataFrame, spec: EtlSpec, params: EtlParams, counts: tuple[int, int], bins: BinFit | None = None
) -> tuple[DataFrame, Rebalanced]:
    """Apply ``params.rebalance_method`` to the train rows; ``counts`` = (positives, negatives) of ``train``."""
    method, ratio, seed = params.rebalance_method, params.rebalance_ratio, params.rebalance_seed
    positives, negatives = counts
    if method not in REBALANCE_METHODS:
        raise ValueError(f"rebalance_method={method!r}, allowed: {list(REBALANCE_METHODS)}")
    if method == "oversample":
        out, result = rebalance(train, spec, ratio, seed, counts)
        return out, Rebalanced(result, method)
    if method == "undersample":
        return undersample(train, spec, ratio, seed, counts)
    if method == "smote":
        return smote(train, spec, params, counts, bins)
    unchanged = RebalanceResult(ratio, positives, negatives, positives, negatives, 1, 0)
    weight = class_weight(ratio, positives, negatives) if method == "class_weight" else None
    return train.withColumn(COPY_COLUMN, F.lit(0)), Rebalanced(unchanged, method, scale_pos_weight=weight)


def class_weight(ratio: float, positives: int, negatives: int) -> float:
    """``scale_pos_weight`` = ``ratio * negatives / positives`` (1 when the ratio is 0 or a class is empty)."""
    if ratio <= 0 or positives == 0 or negatives == 0:
        return 1.0
    return ratio * negatives / positives


def undersample(
    train: DataFrame, spec: EtlSpec, ratio: float, seed: int, counts: tuple[int, int]
) -> tuple[DataFrame, Rebalanced]:
    """Keep every positive and the ``round(positives / ratio)`` negatives with the smallest hash (then id)."""
    positives, negatives = counts
    is_positive = F.col(spec.label) == F.lit(spec.positive_class)
    keep = round(positives / ratio) if ratio > 0 else negatives
    if positives == 0 or keep >= negatives:
        result = RebalanceResult(ratio, positives, negatives, positives, negatives, 1, 0)
        return train.withColumn(COPY_COLUMN, F.lit(0)), Rebalanced(result, "undersample")
    ids = train.filter(~is_positive).select(
        spec.id_column, hash_unit(seed, "undersample", F.col(spec.id_column)).alias("_u")
    )
    order = Window.orderBy("_u", spec.id_column)  # a narrow (id, hash) projection is ranked, not the whole rows
    kept_ids = ids.withColumn("_rank", F.row_number().over(order)).filter(F.col("_rank") <= keep).select(spec.id_column)
    kept = train.filter(~is_positive).join(kept_ids, spec.id_column, "left_semi")
    out = train.filter(is_positive).unionByName(kept).withColumn(COPY_COLUMN, F.lit(0))
    result = RebalanceResult(ratio, positives, negatives, positives, keep, 1, 0)
    details = {"kept_negatives": "the smallest crc32('<seed>:undersample:<id>')", "negatives_kept": keep}
    return out, Rebalanced(result, "undersample", negatives_dropped=negatives - keep, details=details)


# --- SMOTE ------------------------------------------------------------------------------------------------------


def smote_columns(spec: EtlSpec) -> tuple[list[str], list[str]]:
    """(continuous, discrete) fields of SMOTE's distance: the numeric features, and the categorical, ordinal and
    boolean fields (compared as equal or not, as SMOTE-NC does)."""
    continuous = [c.name for c in spec.features() if c.kind == "numeric"]
    discrete = [c.name for c in spec.features() if c.kind != "numeric"]
    return continuous, discrete


def smote_scales(positives: DataFrame, continuous: list[str]) -> dict[str, float]:
    """Sample standard deviation of each continuous field over the train positives (ordered sums: reproducible);
    a constant field (std 0) is left out of the distance."""
    first = ordered_aggregates(
        positives, {"n": ("sum", F.lit(1)), **{f"s:{c}": ("sum", F.col(c).cast("double")) for c in continuous}}
    )
    n = int(first["n"] or 0)
    means = {c: first[f"s:{c}"] / n for c in continuous}
    second = ordered_aggregates(
        positives, {f"ss:{c}": ("sum", F.pow(F.col(c).cast("double") - F.lit(means[c]), 2)) for c in continuous}
    )
    scales = {c: math.sqrt(second[f"ss:{c}"] / (n - 1)) for c in continuous}
    return {c: s for c, s in scales.items() if s > 0}


def nearest_positive_neighbours(
    positives: DataFrame, spec: EtlSpec, k: int, scales: dict[str, float], discrete: list[str]
) -> DataFrame:
    """``(_a_id, _b_id, _rank)``: the k nearest other positives of each positive, rank 1 = nearest.

    Squared distance = sum over continuous fields of ((a - b) / std)^2 + the number of discrete fields that differ
    (SMOTE-NC's penalty, the median standard deviation, is 1 on standardised fields). Ties go to the smaller id.
    The positives are broadcast and joined with themselves: O(P^2) distances, P = train positives, bounded by
    ``smote_max_positives``.
    """
    idc = spec.id_column

    def side(prefix: str) -> DataFrame:
        cols = [F.col(idc).alias(f"_{prefix}_id")]
        cols += [
            (F.col(c).cast("double") / F.lit(s)).alias(f"_{prefix}_c{i}") for i, (c, s) in enumerate(scales.items())
        ]
        cols += [F.col(d).cast("string").alias(f"_{prefix}_d{i}") for i, d in enumerate(discrete)]
        return positives.select(*cols)

    d2: Column = F.lit(0.0)
    for i in range(len(scales)):
        d2 = d2 + F.pow(F.col(f"_a_c{i}") - F.col(f"_b_c{i}"), 2)
    for i in range(len(discrete)):
        d2 = d2 + (~F.col(f"_a_d{i}").eqNullSafe(F.col(f"_b_d{i}"))).cast("double")
    pairs = side("a").crossJoin(F.broadcast(side("b"))).filter(F.col("_a_id") != F.col("_b_id"))
    order = Window.partitionBy("_a_id").orderBy("_d2", "_b_id")
    ranked = pairs.withColumn("_d2", d2).withColumn("_rank", F.row_number().over(order))
    return ranked.filter(F.col("_rank") <= k).select("_a_id", "_b_id", "_rank")


def smote(
    train: DataFrame, spec: EtlSpec, params: EtlParams, counts: tuple[int, int], bins: BinFit | None
) -> tuple[DataFrame, Rebalanced]:
    """SMOTE (Chawla et al., 2002) on the train positives, made deterministic.

    ``round(ratio * negatives) - positives`` rows are synthesised: each positive gets ``n // P`` of them and the
    ``n % P`` positives with the smallest ``crc32("<seed>:smote:<id>")`` one more. Synthetic row j of positive x
    takes the neighbour of rank ``1 + crc32("<seed>:smote-nn:<id>:<j>") mod k`` among x's k nearest positives and
    ``u = crc32("<seed>:smote-u:<id>:<j>") / 2^32``; every numeric feature is ``x + u * (nn - x)`` (rounded for an
    integer column), the bin column is recomputed from it with the fitted edges, and every other column (one-hot
    groups, ordinal rank, booleans, was-missing and outlier flags, the category strings) is taken whole from the
    nearer endpoint (x when u < 0.5, else nn). That is a choice: SMOTE-NC takes the most frequent category among
    the k neighbours; the nearer endpoint keeps each synthetic row a combination of values a real positive has,
    one-hot groups never turn fractional, and it needs no per-row vote.

    Above ``smote_max_positives`` positives the O(P^2) neighbour search is not run: the job oversamples instead and
    the report says so (``fallback``).
    """
    positives, negatives = counts
    ratio, seed, k = params.rebalance_ratio, params.rebalance_seed, params.smote_k
    target = round(ratio * negatives)
    if ratio <= 0 or target <= positives:
        unchanged = RebalanceResult(ratio, positives, negatives, positives, negatives, 1, 0)
        return train.withColumn(COPY_COLUMN, F.lit(0)), Rebalanced(unchanged, "smote")
    if positives < 2 or positives > params.smote_max_positives:
        out, result = rebalance(train, spec, ratio, seed, counts)
        limit = f"smote_max_positives={params.smote_max_positives}"
        reason = f"{positives} train positives ({'fewer than 2' if positives < 2 else 'more than ' + limit})"
        return out, Rebalanced(result, "smote", details={"fallback": f"{reason}: oversampled by copies instead"})
    return _smote_rows(train, spec, params, counts, bins, min(k, positives - 1))


def _smote_rows(
    train: DataFrame, spec: EtlSpec, params: EtlParams, counts: tuple[int, int], bins: BinFit | None, k: int
) -> tuple[DataFrame, Rebalanced]:
    positives, negatives = counts
    seed, idc = params.rebalance_seed, spec.id_column
    new = round(params.rebalance_ratio * negatives) - positives
    per, extra = divmod(new, positives)
    is_positive = F.col(spec.label) == F.lit(spec.positive_class)
    # The few positives (at most smote_max_positives), cached: every step below reads them (released with the job).
    pos = train.filter(is_positive).persist(StorageLevel.MEMORY_AND_DISK)
    continuous, discrete = smote_columns(spec)
    scales = smote_scales(pos, continuous)
    neighbours = nearest_positive_neighbours(pos, spec, k, scales, discrete)

    order = Window.orderBy(hash_unit(seed, "smote", F.col(idc)), F.col(idc))
    n_new = F.lit(per) + (F.row_number().over(order) <= F.lit(extra)).cast("int")
    draws = (
        pos.select(F.col(idc).alias("_a_id"), n_new.alias("_n"))
        .filter(F.col("_n") > 0)
        .select("_a_id", F.explode(F.sequence(F.lit(1), F.col("_n"))).alias("_j"))
        .withColumn(
            "_rank",
            (F.floor(hash_unit(seed, "smote-nn", F.col("_a_id"), F.col("_j").cast("string")) * k) + 1).cast("int"),
        )
        .withColumn("_u", hash_unit(seed, "smote-u", F.col("_a_id"), F.col("_j").cast("string")))
        .join(neighbours, ["_a_id", "_rank"])
    )
    anchor, neighbour = F.broadcast(pos).alias("x"), F.broadcast(pos).alias("nn")
    joined = draws.join(anchor, F.col("_a_id") == F.col(f"x.{idc}")).join(
        neighbour, F.col("_b_id") == F.col(f"nn.{idc}")
    )
    types = dict(pos.dtypes)
    near = F.col("_u") < F.lit(0.5)
    columns = []
    for name in pos.columns:
        x, nn = F.col(f"x.{name}"), F.col(f"nn.{name}")
        if name in continuous:
            value = x.cast("double") + F.col("_u") * (nn.cast("double") - x.cast("double"))
            value = F.round(value) if types[name] in ("int", "bigint") else value
            columns.append(value.cast(types[name]).alias(name))
        elif name in (idc, spec.label, spec.timestamp_column, SPLIT_COLUMN, PARTITION_COLUMN):
            columns.append(x.alias(name))
        else:
            columns.append(F.when(near, x).otherwise(nn).alias(name))
    synthetic = joined.select(*columns, F.col("_j").alias(COPY_COLUMN))
    synthetic = apply_bins(synthetic, bins) if bins is not None else synthetic
    out = train.withColumn(COPY_COLUMN, F.lit(0)).unionByName(synthetic.select(*train.columns, COPY_COLUMN))
    result = RebalanceResult(params.rebalance_ratio, positives, negatives, positives + new, negatives, 1, 0)
    details = {
        "k": k,
        "distance": "standardised numeric features (std of the train positives) + 1 per differing categorical field",
        "discrete_columns": "taken from the nearer endpoint (x when u < 0.5, else the neighbour)",
        "neighbour_search": f"positives broadcast and joined with themselves: {positives * (positives - 1)} pairs",
        "scales": scales,
    }
    return out, Rebalanced(result, "smote", synthesised=new, details=details)
