"""What the ETL writes for serving raw events, besides the preprocessing archive (tests/glue/test_inference.py):
the raw validation and test events as JSON Lines, and the raw-field baseline.

Expected values come from the generator's events and the pure-Python twin of the split hash; the Spark baseline
is compared with ``raw_baseline.from_events`` on the same train events (the in-memory builder).
"""

from __future__ import annotations

import json
import math

from ml_constructs.glue_etl.runtime import contract as c
from ml_constructs.glue_etl.runtime import raw_baseline
from ml_constructs.glue_etl.runtime.contract import EtlParams
from tests.glue.conftest import TEST_PARAMS, RawData, Run
from worked_example.schema import feature_fields

PARAMS = EtlParams(raw_format="json", **TEST_PARAMS)


def split_of(event_id: str) -> str:
    u = c.split_unit_interval(event_id, PARAMS.split_seed)
    train, validation, _ = PARAMS.split_fractions
    return "train" if u < train else "validation" if u < train + validation else "test"


def test_raw_splits_are_the_producer_events_of_validation_and_test(json_run: Run, raw_data: RawData) -> None:
    by_id = {e["event_id"]: e for e in raw_data.events}
    for split, prefix in c.RAW_SPLIT_PREFIXES.items():
        lines = [
            line
            for path in sorted((json_run.curated / prefix).glob("part-*"))
            for line in path.read_text().splitlines()
        ]
        events = [json.loads(line) for line in lines]
        assert [list(e) for e in events[:1]] == [list(raw_data.events[0])]  # schema order, label included
        assert all(e == by_id[e["event_id"]] for e in events)  # exactly the producer's event
        expected = sorted(i for i in by_id if split_of(i) == split)
        assert sorted(e["event_id"] for e in events) == expected
        assert len(events) == json_run.report["split"]["rows"][split]


def test_spark_baseline_equals_the_in_memory_builder(json_run: Run, raw_data: RawData) -> None:
    written = {
        name: json.loads((json_run.curated / f"{c.RAW_BASELINE_PREFIX}{name}.json").read_text())
        for name in ("statistics", "constraints")
    }
    document = json.loads((json_run.curated / c.FITTED_KEY).read_text())
    train = [e for e in raw_data.events if split_of(e["event_id"]) == "train"]
    statistics, constraints = raw_baseline.from_events(train, document["fields"])
    assert written["constraints"] == constraints
    assert written["statistics"]["dataset"] == statistics["dataset"] == {"item_count": len(train)}
    for got, want in zip(written["statistics"]["features"], statistics["features"], strict=True):
        assert close(got, want), got["name"]
    # the event's feature fields in wire order (schema.FIELDS without the id, the timestamp and the label)
    assert [f["name"] for f in statistics["features"]] == [f.name for f in feature_fields()]


def close(a, b) -> bool:
    """Equal, floats to 1e-12 relative (Spark adds in partition order, the builder in ascending order)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return a == b
