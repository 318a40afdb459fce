"""tools.remap_links: line ranges follow unchanged lines when code above them is inserted or removed."""

from __future__ import annotations

from tools.remap_links import line_map, remap_links

OLD = "a\nb\ndef f():\n    return 1\nc\n"
NEW = "new 1\nnew 2\na\nb\ndef f():\n    return 1\nc\n"


def test_unchanged_lines_keep_their_identity():
    assert line_map(OLD.splitlines(), NEW.splitlines()) == {1: 3, 2: 4, 3: 5, 4: 6, 5: 7}


def test_links_and_their_texts_move_with_the_code():
    page = "see [x.py#L3-L4](../x.py#L3-L4) and [y](../x.py#L1-L1)"
    moved, count = remap_links(page, lambda path: OLD, lambda path: NEW)
    assert moved == "see [x.py#L5-L6](../x.py#L5-L6) and [y](../x.py#L3-L3)"
    assert count == 2


def test_rewritten_ranges_and_unknown_files_are_left_for_a_human():
    page = "[z](../x.py#L3-L4) [w](../gone.py#L1-L2)"
    rewritten = "completely\ndifferent\ncontent\nhere\n"
    moved, count = remap_links(page, lambda path: None if path == "gone.py" else OLD, lambda path: rewritten)
    assert (moved, count) == (page, 0)
