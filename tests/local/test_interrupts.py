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
        code = self.process.wait(timeout=timeout)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
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
