"""Evaluate calls against a deployment's policies; report denied calls and grants no call uses; mutate
statements to prove the check depends on them."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from tools.iam.calls import Call, ContextValue
from tools.iam.deployment import Deployment, Policy, Role
from tools.iam.evaluate import Decision, Request, evaluate

if TYPE_CHECKING:
    from tools.iam.allowances import Allowance

#: An allow-nothing endpoint policy: what a VPC endpoint policy becomes when its last statement is deleted.
_NOTHING = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::deleted-statement/*",
}


@dataclass(frozen=True)
class Evaluated:
    call: Call
    request: Request | None
    decision: Decision

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def error(self) -> bool:
        return self.decision.result == "Error"


@dataclass(frozen=True)
class Unused:
    """What one statement of a role grants that no allowed call of the role used: actions used on none of its
    resources, and resources none of its actions were used on."""

    role: Role
    policy: Policy
    statement: int
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass
class Report:
    deployment: Deployment
    results: list[Evaluated]
    unused: list[Unused] = field(default_factory=list)
    idle_roles: list[Role] = field(default_factory=list)
    kept: list[tuple[Unused, Allowance]] = field(default_factory=list)  # unused, with the allowance keeping it

    @property
    def denied(self) -> list[Evaluated]:
        return [r for r in self.results if not r.allowed and not r.error]

    @property
    def errors(self) -> list[Evaluated]:
        return [r for r in self.results if r.error]


# --- requests ----------------------------------------------------------------------------------------------


def _context(deployment: Deployment, call: Call, role: Role | None) -> dict[str, ContextValue]:
    env = deployment.env
    context: dict[str, ContextValue] = {"aws:SecureTransport": "true", "aws:RequestedRegion": env.region}
    service = call.action.split(":", 1)[0].lower()
    if service == "s3":
        context["s3:TlsVersion"] = "1.2"
    if service == "kms":
        context["kms:CallerAccount"] = env.account
    if role is not None:
        context.update({"aws:PrincipalAccount": env.account, "aws:PrincipalArn": role.arn})
    for endpoint in deployment.endpoints:
        if endpoint.id in call.endpoints:
            context.update({"aws:SourceVpce": endpoint.id, "aws:SourceVpc": endpoint.vpc})
    context.update(call.context)
    return context


def _account(deployment: Deployment, arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else deployment.env.account


def request_for(deployment: Deployment, call: Call, ident: str) -> Request | str:
    """The simulator request of a call, or why it cannot be built."""
    role = None if call.is_service else deployment.roles.get(call.principal)
    if not call.is_service and role is None:
        return f"principal {call.principal} is not a role of the templates"
    principal = call.principal if role is None else deployment.env.session_arn(role.name, call.source.split(":")[0])
    resource_policy = deployment.resource_policy(call.resource) if call.resource != "*" else None
    return Request(
        id=ident,
        principal=principal,
        action=call.action,
        resource=call.resource,
        account=_account(deployment, call.resource),
        context=_context(deployment, call, role),
        identity=tuple(p.id for p in role.policies) if role else (),
        resource_policy=resource_policy.id if resource_policy else None,
        endpoints=tuple(e.policy.id for e in deployment.endpoints if e.id in call.endpoints),
    )


def _documents(deployment: Deployment) -> dict[str, Any]:
    return {policy.id: policy.document for policy in deployment.policies()}


def run(deployment: Deployment, calls: Sequence[Call]) -> Report:
    """Evaluate every call (duplicates once) in one simulator batch."""
    unique = list({(*call.key(), call.source, call.why): call for call in calls}.values())
    requests: list[Request] = []
    built: list[Request | str] = []
    for index, call in enumerate(unique):
        request = request_for(deployment, call, str(index))
        built.append(request)
        if isinstance(request, Request):
            requests.append(request)
    decisions = iter(evaluate(requests, _documents(deployment)))
    results = [
        Evaluated(call, r, next(decisions))
        if isinstance(r, Request)
        else Evaluated(call, None, Decision("Error", error=r))
        for call, r in zip(unique, built, strict=True)
    ]
    report = Report(deployment, results)
    report.unused, report.idle_roles = unused_grants(deployment, results)
    return report


# --- least privilege --------------------------------------------------------------------------------------


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match (``*`` and ``?``); actions compare case-insensitively."""
    return bool(_pattern(glob, ignore_case).match(value))


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _used_by_statement(results: Iterable[Evaluated]) -> dict[tuple[str, int], list[Call]]:
    used: dict[tuple[str, int], list[Call]] = defaultdict(list)
    for result in results:
        if result.allowed:
            for grant in result.decision.grants:
                if grant.policy_id and grant.statement:
                    used[(grant.policy_id, grant.statement)].append(result.call)
    return used


