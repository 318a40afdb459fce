"""``make local``: deploy every stack into a local moto server and run the worked example end to end, offline.

``python -m local_sandbox [--events N] [--seed S] [--port P] [--outdir DIR] [-c KEY=VALUE ...] [--no-destroy]
[--keep-running] [--record-iam FILE]``

0. refuses at once, before anything starts, a ``--port`` that cannot be listened on and an ``--outdir`` that
   another run holds (``local_sandbox.outdir``: one run per output folder);
1. starts moto on ``localhost`` (a free port unless ``--port``), with the local emulation installed;
2. ``cdk bootstrap`` and ``cdk deploy --all --method=direct`` of the sandbox profile with strong cross-stack
   references (the CDK CLI, unmodified), both synthesizing into ``--outdir``, never into ``cdk.out``;
3. runs the worked example (``local_sandbox.run``); with ``--record-iam FILE``, the AWS requests of our own
   code (the evaluation and drift-job handlers) are recorded into FILE for the IAM check (``make verify-iam``);
4. ``cdk destroy --all --force``, then ``make leftovers``' scan of the local server: what remains must be what
   docs/runbook.md says a sandbox destroy leaves (unless ``--no-destroy`` or ``--keep-running``);
5. prints a summary and stops the server, also on failure.

SIGINT (Ctrl-C) or SIGTERM, whatever stage is running, ends the run with one line (``interrupted by ...
during <stage>; not done: ...``) once the CDK CLI, Spark's JVM and the server are stopped
(``local_sandbox.interrupts``); ``--keep-running``'s wait, after a complete run, ends with Ctrl-C and exit 0.

Exit status: 0 success; 1 a step failed (one line says which, the CDK CLI's output is in
``<outdir>/deploy.log``); 2 refused to start (bad arguments, ``--port`` in use, ``--outdir`` held by another
run); 130 interrupted.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local_sandbox import interrupts
from local_sandbox.deploy import DEFAULT_OUTDIR, DeployError, bootstrap, deploy, destroy
from local_sandbox.outdir import OutdirInUseError, claim
from local_sandbox.run import DEFAULT_EVENTS, DEFAULT_SEED, RunResult, check_teardown, run_worked_example
from local_sandbox.server import PortInUseError, check_port, local_aws


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1")
    return value


def _label_bias(text: str) -> str:
    """``--label-bias``: checked here (one clear line, exit 2), handed to the producer as written."""
    from worked_example.generator import label_bias_argument

    label_bias_argument(text)
    return text


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text}: a TCP port, 0-65535 (0: a free one)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local_sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=_positive, default=DEFAULT_EVENTS, help="events to send (%(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed (%(default)s)")
    parser.add_argument(
        "--label-bias",
        type=_label_bias,
        metavar="FIELD=VALUE:SHIFT",
        help="bias the generated labels of one facet value, e.g. customer_tier=bronze:1.5 (the bias reports show it)",
    )
    parser.add_argument("--port", type=_port, default=0, help="moto server port (default: a free one)")
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


#: The run's stages, in order: the interrupted line names the one running and those not done.
SERVER, BOOTSTRAP, DEPLOY, EXAMPLE, DESTROY, SUMMARY = (
    "starting the local server",
    "cdk bootstrap",
    "cdk deploy",
    "the worked example",
    "cdk destroy and the leftovers check",
    "the summary",
)
STAGES = (SERVER, BOOTSTRAP, DEPLOY, EXAMPLE, DESTROY, SUMMARY)
SERVING = "serving until Ctrl-C (--keep-running)"
#: Short names of the worked example's steps (``run._Steps``), for the interrupted line.
STEP_NAMES = {1: "producer", 2: "Firehose bridge", 3: "training workflow", 4: "crawlers", 5: "endpoint", 6: "drift"}
_STEP_LINE = re.compile(r"\[(\d+)/(\d+)\] ")
_STATE_LINE = re.compile(r"\s+state (\w+) \(")
EXIT_REFUSED = 2  # as argparse's bad arguments: nothing was started


class _Run:
    """One run: its stages, in order, and which one is running (for the interrupted line)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.destroy = not (args.keep_running or args.no_destroy)
        self.stage = SERVER
        self.step: tuple[int, int] | None = None
        self.state: str | None = None
        self.endpoint = "(not started)"
        self.started = time.perf_counter()

    def enter(self, stage: str, line: str | None = None) -> None:
        self.stage = stage
        if line:
            print(line, flush=True)

    def progress(self, message: str) -> None:
        """The worked example's progress lines: printed, and the step and workflow state they start noted."""
        interrupts.check()  # an interrupt swallowed by the code it landed in ends the run here
        if step := _STEP_LINE.match(message):
            self.step, self.state = (int(step.group(1)), int(step.group(2))), None
        elif state := _STATE_LINE.match(message):
            self.state = state.group(1)
        print(message, flush=True)

    def execute(self) -> None:
        args = self.args
        log = args.outdir / "deploy.log"
        log.unlink(missing_ok=True)
        with local_aws(args.port) as aws:
            self.endpoint = aws.endpoint_url
            print(f"==> local AWS (moto) at {self.endpoint}; the CDK CLI's output goes to {log}", flush=True)
            self.enter(BOOTSTRAP, "==> cdk bootstrap")
            bootstrap(aws, args.outdir, log, context=args.context)
            self.enter(DEPLOY, "==> cdk deploy --all --method=direct (strong cross-stack references)")
            deployed_at = time.perf_counter()
            deploy(aws, args.outdir, log, context=args.context)
            print(f"    deployed in {time.perf_counter() - deployed_at:.1f} s", flush=True)
            self.enter(EXAMPLE, "==> the worked example")
            with tempfile.TemporaryDirectory(prefix="work-", dir=args.outdir) as work:
                result = run_worked_example(
                    aws,
                    Path(work),
                    events=args.events,
                    seed=args.seed,
                    record_iam=args.record_iam,
                    progress=self.progress,
                    label_bias=args.label_bias,
                )
            if self.destroy:
                self.enter(DESTROY, "==> cdk destroy --all, then `make leftovers` against the local server")
                _destroy(aws, args.outdir, log)
            self.enter(SUMMARY)
            print(summary(result, time.perf_counter() - self.started, self.endpoint), flush=True)
            if args.keep_running:
                self.enter(SERVING, f"==> serving at {self.endpoint} until Ctrl-C (AWS_ENDPOINT_URL={self.endpoint})")
                while True:
                    time.sleep(3600)
        print(f"==> stopped the local server at {self.endpoint}", flush=True)

    def interrupted(self, signame: str) -> str:
        """One line: the signal, the stage it stopped, what was not done."""
        where, rest = self.stage, [s for s in STAGES[STAGES.index(self.stage) :] if self.destroy or s != DESTROY]
        if self.stage == EXAMPLE and self.step is not None:
            number, count = self.step
            where = f"step {number}/{count} of the worked example ({STEP_NAMES.get(number, 'step')}"
            where += f", state {self.state})" if self.state else ")"
            rest[0] = f"steps {number}-{count} of the worked example" if number < count else f"step {count} of it"
        server = f"the local server ({self.endpoint})" if self.stage != SERVER else "the local server"
        return (
            f"local sandbox: interrupted by {signame} during {where}; not done: {', '.join(rest)}; "
            f"{server} and every process the run started are stopped"
        )

    def outcome(self, exc: BaseException) -> int:
        """The exit status of a run that ended with ``exc``, and its one line."""
        signal_received = interrupts.received()
        if signal_received is None and not isinstance(exc, KeyboardInterrupt):
            if not isinstance(exc, (DeployError, RuntimeError)):
                raise exc
            print(f"local sandbox failed: {exc} (the local server at {self.endpoint} is stopped)", file=sys.stderr)
            return 1
        signame = signal_received.signame if signal_received else "SIGINT"
        if self.stage == SERVING:  # the run was complete: Ctrl-C is how --keep-running ends
            print(f"\n==> {signame}: stopped the local server at {self.endpoint}", flush=True)
            return 0
        print(f"\n{self.interrupted(signame)}", file=sys.stderr)
        return interrupts.EXIT_INTERRUPTED


