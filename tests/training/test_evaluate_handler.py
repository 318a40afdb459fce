"""The evaluation Lambda handler against moto's S3: the event contract, reading a prefix, the errors.

The batch transform's output is written as SageMaker writes it: one ``<input file name>.out`` object per
input file under the job's S3OutputPath, each line ``<label>,<probability>``. Expected metrics come from
``binary_metrics`` on the same labels and scores (metrics.py has its own tests); here the point is that the
handler reads exactly the right objects and returns the contract's shape. The last tests check the code asset
as Lambda sees it: the ``runtime/`` folder alone, standard library and boto3 only.
"""

from __future__ import annotations

import ast
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ml_constructs.training.runtime import handler as evaluate_handler
from ml_constructs.training.runtime import metrics
from ml_constructs.training.runtime.handler import InvalidEventError, handler
from ml_constructs.training.runtime.metrics import (
    InvalidGateError,
    MalformedOutputError,
    NoRecordsError,
    SingleClassError,
    binary_metrics,
)
from tests.training.conftest import BUCKET

PREFIX = "evaluation/run-1/"
GATE = {"auc": 0.8, "precision": 0.3, "recall": 0.5, "f1": 0.35}
ASSET = Path(evaluate_handler.__file__).resolve().parent


pytestmark = pytest.mark.usefixtures("offline_aws")


def put(s3, key: str, body: str | bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)


def event(prefix: object = f"s3://{BUCKET}/{PREFIX}", **overrides: object) -> dict:
    return {"output_prefix": prefix, "threshold": 0.5, "thresholds": GATE, **overrides}


def sample(seed: int, n: int) -> tuple[list[int], list[float]]:
    """A decent model's output: fraud scores higher on average, ~10 % positives, both classes present."""
    rng = random.Random(seed)
    labels = [1 if i % 10 == 0 else 0 for i in range(n)]
    scores = [round(min(1.0, max(0.0, rng.gauss(0.7 if y else 0.2, 0.15))), 6) for y in labels]
    return labels, scores


def lines(labels: list[int], scores: list[float]) -> str:
    # As the transform writes them: the label text of the input CSV, the prediction as str(float).
    return "".join(f"{y},{float(s)}\n" for y, s in zip(labels, scores, strict=True))


# --- The contract ------------------------------------------------------------------------------------------------


def test_reads_every_object_under_the_prefix(s3):
    labels, scores = sample(1, 600)
    put(s3, PREFIX + "part-00000-abc-c000.csv.out", lines(labels[:350], scores[:350]))
    put(s3, PREFIX + "part-00001-abc-c000.csv.out", lines(labels[350:], scores[350:]))
    put(s3, "evaluation/run-10/part-00000-xyz-c000.csv.out", "garbage\n")  # a sibling run: never read
    put(s3, "evaluation/other.out", "garbage\n")

    result = handler(event(f"s3://{BUCKET}/evaluation/run-1"), None, s3=s3)  # no trailing slash: added

    assert result == {
        "metrics": binary_metrics(labels, scores, 0.5),
        "passed": True,
        "failures": [],
        "records": 600,
        "blank_lines": 0,
        "objects": 2,
        "thresholds": GATE,
        "bias": {"facets": [], "passed": True, "failures": []},  # no bias object in the event
    }
    assert json.loads(json.dumps(result)) == result


def test_creates_its_own_client_as_in_lambda(s3):
    labels, scores = sample(2, 100)
    put(s3, PREFIX + "validation.csv.out", lines(labels, scores))
    result = handler(event(), None)
    assert result["records"] == 100
    assert result["metrics"] == binary_metrics(labels, scores, 0.5)


def test_a_failing_model_returns_passed_false(s3):
    labels, scores = sample(3, 200)
    put(s3, PREFIX + "a.out", lines(labels, [1.0 - s for s in scores]))  # ranks fraud lowest
    result = handler(event(), None, s3=s3)
    assert result["passed"] is False
    assert [f.split()[0] for f in result["failures"]] == ["auc", "precision", "recall", "f1"]
    assert result["metrics"]["auc"] < 0.1


def test_threshold_and_thresholds_come_from_the_event(s3):
    labels, scores = sample(4, 300)
    put(s3, PREFIX + "a.out", lines(labels, scores))
    result = handler(event(threshold=0.9, thresholds={"recall": 0.99}), None, s3=s3)
    assert result["metrics"] == binary_metrics(labels, scores, 0.9)
    assert result["thresholds"] == {"recall": 0.99}
    assert result["passed"] is (result["metrics"]["recall"] >= 0.99)


