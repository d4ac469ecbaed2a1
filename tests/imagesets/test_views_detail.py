import dataclasses
import gzip
import json
import re

import pytest
from django.urls import reverse

from apps.healthimaging.gateway import get_gateway
from tests.imagesets.conftest import SCRIPT_NAME, links
from tests.support.emulator import make_client

pytestmark = pytest.mark.django_db


def detail_url(datastore_id, image_set_id):
    return reverse("imagesets:image-set-detail", args=[datastore_id, image_set_id])


def metadata_url(datastore_id, image_set_id):
    return reverse("imagesets:image-set-metadata", args=[datastore_id, image_set_id])


def direct_metadata(url, datastore_id, image_set_id):
    response = make_client(url).get_image_set_metadata(
        datastoreId=datastore_id, imageSetId=image_set_id
    )
    return json.loads(gzip.decompress(response["imageSetMetadataBlob"].read()))


def test_detail_urls_are_the_contract():
    a, b = "a" * 32, "b" * 32
    assert detail_url(a, b) == f"/datastores/{a}/image-sets/{b}/"
    assert metadata_url(a, b) == f"/datastores/{a}/image-sets/{b}/metadata.json"


@pytest.mark.parametrize(
    "name", ["imagesets:image-set-detail", "imagesets:image-set-metadata"]
)
def test_image_set_pages_redirect_anonymous_users_to_login(
    client, browse_archive, name
):
    datastore_id, ids = browse_archive
    url = reverse(name, args=[datastore_id, ids[0]])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_image_set_detail_shows_its_properties(
    signed_in, healthimaging, browse_archive
):
    datastore_id, ids = browse_archive
    image_set = make_client(healthimaging.url).get_image_set(
        datastoreId=datastore_id, imageSetId=ids[0]
    )

    response = signed_in.get(detail_url(datastore_id, ids[0]))

    assert response.status_code == 200
    assert response.templates[0].name == "imagesets/image_set_detail.html"
    body = response.content.decode()
    for label in (
        "State",
        "Workflow status",
        "Version",
        "ARN",
        "Created",
        "Updated",
        "Primary",
        "Forced",
    ):
        assert f'<th scope="row">{label}</th>' in body
    assert image_set["imageSetArn"] in body
    assert image_set["imageSetState"] in body
    assert image_set["imageSetWorkflowStatus"] in body
    assert "This image set is locked" not in body
    assert "HX-Request" in response["Vary"]


def test_image_set_detail_has_breadcrumbs(signed_in, healthimaging, browse_archive):
    datastore_id, ids = browse_archive

    body = signed_in.get(detail_url(datastore_id, ids[0])).content.decode()

    crumbs = body.split('aria-label="Breadcrumb"')[1].split("</nav>")[0]
    assert re.findall(r">([^<>]+)</a>", crumbs) == ["Data stores", "browse", ids[0]]


def test_image_set_detail_shows_the_metadata_as_a_tree(
    signed_in, healthimaging, browse_archive
):
    datastore_id, ids = browse_archive
    document = direct_metadata(healthimaging.url, datastore_id, ids[0])
    series_uid, series = next(iter(document["Study"]["Series"].items()))
    sop_uid, instance = next(iter(series["Instances"].items()))

    body = signed_in.get(detail_url(datastore_id, ids[0])).content.decode()

    summaries = re.findall(
        r"<details class=\"level level--(\w+)\"[^>]*?( open)?>", body
    )
    kinds = [kind for kind, _ in summaries]
    assert kinds[:3] == ["patient", "study", "series"]
    assert kinds.count("series") == len(document["Study"]["Series"])
    assert kinds.count("instance") == sum(
        len(s["Instances"]) for s in document["Study"]["Series"].values()
    )
    opened = {kind: bool(is_open) for kind, is_open in summaries}
    assert opened == {"patient": True, "study": True, "series": True, "instance": False}
    assert f'<code class="level__uid">{series_uid}</code>' in body
    assert f'<code class="level__uid">{sop_uid}</code>' in body
    assert f"Instance {instance['DICOM']['InstanceNumber']}</span>" in body
    assert (
        f"{series['DICOM']['Modality']} · Series {series['DICOM']['SeriesNumber']}"
        in body
    )
    patient_name = document["Patient"]["DICOM"]["PatientName"]
    assert f'<th scope="row">PatientName</th><td>{patient_name}</td>' in body
    assert "Image frames: " in body
    assert '<label for="attribute-filter">Filter attributes</label>' in body
    assert 'id="attribute-filter"' in body
    assert links(body, "Download JSON") == [metadata_url(datastore_id, ids[0])]
    assert "js/metadata-filter" in body


