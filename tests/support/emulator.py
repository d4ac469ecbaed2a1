"""Helpers for tests that run the HealthImaging emulator as a real server and talk to it."""

import hashlib
import json
import urllib.request

import boto3
from botocore.config import Config

from apps.emulator.seed import generate_image_sets
from apps.emulator.server import EmulatorServer


def stable_id(*parts: object) -> str:
    """A data store ID fixed by its parts, so the generated archive is the same every run."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def make_client(url: str, *, attempts: int = 1) -> object:
    """A boto3 client for the emulator making at most `attempts` attempts per call.

    botocore's `max_attempts` counts retries; `total_max_attempts` counts every attempt.
    One attempt by default, so a retried 500 can not pass for a success.
    """
    return boto3.client(
        "medical-imaging",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            inject_host_prefix=False,
            retries={"mode": "standard", "total_max_attempts": attempts},
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


def control(url: str, path: str, payload: dict | None = None) -> dict:
    """Call one of the emulator's `/_emulator/` test knobs."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        f"{url}/_emulator/{path}", data=data, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
