"""Per-user API rate limits, shared by every web process.

A moving window per user in Redis (the `limits` library, as the edit pacing uses), one for
reads and a smaller one for writes. DRF's own throttles count in the Django cache, which is
per process here. If Redis can not be reached the request is let through: an outage of the
limiter must not take the API down with it.
"""

import functools
import logging
import time
from typing import TYPE_CHECKING

import limits
from django.conf import settings
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

if TYPE_CHECKING:  # DRF imports this module while defining APIView
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


# A Redis that drops packets must not hold every API request up: give up quickly, let it pass.
STORAGE_TIMEOUT_SECONDS = 0.5


@functools.cache
def _limiter(storage_url: str) -> MovingWindowRateLimiter:
    options = (
        {
            "socket_timeout": STORAGE_TIMEOUT_SECONDS,
            "socket_connect_timeout": STORAGE_TIMEOUT_SECONDS,
        }
        if storage_url.startswith(("redis://", "rediss://"))
        else {}
    )
    return MovingWindowRateLimiter(storage_from_string(storage_url, **options))


class PerUserRateThrottle(BaseThrottle):
    """`API_READ_RATE` for safe methods, `API_WRITE_RATE` for the others, per user."""

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: "APIView") -> bool:
        if not request.user or not request.user.is_authenticated:
            return True  # refused by the permission check instead
        scope, rate = (
            ("read", settings.API_READ_RATE)
            if request.method in SAFE_METHODS
            else ("write", settings.API_WRITE_RATE)
        )
        item = limits.parse(rate)
        key = f"api-{scope}-user-{request.user.pk}"
        limiter = _limiter(settings.API_RATE_LIMIT_STORAGE_URL)
        try:
            if limiter.hit(item, key):
                return True
            reset_at, _ = limiter.get_window_stats(item, key)
        except Exception:  # noqa: BLE001 - any storage failure: let the request through
            logger.warning("API rate limiter unavailable; not limiting", exc_info=True)
            return True
        self.retry_after = max(reset_at - time.time(), 1.0)
        return False

    def wait(self) -> float | None:
        return self.retry_after
