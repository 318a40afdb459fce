"""Keeps docs/syllabus-map.md true. Pure file reads: no CDK, no synth, no network.

- The syllabus's sections are there, numbered in order (1, 1.1, ..., 5.8), each with a topic table.
- Every relative link resolves: the file exists; a ``#anchor`` into a Markdown page matches one of its headings
  (GitHub's slug rules). Links to code name files, never line numbers (they would go stale as code moves).
- Every row says where its topic went (implemented / docs / out of scope) in the form that kind needs; an
  implemented row links a code file, names the stack and construct, and names the symbol (``code:NAME``) that
  does the work, which must occur in a file the row links to; the construct it names must exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
MAP = DOCS / "syllabus-map.md"

WHERE_KINDS = ("implemented", "docs", "out of scope")

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
_SECTION = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\. (?P<title>.+)$")
_LINK = re.compile(r"\[([^\[\]]*)\]\(([^()\s]+)\)")
_CODE = re.compile(r"`code:([^`]+)`")
_CONSTRUCT = re.compile(r"`[a-z]+-[a-z-]+` / `(\w+)`")
#: Rows built by no stack (the worked example's generator and producer) name the module instead.
_MODULE = re.compile(r"(?:no stack, |all stacks / )`([\w.]+)`")


# --- Markdown, the way GitHub renders it ------------------------------------------------------------------


def headings(text: str) -> list[tuple[int, str]]:
    """``(line number, heading text)`` of the ATX headings outside fenced code blocks."""
    found = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if match:
            found.append((number, match.group(2)))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, punctuation other than ``-`` and ``_``
    removed, each space a hyphen."""
    text = re.sub(r"<[^>]*>", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a page; repeated headings get ``-1``, ``-2``, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, heading in headings(text):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


@cache
def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def link_problems(target: str, base: Path, page: Path) -> list[str]:
    """What is wrong with one link target written in ``page`` (whose directory is ``base``); [] if nothing."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not checked offline
        return []
    path_part, _, fragment = target.partition("#")
    path = (base / path_part).resolve() if path_part else page
    if not path.is_relative_to(REPO):
        return [f"{target}: outside the repository"]
    if not path.exists():
        return [f"{target}: {path.relative_to(REPO)} does not exist"]
    if not fragment:
        return []
    if path.suffix != ".md":
        return [f"{target}: a link to code names the file and a `code:` symbol, not a line or an anchor"]
    if fragment not in anchors(_text(path)):
        return [f"{target}: no heading with the anchor #{fragment} in {path.relative_to(REPO)}"]
    return []


def code_files(row_text: str) -> list[Path]:
    """The files other than Markdown pages that a row links to (and that exist)."""
    found = []
    for _, target in _LINK.findall(row_text):
        path = (DOCS / target.partition("#")[0]).resolve()
        if path.is_file() and path.suffix != ".md":
            found.append(path)
    return found


def occurs(name: str, text: str) -> bool:
    """``name`` (an identifier, possibly dotted) appears in ``text`` as a whole word."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


@cache
def construct_classes() -> frozenset[str]:
    return frozenset(
        match
        for path in (REPO / "ml_constructs").rglob("*.py")
        for match in re.findall(r"^class (\w+)\(", _text(path), re.M)
    )


# --- The map ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    map_line: int
    cells: list[str]
    text: str

    @property
    def kind(self) -> str:
        return self.cells[1].split(":", 1)[0].strip() if len(self.cells) > 1 else ""


@dataclass
class Section:
    map_line: int
    number: str
    title: str
    rows: list[Row] = field(default_factory=list)


def parse_map(text: str) -> list[Section]:
    """The numbered sections (``N. Title``, ``N.M. Title``) and the rows of their topic tables (tables whose
    first header cell is ``Topic``)."""
    sections: list[Section] = []
    current: Section | None = None
    header: list[str] | None = None
    previous_was_table = False
    for number, line in enumerate(text.splitlines(), 1):
        heading = _HEADING.match(line)
        if heading:
            section = _SECTION.match(heading.group(2))
            current = Section(number, section.group("number"), section.group("title")) if section else None
            if current:
                sections.append(current)
        is_table = line.lstrip().startswith("|")
        if is_table:
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            if not previous_was_table:
                header = cells
            elif not re.fullmatch(r"[\s|:-]+", line) and header and header[0] == "Topic" and current is not None:
                current.rows.append(Row(number, cells, line))
        previous_was_table = is_table
    return sections


@cache
def sections() -> tuple[Section, ...]:
    return tuple(parse_map(_text(MAP)))


def rows() -> list[Row]:
    return [row for section in sections() for row in section.rows]


# --- Tests -----------------------------------------------------------------------------------------------


def test_the_syllabus_sections_are_there_in_order_each_with_topics() -> None:
    numbers = [tuple(int(part) for part in section.number.split(".")) for section in sections()]
    assert len(numbers) >= 40, "no 'N. Title' / 'N.M. Title' headings found: the map's format changed?"
    assert numbers == sorted(set(numbers)), f"sections out of order or repeated: {numbers}"
    assert {major for major, *_ in numbers} == {1, 2, 3, 4, 5}
    empty = [section.title for section in sections() if not section.rows]
    assert not empty, f"sections without a topic: {empty}"
    malformed = [f"line {row.map_line}" for row in rows() if len(row.cells) != 4 or not row.cells[0]]
    assert not malformed, f"rows without 4 cells or without a topic: {malformed}"


def test_every_link_resolves() -> None:
    targets = [target for _, target in _LINK.findall(_text(MAP))]
    assert len(targets) > 100
    problems = [problem for target in targets for problem in link_problems(target, DOCS, MAP)]
    assert not problems, "\n".join(problems)


def implemented_problems(row: Row) -> list[str]:
    """An implemented row links a code file, names a `code:` symbol and the stack / construct (or module)."""
    where = row.cells[1]
    construct, module = _CONSTRUCT.search(where), _MODULE.search(where)
    problems = []
    if not code_files(row.text):
        problems.append("implemented, but no link to a code file")
    if not _CODE.search(row.text):
        problems.append("implemented, but no `code:NAME` symbol")
    if module is not None:
        if not (REPO / (module.group(1).replace(".", "/") + ".py")).is_file():
            problems.append(f"no module {module.group(1)}")
    elif construct is None:
        problems.append(f"implemented, but no `stack` / `Construct` in {where!r}")
    elif construct.group(1) not in construct_classes():
        problems.append(f"no construct class {construct.group(1)} in ml_constructs/")
    return problems


def row_problems(row: Row) -> list[str]:
    if row.kind not in WHERE_KINDS:
        return [f"Where is {row.cells[1]!r}, not one of {WHERE_KINDS}"]
    if row.kind == "implemented":
        return implemented_problems(row)
    if row.kind == "docs":
        pages = [target.split("#")[0] for _, target in _LINK.findall(row.text)]
        if not any(page.endswith(".md") or page == "" for page in pages):  # "": a section of this page
            return ["docs, but no link to a Markdown page"]
        return []
    return ["out of scope, but no reason given"] if len(row.cells[2]) < 40 else []


def test_every_row_says_where_in_the_form_its_kind_needs() -> None:
    problems = [f"line {row.map_line}: {problem}" for row in rows() for problem in row_problems(row)]
    assert not problems, "\n".join(problems)


def _names(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(REPO)) for path in paths]


