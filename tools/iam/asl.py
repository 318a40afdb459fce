"""The Task states of a Step Functions definition with their parameters as one sample execution sees them.

The walk follows every transition (Next, Choices, Default, Catch) from StartAt, carrying the state: Pass states
set their ``Parameters``/``Result`` at their ``ResultPath``, Task states store a stub result of their
integration (the fields later states read, such as a training job's model artifacts), and parameters ending in
``.$`` are evaluated: JSONPath (``$.a.b``, ``$$.Execution.Name``) and the intrinsic functions
``States.Format``, ``States.StringSplit``, ``States.ArrayGetItem``, ``States.Array``, ``States.JsonToString``
and ``States.UUID`` (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html, checked
2026-12). A value the walk cannot know is ``None``.
"""

from __future__ import annotations

import copy
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

EXECUTION_NAME = "run20261201-0001"
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<path>\$\$?[\w.\[\]]*)|"
    r"(?P<fn>States\.\w+)\s*\(|(?P<close>\))|(?P<comma>,))"
)


@dataclass(frozen=True)
class Task:
    state: str
    resource: str
    parameters: dict[str, Any]

    @property
    def integration(self) -> tuple[str, str, str]:
        """``(service, api, pattern)``: ``("sagemaker", "createTrainingJob", "sync")``; a Lambda ARN as the
        resource is ``("lambda", "invoke", "")``."""
        if ":states:::" not in self.resource:
            service = self.resource.split(":")[2] if self.resource.startswith("arn:") else ""
            return (service, "invoke", "") if service == "lambda" else (service, "", "")
        path = self.resource.split(":states:::", 1)[1]
        path, _, pattern = path.partition(".")
        parts = path.split(":")
        service, api = (parts[1], parts[2]) if parts[0] == "aws-sdk" else (parts[0], parts[1])
        return service, api, pattern


class _Context:
    def __init__(self, state_machine_arn: str, execution_name: str) -> None:
        execution_arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_name}"
        self.object = {
            "Execution": {"Name": execution_name, "Id": execution_arn, "StartTime": "2026-12-01T00:00:00Z"},
            "StateMachine": {"Id": state_machine_arn, "Name": state_machine_arn.rsplit(":", 1)[-1]},
        }
        self.outputs: dict[str, str] = {}  # training job name -> S3 output path


def tasks(definition: dict[str, Any], state_machine_arn: str, execution_name: str = EXECUTION_NAME) -> list[Task]:
    """Every Task state reachable in ``definition`` (nested Parallel and Map states included)."""
    return list(_walk(definition, {}, _Context(state_machine_arn, execution_name)))


def _walk(definition: dict[str, Any], start: Any, ctx: _Context) -> Iterator[Task]:
    states = definition["States"]
    queue: deque[tuple[str, Any]] = deque([(definition["StartAt"], start)])
    seen: set[str] = set()
    while queue:
        name, document = queue.popleft()
        if name in seen or name not in states:
            continue
        seen.add(name)
        state = states[name]
        for sub in [*state.get("Branches", []), state.get("ItemProcessor") or state.get("Iterator")]:
            if sub:
                yield from _walk(sub, document, ctx)
        output = document
        if state["Type"] == "Task":
            task = Task(name, state["Resource"], _evaluate(state.get("Parameters", {}), document, ctx))
            yield task
            result = _stub(task, ctx)
            if "ResultSelector" in state:
                result = _evaluate(state["ResultSelector"], result, ctx)
            output = _put(document, state.get("ResultPath", "$"), result)
        elif state["Type"] == "Pass":
            result = _evaluate(state["Parameters"], document, ctx) if "Parameters" in state else state.get("Result")
            output = _put(document, state.get("ResultPath", "$"), document if result is None else result)
        queue.extend((target, output) for target in _targets(state))
        queue.extend(
            (c["Next"], _put(document, c.get("ResultPath", "$"), {"Error": "x"})) for c in state.get("Catch", [])
        )


