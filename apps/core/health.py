"""Whether the portal can reach what it needs: its database, Redis (the broker and the
shared limiters) and HealthImaging. Each answer is a yes or no; why not goes to the log."""

import logging

import redis
from django.conf import settings
from django.db import connection

from apps.healthimaging.gateway import get_probe_gateway

logger = logging.getLogger(__name__)
PROBE_TIMEOUT_SECONDS = 2


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


def _healthimaging() -> None:
    get_probe_gateway().list_datastores()


CHECKS = {"database": _database, "redis": _redis, "healthimaging": _healthimaging}


def health_report() -> dict[str, bool]:
    """Each dependency by name: reachable or not."""
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
