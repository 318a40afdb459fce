"""``make local``: deploy every stack into a local moto server and run the worked example end to end, offline.

``python -m local_sandbox [--events N] [--seed S] [--port P] [-c KEY=VALUE ...] [--no-destroy] [--keep-running]
[--record-iam FILE]``

1. starts moto on ``localhost`` (a free port unless ``--port``), with the local emulation installed;
2. ``cdk bootstrap`` and ``cdk deploy --all --method=direct`` of the sandbox profile with strong cross-stack
   references (the CDK CLI, unmodified);
3. runs the worked example (``local_sandbox.run``); with ``--record-iam FILE``, the AWS requests of our own
   code (the evaluation and drift-job handlers) are recorded into FILE for the IAM check (``make verify-iam``);
4. ``cdk destroy --all --force``, then ``make leftovers``' scan of the local server: what remains must be what
   docs/runbook.md says a sandbox destroy leaves (unless ``--no-destroy`` or ``--keep-running``);
5. prints a summary and stops the server, also on failure, Ctrl-C or SIGTERM.

Exit status: 0 success; 1 a step failed (one line says which, the CDK CLI's output is in
``cdk.local.out/deploy.log``); 2 bad arguments; 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local_sandbox.deploy import DEFAULT_OUTDIR, DeployError, bootstrap, deploy, destroy
from local_sandbox.run import DEFAULT_EVENTS, DEFAULT_SEED, RunResult, check_teardown, run_worked_example


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local_sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=_positive, default=DEFAULT_EVENTS, help="events to send (%(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed (%(default)s)")
    parser.add_argument("--port", type=int, default=0, help="moto server port (default: a free one)")
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra CDK context for the deploy, e.g. -c training.gate.recall=0.4",
    )
    parser.add_argument("--outdir", type=Path, default=DEFAULT_OUTDIR, help="cloud assembly and logs (%(default)s)")
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="after the run, keep the stacks and the server up (print its endpoint) until Ctrl-C",
    )
    parser.add_argument(
        "--no-destroy", action="store_true", help="skip the final `cdk destroy --all` and its leftovers check"
    )
    parser.add_argument(
        "--record-iam",
        type=Path,
        metavar="FILE",
        help="record our own code's AWS requests (as its function's role) into FILE, for `make verify-iam`",
    )
    return parser


def summary(result: RunResult, total: float, endpoint: str) -> str:
    lines = ["", "local sandbox: summary", f"  endpoint (stopped at exit)  {endpoint}"]
    for timing in result.timings:
        lines.append(f"  {timing.seconds:7.1f} s  {timing.title}")
    lines.append(f"  {total:7.1f} s  total")
    if result.execution and result.execution.status == "SUCCEEDED":
        state = result.execution.last_state or {}
        metrics = state.get("evaluation", {}).get("metrics") or (result.execution.output or {}).get("metrics", {})
        kept = result.execution.history[-1][0] == "ChampionKept"
        lines.append(
            "  quality gate: passed ("
            + ", ".join(f"{k} {metrics[k]:.3f}" for k in ("auc", "precision", "recall", "f1") if k in metrics)
            + ("); the serving model scored better and was kept" if kept else "); rolled out")
        )
    for label, report in result.drift_runs.items():
        lines.append(
            f"  drift, {label} hour: {report['violations']} violations {report['drifted_features']}; "
            f"alarm {result.alarm_states[label]}"
        )
    for crawl in result.crawls:
        lines.append(
            f"  crawler {crawl.crawler}: tables created {crawl.tables_created}, "
            f"partitions added {crawl.partitions_added}"
        )
    lines.append(f"  notifications on the alerts topic: {len(result.notifications)}")
    if result.recorded_calls:
        lines.append(f"  recorded calls of our own code (distinct): {result.recorded_calls}")
    lines.append("  objects written (where the deployed stacks say they live):")
    lines += [f"    {count:6d}  {where}" for where, count in result.zones.items()]
    return "\n".join(lines)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from local_sandbox.server import local_aws

    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    log = args.outdir / "deploy.log"
    log.unlink(missing_ok=True)
    endpoint = "(not started)"
    try:
        with local_aws(args.port) as aws:
            endpoint = aws.endpoint_url
            print(f"==> local AWS (moto) at {endpoint}; the CDK CLI's output goes to {log}", flush=True)
            print("==> cdk bootstrap", flush=True)
            bootstrap(aws, log)
            print("==> cdk deploy --all --method=direct (strong cross-stack references)", flush=True)
            deployed_at = time.perf_counter()
            deploy(aws, args.outdir, log, context=args.context)
            print(f"    deployed in {time.perf_counter() - deployed_at:.1f} s", flush=True)
            print("==> the worked example", flush=True)
            args.outdir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="work-", dir=args.outdir) as work:
                result = run_worked_example(
                    aws, Path(work), events=args.events, seed=args.seed, record_iam=args.record_iam
                )
            if not (args.keep_running or args.no_destroy):
                print("==> cdk destroy --all, then `make leftovers` against the local server", flush=True)
                destroy(aws, args.outdir, log)
                teardown = check_teardown(aws)
                for line in teardown.expected:
                    print(f"    left, as docs/runbook.md says a sandbox destroy leaves: {line}", flush=True)
                if teardown.unexpected:
                    for line in teardown.unexpected:
                        print(f"    NOT EXPECTED: {line}", flush=True)
                    raise RuntimeError(
                        f"cdk destroy left {len(teardown.unexpected)} unexpected resource(s), listed above"
                    )
            print(summary(result, time.perf_counter() - started, endpoint), flush=True)
            if args.keep_running:
                print(f"==> serving at {endpoint} until Ctrl-C (AWS_ENDPOINT_URL={endpoint})", flush=True)
                while True:
                    time.sleep(3600)
    except KeyboardInterrupt:
        print(f"\ninterrupted; the local server at {endpoint} is stopped", file=sys.stderr)
        return 0 if args.keep_running else 130
    except (DeployError, RuntimeError) as exc:
        print(f"local sandbox failed: {exc} (the local server at {endpoint} is stopped)", file=sys.stderr)
        return 1
    print(f"==> stopped the local server at {endpoint}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
