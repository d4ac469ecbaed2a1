import os
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
