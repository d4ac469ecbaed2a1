"""R1-R4: queued edits survive a killed pool process, a killed worker and a killed Redis.

Each case queues 100 patient name corrections on 100 fresh image sets, lets real `celery
worker` processes apply them through a Redis of the test's own, strikes mid-run, and then
counts, from the rows, the emulator's call log and the image sets' versions, that every edit
ended, none was lost and none was applied twice.
"""

import base64
import collections
import json
import random
import re
import statistics
import time
from collections.abc import Iterator

import pytest
import redis

from apps.edits.models import MetadataEdit
from apps.edits.services import ADVANCE_TASK
from tests.support.canary import PREFIX as CANARY
from tests.support.edits import (
    TERMINAL,
    UPDATE,
    Status,
    patient_name,
    queue_name_edit,
    versions,
    wait_until,
)
from tests.support.emulator import emulator_calls, emulator_config, fresh_image_sets
from tests.support.worker import CeleryWorker, RedisServer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

EDITS = 100
KILLS = 5
# Each updated image set stays LOCKED this long, so an edit takes a few steps and the
# faults land while edits are in flight.
UPDATE_DELAY = 1
# A step may run 8 s and its lease lasts 10 s, so a step cut mid-way is re-driven within
# seconds; the broker hands back an unacknowledged message after 16 s (twice the limit).
# The reconciler waits 10 s, longer than a step waits in the queue behind 100 edits, so
# it re-drives only steps whose message was lost or whose lease ran out.
FAST_RECOVERY = {
    "CELERY_TASK_TIME_LIMIT": "8",
    "CELERY_VISIBILITY_TIMEOUT": "16",
    "EDIT_RECONCILE_GRACE_SECONDS": "10",
}
QUEUE = "celery"
WORKER_CRASHED = "Unrecoverable error"
REDROVE = re.compile(r"Reconciler re-drove (\d+) edits")
RECEIVED = re.compile(
    r"Task apps\.edits\.tasks\.advance_edit\[([0-9a-f-]{36})\] received"
)


@pytest.fixture
def persistent() -> bool:
    """Whether the test's Redis keeps an append-only file (R4 runs without)."""
    return True


@pytest.fixture
def redis_server(persistent, tmp_path) -> Iterator[RedisServer]:
    """A Redis of the test's own, which it may kill: it stands in for the session's, so
    `broker` and `start_worker` point this process and the workers at it."""
    server = RedisServer(tmp_path / "redis", persistent=persistent).start()
    yield server
    server.kill()


@pytest.fixture
def queued(editor, broker, healthimaging) -> list[tuple[MetadataEdit, str]]:
    """100 name corrections on 100 fresh image sets, queued before any worker runs."""
    datastore_id, image_set_ids = fresh_image_sets(healthimaging, EDITS)
    return [
        (
            queue_name_edit(editor, datastore_id, image_set_id, name),
            name,
        )
        for number, image_set_id in enumerate(image_set_ids)
        for name in [f"{CANARY}FAULT^CASE^{number}"]
    ]


def terminal_count(edits: list[tuple[MetadataEdit, str]]) -> int:
    return MetadataEdit.objects.filter(
        pk__in=[edit.pk for edit, _ in edits], status__in=TERMINAL
    ).count()


def stepped_count(edits: list[tuple[MetadataEdit, str]]) -> int:
    """Edits a worker has taken at least one step of."""
    return MetadataEdit.objects.filter(
        pk__in=[edit.pk for edit, _ in edits], checks__gt=0
    ).count()


def wait_all_terminal(edits: list[tuple[MetadataEdit, str]], *, timeout: float) -> None:
    try:
        wait_until(
            lambda: terminal_count(edits) == len(edits),
            timeout=timeout,
            what="every edit terminal",
            poll=0.25,
        )
    except AssertionError as error:
        stuck = MetadataEdit.objects.filter(
            pk__in=[edit.pk for edit, _ in edits], status__in=MetadataEdit.ACTIVE
        ).values_list("status", "lease", "interruptions", "checks", "next_check_at")
        raise AssertionError(f"{error}; still active: {list(stuck)}") from None


