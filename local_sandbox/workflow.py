"""LOCAL EMULATION ONLY: execute the *deployed* Step Functions definition, state by state, on local compute.

moto's Step Functions stores the state machine but does not run Glue or SageMaker integrations (moto 5.2).
This interpreter reads the definition back from the local server (``DescribeStateMachine``) and walks it with
the Amazon States Language semantics the definition uses:

- state types Pass, Task, Choice, Wait (not slept: the step is logged), Succeed, Fail;
- ``Parameters`` / ``ResultSelector`` with ``.$`` keys (JSONPath ``$.a.b``, the context object ``$$.Execution.*``
  with ``Name``, ``Id``, ``Input`` and ``StartTime``, and the intrinsics ``States.Format``, ``StringSplit``,
  ``ArrayGetItem``, ``MathAdd``, ``StringToJson``, ``JsonMerge`` (shallow)), ``ResultPath`` (including ``null``),
  ``InputPath``/``OutputPath``;
- ``Catch`` (``States.ALL`` or the error name) with the ``{"Error", "Cause"}`` object at its ``ResultPath``;
- Choice rules ``And``/``Or``/``Not`` with the ``Numeric*``, ``String*``, ``BooleanEquals`` and ``IsPresent``
  comparators.

Task resources are dispatched to ``LocalTasks`` (the ``.sync`` Glue and SageMaker jobs run on local Spark and
xgboost; ``createModel``, ``aws-sdk:*`` calls and ``sns:publish`` go to moto; a Lambda ARN runs the function's
Python handler in process). Anything else raises ``NotEmulatedError`` naming the state, rather than skipping it.
``Retry`` is not exercised (local tasks do not fail transiently); timeouts are not enforced.
"""

from __future__ import annotations

import json
import operator
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local_sandbox import NotEmulatedError


class TaskFailed(RuntimeError):  # noqa: N818 - the States Language's own word
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


# --- JSONPath (the subset the States Language needs here) --------------------------------------------------

_PATH = re.compile(r"^\$(\.\w+(\[\d+\])?)*$")


def read_path(path: str, data: Any, context: Mapping[str, Any]) -> Any:
    root: Any = context if path.startswith("$$") else data
    path = path[1:] if path.startswith("$$") else path
    if not _PATH.match(path):
        raise NotEmulatedError(f"JSONPath {path!r}: only $.a.b paths (and [i] indexes) are emulated")
    value = root
    for part in path.split(".")[1:]:
        name, _, index = part.partition("[")
        if not isinstance(value, Mapping) or name not in value:
            raise TaskFailed("States.Runtime", f"the JSONPath {path!r} could not be found in the input")
        value = value[name]
        if index:
            position = int(index.rstrip("]"))
            if not isinstance(value, list) or position >= len(value):
                raise TaskFailed("States.Runtime", f"the JSONPath {path!r} could not be found in the input")
            value = value[position]
    return value


def write_path(data: Any, path: str | None, value: Any) -> Any:
    """``ResultPath``: ``None`` discards the result, ``$`` replaces the input, ``$.a.b`` sets a field."""
    if path is None:
        return data
    if path == "$":
        return value
    if not _PATH.match(path):
        raise NotEmulatedError(f"ResultPath {path!r}: only $.a.b paths are emulated")
    out = json.loads(json.dumps(data))
    target = out
    parts = path.split(".")[1:]
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
    return out


def _split_args(text: str) -> list[str]:
    """The arguments of an intrinsic call: commas outside quotes and outside nested calls separate them."""
    args, current, quoted, depth = [], "", False, 0
    for i, char in enumerate(text):
        if char == "'" and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and not quoted and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += char
    return [*args, current.strip()] if current.strip() else args


def _argument(text: str, data: Any, context: Mapping[str, Any]) -> Any:
    if text.startswith(("$", "States.")):
        return intrinsic(text, data, context)
    if text.startswith("'"):
        return text[1:-1]
    return json.loads(text)  # a number, true/false/null


_INTRINSICS = ("Format", "StringSplit", "ArrayGetItem", "MathAdd", "StringToJson", "JsonMerge")


def _json_intrinsic(expression: str, function: str, values: list[Any]) -> Any:
    """``States.StringToJson(text)``; ``States.JsonMerge(a, b, false)``: b's keys over a's (shallow: the only mode
    Step Functions supports, the third argument must be false)."""
    if function == "StringToJson":
        (text,) = values
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            raise TaskFailed("States.IntrinsicFailure", f"{expression}: not a JSON string ({exc})") from exc
    first, second, deep = values
    if not isinstance(first, dict) or not isinstance(second, dict) or deep is not False:
        raise TaskFailed("States.IntrinsicFailure", f"{expression}: JsonMerge takes two objects and false")
    return {**first, **second}


