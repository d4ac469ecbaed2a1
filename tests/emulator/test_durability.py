"""The emulator keeps its state across restarts, stays consistent under concurrent requests, and its
test knobs (injected update failures, throttling) behave as the portal's tests rely on.
"""

import gzip
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.support.emulator import control, make_client, seed_archive

pytestmark = pytest.mark.emulator

STALE_VERSION = "Requested version(s) of ImageSet(s) is not the latest."


def update_patient(
    client, datastore_id: str, image_set_id: str, version: str, **attributes: str
) -> dict:
    blob = json.dumps({"SchemaVersion": 1.1, "Patient": {"DICOM": attributes}})
    return client.update_image_set_metadata(
        datastoreId=datastore_id,
        imageSetId=image_set_id,
        latestVersionId=version,
        updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": blob}},
    )


def metadata_of(
    client, datastore_id: str, image_set_id: str, version: str | None = None
) -> dict:
    kwargs = {"versionId": version} if version else {}
    blob = client.get_image_set_metadata(
        datastoreId=datastore_id, imageSetId=image_set_id, **kwargs
    )
    return json.loads(gzip.decompress(blob["imageSetMetadataBlob"].read()))


def without_metadata(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def search_all(client, datastore_id: str, criteria: dict | None = None) -> list[dict]:
    paginator = client.get_paginator("search_image_sets")
    kwargs = {"searchCriteria": criteria} if criteria else {}
    pages = paginator.paginate(
        datastoreId=datastore_id, PaginationConfig={"PageSize": 7}, **kwargs
    )
    return [summary for page in pages for summary in page["imageSetsMetadataSummaries"]]


def error_code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def count_attempts(client, operation: str) -> list[int]:
    """A list that grows by one for every HTTP attempt the client makes for `operation`."""
    sent: list[int] = []
    client.meta.events.register(
        f"before-send.medical-imaging.{operation}", lambda **_: sent.append(1)
    )
    return sent


# -- persistence across restarts ------------------------------------------------------------


def snapshot(
    client,
    datastore_id: str,
    image_set_ids: list[str],
    arns: list[str],
    patient_id: str,
) -> dict:
    """Everything a client can read about a data store, keyed so two snapshots compare exactly."""
    state: dict = {
        "datastores": without_metadata(client.list_datastores()),
        "datastore": without_metadata(client.get_datastore(datastoreId=datastore_id)),
        "search": search_all(client, datastore_id),
        "patient search": search_all(
            client,
            datastore_id,
            {
                "filters": [
                    {"operator": "EQUAL", "values": [{"DICOMPatientId": patient_id}]}
                ]
            },
        ),
        "tags": {
            arn: without_metadata(client.list_tags_for_resource(resourceArn=arn))
            for arn in arns
        },
    }
    for image_set_id in image_set_ids:
        versions = without_metadata(
            client.list_image_set_versions(
                datastoreId=datastore_id, imageSetId=image_set_id
            )
        )
        state[f"versions {image_set_id}"] = versions
        for version in versions["imageSetPropertiesList"]:
            number = version["versionId"]
            state[f"image set {image_set_id} v{number}"] = without_metadata(
                client.get_image_set(
                    datastoreId=datastore_id, imageSetId=image_set_id, versionId=number
                )
            )
            state[f"metadata {image_set_id} v{number}"] = metadata_of(
                client, datastore_id, image_set_id, number
            )
    return state


def test_datastores_image_sets_versions_metadata_tags_and_search_survive_a_restart(
    start_emulator,
):
    first = start_emulator()
    datastore_id, image_set_ids = seed_archive(first, 12, name="durable", random_seed=5)
    client = make_client(first.url)
    updated_id = image_set_ids[3]
    update_patient(client, datastore_id, updated_id, "1", PatientName="MX^MX")
    datastore_arn = client.get_datastore(datastoreId=datastore_id)[
        "datastoreProperties"
    ]["datastoreArn"]
    image_set_arn = client.get_image_set(
        datastoreId=datastore_id, imageSetId=updated_id
    )["imageSetArn"]
    client.tag_resource(resourceArn=datastore_arn, tags={"project": "durability"})
    client.tag_resource(resourceArn=image_set_arn, tags={"reviewed": "yes"})
    patient_id = metadata_of(client, datastore_id, updated_id)["Patient"]["DICOM"][
        "PatientID"
    ]
    arns = [datastore_arn, image_set_arn]
    before = snapshot(client, datastore_id, image_set_ids, arns, patient_id)
    first_page = client.search_image_sets(datastoreId=datastore_id, maxResults=5)
    second_page = client.search_image_sets(
        datastoreId=datastore_id, maxResults=5, nextToken=first_page["nextToken"]
    )["imageSetsMetadataSummaries"]
    first.stop()

    second = start_emulator()
    client = make_client(second.url)
    after = snapshot(client, datastore_id, image_set_ids, arns, patient_id)

    assert after == before
    assert [
        v["versionId"]
        for v in after[f"versions {updated_id}"]["imageSetPropertiesList"]
    ] == ["2", "1"]
    assert after[f"image set {updated_id} v2"]["imageSetWorkflowStatus"] == "UPDATED"
    assert (
        after[f"metadata {updated_id} v2"]["Patient"]["DICOM"]["PatientName"] == "MX^MX"
    )
    assert (
        after[f"metadata {updated_id} v1"]["Patient"]["DICOM"]["PatientName"] != "MX^MX"
    )
    assert after["tags"][datastore_arn]["tags"] == {"project": "durability"}
    assert len(after["search"]) == 12
    replayed = client.search_image_sets(
        datastoreId=datastore_id, maxResults=5, nextToken=first_page["nextToken"]
    )
    # Tokens carry their issue time, so only the page itself must be equal.
    assert replayed["imageSetsMetadataSummaries"] == second_page, (
        "a nextToken issued before the restart still works"
    )


def test_a_locked_image_set_stays_locked_across_a_restart(start_emulator):
    first = start_emulator(update_delay=3600)
    datastore_id, image_set_ids = seed_archive(first, 3, name="durable", random_seed=5)
    client = make_client(first.url)
    image_set_id = image_set_ids[0]
    answer = update_patient(
        client, datastore_id, image_set_id, "1", PatientName="LOCKED^ACROSS^RESTART"
    )
    assert answer["imageSetState"] == "LOCKED"
    first.stop()

    second = start_emulator(update_delay=0)
    client = make_client(second.url)
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert properties["imageSetState"] == "LOCKED"
    assert properties["imageSetWorkflowStatus"] == "UPDATING"
    assert properties["versionId"] == "2"
    with pytest.raises(ClientError) as excinfo:
        update_patient(
            client, datastore_id, image_set_id, "2", PatientName="SECOND^WRITER"
        )
    assert error_code(excinfo.value) == "ConflictException"
    summary = next(
        s for s in search_all(client, datastore_id) if s["imageSetId"] == image_set_id
    )
    assert summary["version"] == 1, (
        "a LOCKED set is searched by its last committed version"
    )
    assert summary["DICOMTags"]["DICOMPatientName"] != "LOCKED^ACROSS^RESTART"


def test_an_update_due_while_the_emulator_was_down_settles_to_updated_after_a_restart(
    start_emulator,
):
    first = start_emulator(update_delay=0.5)
    datastore_id, image_set_ids = seed_archive(first, 3, name="durable", random_seed=5)
    client = make_client(first.url)
    image_set_id = image_set_ids[1]
    started = time.monotonic()
    answer = update_patient(
        client, datastore_id, image_set_id, "1", PatientName="SETTLED^LATER"
    )
    assert (answer["imageSetState"], answer["imageSetWorkflowStatus"]) == (
        "LOCKED",
        "UPDATING",
    )
    first.stop()
    time.sleep(max(0.0, 0.7 - (time.monotonic() - started)))

    # A long delay on the new server proves settling uses the due time recorded before the stop.
    second = start_emulator(update_delay=3600)
    client = make_client(second.url)
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert (properties["imageSetState"], properties["imageSetWorkflowStatus"]) == (
        "ACTIVE",
        "UPDATED",
    )
    assert properties["versionId"] == "2"
    assert (
        metadata_of(client, datastore_id, image_set_id)["Patient"]["DICOM"][
            "PatientName"
        ]
        == "SETTLED^LATER"
    )
    summary = next(
        s for s in search_all(client, datastore_id) if s["imageSetId"] == image_set_id
    )
    assert summary["version"] == 2
    assert summary["DICOMTags"]["DICOMPatientName"] == "SETTLED^LATER"


# -- concurrency ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "update_delay", [0, 5], ids=["settling-at-once", "locked-for-5s"]
)
@pytest.mark.parametrize("contenders", [2, 8], ids=["two", "eight"])
def test_update_image_set_metadata_accepts_exactly_one_of_simultaneous_updates_of_one_version(
    start_emulator, contenders, update_delay
):
    server = start_emulator(update_delay=update_delay)
    datastore_id, image_set_ids = seed_archive(server, 3, name="durable", random_seed=5)
    image_set_id = image_set_ids[0]
    clients = [make_client(server.url, attempts=1) for _ in range(contenders)]
    barrier = threading.Barrier(contenders)

    def contend(index: int) -> tuple[str, str]:
        barrier.wait(timeout=30)
        try:
            update_patient(
                clients[index],
                datastore_id,
                image_set_id,
                "1",
                PatientName=f"CONTENDER^{index}",
            )
        except ClientError as error:
            return error_code(error), error.response["Error"]["Message"]
        return "accepted", f"CONTENDER^{index}"

    with ThreadPoolExecutor(max_workers=contenders) as pool:
        outcomes = list(pool.map(contend, range(contenders)))

    accepted = [detail for code, detail in outcomes if code == "accepted"]
    assert len(accepted) == 1, outcomes
    losers = [(code, detail) for code, detail in outcomes if code != "accepted"]
    if update_delay:
        assert {code for code, _ in losers} == {"ConflictException"}, outcomes
    else:
        assert {code for code, _ in losers} <= {
            "ConflictException",
            "ResourceNotFoundException",
        }, outcomes
        assert all(
            detail == STALE_VERSION
            for code, detail in losers
            if code == "ResourceNotFoundException"
        )
    versions = clients[0].list_image_set_versions(
        datastoreId=datastore_id, imageSetId=image_set_id
    )
    assert [v["versionId"] for v in versions["imageSetPropertiesList"]] == ["2", "1"]
    if not update_delay:
        patient = metadata_of(clients[0], datastore_id, image_set_id)["Patient"][
            "DICOM"
        ]
        assert patient["PatientName"] == accepted[0]