def test_folder_markers_and_blank_lines(s3):
    labels, scores = sample(5, 50)
    put(s3, PREFIX, b"")  # a "folder" created in the console
    put(s3, PREFIX + "a.out", lines(labels[:20], scores[:20]) + "\n")
    put(s3, PREFIX + "b.out", lines(labels[20:], scores[20:]).replace("\n", "\r\n"))
    result = handler(event(), None, s3=s3)
    assert (result["objects"], result["records"], result["blank_lines"]) == (2, 50, 1)


# --- Errors --------------------------------------------------------------------------------------------------------


def test_malformed_lines_fail_with_their_location(s3):
    labels, scores = sample(6, 100)
    body = lines(labels, scores).splitlines(keepends=True)
    body[41] = "0,0.5,0.7\n"  # three fields: e.g. an OutputFilter that kept a feature
    body[77] = "1,\n"  # no prediction
    put(s3, PREFIX + "a.out", "".join(body))
    with pytest.raises(MalformedOutputError) as exc:
        handler(event(), None, s3=s3)
    message = str(exc.value)
    assert message.startswith("2 of 100 lines in 1 batch-transform output file(s) are malformed")
    assert f"s3://{BUCKET}/{PREFIX}a.out:42 '0,0.5,0.7'" in message
    assert f"s3://{BUCKET}/{PREFIX}a.out:78 '1,' (probability '' is not a number)" in message


def test_binary_garbage_is_malformed(s3):
    put(s3, PREFIX + "a.out", b"\xff\xfe\x00garbage")
    with pytest.raises(MalformedOutputError, match=f"s3://{BUCKET}/{PREFIX}a.out is not UTF-8 text"):
        handler(event(), None, s3=s3)


def test_empty_prefix_is_a_clear_error(s3):
    put(s3, "evaluation/run-10/a.out", "1,0.9\n0,0.1\n")  # near miss: another run's prefix
    with pytest.raises(NoRecordsError, match=f"no batch-transform output under s3://{BUCKET}/{PREFIX}: no objects"):
        handler(event(), None, s3=s3)


def test_only_empty_objects_is_a_clear_error(s3):
    put(s3, PREFIX + "a.out", b"")
    with pytest.raises(NoRecordsError, match=r"no records \(1 file\(s\), 0 blank line\(s\)\)"):
        handler(event(), None, s3=s3)


def test_single_class_validation_labels(s3):
    put(s3, PREFIX + "a.out", "0,0.1\n0,0.7\n")
    with pytest.raises(SingleClassError, match="all 2 labels are negative"):
        handler(event(), None, s3=s3)


@pytest.mark.parametrize(
    ("bad_event", "error", "match"),
    [
        ([], InvalidEventError, "must be a JSON object"),
        ({"output_prefix": f"s3://{BUCKET}/{PREFIX}"}, InvalidEventError, r"missing \['threshold', 'thresholds'\]"),
        (event("https://bucket/prefix/"), InvalidEventError, "output_prefix='https://bucket/prefix/' is not allowed"),
        (event(f"s3://{BUCKET}/"), InvalidEventError, "not the whole bucket"),
        (event(f"s3://{BUCKET}"), InvalidEventError, "not the whole bucket"),
        (event(None), InvalidEventError, "output_prefix=None"),
        (event(threshold="0.5"), InvalidGateError, "threshold='0.5' is not allowed"),
        (event(thresholds={"auc": 0.8, "rocauc": 0.9}), InvalidGateError, "thresholds.rocauc is not a gated metric"),
        (event(thresholds={}), InvalidGateError, "non-empty mapping"),
    ],
)
def test_invalid_events(s3, bad_event, error, match):
    put(s3, PREFIX + "a.out", "1,0.9\n0,0.1\n")
    with pytest.raises(error, match=match):
        handler(bad_event, None, s3=s3)


def test_errors_are_evaluation_errors_with_their_own_names():
    # Lambda reports the class name as errorType; a Step Functions Catch can tell them apart.
    for cls in (InvalidEventError, InvalidGateError, MalformedOutputError, NoRecordsError, SingleClassError):
        assert issubclass(cls, metrics.EvaluationError)
    assert len({InvalidEventError.__name__, InvalidGateError.__name__, NoRecordsError.__name__}) == 3


# --- The code asset, as Lambda sees it -------------------------------------------------------------------------------


def test_the_asset_directory_alone_imports_and_runs(tmp_path: Path):
    """Stage the asset as the construct does (runtime/ and the shared bias metrics) somewhere else and import
    ``handler`` with only that directory on the path (``python -I``)."""
    from ml_constructs.assets import lambda_code_dir

    asset = lambda_code_dir(ASSET, tmp_path)
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import handler; m = handler.metrics; "
        "p = m.Predictions().add_text('1,0.9\\n0,0.2\\n1,0.4\\n0,0.6\\n', 'x.out'); "
        "assert m.bias.__file__.startswith(sys.argv[1]), m.bias.__file__; "
        "print(json.dumps([m.__file__, m.evaluate(p, 0.5, {'auc': 0.5})['metrics']['auc']]))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(asset)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    metrics_file, auc = json.loads(done.stdout)
    assert Path(metrics_file) == asset / "metrics.py"  # the sibling, not the repository's package
    assert auc == 0.75


