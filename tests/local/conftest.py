"""The ``interrupts`` marker: `make local` interrupted by real signals at each stage of a real run (one deploy per
test, about a minute each). The default run deselects them (nothing is skipped); `make test-interrupts` runs them
(``pytest tests/local -m interrupts``)."""

from __future__ import annotations

import pytest

MARKER = "interrupts"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: one full local sandbox run per test (make test-interrupts)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MARKER in (config.getoption("markexpr") or ""):
        return  # selected by -m: pytest's own marker expression decides
    deselected = [item for item in items if item.get_closest_marker(MARKER)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(MARKER)]
