"""Live bias of the endpoint's traffic: DPPL (difference in positive proportions in predicted labels) of each facet
value against the rest of its facet, from the captured requests (raw JSON events carry the facet fields) and the
captured responses (one score per event; predicted positive iff score >= the decision threshold). No label needed.

``LiveBias.observe`` passes capture lines through unchanged while it counts, so the drift analysis and this read the
window's objects once. The metric formula is the shared one (``ml_constructs.shared_runtime.bias``, staged into the
asset). Requests that are CSV rows (no field names), responses that do not hold one score per event, and lines the
analyzer calls malformed are skipped here and counted in ``skipped``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ml_constructs.shared_runtime import bias

from . import analyzer

#: CloudWatch metric of the live DPPL; dimensions Endpoint, Facet, Value; unit None; in [-1, 1].
METRIC_DPPL = "BiasDPPL"


class LiveBias:
    """Counts of captured events and positive predictions per facet value (``observe``), and their DPPL."""

    def __init__(self, facets: Sequence[str], threshold: float) -> None:
        self.facets = tuple(facets)
        self.threshold = threshold
        self.counts: dict[str, dict[str, bias.Counts]] = {f: {} for f in self.facets}
        self.events = 0
        self.skipped = 0  # capture lines (or events) that could not be paired with a score

    def observe(self, lines: Iterable[Any]) -> Iterator[Any]:
        """Yield every item of ``lines`` unchanged (text, bytes or ``analyzer.CaptureLine``), counting as it goes."""
        for item in lines:
            text = item.text if isinstance(item, analyzer.CaptureLine) else item
            if self.facets:
                self._add_line(text)
            yield item

    def _add_line(self, text: str | bytes) -> None:
        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            if not text.strip():
                return
            events = analyzer.parse_capture_line(text)
            scores = response_scores(json.loads(text)["captureData"].get("endpointOutput"))
        except (analyzer.CaptureError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            self.skipped += 1
            return
        raw = [e for e in events if isinstance(e, dict)]
        if len(scores) != len(events) or len(raw) != len(events):
            self.skipped += 1  # CSV requests carry no field names; a response must hold one score per event
            return
        for event, score in zip(raw, scores, strict=True):
            self.events += 1
            for facet in self.facets:
                value = bias.facet_value(event.get(facet))
                self.counts[facet].setdefault(value, bias.Counts()).add(predicted=score >= self.threshold)

    def dppl(self) -> dict[str, dict[str, float | None]]:
        """Facet -> value -> DPPL against the rest (None when undefined: the value or the rest saw no traffic)."""
        return {
            facet: {value: bias.dppl_of(d, a) for value, (d, a) in bias.per_value(by_value).items()}
            for facet, by_value in self.counts.items()
        }

    def summary(self) -> dict[str, Any]:
        """The response's ``bias``: per facet and value the events, the positive predictions and the DPPL."""
        dppl = self.dppl()
        return {
            "threshold": self.threshold,
            "events": self.events,
            "skipped": self.skipped,
            "facets": {
                facet: {
                    value: {"events": c.n, "predicted_positives": c.predicted, "DPPL": dppl[facet][value]}
                    for value, c in sorted(by_value.items())
                }
                for facet, by_value in self.counts.items()
            },
        }

    def metric_data(self, endpoint_name: str, timestamp: datetime) -> list[dict[str, Any]]:
        """One ``BiasDPPL`` datum per facet value with a defined DPPL (dimensions Endpoint, Facet, Value)."""
        return [
            {
                "MetricName": METRIC_DPPL,
                "Dimensions": [
                    {"Name": "Endpoint", "Value": endpoint_name},
                    {"Name": "Facet", "Value": facet},
                    {"Name": "Value", "Value": value},
                ],
                "Timestamp": timestamp,
                "Value": float(dppl),
                "Unit": "None",
            }
            for facet, by_value in self.dppl().items()
            for value, dppl in by_value.items()
            if dppl is not None
        ]


def response_scores(endpoint_output: Mapping[str, Any] | None) -> list[float]:
    """The scores of a captured response: CSV (one number per line, or one line of comma-separated numbers) or JSON
    (a number, a list of numbers, or ``{"predictions": [{"score": p}, ...]}``); ``ValueError`` otherwise."""
    if not isinstance(endpoint_output, Mapping):
        raise ValueError("no captureData.endpointOutput (is the capture mode Input only?)")
    data, encoding = endpoint_output.get("data"), endpoint_output.get("encoding")
    content_type = endpoint_output.get("observedContentType", "text/csv")
    if not isinstance(data, str) or not isinstance(encoding, str) or not isinstance(content_type, str):
        raise ValueError("endpointOutput needs string fields data, encoding and observedContentType")
    text = analyzer.decode_payload(data, encoding, content_type).strip()
    if text.startswith(("[", "{")) or encoding.upper() == "JSON":
        value = json.loads(text)
        if isinstance(value, dict):
            value = value.get("predictions", [])
        items = value if isinstance(value, list) else [value]
        return [float(i["score"] if isinstance(i, dict) else i) for i in items]
    return [float(part) for line in text.splitlines() for part in line.split(",") if part.strip()]
