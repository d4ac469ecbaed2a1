import pytest

from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.accounts.services import set_role
from apps.edits import services
from apps.emulator.server import EmulatorServer
from tests.support.emulator import fresh_image_sets


@pytest.fixture
def scheduled(monkeypatch) -> list[tuple[str, float]]:
    """Steps the services ask for, with their countdowns, recorded instead of sent: the
    test takes them."""
    calls: list[tuple[str, float]] = []
    monkeypatch.setattr(
        services,
        "schedule_step",
        lambda edit_id, countdown=0: calls.append((str(edit_id), countdown)),
    )
    return calls


@pytest.fixture
def image_sets(healthimaging: EmulatorServer) -> tuple[str, list[str]]:
    """Three fresh image sets, for tests that change them."""
    return fresh_image_sets(healthimaging, 3)


@pytest.fixture
def editor(django_user_model):
    user = django_user_model.objects.create_user("editor", password="not-used-here")
    set_role(user, EDITOR)
    return user


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="not-used-here")
    set_role(user, VIEWER)
    return user


@pytest.fixture
def admin_user(django_user_model):
    user = django_user_model.objects.create_user("admin", password="not-used-here")
    set_role(user, ADMIN)
    return user