def tally(edits: list[tuple[MetadataEdit, str]], url: str) -> dict[str, int]:
    """Terminal and succeeded edits; lost ones (their value not on the image set, or not
    as the one new version); image sets updated more than once."""
    accepted = collections.Counter(
        call["imageSetId"]
        for call in emulator_calls(url, operation=UPDATE)
        if call["status"] == 200
    )
    counts = dict.fromkeys(("terminal", "succeeded", "lost", "applied twice"), 0)
    for edit, name in edits:
        edit.refresh_from_db()
        counts["terminal"] += edit.status in TERMINAL
        counts["succeeded"] += edit.status == Status.SUCCEEDED
        applied = versions(edit.datastore_id, edit.image_set_id) == [2, 1] and (
            patient_name(edit.datastore_id, edit.image_set_id) == name
        )
        counts["lost"] += not applied
        counts["applied twice"] += accepted[edit.image_set_id] > 1
    return counts


def record_outcome(figure, case: str, counts: dict[str, int]) -> None:
    figure(
        case,
        "edits terminal (succeeded), lost, applied twice",
        f"{counts['terminal']}/{EDITS} ({counts['succeeded']}), {counts['lost']}, "
        f"{counts['applied twice']}",
    )


def held_by_a_worker(url: str) -> set[str]:
    """Image sets of the edits whose step messages a worker took and never acknowledged
    (kombu keeps them in Redis, in the `unacked` hash, until the visibility timeout)."""
    edit_ids = set()
    for raw in redis.Redis.from_url(url).hvals("unacked"):
        payload, _exchange, _routing_key = json.loads(raw)
        if payload["headers"]["task"] == ADVANCE_TASK:
            args, _kwargs, _embed = json.loads(base64.b64decode(payload["body"]))
            edit_ids.add(args[0])
    return set(
        MetadataEdit.objects.filter(pk__in=edit_ids).values_list(
            "image_set_id", flat=True
        )
    )


def reexecutions(worker: CeleryWorker) -> int:
    """Steps delivered again: messages the worker received more than once."""
    received = collections.Counter(RECEIVED.findall(worker.output()))
    return sum(times - 1 for times in received.values())


def test_r1_killed_pool_processes_lose_no_edit_and_apply_none_twice(
    queued, start_worker, healthimaging, figure
):
    """A pool process killed mid-step: its message goes back to the queue at once
    (`reject_on_worker_lost`), and its step, redelivered, takes over the dead one's lease.
    No beat: no reconciler to hide a message that was not redelivered. Image sets stay
    LOCKED 5 s, so the run outlasts the kills."""
    with emulator_config(healthimaging.url, updateDelaySeconds=5):
        worker = start_worker(
            overrides=FAST_RECOVERY, concurrency=2, beat=False, name="r1"
        )
        for kill in range(KILLS):
            time.sleep(1.2 if kill else 0.5)
            # The pool replaces a killed process: kill one of a full pool each time.
            pool = wait_until(
                lambda: len(children := worker.pool_children()) == 2 and children,
                timeout=15,
                what="the pool back to 2 processes",
            )
            worker.kill_pool_child(random.choice(pool))  # noqa: S311
        finished_at_last_kill = terminal_count(queued)
        wait_all_terminal(queued, timeout=60)

    counts = tally(queued, healthimaging.url)
    record_outcome(figure, "R1", counts)
    figure("R1", "pool processes killed", KILLS)
    figure("R1", "re-executions (steps delivered again)", reexecutions(worker))
    assert finished_at_last_kill < EDITS, "the kills came after the work"
    assert counts == {
        "terminal": EDITS,
        "succeeded": EDITS,
        "lost": 0,
        "applied twice": 0,
    }


