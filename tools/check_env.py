"""Prove that the installed Python environment is exactly the lock (used by `make check-env` and CI).

Reads the hashed locks (``requirements-dev.lock`` and ``requirements-build.lock`` by default), keeps the
entries whose environment markers hold on this machine, and compares them with every distribution installed
in the running interpreter's environment. One line per difference, naming the package; exit 1 if there is any.
pip itself is not in the lock (the venv brings it) and is ignored. ``--prune`` instead uninstalls what the lock
no longer has (`make setup-dev` runs it after installing, so an upgrade that drops a package drops it here too).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCKS = (ROOT / "requirements-dev.lock", ROOT / "requirements-build.lock")
#: Installed by the venv itself, not by the lock.
IGNORED = frozenset({"pip"})


def entries(text: str) -> Iterable[tuple[str, list[str]]]:
    """Each entry of a pip requirements file as (requirement, its ``--hash=`` options): continuations joined,
    comments (``# via``) and other options dropped."""
    entry = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            entry += line[:-1] + " "
            continue
        parts = (entry + line).split()
        entry = ""
        hashes = [part for part in parts if part.startswith("--hash=")]
        requirement = " ".join(part for part in parts if not part.startswith("--hash="))
        if requirement and not requirement.startswith("-"):
            yield requirement, hashes


def requirement_lines(text: str) -> Iterable[str]:
    """The requirement of each entry of a pip requirements file (see ``entries``)."""
    return (requirement for requirement, _ in entries(text))


def locked(paths: Iterable[Path]) -> dict[str, str]:
    """Canonical name -> pinned version of every lock entry whose marker holds here."""
    pins: dict[str, str] = {}
    for path in paths:
        for line in requirement_lines(path.read_text()):
            try:
                requirement = Requirement(line)
            except InvalidRequirement as error:
                raise SystemExit(f"{path.name}: cannot parse {line!r}: {error}") from None
            specs = list(requirement.specifier)
            if len(specs) != 1 or specs[0].operator != "==":
                raise SystemExit(f"{path.name}: {requirement.name} is not pinned with == ({line!r})")
            if requirement.marker is None or requirement.marker.evaluate():
                pins[canonicalize_name(requirement.name)] = specs[0].version
    return pins


def installed() -> dict[str, str]:
    """Canonical name -> version of every distribution in this interpreter's environment."""
    return {canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}


def differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(expected.keys() | actual.keys()):
        if name in IGNORED:
            continue
        want, have = expected.get(name), actual.get(name)
        if want is None:
            lines.append(f"{name}: {have} is installed but not in the lock (remove it, or rebuild: rm -rf .venv)")
        elif have is None:
            lines.append(f"{name}: the lock pins {want} but it is not installed (run: make setup-dev)")
        elif want != have:
            lines.append(f"{name}: the lock pins {want} but {have} is installed (run: make setup-dev)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("locks", nargs="*", type=Path, default=list(DEFAULT_LOCKS), help="lock files")
    parser.add_argument("--prune", action="store_true", help="only uninstall what is installed but not locked")
    args = parser.parse_args(argv)
    expected = locked(args.locks)
    if args.prune:
        extra = sorted(installed().keys() - expected.keys() - IGNORED)
        if extra:
            print(f"removing {len(extra)} package(s) the lock no longer has: {', '.join(extra)}")
            subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *extra], check=True)
        return 0
    problems = differences(expected, installed())
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        names = ", ".join(path.name for path in args.locks)
        print(f"environment equals the lock: {len(expected)} packages ({names})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
