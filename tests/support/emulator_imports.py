"""Helpers for tests that run DICOM import jobs on the emulator: follow a job, read its output."""

import json
import time
from dataclasses import dataclass

from apps.emulator import s3

ROLE_ARN = "arn:aws:iam::123456789012:role/HealthImagingImport"
TERMINAL = ("COMPLETED", "FAILED")


def wait_for_import_job(
    client, datastore_id: str, job_id: str, *, timeout: float = 60
) -> dict:
    """Poll GetDICOMImportJob until the job is COMPLETED or FAILED; returns its properties."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_dicom_import_job(datastoreId=datastore_id, jobId=job_id)[
            "jobProperties"
        ]
        if job["jobStatus"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"import job {job_id} still {job['jobStatus']}")
        time.sleep(0.05)


def run_import_job(
    client, datastore_id: str, input_uri: str, output_uri: str, **extra: object
) -> dict:
    """Start a job with the usual role and wait for its end."""
    started = client.start_dicom_import_job(
        datastoreId=datastore_id,
        dataAccessRoleArn=ROLE_ARN,
        inputS3Uri=input_uri,
        outputS3Uri=output_uri,
        **extra,
    )
    return wait_for_import_job(client, datastore_id, started["jobId"])


@dataclass(frozen=True)
class ImportOutput:
    manifest: dict
    success: list[dict]
    failure: list[dict]


def import_output(s3_root: str, job: dict) -> ImportOutput:
    """The files a finished job wrote under its `outputS3Uri`, parsed."""
    folder = s3.local_path(s3_root, job["outputS3Uri"])

    def ndjson(path: str) -> list[dict]:
        text = (folder / path).read_text()
        return [json.loads(line) for line in text.splitlines() if line]

    return ImportOutput(
        manifest=json.loads((folder / "job-output-manifest.json").read_text()),
        success=ndjson("SUCCESS/success.ndjson"),
        failure=ndjson("FAILURE/failure.ndjson"),
    )