def test_many_concurrent_readers_see_no_errors_while_an_image_set_is_updated_repeatedly(
    start_emulator,
):
    server = start_emulator(update_delay=0)
    datastore_id, image_set_ids = seed_archive(
        server, 20, name="durable", random_seed=5
    )
    target = image_set_ids[0]
    setup = make_client(server.url)
    patient_id = metadata_of(setup, datastore_id, target)["Patient"]["DICOM"][
        "PatientID"
    ]
    readers, rounds, updates = 8, 15, 10
    # One attempt per call, so that not even a retried 500 goes unnoticed.
    clients = [make_client(server.url, attempts=1) for _ in range(readers + 1)]
    problems: list[str] = []
    writing_done = threading.Event()

    def read(client) -> None:
        seen = 0
        for round_number in range(300):
            if round_number >= rounds and writing_done.is_set():
                break
            try:
                version = int(
                    client.get_image_set(datastoreId=datastore_id, imageSetId=target)[
                        "versionId"
                    ]
                )
                document = metadata_of(client, datastore_id, target)
                listed = client.list_image_set_versions(
                    datastoreId=datastore_id, imageSetId=target
                )
                found = client.search_image_sets(
                    datastoreId=datastore_id,
                    searchCriteria={
                        "filters": [
                            {
                                "operator": "EQUAL",
                                "values": [{"DICOMPatientId": patient_id}],
                            }
                        ]
                    },
                )
            except ClientError as error:
                problems.append(f"reader: {error}")
                return
            if version < seen:
                problems.append(f"reader saw version {version} after {seen}")
            seen = version
            if document["ImageSetID"] != target:
                problems.append("metadata of another image set")
            if int(listed["imageSetPropertiesList"][0]["versionId"]) < version:
                problems.append("ListImageSetVersions behind GetImageSet")
            if target not in {
                s["imageSetId"] for s in found["imageSetsMetadataSummaries"]
            }:
                problems.append("search lost the image set")

    def write(client) -> None:
        try:
            for number in range(updates):
                latest = client.get_image_set(
                    datastoreId=datastore_id, imageSetId=target
                )["versionId"]
                update_patient(
                    client,
                    datastore_id,
                    target,
                    latest,
                    PatientComments=f"pass {number}",
                )
        except ClientError as error:
            problems.append(f"updater: {error}")
        finally:
            writing_done.set()

    with ThreadPoolExecutor(max_workers=readers + 1) as pool:
        futures = [pool.submit(write, clients[readers])]
        futures += [pool.submit(read, client) for client in clients[:readers]]
        for future in futures:
            future.result(timeout=120)

    assert problems == []
    versions = clients[0].list_image_set_versions(
        datastoreId=datastore_id, imageSetId=target
    )
    assert len(versions["imageSetPropertiesList"]) == updates + 1
    assert metadata_of(clients[0], datastore_id, target)["Patient"]["DICOM"][
        "PatientComments"
    ] == (f"pass {updates - 1}")


