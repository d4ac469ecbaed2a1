"""S15: 50 signed-in users for LOAD_SECONDS (60 by default) against the portal under gunicorn.

The portal runs as in production (docker-compose.yml's gunicorn command, reading
gunicorn.conf.py: 3 worker processes of 4 threads), with a real Redis and a real `celery
worker`, all sharing the test's database, against the live emulator answering every call
after 50 ms. locust (tests/reliability/locustfile.py), in a process of its own, plays 50
users who sign in and then, thinking 0.5 to 2 s between actions, search (the page and htmx's
results fragment), open image sets and, for editors, correct a patient name on a fresh image
set. The figures: requests, p50/p95 of each of those once every user is in, the share of 5xx
(must be 0), p95 search under load against the unloaded p50, and how long the queue takes to
drain afterwards (every accepted edit terminal, the broker's queues empty).
"""

import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.contrib.auth.hashers import make_password

from apps.accounts.roles import EDITOR, VIEWER
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from tests.support.canary import PREFIX as CANARY
from tests.support.edits import wait_until
from tests.support.emulator import emulator_config, fresh_image_sets
from tests.support.portal import signed_in

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Seconds of load: 60 in CI; `LOAD_SECONDS=180 pytest tests/reliability/test_load.py` for longer.
LOAD_SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
USERS = 50
SPAWN_RATE = 5  # users per second: each sign-in is a full PBKDF2 hash on the server
EMULATOR_LATENCY = 0.05
PASSWORD = "load-test-password-2026"
EDITOR_ACCOUNTS = 5
# About one edit is queued per 2 s of load; two fresh image sets per second leave room.
EDIT_TARGETS_PER_SECOND = 2
UNLOADED_SEARCHES = 25
DRAIN_TIMEOUT = 120
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SEARCH, FRAGMENT, IMAGE_SET, EDIT, SIGN_IN = (
    "search page",
    "search results fragment (htmx)",
    "image set page",
    "edit submission",
    "sign in",
)


@pytest.fixture
def accounts(make_user, django_user_model) -> dict[str, list[str]]:
    """One viewer and a few editors, all with the same password, hashed once."""
    hashed = make_password(PASSWORD)
    names = {
        VIEWER: ["load-viewer"],
        EDITOR: [f"load-editor-{number}" for number in range(EDITOR_ACCOUNTS)],
    }
    for role, usernames in names.items():
        for username in usernames:
            make_user(role, username=username)
    django_user_model.objects.filter(username__startswith="load-").update(
        password=hashed
    )
    return {"viewer": names[VIEWER], "editor": names[EDITOR]}


@pytest.fixture
def portal(start_portal, start_worker) -> str:
    """The portal with docker-compose.yml's 3 gunicorn workers, and a `celery worker`
    started while it boots."""
    server = start_portal(workers=3, overrides={"DJANGO_LOG_LEVEL": "WARNING"})
    start_worker(concurrency=2)
    return server.wait_until_serving().url


def search_paths(datastore_id: str, patient_ids: list[str], count: int) -> list[str]:
    """The searches the load makes, in its proportions: 7 in 10 by patient ID, the rest
    without criteria."""
    return [
        f"/datastores/{datastore_id}/"
        + (
            ""
            if n % 10 < 3
            else f"?property=patient_id&value={patient_ids[n % len(patient_ids)]}"
        )
        for n in range(count)
    ]