def test_the_asset_imports_only_the_standard_library_and_boto3():
    from ml_constructs.assets import SHARED_DIR

    allowed = set(sys.stdlib_module_names) | {"boto3", "metrics", "__future__", "ml_constructs"}
    for path in sorted([*ASSET.glob("*.py"), *SHARED_DIR.glob("*.py")]):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {
            node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        assert imported <= allowed, (path.name, imported - allowed)
    assert "boto3" not in (ASSET / "metrics.py").read_text()  # the pure logic needs no AWS SDK


def test_the_handler_and_its_callers_share_one_metrics_module():
    """In the repository the package registers its ``metrics`` as the top-level module the handler imports."""
    assert evaluate_handler.metrics is metrics
    assert sys.modules["metrics"] is metrics


# --- The inference pipeline's joined JSON Lines, and champion / challenger ------------------------------------------


def json_lines(labels: list[int], scores: list[float], answer=lambda s: s) -> str:
    """As the transform writes raw JSON Lines joined with the answer: OutputFilter keeps the label and
    SageMakerOutput (``answer`` shapes the pipeline's answer for one record)."""
    return "".join(
        json.dumps({"is_fraud": y, "SageMakerOutput": answer(float(s))}) + "\n"
        for y, s in zip(labels, scores, strict=True)
    )


@pytest.mark.parametrize(
    "answer",
    [
        lambda s: s,  # a number
        lambda s: f"{s}\n",  # the XGBoost container's one-line CSV answer
        lambda s: {"score": s},  # its JSON Lines answer
        lambda s: {"predictions": [{"score": s}]},  # its JSON answer
    ],
    ids=["number", "csv-text", "score", "predictions"],
)
def test_joined_json_lines_give_the_same_metrics_as_the_scores(s3, answer):
    labels, scores = sample(11, 400)
    put(s3, PREFIX + "validation.jsonl.out", json_lines(labels, scores, answer))
    result = handler(event(), None, s3=s3)
    assert result["records"] == 400
    assert result["metrics"] == binary_metrics(labels, scores, 0.5)  # derived from the same labels and scores


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"is_fraud": 0}', "without SageMakerOutput"),
        ('{"is_fraud": 2, "SageMakerOutput": 0.1}', "label 2 is not 0 or 1"),
        ('{"is_fraud": 0, "SageMakerOutput": [0.1, 0.2]}', "holds no single probability"),
        ('{"is_fraud": 0, "SageMakerOutput": 1.5}', "not in [0, 1]"),
        ('{"is_fraud": 0, "id": "x", "SageMakerOutput": 0.1}', "expected the label and SageMakerOutput"),
        ('{"is_fraud": 0, "SageMakerOutput": 0.1', "not JSON"),
    ],
)
def test_malformed_joined_json_lines_are_refused_with_the_reason(s3, line, reason):
    labels, scores = sample(12, 50)
    put(s3, PREFIX + "a.out", json_lines(labels, scores) + line + "\n")
    with pytest.raises(MalformedOutputError, match=re.escape(reason)):
        handler(event(), None, s3=s3)


@pytest.mark.parametrize(
    ("delta", "not_worse"),
    [(+0.05, True), (0.0, True), (-0.009, True), (-0.02, False)],  # margin 0.01: worse by more than it loses
)
def test_scoring_the_serving_model_says_whether_the_challenger_is_not_worse(s3, delta, not_worse):
    labels, scores = sample(13, 300)
    scores = [1.0 - v if i % 4 == 0 else v for i, v in enumerate(scores)]  # a weaker champion: AUC well below 1
    put(s3, PREFIX + "a.out", json_lines(labels, scores))
    champion_auc = binary_metrics(labels, scores, 0.5)["auc"]
    result = handler(event(challenger={"auc": champion_auc + delta, "margin": 0.01}), None, s3=s3)
    assert result["challenger"]["champion_auc"] == champion_auc
    assert result["challenger"]["not_worse"] is not_worse


@pytest.mark.parametrize("challenger", [{"auc": 0.9}, {"auc": "0.9", "margin": 0.01}, {"auc": 0.9, "margin": 2}])
def test_a_bad_challenger_is_an_invalid_gate(s3, challenger):
    labels, scores = sample(14, 100)
    put(s3, PREFIX + "a.out", json_lines(labels, scores))
    with pytest.raises(InvalidGateError, match="challenger="):
        handler(event(challenger=challenger), None, s3=s3)
