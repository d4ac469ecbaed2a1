import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.emulator.server import EmulatorServer
from apps.healthimaging.gateway import get_gateway
from tests.support.emulator import seed_archive

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch, settings) -> Iterator[None]:
    """No test can reach AWS: dummy credentials and, unless a test says otherwise, an
    endpoint nobody listens on."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    settings.HEALTHIMAGING_ENDPOINT_URL = "http://127.0.0.1:9"
    get_gateway.cache_clear()
    yield
    get_gateway.cache_clear()


@pytest.fixture(scope="session")
def live_emulator(tmp_path_factory) -> Iterator[EmulatorServer]:
    """One emulator for the portal's tests, on a free port of 127.0.0.1."""
    state = tmp_path_factory.mktemp("healthimaging") / "emulator.sqlite3"
    server = EmulatorServer(str(state), update_delay=0, validate_responses=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browse_archive(live_emulator) -> tuple[str, list[str]]:
    """A data store of 120 realistic image sets (read-only: do not change it in tests)."""
    return seed_archive(live_emulator, 120, name="browse", random_seed=21)


@pytest.fixture
def healthimaging(live_emulator, settings) -> EmulatorServer:
    """Point the portal's gateway at the live emulator."""
    settings.HEALTHIMAGING_ENDPOINT_URL = live_emulator.url
    get_gateway.cache_clear()
    return live_emulator


@pytest.fixture
def portal_env(tmp_path):
    """Environment for a child `manage.py`: ours, minus portal settings, own var dir."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "PORTAL_")) and name != "DATABASE_URL"
    }
    env["PORTAL_VAR_DIR"] = str(tmp_path / "var")
    env["DJANGO_SETTINGS_MODULE"] = "imaging_portal.settings"
    return env


@pytest.fixture
def manage_py():
    """argv prefix that runs this project's manage.py with this interpreter."""
    return [sys.executable, str(PROJECT_ROOT / "manage.py")]
