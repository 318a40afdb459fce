"""One snapshot per stack. Asset hashes are normalised (they change with every CDK release's bundled
handlers, not with our intent). Update with `pytest --snapshot-update` only after reading the diff."""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalise(template: dict) -> dict:
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template)))


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack", ["data_lake", "network", "alerts", "streaming", "glue_etl", "training", "serving"])
def test_stack_snapshot(sandbox, snapshot_json, stack):
    template = sandbox.template(getattr(sandbox.stacks, stack))
    assert normalise(template) == snapshot_json


def test_normalise_replaces_asset_hashes_only():
    digest = "a" * 64
    assert normalise({"S3Key": f"{digest}.zip", "Other": "abc"}) == {"S3Key": "<asset-hash>.zip", "Other": "abc"}
