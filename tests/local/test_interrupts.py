"""`make local` interrupted, refused or run twice at once, with real signals sent to real subprocesses.

Every run here is ``python -m local_sandbox`` (or, for Spark, the sandbox's own Spark entry: ``LocalTasks``
inside ``interrupts.handling()``) started in a session of its own, with a token in its environment that every
process it starts inherits (the CDK CLI and the app it synthesizes, Spark's JVM and its Python workers): after
the run ends, no process may carry the token any more. "Ctrl-C" is SIGINT to the run's process group, as a
terminal sends it; SIGTERM goes to the run's process only, as ``kill`` sends it.

The default run has the cheap cases (a busy port, a second run on the same output folder, an interrupt during
the deploy, an interrupt inside a Spark job); the ``interrupts`` marker (`make test-interrupts`) has one full
run interrupted at each later stage.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_sandbox.server import is_listening

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "LOCAL_SANDBOX_TEST_RUN"
EVENTS, SEED = 8_000, 20261124  # what tests/local/test_local_sandbox.py runs: the gate passes with them
# py4j's and Python's marks of an uncaught error; Spark's own WARN lines on stderr are expected
TRACEBACK_MARKS = ("Traceback", "Exception in thread", "py4j.protocol", "ERROR:")


class Run:
    """A subprocess in a session of its own, its stdout read line by line, its stderr kept in a file."""

    def __init__(self, argv: list[str], tmp_path: Path, cwd: Path = ROOT) -> None:
        self.token = uuid.uuid4().hex
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", TOKEN: self.token}
        self.stderr_file = tmp_path / f"stderr-{self.token}.txt"
        with self.stderr_file.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, *argv],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        _STARTED.append(self)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 300) -> re.Match[str]:
        """The first stdout line (from here on) that ``pattern`` matches; fails on the run's end or a timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        self.process.kill()
        raise AssertionError(f"no line matching {pattern!r}:\n{self.stdout}\n{self.stderr[-3000:]}")

    def interrupt(self, signum: int, *, ctrl_c: bool) -> None:
        """``ctrl_c``: to the process group, as a terminal's Ctrl-C; else to the process only, as ``kill``."""
        if ctrl_c:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def finish(self, timeout: float = 120) -> int:
        """The exit status, once the run's stdout is closed too (a process left holding it fails the test)."""
        code = self.process.wait(timeout=timeout)
        try:
            while (line := self._queue.get(timeout=10)) is not None:
                self.lines.append(line)
        except queue.Empty:
            raise AssertionError(f"the run's stdout is still open 10 s after its end: {self.leftovers()}") from None
        return code

    @property
    def stdout(self) -> str:
        return "\n".join(self.lines)

    @property
    def stderr(self) -> str:
        return self.stderr_file.read_text()

    def leftovers(self, grace: float = 3.0) -> list[str]:
        """Processes that still carry this run's token, ``grace`` seconds after its end at most."""
        deadline = time.monotonic() + grace
        while (found := _processes_with(f"{TOKEN}={self.token}")) and time.monotonic() < deadline:
            time.sleep(0.1)
        return found


_STARTED: list[Run] = []


@pytest.fixture(autouse=True)
def _stop_what_a_failed_test_left() -> Iterator[None]:
    """A run still going after its test (which failed, then) gets SIGTERM, as the sandbox documents, then SIGKILL."""
    yield
    while _STARTED:
        run = _STARTED.pop()
        if run.process.poll() is None:
            run.process.terminate()
            try:
                run.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(run.process.pid, signal.SIGKILL)
                run.process.wait()


def _processes_with(variable: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if variable.encode() in environ:
            found.append(f"{proc.name}: {command[:160]}")
    return found


def sandbox(*args: str) -> list[str]:
    return ["-m", "local_sandbox", *args]


def assert_interrupted(run: Run, code: int, signame: str, during: str) -> str:
    """Exit 130, the interrupted line last on stderr (naming the signal and the stage), no traceback, the server's
    port closed, no process of the run left. Returns the line."""
    stderr = run.stderr
    assert code == 130, f"{run.stdout}\n{stderr[-3000:]}"
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"local sandbox: interrupted by {signame} during {during}; not done: "), last
    assert last.endswith("and every process the run started are stopped"), last
    assert not [mark for mark in TRACEBACK_MARKS if mark in stderr], stderr[-3000:]
    endpoint = re.search(r"http://localhost:\d+", run.stdout)
    assert endpoint is None or not is_listening(endpoint.group(0))
    assert run.leftovers() == []
    return last


