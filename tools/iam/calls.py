"""A call: who asks for which action on which resource, in which request context, and why the check expects it.

Calls come from two sources with one format: the declared table (what AWS services do on a role's behalf,
``tools/iam/declared.py``) and recorded runs (what the project's own code calls), read from a JSON lines file,
one request per line::

    {"principal": "TrainingEvaluateRole17A45342", "action": "s3:GetObject",
     "resource": "arn:aws:s3:::bucket/evaluation/run/part.csv.out", "context": {"aws:SecureTransport": "true"},
     "source": "evaluate handler"}

``principal`` is a role (logical id, ``stack/logical id``, name or ARN) or a service principal
(``cloudwatch.amazonaws.com``); ``context`` and ``source`` are optional.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ContextValue = str | list[str]


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


def read_recorded(path: Path, resolve_principal: Any) -> Iterator[Call]:
    """The calls of a JSON lines file; ``resolve_principal`` maps a role reference to its ARN (or None)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
            principal, action, resource = record["principal"], record["action"], record["resource"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RecordedCallError(f"{where}: expected a JSON object with principal, action, resource") from exc
        arn = principal if principal.endswith((".amazonaws.com", ".amazonaws.com.cn")) else resolve_principal(principal)
        if arn is None:
            raise RecordedCallError(f"{where}: no role {principal!r} in the templates")
        context = {str(k): v if isinstance(v, list) else str(v) for k, v in record.get("context", {}).items()}
        yield Call(arn, action, resource, f"recorded:{path.name}", str(record.get("source", where)), context)
