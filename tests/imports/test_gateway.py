"""The import operations of the gateway against the live emulator, and their parameters and
error mapping with botocore's Stubber."""

import datetime
import time

import pytest
from botocore.stub import Stubber

from apps.healthimaging import errors
from apps.healthimaging.gateway import HealthImagingGateway, build_client, get_gateway
from apps.healthimaging.types import ImportJob, ImportJobStarted
from tests.imports.conftest import ROLE_ARN
from tests.support.emulator import clear_emulator_calls, emulator_calls

pytestmark = pytest.mark.emulator


@pytest.fixture
def gateway(healthimaging) -> HealthImagingGateway:
    return get_gateway()


def start(gateway, datastore_id, staged, *, token, name="gateway-test", **extra):
    return gateway.start_dicom_import_job(
        datastore_id,
        job_name=name,
        data_access_role_arn=ROLE_ARN,
        client_token=token,
        **staged,
        **extra,
    )


def wait_until_finished(gateway, datastore_id, job_id, timeout=30.0) -> ImportJob:
    deadline = time.monotonic() + timeout
    while True:
        job = gateway.get_dicom_import_job(datastore_id, job_id)
        if not job.is_active:
            return job
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.05)


def test_a_started_job_is_submitted_then_completes_with_its_properties(
    gateway, datastore, staged
):
    started = start(gateway, datastore, staged, token="gateway-1")

    assert isinstance(started, ImportJobStarted)
    assert started.datastore_id == datastore
    assert started.status == "SUBMITTED"
    assert started.submitted_at.tzinfo is not None
    job = wait_until_finished(gateway, datastore, started.job_id)
    assert job == ImportJob(
        job_id=started.job_id,
        job_name="gateway-test",
        status="COMPLETED",
        datastore_id=datastore,
        data_access_role_arn=ROLE_ARN,
        input_s3_uri=staged["input_s3_uri"],
        # The service reports the output prefix with the job's own folder appended.
        output_s3_uri=f"{staged['output_s3_uri']}{datastore}-DicomImport-{started.job_id}/",
        submitted_at=started.submitted_at,
        ended_at=job.ended_at,
        message=job.message,
    )
    assert isinstance(job.ended_at, datetime.datetime)
    assert job.ended_at >= job.submitted_at
    assert not job.is_active


def test_the_same_client_token_starts_one_job(gateway, datastore, staged):
    first = start(gateway, datastore, staged, token="gateway-twice")
    again = start(gateway, datastore, staged, token="gateway-twice")

    assert again.job_id == first.job_id
    assert [job.job_id for job in gateway.list_dicom_import_jobs(datastore).items] == [
        first.job_id
    ]


def test_the_same_client_token_with_other_values_is_a_conflict(
    gateway, datastore, staged
):
    start(gateway, datastore, staged, token="gateway-other")

    with pytest.raises(errors.Conflict):
        start(gateway, datastore, staged, token="gateway-other", name="renamed")


def test_a_job_without_a_name_is_still_named_in_its_properties(
    gateway, datastore, staged
):
    started = start(gateway, datastore, staged, token="gateway-unnamed", name=None)

    job = gateway.get_dicom_import_job(datastore, started.job_id)
    assert job.job_name  # jobName is optional to start, required in the properties


def test_list_dicom_import_jobs_returns_one_page_per_call(
    gateway, datastore, staged, healthimaging
):
    started = [
        start(gateway, datastore, staged, token=f"gateway-page-{n}").job_id
        for n in range(3)
    ]
    for job_id in started:
        wait_until_finished(gateway, datastore, job_id)
    clear_emulator_calls(healthimaging.url)

    first = gateway.list_dicom_import_jobs(datastore, max_results=2)
    second = gateway.list_dicom_import_jobs(
        datastore, max_results=2, next_token=first.next_token
    )

    assert len(first.items) == 2
    assert first.next_token
    assert len(second.items) == 1
    assert second.next_token is None
    assert {job.job_id for job in first.items + second.items} == set(started)
    summary = first.items[0]
    assert summary.status == "COMPLETED"
    assert summary.job_name == "gateway-test"
    # Summaries carry no S3 URIs.
    assert summary.input_s3_uri is None
    assert summary.output_s3_uri is None
    assert [call["operation"] for call in emulator_calls(healthimaging.url)] == [
        "ListDICOMImportJobs"
    ] * 2


def test_list_dicom_import_jobs_filters_by_status(gateway, datastore, staged):
    done = start(gateway, datastore, staged, token="gateway-status").job_id
    wait_until_finished(gateway, datastore, done)

    assert [
        job.job_id
        for job in gateway.list_dicom_import_jobs(datastore, status="COMPLETED").items
    ] == [done]
    assert gateway.list_dicom_import_jobs(datastore, status="FAILED").items == ()


