"""DICOM import jobs on the emulator, driven by real boto3 over HTTP: StartDICOMImportJob,
GetDICOMImportJob and ListDICOMImportJobs, the local folder standing in for S3, the image sets
the files become and the output manifest.

The central test imports every example file pydicom ships (offline, inside the installed wheel)
and checks each file's outcome against what pydicom itself reads from it.
"""

import array
import base64
import gzip
import io
import json
import math
import shutil
import time
import zlib
from pathlib import Path

import pydicom
import pydicom.data
import pydicom.examples
import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from apps.emulator import s3
from apps.emulator.server import EmulatorServer
from apps.emulator.updates import PATIENT_KEYWORDS, SERIES_KEYWORDS, STUDY_KEYWORDS
from tests.support.emulator import control, control_status, make_client
from tests.support.emulator_imports import (
    ROLE_ARN,
    import_output,
    run_import_job,
    wait_for_import_job,
)

pytestmark = [
    pytest.mark.emulator,
    # pydicom warns about the odd values its example files hold on purpose.
    pytest.mark.filterwarnings("ignore::UserWarning:pydicom"),
]

PYDICOM_TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
# Every example file of the installed pydicom: get_testdata_files() lists the wheel's own
# files (plus the pydicom-data cache, which is not installed here) and downloads nothing.
EXAMPLE_FILES = sorted(
    Path(name) for name in pydicom.data.get_testdata_files() if Path(name).is_file()
)
# The datasets pydicom.examples documents; all of them ship in the wheel.
EXAMPLE_DATASETS = [
    "ct",
    "dicomdir",
    "jpeg2k",
    "mr",
    "no_meta",
    "overlay",
    "palette_color",
    "rgb_color",
    "rt_dose",
    "rt_plan",
    "rt_ss",
    "waveform",
    "ybr_color",
]
REQUIRED_UIDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
)
LEVELS = {
    "Patient": PATIENT_KEYWORDS,
    "Study": STUDY_KEYWORDS,
    "Series": SERIES_KEYWORDS,
}


def error_of(excinfo: pytest.ExceptionInfo) -> tuple[str, str, int]:
    error = excinfo.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


def metadata_of(client, datastore_id: str, image_set_id: str) -> dict:
    blob = client.get_image_set_metadata(
        datastoreId=datastore_id, imageSetId=image_set_id
    )["imageSetMetadataBlob"].read()
    return json.loads(gzip.decompress(blob))


def active_datastore(server, name: str = "imports") -> str:
    return server.store.create_datastore(
        name=name, client_token=f"token-{name}", status="ACTIVE"
    )["id"]


def stage(server, sources: list[Path], uri: str, base: Path | None = None) -> list[str]:
    """Copy files under `uri` in the emulator's S3 folder; returns their object keys."""
    bucket, prefix = s3.split_uri(uri)
    keys = []
    for source in sources:
        relative = source.relative_to(base).as_posix() if base else source.name
        s3.upload_file(
            server.store.s3_root, source, f"s3://{bucket}/{prefix}{relative}"
        )
        keys.append(f"{prefix}{relative}")
    return keys


