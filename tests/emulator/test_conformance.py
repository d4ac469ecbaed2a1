"""The emulator, driven by real boto3 over HTTP, behaves as HealthImaging's contract says."""

import datetime
import gzip
import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.support.emulator import control, make_client, seed_archive

pytestmark = pytest.mark.emulator

UTC = datetime.UTC


def error_of(excinfo: pytest.ExceptionInfo) -> tuple[str, str, int]:
    error = excinfo.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


def search_all(
    client, datastore_id: str, criteria: dict | None = None, page_size: int = 50
) -> list:
    paginator = client.get_paginator("search_image_sets")
    kwargs = {"datastoreId": datastore_id, "PaginationConfig": {"PageSize": page_size}}
    if criteria is not None:
        kwargs["searchCriteria"] = criteria
    return [
        summary
        for page in paginator.paginate(**kwargs)
        for summary in page["imageSetsMetadataSummaries"]
    ]


def metadata_of(
    client, datastore_id: str, image_set_id: str, version: str | None = None
) -> dict:
    kwargs = {"datastoreId": datastore_id, "imageSetId": image_set_id}
    if version:
        kwargs["versionId"] = version
    blob = client.get_image_set_metadata(**kwargs)["imageSetMetadataBlob"].read()
    return json.loads(gzip.decompress(blob))


def update(
    client,
    datastore_id: str,
    image_set_id: str,
    version: str,
    *,
    force: bool = False,
    **blobs,
):
    updates = {
        "DICOMUpdates": {
            key: json.dumps({"SchemaVersion": 1.1, **value})
            for key, value in blobs.items()
        }
    }
    return client.update_image_set_metadata(
        datastoreId=datastore_id,
        imageSetId=image_set_id,
        latestVersionId=version,
        force=force,
        updateImageSetMetadataUpdates=updates,
    )


def first_instance(document: dict) -> tuple[str, str, dict]:
    series_uid, series = next(iter(document["Study"]["Series"].items()))
    instance_uid, instance = next(iter(series["Instances"].items()))
    return series_uid, instance_uid, instance


# -- data stores ---------------------------------------------------------------------------


def test_create_datastore_is_creating_then_active_and_listed(start_emulator):
    server = start_emulator(update_delay=0.3)
    client = make_client(server.url)
    created = client.create_datastore(
        datastoreName="radiology-archive", clientToken="token-1"
    )
    assert created["datastoreStatus"] == "CREATING"
    again = client.create_datastore(
        datastoreName="radiology-archive", clientToken="token-1"
    )
    assert again["datastoreId"] == created["datastoreId"]
    control(server.url, "config", {"updateDelaySeconds": 0})
    properties = client.get_datastore(datastoreId=created["datastoreId"])[
        "datastoreProperties"
    ]
    assert properties["datastoreName"] == "radiology-archive"
    assert properties["datastoreArn"].endswith(f":datastore/{created['datastoreId']}")
    assert properties["losslessStorageFormat"] == "HTJ2K"
    listed = client.list_datastores()["datastoreSummaries"]
    assert [item["datastoreId"] for item in listed] == [created["datastoreId"]]


def test_get_datastore_answers_the_documented_pattern_error_for_a_malformed_id(client):
    with pytest.raises(ClientError) as excinfo:
        client.get_datastore(datastoreId="DATASTORE_ID")
    assert error_of(excinfo) == (
        "ValidationException",
        "1 validation error detected: Value 'DATASTORE_ID' at 'datastoreId' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [0-9a-z]{32}",
        400,
    )


def test_get_datastore_is_not_found_for_an_unknown_id(client):
    with pytest.raises(ClientError) as excinfo:
        client.get_datastore(datastoreId="0" * 32)
    assert error_of(excinfo)[0::2] == ("ResourceNotFoundException", 404)


def test_list_datastores_pages_and_filters_by_status(client):
    ids = [
        client.create_datastore(datastoreName=f"store-{n}", clientToken=f"t{n}")[
            "datastoreId"
        ]
        for n in range(5)
    ]
    paginator = client.get_paginator("list_datastores")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [s["datastoreId"] for p in pages for s in p["datastoreSummaries"]] == ids
    active = client.list_datastores(datastoreStatus="ACTIVE")["datastoreSummaries"]
    assert len(active) == 5
    assert client.list_datastores(datastoreStatus="DELETED")["datastoreSummaries"] == []


def test_delete_datastore_refuses_a_store_with_image_sets_and_deletes_an_empty_one(
    client, seed_datastore
):
    full = seed_datastore(3)
    with pytest.raises(ClientError) as excinfo:
        client.delete_datastore(datastoreId=full)
    assert error_of(excinfo)[0] == "ConflictException"
    empty = client.create_datastore(datastoreName="empty")["datastoreId"]
    assert client.delete_datastore(datastoreId=empty)["datastoreStatus"] == "DELETING"
    assert client.get_datastore(datastoreId=empty)["datastoreProperties"][
        "datastoreStatus"
    ] == ("DELETED")
    deleted = client.list_datastores(datastoreStatus="DELETED")["datastoreSummaries"]
    assert [item["datastoreId"] for item in deleted] == [empty]


def test_create_datastore_rejects_names_outside_the_model_pattern(client):
    with pytest.raises(ClientError) as excinfo:
        client.create_datastore(datastoreName="has spaces")
    code, message, _ = error_of(excinfo)
    assert code == "ValidationException"
    assert "regular expression pattern" in message