# -- test knobs -----------------------------------------------------------------------------


def test_fail_next_update_knob_ends_the_next_update_update_failed_with_its_message(
    emulator, client, seed_datastore
):
    datastore_id = seed_datastore(3)
    image_set_id = client.search_image_sets(datastoreId=datastore_id)[
        "imageSetsMetadataSummaries"
    ][0]["imageSetId"]
    before = metadata_of(client, datastore_id, image_set_id)
    message = "INVALID_REQUEST: injected by the durability test"
    control(
        emulator.url,
        f"image-sets/{image_set_id}/fail-next-update",
        {"message": message},
    )

    answer = update_patient(
        client, datastore_id, image_set_id, "1", PatientName="NEVER^APPLIED"
    )
    assert (answer["imageSetState"], answer["imageSetWorkflowStatus"]) == (
        "LOCKED",
        "UPDATING",
    )
    assert answer["latestVersionId"] == "2"

    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert (properties["imageSetState"], properties["imageSetWorkflowStatus"]) == (
        "ACTIVE",
        "UPDATE_FAILED",
    )
    assert properties["message"] == message
    newest = client.list_image_set_versions(
        datastoreId=datastore_id, imageSetId=image_set_id
    )["imageSetPropertiesList"][0]
    assert (
        newest["versionId"],
        newest["ImageSetWorkflowStatus"],
        newest["message"],
    ) == (
        "2",
        "UPDATE_FAILED",
        message,
    )
    assert metadata_of(client, datastore_id, image_set_id) == before

    # The knob fires once: the next update goes through.
    update_patient(client, datastore_id, image_set_id, "2", PatientName="APPLIED^NOW")
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert properties["imageSetWorkflowStatus"] == "UPDATED"
    assert (
        metadata_of(client, datastore_id, image_set_id)["Patient"]["DICOM"][
            "PatientName"
        ]
        == "APPLIED^NOW"
    )