def intrinsic(expression: str, data: Any, context: Mapping[str, Any]) -> Any:
    """A ``.$`` value: a path, or ``States.Format``, ``States.StringSplit``, ``States.ArrayGetItem``,
    ``States.MathAdd``, ``States.StringToJson``, ``States.JsonMerge`` (nested)."""
    if expression.startswith("$"):
        return read_path(expression, data, context)
    match = re.match(r"^States\.(\w+)\((.*)\)$", expression, re.DOTALL)
    if not match or match.group(1) not in _INTRINSICS:
        names = ", ".join(f"States.{n}" for n in _INTRINSICS)
        raise NotEmulatedError(f"intrinsic {expression[:60]!r}: only {names} and paths are emulated")
    function, raw_args = match.group(1), _split_args(match.group(2))
    if function == "Format":
        template, values = raw_args[0].strip("'"), [_argument(a, data, context) for a in raw_args[1:]]
        pieces = template.split("{}")
        if len(pieces) != len(values) + 1:
            raise TaskFailed("States.IntrinsicFailure", f"{expression}: {len(values)} arguments for {len(pieces) - 1}")
        out = pieces[0]
        for value, piece in zip(values, pieces[1:], strict=True):
            out += (value if isinstance(value, str) else json.dumps(value)) + piece
        return out
    values = [_argument(a, data, context) for a in raw_args]
    if function in ("StringToJson", "JsonMerge"):
        return _json_intrinsic(expression, function, values)
    return _value_intrinsic(expression, function, values)


def _value_intrinsic(expression: str, function: str, values: list[Any]) -> Any:
    """``States.MathAdd``, ``States.StringSplit``, ``States.ArrayGetItem`` on evaluated arguments."""
    if function == "MathAdd":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise TaskFailed("States.IntrinsicFailure", f"{expression}: MathAdd takes integers, got {values!r}")
        return sum(values)
    if function == "StringSplit":
        text, separators = values
        return [part for part in re.split("|".join(map(re.escape, separators)), text) if part]
    array, index = values
    if not isinstance(array, list) or not isinstance(index, int) or not 0 <= index < len(array):
        raise TaskFailed("States.IntrinsicFailure", f"{expression}: index {index!r} out of the array")
    return array[index]


