"""The code reads in short pieces: no function of the project is longer than 80 lines (ruff's complexity and
statement gates in `make lint` bound the rest). Pure file reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "app.py",
    "ml_config",
    "ml_constructs",
    "stacks",
    "sagemaker_images",
    "worked_example",
    "local_sandbox",
    "tools",
    "bench",
)
MAX_LINES = 80


def functions(path: Path) -> list[tuple[str, int, int]]:
    """``(name, first line, length in lines)`` of every function and method in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.name, node.lineno, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def sources() -> list[Path]:
    found = []
    for name in PACKAGES:
        path = ROOT / name
        found += [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return found


def test_no_function_is_longer_than_80_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)}:{line} {name}: {length} lines"
        for path in sources()
        for name, line, length in functions(path)
        if length > MAX_LINES
    ]
    assert not long, "\n".join(long)


def test_the_length_check_counts_lines(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    source = tmp_path / "m.py"
    source.write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    assert functions(source) == [("short", 1, 2), ("long", 5, MAX_LINES + 1)]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_has_sources(package: str) -> None:
    assert any(path == ROOT / package or ROOT / package in path.parents for path in sources())
