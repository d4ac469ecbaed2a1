"""Helpers for tests that run the HealthImaging emulator as a real server and talk to it."""

import contextlib
import hashlib
import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import boto3
from botocore.config import Config

from apps.emulator.seed import generate_image_sets
from apps.emulator.server import EmulatorServer


def stable_id(*parts: object) -> str:
    """A data store ID fixed by its parts, so the generated archive is the same every run."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def make_client(
    url: str, *, attempts: int = 1, read_timeout: float | None = None
) -> object:
    """A boto3 client for the emulator making at most `attempts` attempts per call.

    botocore's `max_attempts` counts retries; `total_max_attempts` counts every attempt.
    One attempt by default, so a retried 500 can not pass for a success. `read_timeout`
    (botocore's default is 60 s) lets a test lose a response held by the emulator.
    """
    timeouts = {} if read_timeout is None else {"read_timeout": read_timeout}
    return boto3.client(
        "medical-imaging",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            inject_host_prefix=False,
            retries={"mode": "standard", "total_max_attempts": attempts},
            **timeouts,
        ),
    )


def seed_archive(
    server: EmulatorServer, count: int, *, name: str, random_seed: int
) -> tuple[str, list[str]]:
    """An ACTIVE data store of `count` generated image sets: its ID and the image set IDs."""
    datastore_id = stable_id(name, random_seed)
    server.store.create_datastore(
        name=name,
        client_token=f"{name}-{random_seed}",
        status="ACTIVE",
        datastore_id=datastore_id,
    )
    image_sets = list(
        generate_image_sets(count, datastore_id=datastore_id, random_seed=random_seed)
    )
    server.store.add_seed_image_sets(datastore_id, image_sets)
    return datastore_id, [item.image_set_id for item in image_sets]


_fresh_seeds = itertools.count(10_000)


def fresh_image_sets(
    server: EmulatorServer, count: int, *, name: str = "scratch"
) -> tuple[str, list[str]]:
    """`count` new image sets, at version 1, in a data store shared by the tests that change
    image sets (one data store per test would run into the service's quota of 100)."""
    existing = server.store.find_datastore(name)
    if existing is None:
        return seed_archive(server, count, name=name, random_seed=next(_fresh_seeds))
    datastore_id = existing["id"]
    image_sets = list(
        generate_image_sets(
            count, datastore_id=datastore_id, random_seed=next(_fresh_seeds)
        )
    )
    server.store.add_seed_image_sets(datastore_id, image_sets)
    return datastore_id, [item.image_set_id for item in image_sets]


def control(
    url: str, path: str, payload: object = None, *, method: str | None = None
) -> dict:
    """Call one of the emulator's `/_emulator/` test knobs (POST with a JSON payload, else GET).

    An answer other than 2xx raises `urllib.error.HTTPError`; see `control_status`.
    """
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        f"{url}/_emulator/{path}",
        data=data,
        method=method or ("POST" if data else "GET"),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def control_status(
    url: str, path: str, payload: object = None, *, method: str | None = None
) -> tuple[int, dict]:
    """Like `control`, but any answer comes back as (HTTP status, JSON body): for checking
    that bad knob values are refused. The payload may be any JSON value, not just an object."""
    try:
        return 200, control(url, path, payload, method=method)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@contextlib.contextmanager
def emulator_config(url: str, **settings: object) -> Iterator[dict]:
    """Change `/_emulator/config` for the duration of a `with` block, then put the changed
    keys back, so a knob set on a shared emulator (the `live_emulator` fixture) can not leak
    into other tests. Yields the configuration in force inside the block."""
    before = control(url, "config")
    try:
        yield control(url, "config", settings)
    finally:
        control(url, "config", {key: before[key] for key in settings})


def emulator_calls(
    url: str, *, operation: str | None = None, image_set_id: str | None = None
) -> list[dict]:
    """The emulator's call log, oldest first: {"operation", "imageSetId", "status", "at",
    "invocationId", "attempt", "maxAttempts", "inFlight"} (see the README's knob table)."""
    query = urllib.parse.urlencode(
        {
            key: value
            for key, value in (("operation", operation), ("imageSetId", image_set_id))
            if value is not None
        }
    )
    return control(url, f"calls?{query}" if query else "calls")["calls"]


def clear_emulator_calls(url: str) -> int:
    """Empty the emulator's call log; returns how many calls it held."""
    return control(url, "calls", method="DELETE")["cleared"]


def lose_next_update_response(url: str, image_set_id: str, hold_seconds: float) -> dict:
    """Have the emulator apply the next update of `image_set_id`, then hold its response
    for `hold_seconds`, so a client with a shorter read timeout never sees it."""
    return control(
        url,
        f"image-sets/{image_set_id}/lose-next-update-response",
        {"holdSeconds": hold_seconds},
    )


def hold_next_update_locked(url: str, image_set_id: str, polls: int | None) -> dict:
    """Have the emulator keep `image_set_id` LOCKED after its next update until `polls`
    GetImageSet calls have seen it so (None: for ever)."""
    return control(
        url,
        f"image-sets/{image_set_id}/hold-next-update-locked",
        {"lockedPolls": polls},
    )