# --- Refused at once --------------------------------------------------------------------------------------------


def test_a_busy_port_is_refused_at_once_with_its_number_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        run = Run(sandbox("--port", str(port), "--outdir", str(tmp_path / "out")), tmp_path)
        code = run.finish(timeout=60)  # before the fix: no end at all (moto's server thread died, start() waited)
    assert (code, run.stdout) == (2, "")
    assert run.stderr.strip().splitlines() == [
        f"local sandbox: port {port} on localhost: already in use (--port); choose another, or leave --port out "
        "for a free one"
    ]
    assert time.monotonic() - started < 30
    assert not (tmp_path / "out").exists()  # nothing started: not even the output folder
    assert run.leftovers() == []


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The repository as the sandbox sees it (its ROOT is its own package's parent), with a user's ``cdk.out``:
    the package copied, everything else linked."""
    copy = tmp_path / "repo"
    copy.mkdir()
    skip = {".git", "cdk.out", "cdk.local.out", "local_sandbox", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
    for entry in ROOT.iterdir():
        if entry.name not in skip:
            (copy / entry.name).symlink_to(entry)
    shutil.copytree(ROOT / "local_sandbox", copy / "local_sandbox", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "cdk.out").mkdir()
    (copy / "cdk.out" / "manifest.json").write_text('{"a user\'s synth": true}')
    return copy


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every entry below ``path`` (links listed, not followed) with its size and modification time."""
    entries = {}
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            stat = os.lstat(os.path.join(folder, name))
            entries[os.path.relpath(os.path.join(folder, name), path)] = (stat.st_size, stat.st_mtime_ns)
    return entries


def test_a_second_run_is_refused_on_the_same_outdir_and_isolated_on_its_own_and_cdk_out_is_untouched(
    repo_copy, tmp_path
):
    """Run A holds its output folder; B, on the same one, is refused at once; C, on its own, gets its own server
    (another port), then is stopped by SIGTERM. A's bootstrap synthesizes into A's folder only; Ctrl-C during
    A's deploy stops the CLI and the server, and leaves nothing running."""
    before = _tree(repo_copy)
    out = tmp_path / "out"
    a = Run(sandbox("--outdir", str(out)), tmp_path, cwd=repo_copy)
    a_port = a.wait_for(r"local AWS \(moto\) at http://localhost:(\d+)").group(1)
    a.wait_for(r"^==> cdk bootstrap")

    b = Run(sandbox("--outdir", str(out)), tmp_path, cwd=repo_copy)
    assert b.finish(timeout=60) == 2
    (line,) = b.stderr.strip().splitlines()
    assert re.fullmatch(
        rf"local sandbox: {re.escape(str(out))} is in use by another run \(pid {a.process.pid}, started .+ UTC\); "
        r"wait for it to end, or give this run its own --outdir",
        line,
    ), line
    assert b.stdout == ""

    c = Run(sandbox("--outdir", str(tmp_path / "other")), tmp_path, cwd=repo_copy)
    c_port = c.wait_for(r"local AWS \(moto\) at http://localhost:(\d+)").group(1)
    assert c_port != a_port
    c.wait_for(r"^==> cdk bootstrap")
    c.interrupt(signal.SIGTERM, ctrl_c=False)
    assert_interrupted(c, c.finish(), "SIGTERM", "cdk bootstrap")

    a.wait_for(r"^==> cdk deploy")  # the bootstrap is done: it synthesized the app, into A's folder
    assert (out / "manifest.json").exists()
    time.sleep(1)  # the deploy's CLI is running
    a.interrupt(signal.SIGINT, ctrl_c=True)
    line = assert_interrupted(a, a.finish(), "SIGINT", "cdk deploy")
    assert "not done: cdk deploy, the worked example, cdk destroy and the leftovers check, the summary;" in line
    assert _tree(repo_copy) == before  # the user's cdk.out, and everything else outside the output folders


# --- Spark: Ctrl-C inside a running Spark job ------------------------------------------------------------------

# The sandbox's Spark entry as `make local` runs it (LocalTasks inside interrupts.handling(), the tasks closed and
# the JVM stopped on the way out), on a job that takes minutes: the interrupt lands inside a py4j call.
SPARK_RUN = """
import signal, sys
from pathlib import Path
from local_sandbox import interrupts
from local_sandbox.tasks import LocalTasks

with interrupts.handling():
    handler = signal.getsignal(signal.SIGINT)
    tasks = LocalTasks(aws=None, work=Path(sys.argv[1]), progress=print)
    try:
        try:
            spark = tasks.spark()
            assert signal.getsignal(signal.SIGINT) is handler, "Spark replaced the run's SIGINT handler"
            print("spark job running", flush=True)
            spark.range(10**12).selectExpr("sum(id * id)").collect()
        finally:
            tasks.close()
            interrupts.stop_spark_jvm()
    except interrupts.Interrupted as exc:
        print(f"interrupted by {exc.signame}", file=sys.stderr)
        sys.exit(130)
"""


def test_ctrl_c_inside_a_spark_job_stops_the_jvm_without_a_py4j_traceback(tmp_path):
    """Before: Spark's own SIGINT handler made a py4j call on the connection the interrupted call waits on, and
    py4j logged the interrupted call with its traceback; the run exited 1."""
    run = Run(["-c", SPARK_RUN, str(tmp_path)], tmp_path)
    run.wait_for("spark job running", timeout=180)
    time.sleep(2)  # the job is submitted: the main thread waits in py4j for its answer
    assert run.leftovers(grace=0), "Spark's JVM carries the run's token"
    run.interrupt(signal.SIGINT, ctrl_c=True)
    assert run.finish() == 130, run.stderr[-3000:]
    assert run.stderr.strip().splitlines()[-1] == "interrupted by SIGINT"
    assert not [mark for mark in TRACEBACK_MARKS if mark in run.stderr], run.stderr[-3000:]
    assert run.leftovers() == []


# --- In process: the interrupted line, the claim of the output folder, every CLI command's --output ----------------


def _stage_run(*extra: str) -> object:
    from local_sandbox import __main__ as cli

    run = cli._Run(cli.build_parser().parse_args(list(extra)))
    run.endpoint = "http://localhost:4566"
    return run


@pytest.mark.parametrize(
    ("extra", "stage", "lines", "where", "not_done"),
    [
        ([], "cdk deploy", [], "cdk deploy", "cdk deploy, the worked example, cdk destroy and the leftovers check"),
        (
            [],
            "the worked example",
            ["[3/6] training workflow wf (execution e)", "      state Names (Pass)", "      state RunEtl (Task)"],
            "step 3/6 of the worked example (training workflow, state RunEtl)",
            "steps 3-6 of the worked example, cdk destroy and the leftovers check",
        ),
        (
            ["--no-destroy"],  # the destroy is not part of this run: never "not done"
            "the worked example",
            ["[6/6] drift job per hour of traffic"],
            "step 6/6 of the worked example (drift)",
            "step 6 of it",
        ),
    ],
)
def test_the_interrupted_line_names_the_stage_and_what_was_not_done(extra, stage, lines, where, not_done, capsys):
    run = _stage_run(*extra)
    run.enter(stage)
    for line in lines:
        run.progress(line)
    assert run.interrupted("SIGTERM") == (
        f"local sandbox: interrupted by SIGTERM during {where}; not done: {not_done}, the summary; the local server "
        "(http://localhost:4566) and every process the run started are stopped"
    )
    assert capsys.readouterr().out.splitlines() == lines  # progress lines are printed as they come


def test_an_output_folder_is_claimed_by_one_run_at_a_time(tmp_path):
    from local_sandbox.outdir import LOCK_NAME, OutdirInUseError, claim

    # a second open file description of the same lock file: flock refuses it, even in the same process
    refused = pytest.raises(OutdirInUseError, match=rf"is in use by another run \(pid {os.getpid()}, started ")
    with claim(tmp_path / "out"), refused, claim(tmp_path / "out"):
        pass
    with claim(tmp_path / "out"):  # released at the end of the block
        assert (tmp_path / "out" / LOCK_NAME).read_text().startswith(f"pid {os.getpid()}, ")


FAKE_CDK = """#!{python}
import json, sys
args = sys.argv[1:]
with open({record!r}, "a") as out:
    out.write(json.dumps(args) + "\\n")
if "--outputs-file" in args:
    with open(args[args.index("--outputs-file") + 1], "w") as outputs:
        outputs.write("{{}}")
"""


def test_every_cdk_command_synthesizes_into_the_runs_own_folder(monkeypatch, tmp_path):
    """bootstrap synthesizes the app too: without --output it wrote the repository's cdk.out (cdk.json's)."""
    import json

    from local_sandbox import deploy
    from local_sandbox.server import LocalAws

    fake = tmp_path / "cdk"
    fake.write_text(FAKE_CDK.format(python=sys.executable, record=str(tmp_path / "calls.jsonl")))
    fake.chmod(0o755)
    monkeypatch.setattr(deploy, "CDK", fake)
    aws, out = LocalAws("http://localhost:4566"), tmp_path / "out"
    deploy.bootstrap(aws, out, out / "deploy.log", context=["training.gate.recall=0.4"])
    deploy.deploy(aws, out, out / "deploy.log", context=["training.gate.recall=0.4"])
    deploy.destroy(aws, out, out / "deploy.log")
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [call[0] for call in calls] == ["bootstrap", "deploy", "destroy"]
    for call in calls:
        assert call[call.index("--output") + 1] == str(out), call
    for call in calls[:2]:  # both synthesize the app: with the same context
        assert call.count("-c") == 2
        assert {deploy.STRONG_REFERENCES, "training.gate.recall=0.4"} <= set(call)


# --- A full run, interrupted at each later stage (make test-interrupts) ----------------------------------------

_LONGER_TRAINING = ["-c", "training.hyperparameters.num_round=3000", "-c", "training.hyperparameters.max_depth=8"]


def _wait_for_process(run: Run, command_part: str, timeout: float = 120) -> None:
    """Until a process of the run (by its token) has ``command_part`` in its command line."""
    deadline = time.monotonic() + timeout
    while not [p for p in _processes_with(f"{TOKEN}={run.token}") if command_part in p]:
        assert time.monotonic() < deadline, f"no {command_part} process:\n{run.stdout}"
        time.sleep(0.2)


@pytest.mark.interrupts
@pytest.mark.parametrize(
    ("extra", "pattern", "process", "signum", "ctrl_c", "during"),
    [
        pytest.param(
            [],
            r"^\[1/6\] producer",
            None,
            signal.SIGINT,
            True,
            "step 1/6 of the worked example (producer)",
            id="producer",
        ),
        pytest.param(
            [],
            r"starting a local SparkSession",
            "java",
            signal.SIGTERM,
            False,
            "step 3/6 of the worked example (training workflow, state RunEtl)",
            id="spark-etl",
        ),
        pytest.param(
            _LONGER_TRAINING,
            r"state Train \(",
            None,
            signal.SIGINT,
            True,
            "step 3/6 of the worked example (training workflow, state Train)",
            id="training",
        ),
        pytest.param(
            [],
            r"^\[5/6\] endpoint",
            None,
            signal.SIGTERM,
            False,
            "step 5/6 of the worked example (endpoint)",
            id="endpoint",
        ),
        pytest.param(
            [], r"^\[6/6\] drift", None, signal.SIGINT, True, "step 6/6 of the worked example (drift)", id="drift"
        ),
        pytest.param(
            [], r"^==> cdk destroy", "node", signal.SIGTERM, False, "cdk destroy and the leftovers check", id="destroy"
        ),
    ],
)
def test_an_interrupt_at_any_stage_of_a_full_run_ends_it_in_one_line_with_nothing_left(
    tmp_path, extra, pattern, process, signum, ctrl_c, during
):
    out = tmp_path / "out"
    run = Run(sandbox("--events", str(EVENTS), "--seed", str(SEED), "--outdir", str(out), *extra), tmp_path)
    run.wait_for(pattern, timeout=900)
    if process:  # the stage's own process is up (Spark's JVM, the destroy's CLI): the signal lands in its work
        _wait_for_process(run, process)
        time.sleep(3 if process == "java" else 0)  # Spark's JVM: into the ETL's work; the destroy is over in seconds
    elif extra:
        time.sleep(1)
    run.interrupt(signum, ctrl_c=ctrl_c)
    assert_interrupted(run, run.finish(), signal.Signals(signum).name, during)
    assert list(out.glob("work-*")) == []  # the worked example's temporary folder went with the run


@pytest.mark.interrupts
def test_ctrl_c_ends_keep_running_after_a_complete_run_with_exit_0(tmp_path):
    """--keep-running: the run is complete, the server stays up; Ctrl-C is how it ends (not an interruption)."""
    run = Run(
        sandbox("--events", str(EVENTS), "--seed", str(SEED), "--outdir", str(tmp_path), "--keep-running"), tmp_path
    )
    endpoint = run.wait_for(r"^==> serving at (http://localhost:\d+) until Ctrl-C", timeout=900).group(1)
    assert is_listening(endpoint)
    run.interrupt(signal.SIGINT, ctrl_c=True)
    assert run.finish() == 0, run.stderr[-3000:]
    assert run.lines[-1] == f"==> SIGINT: stopped the local server at {endpoint}"
    assert "Traceback" not in run.stderr
    assert not is_listening(endpoint)
    assert run.leftovers() == []