def _targets(state: dict[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    return targets + ([state["Default"]] if "Default" in state else [])


def _put(document: Any, path: str | None, value: Any) -> Any:
    """``document`` with ``value`` at ``ResultPath`` (``None`` keeps the input)."""
    if path is None:
        return document
    if path == "$":
        return copy.deepcopy(value)
    out = copy.deepcopy(document) if isinstance(document, dict) else {}
    node = out
    keys = path.removeprefix("$.").split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = copy.deepcopy(value)
    return out


def _evaluate(template: Any, document: Any, ctx: _Context) -> Any:
    if isinstance(template, list):
        return [_evaluate(item, document, ctx) for item in template]
    if not isinstance(template, dict):
        return template
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$") and isinstance(value, str):
            out[key[:-2]] = _expression(value, document, ctx)
        else:
            out[key] = _evaluate(value, document, ctx)
    return out


def _expression(text: str, document: Any, ctx: _Context) -> Any:
    tokens = [m for m in _TOKEN.finditer(text) if m.group(0).strip()]
    value, _ = _parse(tokens, 0, document, ctx)
    return value


def _parse(tokens: list[re.Match[str]], i: int, document: Any, ctx: _Context) -> tuple[Any, int]:
    token = tokens[i]
    if token.group("str") is not None:
        return token.group("str")[1:-1].replace("\\'", "'"), i + 1
    if token.group("num") is not None:
        number = token.group("num")
        return (float(number) if "." in number else int(number)), i + 1
    if token.group("path") is not None:
        path = token.group("path")
        root = ctx.object if path.startswith("$$") else document
        return _lookup(root, path.lstrip("$").lstrip(".")), i + 1
    function, args, i = token.group("fn"), [], i + 1
    while tokens[i].group("close") is None:
        if tokens[i].group("comma") is not None:
            i += 1
            continue
        arg, i = _parse(tokens, i, document, ctx)
        args.append(arg)
    return _intrinsic(function, args), i + 1


def _lookup(root: Any, path: str) -> Any:
    node = root
    for part in filter(None, re.split(r"\.|\[(\d+)\]", path) if path else []):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _intrinsic(function: str, args: list[Any]) -> Any:
    if any(arg is None for arg in args):
        return None
    if function == "States.Format":
        pieces = args[0].split("{}")
        return pieces[0] + "".join(str(value) + piece for value, piece in zip(args[1:], pieces[1:], strict=False))
    if function == "States.StringSplit":
        return [part for part in args[0].split(args[1]) if part]
    if function == "States.ArrayGetItem":
        return args[0][int(args[1])]
    if function == "States.Array":
        return list(args)
    if function == "States.JsonToString":
        return json.dumps(args[0], separators=(",", ":"))
    if function == "States.UUID":
        return "00000000-0000-4000-8000-000000000000"
    return None


def _stub(task: Task, ctx: _Context) -> dict[str, Any]:
    """The fields of an integration's result that later states read."""
    service, api, _ = task.integration
    p = task.parameters
    if (service, api) == ("sagemaker", "createTrainingJob"):
        ctx.outputs[p.get("TrainingJobName") or ""] = p.get("OutputDataConfig", {}).get("S3OutputPath", "")
        return _training_result(p.get("TrainingJobName"), ctx)
    if (service, api) == ("sagemaker", "createHyperParameterTuningJob"):
        best = f"{p.get('HyperParameterTuningJobName')}-001-0a1b2c3d"
        ctx.outputs[best] = p.get("TrainingJobDefinition", {}).get("OutputDataConfig", {}).get("S3OutputPath", "")
        return {
            "HyperParameterTuningJobName": p.get("HyperParameterTuningJobName"),
            "BestTrainingJob": {"TrainingJobName": best},
        }
    if (service, api) == ("sagemaker", "describeTrainingJob"):
        return _training_result(p.get("TrainingJobName"), ctx)
    if (service, api) == ("sagemaker", "createModelPackage"):
        return {"ModelPackageArn": f"model-package/{p.get('ModelPackageGroupName')}/1"}
    return {}


def _training_result(name: str | None, ctx: _Context) -> dict[str, Any]:
    if not name:
        return {}
    output = ctx.outputs.get(name, "").rstrip("/")
    return {"TrainingJobName": name, "ModelArtifacts": {"S3ModelArtifacts": f"{output}/{name}/output/model.tar.gz"}}
