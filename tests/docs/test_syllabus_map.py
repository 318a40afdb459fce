"""Keeps docs/syllabus-map.md true. Pure file reads: no CDK, no synth, no network.

- Every relative link resolves: the file exists; a ``#Lx-Ly`` range lies inside the file (x <= y); a ``#anchor``
  into a Markdown page matches one of its headings (GitHub's slug rules).
- Every row of a seed table says where the line went (implemented / docs / out of scope) in the form that kind
  needs; every ``code:NAME`` of a row occurs in one of the line ranges the row links to, so a range that went
  stale when code moved is caught.
- The seed notes are not part of the repository (they sit in the project's shared folder beside a working
  copy). When they are there, the map's headings must be the seed's headings in order with their line numbers,
  every non-blank seed line must be covered by a row, and every quote must be on its lines. In a clean clone
  without them, the same tests check what the map says about itself instead (sections present, in increasing
  order, rows inside their sections).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
MAP = DOCS / "syllabus-map.md"
SEED = REPO.parent / "shared" / "seed" / "ml-specialty-notes.md"

WHERE_KINDS = ("implemented", "docs", "out of scope")

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
_MIRROR = re.compile(r"^(?P<title>.+) \(seed line (?P<line>\d+)\)$")
_LINK = re.compile(r"\[([^\[\]]*)\]\(([^()\s]+)\)")
_LINE_RANGE = re.compile(r"^L(\d+)(?:-L(\d+))?$")
_SEED_CELL = re.compile(r"^`L(\d+)(?:-L(\d+))?`")
_CODE = re.compile(r"`code:([^`]+)`")
_BACKTICKED = re.compile(r"`[^`]+`")


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
def _lines(path: Path) -> tuple[str, ...]:
    return tuple(path.read_text(encoding="utf-8").splitlines())


@cache
def _anchors(path: Path) -> frozenset[str]:
    return frozenset(anchors(path.read_text(encoding="utf-8")))


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
    line_range = _LINE_RANGE.match(fragment)
    if line_range:
        if path.suffix == ".md":
            return [f"{target}: GitHub renders Markdown, so a line anchor into a .md file goes nowhere"]
        first = int(line_range.group(1))
        last = int(line_range.group(2) or first)
        length = len(_lines(path))
        if not 1 <= first <= last <= length:
            return [f"{target}: lines {first}-{last} are not within 1-{length} (first <= last)"]
        return []
    if path.suffix != ".md":
        return [f"{target}: only Markdown pages have heading anchors"]
    if fragment not in _anchors(path):
        return [f"{target}: no heading with the anchor #{fragment} in {path.relative_to(REPO)}"]
    return []


def ranged_links(text: str, base: Path) -> list[tuple[Path, int, int]]:
    """``(file, first, last)`` of every ``#Lx-Ly`` link in ``text`` (links that resolve; others fail elsewhere)."""
    found = []
    for _, target in _LINK.findall(text):
        path_part, _, fragment = target.partition("#")
        match = _LINE_RANGE.match(fragment)
        path = (base / path_part).resolve()
        if path_part and match and path.is_file():
            found.append((path, int(match.group(1)), int(match.group(2) or match.group(1))))
    return found


def missing_identifiers(row_text: str, base: Path) -> list[str]:
    """The ``code:NAME`` identifiers of a row that occur in none of the line ranges the row links to."""
    ranges = ranged_links(row_text, base)
    texts = ["\n".join(_lines(path)[first - 1 : last]) for path, first, last in ranges]
    return [name for name in _CODE.findall(row_text) if not any(name in text for text in texts)]


# --- The map ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    map_line: int
    cells: list[str]
    text: str
    first: int = 0
    last: int = 0

    @property
    def seed(self) -> str:
        return self.cells[0]

    @property
    def kind(self) -> str:
        return self.cells[1].split(":", 1)[0].strip() if len(self.cells) > 1 else ""

    @property
    def quote(self) -> tuple[str, list[str]] | None:
        """The quoted text of the seed cell: from its first to its last double quote, and the fragments
        between successive quote pairs (for a cell that quotes several words of a range)."""
        cell = self.seed
        if cell.count('"') < 2:
            return None
        return cell[cell.index('"') + 1 : cell.rindex('"')], re.findall(r'"([^"]*)"', cell)


@dataclass
class Section:
    map_line: int
    title: str
    seed_line: int
    rows: list[Row] = field(default_factory=list)


@dataclass
class SyllabusMap:
    sections: list[Section]

    @property
    def rows(self) -> list[Row]:
        return [row for section in self.sections for row in section.rows]