# -- search ---------------------------------------------------------------------------------


def test_search_with_no_criteria_lists_everything_newest_updated_first(
    client, seed_datastore
):
    datastore_id = seed_datastore(40)
    summaries = search_all(client, datastore_id)
    assert len(summaries) == 40
    keys = [(s["updatedAt"], s["imageSetId"]) for s in summaries]
    assert keys == sorted(keys, reverse=True)
    first = summaries[0]
    assert first["version"] == 1
    assert first["storageTier"] == "FREQUENT_ACCESS"
    assert None not in first["DICOMTags"].values()


def test_search_paginator_returns_500_image_sets_each_once_in_order(
    client, seed_datastore
):
    datastore_id = seed_datastore(500)
    summaries = search_all(client, datastore_id, page_size=50)
    ids = [s["imageSetId"] for s in summaries]
    assert len(ids) == 500
    assert len(set(ids)) == 500
    keys = [(s["updatedAt"], s["imageSetId"]) for s in summaries]
    assert keys == sorted(keys, reverse=True)


def test_search_example_1_equal_patient_id_matches_exactly(client, seed_datastore):
    datastore_id = seed_datastore(60)
    everything = search_all(client, datastore_id)
    patient_id = everything[7]["DICOMTags"]["DICOMPatientId"]
    expected = {
        s["imageSetId"]
        for s in everything
        if s["DICOMTags"]["DICOMPatientId"] == patient_id
    }
    criteria = {
        "filters": [{"values": [{"DICOMPatientId": patient_id}], "operator": "EQUAL"}]
    }
    found = search_all(client, datastore_id, criteria)
    assert {s["imageSetId"] for s in found} == expected
    assert (
        search_all(
            client,
            datastore_id,
            {
                "filters": [
                    {
                        "values": [{"DICOMPatientId": patient_id.lower() + " "}],
                        "operator": "EQUAL",
                    }
                ]
            },
        )
        == []
    )


def test_search_example_2_study_date_between_is_inclusive_and_missing_time_is_midnight(
    client, seed_datastore
):
    datastore_id = seed_datastore(60)
    everything = search_all(client, datastore_id)
    dated = [s for s in everything if "DICOMStudyDate" in s["DICOMTags"]]

    def instant(tags: dict) -> str:
        return tags["DICOMStudyDate"] + (tags.get("DICOMStudyTime") or "000000")[:6]

    criteria = {
        "filters": [
            {
                "values": [
                    {
                        "DICOMStudyDateAndTime": {
                            "DICOMStudyDate": "19900101",
                            "DICOMStudyTime": "000000",
                        }
                    },
                    {
                        "DICOMStudyDateAndTime": {
                            "DICOMStudyDate": "20230101",
                            "DICOMStudyTime": "000000",
                        }
                    },
                ],
                "operator": "BETWEEN",
            }
        ]
    }
    found = {s["imageSetId"] for s in search_all(client, datastore_id, criteria)}
    assert found == {
        s["imageSetId"]
        for s in dated
        if "19900101000000" <= instant(s["DICOMTags"]) <= "20230101000000"
    }
    target = dated[0]["DICOMTags"]
    exact = {
        "filters": [
            {
                "values": [
                    {
                        "DICOMStudyDateAndTime": {
                            "DICOMStudyDate": target["DICOMStudyDate"],
                            "DICOMStudyTime": target.get("DICOMStudyTime", "000000"),
                        }
                    },
                    {
                        "DICOMStudyDateAndTime": {
                            "DICOMStudyDate": target["DICOMStudyDate"],
                            "DICOMStudyTime": target.get("DICOMStudyTime", "000000"),
                        }
                    },
                ],
                "operator": "BETWEEN",
            }
        ]
    }
    assert dated[0]["imageSetId"] in {
        s["imageSetId"] for s in search_all(client, datastore_id, exact)
    }


def test_search_example_3_created_at_between_takes_iso_timestamps(
    client, seed_datastore
):
    datastore_id = seed_datastore(60)
    everything = search_all(client, datastore_id)
    lower = datetime.datetime(2022, 1, 1, tzinfo=UTC)
    upper = datetime.datetime(2024, 4, 12, 23, 20, 50, 520000, tzinfo=UTC)
    criteria = {
        "filters": [
            {
                "values": [
                    {"createdAt": "2022-01-01T00:00:00Z"},
                    {"createdAt": "2024-04-12T23:20:50.52Z"},
                ],
                "operator": "BETWEEN",
            }
        ]
    }
    found = {s["imageSetId"] for s in search_all(client, datastore_id, criteria)}
    assert found == {
        s["imageSetId"] for s in everything if lower <= s["createdAt"] <= upper
    }
    assert found