def p10_file(path: Path, **attributes: object) -> Path:
    """A small, valid Secondary Capture P10 file; attributes given as None are left out."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    values = {
        "PatientName": "Doe^Jane",
        "PatientID": "PAT-1",
        "StudyInstanceUID": generate_uid(),
        "SeriesInstanceUID": generate_uid(),
        "SOPInstanceUID": meta.MediaStorageSOPInstanceUID,
        "SOPClassUID": meta.MediaStorageSOPClassUID,
        "Modality": "OT",
        "StudyDate": "20240102",
        **attributes,
    }
    for keyword, value in values.items():
        if value is not None:
            setattr(dataset, keyword, value)
    dataset.save_as(path, enforce_file_format=True)
    return path


# -- what pydicom reads, in the metadata document's JSON form -------------------------------


def expected_value(element: pydicom.DataElement) -> object:
    """The JSON form of a value as the contract gives it (section 5.2): strings stay strings
    (PN as its string), IS and DS as written, numbers as numbers, several values as a list,
    sequences as lists of keyword maps, binary values as base64, empty elements as null."""
    vr, value = element.VR, element.value
    if value is None:
        return None
    if vr == "SQ":
        return [expected_item(item) for item in value] or None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode() if value else None
    items = list(value) if isinstance(value, MultiValue | list) else [value]
    if not items:
        return None
    converted = []
    for item in items:
        if vr == "AT":
            converted.append(f"{int(item):08X}")
        elif vr in ("IS", "DS"):
            original = getattr(item, "original_string", None)
            converted.append(original if original is not None else str(item))
        elif isinstance(item, int | float) and vr not in ("IS", "DS"):
            converted.append(
                item if not isinstance(item, float) or math.isfinite(item) else None
            )
        else:
            converted.append(str(item))
    if len(converted) == 1:
        return converted[0] if converted[0] != "" else None
    return converted


def item_key(element: pydicom.DataElement) -> str | None:
    tag = int(element.tag)
    if tag & 0xFFFF == 0 or tag == 0xFFFCFFFC or tag >> 16 == 0x0002:
        # Group lengths, trailing padding and stray File Meta elements carry no attribute.
        return None
    if (
        element.keyword
        and not element.tag.is_private
        and pydicom.datadict.tag_for_keyword(element.keyword) == tag
    ):
        return element.keyword
    return f"{tag:08X}"


def expected_item(dataset: Dataset) -> dict:
    return {
        key: None if key == "PixelData" else expected_value(element)
        for element in dataset
        if (key := item_key(element)) is not None
    }


def expected_levels(dataset: Dataset) -> dict[str, dict]:
    """Every top-level standard attribute of the file, at its level (contract section 5.3)."""
    levels: dict[str, dict] = {level: {} for level in LEVELS}
    for element in dataset:
        if element.tag.is_private or not element.keyword:
            continue
        for level, keywords in LEVELS.items():
            if element.keyword in keywords:
                levels[level][element.keyword] = expected_value(element)
    return levels


def expected_failure(path: Path) -> str | None:
    """Why the import must refuse the file, from pydicom's own reading; None to import it."""
    try:
        dataset = pydicom.dcmread(path)
    except InvalidDicomError:
        return "Not a DICOM P10 file"
    if not dataset.file_meta.get("TransferSyntaxUID"):
        return "TransferSyntaxUID does not exist"
    for keyword in REQUIRED_UIDS:
        if keyword not in dataset:
            return f"{keyword} does not exist"
    if "PixelData" in dataset and not str(dataset.get("NumberOfFrames", "1")).isdigit():
        return "NumberOfFrames does not hold a number of frames"
    if "PixelData" in dataset and not dataset["PixelData"].is_undefined_length:
        samples = dataset.get("SamplesPerPixel", 1)
        if dataset.get("PhotometricInterpretation") == "YBR_FULL_422":
            samples = 2
        needed = (
            dataset.Rows
            * dataset.Columns
            * samples
            * dataset.BitsAllocated
            * int(dataset.get("NumberOfFrames") or 1)
            / 8
        )
        if len(dataset.PixelData) < needed:
            return "Pixel data holds"
    return None


# -- every pydicom example file ---------------------------------------------------------------


@pytest.fixture(scope="module")
def example_import(tmp_path_factory):
    """All pydicom example files, imported by one job into one data store."""
    state = tmp_path_factory.mktemp("pydicom-import") / "emulator.sqlite3"
    server = EmulatorServer(str(state), update_delay=0, validate_responses=True).start()
    try:
        client = make_client(server.url)
        datastore_id = active_datastore(server, "pydicom-examples")
        keys = stage(
            server, EXAMPLE_FILES, "s3://examples/pydicom/", PYDICOM_TEST_FILES
        )
        s3.create_bucket(server.store.s3_root, "results")
        job = run_import_job(
            client, datastore_id, "s3://examples/pydicom/", "s3://results/import/"
        )
        yield {
            "server": server,
            "client": client,
            "datastore_id": datastore_id,
            "files": dict(zip(keys, EXAMPLE_FILES, strict=True)),
            "job": job,
            "output": import_output(server.store.s3_root, job),
        }
    finally:
        server.stop()


def test_the_example_files_are_the_ones_shipped_in_the_installed_pydicom():
    assert len(EXAMPLE_FILES) > 100
    assert all(path.is_relative_to(PYDICOM_TEST_FILES) for path in EXAMPLE_FILES)
    for name in EXAMPLE_DATASETS:
        assert Path(pydicom.examples.get_path(name)) in EXAMPLE_FILES


def test_import_of_every_pydicom_example_file_completes_and_accounts_for_each_file(
    example_import,
):
    job, output = example_import["job"], example_import["output"]
    files = example_import["files"]
    assert job["jobStatus"] == "COMPLETED"
    imported = {line["inputFile"] for line in output.success}
    failed = {line["inputFile"] for line in output.failure}
    assert imported | failed == set(files)
    assert not imported & failed
    expected_imported = {
        key for key, path in files.items() if not expected_failure(path)
    }
    assert imported == expected_imported
    summary = output.manifest["jobSummary"]
    assert summary["numberOfScannedFiles"] == len(files)
    assert summary["numberOfImportedFiles"] == len(imported)
    assert summary["numberOfFilesWithCustomerError"] == len(failed)
    assert summary["numberOfFilesWithServerError"] == 0


def test_each_example_file_that_is_not_imported_is_listed_with_its_reason(
    example_import,
):
    files = example_import["files"]
    for line in example_import["output"].failure:
        reason = expected_failure(files[line["inputFile"]])
        assert reason is not None, line
        assert line["exception"]["exceptionType"] == "ValidationException"
        assert reason in line["exception"]["message"], line


