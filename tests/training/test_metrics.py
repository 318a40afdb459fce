"""The quality-gate metrics: hand-derived cases, an independent brute-force AUC, edge cases, the gate, parsing.

Expected values are derived in the tests: small cases by hand (the working is in the comments), larger ones by
counting every (positive, negative) pair with exact fractions, which is the definition of AUC rather than the
rank formula the module uses.
"""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction

import pytest

from ml_constructs.training.runtime.metrics import (
    GATED_METRICS,
    EvaluationError,
    InvalidGateError,
    MalformedOutputError,
    NoRecordsError,
    Predictions,
    SingleClassError,
    binary_metrics,
    check_thresholds,
    evaluate,
    gate,
    parse_joined_line,
    roc_auc,
)

# --- Independent reference implementations -------------------------------------------------------------------


def pairwise_auc(labels: list[int], scores: list[float]) -> Fraction:
    """AUC by definition: the share of (positive, negative) pairs ranked right, ties counting one half."""
    positives = [s for y, s in zip(labels, scores, strict=True) if y == 1]
    negatives = [s for y, s in zip(labels, scores, strict=True) if y == 0]
    wins = sum(
        (Fraction(1) if p > n else Fraction(1, 2) if p == n else Fraction(0) for p in positives for n in negatives),
        Fraction(0),
    )
    return wins / (len(positives) * len(negatives))


def reference_metrics(labels: list[int], scores: list[float], threshold: float) -> dict[str, float]:
    predicted = [1 if s >= threshold else 0 for s in scores]
    pairs = list(zip(labels, predicted, strict=True))
    tp, fp = pairs.count((1, 1)), pairs.count((0, 1))
    tn, fn = pairs.count((0, 0)), pairs.count((1, 0))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * tp / (2 * tp + fp + fn),  # the same harmonic mean, written with counts
        "specificity": tn / (tn + fp),
        "accuracy": (tp + tn) / len(labels),
    }


def random_case(seed: int, n: int, decimals: int) -> tuple[list[int], list[float]]:
    """Labels with a signal and coarse scores (rounded to ``decimals``: many ties)."""
    rng = random.Random(seed)
    labels = [1 if rng.random() < 0.2 else 0 for _ in range(n)]
    labels[0], labels[1] = 0, 1  # both classes present
    scores = [round(min(1.0, max(0.0, rng.gauss(0.3 + 0.3 * y, 0.2))), decimals) for y in labels]
    return labels, scores


# --- Hand-derived cases ----------------------------------------------------------------------------------------

LABELS = [0, 0, 1, 1]
SCORES = [0.1, 0.4, 0.35, 0.8]


def test_small_case_at_threshold_one_half():
    # Only 0.8 >= 0.5: TP=1 (0.8), FP=0, FN=1 (0.35), TN=2 (0.1, 0.4).
    # AUC: pairs (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3 of 4 = 0.75.
    m = binary_metrics(LABELS, SCORES, 0.5)
    assert m["auc"] == 0.75
    assert (m["true_positives"], m["false_positives"], m["true_negatives"], m["false_negatives"]) == (1, 0, 2, 1)
    assert m["precision"] == 1.0  # 1 / (1 + 0)
    assert m["recall"] == 0.5  # 1 / 2
    assert m["f1"] == pytest.approx(2 / 3)  # 2 * 1 * 0.5 / 1.5
    assert m["specificity"] == 1.0  # 2 / 2
    assert m["accuracy"] == 0.75  # 3 / 4
    assert (m["count"], m["positives"], m["negatives"], m["predicted_positives"]) == (4, 2, 2, 1)
    assert m["threshold"] == 0.5


def test_small_case_at_a_lower_threshold():
    # 0.4, 0.35, 0.8 >= 0.3: TP=2, FP=1 (0.4), TN=1, FN=0.
    m = binary_metrics(LABELS, SCORES, 0.3)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == 1.0
    assert m["f1"] == pytest.approx(0.8)  # 2 * (2/3) * 1 / (5/3)
    assert m["specificity"] == 0.5
    assert m["accuracy"] == 0.75
    assert m["auc"] == 0.75  # AUC does not depend on the threshold


