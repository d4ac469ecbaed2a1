"""DICOM import jobs at work: the runner thread, reading a job's input folder, writing its output.

A job is SUBMITTED for the import delay, then IN_PROGRESS for at least as long while the runner
reads every object under `inputS3Uri` (a folder of the local S3 stand-in, `s3.py`) with pydicom.
Files that are not DICOM P10, lack a required UID or break an import limit go to the failure
list with the reason, and the job still ends COMPLETED; the job itself ends FAILED only when it
can not run at all (a bucket missing, nothing under the input prefix, a quota). The results are
written as HealthImaging writes them (Developer Guide, "understanding-import-jobs"):
`<outputS3Uri>/<datastoreId>-DicomImport-<jobId>/job-output-manifest.json`,
`SUCCESS/success.ndjson` and `FAILURE/failure.ndjson`.
"""

import logging
import os
import threading
from typing import Any

import orjson

from apps.emulator import s3
from apps.emulator.p10 import MAX_FILE_BYTES, P10Instance, P10Rejected, read_p10
from apps.emulator.state import (
    ACCOUNT_ID,
    ImportOutcome,
    RejectedFile,
    Store,
)

logger = logging.getLogger(__name__)

# Developer Guide, "endpoints-quotas": files and bytes one import job may hold.
MAX_FILES = 5000
MAX_TOTAL_BYTES = 10 * 1024**3
# How often the runner looks for due jobs when nobody wakes it.
POLL_SECONDS = 0.5


class JobFailed(Exception):
    """The job can not run at all: it ends FAILED with this message and imports nothing."""


def read_inputs(
    store: Store, job: dict
) -> tuple[list[tuple[str, P10Instance]], list[RejectedFile]]:
    """Every file under the job's input prefix, read; the ones that can not be imported, why."""
    root = store.s3_root
    if job["input_owner"] and job["input_owner"] != ACCOUNT_ID:
        raise JobFailed(
            f"Access denied: the input bucket is not owned by account {job['input_owner']}"
        )
    output_bucket, _ = s3.split_uri(job["output_uri"])
    if not s3.bucket_path(root, output_bucket).is_dir():
        raise JobFailed(f"The output S3 bucket {output_bucket} does not exist")
    try:
        s3.local_path(root, job["output_uri"])
    except s3.UnmappableKey as error:
        raise JobFailed(
            "The outputS3Uri names a key the emulator can not store"
        ) from error
    bucket, prefix = s3.split_uri(job["input_uri"])
    try:
        keys = list(s3.list_objects(root, bucket, prefix))
    except FileNotFoundError as error:
        raise JobFailed(f"The input S3 bucket {bucket} does not exist") from error
    if not keys:
        raise JobFailed("No files were found at the inputS3Uri")
    if len(keys) > MAX_FILES:
        raise JobFailed(
            f"The inputS3Uri holds {len(keys)} files: an import job takes at most {MAX_FILES}"
        )
    paths = {key: s3.bucket_path(root, bucket) / key for key in keys}
    if sum(os.path.getsize(path) for path in paths.values()) > MAX_TOTAL_BYTES:
        raise JobFailed(
            "The files at the inputS3Uri exceed the 10 GB an import job takes"
        )
    lossless = store.get_datastore(job["datastore_id"])["lossless_storage_format"]
    imported: list[tuple[str, P10Instance]] = []
    rejected: list[RejectedFile] = []
    for key, path in paths.items():
        if os.path.getsize(path) > MAX_FILE_BYTES:
            rejected.append(
                RejectedFile(key, "ValidationException", "The file exceeds 4 GB")
            )
            continue
        try:
            imported.append(
                (key, read_p10(str(path), lossless_storage_format=lossless))
            )
        except P10Rejected as rejection:
            rejected.append(RejectedFile(key, "ValidationException", str(rejection)))
        except OSError as error:
            rejected.append(
                RejectedFile(
                    key,
                    "InternalServerException",
                    f"The file could not be read: {error.strerror}",
                    server_error=True,
                )
            )
    return imported, rejected


