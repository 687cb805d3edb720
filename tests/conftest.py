"""One rule for the whole suite: the tests that start services share one pytest-xdist worker.

The suite runs on two workers (`-n 2 --dist loadgroup`, pyproject.toml). Integration and
end-to-end tests start PostgreSQL databases, Redis key spaces and service processes; run on
one worker they keep the connection count of one mesh at a time (PostgreSQL's default of
100 clients is enough), while unit and static tests run beside them on the other worker.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _pytest.nodeid import coerce_node_id

SERVICE_TIERS = ("integration", "e2e")
GROUP = "services"


# tryfirst: xdist's own hook reads the group marks to name the tests it schedules.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test under tests/integration and tests/e2e for the one services worker."""
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.path)).relative_to(root).parts
        if parts and parts[0] in SERVICE_TIERS:
            item.add_marker(pytest.mark.xdist_group(GROUP))
            _suffix_group(item)


def _suffix_group(item: pytest.Item) -> None:
    """Names the item `<nodeid>@services`, as xdist's loadgroup does on pytest 8.

    pytest-xdist 3.8 writes the suffix to `item._nodeid`, which pytest 9 no longer reads
    (the id lives in `item._id`): without this, loadgroup spreads the group over both
    workers. Remove once xdist follows pytest 9.
    """
    if not item.nodeid.endswith(f"@{GROUP}"):
        item._id = coerce_node_id(f"{item.nodeid}@{GROUP}")  # type: ignore[attr-defined]


def pytest_sessionfinish() -> None:
    """Waits for the databases still being dropped in the background (tests/support/stores.py)."""
    stores = sys.modules.get("tests.support.stores")
    if stores is not None:
        for failure in stores.finish_drops():
            print(f"a test database was not dropped: {failure}", file=sys.stderr)
