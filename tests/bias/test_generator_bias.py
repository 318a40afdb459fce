"""The generator's label bias moves the bias metrics the way it should, and unbiased data measures what the
generator's own probabilities predict.

The generator's true log-odds already depend on ``customer_tier`` (``_TIER_RISK``: bronze is riskier), so unbiased
data has a non-zero DPL. Its expected value comes from the generator itself: conditional on the features, each label is
an independent Bernoulli draw with probability p_i = ``fraud_probability(event)``, so for a group g of n_g events

    E[q_g] = sum_i p_i / n_g,    Var[q_g] = sum_i p_i (1 - p_i) / n_g^2,

and DPL = q_a - q_d has variance Var[q_a] + Var[q_d] (disjoint events). The tolerance is 4 standard errors: a correct
generator fails it with probability about 6e-5 (the test is also deterministic for its seed).
"""

from __future__ import annotations

import math

import pytest

from ml_constructs.shared_runtime import bias
from worked_example.generator import LabelBias, fraud_probability, generate_events

N = 8000
SEED = 3
FACET, VALUE = "customer_tier", "bronze"
SHIFT = 1.5  # log-odds added to the labels of bronze events


def events(label_bias: LabelBias | None = None) -> list[dict]:
    # the true values (no missing values, no recording errors): what fraud_probability takes
    return list(generate_events(N, SEED, missing_rate=0.0, outlier_rate=0.0, label_bias=label_bias))


def observed_dpl(rows: list[dict]) -> float:
    counts: dict[str, bias.Counts] = {}
    for e in rows:
        counts.setdefault(e[FACET], bias.Counts()).add(e["is_fraud"])
    dpl = bias.pre_training(counts)[VALUE]["DPL"]
    assert dpl is not None
    return dpl


def expected_dpl(rows: list[dict], shift: float = 0.0) -> tuple[float, float]:
    """E[DPL] and its standard error from the generator's probabilities (``shift`` on the group's log-odds)."""
    sums = {True: [0, 0.0, 0.0], False: [0, 0.0, 0.0]}  # in the group d? -> n, sum p, sum p(1-p)
    for e in rows:
        p = fraud_probability(e)
        if e[FACET] == VALUE and shift:
            p = 1 / (1 + (1 - p) / p * math.exp(-shift))  # sigmoid(logit(p) + shift)
        s = sums[e[FACET] == VALUE]
        s[0], s[1], s[2] = s[0] + 1, s[1] + p, s[2] + p * (1 - p)
    (n_d, sum_d, var_d), (n_a, sum_a, var_a) = sums[True], sums[False]
    return sum_a / n_a - sum_d / n_d, math.sqrt(var_a / n_a**2 + var_d / n_d**2)


@pytest.fixture(scope="module")
def unbiased() -> list[dict]:
    return events()


@pytest.fixture(scope="module")
def biased() -> list[dict]:
    return events(LabelBias(FACET, VALUE, SHIFT))


def test_unbiased_labels_measure_the_dpl_the_generator_implies(unbiased) -> None:
    expected, se = expected_dpl(unbiased)
    assert expected < 0  # bronze is riskier in the generator's truth: its positive proportion is above the rest's
    assert abs(observed_dpl(unbiased) - expected) <= 4 * se


def test_a_label_bias_on_a_value_moves_its_dpl_the_way_of_the_shift(unbiased, biased) -> None:
    expected, se = expected_dpl(biased, SHIFT)
    assert abs(observed_dpl(biased) - expected) <= 4 * se  # the same derivation holds with the shift
    unbiased_expected, unbiased_se = expected_dpl(unbiased)
    # more bronze positives: q_d up, DPL = q_a - q_d down, far beyond the noise of either
    assert observed_dpl(biased) < unbiased_expected - 10 * unbiased_se
    # the same draws: only bronze labels changed, and only from 0 to 1
    changed = [(u, b) for u, b in zip(unbiased, biased, strict=True) if u["is_fraud"] != b["is_fraud"]]
    assert changed
    assert all(b[FACET] == VALUE and b["is_fraud"] == 1 for _, b in changed)


def test_a_model_trained_on_biased_labels_moves_its_dppl_the_same_way(unbiased, biased) -> None:
    """XGBoost trained on each label set scores the same (unbiased) events: the biased model predicts bronze positive
    more often, so DPPL(bronze) = q'_a - q'_d falls. Threshold 0.1: at a 4 % base rate, 0.5 predicts too few."""
    import numpy as np
    import xgboost as xgb

    tiers, channels = ("bronze", "silver", "gold", "platinum"), ("in_store", "online", "mobile_app", "atm")

    def features(e: dict) -> list[float]:
        return [
            math.log(e["amount"]),
            e["account_age_days"],
            e["prior_transactions_24h"],
            e["distance_from_home_km"],
            float(e["card_present"]),
            *(float(e["customer_tier"] == t) for t in tiers),
            *(float(e["channel"] == c) for c in channels),
        ]

    x = np.array([features(e) for e in unbiased])
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0}
    dppl = {}
    for name, rows in (("unbiased", unbiased), ("biased", biased)):
        booster = xgb.train(params, xgb.DMatrix(x, label=[e["is_fraud"] for e in rows]), num_boost_round=30)
        scores = booster.predict(xgb.DMatrix(x))
        counts: dict[str, bias.Counts] = {}
        for e, score in zip(unbiased, scores, strict=True):
            counts.setdefault(e[FACET], bias.Counts()).add(predicted=bool(score >= 0.1))
        dppl[name] = bias.dppl_of(counts[VALUE], bias.per_value(counts)[VALUE][1])
    assert dppl["biased"] is not None
    assert dppl["unbiased"] is not None
    assert dppl["biased"] < dppl["unbiased"] - 0.05, dppl


def test_a_label_bias_names_a_facet_value_and_a_finite_shift() -> None:
    assert LabelBias.parse("customer_tier=bronze:1.5") == LabelBias("customer_tier", "bronze", 1.5)
    assert LabelBias.parse("card_present=false:-2") == LabelBias("card_present", "false", -2.0)
    for text, reason in (
        ("amount=1:1", "not a categorical or ordinal field"),
        ("channel=web:1", "not a value of channel"),
        ("channel=atm:nan", "not a log-odds shift"),
        ("channel=atm", "expected FIELD=VALUE:SHIFT"),
    ):
        with pytest.raises(ValueError, match=reason):
            LabelBias.parse(text)
