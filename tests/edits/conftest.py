import itertools

import pytest

from apps.edits import pacing, services
from apps.emulator.server import EmulatorServer
from tests.support.emulator import seed_archive

_archives = itertools.count()


@pytest.fixture(autouse=True)
def fast_pacing(settings):
    """An in-process limiter wide open, unless a test sets its own rate."""
    settings.EDIT_RATE_LIMIT_STORAGE_URL = "memory://"
    settings.HEALTHIMAGING_UPDATE_RATE = "1000 per second"
    pacing._limiter.cache_clear()
    yield
    pacing._limiter.cache_clear()


@pytest.fixture
def scheduled(monkeypatch) -> list[tuple[str, float]]:
    """Steps the services ask for, recorded instead of sent: the test takes them."""
    calls: list[tuple[str, float]] = []
    monkeypatch.setattr(
        services,
        "schedule_step",
        lambda edit_id, countdown=0: calls.append((str(edit_id), countdown)),
    )
    return calls


@pytest.fixture
def image_sets(healthimaging: EmulatorServer) -> tuple[str, list[str]]:
    """Three fresh image sets of their own data store, for tests that change them."""
    number = next(_archives)
    return seed_archive(healthimaging, 3, name=f"edits-{number}", random_seed=number)


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_user("editor", password="not-used-here")