def parse_map(text: str) -> SyllabusMap:
    """The seed sections (headings ``<title> (seed line N)``) and the rows of their seed tables (tables whose
    first header cell is ``Seed``). Rows of other tables, and tables under other headings, are not seed rows."""
    sections: list[Section] = []
    current: Section | None = None
    header: list[str] | None = None
    previous_was_table = False
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        heading = _HEADING.match(line)
        if heading:
            mirror = _MIRROR.match(heading.group(2))
            current = Section(number, mirror.group("title"), int(mirror.group("line"))) if mirror else None
            if current:
                sections.append(current)
        is_table = line.lstrip().startswith("|")
        if is_table:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not previous_was_table:
                header = cells
            elif re.fullmatch(r"[\s|:-]+", line):
                pass  # the delimiter row
            elif header and header[0] == "Seed" and current is not None:
                row = Row(number, cells, line)
                match = _SEED_CELL.match(row.seed)
                if match:
                    row.first = int(match.group(1))
                    row.last = int(match.group(2) or match.group(1))
                current.rows.append(row)
        previous_was_table = is_table
    return SyllabusMap(sections)


@cache
def syllabus_map() -> SyllabusMap:
    return parse_map(MAP.read_text(encoding="utf-8"))


# --- The seed --------------------------------------------------------------------------------------------


def plain(text: str) -> str:
    """Seed text as the map quotes it: no HTML tags, emoji codes, emphasis marks or escapes; spaces collapsed."""
    text = re.sub(r"<[^>]*>", "", text)
    text = re.sub(r":[a-z_]+:", "", text)
    text = text.replace("*", "").replace("\\", "")
    return " ".join(text.split())


def seed_headings(lines: tuple[str, ...]) -> list[tuple[int, str]]:
    """``(line, title)`` of every seed line that starts with '#', titled as the map titles it."""
    return [(n, plain(line.lstrip("#"))) for n, line in enumerate(lines, 1) if line.startswith("#")]


def seed_lines() -> tuple[str, ...] | None:
    return _lines(SEED) if SEED.is_file() else None


# --- Tests -----------------------------------------------------------------------------------------------


def test_the_map_has_a_seed_table_under_every_seed_heading() -> None:
    doc = syllabus_map()
    assert len(doc.sections) >= 10, "no '<title> (seed line N)' headings found: the map's format changed?"
    empty = [section.title for section in doc.sections if not section.rows]
    assert not empty, f"seed sections without a row: {empty}"
    malformed = [f"line {row.map_line}" for row in doc.rows if len(row.cells) != 4 or not row.first]
    assert not malformed, f"rows without 4 cells or without a `Lnn` seed cell: {malformed}"


def test_every_link_resolves() -> None:
    text = MAP.read_text(encoding="utf-8")
    targets = [target for _, target in _LINK.findall(text)]
    assert targets
    problems = [problem for target in targets for problem in link_problems(target, DOCS, MAP)]
    # A link that shows its range must show the range it points at (the text is what a reader sees).
    problems += [
        f"[{label}]({target}): the text and the target differ"
        for label, target in _LINK.findall(text)
        if _LINE_RANGE.match(label.partition("#")[2]) and label.replace("\\", "") != target.removeprefix("../")
    ]
    assert not problems, "\n".join(problems)


def test_every_row_says_where_in_the_form_its_kind_needs() -> None:
    problems = []
    for row in syllabus_map().rows:
        links = _LINK.findall(row.text)
        where = row.cells[1]
        if row.kind not in WHERE_KINDS:
            problems.append(f"line {row.map_line}: Where is {where!r}, not one of {WHERE_KINDS}")
        elif row.kind == "implemented":
            if not ranged_links(row.text, DOCS):
                problems.append(f"line {row.map_line}: implemented, but no link with a #Lx-Ly line range")
            if not _CODE.search(row.text):
                problems.append(f"line {row.map_line}: implemented, but no `code:NAME` to check the range with")
            if not _BACKTICKED.search(where):
                problems.append(f"line {row.map_line}: implemented, but no stack / construct named in {where!r}")
        elif row.kind == "docs":
            pages = [target.split("#")[0] for _, target in links]
            if not any(page.endswith(".md") or page == "" for page in pages):  # "": a section of this page
                problems.append(f"line {row.map_line}: docs, but no link to a Markdown page")
        elif len(row.cells[2]) < 40:
            problems.append(f"line {row.map_line}: out of scope, but no reason given")
    assert not problems, "\n".join(problems)


def test_code_identifiers_are_in_the_linked_lines() -> None:
    problems = [
        f"line {row.map_line}: `code:{name}` is in none of the row's line ranges"
        for row in syllabus_map().rows
        for name in missing_identifiers(row.text, DOCS)
    ]
    assert not problems, "\n".join(problems)


def test_rows_stay_inside_their_section() -> None:
    sections = syllabus_map().sections
    problems = []
    for index, section in enumerate(sections):
        start = 1 if index == 0 else section.seed_line
        end = sections[index + 1].seed_line - 1 if index + 1 < len(sections) else None
        for row in section.rows:
            if not start <= row.first <= row.last or (end is not None and row.last > end):
                problems.append(f"line {row.map_line}: L{row.first}-L{row.last} outside {section.title!r}")
    assert not problems, "\n".join(problems)


