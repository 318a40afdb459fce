"""Interrupts of the local sandbox: SIGINT (Ctrl-C) and SIGTERM end a run the same way, whatever is running.

Inside ``handling()`` the first of either signal raises ``Interrupted`` (a ``KeyboardInterrupt``) in the main
thread, so every ``finally`` and ``with`` block on the way out runs: the CDK CLI's process group is killed, the
worked example's temporary folder removed, moto's server stopped. Further signals are then ignored, so that this
cleanup finishes; every step of it is bounded in time (``stop_process``).

Where the interrupt landed does not matter: ``received()`` stays set, so a caller that sees another exception
on the way out (a library that turned the ``KeyboardInterrupt`` into its own error, or the producer's exit code
130) still knows the run was interrupted.

The processes a run starts, and how each is stopped:

- the CDK CLI (``deploy.run_cdk``): in a process group of its own, killed as a group (the CLI's own child, the
  app's synthesis, goes with it) by ``stop_process``;
- Spark's JVM (started by pyspark for the Glue job): ``stop_spark_jvm``. An interrupted py4j call leaves its
  answer pending on the main thread's connection, so the session cannot be stopped through py4j any more: the
  JVM process is terminated instead (SIGTERM, which runs Spark's own shutdown hooks, then SIGKILL if needed).
  If the interrupt lands while pyspark is still launching the JVM (before pyspark keeps its handle),
  ``stop_children`` finds it: the run's last sweep stops every child process it still has (Linux's ``/proc``).
  py4j logs the interrupted call with its traceback on the root logger (``KeyboardInterrupt while sending
  command.``): inside ``handling()`` that one record is dropped, the run reports the interrupt in one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Exit status of an interrupted run: 128 + SIGINT, what a shell reports for a Ctrl-C'd command.
EXIT_INTERRUPTED = 130

_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """The run received SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.signame = signal.Signals(signum).name


def received() -> Interrupted | None:
    """The interrupt the block of ``handling()`` received, if any."""
    return Interrupted(_received[0]) if _received else None


def check() -> None:
    """Raise ``Interrupted`` again if one was received (and swallowed by whatever code it landed in)."""
    if _received:
        raise Interrupted(_received[0])


_deferring: list[bool] = []


def _handler(signum: int, frame: FrameType | None) -> None:
    if _received:
        return  # a second signal while the run cleans up: the cleanup goes on
    _received.append(signum)
    if not _deferring:
        raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """An interrupt received in the block is raised at its end: for a start that must not stop halfway (pyspark
    launching its JVM: interrupted, it removes the folder the JVM writes its port to, and the JVM prints a stack
    trace)."""
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
    check()


def _not_py4j_interrupted(record: logging.LogRecord) -> bool:
    """False for py4j's record of a call that ``Interrupted`` ended (it comes with a traceback)."""
    interrupted = record.exc_info is not None and isinstance(record.exc_info[1], Interrupted)
    if interrupted and record.getMessage().startswith("KeyboardInterrupt while sending command"):
        return False
    # after an interrupt the JVM is stopped on purpose: py4j's calls still pending find it gone
    return not (_received and record.getMessage().startswith("Exception while sending command"))


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` in the block; the previous handlers are restored after it."""
    _received.clear()
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, _handler)
    logging.getLogger().addFilter(_not_py4j_interrupted)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(_not_py4j_interrupted)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes], *, group: bool, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; ``group``: the process's whole group (it must lead one)."""

    def send(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signum)
            elif process.poll() is None:
                process.send_signal(signum)

    send(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()
    if group:
        send(signal.SIGKILL)  # the group's other members, if the leader went first


def stop_spark_jvm(grace: float = 10.0) -> None:
    """Terminate the JVM that pyspark started in this process, if any, and forget it (no py4j call)."""
    context = sys.modules.get("pyspark.context")
    if context is None:
        return
    spark_context = context.SparkContext
    process = getattr(spark_context._gateway, "proc", None)
    if process is not None:
        workers = _descendants(process.pid)  # pyspark.daemon and its workers: orphaned, not ended, by the JVM's end
        stop_process(process, group=False, grace=grace)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    spark_context._gateway = None
    spark_context._jvm = None
    spark_context._active_spark_context = None


def _children(pid: int | str = "self") -> list[int]:
    """A process's child processes (Linux: ``/proc/<pid>/task/*/children``; elsewhere none are found)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(os.path.join(task.path, "children")) as children:
                found += [int(child) for child in children.read().split()]
    return found


def _descendants(pid: int) -> list[int]:
    found, stack = [], _children(pid)
    while stack:
        found.append(stack.pop())
        stack += _children(found[-1])
    return found


def stop_jsii() -> None:
    """jsii's Node.js child, if something imported ``aws_cdk`` (the default-model trainer and the leftovers scan
    read the app's config): stopped now, its exit hook with it. That hook writes to the child's stdin; after a
    Ctrl-C to the process group, which the child received too, it would fail with a traceback at exit."""
    node = _jsii_node()
    if node is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        try:
            node.stop()  # unregisters its exit hook first; BrokenPipeError if the child has gone already
        finally:
            node._process.stdin.close()  # closed, even if the flush failed: nothing is flushed again at exit


def _jsii_node() -> Any:
    """jsii's Node.js process object if one was started, without starting one: ``ProcessProvider._process`` is a
    memoized property (jsii 1.x ``_utils.memoized_property``) whose value lives in its getter's closure. An import of
    ``aws_cdk`` that an interrupt ended may have started it all the same, so ``aws_cdk`` in ``sys.modules`` is no
    guide. None when there is none (or jsii changed how it keeps it: then stop_children still stops the child)."""
    runtime = sys.modules.get("jsii._runtime")
    provider = getattr(getattr(runtime, "kernel", None), "provider", None)
    getter = getattr(getattr(type(provider), "_process", None), "fget", None)
    for cell in getattr(getter, "__closure__", None) or ():
        stored = cell.cell_contents
        if isinstance(stored, list) and stored:
            return stored[0]
    return None


def _ended(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # reaped already (by its Popen)
        return True


def stop_children(grace: float = 5.0) -> list[int]:
    """The last sweep: every child process still running gets SIGTERM, then SIGKILL after ``grace`` seconds.
    Returns their pids (none, when every stage stopped its own)."""
    pids = _children()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    running = pids
    while running and time.monotonic() < deadline:
        time.sleep(0.05)
        running = [pid for pid in running if not _ended(pid)]
    for pid in running:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return pids
