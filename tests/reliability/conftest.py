"""The reliability and security suite: faults, load and attacks, each reporting its figures.

Every test in this folder is marked `reliability` (`make reliability` runs only them) and
records what it measured with the `figure` fixture (tests/support/figures.py).
"""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


# S13 searches everything the whole run left behind, so it runs after every other test.
LAST = HERE / "test_phi_canary.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.reliability)
    items.sort(key=lambda item: Path(item.fspath).resolve() == LAST)