def test_unknown_jobs_and_data_stores_are_not_found(gateway, datastore):
    with pytest.raises(errors.NotFound):
        gateway.get_dicom_import_job(datastore, "0" * 32)
    with pytest.raises(errors.NotFound):
        gateway.list_dicom_import_jobs("f" * 32)


def stubbed():
    client = build_client(
        endpoint_url="http://127.0.0.1:9", region="us-east-1", timeout_seconds=1
    )
    return client, HealthImagingGateway(client)


def test_start_sends_only_the_members_it_is_given():
    client, gateway = stubbed()
    submitted = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
    with Stubber(client) as stubber:
        for expected in (
            {"jobName": "n1", "inputOwnerAccountId": "210987654321"},
            {},
        ):
            stubber.add_response(
                "start_dicom_import_job",
                {
                    "datastoreId": "d" * 32,
                    "jobId": "j" * 32,
                    "jobStatus": "SUBMITTED",
                    "submittedAt": submitted,
                },
                expected_params={
                    "datastoreId": "d" * 32,
                    "dataAccessRoleArn": ROLE_ARN,
                    "inputS3Uri": "s3://in-bucket/x/",
                    "outputS3Uri": "s3://out-bucket/y/",
                    "clientToken": "t" * 32,
                    **expected,
                },
            )
        for name, owner in (("n1", "210987654321"), (None, None)):
            started = gateway.start_dicom_import_job(
                "d" * 32,
                job_name=name,
                data_access_role_arn=ROLE_ARN,
                input_s3_uri="s3://in-bucket/x/",
                output_s3_uri="s3://out-bucket/y/",
                input_owner_account_id=owner,
                client_token="t" * 32,
            )
            assert started == ImportJobStarted(
                datastore_id="d" * 32,
                job_id="j" * 32,
                status="SUBMITTED",
                submitted_at=submitted,
            )
        stubber.assert_no_pending_responses()


def test_list_sends_the_status_and_token_only_when_given():
    client, gateway = stubbed()
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_dicom_import_jobs",
            {"jobSummaries": []},
            expected_params={"datastoreId": "d" * 32, "maxResults": 50},
        )
        stubber.add_response(
            "list_dicom_import_jobs",
            {"jobSummaries": []},
            expected_params={
                "datastoreId": "d" * 32,
                "maxResults": 10,
                "jobStatus": "FAILED",
                "nextToken": "next",
            },
        )
        assert gateway.list_dicom_import_jobs("d" * 32).items == ()
        page = gateway.list_dicom_import_jobs(
            "d" * 32, status="FAILED", max_results=10, next_token="next"
        )
        assert page.next_token is None
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("operation", "call", "code", "status", "expected"),
    [
        ("start_dicom_import_job", "start", "ConflictException", 409, errors.Conflict),
        (
            "start_dicom_import_job",
            "start",
            "ValidationException",
            400,
            errors.InvalidRequest,
        ),
        (
            "start_dicom_import_job",
            "start",
            "ThrottlingException",
            429,
            errors.Throttled,
        ),
        (
            "start_dicom_import_job",
            "start",
            "ServiceQuotaExceededException",
            402,
            errors.QuotaExceeded,
        ),
        (
            "start_dicom_import_job",
            "start",
            "AccessDeniedException",
            403,
            errors.AccessDenied,
        ),
        (
            "get_dicom_import_job",
            "get",
            "ResourceNotFoundException",
            404,
            errors.NotFound,
        ),
        (
            "list_dicom_import_jobs",
            "list",
            "InternalServerException",
            500,
            errors.Unavailable,
        ),
    ],
)
def test_import_errors_are_translated_into_the_small_family(
    operation, call, code, status, expected
):
    client, gateway = stubbed()
    calls = {
        "start": lambda: gateway.start_dicom_import_job(
            "d" * 32,
            job_name=None,
            data_access_role_arn=ROLE_ARN,
            input_s3_uri="s3://in-bucket/",
            output_s3_uri="s3://out-bucket/",
            client_token="t",
        ),
        "get": lambda: gateway.get_dicom_import_job("d" * 32, "j" * 32),
        "list": lambda: gateway.list_dicom_import_jobs("d" * 32),
    }
    with Stubber(client) as stubber:
        stubber.add_client_error(
            operation,
            service_error_code=code,
            service_message="details",
            http_status_code=status,
        )
        with pytest.raises(expected) as excinfo:
            calls[call]()
    assert type(excinfo.value) is expected
    assert excinfo.value.detail == "details"
