import itertools
import shutil
from pathlib import Path

import pydicom.data
import pytest

from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.accounts.services import set_role
from apps.emulator.server import EmulatorServer
from tests.support.emulator import stable_id

ROLE_ARN = "arn:aws:iam::123456789012:role/HealthImagingImport"
EXAMPLE_FILES = ("CT_small.dcm", "MR_small.dcm")

_data_stores = itertools.count(1)
_folders = itertools.count(1)


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user("viewer")
    set_role(user, VIEWER)
    return user


@pytest.fixture
def editor(django_user_model):
    user = django_user_model.objects.create_user("editor")
    set_role(user, EDITOR)
    return user


@pytest.fixture
def admin_user(django_user_model):
    user = django_user_model.objects.create_user("admin")
    set_role(user, ADMIN)
    return user


def new_datastore(server: EmulatorServer, name: str = "imports") -> str:
    """An ACTIVE data store of no image sets, new for each call."""
    number = next(_data_stores)
    datastore_id = stable_id("imports-tests", name, number)
    server.store.create_datastore(
        name=f"{name}-{number}",
        client_token=f"imports-tests-{name}-{number}",
        status="ACTIVE",
        datastore_id=datastore_id,
    )
    return datastore_id


def s3_folder(server: EmulatorServer, uri: str) -> Path:
    """The emulator's folder for `s3://bucket/prefix/`: `<s3 root>/bucket/prefix`."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return Path(server.store.s3_root, bucket, *key.strip("/").split("/"))


@pytest.fixture
def datastore(healthimaging) -> str:
    return new_datastore(healthimaging)


@pytest.fixture
def staged(healthimaging) -> dict[str, str]:
    """Two of pydicom's example files under a new input prefix, and an output bucket:
    the S3 URIs to start an import with."""
    number = next(_folders)
    input_uri = f"s3://imports-tests-in/batch-{number}/"
    output_uri = f"s3://imports-tests-out/results-{number}/"
    folder = s3_folder(healthimaging, input_uri)
    folder.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLE_FILES:
        shutil.copyfile(pydicom.data.get_testdata_file(name), folder / name)
    s3_folder(healthimaging, output_uri).mkdir(parents=True, exist_ok=True)
    return {"input_s3_uri": input_uri, "output_s3_uri": output_uri}


def start_job(datastore_id: str, staged: dict, *, token: str, **extra) -> str:
    """Start an import through the portal's gateway; its job ID."""
    from apps.healthimaging.gateway import get_gateway

    values = {"job_name": "test-import", **extra}
    return (
        get_gateway()
        .start_dicom_import_job(
            datastore_id,
            data_access_role_arn=ROLE_ARN,
            client_token=token,
            **staged,
            **values,
        )
        .job_id
    )


def wait_until_finished(datastore_id: str, job_id: str, timeout: float = 30.0):
    """Poll the job until it is COMPLETED or FAILED; the job."""
    import time

    from apps.healthimaging.gateway import get_gateway

    deadline = time.monotonic() + timeout
    while True:
        job = get_gateway().get_dicom_import_job(datastore_id, job_id)
        if not job.is_active:
            return job
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.05)
