"""Global pacing of UpdateImageSetMetadata calls, shared by every worker.

HealthImaging allows 0.25 updates per second per account (burst 1). Celery's own
`rate_limit` is per worker, so the window lives in Redis (the `limits` library's moving
window, kept atomic by a server-side script): a burst of edits waits its turn instead of
being throttled.
"""

import functools
import time

import limits
from django.conf import settings
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

_KEY = "healthimaging-update-image-set-metadata"


@functools.cache
def _limiter() -> tuple[MovingWindowRateLimiter, limits.RateLimitItem]:
    storage = storage_from_string(settings.EDIT_RATE_LIMIT_STORAGE_URL)
    return MovingWindowRateLimiter(storage), limits.parse(
        settings.HEALTHIMAGING_UPDATE_RATE
    )


def update_interval() -> float:
    """Seconds between two updates at the sustained rate."""
    _, rate = _limiter()
    return rate.get_expiry() / rate.amount


def take_update_slot() -> float:
    """Claim the right to send one update now: 0 if granted, else seconds until a slot frees."""
    limiter, rate = _limiter()
    if limiter.hit(rate, _KEY):
        return 0.0
    reset_at, _ = limiter.get_window_stats(rate, _KEY)
    return max(reset_at - time.time(), 0.01)
