"""A call: who asks for which action on which resource, in which request context, and why the check expects it.

Calls come from two sources with one format: the declared table (what AWS services do on a role's behalf,
``tools/iam/declared.py``) and recorded runs (what the project's own code calls), read from a JSON lines file,
one request per line::

    {"principal": "TrainingEvaluateRole17A45342", "action": "s3:GetObject",
     "resource": "arn:aws:s3:::bucket/evaluation/run/part.csv.out", "context": {"aws:SecureTransport": "true"},
     "source": "evaluate handler"}

``principal`` is a role (logical id, ``stack/logical id``, name or ARN) or a service principal
(``cloudwatch.amazonaws.com``); ``context`` and ``source`` are optional. In ``resource`` and the context's
values, ``${stack/logical id}`` stands for that resource's ``Ref`` and ``${stack/logical id.Attribute}`` for
its attribute, as the templates resolve them (``tools/iam/record.py`` writes names so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ContextValue = str | list[str]
#: ``${stack/logical id}`` or ``${stack/logical id.Attribute}``.
PLACEHOLDER = re.compile(r"\$\{([^}/]+)/([^}.]+)(?:\.([^}]+))?\}")


@dataclass(frozen=True)
class Call:
    """One request to evaluate. ``principal`` is a role ARN or a service principal."""

    principal: str
    action: str
    resource: str
    source: str
    why: str = ""
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    #: VPC endpoints the request goes through (their policies apply too).
    endpoints: tuple[str, ...] = ()

    @property
    def is_service(self) -> bool:
        return not self.principal.startswith("arn:")

    def key(self) -> tuple[str, str, str, str]:
        return (self.principal, self.action, self.resource, json.dumps(dict(self.context), sort_keys=True))


class RecordedCallError(ValueError):
    """A line of a recorded-calls file that cannot be read; the message names the file and line."""


class NotInTemplatesError(RecordedCallError):
    """A recorded line names a role or resource the templates do not have."""


ResolveName = Callable[[str, str, str | None], str | None]


def _substitute(text: str, resolve_name: ResolveName | None, where: str) -> str:
    """``text`` with each placeholder replaced by its resolved value (``resolve_name(stack, id, attribute)``)."""

    def value(match: re.Match[str]) -> str:
        resolved = resolve_name(*match.groups()) if resolve_name else None
        if resolved is None:
            raise NotInTemplatesError(f"{where}: no resource {match.group(0)} in the templates")
        return resolved

    return PLACEHOLDER.sub(value, text)


def read_recorded(
    path: Path,
    resolve_principal: Any,
    resolve_name: ResolveName | None = None,
    skipped: list[str] | None = None,
) -> Iterator[Call]:
    """The calls of a JSON lines file; ``resolve_principal`` maps a role reference to its ARN (or None),
    ``resolve_name`` a placeholder's parts to its value (or None). A line naming a role or resource the
    templates do not have raises ``NotInTemplatesError``, or, given ``skipped``, is left out and explained there.
    """
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            yield from _recorded_line(path, number, line, resolve_principal, resolve_name)
        except NotInTemplatesError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))


def _recorded_line(
    path: Path, number: int, line: str, resolve_principal: Any, resolve_name: ResolveName | None
) -> Iterator[Call]:
    """The call of one line (none for a blank line)."""
    if not line.strip():
        return
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
        principal, action, resource = record["principal"], record["action"], record["resource"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordedCallError(f"{where}: expected a JSON object with principal, action, resource") from exc
    arn = principal if principal.endswith((".amazonaws.com", ".amazonaws.com.cn")) else resolve_principal(principal)
    if arn is None:
        raise NotInTemplatesError(f"{where}: no role {principal!r} in the templates")
    context = {
        str(k): [_substitute(str(i), resolve_name, where) for i in v]
        if isinstance(v, list)
        else _substitute(str(v), resolve_name, where)
        for k, v in record.get("context", {}).items()
    }
    resource = _substitute(resource, resolve_name, where)
    yield Call(arn, action, resource, f"recorded:{path.name}", str(record.get("source", where)), context)