def test_each_imported_example_file_has_its_patient_study_and_series_attributes_in_its_image_set(
    example_import,
):
    """Patient, Study and Series attributes equal pydicom's reading of the file, converted by
    the contract's rules; nothing at these levels is left out (private tags, which are Instance
    level, are checked in the next test)."""
    client, datastore_id = example_import["client"], example_import["datastore_id"]
    files = example_import["files"]
    documents: dict[str, dict] = {}
    for line in example_import["output"].success:
        image_set_id = line["importResponse"]["imageSetId"]
        if image_set_id not in documents:
            documents[image_set_id] = metadata_of(client, datastore_id, image_set_id)
        document = documents[image_set_id]
        dataset = pydicom.dcmread(files[line["inputFile"]])
        levels = expected_levels(dataset)
        series = document["Study"]["Series"][dataset.SeriesInstanceUID]
        assert document["Patient"]["DICOM"] == levels["Patient"], line["inputFile"]
        assert document["Study"]["DICOM"] == levels["Study"], line["inputFile"]
        assert series["DICOM"] == levels["Series"], line["inputFile"]
        assert dataset.SOPInstanceUID in series["Instances"]
        assert document["DatastoreID"] == datastore_id
        assert document["ImageSetID"] == image_set_id
        assert document["SchemaVersion"] == "1.1"


def test_imported_instances_carry_their_attributes_private_tags_with_vrs_and_frames(
    example_import,
):
    client, datastore_id = example_import["client"], example_import["datastore_id"]
    files = example_import["files"]
    # The last file of each SOP instance is the copy kept (a re-imported instance replaces it).
    last = {}
    for line in example_import["output"].success:
        dataset = pydicom.dcmread(files[line["inputFile"]])
        last[(line["importResponse"]["imageSetId"], dataset.SOPInstanceUID)] = dataset
    for (image_set_id, sop_uid), dataset in last.items():
        document = metadata_of(client, datastore_id, image_set_id)
        instance = document["Study"]["Series"][dataset.SeriesInstanceUID]["Instances"][
            sop_uid
        ]
        attributes = instance["DICOM"]
        for element in dataset:
            key = item_key(element)
            if key is None or any(key in keywords for keywords in LEVELS.values()):
                continue
            expected = None if key == "PixelData" else expected_value(element)
            assert attributes[key] == expected, (sop_uid, key)
            if element.tag.is_private:
                assert instance["DICOMVRs"][key] == element.VR
        frames = instance["ImageFrames"]
        if "PixelData" not in dataset:
            assert frames == []
            continue
        assert len(frames) == int(dataset.get("NumberOfFrames") or 1)
        size = math.ceil(
            dataset.Rows
            * dataset.Columns
            * dataset.get("SamplesPerPixel", 1)
            * dataset.BitsAllocated
            / 8
        )
        for frame in frames:
            assert len(frame["ID"]) == 32
            assert frame["FrameSizeInBytes"] == size
            if "MinPixelValue" in frame:
                assert frame["MinPixelValue"] <= frame["MaxPixelValue"]
                (level,) = frame["PixelDataChecksumFromBaseToFullResolution"]
                assert (level["Width"], level["Height"]) == (
                    dataset.Columns,
                    dataset.Rows,
                )
        transfer_syntax = dataset.file_meta.TransferSyntaxUID
        assert instance["StoredTransferSyntaxUID"] == (
            transfer_syntax
            if transfer_syntax in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.91")
            else "1.2.840.10008.1.2.4.202"
        )


def test_pixel_range_and_checksum_of_a_native_frame_are_computed_from_its_pixels(
    example_import,
):
    client, datastore_id = example_import["client"], example_import["datastore_id"]
    key, path = next(
        (key, path)
        for key, path in example_import["files"].items()
        if path.name == "CT_small.dcm"
    )
    line = next(
        line for line in example_import["output"].success if line["inputFile"] == key
    )
    dataset = pydicom.dcmread(path)
    pixels = array.array("h", dataset.PixelData)  # 16 bit signed, little endian
    document = metadata_of(client, datastore_id, line["importResponse"]["imageSetId"])
    (frame,) = document["Study"]["Series"][dataset.SeriesInstanceUID]["Instances"][
        dataset.SOPInstanceUID
    ]["ImageFrames"]
    assert (frame["MinPixelValue"], frame["MaxPixelValue"]) == (
        min(pixels),
        max(pixels),
    )
    assert frame["PixelDataChecksumFromBaseToFullResolution"] == [
        {"Width": 128, "Height": 128, "Checksum": zlib.crc32(dataset.PixelData)}
    ]


def test_files_of_one_series_with_equal_metadata_make_one_primary_image_set(
    example_import,
):
    output = example_import["output"]
    files = example_import["files"]
    by_series: dict[tuple, set] = {}
    for line in output.success:
        dataset = pydicom.dcmread(files[line["inputFile"]])
        levels = json.dumps(expected_levels(dataset), sort_keys=True)
        key = (dataset.StudyInstanceUID, dataset.SeriesInstanceUID, levels)
        by_series.setdefault(key, set()).add(
            (line["importResponse"]["imageSetId"], line["importResponse"]["isPrimary"])
        )
    assert all(len(targets) == 1 for targets in by_series.values())
    primaries: dict[tuple, int] = {}
    for (study, series, _), targets in by_series.items():
        primaries[(study, series)] = primaries.get((study, series), 0) + sum(
            primary for _, primary in targets
        )
    assert all(count == 1 for count in primaries.values()), (
        "one primary image set per series"
    )
    summary = output.manifest["jobSummary"]
    listed = {item["imageSetId"] for item in summary["imageSetsSummary"]}
    assert listed == {line["importResponse"]["imageSetId"] for line in output.success}
    assert summary["numberOfGeneratedImageSets"] == len(listed)