def test_r2_a_killed_worker_loses_no_edit_and_applies_none_twice(
    queued, start_worker, broker, healthimaging, figure
):
    """The whole worker (pool, beat) SIGKILLed; a new one re-drives what it held: steps
    between two checks at once, steps cut mid-way once their lease runs out."""
    with emulator_config(healthimaging.url, updateDelaySeconds=UPDATE_DELAY):
        first = start_worker(overrides=FAST_RECOVERY, concurrency=4, name="r2-first")
        wait_until(lambda: terminal_count(queued) >= 20, timeout=30, what="under way")
        first.kill()
        killed_at = time.time()
        interrupted = held_by_a_worker(broker.url) & set(
            MetadataEdit.objects.filter(status__in=MetadataEdit.ACTIVE).values_list(
                "image_set_id", flat=True
            )
        )
        start_worker(overrides=FAST_RECOVERY, concurrency=4, name="r2-second")
        wait_all_terminal(queued, timeout=60)

    counts = tally(queued, healthimaging.url)
    resumed = {}
    for call in emulator_calls(healthimaging.url):
        if call["imageSetId"] in interrupted and call["at"] >= killed_at:
            resumed.setdefault(call["imageSetId"], call["at"] - killed_at)
    delays = sorted(resumed.values())
    assert interrupted, "the kill came after the work"
    record_outcome(figure, "R2", counts)
    figure("R2", "edits interrupted (held by the killed worker)", len(interrupted))
    figure(
        "R2",
        "from the kill to an interrupted edit's next call, p50, max (a new worker "
        "started meanwhile)",
        f"{statistics.median(delays):.1f} s, {max(delays):.1f} s",
    )
    assert resumed.keys() == interrupted
    assert counts == {
        "terminal": EDITS,
        "succeeded": EDITS,
        "lost": 0,
        "applied twice": 0,
    }


@pytest.mark.parametrize(
    ("case", "persistent"),
    [
        pytest.param("R3", True, id="R3-append-only"),
        pytest.param("R4", False, id="R4-volatile"),
    ],
)
def test_r3_r4_a_killed_redis_loses_no_edit_and_applies_none_twice(
    case, persistent, queued, start_worker, redis_server, healthimaging, figure
):
    """Redis SIGKILLed mid-run and started again 3 s later on the same port, with its
    append-only file (R3) or without one, every message gone (R4): the rows are the truth,
    and the reconciler re-drives every edit whose message was lost.

    kombu 5.7.0 sometimes takes the worker down on the reconnect ("Unrecoverable error:
    AttributeError" while closing the dead connection). Compose restarts it (`restart:
    unless-stopped`); here the test does, and reports how often it had to.
    """
    client = redis.Redis.from_url(redis_server.url)
    with emulator_config(healthimaging.url, updateDelaySeconds=UPDATE_DELAY):
        workers = [start_worker(overrides=FAST_RECOVERY, concurrency=4, name=case)]
        wait_until(lambda: stepped_count(queued) >= 10, timeout=30, what="under way")
        queue_before = client.llen(QUEUE)
        redis_server.kill()
        log_at_kill = len(workers[0].output())
        time.sleep(3)
        redis_server.start()
        queue_after = client.llen(QUEUE)

        def finished_with_a_worker_running() -> bool:
            if WORKER_CRASHED in workers[-1].output(this_run=True):
                workers[-1].kill()
                workers.append(
                    start_worker(overrides=FAST_RECOVERY, concurrency=4, name=case)
                )
            return terminal_count(queued) == EDITS

        wait_until(
            finished_with_a_worker_running,
            timeout=90,
            what="every edit terminal",
            poll=0.25,
        )

    counts = tally(queued, healthimaging.url)
    logs = workers[0].output()[log_at_kill:] + "".join(
        worker.output() for worker in workers[1:]
    )
    redriven = sum(int(count) for count in REDROVE.findall(logs))
    record_outcome(figure, case, counts)
    figure(
        case,
        "queue length before the kill, after the restart",
        f"{queue_before}, {queue_after}",
    )
    figure(case, "edits re-driven by the reconciler (re-drives)", redriven)
    figure(
        case, "worker restarts (kombu crashed it on the reconnect)", len(workers) - 1
    )
    if persistent:
        assert queue_after > 0, "the append-only file did not bring the queue back"
    else:
        assert queue_after == 0, "a Redis without persistence kept its queue"
        assert redriven, "every message was lost: only the reconciler can have finished"
    assert counts == {
        "terminal": EDITS,
        "succeeded": EDITS,
        "lost": 0,
        "applied twice": 0,
    }