def test_search_example_4_series_uid_with_updated_at_range_sorted_ascending(
    client, seed_datastore
):
    datastore_id = seed_datastore(30)
    everything = search_all(client, datastore_id)
    series_uid = everything[4]["DICOMTags"]["DICOMSeriesInstanceUID"]
    # A non-primary copy shares its original's series, so several sets may match.
    expected = sorted(
        (s["updatedAt"], s["imageSetId"])
        for s in everything
        if s["DICOMTags"]["DICOMSeriesInstanceUID"] == series_uid
    )
    for filters in (
        [
            {
                "values": [
                    {"updatedAt": datetime.datetime(2000, 1, 1, tzinfo=UTC)},
                    {"updatedAt": datetime.datetime(2030, 1, 1, tzinfo=UTC)},
                ],
                "operator": "BETWEEN",
            },
            {"values": [{"DICOMSeriesInstanceUID": series_uid}], "operator": "EQUAL"},
        ],
        [
            {"values": [{"DICOMSeriesInstanceUID": series_uid}], "operator": "EQUAL"},
            {
                "values": [
                    {"updatedAt": datetime.datetime(2000, 1, 1, tzinfo=UTC)},
                    {"updatedAt": datetime.datetime(2030, 1, 1, tzinfo=UTC)},
                ],
                "operator": "BETWEEN",
            },
        ],
    ):
        response = client.search_image_sets(
            datastoreId=datastore_id,
            searchCriteria={
                "filters": filters,
                "sort": {"sortField": "updatedAt", "sortOrder": "ASC"},
            },
        )
        found = [
            (s["updatedAt"], s["imageSetId"])
            for s in response["imageSetsMetadataSummaries"]
        ]
        assert found == expected
        assert response["sort"] == {"sortField": "updatedAt", "sortOrder": "ASC"}


@pytest.mark.parametrize("field", ["updatedAt", "createdAt", "DICOMStudyDateAndTime"])
@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_search_sorts_by_each_field_with_image_set_id_tie_break(
    client, seed_datastore, field, order
):
    datastore_id = seed_datastore(45)
    summaries = search_all(
        client,
        datastore_id,
        {"sort": {"sortField": field, "sortOrder": order}},
        page_size=8,
    )
    assert len({s["imageSetId"] for s in summaries}) == 45

    def key(summary: dict) -> tuple:
        if field != "DICOMStudyDateAndTime":
            return (summary[field], summary["imageSetId"])
        tags = summary["DICOMTags"]
        return (
            tags.get("DICOMStudyDate", ""),
            tags.get("DICOMStudyTime", ""),
            summary["imageSetId"],
        )

    with_value = [
        s
        for s in summaries
        if field != "DICOMStudyDateAndTime" or "DICOMStudyDate" in s["DICOMTags"]
    ]
    keys = [key(s) for s in with_value]
    assert keys == sorted(keys, reverse=order == "DESC")
    # Image sets without a study date come last in either order.
    assert summaries[: len(with_value)] == with_value


