"""The check's report: one line per finding, then a summary line per variant."""

from __future__ import annotations

from collections.abc import Sequence

from tools.iam.allowances import Allowance
from tools.iam.check import Evaluated, Mutation, Report, Unused
from tools.iam.deployment import Deployment
from tools.iam.evaluate import Reason


def principal_label(deployment: Deployment, principal: str) -> str:
    role = deployment.roles.get(principal)
    return role.label if role else principal


def _policy_label(deployment: Deployment, policy_id: str | None) -> str:
    for policy in deployment.policies():
        if policy.id == policy_id:
            return policy.label
    return str(policy_id)


def _statement(reason: Reason) -> str:
    return reason.sid or f"statement {reason.statement}"


def why_denied(deployment: Deployment, result: Evaluated) -> str:
    """Which policy denied the call, or which policies failed to allow it."""
    decision, request = result.decision, result.request
    explicit = [d for d in decision.denials if d.explicit]
    if explicit:
        return "; ".join(
            f"explicit Deny in {_policy_label(deployment, d.policy_id)} [{_statement(d)}]" for d in explicit
        )
    missing = []
    for kind in dict.fromkeys(d.policy_type for d in decision.denials) or ["identity"]:
        if kind == "identity":
            ids = request.identity if request else ()
            names = ", ".join(_policy_label(deployment, i) for i in ids) or "no identity policy"
            missing.append(f"no Allow in the identity policies ({names})")
        elif kind == "resource":
            policy = request.resource_policy if request else None
            missing.append(
                f"no Allow in {_policy_label(deployment, policy) if policy else 'a resource policy (there is none)'}"
            )
        elif kind == "vpce":
            labels = ", ".join(_policy_label(deployment, i) for i in (request.endpoints if request else ()))
            missing.append(f"no Allow in the VPC endpoint policy {labels}")
        else:
            missing.append(f"no Allow in the {kind} policies")
    return " and ".join(missing)


def format_denied(variant: str, deployment: Deployment, result: Evaluated) -> str:
    call = result.call
    return (
        f"DENIED  [{variant}] {principal_label(deployment, call.principal)}  {call.action}  {call.resource}"
        f"  -- {why_denied(deployment, result)}  ({call.source}: {call.why})"
    )


def format_error(variant: str, deployment: Deployment, result: Evaluated) -> str:
    call = result.call
    return (
        f"ERROR   [{variant}] {principal_label(deployment, call.principal)}  {call.action}  {call.resource}"
        f"  -- {result.decision.error}  ({call.source}: {call.why})"
    )


def _unused_parts(unused: Unused) -> str:
    statement = unused.sid or f"statement {unused.statement}"
    parts = []
    if unused.actions:
        parts.append(f"actions {', '.join(unused.actions)}")
    if unused.resources:
        parts.append(f"resources {', '.join(unused.resources)}")
    return f"{unused.role.label}  {unused.policy.label} [{statement}]  no call uses " + "; ".join(parts)


def format_unused(variant: str, unused: Unused) -> str:
    return f"UNUSED  [{variant}] {_unused_parts(unused)}"


def format_kept(variant: str, unused: Unused, allowance: Allowance) -> str:
    return f"KEPT    [{variant}] {_unused_parts(unused)}  -- {allowance.reason}"


def format_stale(allowance: Allowance, variants: Sequence[str]) -> str:
    return f"STALE   {allowance.describe()}  -- covers no unused grant in {', '.join(variants)}: {allowance.reason}"


def format_mutation(variant: str, mutation: Mutation) -> str:
    statement = mutation.sid or f"statement {mutation.statement}"
    head = f"[{variant}] {mutation.policy.label} [{statement}]"
    if mutation.survived:
        count = len(mutation.dependents)
        return f"SURVIVED {head}: deleting it denies none of its {count} calls (another statement grants them)"
    first = mutation.caught[0].call
    return (
        f"CAUGHT  {head}: {len(mutation.caught)} call(s) denied, e.g. {first.action} {first.resource} ({first.source})"
    )


def lines(variant: str, report: Report, *, unused: bool = True) -> list[str]:
    d = report.deployment
    out = [format_error(variant, d, r) for r in report.errors]
    out += [format_denied(variant, d, r) for r in report.denied]
    if unused:
        out += [format_unused(variant, u) for u in report.unused]
        out += [format_kept(variant, u, a) for u, a in report.kept]
        out += [
            f"IDLE    [{variant}] {role.label}: no call uses this role (trusted: {', '.join(role.services) or '-'})"
            for role in report.idle_roles
        ]
    return out


def summary(variant: str, report: Report, seconds: Sequence[float], recorded: int) -> str:
    synth, check = seconds
    total = len(report.results)
    return (
        f"{variant}: {total} calls ({total - recorded} declared, {recorded} recorded), "
        f"{len(report.denied)} denied, {len(report.errors)} errors, {len(report.unused)} unused grants, "
        f"{len(report.kept)} kept, {len(report.idle_roles)} idle roles; synth {synth:.1f} s, check {check:.1f} s"
    )