def test_the_seed_headings_are_the_map_sections_in_order() -> None:
    mapped = [(section.seed_line, section.title) for section in syllabus_map().sections]
    seed = seed_lines()
    if seed is None:  # a clean clone: check the map's own list of seed headings
        assert mapped
        numbers = [line for line, _ in mapped]
        assert numbers == sorted(set(numbers)), f"seed lines of the sections are not increasing: {numbers}"
        return
    assert mapped == seed_headings(seed)


def test_every_seed_line_is_covered() -> None:
    rows = syllabus_map().rows
    seed = seed_lines()
    if seed is None:  # a clean clone: every row at least covers a line
        assert all(row.first <= row.last for row in rows)
        return
    covered = {line for row in rows for line in range(row.first, row.last + 1)}
    missing = [
        f"L{n}: {line.strip()[:60]}"
        for n, line in enumerate(seed, 1)
        if line.strip() and not line.startswith("#") and n not in covered
    ]
    assert not missing, "seed lines no row covers:\n" + "\n".join(missing)


def test_quotes_are_on_their_seed_lines() -> None:
    quoted = [(row, row.quote) for row in syllabus_map().rows if row.quote]
    assert quoted
    seed = seed_lines()
    if seed is None:  # a clean clone: quotes are at least not empty
        assert all(quote[0].strip() for _, quote in quoted)
        return
    problems = []
    for row, (whole, fragments) in quoted:
        lines = plain(" ".join(seed[row.first - 1 : row.last])).lower()
        if plain(whole).lower() in lines:
            continue
        if len(fragments) > 1 and all(plain(fragment).lower() in lines for fragment in fragments):
            continue
        problems.append(f"line {row.map_line}: {whole!r} is not on seed lines {row.first}-{row.last}")
    assert not problems, "\n".join(problems)


# --- The checks can fail (a gate that cannot fail proves nothing) ----------------------------------------


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Output contract (under `--curated_path`)", "output-contract-under---curated_path"),
        ("5. Outliers (seed §2.9): k deviations, log scale", "5-outliers-seed-29-k-deviations-log-scale"),
        ("Streaming ingest: Kinesis -> Firehose -> raw zone", "streaming-ingest-kinesis---firehose---raw-zone"),
        ("4.4. SageMaker Autopilot/AutoML (seed line 620)", "44-sagemaker-autopilotautoml-seed-line-620"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_repeated_headings_get_numbered_anchors() -> None:
    assert anchors("# A\n## Tests\n```\n# not a heading\n```\n## Tests\n") == {"a", "tests", "tests-1"}


def test_link_checker_finds_broken_links() -> None:
    page = DOCS / "page.md"
    readme_lines = len(_lines(REPO / "README.md"))
    assert not link_problems("../app.py#L1-L2", DOCS, page)
    assert not link_problems("../README.md#docs", DOCS, page)
    assert link_problems(f"../app.py#L1-L{len(_lines(REPO / 'app.py')) + 1}", DOCS, page)
    assert link_problems("../app.py#L5-L4", DOCS, page)
    assert link_problems("../app.py#L0-L1", DOCS, page)
    assert link_problems("../no-such-file.py#L1-L2", DOCS, page)
    assert link_problems("../README.md#no-such-heading", DOCS, page)
    assert link_problems(f"../README.md#L1-L{readme_lines}", DOCS, page)
    assert link_problems("../app.py#main", DOCS, page)
    assert link_problems("../../outside.md", DOCS, page)


def test_identifier_check_finds_a_stale_range(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text("import os\n\n\ndef alpha() -> int:\n    return 1\n", encoding="utf-8")
    row = "| `L1` | implemented: `x` | `code:def alpha` | [module.py](module.py#L4-L5) |"
    assert missing_identifiers(row, tmp_path) == []
    assert missing_identifiers(row.replace("#L4-L5", "#L1-L2"), tmp_path) == ["def alpha"]
    assert missing_identifiers(row.replace("code:def alpha", "code:beta"), tmp_path) == ["beta"]


def test_parser_reads_sections_rows_and_quotes() -> None:
    text = (
        "# Map\n\n## Intro\n\n| Seed | Where |\n|---|---|\n| `L1` | ignored: not a seed section |\n\n"
        "## 1. Topic (seed line 3)\n\n| Seed | Where | In this project | Links |\n|---|---|---|---|\n"
        '| `L4-L6` "a "quoted" line" | docs | text | [x](x.md) |\n\n'
        "| Service | Seed lines |\n|---|---|\n| not a seed row | 1 |\n"
    )
    doc = parse_map(text)
    assert [(s.title, s.seed_line) for s in doc.sections] == [("1. Topic", 3)]
    (row,) = doc.rows
    assert (row.first, row.last, row.kind) == (4, 6, "docs")
    assert row.quote == ('a "quoted" line', ["a ", " line"])
