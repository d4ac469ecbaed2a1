"""Whether the portal can reach what it needs: its database, Redis (the broker and the
shared limiters) and HealthImaging. Each answer is a yes or no; why not goes to the log.

The report is kept for a few seconds per process: anyone may ask (load balancers do, every
few seconds), and each answer must not cost a HealthImaging call and a Redis connection.
"""

import contextlib
import logging
import threading
import time

import redis
from django.conf import settings
from django.db import connection

from apps.healthimaging import errors
from apps.healthimaging.gateway import get_probe_gateway

logger = logging.getLogger(__name__)
PROBE_TIMEOUT_SECONDS = 2
REPORT_SECONDS = 10


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis_urls() -> set[str]:
    """Every Redis the portal uses: the broker and the limiters may each be their own."""
    urls = {
        settings.REDIS_URL,
        settings.CELERY_BROKER_URL,
        settings.EDIT_RATE_LIMIT_STORAGE_URL,
        settings.API_RATE_LIMIT_STORAGE_URL,
    }
    return {url for url in urls if url.startswith(("redis://", "rediss://"))}


def _redis() -> None:
    for url in sorted(_redis_urls()):
        client = redis.Redis.from_url(
            url,
            socket_timeout=PROBE_TIMEOUT_SECONDS,
            socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()


def _healthimaging() -> None:
    # Throttled is an answer: reachable, only busy.
    with contextlib.suppress(errors.Throttled):
        get_probe_gateway().list_datastores()


CHECKS = {"database": _database, "redis": _redis, "healthimaging": _healthimaging}
_lock = threading.Lock()
_last: tuple[float, dict[str, bool]] | None = None


def health_report() -> dict[str, bool]:
    """Each dependency by name: reachable or not (as seen at most REPORT_SECONDS ago)."""
    global _last
    with _lock:
        if _last is not None and time.monotonic() - _last[0] < REPORT_SECONDS:
            return _last[1]
        report = _probe()
        _last = (time.monotonic(), report)
        return report


def forget_report() -> None:
    """Probe afresh on the next request (the tests, which change what is reachable)."""
    global _last
    with _lock:
        _last = None


def _probe() -> dict[str, bool]:
    report = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
            logger.warning("Health check %s failed: %s", name, type(error).__name__)
            report[name] = False
        else:
            report[name] = True
    return report
