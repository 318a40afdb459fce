"""Quality-gate metrics for a binary classifier, computed from the joined batch-transform output.

Standard library only: it runs in the evaluation Lambda function without layers (and in the tests).
``Predictions.add_text`` parses the joined lines (``{"<label field>": 0|1, "SageMakerOutput": <answer>}`` from
the inference pipeline over raw JSON Lines, or ``<label>,<probability>`` CSV), ``binary_metrics`` computes
precision, recall, F1, specificity, accuracy and the exact AUC (rank formulation), ``gate`` compares them with
minimums, ``evaluate`` chains the three. The definitions, the AUC computation and the edge cases decided here (nothing
predicted positive, one class only, malformed lines: no tolerance) are explained in docs/training.md, "How the
evaluation computes the metrics".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ml_constructs.shared_runtime import bias

#: Metrics a gate may set a minimum for (higher is better for all of them).
GATED_METRICS: tuple[str, ...] = ("auc", "precision", "recall", "f1", "specificity", "accuracy")
#: How many malformed lines an error message quotes.
MAX_QUOTED = 5
#: Longest excerpt of a malformed line kept (long lines are cut).
MAX_EXCERPT = 80


class EvaluationError(ValueError):
    """The evaluation cannot produce trustworthy metrics (not the same as a model failing the gate)."""


class MalformedOutputError(EvaluationError):
    """The batch-transform output has lines that are neither a joined JSON object nor ``<label>,<probability>``."""


class NoRecordsError(EvaluationError):
    """There is nothing to evaluate (no objects, or objects without lines)."""


class SingleClassError(EvaluationError):
    """All labels are of one class: recall or AUC is undefined."""


class InvalidGateError(EvaluationError):
    """A decision threshold or gate minimum is not usable (unknown metric, not a number in [0, 1])."""


# --- Metrics -----------------------------------------------------------------------------------------------


def _check_inputs(labels: Sequence[int], scores: Sequence[float]) -> tuple[int, int]:
    """Validate labels and scores; return (positives, negatives)."""
    if len(labels) != len(scores):
        raise EvaluationError(f"labels and scores differ in length: {len(labels)} labels, {len(scores)} scores")
    if not labels:
        raise NoRecordsError("no records to evaluate")
    positives = 0
    for i, (label, score) in enumerate(zip(labels, scores, strict=True)):
        if isinstance(label, bool) or not isinstance(label, int) or label not in (0, 1):
            raise EvaluationError(f"label #{i} is {label!r}; labels must be the integers 0 or 1")
        if not isinstance(score, int | float) or isinstance(score, bool) or not math.isfinite(score):
            raise EvaluationError(f"score #{i} is {score!r}; scores must be finite numbers")
        positives += label
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        only = "negative (0)" if positives == 0 else "positive (1)"
        raise SingleClassError(
            f"all {len(labels)} labels are {only}: AUC needs at least one positive and one negative"
            + (" and recall needs at least one positive" if positives == 0 else "")
        )
    return positives, negatives


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """ROC AUC by the rank (Mann-Whitney U) formulation; tied scores get their mean rank.

    Equals the share of (positive, negative) pairs in which the positive has the higher score, a tie
    counting one half. Raises ``SingleClassError`` when there are no positives or no negatives.
    """
    positives, negatives = _check_inputs(labels, scores)
    return _auc(labels, scores, positives, negatives)


def _auc(labels: Sequence[int], scores: Sequence[float], positives: int, negatives: int) -> float:
    """``roc_auc`` on inputs already checked by ``_check_inputs``."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    doubled_rank_sum = 0  # sum over positives of 2 x (mean) rank: an integer
    start = 0
    while start < len(order):
        end = start
        value = scores[order[start]]
        group_positives = 0
        while end < len(order) and scores[order[end]] == value:
            group_positives += labels[order[end]]
            end += 1
        # 0-based positions start..end-1 are the 1-based ranks start+1..end; twice their mean is start+1+end.
        doubled_rank_sum += group_positives * (start + 1 + end)
        start = end
    doubled_u = doubled_rank_sum - positives * (positives + 1)
    return doubled_u / (2 * positives * negatives)


