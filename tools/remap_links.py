"""Move the ``#Lx-Ly`` line ranges of a docs page along with the code: ``python -m tools.remap_links BASE [PAGE]``.

docs/syllabus-map.md links into the code by line range, and ``tests/docs/test_syllabus_map.py`` fails when an
identifier a row names is no longer in its range (code moved). This command maps every range from the files
as they were at the git revision ``BASE`` (when the ranges were last right) to the files in the working tree,
line by line with ``difflib`` (lines that did not change keep their identity), rewrites the link targets and
the ranges shown in the link texts, and prints how many links moved. Ranges whose lines were all rewritten are
left alone: the test will name them, and they need a human.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LINK = re.compile(r"\[([^\]]*)\]\((\.\./[^)#]+)#L(\d+)-L(\d+)\)")


def line_map(old: Sequence[str], new: Sequence[str]) -> dict[int, int]:
    """1-based line numbers of ``old`` -> ``new``, for the lines that are unchanged between them."""
    mapped: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, list(old), list(new), autojunk=False)
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if tag == "equal":
            mapped.update({i1 + k + 1: j1 + k + 1 for k in range(i2 - i1)})
    return mapped


def remap_links(page: str, old_text: Callable[[str], str | None], new_text: Callable[[str], str]) -> tuple[str, int]:
    """``page`` with every ``../path#La-Lb`` link moved from ``old_text(path)`` to ``new_text(path)``."""
    maps: dict[str, dict[int, int]] = {}
    moved = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal moved
        text, target, start, end = match.group(1), match.group(2), int(match.group(3)), int(match.group(4))
        path = target[3:]
        if path not in maps:
            old = old_text(path)
            maps[path] = line_map(old.splitlines(), new_text(path).splitlines()) if old is not None else {}
        kept = [n for n in range(start, end + 1) if n in maps[path]]
        if kept:
            new_start = maps[path][kept[0]] - (kept[0] - start)
            new_end = maps[path][kept[-1]] + (end - kept[-1])
            if (new_start, new_end) != (start, end):
                moved += 1
                start, end = new_start, new_end
        text = re.sub(r"#L\d+-L\d+$", f"#L{start}-L{end}", text)
        return f"[{text}]({target}#L{start}-L{end})"

    return _LINK.sub(fix, page), moved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.remap_links", description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision at which the page's line ranges were right")
    parser.add_argument("page", nargs="?", default="docs/syllabus-map.md", help="the page (%(default)s)")
    args = parser.parse_args(argv)

    def old_text(path: str) -> str | None:
        shown = subprocess.run(["git", "show", f"{args.base}:{path}"], cwd=ROOT, capture_output=True, text=True)
        return shown.stdout if shown.returncode == 0 else None

    page_path = ROOT / args.page
    page, moved = remap_links(page_path.read_text(), old_text, lambda path: (ROOT / path).read_text())
    page_path.write_text(page)
    print(f"{args.page}: {moved} link range(s) moved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
