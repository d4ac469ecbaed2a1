"""The real AWS CLI (v1, from this venv) drives the emulator as a user would from a shell.

Every call runs `python -m awscli medical-imaging ...` in a subprocess with throwaway credentials,
no config files, `--endpoint-url` pointing at the emulator and the `runtime-` host prefix turned
off through `AWS_DISABLE_HOST_PREFIX_INJECTION`, as the README tells CLI users to do.
"""

import collections
import gzip
import importlib.metadata
import json
import os
import subprocess
import sys

import pydicom.examples
import pytest

from apps.emulator import s3

pytestmark = [pytest.mark.emulator, pytest.mark.awscli]

# Update example 1 of the CLI documentation (seed 004), byte for byte.
EXAMPLE_1_UPDATES = (
    '{"DICOMUpdates": {"updatableAttributes": '
    '"{\\"SchemaVersion\\":1.1,\\"Patient\\":{\\"DICOM\\":{\\"PatientName\\":\\"MX^MX\\"}}}"}}'
)

# `--cli-binary-format raw-in-base64-out` exists in CLI v2 only; it restores what v1 always does
# (a blob argument is taken as raw text and base64-encoded on the wire), so v1 must not be given it.
BINARY_FORMAT = (
    []
    if importlib.metadata.version("awscli").startswith("1.")
    else ["--cli-binary-format", "raw-in-base64-out"]
)


def cli_environment(tmp_path, *, disable_host_prefix: bool = True) -> dict[str, str]:
    env = {
        name: value for name, value in os.environ.items() if not name.startswith("AWS_")
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "no-such-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-such-credentials"),
        AWS_PAGER="",
    )
    if disable_host_prefix:
        env["AWS_DISABLE_HOST_PREFIX_INJECTION"] = "true"
    return env