def manifest(outcome: ImportOutcome) -> dict[str, Any]:
    """The `job-output-manifest.json` document."""
    job = outcome.job
    customer_errors = sum(not item.server_error for item in outcome.rejected)
    return {
        "jobSummary": {
            "jobId": job["id"],
            "datastoreId": job["datastore_id"],
            "inputS3Uri": job["input_uri"],
            "outputS3Uri": job["output_uri"],
            "successOutputS3Uri": f"{job['output_uri']}SUCCESS/",
            "failureOutputS3Uri": f"{job['output_uri']}FAILURE/",
            "numberOfScannedFiles": len(outcome.files) + len(outcome.rejected),
            "numberOfImportedFiles": len(outcome.files),
            "numberOfFilesWithCustomerError": customer_errors,
            "numberOfFilesWithServerError": len(outcome.rejected) - customer_errors,
            "numberOfGeneratedImageSets": len(outcome.image_sets),
            "imageSetsSummary": [
                {
                    "imageSetId": item.image_set_id,
                    "imageSetVersion": item.version,
                    "isPrimary": item.is_primary,
                    "numberOfMatchedSOPInstances": item.instances,
                }
                for item in outcome.image_sets
            ],
        }
    }


def write_outputs(root: str, outcome: ImportOutcome) -> None:
    """The manifest, `SUCCESS/success.ndjson` and `FAILURE/failure.ndjson` (both written, even
    when empty, so a client can always read them)."""
    folder = s3.local_path(root, outcome.job["output_uri"])
    (folder / "SUCCESS").mkdir(parents=True, exist_ok=True)
    (folder / "FAILURE").mkdir(parents=True, exist_ok=True)
    success = [
        {
            "inputFile": item.key,
            "importResponse": {
                "imageSetId": item.image_set_id,
                "imageSetVersion": item.version,
                "isPrimary": item.is_primary,
            },
        }
        for item in outcome.files
    ]
    failure = [
        {
            "inputFile": item.key,
            "exception": {
                "exceptionType": item.exception_type,
                "message": item.message,
            },
        }
        for item in outcome.rejected
    ]
    (folder / "SUCCESS" / "success.ndjson").write_bytes(_ndjson(success))
    (folder / "FAILURE" / "failure.ndjson").write_bytes(_ndjson(failure))
    (folder / "job-output-manifest.json").write_bytes(
        orjson.dumps(manifest(outcome), option=orjson.OPT_INDENT_2)
    )


def _ndjson(lines: list[dict]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


class ImportRunner:
    """Works off the import jobs of one store, one at a time, in a thread of its own."""

    def __init__(self, store: Store, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "ImportRunner":
        self._thread = threading.Thread(
            target=self._run, name="emulator-imports", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current step; a job left IN_PROGRESS runs again on the next start."""
        self._stopping.set()
        self.store.import_wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                job, due = self.store.claim_import_job()
                if job is not None:
                    self._process(job)
                    continue
                wait = self.poll_seconds
                if due is not None:
                    wait = min(wait, max(due - self.store.clock(), 0))
                self.store.import_wakeup.wait(wait)
                self.store.import_wakeup.clear()
        except Exception:
            logger.exception("The import runner stopped")
        finally:
            self.store.close()

    def _process(self, job: dict) -> None:
        datastore_id, job_id = job["datastore_id"], job["id"]
        try:
            imported, rejected = read_inputs(self.store, job)
        except JobFailed as failure:
            if self._wait_until(job["started_at"] + job["delay"]):
                self.store.fail_import_job(datastore_id, job_id, str(failure))
            return
        except Exception:
            logger.exception("Import job %s could not read its input", job_id)
            self.store.fail_import_job(
                datastore_id, job_id, "Internal error while reading the input"
            )
            return
        # The job stays IN_PROGRESS for at least the delay, so clients can see it there.
        if not self._wait_until(job["started_at"] + job["delay"]):
            return
        try:
            self.store.finish_import_job(
                datastore_id,
                job_id,
                imported,
                rejected,
                lambda outcome: write_outputs(self.store.s3_root, outcome),
            )
        except OSError:
            logger.exception("Import job %s could not write its output", job_id)
            self.store.fail_import_job(
                datastore_id,
                job_id,
                "The output could not be written to the outputS3Uri",
            )
        except Exception:
            logger.exception("Import job %s failed", job_id)
            self.store.fail_import_job(
                datastore_id, job_id, "Internal error while importing"
            )

    def _wait_until(self, moment: float) -> bool:
        """Sleep until `moment` (store clock); False when the runner is told to stop first."""
        while (remaining := moment - self.store.clock()) > 0:
            if self._stopping.wait(min(remaining, self.poll_seconds)):
                return False
        return not self._stopping.is_set()