@pytest.mark.parametrize(
    "criteria",
    [
        {
            "filters": [
                {
                    "values": [{"DICOMPatientId": "A"}, {"DICOMPatientId": "B"}],
                    "operator": "BETWEEN",
                }
            ]
        },
        {
            "filters": [
                {
                    "values": [{"DICOMPatientId": "A"}, {"DICOMPatientId": "B"}],
                    "operator": "EQUAL",
                }
            ]
        },
        {"filters": [{"values": [{"createdAt": 1}], "operator": "EQUAL"}]},
        {
            "filters": [
                {"values": [{"createdAt": 1}, {"updatedAt": 2}], "operator": "BETWEEN"}
            ]
        },
        {
            "filters": [
                {"values": [{"DICOMPatientId": "A"}], "operator": "EQUAL"},
                {"values": [{"DICOMAccessionNumber": "B"}], "operator": "EQUAL"},
            ]
        },
        {
            "filters": [
                {"values": [{"createdAt": 1}, {"createdAt": 2}], "operator": "BETWEEN"},
                {"values": [{"updatedAt": 1}, {"updatedAt": 2}], "operator": "BETWEEN"},
            ]
        },
        {
            "filters": [
                {
                    "values": [
                        {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20231345"}},
                        {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20240101"}},
                    ],
                    "operator": "BETWEEN",
                }
            ]
        },
        {
            "filters": [
                {
                    "values": [
                        {
                            "DICOMStudyDateAndTime": {
                                "DICOMStudyDate": "20230101",
                                "DICOMStudyTime": "256000",
                            }
                        },
                        {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20240101"}},
                    ],
                    "operator": "BETWEEN",
                }
            ]
        },
        {
            "filters": [
                {"values": [{"DICOMSeriesInstanceUID": "1.2.abc"}], "operator": "EQUAL"}
            ]
        },
        {"filters": [{"values": [{"DICOMPatientId": "x" * 513}], "operator": "EQUAL"}]},
        {"filters": [{"values": [{"DICOMPatientId": "A"}], "operator": "LIKE"}]},
        {"filters": [{"values": [{"DICOMPatientId": "A"}], "operator": "EQUAL"}] * 3},
    ],
    ids=[
        "identifier-between",
        "equal-two-values",
        "date-equal",
        "between-mixed-attributes",
        "two-identifiers",
        "two-dates",
        "invalid-study-date",
        "invalid-study-time",
        "uid-with-letters",
        "too-long",
        "unknown-operator",
        "three-filters",
    ],
)
def test_search_rejects_criteria_outside_the_contract(client, seed_datastore, criteria):
    datastore_id = seed_datastore(3)
    with pytest.raises(ClientError) as excinfo:
        client.search_image_sets(datastoreId=datastore_id, searchCriteria=criteria)
    assert error_of(excinfo)[0::2] == ("ValidationException", 400)


def test_search_rejects_max_results_above_50_and_tokens_reused_with_other_criteria(
    client, seed_datastore
):
    datastore_id = seed_datastore(10)
    with pytest.raises(ClientError) as excinfo:
        client.search_image_sets(datastoreId=datastore_id, maxResults=51)
    assert "less than or equal to 50" in error_of(excinfo)[1]
    token = client.search_image_sets(datastoreId=datastore_id, maxResults=3)[
        "nextToken"
    ]
    other = {"sort": {"sortField": "createdAt", "sortOrder": "ASC"}}
    with pytest.raises(ClientError) as excinfo:
        client.search_image_sets(
            datastoreId=datastore_id, searchCriteria=other, nextToken=token
        )
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        client.search_image_sets(datastoreId=datastore_id, nextToken=token[:-2] + "xx")
    assert error_of(excinfo)[0] == "ValidationException"


def test_search_returns_an_empty_list_for_an_inverted_range_and_no_token_on_the_last_page(
    client, seed_datastore
):
    datastore_id = seed_datastore(5)
    inverted = {
        "filters": [
            {
                "values": [{"updatedAt": 2_000_000_000}, {"updatedAt": 1}],
                "operator": "BETWEEN",
            }
        ]
    }
    response = client.search_image_sets(
        datastoreId=datastore_id, searchCriteria=inverted
    )
    assert response["imageSetsMetadataSummaries"] == []
    assert "nextToken" not in response
    assert "nextToken" not in client.search_image_sets(
        datastoreId=datastore_id, maxResults=5
    )


def test_search_is_not_found_for_an_unknown_datastore_and_conflict_for_one_not_active(
    start_emulator,
):
    server = start_emulator(update_delay=30)
    client = make_client(server.url)
    with pytest.raises(ClientError) as excinfo:
        client.search_image_sets(datastoreId="1" * 32)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    creating = client.create_datastore(datastoreName="still-creating")["datastoreId"]
    with pytest.raises(ClientError) as excinfo:
        client.search_image_sets(datastoreId=creating)
    assert error_of(excinfo)[0::2] == ("ConflictException", 409)


def test_search_never_returns_deleted_image_sets(client, seed_datastore):
    datastore_id = seed_datastore(6)
    victim = search_all(client, datastore_id)[2]["imageSetId"]
    client.delete_image_set(datastoreId=datastore_id, imageSetId=victim)
    remaining = {s["imageSetId"] for s in search_all(client, datastore_id)}
    assert victim not in remaining
    assert len(remaining) == 5


# -- image sets ----------------------------------------------------------------------------


def test_get_image_set_metadata_is_gzip_json_with_the_documented_structure(
    client, seed_datastore
):
    datastore_id = seed_datastore(3)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    response = client.get_image_set_metadata(
        datastoreId=datastore_id, imageSetId=image_set_id
    )
    assert response["contentType"] == "application/json"
    assert response["contentEncoding"] == "gzip"
    blob = response["imageSetMetadataBlob"].read()
    assert blob[:2] == b"\x1f\x8b"
    document = json.loads(gzip.decompress(blob))
    assert document["SchemaVersion"] == "1.1"
    assert document["DatastoreID"] == datastore_id
    assert document["ImageSetID"] == image_set_id
    _, _, instance = first_instance(document)
    assert instance["ImageFrames"][0]["ID"]


def test_get_image_set_reports_properties_and_older_versions(client, seed_datastore):
    datastore_id = seed_datastore(3)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    update(
        client,
        datastore_id,
        image_set_id,
        "1",
        updatableAttributes={"Study": {"DICOM": {"StudyDescription": "CT CHEST"}}},
    )
    latest = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert (
        latest["versionId"],
        latest["imageSetState"],
        latest["imageSetWorkflowStatus"],
    ) == ("2", "ACTIVE", "UPDATED")
    assert latest["imageSetArn"].endswith(
        f"datastore/{datastore_id}/imageset/{image_set_id}"
    )
    first = client.get_image_set(
        datastoreId=datastore_id, imageSetId=image_set_id, versionId="1"
    )
    assert (first["versionId"], first["imageSetWorkflowStatus"]) == ("1", "CREATED")
    with pytest.raises(ClientError) as excinfo:
        client.get_image_set(
            datastoreId=datastore_id, imageSetId=image_set_id, versionId="9"
        )
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert (
        metadata_of(client, datastore_id, image_set_id, "1")["Study"]["DICOM"].get(
            "StudyDescription"
        )
        != "CT CHEST"
    )
    assert (
        metadata_of(client, datastore_id, image_set_id)["Study"]["DICOM"][
            "StudyDescription"
        ]
        == "CT CHEST"
    )


def test_list_image_set_versions_is_newest_first_and_pages(client, seed_datastore):
    datastore_id = seed_datastore(2)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    for version in range(1, 5):
        update(
            client,
            datastore_id,
            image_set_id,
            str(version),
            updatableAttributes={
                "Study": {"DICOM": {"StudyDescription": f"V{version}"}}
            },
        )
    paginator = client.get_paginator("list_image_set_versions")
    pages = list(
        paginator.paginate(
            datastoreId=datastore_id,
            imageSetId=image_set_id,
            PaginationConfig={"PageSize": 2},
        )
    )
    versions = [item for page in pages for item in page["imageSetPropertiesList"]]
    assert [item["versionId"] for item in versions] == ["5", "4", "3", "2", "1"]
    assert [item["ImageSetWorkflowStatus"] for item in versions] == ["UPDATED"] * 4 + [
        "CREATED"
    ]
    assert len(pages) == 3


def test_update_example_1_patient_name_answers_locked_updating_then_updated(
    start_emulator,
):
    server = start_emulator(update_delay=0.5)
    client = make_client(server.url)
    datastore_id = seed_archive(server, 3, name="delayed", random_seed=11)[0]
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    response = update(
        client,
        datastore_id,
        image_set_id,
        "1",
        updatableAttributes={"Patient": {"DICOM": {"PatientName": "MX^MX"}}},
    )
    assert (
        response["latestVersionId"],
        response["imageSetState"],
        response["imageSetWorkflowStatus"],
    ) == ("2", "LOCKED", "UPDATING")
    locked = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert (locked["imageSetState"], locked["imageSetWorkflowStatus"]) == (
        "LOCKED",
        "UPDATING",
    )
    with pytest.raises(ClientError) as excinfo:
        update(
            client,
            datastore_id,
            image_set_id,
            "2",
            updatableAttributes={"Patient": {"DICOM": {"PatientName": "B^B"}}},
        )
    assert error_of(excinfo)[0::2] == ("ConflictException", 409)
    done = wait_until_unlocked(client, datastore_id, image_set_id)
    assert (done["imageSetState"], done["imageSetWorkflowStatus"]) == (
        "ACTIVE",
        "UPDATED",
    )
    assert (
        metadata_of(client, datastore_id, image_set_id)["Patient"]["DICOM"][
            "PatientName"
        ]
        == "MX^MX"
    )
    criteria = {
        "filters": [
            {
                "values": [
                    {
                        "DICOMPatientId": search_all(client, datastore_id)[0][
                            "DICOMTags"
                        ]["DICOMPatientId"]
                    }
                ],
                "operator": "EQUAL",
            }
        ]
    }
    assert any(
        s["DICOMTags"]["DICOMPatientName"] == "MX^MX"
        for s in search_all(client, datastore_id, criteria)
    )


def wait_until_unlocked(client, datastore_id: str, image_set_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        properties = client.get_image_set(
            datastoreId=datastore_id, imageSetId=image_set_id
        )
        if properties["imageSetState"] != "LOCKED":
            return properties
        time.sleep(0.05)
    raise AssertionError("the image set stayed LOCKED")


def test_update_with_a_stale_version_is_the_documented_not_found(
    client, seed_datastore
):
    datastore_id = seed_datastore(2)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    update(
        client,
        datastore_id,
        image_set_id,
        "1",
        updatableAttributes={"Patient": {"DICOM": {"PatientName": "MX^MX"}}},
    )
    with pytest.raises(ClientError) as excinfo:
        update(
            client,
            datastore_id,
            image_set_id,
            "1",
            updatableAttributes={"Patient": {"DICOM": {"PatientName": "B^B"}}},
        )
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "Requested version(s) of ImageSet(s) is not the latest.",
        404,
    )


def test_update_example_2_removes_an_attribute(client, seed_datastore):
    datastore_id = seed_datastore(20)
    target = next(
        s
        for s in search_all(client, datastore_id)
        if "DICOMStudyDescription" in s["DICOMTags"]
    )
    update(
        client,
        datastore_id,
        target["imageSetId"],
        "1",
        removableAttributes={"Study": {"DICOM": {"StudyDescription": "CHEST"}}},
    )
    assert (
        "StudyDescription"
        not in metadata_of(client, datastore_id, target["imageSetId"])["Study"]["DICOM"]
    )
    summary = next(
        s
        for s in search_all(client, datastore_id)
        if s["imageSetId"] == target["imageSetId"]
    )
    assert "DICOMStudyDescription" not in summary["DICOMTags"]


def test_update_example_3_removes_an_instance(client, seed_datastore):
    datastore_id = seed_datastore(30)
    summaries = search_all(client, datastore_id)
    target = next(
        s for s in summaries if s["DICOMTags"]["DICOMNumberOfStudyRelatedInstances"] > 1
    )
    document = metadata_of(client, datastore_id, target["imageSetId"])
    series_uid, instance_uid, _ = first_instance(document)
    update(
        client,
        datastore_id,
        target["imageSetId"],
        "1",
        removableAttributes={
            "Study": {"Series": {series_uid: {"Instances": {instance_uid: {}}}}}
        },
    )
    after = metadata_of(client, datastore_id, target["imageSetId"])
    assert instance_uid not in after["Study"]["Series"][series_uid]["Instances"]
    count = next(
        s
        for s in search_all(client, datastore_id)
        if s["imageSetId"] == target["imageSetId"]
    )["DICOMTags"]["DICOMNumberOfStudyRelatedInstances"]
    assert count == target["DICOMTags"]["DICOMNumberOfStudyRelatedInstances"] - 1


def test_update_example_4_revert_creates_a_new_version_equal_to_the_old_one(
    client, seed_datastore
):
    datastore_id = seed_datastore(2)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    original = metadata_of(client, datastore_id, image_set_id)
    update(
        client,
        datastore_id,
        image_set_id,
        "1",
        updatableAttributes={"Patient": {"DICOM": {"PatientName": "A^A"}}},
    )
    update(
        client,
        datastore_id,
        image_set_id,
        "2",
        updatableAttributes={"Study": {"DICOM": {"StudyDescription": "X"}}},
    )
    response = client.update_image_set_metadata(
        datastoreId=datastore_id,
        imageSetId=image_set_id,
        latestVersionId="3",
        updateImageSetMetadataUpdates={"revertToVersionId": "1"},
    )
    assert response["latestVersionId"] == "4"
    assert metadata_of(client, datastore_id, image_set_id) == original
    for bad in ("4", "0", "9"):
        with pytest.raises(ClientError) as excinfo:
            client.update_image_set_metadata(
                datastoreId=datastore_id,
                imageSetId=image_set_id,
                latestVersionId="4",
                updateImageSetMetadataUpdates={"revertToVersionId": bad},
            )
        assert error_of(excinfo)[0] == "ValidationException"


def test_update_revert_with_include_study_image_sets_is_a_validation_error(
    client, seed_datastore
):
    datastore_id = seed_datastore(2)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    update(
        client,
        datastore_id,
        image_set_id,
        "1",
        updatableAttributes={"Patient": {"DICOM": {"PatientName": "A^A"}}},
    )
    with pytest.raises(ClientError) as excinfo:
        client.update_image_set_metadata(
            datastoreId=datastore_id,
            imageSetId=image_set_id,
            latestVersionId="2",
            includeStudyImageSets=True,
            updateImageSetMetadataUpdates={"revertToVersionId": "1"},
        )
    assert error_of(excinfo)[0] == "ValidationException"


def test_update_examples_5_and_6_add_then_change_an_instance_private_tag_with_force(
    client, seed_datastore
):
    datastore_id = seed_datastore(3)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    series_uid, instance_uid, _ = first_instance(
        metadata_of(client, datastore_id, image_set_id)
    )
    add = {
        "Study": {
            "Series": {
                series_uid: {
                    "Instances": {
                        instance_uid: {
                            "DICOM": {"001910F9": "97"},
                            "DICOMVRs": {"001910F9": "DS"},
                        }
                    }
                }
            }
        }
    }
    update(client, datastore_id, image_set_id, "1", force=True, updatableAttributes=add)
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert properties["imageSetWorkflowStatus"] == "UPDATED"
    assert properties["overrides"] == {"forced": True}
    change = {
        "Study": {
            "Series": {
                series_uid: {"Instances": {instance_uid: {"DICOM": {"001910F9": "98"}}}}
            }
        }
    }
    update(
        client, datastore_id, image_set_id, "2", force=True, updatableAttributes=change
    )
    instance = metadata_of(client, datastore_id, image_set_id)["Study"]["Series"][
        series_uid
    ]["Instances"][instance_uid]
    assert instance["DICOM"]["001910F9"] == "98"
    assert instance["DICOMVRs"]["001910F9"] == "DS"
    versions = client.list_image_set_versions(
        datastoreId=datastore_id, imageSetId=image_set_id
    )["imageSetPropertiesList"]
    assert versions[0]["overrides"] == {"forced": True}


def test_update_example_7_changes_a_sop_instance_uid_with_force(client, seed_datastore):
    datastore_id = seed_datastore(3)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    series_uid, instance_uid, _ = first_instance(
        metadata_of(client, datastore_id, image_set_id)
    )
    new_uid = instance_uid[:-1] + ("9" if instance_uid[-1] != "9" else "8")
    change = {
        "Study": {
            "Series": {
                series_uid: {
                    "Instances": {instance_uid: {"DICOM": {"SOPInstanceUID": new_uid}}}
                }
            }
        }
    }
    update(
        client, datastore_id, image_set_id, "1", force=True, updatableAttributes=change
    )
    instances = metadata_of(client, datastore_id, image_set_id)["Study"]["Series"][
        series_uid
    ]["Instances"]
    assert new_uid in instances
    assert instance_uid not in instances
    assert instances[new_uid]["DICOM"]["SOPInstanceUID"] == new_uid


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda s, i: {
                "Study": {
                    "Series": {
                        s: {
                            "Instances": {
                                i: {
                                    "DICOM": {"001910F9": "97"},
                                    "DICOMVRs": {"001910F9": "DS"},
                                }
                            }
                        }
                    }
                }
            },
            "requires force",
        ),
        (
            lambda s, i: {
                "Study": {
                    "Series": {
                        s: {"Instances": {i: {"DICOM": {"SOPInstanceUID": "1.2.3"}}}}
                    }
                }
            },
            "requires force",
        ),
        (lambda s, i: {"Study": {"DICOM": {"StudyID": "42"}}}, "requires force"),
        (
            lambda s, i: {"Study": {"DICOM": {"PatientName": "A^B"}}},
            "Patient level attribute",
        ),
        (
            lambda s, i: {"Patient": {"DICOM": {"PatientBirthDate": "1999-01-01"}}},
            "VR DA",
        ),
        (
            lambda s, i: {
                "Study": {"Series": {"1.2.3.4": {"DICOM": {"SeriesDescription": "X"}}}}
            },
            "not in the image set",
        ),
        (
            lambda s, i: {
                "Study": {
                    "Series": {s: {"Instances": {i: {"DICOM": {"PixelData": "AA=="}}}}}
                }
            },
            "can not be updated",
        ),
    ],
    ids=[
        "private-tag",
        "sop-uid",
        "study-id",
        "cross-level",
        "bad-vr",
        "unknown-series",
        "pixel-data",
    ],
)
def test_update_without_the_needed_rights_ends_update_failed_with_the_reason(
    client, seed_datastore, change, reason
):
    datastore_id = seed_datastore(3)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    before = metadata_of(client, datastore_id, image_set_id)
    series_uid, instance_uid, _ = first_instance(before)
    accepted = update(
        client,
        datastore_id,
        image_set_id,
        "1",
        updatableAttributes=change(series_uid, instance_uid),
    )
    assert accepted["imageSetWorkflowStatus"] == "UPDATING"
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert (
        properties["versionId"],
        properties["imageSetState"],
        properties["imageSetWorkflowStatus"],
    ) == ("2", "ACTIVE", "UPDATE_FAILED")
    assert properties["message"].startswith("INVALID_REQUEST: ")
    assert reason in properties["message"]
    assert metadata_of(client, datastore_id, image_set_id) == before


