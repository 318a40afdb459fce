"""Send a batch of requests to the policy simulator (``simulate.mjs``, one Node process per batch) and read back
one decision per request: allowed or denied, and which policy statements decided."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("simulate.mjs")
PACKAGE = ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate"


class EvaluatorError(RuntimeError):
    """Node or the simulator package is missing."""


@dataclass(frozen=True)
class Request:
    """One simulation: the principal, action, resource and context, and the ids of the policies that apply."""

    id: str
    principal: str
    action: str
    resource: str
    account: str
    context: Mapping[str, Any]
    identity: tuple[str, ...] = ()
    resource_policy: str | None = None
    endpoints: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "account": self.account,
            "context": dict(self.context),
            "identity": list(self.identity),
            "resourcePolicy": self.resource_policy,
            "endpoints": list(self.endpoints),
        }


@dataclass(frozen=True)
class Reason:
    """A policy that decided: its type (identity, resource, vpce), id, 1-based statement index and Sid."""

    policy_type: str
    policy_id: str | None
    statement: int | None = None
    sid: str | None = None
    explicit: bool = False


@dataclass(frozen=True)
class Decision:
    result: str
    denials: tuple[Reason, ...] = ()
    grants: tuple[Reason, ...] = ()
    error: str = ""
    ignored_context_keys: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.result == "Allowed"


def _reason(raw: Mapping[str, Any], request: Request) -> Reason:
    policy_type = raw["policyType"]
    policy_id = raw.get("policyIdentifier") or raw.get("identifier")
    if policy_type == "resource":
        policy_id = request.resource_policy
    return Reason(
        policy_type=policy_type,
        policy_id=policy_id,
        statement=raw.get("statementIndex"),
        sid=raw.get("statementId"),
        explicit=raw.get("denialType") == "Explicit",
    )


def _decision(raw: Mapping[str, Any], request: Request) -> Decision:
    return Decision(
        result=raw["result"],
        denials=tuple(_reason(d, request) for d in raw.get("denials", [])),
        grants=tuple(_reason(g, request) for g in raw.get("grants", [])),
        error=raw.get("error", ""),
        ignored_context_keys=tuple(raw.get("ignoredContextKeys", [])),
    )


def evaluate(requests: Sequence[Request], policies: Mapping[str, Mapping[str, Any]]) -> list[Decision]:
    """One decision per request, in order."""
    if not requests:
        return []
    node = shutil.which("node")
    if node is None or not PACKAGE.exists():
        raise EvaluatorError("the IAM check needs Node and the npm packages: run `make setup` (npm ci)")
    used = {pid for r in requests for pid in (*r.identity, *r.endpoints, r.resource_policy) if pid}
    batch = {"policies": {pid: policies[pid] for pid in used}, "requests": [r.payload() for r in requests]}
    completed = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=600,
    )
    if completed.returncode != 0:
        raise EvaluatorError(f"the policy simulator failed: {completed.stderr.strip()[-2000:]}")
    raw = json.loads(completed.stdout)["decisions"]
    return [_decision(item, request) for item, request in zip(raw, requests, strict=True)]