def confusion_counts(labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, int]:
    """TP, FP, TN, FN with the rule "predicted positive iff score >= threshold"."""
    tp = fp = tn = fn = 0
    for label, score in zip(labels, scores, strict=True):
        if score >= threshold:
            if label:
                tp += 1
            else:
                fp += 1
        elif label:
            fn += 1
        else:
            tn += 1
    return {"true_positives": tp, "false_positives": fp, "true_negatives": tn, "false_negatives": fn}


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, and 0.0 for 0/0 (see the module docstring for when that happens)."""
    return numerator / denominator if denominator else 0.0


def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    """All metrics for 0/1 ``labels`` and probability ``scores`` at the decision ``threshold``.

    Returns a JSON-ready dict: ``auc``, ``precision``, ``recall``, ``f1``, ``specificity``, ``accuracy``
    (floats), ``threshold``, and the counts ``count``, ``positives``, ``negatives``, ``predicted_positives``,
    ``true_positives``, ``false_positives``, ``true_negatives``, ``false_negatives`` (ints). See the module
    docstring for the definitions and the edge cases.
    """
    threshold = check_decision_threshold(threshold)
    positives, negatives = _check_inputs(labels, scores)
    counts = confusion_counts(labels, scores, threshold)
    tp, fp = counts["true_positives"], counts["false_positives"]
    tn = counts["true_negatives"]
    precision = _ratio(tp, tp + fp)  # 0.0 when nothing is predicted positive
    recall = tp / positives
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "auc": _auc(labels, scores, positives, negatives),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "specificity": tn / negatives,
        "accuracy": (tp + tn) / len(labels),
        "threshold": threshold,
        "count": len(labels),
        "positives": positives,
        "negatives": negatives,
        "predicted_positives": tp + fp,
        **counts,
    }


# --- The gate ----------------------------------------------------------------------------------------------


def _unit_number(value: object) -> float | None:
    """``value`` as a float if it is a real number in [0, 1] (not a bool, not NaN), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if 0.0 <= number <= 1.0 else None


def check_decision_threshold(threshold: object) -> float:
    """The decision threshold as a float; ``InvalidGateError`` unless it is a number in [0, 1]."""
    number = _unit_number(threshold)
    if number is None:
        raise InvalidGateError(f"threshold={threshold!r} is not allowed: a number from 0 to 1 (a probability)")
    return number


def check_thresholds(thresholds: object) -> dict[str, float]:
    """Gate minimums as ``{metric: float}``; ``InvalidGateError`` for anything a typo could cause.

    At least one metric; names from ``GATED_METRICS`` (an unknown name would otherwise never be checked and
    the gate would pass silently); values numbers in [0, 1].
    """
    if not isinstance(thresholds, Mapping) or not thresholds:
        raise InvalidGateError(
            f"thresholds={thresholds!r} is not allowed: a non-empty mapping of metric name to minimum, "
            f"metrics from {list(GATED_METRICS)}"
        )
    out: dict[str, float] = {}
    for name, value in thresholds.items():
        if name not in GATED_METRICS:
            raise InvalidGateError(f"thresholds.{name} is not a gated metric; allowed: {list(GATED_METRICS)}")
        number = _unit_number(value)
        if number is None:
            raise InvalidGateError(f"thresholds.{name}={value!r} is not allowed: a number from 0 to 1")
        out[name] = number
    return out


def gate(metrics: Mapping[str, Any], thresholds: Mapping[str, float]) -> tuple[bool, list[str]]:
    """Compare ``metrics`` with minimums: ``(passed, failures)``; a metric passes when ``value >= minimum``.

    ``failures`` has one readable line per metric below its minimum, in the order of ``thresholds``;
    ``passed`` is ``not failures``.
    """
    failures: list[str] = []
    for name, minimum in check_thresholds(thresholds).items():
        value = metrics[name]
        if not value >= minimum:
            failures.append(f"{name} {value:.6g} is below the minimum {minimum:g}")
    return not failures, failures


# --- Parsing the joined batch-transform output -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """One line that is not ``<label>,<probability>``: where it is, an excerpt, and why."""

    source: str
    line_number: int  # 1-based within its source
    excerpt: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line_number} {self.excerpt!r} ({self.reason})"


#: Where batch transform puts the model's answer in a joined JSON record.
OUTPUT_KEY = "SageMakerOutput"