@pytest.mark.parametrize(
    "blob",
    [
        b"not json",
        b"[1, 2]",
        b'{"Patient": {}}',
        b'{"SchemaVersion": 1.1, "Patient": []}',
        b'{"SchemaVersion": 1.1, "Other": {}}',
    ],
    ids=["not-json", "not-object", "no-schema-version", "wrong-shape", "unknown-key"],
)
def test_update_with_a_malformed_blob_is_a_synchronous_validation_error(
    client, seed_datastore, blob
):
    datastore_id = seed_datastore(2)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    with pytest.raises(ClientError) as excinfo:
        client.update_image_set_metadata(
            datastoreId=datastore_id,
            imageSetId=image_set_id,
            latestVersionId="1",
            updateImageSetMetadataUpdates={
                "DICOMUpdates": {"updatableAttributes": blob}
            },
        )
    assert error_of(excinfo)[0::2] == ("ValidationException", 400)


def test_update_payload_limits_are_validation_and_quota_errors(client, seed_datastore):
    datastore_id = seed_datastore(2)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    big = json.dumps(
        {"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": "x" * 30_000}}}
    )
    with pytest.raises(ClientError) as excinfo:
        client.update_image_set_metadata(
            datastoreId=datastore_id,
            imageSetId=image_set_id,
            latestVersionId="1",
            updateImageSetMetadataUpdates={
                "DICOMUpdates": {"updatableAttributes": big}
            },
        )
    assert error_of(excinfo)[0] == "ValidationException"
    medium = json.dumps(
        {"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": "x" * 9_000}}}
    )
    with pytest.raises(ClientError) as excinfo:
        client.update_image_set_metadata(
            datastoreId=datastore_id,
            imageSetId=image_set_id,
            latestVersionId="1",
            updateImageSetMetadataUpdates={
                "DICOMUpdates": {"updatableAttributes": medium}
            },
        )
    assert error_of(excinfo)[0::2] == ("ServiceQuotaExceededException", 402)


