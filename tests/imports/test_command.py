"""`manage.py import_dicom`: the Start import form's checks and audit, from a terminal."""

import io

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.healthimaging.gateway import get_gateway
from tests.imports.conftest import ROLE_ARN

pytestmark = pytest.mark.django_db


def import_dicom(datastore, staged, username, **options):
    out = io.StringIO()
    call_command(
        "import_dicom",
        datastore=datastore,
        input=staged["input_s3_uri"],
        output=staged["output_s3_uri"],
        role_arn=ROLE_ARN,
        username=username,
        stdout=out,
        **options,
    )
    return out.getvalue()


def test_an_admin_starts_an_import_by_data_store_id_and_waits_for_it(
    datastore, staged, admin_user
):
    output = import_dicom(datastore, staged, "admin", wait=30, client_token="cli-1")

    job_id = output.split()[2]
    assert output.splitlines()[-1] == f"Import job {job_id}: COMPLETED."
    assert get_gateway().get_dicom_import_job(datastore, job_id).status == "COMPLETED"
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.IMPORT_STARTED, outcome=f"Started job {job_id}"
        ).count()
        == 1
    )
    # The same client token again finds the same job, recorded once.
    assert (
        import_dicom(datastore, staged, "admin", client_token="cli-1").split()[2]
        == job_id
    )
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT_STARTED).count() == 1
    )


def test_only_a_user_who_may_start_imports_can(datastore, staged, editor):
    with pytest.raises(CommandError, match="'editor' may not start DICOM imports"):
        import_dicom(datastore, staged, "editor")
    with pytest.raises(CommandError, match="'nobody' may not"):
        import_dicom(datastore, staged, "nobody")


def test_values_are_checked_as_the_form_checks_them(datastore, staged, admin_user):
    with pytest.raises(CommandError, match="input_s3_uri: Enter an S3 URI such as"):
        import_dicom(datastore, {**staged, "input_s3_uri": "bucket/dicom"}, "admin")


def test_an_unknown_data_store_name_is_refused(healthimaging, staged, admin_user):
    with pytest.raises(CommandError, match="No data store is named 'nowhere'"):
        import_dicom("nowhere", staged, "admin")


def test_the_service_itself_refuses_a_user_who_may_not_start_imports(
    datastore, staged, editor
):
    from apps.imports import services
    from tests.imports.conftest import ROLE_ARN as ARN

    with pytest.raises(services.ImportRefused, match="does not let you start"):
        services.import_job_start(
            user=editor,
            request=None,
            datastore_id=datastore,
            job_name="x",
            data_access_role_arn=ARN,
            input_owner_account_id=None,
            client_token="refused-1",
            **staged,
        )


def test_waiting_on_a_job_that_fails_fails_the_command(datastore, staged, admin_user):
    with pytest.raises(CommandError, match=r"Import job \w+: FAILED"):
        import_dicom(
            datastore,
            staged,
            "admin",
            wait=30,
            input_owner_account_id="999999999999",  # not the bucket's owner
        )
