import pytest

from apps.emulator.server import EmulatorServer
from tests.history.roles import user_with_role
from tests.support.emulator import fresh_image_sets


@pytest.fixture
def image_set(healthimaging: EmulatorServer) -> tuple[str, str]:
    """A fresh image set (version 1): tests change it."""
    datastore_id, (image_set_id,) = fresh_image_sets(healthimaging, 1)
    return datastore_id, image_set_id


@pytest.fixture
def viewer(db):
    return user_with_role("a-viewer", "viewer")


@pytest.fixture
def editor(db):
    return user_with_role("an-editor", "editor")


@pytest.fixture
def admin(db):
    return user_with_role("an-admin", "admin")
