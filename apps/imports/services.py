"""Starting a DICOM import job: the StartDICOMImportJob call and its audit record.

HealthImaging runs the job; the portal keeps no job table. What it records is who started
which job in which data store: identifiers only. The S3 URIs stay out of the audit trail,
since hospital folders are often named after patients.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from apps.accounts.roles import START_IMPORT
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.healthimaging import errors
from apps.healthimaging.gateway import get_gateway
from apps.healthimaging.types import ImportJobStarted


class ImportRefused(Exception):
    """HealthImaging refused the job as asked; the message says why, for the user."""


def import_job_start(
    *,
    user: AbstractBaseUser,
    request: HttpRequest | None,
    datastore_id: str,
    job_name: str,
    data_access_role_arn: str,
    input_s3_uri: str,
    output_s3_uri: str,
    input_owner_account_id: str | None,
    client_token: str,
) -> ImportJobStarted:
    """Start the job, or get back the one this client token already started.

    Refusals the user can act on (the data store is not ACTIVE, a value the service rejects,
    the token already used with other values) raise `ImportRefused`; throttling and an
    unreachable service pass through as the gateway raised them.
    """
    if not user.has_perm(START_IMPORT):
        raise ImportRefused("Your role does not let you start DICOM imports.")
    try:
        started = get_gateway().start_dicom_import_job(
            datastore_id,
            job_name=job_name,
            data_access_role_arn=data_access_role_arn,
            input_s3_uri=input_s3_uri,
            output_s3_uri=output_s3_uri,
            input_owner_account_id=input_owner_account_id,
            client_token=client_token,
        )
    except errors.Conflict as conflict:
        said = f" ({conflict.detail})" if conflict.detail else ""
        raise ImportRefused(
            f"HealthImaging did not start the import{said}. It imports only into an "
            "ACTIVE data store, and a form once sent starts only the import it was first "
            "sent for: to start another one, open the form again."
        ) from conflict
    except errors.InvalidRequest as invalid:
        said = (invalid.detail or invalid.user_message).rstrip(". ")
        raise ImportRefused(
            f"HealthImaging refused the import: {said}. Check the values and try again."
        ) from invalid
    outcome = f"Started job {started.job_id}"
    already_recorded = AuditEvent.objects.filter(
        action=AuditEvent.Action.IMPORT_STARTED,
        actor=user,
        datastore_id=datastore_id,
        outcome=outcome,
    ).exists()
    # The same form sent twice started one job: one record. Someone else sending the same
    # client token is recorded too: they asked for it.
    if not already_recorded:
        audit_record(
            AuditEvent.Action.IMPORT_STARTED,
            actor=user,
            request=request,
            datastore_id=datastore_id,
            outcome=outcome,
        )
    return started
