import os
import sys
from collections.abc import Iterator
from pathlib import Path

import kombu.pools
import pytest

from apps.accounts.services import set_role
from apps.emulator.server import EmulatorServer
from apps.healthimaging.gateway import get_gateway, get_probe_gateway
from imaging_portal.celery import app as celery_app
from tests.support.emulator import seed_archive
from tests.support.worker import CeleryWorker, RedisServer, database_url, worker_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.support.figures"]


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
    get_probe_gateway.cache_clear()
    yield
    get_gateway.cache_clear()
    get_probe_gateway.cache_clear()


@pytest.fixture
def make_user(django_user_model):
    """A user with `role` (None: no role at all) and, if given, a password. Usernames are
    `<role>-user`, then `<role>-user-2`, ... for more users of the same role."""
    made: dict[str, int] = {}

    def make(role: str | None, *, username: str | None = None, password=None):
        if username is None:
            base = f"{role or 'nobody'}-user"
            made[base] = made.get(base, 0) + 1
            username = base if made[base] == 1 else f"{base}-{made[base]}"
        user = django_user_model.objects.create_user(username, password=password)
        if role:
            set_role(user, role)
        return user

    return make


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
    get_probe_gateway.cache_clear()
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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A real Redis server on a free port of 127.0.0.1, for the session."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server, settings) -> Iterator[RedisServer]:
    """This process enqueues to the real Redis; the queues start empty."""
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    settings.REDIS_URL = settings.CELERY_BROKER_URL = redis_server.url
    settings.EDIT_RATE_LIMIT_STORAGE_URL = redis_server.url
    previous = celery_app.conf.broker_url
    _point_celery_at(redis_server.url)
    yield redis_server
    _point_celery_at(previous)


def _point_celery_at(url: str) -> None:
    """Send this process's tasks to `url`: a new connection pool, new producers."""
    kombu.pools.reset()  # app.pool is kombu's global pool for the URL: close and forget it
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.conf.broker_url = url


@pytest.fixture
def child_env(broker, healthimaging, tmp_path):
    """The environment of a child process (a worker, a web server) sharing this test's
    database, broker and emulator; call it with environment overrides."""
    from django.db import connection

    def env(overrides=None) -> dict[str, str]:
        return worker_env(
            database_url=database_url(connection.settings_dict),
            redis_url=broker.url,
            emulator_url=healthimaging.url,
            var_dir=tmp_path / "var",
            overrides=overrides,
        )

    return env


@pytest.fixture
def start_worker(child_env, tmp_path):
    """Start `celery worker` processes sharing this test's database, broker and emulator.

    Call it with environment overrides; every worker started is stopped at the end.
    """
    workers: list[CeleryWorker] = []

    def start(
        *, overrides=None, concurrency=2, beat=True, name="worker"
    ) -> CeleryWorker:
        worker = CeleryWorker(
            child_env(overrides),
            tmp_path / f"{name}-{len(workers)}.log",
            concurrency=concurrency,
            beat=beat,
            name=name,
        )
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture(autouse=True)
def fast_pacing(settings) -> Iterator[None]:
    """The update limiter in this process, wide open, unless a test sets its own rate."""
    from apps.edits import pacing

    settings.EDIT_RATE_LIMIT_STORAGE_URL = "memory://"
    settings.HEALTHIMAGING_UPDATE_RATE = "1000 per second"
    pacing._limiter.cache_clear()
    yield
    pacing._limiter.cache_clear()


@pytest.fixture
def scheduled(monkeypatch) -> list[str]:
    """Jobs queued by pages, the API or services: recorded (their ids) instead of sent to
    a worker, so a test takes their steps itself or leaves them queued."""
    from apps.edits import services

    calls: list[str] = []
    monkeypatch.setattr(
        services,
        "schedule_step",
        lambda edit_id, countdown=0: calls.append(str(edit_id)),
    )
    return calls


@pytest.fixture(autouse=True)
def fresh_health_report() -> Iterator[None]:
    """/healthz keeps its report for a few seconds: each test sees its own world."""
    from apps.core import health

    health.forget_report()
    yield
    health.forget_report()


@pytest.fixture(autouse=True)
def api_rate_limits_in_memory(settings) -> Iterator[None]:
    """Each test counts its API requests afresh, in this process."""
    from apps.api import throttling

    settings.API_RATE_LIMIT_STORAGE_URL = "memory://"
    throttling._limiter.cache_clear()
    yield
    throttling._limiter.cache_clear()