def test_update_with_both_union_members_is_refused_by_the_server_too(
    emulator, seed_datastore
):
    datastore_id = seed_datastore(2)
    client = make_client(emulator.url)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    body = json.dumps(
        {"DICOMUpdates": {"updatableAttributes": "e30="}, "revertToVersionId": "1"}
    ).encode()
    request = urllib.request.Request(
        f"{emulator.url}/datastore/{datastore_id}/imageSet/{image_set_id}/updateImageSetMetadata?latestVersion=1",
        data=body,
        method="POST",
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/medical-imaging/aws4_request"
        },
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 400
    assert excinfo.value.headers["x-amzn-ErrorType"] == "ValidationException"


def test_unsigned_requests_are_access_denied(emulator):
    request = urllib.request.Request(f"{emulator.url}/datastore", method="GET")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 403
    assert excinfo.value.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_update_with_include_study_image_sets_versions_every_primary_set_of_the_study(
    client, seed_datastore
):
    datastore_id = seed_datastore(60)
    summaries = search_all(client, datastore_id)
    by_study: dict[str, list] = {}
    for summary in summaries:
        by_study.setdefault(summary["DICOMTags"]["DICOMStudyInstanceUID"], []).append(
            summary
        )
    study = next(
        items
        for items in by_study.values()
        if len(items) > 1 and all(s["isPrimary"] for s in items)
    )
    target, *siblings = study
    response = client.update_image_set_metadata(
        datastoreId=datastore_id,
        imageSetId=target["imageSetId"],
        latestVersionId="1",
        includeStudyImageSets=True,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {
                "updatableAttributes": json.dumps(
                    {
                        "SchemaVersion": 1.1,
                        "Study": {"DICOM": {"StudyDescription": "CT CHEST ABDOMEN"}},
                    }
                )
            }
        },
    )
    assert response["latestVersionId"] == "2"
    for sibling in siblings:
        properties = client.get_image_set(
            datastoreId=datastore_id, imageSetId=sibling["imageSetId"]
        )
        assert properties["versionId"] == "2"
        assert (
            metadata_of(client, datastore_id, sibling["imageSetId"])["Study"]["DICOM"][
                "StudyDescription"
            ]
            == "CT CHEST ABDOMEN"
        )