def test_a_score_equal_to_the_threshold_is_positive():
    m = binary_metrics([0, 1], [0.2, 0.5], 0.5)
    assert (m["true_positives"], m["false_positives"]) == (1, 0)


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 0.5),  # all tied: every pair counts one half
        ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 1.0),  # perfect ranking
        ([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1], 0.0),  # perfectly wrong
        # Positives 0.6, 0.9, 0.2; negatives 0.2, 0.6: wins 1 + 0.5 + 1 + 1 + 0.5 + 0 = 4 of 6.
        ([0, 0, 1, 1, 1], [0.2, 0.6, 0.6, 0.9, 0.2], 4 / 6),
    ],
)
def test_auc_by_hand_including_ties(labels: list[int], scores: list[float], expected: float):
    assert roc_auc(labels, scores) == pytest.approx(expected, abs=1e-15)


# --- Against the independent computation -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("decimals", [1, 2, 6])
def test_rank_auc_equals_pairwise_auc(seed: int, decimals: int):
    labels, scores = random_case(seed, n=300, decimals=decimals)
    assert roc_auc(labels, scores) == pytest.approx(float(pairwise_auc(labels, scores)), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 0.6, 1.0])
def test_threshold_metrics_equal_the_reference(seed: int, threshold: float):
    labels, scores = random_case(seed, n=200, decimals=2)
    m = binary_metrics(labels, scores, threshold)
    for name, value in reference_metrics(labels, scores, threshold).items():
        assert m[name] == pytest.approx(value, abs=1e-12), name
    assert m["true_positives"] + m["false_positives"] + m["true_negatives"] + m["false_negatives"] == len(labels)


def test_metrics_do_not_depend_on_record_order():
    labels, scores = random_case(3, n=250, decimals=2)
    pairs = list(zip(labels, scores, strict=True))
    random.Random(1).shuffle(pairs)
    shuffled = binary_metrics([y for y, _ in pairs], [s for _, s in pairs], 0.5)
    assert shuffled == pytest.approx(binary_metrics(labels, scores, 0.5), abs=1e-12)


# --- Edge cases ------------------------------------------------------------------------------------------------


def test_nothing_predicted_positive_gives_zero_precision_and_f1():
    m = binary_metrics([0, 1, 0, 1], [0.1, 0.4, 0.2, 0.3], 0.9)
    assert m["predicted_positives"] == 0
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    assert m["accuracy"] == 0.5
    assert m["specificity"] == 1.0
    assert m["auc"] == 1.0  # the ranking is still perfect: AUC is about order, not the threshold


def test_everything_predicted_positive():
    m = binary_metrics([0, 1, 0, 0], [0.1, 0.4, 0.2, 0.3], 0.0)
    assert (m["precision"], m["recall"], m["specificity"]) == (0.25, 1.0, 0.0)


@pytest.mark.parametrize(("labels", "which"), [([0, 0, 0], "negative"), ([1, 1], "positive")])
def test_single_class_labels_are_an_error(labels: list[int], which: str):
    with pytest.raises(SingleClassError, match=f"all {len(labels)} labels are {which}.*AUC needs"):
        binary_metrics(labels, [0.5] * len(labels), 0.5)
    with pytest.raises(SingleClassError):
        roc_auc(labels, [0.5] * len(labels))


@pytest.mark.parametrize(
    ("labels", "scores", "error", "match"),
    [
        ([], [], NoRecordsError, "no records"),
        ([0, 1], [0.5], EvaluationError, "differ in length"),
        ([0, 2], [0.1, 0.5], EvaluationError, r"label #1 is 2"),
        ([0, True], [0.1, 0.5], EvaluationError, r"label #1 is True"),
        ([0, 1.0], [0.1, 0.5], EvaluationError, r"label #1 is 1.0"),
        ([0, 1], [0.1, math.nan], EvaluationError, r"score #1 is nan"),
        ([0, 1], [0.1, math.inf], EvaluationError, r"score #1 is inf"),
    ],
)
def test_bad_inputs(labels: list, scores: list, error: type[Exception], match: str):
    with pytest.raises(error, match=match):
        binary_metrics(labels, scores, 0.5)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "0.5", True, None, math.nan])
