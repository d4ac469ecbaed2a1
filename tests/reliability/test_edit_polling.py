"""Following an update while HealthImaging holds the image set LOCKED (R14): the checks come
further and further apart (first delay, doubling, capped), each task execution is short (no
sleeping in workers), and a set locked for ever ends "Still locked" at the deadline.

The emulator holds each set LOCKED for a given number of GetImageSet polls; its call log's
timestamps give the schedule, the worker's log ("Task ... succeeded in Xs") the executions.
"""

import re

import pytest

from tests.support.canary import PREFIX as CANARY
from tests.support.edits import UPDATE, Status, queue_name_edit, wait_for
from tests.support.emulator import (
    emulator_calls,
    fresh_image_sets,
    hold_next_update_locked,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The production schedule (2 s doubling to 30 s, 15 min deadline), scaled down.
FIRST_DELAY = 0.2
MAX_DELAY = 0.8
DEADLINE = 10
# Late is allowed (a busy machine), early is not: only the network and clocks may make a
# check look a little early from the emulator's side.
EARLY = 0.05
# A set held for ever ends at the first check at or after the deadline: within one longest
# delay (with its 10 % jitter) and a second for the worker to get to it.
DEADLINE_TOLERANCE = MAX_DELAY * 1.1 + 1
LONGEST_TASK = 5.0
HELD_POLLS = (0, 3, 10)
_TASK_SUCCEEDED = re.compile(
    r"Task apps\.edits\.tasks\.\w+\[[^\]]+\] succeeded in ([\d.]+)s"
)


def expected_delay(waited: float) -> float:
    """The services' rule: the time waited so far, at least the first delay, at most the cap."""
    return min(max(waited, FIRST_DELAY), MAX_DELAY)


def test_polls_grow_to_the_cap_and_a_set_locked_for_ever_times_out_at_the_deadline(
    editor, start_worker, healthimaging, figure
):
    datastore_id, image_set_ids = fresh_image_sets(healthimaging, len(HELD_POLLS) + 1)
    holds = dict(zip(image_set_ids, [*HELD_POLLS, None], strict=True))
    for image_set_id, polls in holds.items():
        hold_next_update_locked(healthimaging.url, image_set_id, polls)
    worker = start_worker(
        overrides={
            "EDIT_POLL_FIRST_SECONDS": str(FIRST_DELAY),
            "EDIT_POLL_MAX_SECONDS": str(MAX_DELAY),
            "EDIT_DEADLINE_SECONDS": str(DEADLINE),
        }
    )
    edits = {
        image_set_id: queue_name_edit(
            editor, datastore_id, image_set_id, f"{CANARY}HELD^LOCKED"
        )
        for image_set_id in holds
    }
    edits = {
        image_set_id: wait_for(edit, timeout=DEADLINE + 30)
        for image_set_id, edit in edits.items()
    }
    worker.stop()

    schedules = {}
    for image_set_id, polls in holds.items():
        sent = emulator_calls(
            healthimaging.url, operation=UPDATE, image_set_id=image_set_id
        )[-1]["at"]
        checks = [
            call["at"]
            for call in emulator_calls(
                healthimaging.url, operation="GetImageSet", image_set_id=image_set_id
            )
        ]
        times = [sent, *checks]
        gaps = [
            later - earlier for earlier, later in zip(times, times[1:], strict=False)
        ]
        # Each check came no sooner than the rule allowed, given how long it had waited.
        for at, gap in zip(times, gaps, strict=False):
            assert gap >= 0.9 * expected_delay(at - sent) - EARLY, (polls, gaps)
        # ... and none much later than the longest delay (a busy machine's margin).
        assert max(gaps) <= 1.1 * MAX_DELAY + 2, (polls, gaps)
        schedules[polls] = (checks, gaps)
    for polls in HELD_POLLS:
        image_set_id = image_set_ids[HELD_POLLS.index(polls)]
        checks, gaps = schedules[polls]
        assert edits[image_set_id].status == Status.SUCCEEDED
        assert len(checks) == polls + 1, "the polls it was held for, then one more"
    # The delay grows: the first checks come sooner than the last ones.
    _, gaps = schedules[max(HELD_POLLS)]
    assert gaps[0] < MAX_DELAY, gaps
    assert sum(gaps[:2]) / 2 < sum(gaps[-3:]) / 3, gaps
    forever = edits[image_set_ids[-1]]
    timed_out_after = (forever.finished_at - forever.waiting_since).total_seconds()
    tasks = [float(seconds) for seconds in _TASK_SUCCEEDED.findall(worker.output())]

    for polls in HELD_POLLS:
        checks, gaps = schedules[polls]
        figure(
            "R14",
            f"held LOCKED for {polls} polls: checks, gaps (s)",
            f"{len(checks)}, " + " ".join(f"{gap:.2f}" for gap in gaps),
        )
    figure(
        "R14",
        f"held for ever: status, after (s) [deadline {DEADLINE} s, "
        f"+{DEADLINE_TOLERANCE:.1f} s allowed]",
        f"{forever.status}, {timed_out_after:.1f}",
    )
    figure(
        "R14",
        "task executions, longest (s)",
        f"{len(tasks)}, {max(tasks):.3f}",
    )
    assert forever.status == Status.TIMED_OUT
    assert DEADLINE <= timed_out_after <= DEADLINE + DEADLINE_TOLERANCE
    assert tasks, "the worker logged no task"
    assert max(tasks) < LONGEST_TASK