def test_strict_mode_refuses_patient_level_edits_of_primary_image_sets(start_emulator):
    server = start_emulator(strict=True)
    client = make_client(server.url)
    datastore_id = seed_archive(server, 8, name="strict", random_seed=11)[0]
    image_set_id = next(
        s["imageSetId"] for s in search_all(client, datastore_id) if s["isPrimary"]
    )
    update(
        client,
        datastore_id,
        image_set_id,
        "1",
        updatableAttributes={"Patient": {"DICOM": {"PatientName": "MX^MX"}}},
    )
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert properties["imageSetWorkflowStatus"] == "UPDATE_FAILED"
    update(
        client,
        datastore_id,
        image_set_id,
        "2",
        updatableAttributes={"Study": {"DICOM": {"StudyDescription": "OK"}}},
    )
    assert (
        client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)[
            "imageSetWorkflowStatus"
        ]
        == "UPDATED"
    )


def test_copy_image_set_to_a_new_set_copies_metadata_and_locks_the_source_briefly(
    client, seed_datastore
):
    datastore_id = seed_datastore(3)
    source = search_all(client, datastore_id)[0]["imageSetId"]
    response = client.copy_image_set(
        datastoreId=datastore_id,
        sourceImageSetId=source,
        copyImageSetInformation={"sourceImageSet": {"latestVersionId": "1"}},
    )
    assert (
        response["sourceImageSetProperties"]["imageSetWorkflowStatus"]
        == "COPYING_WITH_READ_ONLY_ACCESS"
    )
    destination = response["destinationImageSetProperties"]
    assert (destination["latestVersionId"], destination["imageSetWorkflowStatus"]) == (
        "1",
        "COPYING",
    )
    copied = metadata_of(client, datastore_id, destination["imageSetId"])
    original = metadata_of(client, datastore_id, source)
    assert copied["ImageSetID"] == destination["imageSetId"]
    assert copied["Study"] == original["Study"]
    assert (
        client.get_image_set(
            datastoreId=datastore_id, imageSetId=destination["imageSetId"]
        )["imageSetWorkflowStatus"]
        == "COPIED"
    )


