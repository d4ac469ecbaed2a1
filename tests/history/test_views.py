"""The history pages through Django's test client, against the live emulator."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from tests.support.emulator import clear_emulator_calls, control, emulator_calls

pytestmark = pytest.mark.django_db
Status = MetadataEdit.Status


def rename(image_set, name: str, *, latest_version: int) -> None:
    get_gateway().update_image_set_metadata(
        *image_set,
        latest_version=latest_version,
        dicom_updates={
            "updatableAttributes": {
                "SchemaVersion": "1.1",
                "Patient": {"DICOM": {"PatientName": name}},
            }
        },
    )


def patient_name(image_set, version: int) -> str:
    document = get_gateway().get_image_set_metadata(*image_set, version=version)
    return document["Patient"]["DICOM"]["PatientName"]


@pytest.fixture
def four_versions(image_set, editor, healthimaging):
    """v2 made by the portal (an editor's edit), v3 failed, v4 made outside the portal."""
    rename(image_set, "DOE^JANE", latest_version=1)
    MetadataEdit.objects.create(
        requested_by=editor,
        datastore_id=image_set[0],
        image_set_id=image_set[1],
        base_version=1,
        changes=[
            {
                "level": "Patient",
                "attribute": "PatientName",
                "old": patient_name(image_set, 1),
                "new": "DOE^JANE",
            }
        ],
        reason="Misspelled at registration",
        status=Status.SUCCEEDED,
        accepted_version=2,
        finished_at=timezone.now(),
    )
    control(
        healthimaging.url,
        f"image-sets/{image_set[1]}/fail-next-update",
        {"message": "INVALID_REQUEST: injected for the test"},
    )
    rename(image_set, "FAILS^HERE", latest_version=2)
    rename(image_set, "SOMEONE^ELSE", latest_version=3)
    return image_set


def history_url(image_set) -> str:
    return reverse("history:version-list", args=image_set)


def compare_url(image_set) -> str:
    return reverse("history:compare", args=image_set)


def revert_url(image_set, version: int) -> str:
    return reverse("history:revert", args=[*image_set, version])


def versions_listed(body: str) -> list[int]:
    return [int(number) for number in re.findall(r'data-version="(\d+)"', body)]


def revert_links(body: str) -> list[str]:
    return re.findall(r'data-revert href="([^"]+)"', body)


def test_history_lists_every_version_newest_first_with_who_and_why(
    client, viewer, four_versions
):
    client.force_login(viewer)

    response = client.get(history_url(four_versions))

    assert response.status_code == 200
    body = response.content.decode()
    assert versions_listed(body) == [4, 3, 2, 1]
    assert "UPDATE_FAILED" in body
    assert "INVALID_REQUEST: injected for the test" in body
    assert body.count("data-made-by") == 1  # v2 only; v3 and v4 were not the portal's
    assert ">an-editor</strong>" in body
    assert "Misspelled at registration" in body
    edit = MetadataEdit.objects.get()
    # A viewer may not open edits: the edit is named, not linked.
    assert reverse("edits:edit-detail", args=[edit.pk]) not in body
    assert "?from=3&amp;to=4" in body  # compare with previous
    assert reverse("history:version-detail", args=[*four_versions, 1]) in body
    assert revert_links(body) == []  # a viewer may not revert


def test_an_admin_may_revert_to_earlier_versions_that_did_not_fail(
    client, admin, four_versions
):
    client.force_login(admin)

    body = client.get(history_url(four_versions)).content.decode()

    assert revert_links(body) == [
        revert_url(four_versions, 2),
        revert_url(four_versions, 1),
    ]


def test_the_image_set_page_links_to_history_and_shows_edit_only_to_editors(
    client, viewer, editor, image_set
):
    detail = reverse("imagesets:image-set-detail", args=image_set)
    edit_form = reverse("edits:edit-form", args=image_set)
    client.force_login(viewer)
    body = client.get(detail).content.decode()
    assert history_url(image_set) in body
    assert edit_form not in body

    client.force_login(editor)
    assert edit_form in client.get(detail).content.decode()


def test_compare_shows_what_changed_and_hides_unchanged_attributes(
    client, viewer, four_versions
):
    client.force_login(viewer)
    old_name = patient_name(four_versions, 1)

    body = client.get(compare_url(four_versions), {"from": 1, "to": 2}).content.decode()

    assert "Version 1 → version 2" in body
    assert (
        '<tr class="diff-row diff-row--changed" data-change="changed" data-attribute="PatientName">'
        in body
    )
    assert old_name in body
    assert "DOE^JANE" in body
    assert 'data-change="unchanged"' not in body
    assert "unchanged attributes hidden" in body or "unchanged attribute hidden" in body
    assert "1 changed, 0 added, 0 removed" in body
    event = AuditEvent.objects.get(action=AuditEvent.Action.METADATA_VIEWED)
    assert (event.version_from, event.version_to) == (1, 2)

    shown = client.get(
        compare_url(four_versions), {"from": 1, "to": 2, "all": "1"}
    ).content.decode()
    assert 'data-change="unchanged"' in shown
    assert 'data-attribute="PatientID"' in shown


def test_compare_defaults_to_the_latest_version_and_the_one_before(
    client, viewer, four_versions
):
    client.force_login(viewer)

    body = client.get(compare_url(four_versions)).content.decode()

    assert "Version 3 → version 4" in body
    assert "SOMEONE^ELSE" in body
    assert '<option value="3" selected>' in body
    assert '<option value="4" selected>' in body


def test_a_failed_version_compares_equal_to_the_one_before(
    client, viewer, four_versions
):
    client.force_login(viewer)

    body = client.get(compare_url(four_versions), {"from": 2, "to": 3}).content.decode()

    assert "No differences" in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": 1, "to": 9}, "There is no version 9"),
        ({"from": 2, "to": 2}, "Choose two different versions"),
        ({"from": "two", "to": 1}, "whole numbers"),
        ({"from": 0, "to": 1}, "whole numbers"),
    ],
)
def test_invalid_versions_get_a_message_beside_the_form(
    client, viewer, four_versions, query, message
):
    client.force_login(viewer)

    response = client.get(compare_url(four_versions), query)

    assert response.status_code == 200
    body = response.content.decode()
    assert "data-problem" in body
    assert message in body
    assert "<select" in body  # the form stays, to pick again


