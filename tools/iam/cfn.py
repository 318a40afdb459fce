"""Resolve every CloudFormation token of a set of stack templates to the concrete value of one deploy.

Supported: ``Ref`` (resources, parameters' defaults, pseudo parameters), ``Fn::GetAtt``, ``Fn::Join``,
``Fn::Sub`` (both forms), ``Fn::Select``, ``Fn::Split``, ``Fn::ImportValue``, ``Fn::GetStackOutput`` (the
cross-stack references CDK writes), ``Fn::FindInMap``, ``Fn::If`` with the template's conditions
(``Fn::Equals``/``And``/``Or``/``Not``/``Condition``), ``Fn::GetAZs``, ``Fn::Base64`` and ``AWS::NoValue``.
Intrinsic function reference: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html
(checked 2026-12). Anything else raises ``UnresolvedTokenError``, naming the stack and the function.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from typing import Any

from tools.iam import cfn_types
from tools.iam.arns import Environment


class UnresolvedTokenError(ValueError):
    """A token the resolver does not support or cannot find (a missing resource, output or export)."""


class _NoValue:
    """``AWS::NoValue``: the property (or list element) is removed."""


NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Concrete values for the templates of one app (``{stack name: template}``) in one environment."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], env: Environment | None = None) -> None:
        self.templates = dict(templates)
        self.env = env or Environment()
        self._attributes: dict[tuple[str, str], dict[str, Any]] = {}
        self._conditions: dict[tuple[str, str], bool] = {}

    # --- public -----------------------------------------------------------------------------------------

    def resources(self, resource_type: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(stack, logical id, raw resource)`` of every resource whose condition holds, in template order."""
        for stack, template in self.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource_type and resource["Type"] != resource_type:
                    continue
                if "Condition" in resource and not self.condition(stack, resource["Condition"]):
                    continue
                yield stack, logical_id, resource

    def properties(self, stack: str, logical_id: str) -> dict[str, Any]:
        """The resolved properties of one resource."""
        resource = self._resource(stack, logical_id)
        resolved = self.resolve(stack, resource.get("Properties", {}))
        return resolved if isinstance(resolved, dict) else {}

    def resource_type(self, stack: str, logical_id: str) -> str:
        return str(self._resource(stack, logical_id)["Type"])

    def ref(self, stack: str, name: str) -> Any:
        pseudo = self._pseudo(stack, name)
        if pseudo is not None:
            return pseudo
        parameters = self.templates[stack].get("Parameters", {})
        if name in parameters:
            if "Default" not in parameters[name]:
                raise UnresolvedTokenError(f"{stack}: parameter {name} has no default")
            return parameters[name]["Default"]
        return self.attribute(stack, name, "Ref")

    def attribute(self, stack: str, logical_id: str, attribute: str) -> Any:
        key = (stack, logical_id)
        if key not in self._attributes:
            resource = self._resource(stack, logical_id)
            raw = resource.get("Properties", {})

            def prop(name: str) -> Any:
                value = raw.get(name)
                return None if value is None else self.resolve(stack, value)

            ctx = cfn_types.Ctx(self.env, stack, logical_id, prop)
            self._attributes[key] = cfn_types.attributes(resource["Type"], ctx)
        values = self._attributes[key]
        if attribute not in values:
            raise cfn_types.UnknownAttributeError(f"{stack}/{logical_id}: no attribute {attribute}")
        return values[attribute]

    def output(self, stack: str, name: str) -> Any:
        outputs = self.templates.get(stack, {}).get("Outputs", {})
        if name not in outputs:
            raise UnresolvedTokenError(f"stack {stack} has no output {name}")
        return self.resolve(stack, outputs[name]["Value"])

    def export(self, name: str) -> Any:
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if export is not None and self.resolve(stack, export) == name:
                    return self.resolve(stack, output["Value"])
        raise UnresolvedTokenError(f"no stack exports {name}")

    def condition(self, stack: str, name: str) -> bool:
        key = (stack, name)
        if key not in self._conditions:
            conditions = self.templates[stack].get("Conditions", {})
            if name not in conditions:
                raise UnresolvedTokenError(f"{stack}: no condition {name}")
            self._conditions[key] = bool(self._condition_value(stack, conditions[name]))
        return self._conditions[key]

    def resolve(self, stack: str, value: Any) -> Any:
        """``value`` with every token replaced; ``AWS::NoValue`` removes the key or element."""
        if isinstance(value, list):
            elements = [self.resolve(stack, item) for item in value]
            return [item for item in elements if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            handler = _FUNCTIONS.get(function)
            if handler is not None:
                return handler(self, stack, argument)
            if function.startswith("Fn::"):
                raise UnresolvedTokenError(f"{stack}: unsupported function {function}")
        resolved = {key: self.resolve(stack, item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    # --- helpers ----------------------------------------------------------------------------------------

    def _resource(self, stack: str, logical_id: str) -> dict[str, Any]:
        if stack not in self.templates:
            raise UnresolvedTokenError(f"no stack {stack}")
        resources = self.templates[stack].get("Resources", {})
        if logical_id not in resources:
            raise UnresolvedTokenError(f"{stack}: no resource, parameter or pseudo parameter {logical_id}")
        return dict(resources[logical_id])

    def _pseudo(self, stack: str, name: str) -> Any:
        env = self.env
        values: dict[str, Any] = {
            "AWS::AccountId": env.account,
            "AWS::Region": env.region,
            "AWS::Partition": env.partition,
            "AWS::URLSuffix": env.url_suffix,
            "AWS::StackName": stack,
            "AWS::StackId": env.arn("cloudformation", f"stack/{stack}/{stack}-id"),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        return values.get(name)

    def _condition_value(self, stack: str, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Condition":
                return self.condition(stack, argument)
            if function in _CONDITIONS:
                return _CONDITIONS[function](self, stack, argument)
        return self.resolve(stack, value)

    def sub(self, stack: str, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        resolved_variables = {name: self.resolve(stack, item) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in resolved_variables:
                return str(resolved_variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.attribute(stack, logical_id, attribute))
            return str(self.ref(stack, name))

        return _SUB_VARIABLE.sub(replace, text)


def _join(r: Resolver, stack: str, argument: Any) -> str:
    separator, items = argument
    values = r.resolve(stack, items)
    return str(separator).join(str(item) for item in values)


def _select(r: Resolver, stack: str, argument: Any) -> Any:
    index, items = r.resolve(stack, argument[0]), r.resolve(stack, argument[1])
    return items[int(index)]


def _split(r: Resolver, stack: str, argument: Any) -> list[str]:
    separator, text = argument[0], r.resolve(stack, argument[1])
    return str(text).split(separator)


def _get_att(r: Resolver, stack: str, argument: Any) -> Any:
    logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
    return r.attribute(stack, logical_id, r.resolve(stack, attribute))


def _stack_output(r: Resolver, stack: str, argument: Any) -> Any:
    resolved = r.resolve(stack, argument)
    return r.output(resolved["StackName"], resolved["OutputName"])


def _find_in_map(r: Resolver, stack: str, argument: Any) -> Any:
    name, first, second = (r.resolve(stack, item) for item in argument[:3])
    try:
        return r.templates[stack]["Mappings"][name][first][second]
    except KeyError as exc:
        raise UnresolvedTokenError(f"{stack}: no mapping {name}/{first}/{second}") from exc


def _if(r: Resolver, stack: str, argument: Any) -> Any:
    name, when_true, when_false = argument
    return r.resolve(stack, when_true if r.condition(stack, name) else when_false)


def _get_azs(r: Resolver, stack: str, argument: Any) -> list[str]:
    region = r.resolve(stack, argument) or r.env.region
    return [f"{region}{zone}" for zone in "abcdef"]


_FUNCTIONS: dict[str, Any] = {
    "Ref": lambda r, stack, name: r.ref(stack, name),
    "Fn::GetAtt": _get_att,
    "Fn::Join": _join,
    "Fn::Sub": lambda r, stack, argument: r.sub(stack, argument),
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::ImportValue": lambda r, stack, argument: r.export(r.resolve(stack, argument)),
    "Fn::GetStackOutput": _stack_output,
    "Fn::FindInMap": _find_in_map,
    "Fn::If": _if,
    "Fn::GetAZs": _get_azs,
    "Fn::Base64": lambda r, stack, argument: base64.b64encode(str(r.resolve(stack, argument)).encode()).decode(),
}

_CONDITIONS: dict[str, Any] = {
    "Fn::Equals": lambda r, s, a: r._condition_value(s, a[0]) == r._condition_value(s, a[1]),
    "Fn::And": lambda r, s, a: all(r._condition_value(s, item) for item in a),
    "Fn::Or": lambda r, s, a: any(r._condition_value(s, item) for item in a),
    "Fn::Not": lambda r, s, a: not r._condition_value(s, a[0]),
}
