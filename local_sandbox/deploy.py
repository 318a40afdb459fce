"""Deploy the app into the local server with the unmodified CDK CLI: ``cdk bootstrap``, then ``cdk deploy``.

The CLI is the project's pinned one (``node_modules/.bin/cdk``, what ``make`` uses); the only differences from
a deploy to AWS are the environment (``LocalAws.environ``: endpoint, dummy credentials) and one context value,
``STRONG_REFERENCES``. Every CLI command synthesizes into the run's own output folder (``--output``; ``cdk
bootstrap`` synthesizes the app too), never into the repository's ``cdk.out``. ``--method=direct`` because moto
5.2's change sets lose the stacks' outputs and exports.

The CLI runs in a process group of its own: an interrupt, or any error while it runs, stops the group (the CLI
and the app it synthesizes) before the server it talks to goes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from local_sandbox.interrupts import stop_process
from local_sandbox.server import LocalAws

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"
DEFAULT_OUTDIR = ROOT / "cdk.local.out"
#: CLI output lines worth echoing (the rest goes to the log file): stack results and failures.
_ECHO = ("✅", "❌", "creating stack", "failed", "Error", "error:")
#: Noise from the SDK about Node 20's end of support, which the CLI prints on every run.
_NOISE = (
    "NodeVersionSupportWarning",
    "versions published after",
    "will require node",
    "To continue receiving",
    "and security updates",
    "More information can be found",
    "node --trace-warnings",
)


#: moto's CloudFormation resolves Exports and Fn::ImportValue but not Fn::GetStackOutput, which the app's weak
#: cross-stack references (cdk.json's default) render: the local deploy asks for strong ones, as context. The
#: app itself knows nothing of the sandbox.
STRONG_REFERENCES = "@aws-cdk/core:defaultCrossStackReferences=strong"


class DeployError(RuntimeError):
    """A CDK CLI command failed; the message names the command and the log file."""


def _node_major() -> str:
    out = subprocess.run(["node", "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True)
    return out.stdout.strip() or "20"


def run_cdk(aws: LocalAws, args: Sequence[str], log: Path, echo: bool = True) -> None:
    """Run ``cdk <args>`` against the local server; all output to ``log``, the important lines to stdout."""
    if not CDK.exists():
        raise DeployError(f"{CDK} not found: run `make setup` (npm ci installs the pinned CDK CLI)")
    env = aws.environ()
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = _node_major()
    command = [str(CDK), *args, "--no-notices"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ cdk {' '.join(args)}\n")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        try:
            for line in process.stdout:
                out.write(line)
                if echo and any(mark in line for mark in _ECHO) and not any(n in line for n in _NOISE):
                    print(f"    {line.rstrip()}", flush=True)
            code = process.wait()
        except BaseException:  # Ctrl-C, SIGTERM: the CLI must not outlive the server it talks to
            stop_process(process, group=True)
            raise
    if code != 0:
        raise DeployError(f"`cdk {' '.join(args[:2])}` exited with {code}; the full output is in {log}")


def bootstrap(aws: LocalAws, outdir: Path, log: Path, context: Sequence[str] = ()) -> None:
    """``cdk bootstrap aws://<moto account>/<region>``: the real bootstrap stack, in moto. The CLI synthesizes
    the app first (as ``deploy`` will, with the same context) into ``outdir``."""
    args = ["bootstrap", f"aws://{aws.account}/{aws.region}", "--output", str(outdir), "-c", STRONG_REFERENCES]
    for item in context:
        args += ["-c", item]
    run_cdk(aws, args, log)


def deploy(aws: LocalAws, outdir: Path, log: Path, context: Sequence[str] = ()) -> dict[str, dict[str, str]]:
    """``cdk deploy --all --method=direct`` of the sandbox profile with strong references; returns the outputs."""
    outputs = outdir / "outputs.json"
    outputs.unlink(missing_ok=True)
    args = [
        "deploy",
        "--all",
        "--method=direct",
        "--require-approval",
        "never",
        "--progress",
        "events",
        "--output",
        str(outdir),
        "--outputs-file",
        str(outputs),
        "-c",
        STRONG_REFERENCES,
    ]
    for item in context:
        args += ["-c", item]
    run_cdk(aws, args, log)
    return json.loads(outputs.read_text())


def destroy(aws: LocalAws, outdir: Path, log: Path) -> None:
    """``cdk destroy --all --force`` of the deployed cloud assembly, as `make destroy` runs it."""
    run_cdk(aws, ["destroy", "--all", "--force", "--app", str(outdir), "--output", str(outdir)], log)
