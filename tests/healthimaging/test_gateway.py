"""The gateway against the live emulator, and its error mapping with botocore's Stubber."""

import datetime
import socket

import pytest
from botocore.stub import Stubber

from apps.emulator.server import EmulatorServer
from apps.healthimaging import errors
from apps.healthimaging.gateway import (
    HealthImagingGateway,
    build_client,
    get_gateway,
    get_probe_gateway,
)
from apps.healthimaging.types import ImageSetSummary
from tests.support.emulator import control, fresh_image_sets, make_client


@pytest.fixture
def gateway(healthimaging) -> HealthImagingGateway:
    return get_gateway()


def test_get_gateway_is_built_once_from_settings(healthimaging):
    assert get_gateway() is get_gateway()
    assert get_gateway().client.meta.endpoint_url == healthimaging.url


def test_build_client_turns_off_the_runtime_host_prefix_only_for_an_endpoint_override():
    emulator = build_client(
        endpoint_url="http://127.0.0.1:9", region="eu-west-1", timeout_seconds=4
    )
    aws = build_client(endpoint_url=None, region="eu-west-1", timeout_seconds=4)
    assert emulator.meta.config.inject_host_prefix is False
    assert aws.meta.config.inject_host_prefix is True
    assert aws.meta.endpoint_url == "https://medical-imaging.eu-west-1.amazonaws.com"
    for client in (emulator, aws):
        assert (
            client.meta.config.connect_timeout,
            client.meta.config.read_timeout,
        ) == (4, 4)
        assert client.meta.region_name == "eu-west-1"


@pytest.mark.reliability  # R13: its figure belongs with the suite's
def test_the_production_client_pins_standard_retries_with_3_attempts(
    healthimaging, figure
):
    """Stated, not left to botocore's default, which went from legacy (5 attempts) to
    standard (3) between 1.43 and 1.44: a dependency bump can not change the retry volume.
    The health probe makes one attempt, so it answers quickly."""
    retries = get_gateway().client.meta.config.retries
    aws = build_client(endpoint_url=None, region="eu-west-1", timeout_seconds=4)
    figure("R13", "production client retries", retries)
    assert retries == {"mode": "standard", "total_max_attempts": 3}
    assert aws.meta.config.retries == retries
    assert get_probe_gateway().client.meta.config.retries == {
        "mode": "standard",
        "total_max_attempts": 1,
    }


def test_list_datastores_follows_every_page(tmp_path):
    server = EmulatorServer(str(tmp_path / "many.sqlite3"), update_delay=0).start()
    try:
        client = make_client(server.url)
        created = {
            client.create_datastore(datastoreName=f"store-{n}")["datastoreId"]
            for n in range(57)
        }
        gateway = HealthImagingGateway(
            build_client(endpoint_url=server.url, region="us-east-1", timeout_seconds=5)
        )
        listed = gateway.list_datastores()
    finally:
        server.stop()
    assert {store.datastore_id for store in listed} == created
    assert all(
        store.status == "ACTIVE" and store.name.startswith("store-") for store in listed
    )
    assert all(isinstance(store.created_at, datetime.datetime) for store in listed)


def test_search_image_sets_returns_typed_summaries_and_one_page_per_call(
    gateway, browse_archive
):
    datastore_id, image_set_ids = browse_archive
    page = gateway.search_image_sets(datastore_id, max_results=10)
    assert len(page.items) == 10
    assert page.next_token
    first = page.items[0]
    assert isinstance(first, ImageSetSummary)
    assert first.image_set_id in image_set_ids
    assert first.tags.patient_id
    assert "^" in first.tags.patient_name
    assert isinstance(first.tags.instance_count, int)
    assert first.updated_at.tzinfo is not None
    following = gateway.search_image_sets(
        datastore_id, max_results=10, next_token=page.next_token
    )
    assert not {i.image_set_id for i in following.items} & {
        i.image_set_id for i in page.items
    }


def test_get_image_set_and_metadata_come_back_typed_and_unzipped(
    gateway, browse_archive
):
    datastore_id, image_set_ids = browse_archive
    image_set = gateway.get_image_set(datastore_id, image_set_ids[0])
    assert (image_set.version, image_set.state, image_set.is_locked) == (
        1,
        "ACTIVE",
        False,
    )
    assert image_set.arn.endswith(f"/imageset/{image_set_ids[0]}")
    assert image_set.forced is False
    metadata = gateway.get_image_set_metadata(datastore_id, image_set_ids[0])
    assert metadata["ImageSetID"] == image_set_ids[0]
    assert metadata["Patient"]["DICOM"]["PatientID"]
    older = gateway.get_image_set_metadata(datastore_id, image_set_ids[0], version=1)
    assert older == metadata


