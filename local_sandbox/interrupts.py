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
from collections.abc import Iterator
from types import FrameType

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


def _handler(signum: int, frame: FrameType | None) -> None:
    if _received:
        return  # a second signal while the run cleans up: the cleanup goes on
    _received.append(signum)
    raise Interrupted(signum)


def _not_py4j_interrupted(record: logging.LogRecord) -> bool:
    """False for py4j's record of a call that ``Interrupted`` ended (it comes with a traceback)."""
    interrupted = record.exc_info is not None and isinstance(record.exc_info[1], Interrupted)
    return not (interrupted and record.getMessage().startswith("KeyboardInterrupt while sending command"))


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
        stop_process(process, group=False, grace=grace)
    spark_context._gateway = None
    spark_context._jvm = None
    spark_context._active_spark_context = None
