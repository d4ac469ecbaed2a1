import copy
import dataclasses
import html
import re

import pytest

from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.accounts.services import set_role
from apps.emulator.seed import generate_image_sets
from apps.healthimaging.gateway import get_gateway
from tests.support.emulator import stable_id

SCRIPT_NAME = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def crafted_archive(live_emulator):
    """A data store of three image sets with awkward metadata, read-only:

    0: a patient name that is markup, a sequence and a private tag at study level;
    1: no patient name, no study date; 2: as generated.
    """
    datastore_id = stable_id("imagesets-crafted", 5)
    live_emulator.store.create_datastore(
        name="crafted",
        client_token="imagesets-crafted-5",
        status="ACTIVE",
        datastore_id=datastore_id,
    )
    generated = list(generate_image_sets(3, datastore_id=datastore_id, random_seed=5))
    markup = copy.deepcopy(generated[0].metadata)
    markup["Patient"]["DICOM"]["PatientName"] = SCRIPT_NAME
    markup["Study"]["DICOM"]["ProcedureCodeSequence"] = [
        {"CodeValue": "CTHD", "CodeMeaning": "<i>CT head</i>"}
    ]
    markup["Study"]["DICOM"]["00291010"] = "private value"
    markup["Study"]["DICOMVRs"] = {"00291010": "LO"}
    bare = copy.deepcopy(generated[1].metadata)
    del bare["Patient"]["DICOM"]["PatientName"]
    del bare["Study"]["DICOM"]["StudyDate"]
    image_sets = [
        dataclasses.replace(generated[0], metadata=markup),
        dataclasses.replace(generated[1], metadata=bare),
        generated[2],
    ]
    live_emulator.store.add_seed_image_sets(datastore_id, image_sets)
    return datastore_id, [item.image_set_id for item in image_sets]


@pytest.fixture
def user(django_user_model):
    """Signed-in tests browse as an editor, the role clinical data staff have."""
    user = django_user_model.objects.create_user(username="ana")
    set_role(user, EDITOR)
    return user


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user(username="vera")
    set_role(user, VIEWER)
    return user


@pytest.fixture
def admin_user(django_user_model):
    user = django_user_model.objects.create_user(username="adam")
    set_role(user, ADMIN)
    return user


@pytest.fixture
def signed_in(client, user):
    """The test client, signed in."""
    client.force_login(user)
    return client


@pytest.fixture
def search_calls(healthimaging, monkeypatch):
    """Every SearchImageSets call the portal makes: the gateway's arguments and `result`."""
    gateway = get_gateway()
    original = gateway.search_image_sets
    calls = []

    def spy(datastore_id, **kwargs):
        call = {"datastore_id": datastore_id, **kwargs}
        calls.append(call)
        call["result"] = original(datastore_id, **kwargs)
        return call["result"]

    monkeypatch.setattr(gateway, "search_image_sets", spy)
    return calls


def links(body: str, text: str) -> list[str]:
    """The hrefs of the links whose text is exactly `text`, unescaped."""
    pattern = re.compile(
        r'<a\b[^>]*href="([^"]*)"[^>]*>\s*' + re.escape(text) + r"\s*</a>"
    )
    return [html.unescape(href) for href in pattern.findall(body)]


def result_ids(body: str) -> list[str]:
    return re.findall(r'data-image-set-id="([0-9a-z]{32})"', body)