def test_unknown_image_sets_and_stores_are_not_found(gateway, browse_archive):
    datastore_id, _ = browse_archive
    with pytest.raises(errors.NotFound):
        gateway.get_image_set(datastore_id, "f" * 32)
    with pytest.raises(errors.NotFound):
        gateway.get_datastore("e" * 32)


def test_an_unreachable_service_is_unavailable(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.HEALTHIMAGING_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    settings.HEALTHIMAGING_TIMEOUT_SECONDS = 1
    get_gateway.cache_clear()
    with pytest.raises(errors.Unavailable) as excinfo:
        get_gateway().list_datastores()
    assert "can not be reached" in excinfo.value.user_message


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ResourceNotFoundException", 404, errors.NotFound),
        ("ConflictException", 409, errors.Conflict),
        ("ValidationException", 400, errors.InvalidRequest),
        ("AccessDeniedException", 403, errors.AccessDenied),
        ("ThrottlingException", 429, errors.Throttled),
        ("ServiceQuotaExceededException", 402, errors.QuotaExceeded),
        ("InternalServerException", 500, errors.Unavailable),
        ("SomethingNewException", 503, errors.Unavailable),
        ("SomethingNewException", 400, errors.HealthImagingError),
    ],
)
def test_service_errors_are_translated_into_the_small_family(code, status, expected):
    client = build_client(
        endpoint_url="http://127.0.0.1:9", region="us-east-1", timeout_seconds=1
    )
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_datastore",
            service_error_code=code,
            service_message="details",
            http_status_code=status,
        )
        with pytest.raises(expected) as excinfo:
            HealthImagingGateway(client).get_datastore("a" * 32)
    assert type(excinfo.value) is expected
    assert excinfo.value.code == code
    assert excinfo.value.detail == "details"
    assert excinfo.value.user_message


def _fresh_image_set(server, name):
    datastore_id, image_set_ids = fresh_image_sets(server, 1, name=name)
    return datastore_id, image_set_ids[0]


def test_update_image_set_metadata_starts_a_version_and_tells_stale_from_locked(
    gateway, healthimaging
):
    datastore_id, image_set_id = _fresh_image_set(healthimaging, "gateway-updates")
    updates = {
        "updatableAttributes": {
            "SchemaVersion": "1.1",
            "Patient": {"DICOM": {"PatientName": "ÉLODIE^MÜLLER=エロディ"}},
        }
    }

    accepted = gateway.update_image_set_metadata(
        datastore_id, image_set_id, latest_version=1, dicom_updates=updates
    )

    assert accepted.version == 2
    document = gateway.get_image_set_metadata(datastore_id, image_set_id)
    assert document["Patient"]["DICOM"]["PatientName"] == "ÉLODIE^MÜLLER=エロディ"
    with pytest.raises(errors.StaleVersion) as stale:
        gateway.update_image_set_metadata(
            datastore_id, image_set_id, latest_version=1, dicom_updates=updates
        )
    assert isinstance(stale.value, errors.Conflict)
    assert [
        entry.version
        for entry in gateway.list_image_set_versions(datastore_id, image_set_id)
    ] == [2, 1]


def test_a_locked_image_set_refuses_an_update_as_locked(gateway, healthimaging):
    datastore_id, image_set_id = _fresh_image_set(healthimaging, "gateway-locked")
    control(healthimaging.url, "config", {"updateDelaySeconds": 30})
    try:
        gateway.update_image_set_metadata(
            datastore_id,
            image_set_id,
            latest_version=1,
            dicom_updates={
                "removableAttributes": {
                    "SchemaVersion": "1.1",
                    "Study": {"DICOM": {"StudyDescription": ""}},
                }
            },
        )
        with pytest.raises(errors.Locked):
            gateway.update_image_set_metadata(
                datastore_id, image_set_id, latest_version=2, revert_to_version=1
            )
    finally:
        control(healthimaging.url, "config", {"updateDelaySeconds": 0})


def test_update_image_set_metadata_takes_updates_or_a_revert_never_both(gateway):
    with pytest.raises(ValueError, match="either"):
        gateway.update_image_set_metadata("a" * 32, "b" * 32, latest_version=1)
    with pytest.raises(ValueError, match="either"):
        gateway.update_image_set_metadata(
            "a" * 32,
            "b" * 32,
            latest_version=1,
            dicom_updates={},
            revert_to_version=1,
        )
