"""The allowance table: grants kept on purpose although no declared or recorded call uses them, each with its
reason. The report prints a grant an allowance covers as KEPT (with the reason) instead of UNUSED, and an
allowance that covers no grant as STALE: the grant it explained is gone, or a call now uses it, and the row goes.

A row names the role (a glob on ``<stack>/<logical id>``, the stack name without the app's prefix so that a second
copy of the app matches too), the actions it explains and, for a grant whose actions are used but not on every
resource, the resources it explains. Keep it short: a grant no call needs is removed, not allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tools.iam.check import Report, Unused, matches


@dataclass(frozen=True)
class Allowance:
    role: str  # glob on the role's label, <stack>/<logical id>
    actions: tuple[str, ...]  # the unused actions it explains (globs)
    reason: str
    resources: tuple[str, ...] = ()  # the unused resources it explains (globs), for grants whose actions are used

    def applies_to(self, label: str) -> bool:
        return matches(self.role, label)

    def covers(self, unused: Unused) -> bool:
        """Every unused action of the statement is one it explains, and every unused resource is one it explains
        or one that is unused only because the statement's actions are (all of them explained)."""
        if not self.applies_to(unused.role.label):
            return False
        if not all(self._explains(action) for action in unused.actions):
            return False
        statement = unused.policy.statements()[unused.statement - 1]
        actions = statement.get("Action", [])
        every_action = all(self._explains(a) for a in ([actions] if isinstance(actions, str) else actions))
        return all(every_action or any(matches(r, resource) for r in self.resources) for resource in unused.resources)

    def _explains(self, action: str) -> bool:
        return any(matches(a, action, ignore_case=True) for a in self.actions)

    def describe(self) -> str:
        what = ", ".join(self.actions) or "(actions used)"
        return f"{self.role}  {what}" + (f"  on {', '.join(self.resources)}" if self.resources else "")


ALLOWANCES: tuple[Allowance, ...] = (
    # --- grants kept for a documented service behaviour the table cannot declare ---------------------------------
    Allowance(
        "*-training/TrainingWorkflowRole*",
        (),
        "CDK's LambdaInvoke task grants lambda:InvokeFunction on the function and on its versions and aliases "
        "(<arn>:*) in one statement; the EvaluateMetrics state invokes the unqualified function, so the qualified "
        "ARNs go unused, and dropping them would mean replacing CDK's task with hand-written JSON",
        resources=("arn:*:lambda:*:function:*:*",),
    ),
    Allowance(
        "*-glue-etl/EtlCrawlerRole*",
        ("glue:GetTables", "glue:GetPartition", "glue:GetPartitions", "glue:CreatePartition", "glue:UpdatePartition"),
        "Glue documents a crawler's Data Catalog permissions only as AWSGlueServiceRole (glue:* on *) 'or a scoped "
        "down version' (https://docs.aws.amazon.com/glue/latest/dg/crawler-prereqs.html, checked 2026-12), not "
        "the calls a crawl makes; the table declares what the schema change policy implies (batch partition calls), "
        "and these single-partition and table-listing actions on the lake database stay so that a crawl does not "
        "depend on which of the two forms Glue uses",
    ),
)


def apply(report: Report, table: Sequence[Allowance] = ALLOWANCES) -> dict[Allowance, bool]:
    """Move the unused grants an allowance covers from ``report.unused`` to ``report.kept``; return, for each
    allowance whose role is in the deployment, whether it covered a grant."""
    labels = {role.label for role in report.deployment.roles.values()}
    seen = {a: False for a in table if any(a.applies_to(label) for label in labels)}
    remaining = []
    for unused in report.unused:
        allowance = next((a for a in table if a.covers(unused)), None)
        if allowance is None:
            remaining.append(unused)
        else:
            report.kept.append((unused, allowance))
            seen[allowance] = True
    report.unused = remaining
    return seen


def stale(table: Sequence[Allowance], seen: Iterable[dict[Allowance, bool]], *, every_variant: bool) -> list[Allowance]:
    """The allowances that covered no grant: of those whose role exists in some checked variant, the ones that
    covered nothing anywhere; with ``every_variant`` checked, also the ones whose role exists in none."""
    found: dict[Allowance, bool] = {}
    for variant in seen:
        for allowance, used in variant.items():
            found[allowance] = found.get(allowance, False) or used
    return [a for a in table if (a in found and not found[a]) or (a not in found and every_variant)]