def percentile(samples: list[float], fraction: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[
        round(fraction * 100) - 1
    ]


def broker_backlog(client: redis.Redis) -> int:
    """Messages waiting in the broker: every Celery queue, plus those delivered to a
    worker and not yet acknowledged (scheduled retries and polls among them)."""
    queued = sum(
        client.llen(key)
        for key in client.scan_iter("celery*")
        if client.type(key) == b"list"
    )
    return queued + client.hlen("unacked")


@pytest.mark.timeout(LOAD_SECONDS + 240)
def test_50_users_search_browse_and_edit_with_no_5xx_and_the_queue_drains(
    accounts,
    portal,
    browse_archive,
    healthimaging,
    broker,
    tmp_path,
    figure,
):
    datastore_id, browse_ids = browse_archive
    gateway = get_gateway()
    patient_ids = sorted(
        {
            gateway.get_image_set_metadata(datastore_id, image_set_id)["Patient"][
                "DICOM"
            ]["PatientID"]
            for image_set_id in browse_ids[:10]
        }
    )
    edit_datastore_id, edit_targets = fresh_image_sets(
        healthimaging, LOAD_SECONDS * EDIT_TARGETS_PER_SECOND
    )
    samples_path = tmp_path / "load-samples.json"
    plan = {
        "password": PASSWORD,
        "canary": CANARY,  # new patient names carry it, for S13 to look for
        "accounts": accounts,
        "weights": {"viewer": 4, "editor": 1},
        "browse": {
            "datastore_id": datastore_id,
            "image_set_ids": browse_ids,
            "patient_ids": patient_ids,
        },
        "edit": {"datastore_id": edit_datastore_id, "image_set_ids": edit_targets},
        "samples": str(samples_path),
    }
    (tmp_path / "load-plan.json").write_text(json.dumps(plan))

    with emulator_config(healthimaging.url, latencySeconds=EMULATOR_LATENCY):
        viewer = signed_in(portal, accounts["viewer"][0], PASSWORD)
        unloaded = []
        for path in search_paths(datastore_id, patient_ids, UNLOADED_SEARCHES + 5):
            started = time.perf_counter()
            assert viewer.get(portal + path, timeout=30).status_code == 200
            unloaded.append(time.perf_counter() - started)
        unloaded = unloaded[5:]  # the first few warm each gunicorn worker up

        started = time.monotonic()
        locust = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "--locustfile",
                str(LOCUSTFILE),
                "--headless",
                "--host",
                portal,
                "--users",
                str(USERS),
                "--spawn-rate",
                str(SPAWN_RATE),
                "--run-time",
                f"{LOAD_SECONDS}s",
                "--stop-timeout",
                "5",
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env={**os.environ, "LOAD_PLAN": str(tmp_path / "load-plan.json")},
            capture_output=True,
            text=True,
            timeout=LOAD_SECONDS + 60,
        )
        load_seconds = time.monotonic() - started
        assert samples_path.exists(), locust.stderr[-4000:]
        result = json.loads(samples_path.read_text())

        # The drain: every accepted edit terminal, and nothing left in the broker.
        drain_started = time.monotonic()
        edits = MetadataEdit.objects.filter(requested_by__username__startswith="load-")
        wait_until(
            lambda: not edits.filter(status__in=MetadataEdit.ACTIVE).exists(),
            timeout=DRAIN_TIMEOUT,
            what="every accepted edit terminal",
            poll=0.2,
        )
        backlog = redis.Redis.from_url(broker.url)
        wait_until(
            lambda: broker_backlog(backlog) == 0,
            timeout=30,
            what="the broker's queues empty",
            poll=0.2,
        )
        drain_seconds = time.monotonic() - drain_started

    # Timings once all 50 users are in: while they arrive, their sign-ins (a deliberately
    # slow password hash each) share the server, and are reported on their own.
    spawned_at = result["spawned"]["at"]
    by_name: dict[str, list[float]] = {}
    statuses: Counter[int] = Counter()
    failed: Counter[str] = Counter()
    pages_not_shown: Counter[str] = Counter()
    for name, milliseconds, status, started_at, failure in result["samples"]:
        if started_at >= spawned_at or name == SIGN_IN:
            by_name.setdefault(name, []).append(milliseconds)
        statuses[status] += 1
        failed[name] += failure
        pages_not_shown[name] += name in (SEARCH, FRAGMENT, IMAGE_SET) and status != 200
    requests_made = sum(statuses.values())
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    unanswered = statuses[0]
    outcomes = Counter(result["edit_outcomes"])
    ended = Counter(edits.values_list("status", flat=True))

    figure("S15", "users, load seconds (wall)", f"{USERS}, {load_seconds:.0f}")
    figure(
        "S15",
        "requests (by status)",
        f"{requests_made} ({dict(sorted(statuses.items()))})",
    )
    for name in (SEARCH, FRAGMENT, IMAGE_SET, EDIT, SIGN_IN):
        timings = by_name[name]
        figure(
            "S15",
            f"{name} p50 / p95 (n){'' if name == SIGN_IN else ', all users in'}",
            f"{percentile(timings, 0.5):.0f} / {percentile(timings, 0.95):.0f} ms "
            f"({len(timings)})",
        )
    unloaded_p50 = percentile(unloaded, 0.5) * 1000
    figure(
        "S15",
        "p95 search under load / unloaded p50",
        f"{percentile(by_name[SEARCH], 0.95):.0f} / {unloaded_p50:.0f} ms = "
        f"{percentile(by_name[SEARCH], 0.95) / unloaded_p50:.1f}x",
    )
    figure("S15", "5xx", f"{server_errors} ({server_errors / requests_made:.2%})")
    figure(
        "S15",
        "edits accepted, refused (edit in progress)",
        f"{outcomes['accepted']}, {outcomes['refused: edit in progress']}",
    )
    figure(
        "S15",
        "drain, the worker paced at 50 updates/s (a raised quota): edits terminal (by "
        "status), broker backlog, seconds",
        f"{sum(ended.values())}/{edits.count()} ({dict(ended)}), "
        f"{broker_backlog(backlog)}, {drain_seconds:.1f} s",
    )

    assert server_errors == 0
    assert not +failed, f"requests locust counted as failed: {failed}"
    assert not +pages_not_shown, f"pages answered other than 200: {pages_not_shown}"
    assert unanswered == 0, "requests without an answer (connection errors, timeouts)"
    assert set(outcomes) <= {"accepted", "refused: edit in progress"}, outcomes
    assert edits.count() == outcomes["accepted"] > 0
    assert set(ended) <= {MetadataEdit.Status.SUCCEEDED, MetadataEdit.Status.CONFLICT}