def test_copy_image_set_into_a_mismatched_destination_ends_copy_failed_unless_forced(
    client, seed_datastore
):
    datastore_id = seed_datastore(40)
    summaries = search_all(client, datastore_id)
    source = summaries[0]
    other = next(
        s
        for s in summaries
        if s["DICOMTags"]["DICOMPatientId"] != source["DICOMTags"]["DICOMPatientId"]
    )
    client.copy_image_set(
        datastoreId=datastore_id,
        sourceImageSetId=source["imageSetId"],
        copyImageSetInformation={
            "sourceImageSet": {"latestVersionId": "1"},
            "destinationImageSet": {
                "imageSetId": other["imageSetId"],
                "latestVersionId": "1",
            },
        },
    )
    failed = client.get_image_set(
        datastoreId=datastore_id, imageSetId=other["imageSetId"]
    )
    assert (failed["versionId"], failed["imageSetWorkflowStatus"]) == (
        "2",
        "COPY_FAILED",
    )
    assert "don't match" in failed["message"]
    client.copy_image_set(
        datastoreId=datastore_id,
        sourceImageSetId=source["imageSetId"],
        force=True,
        copyImageSetInformation={
            "sourceImageSet": {"latestVersionId": "1"},
            "destinationImageSet": {
                "imageSetId": other["imageSetId"],
                "latestVersionId": "2",
            },
        },
    )
    merged = metadata_of(client, datastore_id, other["imageSetId"])
    assert set(
        metadata_of(client, datastore_id, source["imageSetId"])["Study"]["Series"]
    ) <= set(merged["Study"]["Series"])
    assert (
        merged["Patient"]["DICOM"]["PatientID"] == other["DICOMTags"]["DICOMPatientId"]
    )


def test_delete_image_set_locks_then_deletes_and_metadata_is_gone(
    client, seed_datastore
):
    datastore_id = seed_datastore(3)
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    response = client.delete_image_set(
        datastoreId=datastore_id, imageSetId=image_set_id
    )
    assert (response["imageSetState"], response["imageSetWorkflowStatus"]) == (
        "LOCKED",
        "DELETING",
    )
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert (properties["imageSetState"], properties["imageSetWorkflowStatus"]) == (
        "DELETED",
        "DELETED",
    )
    assert "deletedAt" in properties
    for call in (client.get_image_set_metadata, client.delete_image_set):
        with pytest.raises(ClientError) as excinfo:
            call(datastoreId=datastore_id, imageSetId=image_set_id)
        assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_tags_can_be_added_listed_and_removed_on_datastores_and_image_sets(
    client, seed_datastore
):
    datastore_id = seed_datastore(2)
    datastore_arn = client.get_datastore(datastoreId=datastore_id)[
        "datastoreProperties"
    ]["datastoreArn"]
    image_set_id = search_all(client, datastore_id)[0]["imageSetId"]
    image_set_arn = client.get_image_set(
        datastoreId=datastore_id, imageSetId=image_set_id
    )["imageSetArn"]
    for arn in (datastore_arn, image_set_arn):
        client.tag_resource(
            resourceArn=arn, tags={"project": "demo", "cost-center": "radiology"}
        )
        assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {
            "project": "demo",
            "cost-center": "radiology",
        }
        client.untag_resource(resourceArn=arn, tagKeys=["project"])
        assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {
            "cost-center": "radiology"
        }
    unknown = image_set_arn[:-32] + "f" * 32
    with pytest.raises(ClientError) as excinfo:
        client.list_tags_for_resource(resourceArn=unknown)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        client.tag_resource(resourceArn=datastore_arn, tags={"aws:reserved": "x"})
    assert error_of(excinfo)[0] == "ValidationException"