def _score_of(answer: object) -> object:
    """The probability in the pipeline's answer for one record: a number, a one-line CSV answer (``"0.12\n"``),
    ``{"score": p}``, ``{"predictions": [{"score": p}]}`` or ``[p]``; anything else is returned as is (and
    refused by the caller)."""
    if isinstance(answer, str):
        text = answer.strip()
        return text if "\n" in text or "," in text else _number(text)
    if isinstance(answer, dict):
        if "score" in answer:
            return answer["score"]
        predictions = answer.get("predictions")
        if isinstance(predictions, list) and len(predictions) == 1:
            return _score_of(predictions[0])
    if isinstance(answer, list) and len(answer) == 1:
        return _score_of(answer[0])
    return answer


def _number(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def _json_record(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(record, dict) or OUTPUT_KEY not in record:
        raise ValueError(f"a JSON object without {OUTPUT_KEY}")
    return record


def parse_json_line(line: str) -> tuple[int, float]:
    """``{"<label>": 0|1, "SageMakerOutput": <answer>}`` -> ``(label, probability)``; ``ValueError`` otherwise.
    The label is the record's one other field (the transform's OutputFilter keeps exactly the two)."""
    return _label_and_score(_json_record(line))


def parse_faceted_line(line: str, facets: Sequence[str]) -> tuple[int, float, tuple[str, ...]]:
    """``{"<label>": 0|1, "<facet>": <value>, ..., "SageMakerOutput": <answer>}`` -> ``(label, probability, facet
    values)``, the values keyed as ``bias.facet_value`` spells them; ``ValueError`` otherwise (the transform's
    OutputFilter keeps the label, the facets and the answer)."""
    record = _json_record(line) if line.lstrip().startswith("{") else None
    if record is None:
        raise ValueError("not a JSON object: facet values need the joined raw event")
    missing = [f for f in facets if f not in record]
    if missing:
        raise ValueError(f"no facet field {missing} (the transform's OutputFilter must keep the facets)")
    values = tuple(bias.facet_value(record.pop(f)) for f in facets)
    return (*_label_and_score(record), values)


def _label_and_score(record: dict[str, Any]) -> tuple[int, float]:
    others = [k for k in record if k != OUTPUT_KEY]
    if len(others) != 1:
        raise ValueError(f"expected the label and {OUTPUT_KEY}, got fields {sorted(record)}")
    label, score = record[others[0]], _score_of(record[OUTPUT_KEY])
    if isinstance(label, bool) or label not in (0, 1):
        raise ValueError(f"label {label!r} is not 0 or 1")
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise ValueError(f"{OUTPUT_KEY} {record[OUTPUT_KEY]!r} holds no single probability")
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise ValueError(f"probability {score!r} is not in [0, 1]")
    return int(label), float(score)


def parse_joined_line(line: str) -> tuple[int, float]:
    """One joined output line -> ``(label, probability)``: a JSON object (``parse_json_line``) or
    ``"<label>,<probability>"``; ``ValueError`` with the reason otherwise.

    The label is the validation CSV's first column as written by the ETL (``0``/``1``; ``0.0``/``1.0`` are
    accepted too); the probability is the model's output for ``binary:logistic`` and must be in [0, 1].
    """
    if not line.strip():
        raise ValueError("empty line")
    if line.lstrip().startswith("{"):
        return parse_json_line(line)
    fields = line.split(",")
    if len(fields) != 2:
        raise ValueError(f"expected 2 comma-separated fields (label,probability), got {len(fields)}")
    label_text, score_text = fields
    try:
        label_value = float(label_text)
    except ValueError:
        raise ValueError(f"label {label_text.strip()!r} is not a number") from None
    if label_value not in (0.0, 1.0):
        raise ValueError(f"label {label_text.strip()!r} is not 0 or 1")
    try:
        score = float(score_text)
    except ValueError:
        raise ValueError(f"probability {score_text.strip()!r} is not a number") from None
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise ValueError(f"probability {score_text.strip()!r} is not in [0, 1]")
    return int(label_value), score


@dataclass
class Predictions:
    """Labels and probabilities collected from one or more output files, and every malformed line."""

    labels: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    malformed: list[MalformedLine] = field(default_factory=list)
    sources: int = 0  # files (objects) read
    lines: int = 0  # non-blank lines read, well-formed or not
    blank_lines: int = 0  # empty or whitespace-only lines (skipped: they cannot be records)
    facets: tuple[str, ...] = ()  # bias facets each JSON line carries (the raw event's fields)
    facet_values: list[tuple[str, ...]] = field(default_factory=list)  # per record, in the order of ``facets``

    @property
    def records(self) -> int:
        """Well-formed records."""
        return len(self.labels)

    def add_text(self, text: str, source: str) -> Predictions:
        """Parse one output file's text (``source`` names it in messages); returns ``self`` for chaining.

        Lines end with ``\\n`` (a ``\\r`` before it is dropped); the final line ending is not a blank line, so
        ``"0,0.1\\n"`` is one line, ``""`` is none, and ``"0,0.1\\n\\n"`` is one line and one blank line.
        """
        self.sources += 1
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final line ending (also makes an empty file zero lines)
        for number, raw in enumerate(lines, start=1):
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line.strip():
                self.blank_lines += 1
                continue
            self.lines += 1
            try:
                if self.facets:
                    label, score, values = parse_faceted_line(line, self.facets)
                    self.facet_values.append(values)
                else:
                    label, score = parse_joined_line(line)
            except ValueError as exc:
                excerpt = line if len(line) <= MAX_EXCERPT else line[:MAX_EXCERPT] + "..."
                self.malformed.append(MalformedLine(source, number, excerpt, str(exc)))
                continue
            self.labels.append(label)
            self.scores.append(score)
        return self

    def require_well_formed(self) -> None:
        """Raise ``MalformedOutputError`` (one line: count, share, the first few) if any line is malformed."""
        if not self.malformed:
            return
        quoted = "; ".join(str(m) for m in self.malformed[:MAX_QUOTED])
        more = f"; and {len(self.malformed) - MAX_QUOTED} more" if len(self.malformed) > MAX_QUOTED else ""
        raise MalformedOutputError(
            f"{len(self.malformed)} of {self.lines} lines in {self.sources} batch-transform output file(s) are "
            f'malformed (expected {{"<label>": 0|1, "{OUTPUT_KEY}": <probability 0..1>}} or '
            f"'<label 0|1>,<probability 0..1>'; check the transform's DataProcessing "
            f"filters and that the model's objective is binary:logistic): {quoted}{more}"
        )


def evaluate(predictions: Predictions, threshold: float, thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Metrics and gate verdict for parsed predictions: the evaluation Lambda's result.

    Returns ``{"metrics": binary_metrics(...), "passed": bool, "failures": [str, ...], "records": int,
    "blank_lines": int}``.
    Raises ``InvalidGateError`` (bad threshold or minimums, checked first so that a configuration error
    is reported as such), ``MalformedOutputError``, ``NoRecordsError`` or ``SingleClassError``.
    """
    threshold = check_decision_threshold(threshold)
    minimums = check_thresholds(thresholds)
    predictions.require_well_formed()
    if predictions.records == 0:
        raise NoRecordsError(
            f"the batch-transform output has no records ({predictions.sources} file(s), "
            f"{predictions.blank_lines} blank line(s))"
            if predictions.sources
            else "the batch-transform output has no files"
        )
    metrics = binary_metrics(predictions.labels, predictions.scores, threshold)
    passed, failures = gate(metrics, minimums)
    return {
        "metrics": metrics,
        "passed": passed,
        "failures": failures,
        "records": predictions.records,
        "blank_lines": predictions.blank_lines,
    }


# --- Champion and challenger -------------------------------------------------------------------------------


def compare(champion: Mapping[str, Any], challenger: object) -> dict[str, Any]:
    """Whether the challenger (``{"auc": a, "margin": m}``) is not worse than the champion's metrics:
    ``a >= champion auc - m``. Returns ``{"auc", "margin", "champion_auc", "not_worse"}``; ``InvalidGateError``
    when the challenger is not two numbers (auc in [0, 1], margin in [0, 1])."""
    if not isinstance(challenger, Mapping) or set(challenger) != {"auc", "margin"}:
        raise InvalidGateError(f"challenger={challenger!r}: an object with exactly the keys auc and margin")
    auc, margin = _unit_number(challenger["auc"]), _unit_number(challenger["margin"])
    if auc is None or margin is None:
        raise InvalidGateError(f"challenger={dict(challenger)!r}: auc and margin must be numbers in [0, 1]")
    champion_auc = float(champion["auc"])
    return {"auc": auc, "margin": margin, "champion_auc": champion_auc, "not_worse": auc >= champion_auc - margin}


# --- Post-training bias (docs/bias-and-explainability.md) ------------------------------------------------------------

#: Bounds the bias gate takes: name -> (Clarify metric, how the bound applies).
BIAS_BOUNDS: Mapping[str, tuple[str, str]] = {
    "max_abs_dppl": ("DPPL", "max_abs"),
    "min_di": ("DI", "min"),
    "max_di": ("DI", "max"),
    "max_abs_recall_difference": ("RD", "max_abs"),
    "max_abs_accuracy_difference": ("AD", "max_abs"),
}


def check_bias_bounds(bounds: object) -> dict[str, float]:
    """Bias-gate bounds as ``{name: float}`` (may be empty: no bias gate); ``InvalidGateError`` for an unknown name
    or a value that is not a finite number >= 0."""
    if not isinstance(bounds, Mapping):
        raise InvalidGateError(f"bias_bounds={bounds!r} is not allowed: a mapping of bound name to number")
    out: dict[str, float] = {}
    for name, value in bounds.items():
        if name not in BIAS_BOUNDS:
            raise InvalidGateError(f"bias_bounds.{name} is not a bias bound; allowed: {list(BIAS_BOUNDS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value >= 0):
            raise InvalidGateError(f"bias_bounds.{name}={value!r} is not allowed: a finite number >= 0")
        out[name] = float(value)
    return out


def bias_counts(predictions: Predictions, threshold: float) -> dict[str, dict[str, bias.Counts]]:
    """Facet -> facet value -> counts of the records (label, prediction at ``threshold``)."""
    counts: dict[str, dict[str, bias.Counts]] = {f: {} for f in predictions.facets}
    for label, score, values in zip(predictions.labels, predictions.scores, predictions.facet_values, strict=True):
        for facet, value in zip(predictions.facets, values, strict=True):
            counts[facet].setdefault(value, bias.Counts()).add(label, score >= threshold)
    return counts


def bias_gate(post: Mapping[str, Mapping[str, bias.Metrics]], bounds: Mapping[str, float]) -> list[str]:
    """One line per facet value and bound it breaks (facet, value, metric, bound); an undefined (null) metric
    breaks none (docs/bias-and-explainability.md, edge cases)."""
    failures: list[str] = []
    for facet, by_value in post.items():
        for value, metrics in by_value.items():
            for name, limit in bounds.items():
                metric, kind = BIAS_BOUNDS[name]
                found = metrics[metric]
                if found is None:
                    continue
                measured = abs(found) if kind == "max_abs" else found
                broken = measured < limit if kind == "min" else measured > limit
                if broken:
                    shown = f"|{metric}|" if kind == "max_abs" else metric
                    side = "below" if kind == "min" else "above"
                    failures.append(f"{facet}={value}: {shown} {measured:.4g} is {side} the bound {name}={limit:g}")
    return failures


def evaluate_bias(
    predictions: Predictions, threshold: float, bounds: Mapping[str, float], label: str = "label"
) -> dict[str, Any]:
    """Post-training bias (DPPL, DI, RD, AD) of each facet value against the rest of its facet at the decision
    threshold, and the bias gate: ``{"facets", "bounds", "passed", "failures", "post_training": {facet: {value:
    {"rows", "positives", "predicted_positives", <metric>: value}}}, "clarify": <analysis.json section>}``."""
    counts = bias_counts(predictions, check_decision_threshold(threshold))
    post = {facet: bias.post_training(by_value) for facet, by_value in counts.items()}
    failures = bias_gate(post, check_bias_bounds(bounds))
    return {
        "facets": list(predictions.facets),
        "bounds": dict(bounds),
        "passed": not failures,
        "failures": failures,
        "post_training": {
            facet: {
                value: {
                    "rows": counts[facet][value].n,
                    "positives": counts[facet][value].labels,
                    "predicted_positives": counts[facet][value].predicted,
                    **metrics,
                }
                for value, metrics in by_value.items()
            }
            for facet, by_value in post.items()
        },
        "clarify": bias.analysis_section(label, post),
    }
