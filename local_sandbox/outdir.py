"""One run per output folder: a run claims its ``--outdir`` before it writes anything there.

The claim is an exclusive ``fcntl.flock`` on ``<outdir>/.local-sandbox.lock``, taken without waiting: a second
run given the same folder is refused at once and told which process holds it. The kernel releases the lock when
the holder's file is closed or the process ends in any way (SIGKILL included), so a crashed run never leaves a
stale claim behind, and the lock file itself is left in place (deleting it would let two runs lock two different
files of the same name). ``fcntl`` is in the standard library on Linux and macOS, which the sandbox needs
anyway (signals, process groups); no lock package is installed for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = ".local-sandbox.lock"


class OutdirInUseError(RuntimeError):
    """Another run holds the output folder (the message names it and the holder)."""


@contextlib.contextmanager
def claim(outdir: Path) -> Iterator[Path]:
    """Hold ``outdir`` (created if needed) for this process during the block; ``OutdirInUseError`` if another
    process holds it."""
    outdir.mkdir(parents=True, exist_ok=True)
    lock = outdir / LOCK_NAME
    with lock.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that is starting"
            raise OutdirInUseError(f"{outdir} is in use by another run ({holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        yield outdir