def test_every_code_symbol_occurs_in_a_file_its_row_links_to() -> None:
    problems = [
        f"line {row.map_line}: `code:{name}` occurs in none of {_names(code_files(row.text))}"
        for row in rows()
        for name in _CODE.findall(row.text)
        if not any(occurs(name, _text(path)) for path in code_files(row.text))
    ]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_a_stale_symbol_and_a_line_anchor() -> None:
    """The checks above can fail: a symbol that is not in the linked file, and a line anchor into code."""
    code = REPO / "ml_constructs" / "lake_layout.py"
    assert occurs("CAPTURE_PREFIX", _text(code))
    assert not occurs("NO_SUCH_SYMBOL", _text(code))
    assert not occurs("PREFIX", "CAPTURE_PREFIX = 1"), "a part of a longer name is not the name"
    assert occurs("StorageClass.GLACIER", "s3.StorageClass.GLACIER,"), "a qualified name may be qualified further"
    assert link_problems("../ml_constructs/lake_layout.py#L3-L9", DOCS, MAP)
    assert link_problems("data-lake.md#no-such-heading", DOCS, MAP)
    assert not link_problems("../ml_constructs/lake_layout.py", DOCS, MAP)
    row = Row(0, ["t", "implemented: `mlspec-x` / `NoSuchConstruct`", "what", "[a](../app.py)"], "[a](../app.py)")
    assert implemented_problems(row) == [
        "implemented, but no `code:NAME` symbol",
        "no construct class NoSuchConstruct in ml_constructs/",
    ]