def test_imported_example_image_sets_are_searchable_and_readable(example_import):
    client, datastore_id = example_import["client"], example_import["datastore_id"]
    paginator = client.get_paginator("search_image_sets")
    summaries = [
        summary
        for page in paginator.paginate(datastoreId=datastore_id)
        for summary in page["imageSetsMetadataSummaries"]
    ]
    manifest = example_import["output"].manifest["jobSummary"]
    assert {s["imageSetId"] for s in summaries} == {
        item["imageSetId"] for item in manifest["imageSetsSummary"]
    }
    ct = pydicom.examples.ct
    found = client.search_image_sets(
        datastoreId=datastore_id,
        searchCriteria={
            "filters": [
                {
                    "operator": "EQUAL",
                    "values": [{"DICOMSeriesInstanceUID": ct.SeriesInstanceUID}],
                }
            ]
        },
    )["imageSetsMetadataSummaries"]
    assert len(found) == 1
    tags = found[0]["DICOMTags"]
    assert tags["DICOMPatientId"] == ct.PatientID
    assert tags["DICOMPatientName"] == str(ct.PatientName)
    assert tags["DICOMStudyInstanceUID"] == ct.StudyInstanceUID
    assert tags["DICOMSeriesModality"] == "CT"
    image_set = client.get_image_set(
        datastoreId=datastore_id, imageSetId=found[0]["imageSetId"]
    )
    assert (
        image_set["versionId"],
        image_set["imageSetState"],
        image_set["imageSetWorkflowStatus"],
        image_set["isPrimary"],
    ) == ("1", "ACTIVE", "CREATED", True)


# -- failures, statuses, idempotency ----------------------------------------------------------


def test_a_non_dicom_file_and_a_file_without_uids_are_failures_and_the_job_completes(
    emulator, tmp_path
):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a DICOM file\n")
    no_series = p10_file(tmp_path / "no-series.dcm", SeriesInstanceUID=None)
    no_patient_id = p10_file(tmp_path / "no-patient-id.dcm", PatientID=None)
    good = p10_file(tmp_path / "good.dcm")
    stage(emulator, [notes, no_series, no_patient_id, good], "s3://bucket/in/")
    job = run_import_job(client, datastore_id, "s3://bucket/in/", "s3://bucket/out/")

    assert job["jobStatus"] == "COMPLETED"
    output = import_output(emulator.store.s3_root, job)
    failures = {line["inputFile"]: line["exception"] for line in output.failure}
    assert failures == {
        "in/notes.txt": {
            "exceptionType": "ValidationException",
            "message": "Not a DICOM P10 file: the DICM prefix of the File Meta Information "
            "is missing",
        },
        "in/no-series.dcm": {
            "exceptionType": "ValidationException",
            "message": "DICOM attribute SeriesInstanceUID does not exist",
        },
    }
    # PatientID is Type 2 and not among the elements import requires.
    assert {line["inputFile"] for line in output.success} == {
        "in/no-patient-id.dcm",
        "in/good.dcm",
    }
    summary = output.manifest["jobSummary"]
    assert (
        summary["numberOfScannedFiles"],
        summary["numberOfImportedFiles"],
        summary["numberOfFilesWithCustomerError"],
        summary["numberOfGeneratedImageSets"],
    ) == (4, 2, 2, 2)


