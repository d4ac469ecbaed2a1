"""The README's API example, run as written: bash, curl and jq against the portal on a live
server, with a real Celery worker (through a real Redis) applying the edit in the emulator."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.accounts import tokens
from apps.accounts.roles import EDITOR
from apps.accounts.services import set_role
from apps.healthimaging.gateway import get_gateway
from tests.support.emulator import seed_archive

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    marker = text.index("<!-- api-example:")
    return re.search(r"```sh\n(.*?)```", text[marker:], re.S)[1]


@pytest.mark.skipif(not shutil.which("jq"), reason="the example needs jq")
def test_the_readme_api_example_searches_queues_and_follows_an_edit_to_the_end(
    live_server, healthimaging, start_worker, django_user_model, tmp_path
):
    datastore_id, (image_set_id, *_) = seed_archive(
        healthimaging, 1, name="readme-example", random_seed=606
    )
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    user = django_user_model.objects.create_user("script")
    set_role(user, EDITOR)
    _, token = tokens.token_create(
        user=user, name="README", expires_in_days=1, request=None
    )
    start_worker()

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_example()],
        cwd=tmp_path,
        env={
            **os.environ,
            "PORTAL": live_server.url,
            "TOKEN": token,
            "STORE": "readme-example",
            "PATIENT_ID": document["Patient"]["DICOM"]["PatientID"],
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert image_set_id in result.stdout
    assert '"status": "succeeded"' in result.stdout
    assert '"accepted_version": 2' in result.stdout
    latest = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    assert latest["Patient"]["DICOM"]["PatientName"] == "DOE^JANE"
