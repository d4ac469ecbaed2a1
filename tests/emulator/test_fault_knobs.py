"""The emulator's fault knobs: throttling or failing a share of the calls, losing an update's
response, holding an update LOCKED, the call log (with the SDK's attempts and the updates in
flight), and refusing bad knob values, all driven by real boto3 over HTTP.

They exist for tests of clients that must survive HealthImaging's faults (a worker applying
updates), so each knob is checked for exactly the behaviour such a test will count on.
"""

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from apps.emulator.server import EmulatorServer
from apps.emulator.state import STALE_VERSION_MESSAGE
from apps.emulator.wire import CallShare
from tests.support.emulator import (
    clear_emulator_calls,
    control,
    control_status,
    emulator_calls,
    emulator_config,
    hold_next_update_locked,
    lose_next_update_response,
    make_client,
    seed_archive,
)

pytestmark = pytest.mark.emulator

IMAGE_SETS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[EmulatorServer]:
    """An emulator of this module's own, so no knob set here can reach another test file."""
    state = tmp_path_factory.mktemp("fault-knobs") / "emulator.sqlite3"
    server = EmulatorServer(str(state), update_delay=0, validate_responses=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def archive(server) -> tuple[str, list[str]]:
    """A data store of generated image sets; each test that updates takes its own set."""
    return seed_archive(server, IMAGE_SETS, name="fault-knobs", random_seed=5)


@pytest.fixture(autouse=True)
def reset_knobs(server) -> Iterator[None]:
    """Every test starts and ends with the knobs off and an empty call log."""
    yield
    control(
        server.url,
        "config",
        {
            "updateDelaySeconds": 0,
            "throttling": False,
            "throttleShare": 0,
            "throttleOperations": None,
            "faultShare": 0,
            "faultStatuses": [500],
            "faultOperations": None,
            "latencySeconds": 0,
        },
    )
    clear_emulator_calls(server.url)


def error_of(error: ClientError) -> tuple[str, str, int]:
    response = error.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def update_patient_name(
    client, datastore_id: str, image_set_id: str, version: str, name: str
):
    blob = {"SchemaVersion": 1.1, "Patient": {"DICOM": {"PatientName": name}}}
    return client.update_image_set_metadata(
        datastoreId=datastore_id,
        imageSetId=image_set_id,
        latestVersionId=version,
        updateImageSetMetadataUpdates={
            "DICOMUpdates": {"updatableAttributes": json.dumps(blob)}
        },
    )


def wait_for_call(url: str, operation: str, image_set_id: str) -> dict:
    """The logged call, once the emulator has answered it (its response may still be held)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        calls = emulator_calls(url, operation=operation, image_set_id=image_set_id)
        if calls and calls[-1]["status"] is not None:
            return calls[-1]
        time.sleep(0.02)
    raise AssertionError(f"no answered {operation} call for {image_set_id}")


# -- throttleShare ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "throttled"),
    [(0, 0), (0.1, 10), (0.25, 25), (0.5, 50), (0.57, 57), (0.999, 99), (1, 100)],
)
def test_throttle_share_refuses_exactly_that_share_of_100_calls(share, throttled):
    knob = CallShare()
    knob.configure(share=Fraction(repr(float(share))), operations=None)
    assert sum(knob.throttled("GetImageSet") for _ in range(100)) == throttled


def test_throttle_share_half_throttles_every_other_get_image_set_with_the_throttle_shape(
    server, archive
):
    datastore_id, image_set_ids = archive
    client = make_client(server.url, attempts=1)
    config = control(server.url, "config", {"throttleShare": 0.5})
    assert config["throttleShare"] == 0.5
    assert config["throttleOperations"] is None

    outcomes: list[str] = []
    errors: list[ClientError] = []
    for _ in range(20):
        try:
            client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[0])
        except ClientError as error:
            errors.append(error)
            outcomes.append("throttled")
        else:
            outcomes.append("ok")

    assert outcomes == ["ok", "throttled"] * 10
    assert {error_of(error) for error in errors} == {
        ("ThrottlingException", "Rate exceeded", 429)
    }
    assert {
        error.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]
        for error in errors
    } == {"ThrottlingException"}
    statuses = [
        call["status"] for call in emulator_calls(server.url, operation="GetImageSet")
    ]
    assert statuses == [200, 429] * 10, "throttled calls are logged too"


def test_throttle_share_counts_each_operation_on_its_own_and_restarts_when_changed(
    server, archive
):
    datastore_id, image_set_ids = archive
    client = make_client(server.url, attempts=1)
    control(server.url, "config", {"throttleShare": 0.5})

    def outcome(call) -> int:
        try:
            call()
        except ClientError as error:
            return error.response["ResponseMetadata"]["HTTPStatusCode"]
        return 200

    def get_image_set():
        client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[0])

    def list_versions():
        client.list_image_set_versions(
            datastoreId=datastore_id, imageSetId=image_set_ids[0]
        )

    assert [outcome(get_image_set), outcome(list_versions), outcome(get_image_set)] == [
        200,
        200,
        429,
    ]
    assert outcome(get_image_set) == 200
    control(server.url, "config", {"throttleShare": 0.5})
    assert [outcome(get_image_set), outcome(get_image_set)] == [200, 429], (
        "setting the share again starts counting afresh"
    )


def test_throttle_operations_restricts_the_share_to_the_named_operations(
    server, archive
):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[4]
    client = make_client(server.url, attempts=1)
    config = control(
        server.url,
        "config",
        {"throttleShare": 1, "throttleOperations": ["UpdateImageSetMetadata"]},
    )
    assert config["throttleOperations"] == ["UpdateImageSetMetadata"]

    for _ in range(5):
        client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    client.search_image_sets(datastoreId=datastore_id)
    for _ in range(3):
        with pytest.raises(ClientError) as excinfo:
            update_patient_name(
                client, datastore_id, image_set_id, "1", "NEVER^APPLIED"
            )
        assert error_of(excinfo.value) == ("ThrottlingException", "Rate exceeded", 429)

    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert properties["versionId"] == "1", "a throttled update changes nothing"
    assert [
        (call["operation"], call["status"])
        for call in emulator_calls(server.url)
        if call["status"] != 200
    ] == [("UpdateImageSetMetadata", 429)] * 3

    control(server.url, "config", {"throttleOperations": None})
    with pytest.raises(ClientError) as excinfo:
        client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert error_of(excinfo.value)[0] == "ThrottlingException", (
        "null means every operation"
    )


def test_emulator_config_helper_puts_back_what_it_changed(server):
    with emulator_config(
        server.url, throttleShare=0.25, throttleOperations=["GetImageSet"]
    ) as inside:
        assert inside["throttleShare"] == 0.25
        assert inside["throttleOperations"] == ["GetImageSet"]
    after = control(server.url, "config")
    assert after["throttleShare"] == 0
    assert after["throttleOperations"] is None


# -- faultShare, the SDK's attempts in the call log ------------------------------------------


def test_fault_share_answers_that_share_with_the_listed_statuses_in_turn(
    server, archive
):
    datastore_id, image_set_ids = archive
    client = make_client(server.url, attempts=1)
    config = control(
        server.url,
        "config",
        {
            "faultShare": 0.5,
            "faultStatuses": [500, 503, 429],
            "faultOperations": ["GetImageSet"],
        },
    )
    assert (config["faultShare"], config["faultStatuses"]) == (0.5, [500, 503, 429])
    assert config["faultOperations"] == ["GetImageSet"]

    answers = []
    for _ in range(12):
        try:
            client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[0])
        except ClientError as error:
            answers.append(error_of(error))
        else:
            answers.append(200)
    client.get_image_set_metadata(datastoreId=datastore_id, imageSetId=image_set_ids[0])

    faults = [
        ("InternalServerException", "Internal server error", 500),
        ("ServiceUnavailableException", "Service unavailable", 503),
        ("ThrottlingException", "Rate exceeded", 429),
    ]
    assert answers == [answer for fault in faults * 2 for answer in (200, fault)]
    assert [call["status"] for call in emulator_calls(server.url)] == [
        200,
        500,
        200,
        503,
        200,
        429,
    ] * 2 + [200], "faults are logged; other operations pass"


def test_the_call_log_records_every_sdk_attempt_of_one_call_under_its_invocation_id(
    server, archive
):
    datastore_id, image_set_ids = archive
    client = make_client(server.url, attempts=3)
    with (
        emulator_config(server.url, faultShare=1, faultStatuses=[503]),
        pytest.raises(ClientError) as excinfo,
    ):
        client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[0])
    assert error_of(excinfo.value)[2] == 503
    client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[0])
    with pytest.raises(ClientError):
        client.get_image_set(datastoreId=datastore_id, imageSetId="0" * 32)

    calls = emulator_calls(server.url)
    assert [
        (call["status"], call["attempt"], call["maxAttempts"]) for call in calls
    ] == [(503, 1, 3), (503, 2, 3), (503, 3, 3), (200, 1, 3), (404, 1, 3)]
    invocations = [call["invocationId"] for call in calls]
    assert len(set(invocations[:3])) == 1, "one call, one invocation ID"
    assert len(set(invocations)) == 3
    assert all(call["inFlight"] is None for call in calls), "updates only"


# -- inFlight: updates of one image set under way at once ------------------------------------


def test_in_flight_counts_an_update_sent_before_the_last_one_settled(server, archive):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[8]
    client = make_client(server.url)
    with emulator_config(server.url, updateDelaySeconds=3600):
        update_patient_name(client, datastore_id, image_set_id, "1", "FIRST^UPDATE")
        with pytest.raises(ClientError) as excinfo:
            update_patient_name(client, datastore_id, image_set_id, "2", "TOO^SOON")
    assert error_of(excinfo.value)[0] == "ConflictException"
    updates = emulator_calls(server.url, operation="UpdateImageSetMetadata")
    assert [(call["status"], call["inFlight"]) for call in updates] == [
        (200, 1),
        (409, 2),
    ]


def test_in_flight_counts_updates_of_one_image_set_served_at_the_same_time(
    server, archive
):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[9]
    answers: list[int] = []

    def send(name: str) -> None:
        try:
            update_patient_name(
                make_client(server.url), datastore_id, image_set_id, "1", name
            )
            answers.append(200)
        except ClientError as error:
            answers.append(error_of(error)[2])

    # Each request waits 0.5 s in its own server thread: the two are served together.
    with emulator_config(server.url, latencySeconds=0.5):
        senders = [
            threading.Thread(target=send, args=(f"AT^ONCE{number}",))
            for number in range(2)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=10)
    updates = emulator_calls(server.url, operation="UpdateImageSetMetadata")
    assert sorted(call["inFlight"] for call in updates) == [1, 2]
    assert (
        sorted(answers) == sorted(call["status"] for call in updates) == [200, 404]
    ), "the service itself lets one of them through"


# -- hold-next-update-locked -------------------------------------------------------------------


def poll(client, datastore_id: str, image_set_id: str) -> tuple[str, str]:
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    return properties["imageSetState"], properties["imageSetWorkflowStatus"]


def test_hold_locked_keeps_the_next_update_locked_for_that_many_polls(server, archive):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[10]
    client = make_client(server.url)
    assert hold_next_update_locked(server.url, image_set_id, 3) == {
        "imageSetId": image_set_id,
        "lockedPolls": 3,
    }
    assert poll(client, datastore_id, image_set_id) == ("ACTIVE", "CREATED"), (
        "nothing is held before the update"
    )

    update_patient_name(client, datastore_id, image_set_id, "1", "HELD^THREE")
    seen = [poll(client, datastore_id, image_set_id) for _ in range(5)]

    assert seen == [("LOCKED", "UPDATING")] * 3 + [("ACTIVE", "UPDATED")] * 2
    update_patient_name(client, datastore_id, image_set_id, "2", "NOT^HELD")
    assert poll(client, datastore_id, image_set_id) == ("ACTIVE", "UPDATED"), (
        "the knob holds one update"
    )


def test_hold_locked_without_a_count_keeps_the_image_set_locked_for_ever(
    server, archive
):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[11]
    client = make_client(server.url)
    hold_next_update_locked(server.url, image_set_id, None)
    update_patient_name(client, datastore_id, image_set_id, "1", "HELD^FOR^EVER")

    assert {poll(client, datastore_id, image_set_id) for _ in range(20)} == {
        ("LOCKED", "UPDATING")
    }
    with pytest.raises(ClientError) as excinfo:
        update_patient_name(client, datastore_id, image_set_id, "2", "REFUSED")
    assert error_of(excinfo.value)[0] == "ConflictException"


# -- lose-next-update-response -----------------------------------------------------------------


def test_a_lost_update_response_times_out_the_client_yet_the_update_is_applied(
    server, archive
):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[0]
    reader = make_client(server.url)
    assert lose_next_update_response(server.url, image_set_id, 2) == {
        "imageSetId": image_set_id,
        "holdSeconds": 2.0,
    }
    impatient = make_client(server.url, attempts=1, read_timeout=1)

    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        update_patient_name(impatient, datastore_id, image_set_id, "1", "LOST^RESPONSE")
    assert time.monotonic() - started < 1.9, "the client gave up before the hold ended"

    properties = reader.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert properties["versionId"] == "2"
    assert properties["imageSetState"] == "ACTIVE"
    assert properties["imageSetWorkflowStatus"] == "UPDATED"
    [call] = emulator_calls(
        server.url, operation="UpdateImageSetMetadata", image_set_id=image_set_id
    )
    assert call["status"] == 200

    # The knob fires once: the next update is answered at once.
    started = time.monotonic()
    update_patient_name(impatient, datastore_id, image_set_id, "2", "ANSWERED^NOW")
    assert time.monotonic() - started < 1


def test_a_retry_after_a_lost_update_response_gets_the_stale_version_error(
    server, archive
):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[1]
    lose_next_update_response(server.url, image_set_id, 2)
    retrying = make_client(server.url, attempts=3, read_timeout=1)

    with pytest.raises(ClientError) as excinfo:
        update_patient_name(retrying, datastore_id, image_set_id, "1", "APPLIED^ONCE")

    assert error_of(excinfo.value) == (
        "ResourceNotFoundException",
        "Requested version(s) of ImageSet(s) is not the latest.",
        404,
    )
    assert excinfo.value.response["Error"]["Message"] == STALE_VERSION_MESSAGE
    assert excinfo.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    properties = make_client(server.url).get_image_set(
        datastoreId=datastore_id, imageSetId=image_set_id
    )
    assert properties["versionId"] == "2", "applied exactly once"
    assert [
        call["status"]
        for call in emulator_calls(
            server.url, operation="UpdateImageSetMetadata", image_set_id=image_set_id
        )
    ] == [200, 404]


def test_a_held_response_blocks_no_other_request_and_arrives_after_the_hold(
    server, archive
):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[2]
    lose_next_update_response(server.url, image_set_id, 2)
    patient = make_client(server.url, attempts=1, read_timeout=10)
    results: list[object] = []

    def update() -> None:
        try:
            results.append(
                update_patient_name(
                    patient, datastore_id, image_set_id, "1", "HELD^ANSWER"
                )
            )
        except Exception as error:  # reported by the assertion below
            results.append(error)

    started = time.monotonic()
    worker = threading.Thread(target=update)
    worker.start()
    wait_for_call(server.url, "UpdateImageSetMetadata", image_set_id)

    other = make_client(server.url)
    quick = time.monotonic()
    for other_id in image_set_ids[5:9]:
        other.get_image_set(datastoreId=datastore_id, imageSetId=other_id)
    assert time.monotonic() - quick < 1, "other requests are served during the hold"
    assert worker.is_alive(), "the update's response is still held"

    worker.join(timeout=10)
    [response] = results
    assert isinstance(response, dict), response
    assert response["latestVersionId"] == "2"
    assert time.monotonic() - started >= 2


def test_stopping_the_server_releases_a_held_response_at_once(tmp_path):
    server = EmulatorServer(str(tmp_path / "stop.sqlite3"), update_delay=0).start()
    try:
        datastore_id, [image_set_id] = seed_archive(
            server, 1, name="stop-while-held", random_seed=8
        )
        lose_next_update_response(server.url, image_set_id, 30)
        patient = make_client(server.url, attempts=1, read_timeout=60)
        worker = threading.Thread(
            target=_swallow,
            args=(update_patient_name, patient, datastore_id, image_set_id, "1", "X^Y"),
            daemon=True,
        )
        worker.start()
        wait_for_call(server.url, "UpdateImageSetMetadata", image_set_id)
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 5
    worker.join(timeout=10)
    assert not worker.is_alive()


def _swallow(function, *args) -> None:
    # The server went away under the call: whatever the client saw is fine here.
    with contextlib.suppress(Exception):
        function(*args)


# -- latencySeconds ----------------------------------------------------------------------------


def test_latency_delays_every_operation_but_not_the_knobs_and_calls_overlap(
    server, archive
):
    datastore_id, image_set_ids = archive
    client = make_client(server.url)
    with emulator_config(server.url, latencySeconds=0.5) as inside:
        assert inside["latencySeconds"] == 0.5
        started = time.monotonic()
        client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[0])
        assert time.monotonic() - started >= 0.5

        started = time.monotonic()
        control(server.url, "health")
        knob_seconds = time.monotonic() - started

        # Six calls at once: each waits in its own server thread, not behind the others.
        calls = [
            threading.Thread(
                target=make_client(server.url).get_image_set,
                kwargs={"datastoreId": datastore_id, "imageSetId": image_set_id},
            )
            for image_set_id in image_set_ids[:6]
        ]
        started = time.monotonic()
        for call in calls:
            call.start()
        for call in calls:
            call.join(timeout=10)
        together = time.monotonic() - started
    assert knob_seconds < 0.5
    assert together < 6 * 0.5
    assert control(server.url, "config")["latencySeconds"] == 0


# -- the call log ------------------------------------------------------------------------------


def test_the_call_log_records_operations_image_sets_statuses_and_times_in_order(
    server, archive
):
    datastore_id, image_set_ids = archive
    client = make_client(server.url)
    clear_emulator_calls(server.url)
    missing = "0" * 32
    before = time.time()

    client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[3])
    client.search_image_sets(datastoreId=datastore_id)
    with pytest.raises(ClientError):
        client.get_image_set(datastoreId=datastore_id, imageSetId=missing)
    client.get_image_set_metadata(datastoreId=datastore_id, imageSetId=image_set_ids[3])
    control(server.url, "health")

    after = time.time()
    calls = emulator_calls(server.url)
    assert [
        (call["operation"], call["imageSetId"], call["status"]) for call in calls
    ] == [
        ("GetImageSet", image_set_ids[3], 200),
        ("SearchImageSets", None, 200),
        ("GetImageSet", missing, 404),
        ("GetImageSetMetadata", image_set_ids[3], 200),
    ], "knob requests are not logged"
    times = [call["at"] for call in calls]
    assert times == sorted(times)
    assert before <= times[0]
    assert times[-1] <= after
    assert all(isinstance(at, float) for at in times)

    assert [
        call["imageSetId"]
        for call in emulator_calls(server.url, operation="GetImageSet")
    ] == [image_set_ids[3], missing]
    assert emulator_calls(server.url, operation="UpdateImageSetMetadata") == []
    assert len(emulator_calls(server.url, image_set_id=image_set_ids[3])) == 2


def test_the_call_log_is_cleared_by_delete_or_by_post_clear(server, archive):
    datastore_id, image_set_ids = archive
    client = make_client(server.url)
    clear_emulator_calls(server.url)
    client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[3])
    client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[3])

    assert control(server.url, "calls", method="DELETE") == {"cleared": 2}
    assert emulator_calls(server.url) == []
    client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_ids[3])
    assert control(server.url, "calls/clear", {}) == {"cleared": 1}
    assert control(server.url, "calls") == {"calls": []}


# -- updateDelaySeconds and bad values -----------------------------------------------------------


def test_a_large_update_delay_keeps_an_updated_image_set_locked(server, archive):
    datastore_id, image_set_ids = archive
    image_set_id = image_set_ids[3]
    client = make_client(server.url)
    assert (
        control(server.url, "config", {"updateDelaySeconds": 3600})[
            "updateDelaySeconds"
        ]
        == 3600
    )

    update_patient_name(client, datastore_id, image_set_id, "1", "LOCKED^FOREVER")
    control(server.url, "config", {"updateDelaySeconds": 0})
    properties = client.get_image_set(datastoreId=datastore_id, imageSetId=image_set_id)
    assert (properties["imageSetState"], properties["imageSetWorkflowStatus"]) == (
        "LOCKED",
        "UPDATING",
    ), "the delay in force when the update started still holds"
    with pytest.raises(ClientError) as excinfo:
        update_patient_name(
            client, datastore_id, image_set_id, "2", "REFUSED^WHILE^LOCKED"
        )
    assert error_of(excinfo.value)[0] == "ConflictException"


@pytest.mark.parametrize(
    ("path", "payload", "reason"),
    [
        ("config", {"updateDelaySeconds": -1}, "updateDelaySeconds"),
        ("config", {"updateDelaySeconds": "soon"}, "updateDelaySeconds"),
        ("config", {"updateDelaySeconds": True}, "updateDelaySeconds"),
        ("config", {"updateDelaySeconds": None}, "updateDelaySeconds"),
        ("config", {"updateDelaySeconds": float("nan")}, "updateDelaySeconds"),
        ("config", {"updateDelaySeconds": 10**400}, "updateDelaySeconds"),
        ("config", {"throttling": "yes"}, "throttling"),
        ("config", {"throttleShare": 1.5}, "throttleShare"),
        ("config", {"throttleShare": -0.1}, "throttleShare"),
        ("config", {"throttleShare": "half"}, "throttleShare"),
        ("config", {"throttleOperations": "GetImageSet"}, "throttleOperations"),
        ("config", {"throttleOperations": [1]}, "throttleOperations"),
        ("config", {"throttleOperations": ["GetImageSets"]}, "GetImageSets"),
        ("config", {"throttleshare": 0.5}, "throttleshare"),
        ("config", {"latencySeconds": -0.05}, "latencySeconds"),
        ("config", {"latencySeconds": 6}, "latencySeconds"),
        ("config", {"latencySeconds": "50ms"}, "latencySeconds"),
        ("config", {"faultShare": 1.5}, "faultShare"),
        ("config", {"faultStatuses": [404]}, "faultStatuses"),
        ("config", {"faultStatuses": []}, "faultStatuses"),
        ("config", {"faultStatuses": [True]}, "faultStatuses"),
        ("config", {"faultStatuses": 500}, "faultStatuses"),
        ("config", {"faultOperations": ["GetImageSets"]}, "GetImageSets"),
        ("config", [0.5], "JSON object"),
        (
            "image-sets/" + "a" * 32 + "/hold-next-update-locked",
            {"lockedPolls": -1},
            "lockedPolls",
        ),
        (
            "image-sets/" + "a" * 32 + "/hold-next-update-locked",
            {"lockedPolls": 1.5},
            "lockedPolls",
        ),
        (
            "image-sets/" + "a" * 32 + "/hold-next-update-locked",
            {"lockedPolls": True},
            "lockedPolls",
        ),
        (
            "image-sets/" + "a" * 32 + "/lose-next-update-response",
            {"holdSeconds": 0},
            "holdSeconds",
        ),
        (
            "image-sets/" + "a" * 32 + "/lose-next-update-response",
            {"holdSeconds": 31},
            "holdSeconds",
        ),
        (
            "image-sets/" + "a" * 32 + "/lose-next-update-response",
            {"holdSeconds": "2"},
            "holdSeconds",
        ),
        ("image-sets/" + "a" * 32 + "/fail-next-update", {"message": 7}, "message"),
    ],
)
def test_bad_knob_values_are_a_400_with_the_reason_and_change_nothing(
    server, path, payload, reason
):
    before = control(server.url, "config")
    status, answer = control_status(server.url, path, payload)
    assert status == 400
    assert reason in answer["message"]
    assert control(server.url, "config") == before


def test_a_config_change_with_one_bad_value_applies_none_of_them(server):
    status, _ = control_status(
        server.url, "config", {"updateDelaySeconds": 5, "throttleShare": 2}
    )
    assert status == 400
    assert control(server.url, "config")["updateDelaySeconds"] == 0
