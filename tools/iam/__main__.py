"""``python -m tools.iam``: the offline IAM check (``make verify-iam``).

For each variant: synthesize the app, resolve the templates to one deploy, derive the declared calls (and
read recorded ones), evaluate every call against the identity, resource and VPC endpoint policies, and print
each denied call, each grant no call uses (UNUSED, or KEPT with the reason of the allowance that keeps it) and
each role no call uses, then a summary; at the end, each allowance that kept no grant (STALE). ``--mutations``
deletes every statement a call was granted by, one at a time, and checks that the check then denies that call.

Exit status: 0 when no call is denied, 1 when one is (or a mutation survives), 2 on a usage, template or
evaluator error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools.iam import allowances, check, report
from tools.iam.allowances import Allowance
from tools.iam.calls import RecordedCallError, ResolveName, read_recorded
from tools.iam.cfn import UnresolvedTokenError
from tools.iam.declared import declared_calls
from tools.iam.deployment import Deployment, MissingPolicyError
from tools.iam.evaluate import EvaluatorError
from tools.iam.synth import VARIANTS, synthesize


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.iam", description=__doc__.split("\n\n")[1])
    parser.add_argument("--variant", action="extend", nargs="+", choices=sorted(VARIANTS), help="default: all four")
    parser.add_argument(
        "-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="extra context, every variant"
    )
    parser.add_argument(
        "--recorded", type=Path, metavar="FILE", help="recorded calls, JSON lines (see tools/iam/calls.py)"
    )
    parser.add_argument("--mutations", action="store_true", help="delete each granting statement; expect a denial")
    parser.add_argument("--sample", type=int, default=0, help="with --mutations: only this many statements")
    parser.add_argument("--no-unused", action="store_true", help="do not list unused grants and idle roles")
    parser.add_argument(
        "--no-allowances", action="store_true", help="report every unused grant as UNUSED (ignore tools/iam/allowances)"
    )
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.context):
        parser.error("--context takes key=value")
    if args.recorded is not None and not args.recorded.is_file():
        parser.error(f"--recorded {args.recorded}: no such file")
    return args


def _resolve_names(deployment: Deployment) -> ResolveName:
    """A recorded placeholder's value: the resource's ``Ref`` or attribute, None if the templates lack it."""

    def resolve(stack: str, logical_id: str, attribute: str | None) -> str | None:
        try:
            return str(deployment.resolver.attribute(stack, logical_id, attribute or "Ref"))
        except (UnresolvedTokenError, KeyError):
            return None

    return resolve


def check_variant(name: str, args: argparse.Namespace) -> tuple[int, int, dict[Allowance, bool]]:
    """Print the findings of one variant; return (denied calls, surviving mutations, which allowances apply to
    the variant's roles and whether each kept a grant)."""
    overrides = {**VARIANTS[name], **dict(pair.split("=", 1) for pair in args.context)}
    started = time.perf_counter()
    deployment = Deployment(synthesize(overrides), name=name)
    synthesized = time.perf_counter()
    calls = declared_calls(deployment)
    skipped: list[str] = []
    recorded = (
        list(
            read_recorded(
                args.recorded,
                lambda ref: getattr(deployment.role(ref), "arn", None),
                _resolve_names(deployment),
                skipped,
            )
        )
        if args.recorded
        else []
    )
    if skipped:
        reasons = "; ".join(dict.fromkeys(line.split(": ", 1)[-1] for line in skipped))
        print(f"{name}: {len(skipped)} recorded call(s) left out, not in this variant: {reasons}")
    result = check.run(deployment, [*calls, *recorded])
    seen = allowances.apply(result, () if args.no_allowances else allowances.ALLOWANCES)
    for line in report.lines(name, result, unused=not args.no_unused):
        print(line)
    survived = 0
    if args.mutations:
        candidates = check.mutation_candidates(result)
        chosen = check.sample(candidates, args.sample) if args.sample else candidates
        mutations = check.mutate(result, chosen)
        for mutation in mutations:
            print(report.format_mutation(name, mutation))
        survived = sum(m.survived for m in mutations)
        caught = len(mutations) - survived
        print(f"{name}: mutations: {len(mutations)} statements deleted, {caught} caught, {survived} survived")
    finished = time.perf_counter()
    print(report.summary(name, result, (synthesized - started, finished - synthesized), len(recorded)))
    if result.errors:
        raise EvaluatorError(f"{name}: {len(result.errors)} call(s) could not be evaluated (ERROR lines)")
    return len(result.denied), survived, seen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    denied = survived = 0
    variants = args.variant or list(VARIANTS)
    seen = []
    try:
        for name in variants:
            d, s, applied = check_variant(name, args)
            denied, survived = denied + d, survived + s
            seen.append(applied)
    except (EvaluatorError, UnresolvedTokenError, MissingPolicyError, RecordedCallError, KeyError) as exc:
        print(f"iam check: {exc}", file=sys.stderr)
        return 2
    if not (args.no_unused or args.no_allowances):
        every_variant = set(variants) >= set(VARIANTS)
        for allowance in allowances.stale(allowances.ALLOWANCES, seen, every_variant=every_variant):
            print(report.format_stale(allowance, variants))
    print(f"iam check: {denied} denied call(s)" + (f", {survived} surviving mutation(s)" if args.mutations else ""))
    return 1 if denied or survived else 0


if __name__ == "__main__":
    sys.exit(main())