def test_import_job_goes_submitted_then_in_progress_then_completed(
    start_emulator, tmp_path
):
    server = start_emulator(import_delay=0.6)
    client = make_client(server.url)
    datastore_id = active_datastore(server)
    stage(server, [p10_file(tmp_path / "one.dcm")], "s3://bucket/in/")
    started = client.start_dicom_import_job(
        datastoreId=datastore_id,
        jobName="status-walk",
        dataAccessRoleArn=ROLE_ARN,
        inputS3Uri="s3://bucket/in/",
        outputS3Uri="s3://bucket/out/",
    )
    assert started["jobStatus"] == "SUBMITTED"
    assert started["datastoreId"] == datastore_id
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get_dicom_import_job(
            datastoreId=datastore_id, jobId=started["jobId"]
        )["jobProperties"]
        if not seen or seen[-1] != job["jobStatus"]:
            seen.append(job["jobStatus"])
            assert ("endedAt" in job) == (job["jobStatus"] == "COMPLETED")
        if job["jobStatus"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert seen == ["SUBMITTED", "IN_PROGRESS", "COMPLETED"]
    assert job["jobName"] == "status-walk"
    assert job["submittedAt"] == started["submittedAt"] <= job["endedAt"]
    assert job["outputS3Uri"] == (
        f"s3://bucket/out/{datastore_id}-DicomImport-{started['jobId']}/"
    )
    assert job["inputS3Uri"] == "s3://bucket/in/"
    assert job["dataAccessRoleArn"] == ROLE_ARN


def test_start_import_job_is_idempotent_for_a_client_token(emulator, tmp_path):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    stage(emulator, [p10_file(tmp_path / "one.dcm")], "s3://bucket/in/")
    request = {
        "datastoreId": datastore_id,
        "dataAccessRoleArn": ROLE_ARN,
        "inputS3Uri": "s3://bucket/in/",
        "outputS3Uri": "s3://bucket/out/",
        "clientToken": "import-once",
    }
    first = client.start_dicom_import_job(**request)
    wait_for_import_job(client, datastore_id, first["jobId"])
    again = client.start_dicom_import_job(**request)
    assert again["jobId"] == first["jobId"]
    assert again["submittedAt"] == first["submittedAt"]
    jobs = client.list_dicom_import_jobs(datastoreId=datastore_id)["jobSummaries"]
    assert [job["jobId"] for job in jobs] == [first["jobId"]]
    with pytest.raises(ClientError) as excinfo:
        client.start_dicom_import_job(**{**request, "inputS3Uri": "s3://bucket/other/"})
    assert error_of(excinfo)[0::2] == ("ConflictException", 409)
    # botocore fills in a fresh token when none is given: a new job every time.
    del request["clientToken"]
    assert client.start_dicom_import_job(**request)["jobId"] != first["jobId"]


def test_jobs_that_can_not_run_fail_with_a_message_and_import_nothing(
    emulator, tmp_path
):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    stage(emulator, [p10_file(tmp_path / "one.dcm")], "s3://bucket/in/")
    cases = [
        (
            "s3://no-such-bucket/in/",
            "s3://bucket/out/",
            {},
            "input S3 bucket no-such-bucket does not exist",
        ),
        (
            "s3://bucket/in/",
            "s3://no-such-output/out/",
            {},
            "output S3 bucket no-such-output does not exist",
        ),
        (
            "s3://bucket/empty/",
            "s3://bucket/out/",
            {},
            "No files were found at the inputS3Uri",
        ),
        ("s3://bucket/in/", "s3://bucket/../escape/", {}, "outputS3Uri names a key"),
        (
            "s3://bucket/in/",
            "s3://bucket/out/",
            {"inputOwnerAccountId": "210987654321"},
            "not owned by account 210987654321",
        ),
    ]
    for input_uri, output_uri, extra, message in cases:
        job = run_import_job(client, datastore_id, input_uri, output_uri, **extra)
        assert job["jobStatus"] == "FAILED", message
        assert message in job["message"]
        assert "endedAt" in job
    assert not (Path(emulator.store.s3_root).parent / "escape").exists()
    assert (
        client.search_image_sets(datastoreId=datastore_id)["imageSetsMetadataSummaries"]
        == []
    )


def test_list_import_jobs_is_newest_first_pages_and_filters_by_status(
    emulator, tmp_path
):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    stage(emulator, [p10_file(tmp_path / "one.dcm")], "s3://bucket/in/")
    ids = []
    for number in range(5):
        source = "s3://bucket/in/" if number % 2 == 0 else "s3://missing/in/"
        ids.append(
            run_import_job(
                client,
                datastore_id,
                source,
                "s3://bucket/out/",
                jobName=f"job-{number}",
            )["jobId"]
        )
    paginator = client.get_paginator("list_dicom_import_jobs")
    pages = list(
        paginator.paginate(datastoreId=datastore_id, PaginationConfig={"PageSize": 2})
    )
    assert [len(page["jobSummaries"]) for page in pages] == [2, 2, 1]
    listed = [job for page in pages for job in page["jobSummaries"]]
    assert [job["jobId"] for job in listed] == ids[::-1]
    assert [job["jobName"] for job in listed] == [f"job-{n}" for n in range(4, -1, -1)]
    failed = client.list_dicom_import_jobs(datastoreId=datastore_id, jobStatus="FAILED")
    assert [job["jobId"] for job in failed["jobSummaries"]] == [ids[3], ids[1]]
    assert all(job["message"] for job in failed["jobSummaries"])
    completed = client.list_dicom_import_jobs(
        datastoreId=datastore_id, jobStatus="COMPLETED", maxResults=1
    )
    assert [job["jobId"] for job in completed["jobSummaries"]] == [ids[4]]
    with pytest.raises(ClientError) as excinfo:
        client.list_dicom_import_jobs(
            datastoreId=datastore_id,
            jobStatus="FAILED",
            nextToken=completed["nextToken"],
        )
    assert error_of(excinfo)[0] == "ValidationException"
    assert (
        client.list_dicom_import_jobs(datastoreId=datastore_id, jobStatus="SUBMITTED")[
            "jobSummaries"
        ]
        == []
    )


def test_a_job_kept_submitted_by_the_delay_knob_is_listed_as_submitted(
    emulator, tmp_path
):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    control(emulator.url, "config", {"importDelaySeconds": 3600})
    assert control(emulator.url, "config")["importDelaySeconds"] == 3600
    started = client.start_dicom_import_job(
        datastoreId=datastore_id,
        dataAccessRoleArn=ROLE_ARN,
        inputS3Uri="s3://bucket/in/",
        outputS3Uri="s3://bucket/out/",
    )
    submitted = client.list_dicom_import_jobs(
        datastoreId=datastore_id, jobStatus="SUBMITTED"
    )
    assert [job["jobId"] for job in submitted["jobSummaries"]] == [started["jobId"]]
    assert "endedAt" not in submitted["jobSummaries"][0]
    with pytest.raises(ClientError) as excinfo:
        client.delete_datastore(datastoreId=datastore_id)
    assert error_of(excinfo)[0] == "ConflictException"
    assert (
        control(emulator.url, "config", {"importDelaySeconds": None})[
            "importDelaySeconds"
        ]
        is None
    )
    assert control_status(emulator.url, "config", {"importDelaySeconds": -1})[0] == 400


def test_a_job_interrupted_by_a_restart_finishes_after_it(start_emulator, tmp_path):
    first = start_emulator(import_delay=0.5)
    datastore_id = active_datastore(first)
    stage(first, [p10_file(tmp_path / "one.dcm")], "s3://bucket/in/")
    started = make_client(first.url).start_dicom_import_job(
        datastoreId=datastore_id,
        dataAccessRoleArn=ROLE_ARN,
        inputS3Uri="s3://bucket/in/",
        outputS3Uri="s3://bucket/out/",
    )
    first.stop()
    second = start_emulator(import_delay=0.5)
    client = make_client(second.url)
    job = wait_for_import_job(client, datastore_id, started["jobId"])
    assert job["jobStatus"] == "COMPLETED"
    assert len(import_output(second.store.s3_root, job).success) == 1


# -- where imported instances go ----------------------------------------------------------


def test_new_instances_of_a_series_join_its_primary_image_set_as_a_new_version(
    emulator, tmp_path
):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    study, series = generate_uid(), generate_uid()
    first = p10_file(
        tmp_path / "first.dcm", StudyInstanceUID=study, SeriesInstanceUID=series
    )
    second = p10_file(
        tmp_path / "second.dcm", StudyInstanceUID=study, SeriesInstanceUID=series
    )
    stage(emulator, [first], "s3://bucket/first/")
    stage(emulator, [second], "s3://bucket/second/")
    job = run_import_job(client, datastore_id, "s3://bucket/first/", "s3://bucket/out/")
    (created,) = import_output(emulator.store.s3_root, job).success
    image_set_id = created["importResponse"]["imageSetId"]
    assert created["importResponse"] == {
        "imageSetId": image_set_id,
        "imageSetVersion": 1,
        "isPrimary": True,
    }

    job = run_import_job(
        client, datastore_id, "s3://bucket/second/", "s3://bucket/out/"
    )
    output = import_output(emulator.store.s3_root, job)
    assert output.success[0]["importResponse"] == {
        "imageSetId": image_set_id,
        "imageSetVersion": 2,
        "isPrimary": True,
    }
    assert output.manifest["jobSummary"]["imageSetsSummary"] == [
        {
            "imageSetId": image_set_id,
            "imageSetVersion": 2,
            "isPrimary": True,
            "numberOfMatchedSOPInstances": 1,
        }
    ]
    image_set = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert (image_set["versionId"], image_set["imageSetWorkflowStatus"]) == (
        "2",
        "IMPORTED",
    )
    versions = client.list_image_set_versions(
        datastoreId=datastore_id, imageSetId=image_set_id
    )["imageSetPropertiesList"]
    assert [(v["versionId"], v["ImageSetWorkflowStatus"]) for v in versions] == [
        ("2", "IMPORTED"),
        ("1", "CREATED"),
    ]
    instances = metadata_of(client, datastore_id, image_set_id)["Study"]["Series"][
        series
    ]["Instances"]
    assert set(instances) == {
        pydicom.dcmread(first).SOPInstanceUID,
        pydicom.dcmread(second).SOPInstanceUID,
    }
    summary = client.search_image_sets(datastoreId=datastore_id)[
        "imageSetsMetadataSummaries"
    ]
    assert [(s["imageSetId"], s["version"]) for s in summary] == [(image_set_id, 2)]
    assert summary[0]["DICOMTags"]["DICOMNumberOfStudyRelatedInstances"] == 2


def test_an_instance_whose_metadata_conflicts_with_the_primary_goes_to_a_non_primary_set(
    emulator, tmp_path
):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    study, series = generate_uid(), generate_uid()
    original = p10_file(
        tmp_path / "a.dcm", StudyInstanceUID=study, SeriesInstanceUID=series
    )
    conflicting = p10_file(
        tmp_path / "b.dcm",
        StudyInstanceUID=study,
        SeriesInstanceUID=series,
        PatientID="OTHER-PATIENT",
    )
    stage(emulator, [original, conflicting], "s3://bucket/in/")
    job = run_import_job(client, datastore_id, "s3://bucket/in/", "s3://bucket/out/")
    output = import_output(emulator.store.s3_root, job)
    responses = {line["inputFile"]: line["importResponse"] for line in output.success}
    assert responses["in/a.dcm"]["isPrimary"] is True
    assert responses["in/b.dcm"]["isPrimary"] is False
    non_primary = responses["in/b.dcm"]["imageSetId"]
    assert non_primary != responses["in/a.dcm"]["imageSetId"]
    document = metadata_of(client, datastore_id, non_primary)
    assert document["Patient"]["DICOM"]["PatientID"] == "OTHER-PATIENT"
    found = client.search_image_sets(
        datastoreId=datastore_id,
        searchCriteria={
            "filters": [{"operator": "EQUAL", "values": [{"isPrimary": False}]}]
        },
    )["imageSetsMetadataSummaries"]
    assert [item["imageSetId"] for item in found] == [non_primary]


def test_the_data_store_lossless_format_decides_the_stored_transfer_syntax(
    emulator, tmp_path
):
    client = make_client(emulator.url)
    datastore_id = emulator.store.create_datastore(
        name="jpeg2000",
        client_token="jpeg2000",
        status="ACTIVE",
        lossless_storage_format="JPEG_2000_LOSSLESS",
    )["id"]
    stage(emulator, [p10_file(tmp_path / "one.dcm")], "s3://bucket/in/")
    job = run_import_job(client, datastore_id, "s3://bucket/in/", "s3://bucket/out/")
    (line,) = import_output(emulator.store.s3_root, job).success
    document = metadata_of(client, datastore_id, line["importResponse"]["imageSetId"])
    (series,) = document["Study"]["Series"].values()
    (instance,) = series["Instances"].values()
    assert instance["StoredTransferSyntaxUID"] == "1.2.840.10008.1.2.4.90"


# -- the wire: validation, unknown and inactive data stores ----------------------------------


@pytest.mark.parametrize(
    ("change", "member"),
    [
        ({"dataAccessRoleArn": "arn:aws:iam::123:role/short"}, "dataAccessRoleArn"),
        ({"inputS3Uri": "https://bucket/in/"}, "inputS3Uri"),
        ({"outputS3Uri": "s3://UPPER/out/"}, "outputS3Uri"),
        ({"jobName": "has spaces"}, "jobName"),
        ({"inputOwnerAccountId": "12345678901a"}, "inputOwnerAccountId"),
        ({"clientToken": "no spaces allowed"}, "clientToken"),
        ({"outputS3Uri": "s3://bucket/" + "o" * 1100}, "outputS3Uri"),
    ],
)
def test_start_import_job_refuses_members_outside_the_model(emulator, change, member):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    request = {
        "datastoreId": datastore_id,
        "dataAccessRoleArn": ROLE_ARN,
        "inputS3Uri": "s3://bucket/in/",
        "outputS3Uri": "s3://bucket/out/",
        **change,
    }
    with pytest.raises(ClientError) as excinfo:
        client.start_dicom_import_job(**request)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert f"'{member}' failed to satisfy constraint" in message
    assert client.list_dicom_import_jobs(datastoreId=datastore_id)["jobSummaries"] == []


def test_import_operations_refuse_other_malformed_input(emulator):
    client = make_client(emulator.url)
    datastore_id = active_datastore(emulator)
    with pytest.raises(ClientError) as excinfo:
        client.get_dicom_import_job(datastoreId=datastore_id, jobId="NOT-A-JOB")
    assert error_of(excinfo)[0::2] == ("ValidationException", 400)
    with pytest.raises(ClientError) as excinfo:
        client.list_dicom_import_jobs(datastoreId=datastore_id, maxResults=51)
    assert "less than or equal to 50" in error_of(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        client.list_dicom_import_jobs(datastoreId=datastore_id, jobStatus="DONE")
    assert "enum value set" in error_of(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        client.start_dicom_import_job(
            datastoreId=datastore_id,
            dataAccessRoleArn=ROLE_ARN,
            inputS3Uri="s3://bucket/in/",
            outputS3Uri="s3://bucket/out/",
            importConfiguration={
                "dicomJsonMetadataImportConfiguration": {
                    "dicomMetadataMappings": [
                        {"studyInstanceUID": "1.2.3", "metadataFilePath": "meta.json"}
                    ]
                }
            },
        )
    assert error_of(excinfo)[0] == "ValidationException"
    assert "importConfiguration" in error_of(excinfo)[1]


def test_import_operations_on_an_unknown_data_store_or_job_are_not_found(emulator):
    client = make_client(emulator.url)
    unknown = "0" * 32
    calls = [
        lambda: client.start_dicom_import_job(
            datastoreId=unknown,
            dataAccessRoleArn=ROLE_ARN,
            inputS3Uri="s3://bucket/in/",
            outputS3Uri="s3://bucket/out/",
        ),
        lambda: client.get_dicom_import_job(datastoreId=unknown, jobId="1" * 32),
        lambda: client.list_dicom_import_jobs(datastoreId=unknown),
        lambda: client.get_dicom_import_job(
            datastoreId=active_datastore(emulator), jobId="1" * 32
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0::2] == ("ResourceNotFoundException", 404)


def test_start_import_job_into_a_data_store_that_is_not_active_is_a_conflict(
    start_emulator,
):
    server = start_emulator(update_delay=30)
    client = make_client(server.url)
    creating = client.create_datastore(datastoreName="still-creating")["datastoreId"]
    with pytest.raises(ClientError) as excinfo:
        client.start_dicom_import_job(
            datastoreId=creating,
            dataAccessRoleArn=ROLE_ARN,
            inputS3Uri="s3://bucket/in/",
            outputS3Uri="s3://bucket/out/",
        )
    assert error_of(excinfo)[0::2] == ("ConflictException", 409)


def test_the_s3_folder_is_beside_the_state_file_unless_given(
    start_emulator, state_path, tmp_path
):
    assert start_emulator().store.s3_root == str(Path(state_path).parent / "s3")
    elsewhere = tmp_path / "elsewhere"
    server = start_emulator(s3_root=str(elsewhere))
    assert server.store.s3_root == str(elsewhere)
    path = s3.put_object(server.store.s3_root, "s3://bucket/a/b.dcm", b"x")
    assert path == elsewhere / "bucket" / "a" / "b.dcm"
    assert list(s3.list_objects(elsewhere, "bucket", "a/")) == ["a/b.dcm"]
    assert list(s3.list_objects(elsewhere, "bucket", "a")) == ["a/b.dcm"]
    assert list(s3.list_objects(elsewhere, "bucket", "b")) == []
    with pytest.raises(s3.UnmappableKey):
        s3.local_path(elsewhere, "s3://bucket/../up")
    shutil.rmtree(elsewhere)


def test_s3_upload_command_stages_files_and_folders_for_an_import(
    emulator, state_path, tmp_path
):
    """What a demo runs: copy pydicom's CT example and a folder, then import them."""
    folder = tmp_path / "series"
    (folder / "nested").mkdir(parents=True)
    p10_file(folder / "nested" / "one.dcm")
    (folder / "readme.txt").write_text("not DICOM")
    call_command(
        "s3_upload",
        "--state",
        state_path,
        "--create-bucket",
        "demo-output",
        str(pydicom.examples.get_path("ct")),
        str(folder),
        "s3://demo-input/dicom",
        stdout=io.StringIO(),
    )
    assert sorted(s3.list_objects(emulator.store.s3_root, "demo-input", "")) == [
        "dicom/CT_small.dcm",
        "dicom/nested/one.dcm",
        "dicom/readme.txt",
    ]
    client = make_client(emulator.url)
    job = run_import_job(
        client,
        active_datastore(emulator),
        "s3://demo-input/dicom/",
        "s3://demo-output/",
    )
    output = import_output(emulator.store.s3_root, job)
    assert sorted(line["inputFile"] for line in output.success) == [
        "dicom/CT_small.dcm",
        "dicom/nested/one.dcm",
    ]
    assert [line["inputFile"] for line in output.failure] == ["dicom/readme.txt"]
    with pytest.raises(CommandError):
        call_command("s3_upload", "--state", state_path, "missing", "s3://demo-input/")


def test_instances_for_a_locked_primary_image_set_fail_as_a_conflict(
    start_emulator, tmp_path
):
    server = start_emulator(update_delay=3600, import_delay=0)
    client = make_client(server.url)
    datastore_id = active_datastore(server)
    study, series = generate_uid(), generate_uid()
    stage(
        server,
        [
            p10_file(
                tmp_path / "a.dcm", StudyInstanceUID=study, SeriesInstanceUID=series
            )
        ],
        "s3://bucket/first/",
    )
    stage(
        server,
        [
            p10_file(
                tmp_path / "b.dcm", StudyInstanceUID=study, SeriesInstanceUID=series
            )
        ],
        "s3://bucket/second/",
    )
    job = run_import_job(client, datastore_id, "s3://bucket/first/", "s3://bucket/out/")
    (line,) = import_output(server.store.s3_root, job).success
    image_set_id = line["importResponse"]["imageSetId"]
    client.delete_image_set(datastoreId=datastore_id, imageSetId=image_set_id)

    job = run_import_job(
        client, datastore_id, "s3://bucket/second/", "s3://bucket/out/"
    )
    output = import_output(server.store.s3_root, job)
    assert job["jobStatus"] == "COMPLETED"
    assert output.success == []
    (failure,) = output.failure
    assert failure["exception"]["exceptionType"] == "ConflictException"
    assert image_set_id in failure["exception"]["message"]
    assert output.manifest["jobSummary"]["numberOfFilesWithServerError"] == 1