def _statement_unused(
    role: Role, policy: Policy, index: int, statement: dict[str, Any], calls: list[Call]
) -> Unused | None:
    actions = _listed(statement.get("Action")) or [f"NotAction {_listed(statement.get('NotAction'))}"]
    resources = _listed(statement.get("Resource")) or ["(NotResource)"]
    mine = [c for c in calls if c.principal == role.arn]
    unused_actions = tuple(a for a in actions if not any(matches(a, c.action, ignore_case=True) for c in mine))
    unused_resources = tuple(r for r in resources if not any(matches(r, c.resource) for c in mine))
    if not unused_actions and not unused_resources:
        return None
    return Unused(role, policy, index, str(statement.get("Sid", "")), unused_actions, unused_resources)


def unused_grants(deployment: Deployment, results: Sequence[Evaluated]) -> tuple[list[Unused], list[Role]]:
    """Per role statement: the actions (on each resource pattern) that no allowed call of the role used; and
    the roles no call uses at all."""
    used = _used_by_statement(results)
    callers = {r.call.principal for r in results}
    unused: list[Unused] = []
    for role in deployment.roles.values():
        for policy in role.policies:
            for index, statement in enumerate(policy.statements(), start=1):
                found = _statement_unused(role, policy, index, statement, used.get((policy.id, index), []))
                if statement.get("Effect") == "Allow" and found:
                    unused.append(found)
    idle = [role for role in deployment.roles.values() if role.arn not in callers]
    return unused, idle


# --- mutations -----------------------------------------------------------------------------------------------


@dataclass
class Mutation:
    """One statement deleted: the allowed calls it granted, and those of them the check then denies."""

    policy: Policy
    statement: int
    sid: str
    dependents: list[Evaluated]
    caught: list[Evaluated] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.caught


def mutation_candidates(report: Report) -> list[tuple[Policy, int, list[Evaluated]]]:
    """Every statement some allowed call was granted by, with those calls."""
    policies = {p.id: p for p in report.deployment.policies()}
    dependents: dict[tuple[str, int], list[Evaluated]] = defaultdict(list)
    for result in report.results:
        if result.allowed:
            for grant in result.decision.grants:
                if grant.policy_id in policies and grant.statement:
                    dependents[(grant.policy_id, grant.statement)].append(result)
    return [(policies[pid], index, calls) for (pid, index), calls in sorted(dependents.items())]


def _replace(request: Request, old: str, new: Policy, ident: str) -> Request:
    """The request with policy ``old`` replaced by its mutant ``new`` (a policy left without statements is
    no policy at all; the endpoint policy keeps an allow-nothing statement instead)."""
    keep = bool(new.statements())

    def swap(ids: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(new.id if i == old else i for i in ids if i != old or keep)

    resource = request.resource_policy
    if resource == old:
        resource = new.id if keep else None
    return dataclasses.replace(
        request, id=ident, identity=swap(request.identity), resource_policy=resource, endpoints=swap(request.endpoints)
    )


def mutate(report: Report, candidates: Sequence[tuple[Policy, int, list[Evaluated]]]) -> list[Mutation]:
    """Delete each candidate statement in turn and evaluate its dependent calls again (one batch)."""
    documents = _documents(report.deployment)
    mutations, requests = [], []
    for n, (policy, index, dependents) in enumerate(candidates):
        mutated = policy.without(index)
        if not mutated.statements() and policy.kind == "endpoint":
            mutated.document["Statement"] = [_NOTHING]
        documents[mutated.id] = mutated.document
        sid = str(policy.statements()[index - 1].get("Sid", ""))
        mutations.append(Mutation(policy, index, sid, dependents))
        for k, result in enumerate(dependents):
            assert result.request is not None
            requests.append(_replace(result.request, policy.id, mutated, f"{n}/{k}"))
    decisions = evaluate(requests, documents)
    for request, decision in zip(requests, decisions, strict=True):
        n, k = (int(part) for part in request.id.split("/"))
        if not decision.allowed:
            mutations[n].caught.append(mutations[n].dependents[k])
    return mutations


def sample(candidates: Sequence[Any], size: int) -> list[Any]:
    """An evenly spread, deterministic sample (every policy kind, several roles)."""
    if size >= len(candidates):
        return list(candidates)
    step = len(candidates) / size
    return [candidates[int(i * step)] for i in range(size)]
