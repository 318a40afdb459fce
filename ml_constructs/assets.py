"""Runtime code shared by several assets has one home, ``ml_constructs/shared_runtime/``: each asset gets a copy
under the same import path, so the code imports ``ml_constructs.shared_runtime.<module>`` in the repository, in
Glue and in Lambda alike (``ml_constructs`` is then a namespace package: the asset has no ``ml_constructs/__init__``).

The Glue job's zip adds these entries (``job.runtime_zip``); a Lambda function's folder asset is staged with
``lambda_code_dir``: a copy of its runtime folder plus the shared package (``python_function`` does both).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

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


def python_function(scope: Construct, construct_id: str, runtime_dir: Path, **props: Any) -> lambda_.Function:
    """A Python 3.14 function on ARM with X-Ray tracing whose code is ``runtime_dir`` plus the shared package; the
    caller gives handler, role, timeout and the rest. The staged folder lives only while the function is created:
    its asset copies it into the cloud assembly at once."""
    with tempfile.TemporaryDirectory() as directory:
        return lambda_.Function(
            scope,
            construct_id,
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            tracing=lambda_.Tracing.ACTIVE,
            code=lambda_.Code.from_asset(str(lambda_code_dir(runtime_dir, Path(directory)))),
            **props,
        )
