"""The reliability and security suite: faults, load and attacks, each reporting its figures.

Every test in this folder is marked `reliability` (`make reliability` runs only them) and
records what it measured with the `figure` fixture (tests/support/figures.py).
"""

from pathlib import Path

import pytest

from apps.accounts.roles import EDITOR
from tests.support.portal import PortalServer

HERE = Path(__file__).resolve().parent


# S13 searches everything the whole run left behind, so it runs after every other test.
LAST = HERE / "test_phi_canary.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.reliability)
    items.sort(key=lambda item: Path(item.fspath).resolve() == LAST)


@pytest.fixture
def start_portal(child_env, tmp_path):
    """Start the portal under gunicorn, sharing the test's database, Redis and emulator;
    call `wait_until_serving()` on what it returns. Every portal started is stopped."""
    servers: list[PortalServer] = []

    def start(*, workers: int = 2, overrides=None) -> PortalServer:
        server = PortalServer(
            child_env(overrides),
            tmp_path / f"gunicorn-{len(servers)}.log",
            workers=workers,
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def editor(make_user):
    return make_user(EDITOR)