@pytest.fixture
def aws(emulator, tmp_path):
    """Run `aws medical-imaging <args>` against the emulator; returns the finished process."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        command = [
            sys.executable,
            "-m",
            "awscli",
            "medical-imaging",
            *args,
            "--endpoint-url",
            emulator.url,
            "--output",
            "json",
        ]
        return subprocess.run(
            command,
            env=env or cli_environment(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def output_of(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_aws_cli_lists_and_gets_datastores(aws, seed_datastore):
    datastore_id = seed_datastore(3, name="cli-archive")

    listed = output_of(aws("list-datastores"))["datastoreSummaries"]
    assert [summary["datastoreId"] for summary in listed] == [datastore_id]
    assert listed[0]["datastoreStatus"] == "ACTIVE"

    properties = output_of(aws("get-datastore", "--datastore-id", datastore_id))[
        "datastoreProperties"
    ]
    assert properties["datastoreName"] == "cli-archive"
    assert properties["datastoreStatus"] == "ACTIVE"
    assert properties["datastoreArn"].endswith(f":datastore/{datastore_id}")


def test_aws_cli_search_with_equal_patient_id_returns_exactly_that_patients_image_sets(
    aws, seed_datastore
):
    datastore_id = seed_datastore(60)
    everything = output_of(aws("search-image-sets", "--datastore-id", datastore_id))[
        "imageSetsMetadataSummaries"
    ]
    by_patient = collections.defaultdict(set)
    for summary in everything:
        by_patient[summary["DICOMTags"]["DICOMPatientId"]].add(summary["imageSetId"])
    patient_id, expected = max(by_patient.items(), key=lambda item: len(item[1]))
    assert len(expected) >= 2, (
        "the seed should give some patient more than one image set"
    )

    criteria = {
        "filters": [{"values": [{"DICOMPatientId": patient_id}], "operator": "EQUAL"}]
    }
    found = output_of(
        aws(
            "search-image-sets",
            "--datastore-id",
            datastore_id,
            "--search-criteria",
            json.dumps(criteria),
        )
    )["imageSetsMetadataSummaries"]

    assert {summary["imageSetId"] for summary in found} == expected
    assert len(found) == len(expected)
    assert {summary["DICOMTags"]["DICOMPatientId"] for summary in found} == {patient_id}


def test_aws_cli_follows_next_token_and_returns_all_60_image_sets_once_with_page_size_7(
    aws, seed_datastore
):
    datastore_id = seed_datastore(60)

    one_page = output_of(
        aws(
            "search-image-sets",
            "--datastore-id",
            datastore_id,
            "--no-paginate",
            "--max-results",
            "7",
        )
    )
    assert len(one_page["imageSetsMetadataSummaries"]) == 7
    assert one_page["nextToken"], "a page of 7 out of 60 must offer a nextToken"

    everything = output_of(
        aws("search-image-sets", "--datastore-id", datastore_id, "--page-size", "7")
    )
    identifiers = [
        summary["imageSetId"] for summary in everything["imageSetsMetadataSummaries"]
    ]
    assert len(identifiers) == 60
    assert len(set(identifiers)) == 60
    assert "nextToken" not in everything
    updated = [
        summary["updatedAt"] for summary in everything["imageSetsMetadataSummaries"]
    ]
    assert updated == sorted(updated, reverse=True), (
        "default order is updatedAt, newest first"
    )


def test_aws_cli_writes_image_set_metadata_to_an_outfile_as_gzip_json(
    aws, seed_datastore, tmp_path
):
    datastore_id = seed_datastore(3)
    image_set_id = output_of(aws("search-image-sets", "--datastore-id", datastore_id))[
        "imageSetsMetadataSummaries"
    ][0]["imageSetId"]
    outfile = tmp_path / "metadata.json.gz"

    answer = output_of(
        aws(
            "get-image-set-metadata",
            "--datastore-id",
            datastore_id,
            "--image-set-id",
            image_set_id,
            str(outfile),
        )
    )

    assert answer["contentType"] == "application/json"
    assert answer["contentEncoding"] == "gzip"
    raw = outfile.read_bytes()
    assert raw[:2] == b"\x1f\x8b", "the CLI writes the body exactly as served: gzip"
    document = json.loads(gzip.decompress(raw))
    assert document["ImageSetID"] == image_set_id
    assert document["DatastoreID"] == datastore_id
    assert document["Study"]["Series"]


def test_aws_cli_update_example_1_answers_locked_updating_then_lists_versions_newest_first(
    aws, seed_datastore, tmp_path
):
    datastore_id = seed_datastore(3)
    image_set_id = output_of(aws("search-image-sets", "--datastore-id", datastore_id))[
        "imageSetsMetadataSummaries"
    ][0]["imageSetId"]

    answer = output_of(
        aws(
            "update-image-set-metadata",
            "--datastore-id",
            datastore_id,
            "--image-set-id",
            image_set_id,
            "--latest-version-id",
            "1",
            *BINARY_FORMAT,
            "--update-image-set-metadata-updates",
            EXAMPLE_1_UPDATES,
        )
    )
    assert answer["latestVersionId"] == "2"
    assert answer["imageSetState"] == "LOCKED"
    assert answer["imageSetWorkflowStatus"] == "UPDATING"
    assert answer["imageSetId"] == image_set_id
    assert answer["datastoreId"] == datastore_id

    versions = output_of(
        aws(
            "list-image-set-versions",
            "--datastore-id",
            datastore_id,
            "--image-set-id",
            image_set_id,
        )
    )["imageSetPropertiesList"]
    assert [version["versionId"] for version in versions] == ["2", "1"]
    assert versions[0]["ImageSetWorkflowStatus"] == "UPDATED"
    assert versions[0]["imageSetState"] == "ACTIVE"

    outfile = tmp_path / "updated.json.gz"
    aws(
        "get-image-set-metadata",
        "--datastore-id",
        datastore_id,
        "--image-set-id",
        image_set_id,
        str(outfile),
    )
    assert (
        json.loads(gzip.decompress(outfile.read_bytes()))["Patient"]["DICOM"][
            "PatientName"
        ]
        == "MX^MX"
    )


def test_aws_cli_get_datastore_with_an_unknown_id_exits_non_zero_with_resource_not_found(
    aws, seed_datastore
):
    seed_datastore(1)
    result = aws("get-datastore", "--datastore-id", "0123456789abcdef0123456789abcdef")
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr
    assert result.stdout == ""


def test_aws_cli_without_disabling_host_prefix_injection_sends_runtime_calls_to_a_runtime_host(
    aws, seed_datastore, tmp_path
):
    """Why the README tells CLI users to set AWS_DISABLE_HOST_PREFIX_INJECTION."""
    datastore_id = seed_datastore(1)
    env = {
        **cli_environment(tmp_path, disable_host_prefix=False),
        "AWS_MAX_ATTEMPTS": "1",
    }

    # Data store operations carry no host prefix, so they still reach the emulator...
    assert output_of(aws("get-datastore", "--datastore-id", datastore_id, env=env))
    # ...but image set operations go to `runtime-127.0.0.1`, which does not resolve.
    try:
        result = aws(
            "search-image-sets",
            "--datastore-id",
            datastore_id,
            "--cli-connect-timeout",
            "2",
            "--cli-read-timeout",
            "2",
            env=env,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("resolving runtime-127.0.0.1 does not fail fast on this machine")
    assert result.returncode != 0
    assert "runtime-127.0.0.1" in result.stderr


def test_aws_cli_starts_gets_and_lists_a_dicom_import_job(aws, emulator):
    """The import job commands of the CLI, on pydicom's CT example staged in the local S3."""
    datastore_id = emulator.store.create_datastore(
        name="cli-imports", client_token="cli-imports", status="ACTIVE"
    )["id"]
    s3.upload_file(
        emulator.store.s3_root,
        pydicom.examples.get_path("ct"),
        "s3://cli-input/dicom/ct.dcm",
    )
    s3.create_bucket(emulator.store.s3_root, "cli-output")

    started = output_of(
        aws(
            "start-dicom-import-job",
            "--job-name",
            "cli-import",
            "--datastore-id",
            datastore_id,
            "--data-access-role-arn",
            "arn:aws:iam::123456789012:role/ImportJobDataAccessRole",
            "--input-s3-uri",
            "s3://cli-input/dicom/",
            "--output-s3-uri",
            "s3://cli-output/results/",
        )
    )
    assert started["jobStatus"] == "SUBMITTED"
    assert started["datastoreId"] == datastore_id
    job_id = started["jobId"]

    for _ in range(200):
        job = output_of(
            aws(
                "get-dicom-import-job",
                "--datastore-id",
                datastore_id,
                "--job-id",
                job_id,
            )
        )["jobProperties"]
        if job["jobStatus"] == "COMPLETED":
            break
    assert job["jobStatus"] == "COMPLETED"
    assert job["jobName"] == "cli-import"
    assert job["outputS3Uri"] == (
        f"s3://cli-output/results/{datastore_id}-DicomImport-{job_id}/"
    )

    listed = output_of(
        aws(
            "list-dicom-import-jobs",
            "--datastore-id",
            datastore_id,
            "--job-status",
            "COMPLETED",
        )
    )["jobSummaries"]
    assert [summary["jobId"] for summary in listed] == [job_id]
    found = output_of(aws("search-image-sets", "--datastore-id", datastore_id))[
        "imageSetsMetadataSummaries"
    ]
    assert [s["DICOMTags"]["DICOMPatientId"] for s in found] == [
        pydicom.examples.ct.PatientID
    ]
