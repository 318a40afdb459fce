"""Bias metrics of SageMaker Clarify, computed from counts, in the standard library only (no Clarify job needed).

One home for the ETL (pre-training metrics of the train split), the evaluation function (post-training metrics of
the validation split) and the drift job (live DPPL of the captured traffic). Each facet value ``d`` is compared with
the rest ``a`` (every other value of the same facet), as Clarify does for a facet value it is given:

pre-training (observed labels; ``n`` rows, ``n(1)`` positive labels, ``q = n(1) / n``)
    CI  = (n_a - n_d) / (n_a + n_d)                        class imbalance, in [-1, 1]
    DPL = q_a - q_d                                        difference in proportions of labels, in [-1, 1]
    KL  = sum_y P_a(y) ln(P_a(y) / P_d(y))                 Kullback-Leibler divergence of the label distributions
    JS  = (KL(P_a || P) + KL(P_d || P)) / 2, P = (P_a + P_d) / 2    Jensen-Shannon divergence, in [0, ln 2]
post-training (predicted labels at the decision threshold; ``q' = n'(1) / n``)
    DPPL = q'_a - q'_d                                     difference in positive proportions in predicted labels
    DI   = q'_d / q'_a                                     disparate impact (1 = parity)
    RD   = TP_a / (TP_a + FN_a) - TP_d / (TP_d + FN_d)      recall difference (equal opportunity)
    AD   = ACC_a - ACC_d                                   accuracy difference

Edge cases (decided here, documented in docs/bias-and-explainability.md): a metric that is undefined is ``None``
(``null`` in JSON), never NaN or infinity:

- a facet value absent from the data (``n_d = 0``), or a facet with one value only (``n_a = 0``): every metric of
  that value is ``None`` (Clarify refuses an empty facet);
- KL when some label has ``P_a(y) > 0 = P_d(y)`` (for instance a facet value without positives): infinite, so
  ``None``; terms with ``P_a(y) = 0`` count 0 (``0 ln 0 = 0``). JS is always finite;
- DI when ``q'_a = 0``: 1.0 when ``q'_d = 0`` too (neither group gets a positive prediction: parity), else ``None``
  (infinite);
- RD when a group has no positive label (its recall is 0/0): ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PRE_TRAINING: tuple[str, ...] = ("CI", "DPL", "KL", "JS")
POST_TRAINING: tuple[str, ...] = ("DPPL", "DI", "RD", "AD")
#: Clarify's names of the metrics (the ``description`` of each metric in analysis.json).
DESCRIPTIONS: Mapping[str, str] = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Leibler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "RD": "Recall Difference (RD)",
    "AD": "Accuracy Difference (AD)",
}
#: The version of the analysis.json layout written here (Clarify's own files carry "1.0").
ANALYSIS_VERSION = "1.0"

Metrics = dict[str, float | None]


@dataclass
class Counts:
    """What one group (a facet value, or the rest) holds: rows, positive labels, positive predictions, and the
    true positives and true negatives (post-training metrics only)."""

    n: int = 0
    labels: int = 0  # observed positive labels
    predicted: int = 0  # predicted positive (score >= threshold)
    true_positives: int = 0
    true_negatives: int = 0

    def add(self, label: int | None = None, predicted: bool | None = None) -> None:
        """One row: its observed label (0/1, or None when unknown) and its prediction (or None)."""
        self.n += 1
        self.labels += label or 0
        self.predicted += bool(predicted)
        if label is not None and predicted is not None:
            self.true_positives += bool(label and predicted)
            self.true_negatives += bool(not label and not predicted)

    def __iadd__(self, other: Counts) -> Counts:
        self.n += other.n
        self.labels += other.labels
        self.predicted += other.predicted
        self.true_positives += other.true_positives
        self.true_negatives += other.true_negatives
        return self


def facet_value(value: object) -> str:
    """A facet value as the key it has in reports and metric dimensions: JSON's spelling for booleans and null."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def _rest(counts: Mapping[str, Counts], value: str) -> Counts:
    rest = Counts()
    for other, c in counts.items():
        if other != value:
            rest += c
    return rest


