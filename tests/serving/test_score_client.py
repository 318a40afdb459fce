"""The endpoint client (``python -m worked_example.score``) against the emulated inference pipeline with the
shipped default artifacts: what it sends, how it counts answers and errors, and its summary."""

from __future__ import annotations

import json

import pytest

from local_sandbox.endpoint import invoke_pipeline
from tests.serving.test_endpoint_contract import pipeline  # noqa: F401 - the module-scoped fixture
from worked_example import score


class StatusError(Exception):
    """As botocore's ModelError carries the container's answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = {"OriginalStatusCode": status, "Error": {"Message": message}}


@pytest.fixture
def invoke(pipeline):  # noqa: F811 - the fixture imported above
    sent: list[tuple[str, str]] = []

    def call(body: str, content_type: str) -> str:
        sent.append((body, content_type))
        answer = invoke_pipeline(pipeline, body, content_type, "text/csv")
        if answer.status != 200:
            raise StatusError(answer.status, answer.body)
        return answer.body

    call.sent = sent  # type: ignore[attr-defined]
    return call


def test_batches_are_json_lines_without_the_label_and_every_event_is_scored(invoke, capsys):
    assert score.main(["--endpoint", "e", "--events", "23", "--batch", "5", "--seed", "3"], invoke=invoke) == 0
    sizes = [body.count("\n") for body, _ in invoke.sent]
    assert sizes == [5, 5, 5, 5, 3]  # 23 events in requests of 5
    assert {content_type for _, content_type in invoke.sent} == {"application/jsonlines"}
    events = [json.loads(line) for body, _ in invoke.sent for line in body.splitlines()]
    assert all("is_fraud" not in event for event in events)
    out = capsys.readouterr().out
    assert "requests: 5 (23 events), scored: 23" in out
    assert "errors: none" in out
    assert "latency ms: p50 " in out


def test_one_event_per_request_is_json(invoke):
    summary = score.run(invoke, [{"amount": 1.0}, {"amount": 2.0}], batch=1)
    assert [content_type for _, content_type in invoke.sent] == ["application/json"] * 2
    assert summary.requests == 2


def test_mistyped_traffic_is_counted_by_status_not_raised(invoke, capsys):
    argv = ["--endpoint", "e", "--events", "6", "--as-string", "amount"]
    assert score.main(argv, invoke=invoke) == 1  # errors: a non-zero exit
    out = capsys.readouterr().out
    assert "errors: 400: 6" in out


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100: the q-th percentile is q itself
    assert [score.percentile(values, q) for q in (50, 90, 99)] == [50.0, 90.0, 99.0]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--batch", "0"], "--batch=0: 1 to 1000"),
        (["--shift", "amount"], "FIELD=NUMBER"),
        (["--shift", "nonsense=1"], "is not one of"),
        (["--events", "-1"], "must be >= 0"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_:
        score.main(["--endpoint", "e", *argv], invoke=lambda body, content_type: "")
    assert exit_.value.code == 2
    assert fragment in capsys.readouterr().err
