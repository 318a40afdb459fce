"""The shared bias metrics against values worked out by hand on small tables (the arithmetic is in the comments)."""

from __future__ import annotations

import json
import math

import pytest

from ml_constructs.shared_runtime import bias
from ml_constructs.shared_runtime.bias import Counts


def counts(rows: dict[str, list[tuple[int, int]]]) -> dict[str, Counts]:
    """Facet value -> Counts from ``(label, predicted)`` rows."""
    out: dict[str, Counts] = {}
    for value, pairs in rows.items():
        c = out.setdefault(value, Counts())
        for label, predicted in pairs:
            c.add(label, bool(predicted))
    return out


# basic: 4 rows, 1 positive label; gold: 6 rows, 3 positives; vip: 2 rows, no positive (labels only here)
PRE = counts({"basic": [(1, 0), (0, 0), (0, 0), (0, 0)], "gold": [(1, 0)] * 3 + [(0, 0)] * 3, "vip": [(0, 0)] * 2})


def test_pre_training_metrics_of_a_facet_value_against_the_rest() -> None:
    m = bias.pre_training(PRE)["basic"]
    # d = basic: n_d = 4, q_d = 1/4; a = gold + vip: n_a = 8, q_a = 3/8
    assert m["CI"] == pytest.approx((8 - 4) / (8 + 4))  # 1/3
    assert m["DPL"] == pytest.approx(3 / 8 - 1 / 4)  # 0.125
    # P_a = (5/8, 3/8), P_d = (3/4, 1/4): KL = 5/8 ln((5/8)/(3/4)) + 3/8 ln((3/8)/(1/4))
    assert m["KL"] == pytest.approx(0.625 * math.log(5 / 6) + 0.375 * math.log(3 / 2))  # 0.0381
    # P = (P_a + P_d)/2 = (11/16, 5/16); JS = (KL(P_a||P) + KL(P_d||P)) / 2
    kl_a = 0.625 * math.log(0.625 / 0.6875) + 0.375 * math.log(0.375 / 0.3125)
    kl_d = 0.75 * math.log(0.75 / 0.6875) + 0.25 * math.log(0.25 / 0.3125)
    assert m["JS"] == pytest.approx((kl_a + kl_d) / 2)


def test_a_facet_value_without_positives_has_an_infinite_kl_reported_as_null() -> None:
    m = bias.pre_training(PRE)["vip"]
    # d = vip: n_d = 2, q_d = 0; a = basic + gold: n_a = 10, q_a = 4/10
    assert m["CI"] == pytest.approx((10 - 2) / 12)
    assert m["DPL"] == pytest.approx(0.4)
    # P_a = (0.6, 0.4), P_d = (1, 0): the term 0.4 ln(0.4 / 0) is infinite
    assert m["KL"] is None
    # P = (0.8, 0.2): JS = (0.6 ln(0.6/0.8) + 0.4 ln(0.4/0.2) + 1 ln(1/0.8) + 0) / 2, finite
    assert m["JS"] == pytest.approx((0.6 * math.log(0.75) + 0.4 * math.log(2) + math.log(1.25)) / 2)


def test_a_facet_value_absent_from_the_split_has_every_metric_null() -> None:
    """platinum is allowed by the schema but absent here: n_d = 0, no metric is defined; the others are unchanged."""
    result = bias.pre_training(PRE, values=["platinum"])
    assert list(result) == ["basic", "gold", "platinum", "vip"]
    assert result["platinum"] == dict.fromkeys(bias.PRE_TRAINING)
    assert result["basic"] == bias.pre_training(PRE)["basic"]  # an empty group adds nothing to the rest
    # one value only: the rest is empty, nothing to compare with
    assert bias.pre_training({"gold": Counts(n=3, labels=1)})["gold"] == dict.fromkeys(bias.PRE_TRAINING)