def _kl(p: Iterable[float], q: Iterable[float]) -> float | None:
    total = 0.0
    for pi, qi in zip(p, q, strict=True):
        if pi == 0:
            continue  # 0 ln 0 = 0
        if qi == 0:
            return None  # infinite
        total += pi * math.log(pi / qi)
    return total


def _label_distribution(c: Counts) -> tuple[float, float]:
    q = c.labels / c.n
    return 1.0 - q, q


def pre_training_of(d: Counts, a: Counts) -> Metrics:
    """CI, DPL, KL and JS of the group ``d`` against ``a`` (module docstring; ``None`` when undefined)."""
    if d.n == 0 or a.n == 0:
        return dict.fromkeys(PRE_TRAINING)
    p_a, p_d = _label_distribution(a), _label_distribution(d)
    mixture = [(x + y) / 2 for x, y in zip(p_a, p_d, strict=True)]
    kl_a, kl_d = _kl(p_a, mixture), _kl(p_d, mixture)
    return {
        "CI": (a.n - d.n) / (a.n + d.n),
        "DPL": p_a[1] - p_d[1],
        "KL": _kl(p_a, p_d),
        "JS": None if kl_a is None or kl_d is None else (kl_a + kl_d) / 2,  # never None: P > 0 where P_a or P_d is
    }


def _recall(c: Counts) -> float | None:
    return c.true_positives / c.labels if c.labels else None


def post_training_of(d: Counts, a: Counts) -> Metrics:
    """DPPL, DI, RD and AD of the group ``d`` against ``a`` (module docstring; ``None`` when undefined)."""
    if d.n == 0 or a.n == 0:
        return dict.fromkeys(POST_TRAINING)
    q_a, q_d = a.predicted / a.n, d.predicted / d.n
    recall_a, recall_d = _recall(a), _recall(d)
    return {
        "DPPL": q_a - q_d,
        "DI": q_d / q_a if q_a else (1.0 if q_d == 0 else None),
        "RD": None if recall_a is None or recall_d is None else recall_a - recall_d,
        "AD": (a.true_positives + a.true_negatives) / a.n - (d.true_positives + d.true_negatives) / d.n,
    }


def dppl_of(d: Counts, a: Counts) -> float | None:
    """DPPL alone (no labels needed: what the drift job computes from captured traffic)."""
    return None if d.n == 0 or a.n == 0 else a.predicted / a.n - d.predicted / d.n


def per_value(counts: Mapping[str, Counts], values: Iterable[str] = ()) -> dict[str, tuple[Counts, Counts]]:
    """Each facet value (those counted, plus ``values`` the schema allows but the data may lack), sorted, with its
    own counts and the counts of the rest."""
    keys = sorted({*counts, *values})
    return {v: (counts.get(v, Counts()), _rest(counts, v)) for v in keys}


def pre_training(counts: Mapping[str, Counts], values: Iterable[str] = ()) -> dict[str, Metrics]:
    """Facet value -> its pre-training metrics against the rest."""
    return {v: pre_training_of(d, a) for v, (d, a) in per_value(counts, values).items()}


def post_training(counts: Mapping[str, Counts], values: Iterable[str] = ()) -> dict[str, Metrics]:
    """Facet value -> its post-training metrics against the rest."""
    return {v: post_training_of(d, a) for v, (d, a) in per_value(counts, values).items()}


def analysis_section(
    label: str, facets: Mapping[str, Mapping[str, Metrics]], label_value: object = 1
) -> dict[str, object]:
    """One section of Clarify's analysis.json (``pre_training_bias_metrics`` or ``post_training_bias_metrics``):
    ``{"label", "label_value_or_threshold", "facets": {facet: [{"value_or_threshold", "metrics": [{"name",
    "description", "value"}]}]}}``."""
    return {
        "label": label,
        "label_value_or_threshold": str(label_value),
        "facets": {
            facet: [
                {
                    "value_or_threshold": value,
                    "metrics": [
                        {"name": name, "description": DESCRIPTIONS[name], "value": metric}
                        for name, metric in metrics.items()
                    ],
                }
                for value, metrics in by_value.items()
            ]
            for facet, by_value in facets.items()
        },
    }


def analysis(**sections: Mapping[str, object]) -> dict[str, object]:
    """An analysis.json document: ``analysis(pre_training_bias_metrics=analysis_section(...))``."""
    return {"version": ANALYSIS_VERSION, **sections}