def test_bad_decision_threshold(threshold: object):
    with pytest.raises(InvalidGateError, match=r"threshold=.* is not allowed: a number from 0 to 1"):
        binary_metrics([0, 1], [0.1, 0.9], threshold)  # type: ignore[arg-type]


# --- The gate ----------------------------------------------------------------------------------------------------

METRICS = {"auc": 0.85, "precision": 0.30, "recall": 0.45, "f1": 0.36, "specificity": 0.9, "accuracy": 0.9}


def test_gate_passes_at_the_minimum():
    assert gate(METRICS, {"auc": 0.8, "precision": 0.30}) == (True, [])


def test_gate_lists_every_failure_in_order():
    passed, failures = gate(METRICS, {"auc": 0.9, "precision": 0.3, "recall": 0.5, "f1": 0.35})
    assert not passed
    assert failures == ["auc 0.85 is below the minimum 0.9", "recall 0.45 is below the minimum 0.5"]


@pytest.mark.parametrize(
    ("thresholds", "match"),
    [
        ({}, "non-empty mapping"),
        (None, "non-empty mapping"),
        ([("auc", 0.8)], "non-empty mapping"),
        ({"aucc": 0.8}, r"thresholds.aucc is not a gated metric; allowed: \['auc'"),
        ({"auc": "0.8"}, r"thresholds.auc='0.8' is not allowed"),
        ({"auc": 1.2}, r"thresholds.auc=1.2 is not allowed"),
        ({"auc": False}, r"thresholds.auc=False is not allowed"),
    ],
)
def test_bad_thresholds(thresholds: object, match: str):
    with pytest.raises(InvalidGateError, match=match):
        check_thresholds(thresholds)


def test_every_gated_metric_is_in_the_metrics():
    m = binary_metrics(LABELS, SCORES, 0.5)
    assert set(GATED_METRICS) <= set(m)
    assert gate(m, dict.fromkeys(GATED_METRICS, 0.0)) == (True, [])


# --- Parsing the joined output ---------------------------------------------------------------------------------


def test_parse_good_lines():
    assert parse_joined_line("0,0.25") == (0, 0.25)
    assert parse_joined_line("1,0.9999998807907104") == (1, 0.9999998807907104)
    assert parse_joined_line("1.0,1") == (1, 1.0)
    assert parse_joined_line("0,1e-05") == (0, 1e-05)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        ("0.25", "expected 2 comma-separated fields"),
        ("0,0.5,0.25", "expected 2 comma-separated fields .* got 3"),
        ("2,0.5", "label '2' is not 0 or 1"),
        ("yes,0.5", "label 'yes' is not a number"),
        ("0,", "probability '' is not a number"),
        ("0,abc", "probability 'abc' is not a number"),
        ("0,1.5", r"probability '1.5' is not in \[0, 1\]"),
        ("0,-0.1", r"probability '-0.1' is not in \[0, 1\]"),
        ("0,nan", r"probability 'nan' is not in \[0, 1\]"),
    ],
)
def test_parse_bad_lines(line: str, reason: str):
    with pytest.raises(ValueError, match=reason):
        parse_joined_line(line)