def _destroy(aws: Any, outdir: Path, log: Path) -> None:
    """``cdk destroy --all``, then the leftovers scan: only what the runbook lists may remain."""
    destroy(aws, outdir, log)
    teardown = check_teardown(aws)
    for line in teardown.expected:
        print(f"    left, as docs/runbook.md says a sandbox destroy leaves: {line}", flush=True)
    if teardown.unexpected:
        for line in teardown.unexpected:
            print(f"    NOT EXPECTED: {line}", flush=True)
        raise RuntimeError(f"cdk destroy left {len(teardown.unexpected)} unexpected resource(s), listed above")


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """The run; ``own_process``: this process is the run's (``python -m local_sandbox``), so every process it
    still has at the end is the run's and is stopped."""
    args = build_parser().parse_args(argv)
    run = _Run(args)
    with interrupts.handling():
        try:
            try:
                check_port(args.port)  # before anything starts: a busy port is refused at once
                with claim(args.outdir):
                    run.execute()
            finally:
                if own_process:  # not when called in another program's process: its JVM and children are its own
                    interrupts.stop_spark_jvm()  # stopped already, but its process lives until this one ends
                    interrupts.stop_jsii()
                    interrupts.stop_children()  # anything else this process started and did not stop
        except PortInUseError as exc:
            print(f"local sandbox: {exc} (--port); choose another, or leave --port out for a free one", file=sys.stderr)
            return EXIT_REFUSED
        except OutdirInUseError as exc:
            print(f"local sandbox: {exc}; wait for it to end, or give this run its own --outdir", file=sys.stderr)
            return EXIT_REFUSED
        except (KeyboardInterrupt, Exception) as exc:
            return run.outcome(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main(own_process=True))
