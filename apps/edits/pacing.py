"""Global pacing of UpdateImageSetMetadata calls, shared by every worker.

HealthImaging allows 0.25 updates per second per account (burst 1), counted as the calls
reach it. Celery's own `rate_limit` is per worker, so the windows live in Redis (the `limits`
library's moving window, kept atomic by a server-side script): a burst of edits waits its turn
instead of being throttled.

A slot is taken just before a call, but the call reaches HealthImaging a little later, and by
a different delay each time (a database write, signing, the network, the SDK's own retries).
So the call's end counts too, in a window of its own: with HealthImaging's quota (1 per
interval) the next slot opens one interval after the last call's end, and two calls never
reach the service closer together than the interval. (A call's own retries, botocore's after a
throttle or a 5xx answer, stay inside that call and are not paced apart from another's.)
"""

import functools
import logging
import time

import limits
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

_KEY = "healthimaging-update-image-set-metadata"
_ENDS_KEY = "healthimaging-update-image-set-metadata-ends"


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
    if limiter.test(rate, _ENDS_KEY) and limiter.hit(rate, _KEY):
        return 0.0
    # A window with room left would report a reset one whole window away: only full ones.
    full = [
        reset_at
        for reset_at, remaining in (
            limiter.get_window_stats(rate, key) for key in (_KEY, _ENDS_KEY)
        )
        if remaining <= 0
    ]
    return max(max(full, default=0.0) - time.time(), 0.01)


def update_ended() -> None:
    """Count the end of an update call (answered or not) in the shared pace."""
    limiter, rate = _limiter()
    try:
        limiter.hit(rate, _ENDS_KEY)
    except SoftTimeLimitExceeded:
        raise
    except Exception:  # noqa: BLE001 - the limiter's Redis is out of reach: the slot taken
        # before the call still paces the next one, only without the margin of this end.
        logger.warning("Update limiter unreachable at the end of an update")