def resolve(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    """``Parameters``/``ResultSelector``: ``"key.$"`` entries are evaluated, everything else is copied."""
    if isinstance(template, Mapping):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = intrinsic(value, data, context)
            else:
                out[key] = resolve(value, data, context)
        return out
    if isinstance(template, list):
        return [resolve(item, data, context) for item in template]
    return template


# --- Choice rules ------------------------------------------------------------------------------------------

_COMPARATORS: dict[str, tuple[type | tuple[type, ...], Callable[[Any, Any], bool]]] = {
    "NumericEquals": ((int, float), operator.eq),
    "NumericLessThan": ((int, float), operator.lt),
    "NumericGreaterThan": ((int, float), operator.gt),
    "NumericLessThanEquals": ((int, float), operator.le),
    "NumericGreaterThanEquals": ((int, float), operator.ge),
    "StringEquals": (str, operator.eq),
    "BooleanEquals": (bool, operator.eq),
}


def choice_matches(rule: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> bool:
    if "And" in rule:
        return all(choice_matches(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(choice_matches(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not choice_matches(rule["Not"], data, context)
    if "IsPresent" in rule:
        try:
            read_path(rule["Variable"], data, context)
            present = True
        except TaskFailed:
            present = False
        return present == rule["IsPresent"]
    if "StringEqualsPath" in rule:
        value, other = read_path(rule["Variable"], data, context), read_path(rule["StringEqualsPath"], data, context)
        return isinstance(value, str) and value == other
    for name, (kind, compare) in _COMPARATORS.items():
        if name in rule:
            value = read_path(rule["Variable"], data, context)
            return isinstance(value, kind) and compare(value, rule[name])
    raise NotEmulatedError(f"Choice rule {sorted(rule)}: comparator not emulated")


# --- The interpreter ---------------------------------------------------------------------------------------


@dataclass
class Execution:
    name: str
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[tuple[str, str, float]] = field(default_factory=list)  # (state, type, seconds)
    caught: list[tuple[str, str, str]] = field(default_factory=list)  # (state, error, cause) sent to a Catch
    last_state: Any = None  # the state's data when the execution ended (what the history's last event shows)


TaskHandler = Callable[[str, dict[str, Any]], Any]


@dataclass
class _Walk:
    """One execution in progress: the context object ``$$`` reads, the task handler, the execution so far."""

    execution: Execution
    context: Mapping[str, Any]
    tasks: TaskHandler

    def state(self, name: str, state: Mapping[str, Any], data: Any, started: float) -> tuple[Any, str | None] | None:
        """Run one state: its output and the next state's name, or None when it ended the execution."""
        kind = state["Type"]
        next_name: str | None = state.get("Next")
        if kind == "Pass":
            result = (
                resolve(state["Parameters"], data, self.context) if "Parameters" in state else state.get("Result", data)
            )
            return write_path(data, state.get("ResultPath", "$"), result), next_name
        if kind == "Task":
            return self._task(name, state, data, started)
        if kind == "Choice":
            return self._choice(state, data)
        if kind == "Wait":
            return data, next_name  # not slept: local work is already complete when the task returns
        if kind == "Succeed":
            self._end(name, kind, started, data)
            self.execution.status, self.execution.output = "SUCCEEDED", data
            return None
        if kind == "Fail":
            self._end(name, kind, started, data)
            self.execution.status, self.execution.error = "FAILED", state.get("Error")
            self.execution.cause = state.get("Cause")
            return None
        raise NotEmulatedError(f"state {name!r}: type {kind} is not emulated")

    def _task(self, name: str, state: Mapping[str, Any], data: Any, started: float) -> tuple[Any, str | None] | None:
        """A Task: its result at ``ResultPath``, or its failure sent to the matching ``Catch`` (None: none matches)."""
        try:
            parameters = resolve(state.get("Parameters", {}), data, self.context)
            result = self.tasks(state["Resource"], parameters)
            if "ResultSelector" in state:
                result = resolve(state["ResultSelector"], result, self.context)
            return write_path(data, state.get("ResultPath", "$"), result), state.get("Next")
        except TaskFailed as failure:
            catcher = next(
                (
                    c
                    for c in state.get("Catch", [])
                    if "States.ALL" in c["ErrorEquals"] or failure.error in c["ErrorEquals"]
                ),
                None,
            )
            if catcher is None:
                self._end(name, state["Type"], started, data)
                self.execution.status, self.execution.error = "FAILED", failure.error
                self.execution.cause = failure.cause
                return None
            self.execution.caught.append((name, failure.error, failure.cause))
            error = {"Error": failure.error, "Cause": failure.cause}
            return write_path(data, catcher.get("ResultPath", "$"), error), catcher["Next"]

    def _choice(self, state: Mapping[str, Any], data: Any) -> tuple[Any, str | None] | None:
        """A Choice: the first matching rule's ``Next``, else ``Default`` (None: no rule matched, the run failed)."""
        next_name = next(
            (c["Next"] for c in state["Choices"] if choice_matches(c, data, self.context)), state.get("Default")
        )
        if next_name is None:
            self.execution.status, self.execution.error = "FAILED", "States.NoChoiceMatched"
            return None
        return data, next_name

    def _end(self, name: str, kind: str, started: float, data: Any) -> None:
        """The last state's history event and data (the caller sets how the execution ended)."""
        self.execution.history.append((name, kind, time.perf_counter() - started))
        self.execution.last_state = data


def run_definition(
    definition: Mapping[str, Any],
    *,
    execution_name: str,
    execution_id: str,
    tasks: TaskHandler,
    state_input: Any = None,
    on_state: Callable[[str, str], None] = lambda name, kind: None,
    max_steps: int = 200,
    start_time: datetime | None = None,
) -> Execution:
    """Walk ``definition`` from ``StartAt``; ``tasks(resource, parameters)`` runs each Task's work.
    ``start_time`` (default now) is the context's ``Execution.StartTime``, ISO 8601 in UTC with milliseconds."""
    execution = Execution(execution_name)
    started_at = (start_time or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")
    context = {
        "Execution": {
            "Name": execution_name,
            "Id": execution_id,
            "Input": state_input or {},
            "StartTime": started_at.replace("+00:00", "Z"),
        }
    }
    walk = _Walk(execution, context, tasks)
    data: Any = state_input or {}
    name = definition["StartAt"]
    for _ in range(max_steps):
        state = definition["States"][name]
        kind = state["Type"]
        on_state(name, kind)
        started = time.perf_counter()
        data = read_path(state.get("InputPath", "$"), data, context) if state.get("InputPath", "$") != "$" else data
        moved = walk.state(name, state, data, started)
        if moved is None:
            return execution
        data, next_name = moved
        if kind != "Choice" and state.get("OutputPath", "$") != "$":
            data = read_path(state["OutputPath"], data, context)
        execution.history.append((name, kind, time.perf_counter() - started))
        if state.get("End"):
            execution.status, execution.output = "SUCCEEDED", data
            return execution
        if next_name is None:
            raise NotEmulatedError(f"state {name!r} has neither Next nor End")
        name = next_name
    raise NotEmulatedError(f"more than {max_steps} state transitions: a loop the local run does not follow")