def test_throttling_knob_answers_a_second_quick_update_with_throttling_exception(
    emulator, seed_datastore
):
    datastore_id = seed_datastore(3)
    client = make_client(emulator.url, attempts=1)
    summaries = client.search_image_sets(datastoreId=datastore_id)[
        "imageSetsMetadataSummaries"
    ]
    first_id, second_id = summaries[0]["imageSetId"], summaries[1]["imageSetId"]
    assert control(emulator.url, "config", {"throttling": True})["throttling"] is True
    sent = count_attempts(client, "UpdateImageSetMetadata")

    update_patient(client, datastore_id, first_id, "1", PatientName="FIRST^UPDATE")
    with pytest.raises(ClientError) as excinfo:
        update_patient(
            client, datastore_id, second_id, "1", PatientName="SECOND^UPDATE"
        )

    error = excinfo.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["Error"]["Message"] == "Rate exceeded"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert (
        error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]
        == "ThrottlingException"
    )
    assert len(sent) == 2, "one attempt per call"

    control(emulator.url, "config", {"throttling": False})
    update_patient(client, datastore_id, second_id, "1", PatientName="SECOND^UPDATE")


def test_standard_retries_ride_out_get_image_set_throttling_beyond_the_documented_burst_of_50(
    emulator, seed_datastore
):
    datastore_id = seed_datastore(3)
    client = make_client(emulator.url, attempts=3)
    image_set_id = client.search_image_sets(datastoreId=datastore_id)[
        "imageSetsMetadataSummaries"
    ][0]["imageSetId"]
    control(emulator.url, "config", {"throttling": True})
    sent = count_attempts(client, "GetImageSet")

    retries: list[int] = []
    failures: list[tuple[str, int]] = []
    calls = 80
    for _ in range(calls):
        try:
            response = client.get_image_set(
                datastoreId=datastore_id, imageSetId=image_set_id
            )
        except ClientError as error:
            failures.append(
                (error_code(error), error.response["ResponseMetadata"]["RetryAttempts"])
            )
        else:
            retries.append(response["ResponseMetadata"]["RetryAttempts"])

    assert retries[:50] == [0] * 50, "the documented burst of 50 passes unthrottled"
    assert any(attempts > 0 for attempts in retries), (
        "calls beyond the burst are throttled and retried"
    )
    assert all(failure == ("ThrottlingException", 2) for failure in failures), failures
    assert len(failures) <= 5
    assert len(sent) > calls, "throttled attempts were sent again"