def test_compare_as_an_htmx_fragment(client, viewer, four_versions):
    client.force_login(viewer)

    body = client.get(
        compare_url(four_versions), {"from": 1, "to": 4}, headers={"HX-Request": "true"}
    ).content.decode()

    assert body.lstrip().startswith('<div id="comparison">')
    assert "SOMEONE^ELSE" in body


def test_a_version_opens_read_only_with_its_own_metadata(client, viewer, four_versions):
    client.force_login(viewer)
    old_name = patient_name(four_versions, 1)

    response = client.get(reverse("history:version-detail", args=[*four_versions, 1]))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Version 1 of image set" in body
    assert old_name in body
    assert "SOMEONE^ELSE" not in body
    assert "the latest is version 4" in body
    assert reverse("edits:edit-form", args=four_versions) not in body  # read-only
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.METADATA_VIEWED, version_to=1
    ).exists()

    portal_made = client.get(
        reverse("history:version-detail", args=[*four_versions, 2])
    ).content.decode()
    assert "Misspelled at registration" in portal_made


def test_a_version_that_does_not_exist_is_a_404_with_a_message(
    client, viewer, image_set
):
    client.force_login(viewer)

    response = client.get(reverse("history:version-detail", args=[*image_set, 7]))

    assert response.status_code == 404
    assert "there is no version 7" in response.content.decode()


