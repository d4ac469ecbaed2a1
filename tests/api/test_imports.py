"""DICOM import jobs through the API: listed and read by every role, started by admins with the
Start import form's checks, followed to the end."""

import shutil
import time

import pydicom.data
import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.imports.conftest import ROLE_ARN, new_datastore, s3_folder

pytestmark = pytest.mark.django_db


@pytest.fixture
def datastore(healthimaging):
    return new_datastore(healthimaging, "api-imports")


@pytest.fixture
def staged(healthimaging, request):
    """pydicom's CT_small.dcm under an input prefix of its own, and an output bucket."""
    name = request.node.name[-40:].replace("[", "-").replace("]", "").lower()
    input_uri = f"s3://api-imports-in/{name}/"
    output_uri = "s3://api-imports-out/results/"
    folder = s3_folder(healthimaging, input_uri)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pydicom.data.get_testdata_file("CT_small.dcm"), folder / "ct.dcm")
    s3_folder(healthimaging, output_uri).mkdir(parents=True, exist_ok=True)
    return {
        "input_s3_uri": input_uri,
        "output_s3_uri": output_uri,
        "data_access_role_arn": ROLE_ARN,
    }


def follow(api, url, *, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        job = api.get(url).json()
        if not job["is_active"] or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_an_admin_starts_an_import_follows_it_and_everyone_lists_it(
    api_as, datastore, staged
):
    admin = api_as("admin")
    url = reverse("api:import-job-list", args=[datastore])

    response = admin.post(url, {**staged, "client_token": "api-1"}, format="json")

    assert response.status_code == 202
    started = response.json()
    assert started["status"] == "SUBMITTED"
    assert response["Location"] == started["url"]
    job = follow(admin, started["url"])
    assert job["status"] == "COMPLETED"
    assert job["input_s3_uri"] == staged["input_s3_uri"]
    assert job["data_access_role_arn"] == ROLE_ARN
    listed = api_as("viewer").get(url).json()
    assert [item["job_id"] for item in listed["items"]] == [started["job_id"]]
    assert listed["next_token"] is None
    assert api_as("viewer").get(url, {"status": "FAILED"}).json()["items"] == []
    again = admin.post(url, {**staged, "client_token": "api-1"}, format="json")
    assert again.json()["job_id"] == started["job_id"]
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT_STARTED).count() == 1
    )


def test_start_values_are_checked_as_the_form_checks_them(api_as, datastore, staged):
    response = api_as("admin").post(
        reverse("api:import-job-list", args=[datastore]),
        {
            **staged,
            "input_s3_uri": "my-bucket/dicom",
            "data_access_role_arn": "role",
            "input_owner_account_id": "12",
        },
        format="json",
    )

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields["input_s3_uri"][0].startswith("Enter an S3 URI such as")
    assert fields["data_access_role_arn"][0].startswith("Enter an IAM role ARN such as")
    assert fields["input_owner_account_id"][0].startswith("Enter the 12 digits")


def test_a_token_used_for_another_import_is_a_409(api_as, datastore, staged):
    admin = api_as("admin")
    url = reverse("api:import-job-list", args=[datastore])
    admin.post(url, {**staged, "client_token": "api-2"}, format="json")

    other = admin.post(
        url,
        {**staged, "client_token": "api-2", "job_name": "another"},
        format="json",
    )

    assert other.status_code == 409
    assert other.json()["code"] == "conflict"


def test_bad_filters_and_unknown_jobs(api_as, datastore):
    viewer = api_as("viewer")
    url = reverse("api:import-job-list", args=[datastore])

    assert viewer.get(url, {"status": "DONE"}).status_code == 400
    # Empty is no filter, as the schema says.
    assert viewer.get(url, {"status": ""}).status_code == 200
    assert viewer.get(url, {"next_token": "forged"}).json()["fields"]["next_token"]
    unknown = viewer.get(reverse("api:import-job-detail", args=[datastore, "0" * 32]))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