def test_line_endings():
    p = Predictions().add_text("0,0.1\n1,0.9\n", "a.out")  # final newline tolerated
    p.add_text("0,0.2\r\n1,0.8", "b.out")  # CRLF, no final newline
    p.add_text("", "empty.out")  # an empty file has no lines
    assert (p.labels, p.scores) == ([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    assert (p.records, p.lines, p.sources, p.malformed) == (4, 4, 3, [])


def test_blank_lines_are_skipped_and_counted():
    p = Predictions().add_text("0,0.1\n\n1,0.9\n \r\n\n", "a.out")
    assert (p.records, p.lines, p.blank_lines, p.malformed) == (2, 2, 3, [])
    result = evaluate(p, 0.5, {"auc": 0.5})
    assert (result["records"], result["blank_lines"]) == (2, 3)


def test_malformed_lines_are_counted_and_reported():
    text = "0,0.1\n" + "".join(f"bad{i}\n" for i in range(7)) + "1,0.9\n"
    p = Predictions().add_text(text, "s3://b/k.out")
    assert (p.records, p.lines, len(p.malformed)) == (2, 9, 7)
    with pytest.raises(MalformedOutputError) as exc:
        p.require_well_formed()
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("7 of 9 lines in 1 batch-transform output file(s) are malformed")
    assert "s3://b/k.out:2 'bad0' (expected 2 comma-separated fields (label,probability), got 1)" in message
    assert "s3://b/k.out:6 'bad4'" in message  # five quoted ...
    assert "bad5" not in message  # ... and no more
    assert message.endswith("; and 2 more")


def test_a_long_malformed_line_is_cut():
    p = Predictions().add_text("x" * 500 + "\n", "a.out")
    assert p.malformed[0].excerpt == "x" * 80 + "..."


# --- evaluate: the whole chain -----------------------------------------------------------------------------------

GATE = {"auc": 0.8, "precision": 0.3, "recall": 0.5, "f1": 0.35}


def joined(labels: list[int], scores: list[float]) -> str:
    return "".join(f"{y},{s}\n" for y, s in zip(labels, scores, strict=True))


def test_evaluate_passing_model():
    labels, scores = [0, 0, 0, 1, 1, 0, 1, 0], [0.1, 0.2, 0.6, 0.7, 0.9, 0.3, 0.4, 0.05]
    result = evaluate(Predictions().add_text(joined(labels, scores), "a.out"), 0.5, GATE)
    assert result == {
        "metrics": binary_metrics(labels, scores, 0.5),
        "passed": True,
        "failures": [],
        "records": 8,
        "blank_lines": 0,
    }
    assert json.loads(json.dumps(result)) == result  # plain JSON for Step Functions


def test_evaluate_failing_model_is_a_result_not_an_error():
    labels, scores = [0, 1, 0, 1], [0.9, 0.1, 0.8, 0.2]
    result = evaluate(Predictions().add_text(joined(labels, scores), "a.out"), 0.5, GATE)
    assert result["passed"] is False
    assert [f.split()[0] for f in result["failures"]] == ["auc", "precision", "recall", "f1"]


def test_evaluate_refuses_any_malformed_line():
    text = joined([0, 1] * 500, [0.1, 0.9] * 500) + "1,0.9,extra\n"
    with pytest.raises(MalformedOutputError, match=r"^1 of 1001 lines .* a.out:1001 '1,0.9,extra'"):
        evaluate(Predictions().add_text(text, "a.out"), 0.5, GATE)


def test_evaluate_without_records():
    with pytest.raises(NoRecordsError, match="has no files"):
        evaluate(Predictions(), 0.5, GATE)
    with pytest.raises(NoRecordsError, match=r"no records \(2 file\(s\), 0 blank line\(s\)\)"):
        evaluate(Predictions().add_text("", "a.out").add_text("", "b.out"), 0.5, GATE)
    with pytest.raises(NoRecordsError, match=r"no records \(2 file\(s\), 3 blank line\(s\)\)"):
        evaluate(Predictions().add_text("\n", "a.out").add_text("\n\n", "b.out"), 0.5, GATE)


def test_evaluate_checks_the_gate_configuration_first():
    bad = Predictions().add_text("garbage\n", "a.out")
    with pytest.raises(InvalidGateError):
        evaluate(bad, 0.5, {"auc": 2})
    with pytest.raises(InvalidGateError):
        evaluate(bad, 7, GATE)