# (label, predicted) rows
POST = counts(
    {
        "basic": [(1, 1), (0, 1), (0, 0), (0, 0)],  # n 4, predicted 2, TP 1, TN 2, positives 1
        "gold": [(1, 1), (1, 0), (0, 0), (0, 0)],  # n 4, predicted 1, TP 1, TN 2, positives 2
        "vip": [(0, 0), (0, 0)],  # n 2, predicted 0, TP 0, TN 2, positives 0
    }
)


def test_post_training_metrics_of_a_facet_value_against_the_rest() -> None:
    m = bias.post_training(POST)["basic"]
    # a = gold + vip: n 6, predicted 1, TP 1, TN 4, positives 2; d = basic
    assert m["DPPL"] == pytest.approx(1 / 6 - 2 / 4)  # -1/3
    assert m["DI"] == pytest.approx((2 / 4) / (1 / 6))  # 3
    assert m["RD"] == pytest.approx(1 / 2 - 1 / 1)  # recall_a - recall_d = -0.5
    assert m["AD"] == pytest.approx((1 + 4) / 6 - (1 + 2) / 4)  # 1/12


def test_post_training_of_a_value_without_positives_has_no_recall_difference() -> None:
    m = bias.post_training(POST)["vip"]
    # a = basic + gold: n 8, predicted 3, TP 2, TN 4; d = vip: n 2, predicted 0, TN 2
    assert m["DPPL"] == pytest.approx(3 / 8 - 0)
    assert m["DI"] == 0.0  # 0 / (3/8)
    assert m["RD"] is None  # recall of vip is 0/0
    assert m["AD"] == pytest.approx((2 + 4) / 8 - 2 / 2)  # -0.25


def test_disparate_impact_with_a_zero_denominator() -> None:
    # x: 1 of 2 predicted positive, y: none of 2. d = x: q'_a = 0, q'_d = 1/2 -> infinite -> null
    some = counts({"x": [(0, 1), (0, 0)], "y": [(0, 0), (0, 0)]})
    assert bias.post_training(some)["x"]["DI"] is None
    assert bias.post_training(some)["y"]["DI"] == 0.0  # 0 / (1/2)
    # nobody predicted positive: 0/0, both groups treated alike -> parity, 1
    none = counts({"x": [(0, 0)], "y": [(0, 0)]})
    assert bias.post_training(none)["x"]["DI"] == 1.0
    assert bias.post_training(none)["x"]["DPPL"] == 0.0


def test_dppl_alone_needs_no_labels() -> None:
    live = {"x": Counts(), "y": Counts()}
    for predicted in (True, True, False, False):  # x: 2 of 4 predicted positive
        live["x"].add(predicted=predicted)
    live["y"].add(predicted=False)  # y: 0 of 1
    assert bias.dppl_of(live["x"], live["y"]) == pytest.approx(0 - 2 / 4)
    assert bias.dppl_of(live["y"], live["x"]) == pytest.approx(2 / 4 - 0)
    assert bias.dppl_of(Counts(), live["x"]) is None


def test_analysis_json_has_clarify_s_layout_and_no_nan() -> None:
    section = bias.analysis_section("is_fraud", {"tier": bias.pre_training(PRE)})
    document = bias.analysis(pre_training_bias_metrics=section)
    text = json.dumps(document, allow_nan=False)  # None is null; NaN or infinity would raise here
    back = json.loads(text)["pre_training_bias_metrics"]
    assert back["label"] == "is_fraud"
    assert back["label_value_or_threshold"] == "1"
    vip = next(v for v in back["facets"]["tier"] if v["value_or_threshold"] == "vip")
    assert [m["name"] for m in vip["metrics"]] == ["CI", "DPL", "KL", "JS"]
    assert vip["metrics"][2] == {"name": "KL", "description": "Kullback-Leibler Divergence (KL)", "value": None}


def test_facet_values_are_keyed_as_json_spells_them() -> None:
    assert [bias.facet_value(v) for v in ("gold", True, False, None, 3)] == ["gold", "true", "false", "null", "3"]