def test_image_set_detail_shows_sequences_private_tags_and_markup_as_text(
    signed_in, healthimaging, crafted_archive
):
    datastore_id, ids = crafted_archive

    body = signed_in.get(detail_url(datastore_id, ids[0])).content.decode()

    assert SCRIPT_NAME not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<i>CT head</i>" not in body
    assert "&lt;i&gt;CT head&lt;/i&gt;" in body
    sequence = body.split('<th scope="row">ProcedureCodeSequence</th>')[1].split(
        "</tr></tbody>"
    )[0]
    assert '<p class="sequence-item">Item 1</p>' in sequence
    assert '<th scope="row">CodeValue</th><td>CTHD</td>' in sequence
    assert (
        '<th scope="row">(0029,1010) <abbr class="vr" title="Value representation">LO</abbr></th><td>private value</td>'
        in body
    )


def test_image_set_detail_shows_a_missing_name_as_not_recorded(
    signed_in, healthimaging, crafted_archive
):
    datastore_id, ids = crafted_archive

    body = signed_in.get(detail_url(datastore_id, ids[1])).content.decode()

    subtitle = body.split('<p class="subtitle">')[1].split("</p>")[0]
    assert "not recorded" in subtitle


def test_image_set_detail_as_htmx_fragment_is_the_image_set_only(
    signed_in, healthimaging, browse_archive
):
    datastore_id, ids = browse_archive

    response = signed_in.get(
        detail_url(datastore_id, ids[0]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="image-set",
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="image-set"')
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_image_set_detail_as_history_restore_is_the_full_page(
    signed_in, healthimaging, browse_archive
):
    datastore_id, ids = browse_archive

    response = signed_in.get(
        detail_url(datastore_id, ids[0]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )

    body = response.content.decode()
    assert "<html" in body
    assert '<div id="image-set"' in body


def test_a_locked_image_set_shows_a_notice(
    signed_in, healthimaging, crafted_archive, monkeypatch
):
    datastore_id, ids = crafted_archive
    gateway = get_gateway()
    original = gateway.get_image_set

    def locked(*args, **kwargs):
        return dataclasses.replace(
            original(*args, **kwargs), state="LOCKED", workflow_status="UPDATING"
        )

    monkeypatch.setattr(gateway, "get_image_set", locked)

    body = signed_in.get(detail_url(datastore_id, ids[2])).content.decode()

    assert "This image set is locked" in body
    assert "UPDATING" in body


def test_metadata_download_is_the_pretty_printed_document(
    signed_in, healthimaging, browse_archive
):
    datastore_id, ids = browse_archive

    response = signed_in.get(metadata_url(datastore_id, ids[0]))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="{ids[0]}.json"'
    text = response.content.decode()
    assert text.startswith('{\n  "')
    assert json.loads(text) == direct_metadata(healthimaging.url, datastore_id, ids[0])


def test_metadata_download_keeps_markup_as_data(
    signed_in, healthimaging, crafted_archive
):
    datastore_id, ids = crafted_archive

    document = signed_in.get(metadata_url(datastore_id, ids[0])).json()

    assert document["Patient"]["DICOM"]["PatientName"] == SCRIPT_NAME
