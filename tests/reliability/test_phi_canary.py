"""S13: patient data never reaches a log, the broker or a logged URL.

Runs last in the suite (tests/reliability/conftest.py orders it so): it puts PHI canaries
(tests/support/canary.py) into the patient fields of fresh image sets, drives the portal the
way staff do, through gunicorn (with the project's gunicorn.conf.py access log) and a real
`celery worker`, with Django logging at DEBUG, then searches everything left behind: every log
file of the whole run (its own and every earlier test's: the other reliability cases give
their new patient names the same prefix), every key and message in Redis, the broker's
append-only file on disk and every URL in the access log; base64 runs decoded (kombu's
message bodies, botocore's blobs), in any letter case.
"""

import re
from pathlib import Path

import pytest
import redis
import requests

from apps.accounts import tokens
from apps.accounts.roles import EDITOR
from apps.healthimaging.gateway import get_gateway
from tests.support.canary import PREFIX, canary_name, canary_token
from tests.support.edits import base64_runs_decoded, redis_contents, wait_until
from tests.support.emulator import control, fresh_image_sets
from tests.support.portal import signed_in

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PASSWORD = "canary-run-password-2026"
ACCESS_LINE = re.compile(r'"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\S+) HTTP/')


@pytest.fixture
def portal(start_portal):
    """The portal logging at DEBUG, as JSON: the most it ever logs."""
    return start_portal(
        overrides={"DJANGO_LOG_LEVEL": "DEBUG", "DJANGO_LOG_FORMAT": "json"}
    ).wait_until_serving()


def put_canaries(datastore_id: str, image_set_id: str) -> dict[str, str]:
    """Patient name and ID and the study description become canaries (version 2)."""
    values = {
        "PatientName": canary_name(),
        "PatientID": canary_token(),
        "StudyDescription": canary_token(),
    }
    get_gateway().update_image_set_metadata(
        datastore_id,
        image_set_id,
        latest_version=1,
        dicom_updates={
            "updatableAttributes": {
                "SchemaVersion": "1.1",
                "Patient": {
                    "DICOM": {key: values[key] for key in ("PatientName", "PatientID")}
                },
                "Study": {"DICOM": {"StudyDescription": values["StudyDescription"]}},
            }
        },
    )
    return values


def test_no_canary_in_logs_broker_or_urls_after_the_whole_run(
    portal, start_worker, healthimaging, broker, make_user, figure, tmp_path_factory
):
    server = portal
    url = server.url
    worker = start_worker(overrides={"DJANGO_LOG_LEVEL": "DEBUG"})
    datastore_id, image_set_ids = fresh_image_sets(healthimaging, 4, name="canaries")
    seeded = [
        put_canaries(datastore_id, image_set_id) for image_set_id in image_set_ids
    ]
    editor = make_user(EDITOR, password=PASSWORD)
    _, token = tokens.token_create(
        user=editor, name="canary run", expires_in_days=None, request=None
    )
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    pages = signed_in(url, editor.username, PASSWORD)
    search_url = f"{url}/datastores/{datastore_id}/"

    # What staff do with patient data: search by patient ID (page, htmx fragment, API,
    # and a search the form refuses), open the image set and its metadata, edit the name.
    for values, image_set_id in zip(seeded, image_set_ids, strict=True):
        criteria = {"property": "patient_id", "value": values["PatientID"]}
        assert pages.get(search_url, params=criteria, timeout=30).status_code == 200
        fragment = pages.get(
            search_url, params=criteria, headers={"HX-Request": "true"}, timeout=30
        )
        assert values["PatientName"].split("^")[0] in fragment.text
        found = api.get(
            f"{url}/api/v1/datastores/{datastore_id}/image-sets/",
            params=criteria,
            timeout=30,
        ).json()
        assert [item["image_set_id"] for item in found["items"]] == [image_set_id]
        refused = {**criteria, "date_from": values["PatientID"]}
        assert pages.get(search_url, params=refused, timeout=30).status_code == 200
        detail = f"{search_url}image-sets/{image_set_id}/"
        assert pages.get(detail, timeout=30).status_code == 200
        assert pages.get(f"{detail}metadata.json", timeout=30).status_code == 200
    edit_urls = []
    for image_set_id in image_set_ids[:3]:
        queued = api.post(
            f"{url}/api/v1/datastores/{datastore_id}/image-sets/{image_set_id}/edits/",
            json={
                "reason": "Name misspelled at registration",
                "changes": [
                    {
                        "level": "Patient",
                        "attribute": "PatientName",
                        "value": canary_name(),
                    }
                ],
            },
            timeout=30,
        )
        assert queued.status_code == 202, queued.text
        edit_urls.append(queued.json()["url"])
    # An edit that fails in HealthImaging: its message is logged and shown, never the data.
    control(
        healthimaging.url,
        f"image-sets/{image_set_ids[3]}/fail-next-update",
        {"message": "INVALID_REQUEST: injected by the PHI canary run"},
    )
    failing = api.post(
        f"{url}/api/v1/datastores/{datastore_id}/image-sets/{image_set_ids[3]}/edits/",
        json={
            "reason": "Name misspelled at registration",
            "changes": [
                {"level": "Patient", "attribute": "PatientName", "value": canary_name()}
            ],
        },
        timeout=30,
    )
    assert failing.status_code == 202, failing.text
    edit_urls.append(failing.json()["url"])

    def finished(edit_url: str) -> str:
        body = api.get(edit_url, timeout=30).json()
        return "" if body["is_active"] else body["status"]

    ends = [
        wait_until(
            lambda edit_url=edit_url: finished(edit_url),
            timeout=60,
            what=f"{edit_url} finished",
            poll=0.25,
        )
        for edit_url in edit_urls
    ]
    assert ends == ["succeeded", "succeeded", "succeeded", "failed"]
    server.stop()
    worker.stop()

    # Everything the run left behind.
    base = tmp_path_factory.getbasetemp()
    logs = sorted(base.rglob("*.log"))
    redis_dir = Path(broker.log).parent
    persisted = [
        path
        for path in redis_dir.rglob("*")
        if path.is_file() and path.suffix in {".aof", ".rdb"}
    ]
    haystacks = {str(path): path.read_bytes() for path in [*logs, *persisted]}
    haystacks["redis (every key and message)"] = redis_contents(
        redis.Redis.from_url(broker.url)
    )
    access_urls = ACCESS_LINE.findall(server.output())
    haystacks["gunicorn access-log URLs"] = "\n".join(access_urls).encode()

    needle = PREFIX.lower().encode()
    searched = {
        where: (
            content + b"\n" + base64_runs_decoded(content.decode(errors="replace"))
        ).lower()
        for where, content in haystacks.items()
    }
    leaks = {
        where: content.count(needle)
        for where, content in searched.items()
        if needle in content
    }
    scanned = sum(len(content) for content in haystacks.values())
    figure("S13", "canaries put in patient fields", len(seeded) * 3 + len(edit_urls))
    figure(
        "S13",
        "scanned: log files, Redis files, bytes",
        f"{len(logs)}, {len(persisted)}, {scanned:,}",
    )
    figure("S13", "access-log URLs checked", len(access_urls))
    figure("S13", "canary occurrences in logs, broker, URLs", sum(leaks.values()))
    assert access_urls, "the access log is empty: nothing was checked"
    # What was searched holds what a leak would sit beside: the worker's task lines and
    # the portal's DEBUG records.
    assert "apps.edits.tasks.advance_edit" in worker.output()
    assert '"level": "DEBUG"' in server.output()
    assert not leaks, f"PHI canaries found in: {leaks}"
