"""Helpers for tests of edits: queueing them, waiting for them, reading what they did."""

import base64
import contextlib
import json
import re
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from apps.edits import services
from apps.edits.changes import AttributeChange
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway

Status = MetadataEdit.Status
TERMINAL = frozenset(Status) - frozenset(MetadataEdit.ACTIVE)
UPDATE = "UpdateImageSetMetadata"

T = TypeVar("T")


def change_behind_the_portals_back(
    datastore_id: str, image_set_id: str, *, latest_version: int = 1
) -> None:
    """Somebody else changes the image set (its study description), straight through boto3."""
    get_gateway().update_image_set_metadata(
        datastore_id,
        image_set_id,
        latest_version=latest_version,
        dicom_updates={
            "updatableAttributes": {
                "SchemaVersion": "1.1",
                "Study": {"DICOM": {"StudyDescription": "CHANGED BY SOMEONE ELSE"}},
            }
        },
    )


def run_to_end(edit: MetadataEdit, *, limit: int = 50) -> MetadataEdit:
    """Take the job's steps without waiting for their due time, a tenth of a second apart."""
    for _ in range(limit):
        MetadataEdit.objects.filter(pk=edit.pk).update(next_check_at=None)
        services.advance_edit(edit.pk)
        edit.refresh_from_db()
        if not edit.is_active:
            return edit
        time.sleep(0.1)
    raise AssertionError(f"edit still {edit.status} after {limit} steps")


def wait_until(
    probe: Callable[[], T], *, timeout: float, what: str, poll: float = 0.05
) -> T:
    """Call `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout} s")
        time.sleep(poll)


def wait_for(
    edit: MetadataEdit, statuses=TERMINAL, *, timeout: float = 30
) -> MetadataEdit:
    """The edit, re-read, once its status is one of `statuses`."""

    def reached() -> bool:
        edit.refresh_from_db()
        return edit.status in statuses

    wanted = ", ".join(sorted(statuses))
    wait_until(reached, timeout=timeout, what=f"edit {edit.pk} {wanted}")
    return edit


def name_change(datastore_id: str, image_set_id: str, new: str) -> AttributeChange:
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    return AttributeChange(
        level="Patient",
        attribute="PatientName",
        old=document["Patient"]["DICOM"].get("PatientName"),
        new=new,
    )


def queue_name_edit(
    editor, datastore_id: str, image_set_id: str, new: str, *, base_version: int = 1
) -> MetadataEdit:
    """Queue a patient name correction as the edit form does (enqueued on commit)."""
    return services.queue_edit(
        user=editor,
        request=None,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        base_version=base_version,
        changes=[name_change(datastore_id, image_set_id, new)],
        force=False,
        reason="Name misspelled at registration",
    )


def assert_ends(edit: MetadataEdit, status: str, *, timeout: float = 30) -> None:
    edit = wait_for(edit, timeout=timeout)
    assert edit.status == status, f"{edit.status}: {edit.message}"


def versions(datastore_id: str, image_set_id: str) -> list[int]:
    """The image set's versions, newest first (ListImageSetVersions)."""
    return [
        entry.version
        for entry in get_gateway().list_image_set_versions(datastore_id, image_set_id)
    ]


def patient_name(datastore_id: str, image_set_id: str) -> str:
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    return document["Patient"]["DICOM"]["PatientName"]


def statuses_of(calls: list[dict]) -> list[int]:
    return [call["status"] for call in calls]


def redis_contents(client: redis.Redis) -> bytes:
    """Every key and value in Redis, message bodies decoded (kombu stores them base64)."""
    parts: list[bytes] = []
    for key in client.scan_iter():
        kind = client.type(key)
        values = {
            b"string": lambda key: [client.get(key)],
            b"list": lambda key: client.lrange(key, 0, -1),
            b"set": lambda key: list(client.smembers(key)),
            b"zset": lambda key: client.zrange(key, 0, -1),
            b"hash": lambda key: [
                item for pair in client.hgetall(key).items() for item in pair
            ],
        }[kind](key)
        parts.append(key)
        for value in values:
            parts.append(value)
            with contextlib.suppress(ValueError, KeyError, TypeError):
                parts.append(base64.b64decode(json.loads(value)["body"]))
    return b"\n".join(parts)


def base64_runs_decoded(text: str) -> bytes:
    """Every long base64-looking run in `text`, decoded (at each of the 4 alignments)."""
    decoded = []
    for run in re.findall(r"[A-Za-z0-9+/]{16,}", text):
        for start in range(4):
            chunk = run[start:]
            with contextlib.suppress(ValueError):
                decoded.append(base64.b64decode(chunk[: len(chunk) // 4 * 4]))
    return b"\n".join(decoded)
