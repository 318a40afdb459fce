"""Runtime code shared by several assets has one home, ``ml_constructs/shared_runtime/``: each asset gets a copy
under the same import path, so the code imports ``ml_constructs.shared_runtime.<module>`` in the repository, in
Glue and in Lambda alike (``ml_constructs`` is then a namespace package: the asset has no ``ml_constructs/__init__``).

The Glue job's zip adds these entries (``job.runtime_zip``); a Lambda function's folder asset is staged with
``lambda_code_dir``: a copy of its runtime folder plus the shared package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SHARED_DIR = Path(__file__).resolve().parent / "shared_runtime"
#: The shared package's import path, kept inside every asset.
SHARED_PACKAGE = ("ml_constructs", "shared_runtime")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def shared_files() -> list[tuple[Path, str]]:
    """Every file of the shared package with its path inside an asset (``ml_constructs/shared_runtime/...``), in
    name order."""
    files = sorted(p for p in SHARED_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return [(p, "/".join((*SHARED_PACKAGE, *p.relative_to(SHARED_DIR).parts))) for p in files]


def lambda_code_dir(runtime_dir: Path, directory: Path) -> Path:
    """Stage ``runtime_dir`` (without bytecode caches) and the shared package into ``directory/code``; return it.
    The caller hands it to ``lambda_.Code.from_asset``, which copies it into the cloud assembly at once."""
    target = directory / "code"
    shutil.copytree(runtime_dir, target, ignore=_IGNORE)
    for source, name in shared_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    return target