@pytest.mark.parametrize("role", ["viewer", "editor"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_only_admins_may_revert_even_posting_directly(
    request, client, image_set, healthimaging, scheduled, role, method
):
    rename(image_set, "DOE^JANE", latest_version=1)
    client.force_login(request.getfixturevalue(role))
    clear_emulator_calls(healthimaging.url)

    response = getattr(client, method)(
        revert_url(image_set, 1), {"reason": "Undo", "base_version": 2}
    )

    assert response.status_code == 403
    assert "revert image sets" in response.content.decode()
    assert emulator_calls(healthimaging.url) == []
    assert not MetadataEdit.objects.exists()
    assert scheduled == []


def test_history_pages_need_a_sign_in(client, image_set, healthimaging):
    clear_emulator_calls(healthimaging.url)
    for url in (
        history_url(image_set),
        compare_url(image_set),
        reverse("history:version-detail", args=[*image_set, 1]),
        revert_url(image_set, 1),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert emulator_calls(healthimaging.url) == []


def test_the_revert_confirmation_shows_what_will_change_and_asks_a_reason(
    client, admin, image_set
):
    old_name = patient_name(image_set, 1)
    rename(image_set, "DOE^JANE", latest_version=1)
    client.force_login(admin)

    body = client.get(revert_url(image_set, 1)).content.decode()

    assert "Revert to version 1" in body
    assert 'name="reason"' in body
    assert 'name="base_version" value="2"' in body
    assert 'data-attribute="PatientName"' in body
    assert old_name in body
    assert "DOE^JANE" in body


def test_an_admin_queues_a_revert_and_sees_its_status(
    client, admin, image_set, scheduled, django_capture_on_commit_callbacks
):
    rename(image_set, "DOE^JANE", latest_version=1)
    client.force_login(admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            revert_url(image_set, 1),
            {"reason": "The rename was a mistake", "base_version": "2"},
        )

    detail = reverse("imagesets:image-set-detail", args=image_set)
    assert response.status_code == 302
    assert response["Location"] == detail
    edit = MetadataEdit.objects.get()
    assert (edit.status, edit.base_version, edit.revert_to_version) == (
        Status.QUEUED,
        2,
        1,
    )
    assert edit.requested_by == admin
    assert edit.reason == "The rename was a mistake"
    assert scheduled == [str(edit.pk)]
    queued = AuditEvent.objects.get(action=AuditEvent.Action.REVERT_QUEUED)
    assert (queued.actor, queued.edit_id, queued.reason) == (
        admin,
        edit.pk,
        "The rename was a mistake",
    )

    page = client.get(detail).content.decode()
    assert "Your revert" in page
    assert "Revert to version 1" in page
    history = client.get(history_url(image_set)).content.decode()
    assert "A revert to version 1" in history
    assert revert_links(history) == []  # not while a job is in progress
    mine = client.get(reverse("edits:edit-list")).content.decode()
    assert "Revert to version 1" in mine
    shown = client.get(reverse("edits:edit-detail", args=[edit.pk])).content.decode()
    assert "data-revert-to" in shown
    assert "DICOMUpdates payload" not in shown


def test_a_revert_needs_a_reason(client, admin, image_set, scheduled):
    rename(image_set, "DOE^JANE", latest_version=1)
    client.force_login(admin)

    response = client.post(
        revert_url(image_set, 1), {"reason": "  ", "base_version": "2"}
    )

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not MetadataEdit.objects.exists()


def test_a_revert_the_image_set_moved_past_is_confirmed_again(
    client, admin, image_set, scheduled
):
    rename(image_set, "DOE^JANE", latest_version=1)
    rename(image_set, "DOE^JOAN", latest_version=2)
    client.force_login(admin)

    response = client.post(
        revert_url(image_set, 1), {"reason": "Undo", "base_version": "2"}
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "changed since you opened this page" in body
    assert 'name="base_version" value="3"' in body
    assert "Undo" in body  # what was typed stays
    assert not MetadataEdit.objects.exists()


@pytest.mark.parametrize(
    ("version", "message"),
    [(4, "is the latest version"), (3, "failed version"), (9, "has no version 9")],
)
def test_versions_that_can_not_be_restored_are_refused(
    client, admin, four_versions, scheduled, version, message
):
    client.force_login(admin)

    response = client.post(
        revert_url(four_versions, version), {"reason": "Undo", "base_version": "4"}
    )

    assert response.status_code == 409
    assert message in response.content.decode()
    assert not MetadataEdit.objects.filter(revert_to_version__isnull=False).exists()
