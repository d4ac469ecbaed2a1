"""Edits and reverts through the API: the edit form's checks, the same services, the same
job, followed at the edit's URL to the end."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.edits.forms import FORCE_REFUSED
from apps.edits.models import MetadataEdit
from apps.healthimaging.gateway import get_gateway
from tests.support.edits import change_behind_the_portals_back, run_to_end

pytestmark = pytest.mark.django_db(transaction=True)
Status = MetadataEdit.Status

RENAME = {"level": "Patient", "attribute": "PatientName", "value": "DOE^JANE"}


def create_url(datastore_id, image_set_id):
    return reverse("api:edit-create", args=[datastore_id, image_set_id])


def queue(api, datastore_id, image_set_id, *changes, **fields):
    body = {"reason": "Misspelled at registration", "changes": list(changes), **fields}
    return api.post(create_url(datastore_id, image_set_id), body, format="json")


def follow(api, response):
    """Run the queued job to its end, then read it back at its URL, as a client polls."""
    run_to_end(MetadataEdit.objects.get(pk=response.json()["id"]))
    return api.get(response["Location"]).json()


def test_an_edit_is_queued_followed_to_the_end_and_its_value_is_in_the_metadata(
    api_as, image_sets, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    api = api_as("editor")

    response = queue(api, datastore_id, image_set_id, RENAME)

    assert response.status_code == 202
    queued = response.json()
    assert response["Location"] == queued["url"]
    assert queued["status"] == "queued"
    assert queued["is_active"] is True
    assert queued["kind"] == "edit"
    assert queued["base_version"] == 1
    assert queued["changes"][0]["new"] == "DOE^JANE"
    assert queued["dicom_updates"] == {
        "updatableAttributes": {
            "SchemaVersion": "1.1",
            "Patient": {"DICOM": {"PatientName": "DOE^JANE"}},
        }
    }
    assert scheduled == [queued["id"]]
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.EDIT_QUEUED, edit_id=queued["id"]
    ).exists()

    done = follow(api, response)

    assert done["status"] == "succeeded"
    assert done["is_active"] is False
    assert done["accepted_version"] == 2
    document = api.get(
        reverse("api:image-set-metadata", args=[datastore_id, image_set_id])
    ).json()
    assert document["Patient"]["DICOM"]["PatientName"] == "DOE^JANE"


def test_problems_with_changes_are_reported_at_their_index_in_the_forms_words(
    api_as, image_sets
):
    datastore_id, (image_set_id, *_) = image_sets
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_id)
    series_uid = next(iter(document["Study"]["Series"]))

    api = api_as("editor")

    # First what each row says on its own, as the advanced editor checks it.
    rows = queue(
        api,
        datastore_id,
        image_set_id,
        RENAME,
        {"level": "Series", "attribute": "SeriesDescription", "value": "x"},
        {
            "level": "Series",
            "series_uid": "1.2.3.999",
            "attribute": "Modality",
            "value": "MR",
        },
        {
            "level": "Instance",
            "series_uid": series_uid,
            "attribute": "SOPInstanceUID",
            "value": "1",
        },
        {"level": "Study", "attribute": "not a keyword!", "value": "x"},
    )
    # Then, once every row makes sense, the service's rules against the metadata.
    rules = queue(
        api,
        datastore_id,
        image_set_id,
        RENAME,
        {"level": "Study", "attribute": "PatientName", "value": "X"},
        {"level": "Patient", "attribute": "PatientBirthDate", "value": "1970-01-31"},
    )

    assert rows.status_code == rules.status_code == 400
    assert rows.json()["code"] == rules.json()["code"] == "invalid"
    changes = rows.json()["fields"]["changes"]
    assert changes[0] == {}
    assert changes[1] == {"series_uid": ["Choose a series."]}
    assert changes[2] == {"series_uid": ["This series is not in the image set."]}
    assert changes[3] == {"instance_uid": ["Choose an instance."]}
    assert "Enter a DICOM keyword" in changes[4]["attribute"][0]
    changes = rules.json()["fields"]["changes"]
    assert changes[0] == {}
    assert changes[1] == {
        "non_field_errors": [
            "PatientName is a Patient level attribute in this image set."
        ]
    }
    assert changes[2]["non_field_errors"][0].startswith("This change needs Force:")
    assert "Only an administrator can use Force." in changes[2]["non_field_errors"][0]
    assert MetadataEdit.objects.count() == 0


def test_the_edit_form_and_the_api_refuse_the_same_change_with_the_same_words(
    api_as, client, make_user, image_sets
):
    datastore_id, (image_set_id, *_) = image_sets
    client.force_login(make_user("editor", username="form-user"))
    row = {"level": "Study", "attribute": "PatientName", "value": "X"}
    posted = {
        "base_version": "1",
        "reason": "r",
        "rows-TOTAL_FORMS": "1",
        "rows-INITIAL_FORMS": "0",
        **{f"rows-0-{name}": value for name, value in row.items()},
    }
    page = client.post(
        reverse("edits:edit-form", args=[datastore_id, image_set_id]),
        {"action": "review", **posted},
    ).content.decode()

    api_message = queue(api_as("editor"), datastore_id, image_set_id, row).json()[
        "fields"
    ]["changes"][0]["non_field_errors"][0]

    assert api_message in page


def test_request_shape_problems_are_400s_beside_their_fields(api_as, image_sets):
    datastore_id, (image_set_id, *_) = image_sets
    api = api_as("editor")
    url = create_url(datastore_id, image_set_id)

    nothing = api.post(url, {}, format="json").json()["fields"]
    too_many = queue(api, datastore_id, image_set_id, *[RENAME] * 21).json()["fields"]
    wrong = api.post(
        url,
        {"reason": "", "changes": "PatientName", "force": "maybe", "base_version": 0},
        format="json",
    ).json()["fields"]

    assert set(nothing) == {"changes", "reason"}
    assert "changes" in too_many
    assert set(wrong) == {"reason", "changes", "force", "base_version"}


def test_nothing_to_change_is_refused_with_the_forms_message(api_as, image_sets):
    datastore_id, (image_set_id, *_) = image_sets
    name = get_gateway().get_image_set_metadata(datastore_id, image_set_id)["Patient"][
        "DICOM"
    ]["PatientName"]
    response = queue(
        api_as("editor"),
        datastore_id,
        image_set_id,
        {"level": "Patient", "attribute": "PatientName", "value": name},
    )
    assert response.status_code == 400
    assert response.json()["fields"]["changes"][0]["non_field_errors"] == [
        "PatientName already has this value."
    ]


def test_force_is_for_admins(api_as, image_sets, scheduled):
    datastore_id, (first, second, _) = image_sets
    change = {"level": "Study", "attribute": "StudyID", "value": "NEWSTUDY1"}

    as_editor = queue(api_as("editor"), datastore_id, first, change, force=True)
    needs_force = queue(api_as("admin"), datastore_id, first, change)
    as_admin = queue(api_as("admin"), datastore_id, second, change, force=True)

    assert as_editor.status_code == 403
    assert as_editor.json() == {"code": "permission_denied", "message": FORCE_REFUSED}
    assert needs_force.status_code == 400
    assert (
        "Tick Force"
        in needs_force.json()["fields"]["changes"][0]["non_field_errors"][0]
    )
    assert as_admin.status_code == 202
    assert as_admin.json()["force"] is True


def test_a_second_edit_while_one_is_in_progress_is_a_409_naming_it(
    api_as, image_sets, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    api = api_as("editor")
    first = queue(api, datastore_id, image_set_id, RENAME).json()

    second = queue(api, datastore_id, image_set_id, {**RENAME, "value": "DOE^JOHN"})

    assert second.status_code == 409
    assert second.json()["code"] == "edit_in_progress"
    assert second.json()["active_edit_id"] == first["id"]


def test_an_unknown_base_version_is_a_400_and_an_old_one_ends_in_conflict_then_reapplies(
    api_as, image_sets, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    api = api_as("editor")
    change_behind_the_portals_back(datastore_id, image_set_id)  # now at version 2

    unknown = queue(api, datastore_id, image_set_id, RENAME, base_version=3)
    stale = queue(api, datastore_id, image_set_id, RENAME, base_version=1)

    assert unknown.status_code == 400
    assert "latest version is 2" in unknown.json()["fields"]["base_version"][0]
    assert stale.status_code == 202
    ended = follow(api, stale)
    assert ended["status"] == "conflict"
    assert ended["can_reapply"] is True

    again = api.post(reverse("api:edit-reapply", args=[ended["id"]]))

    assert again.status_code == 202
    assert again.json()["reapplies"] == ended["id"]
    assert again.json()["base_version"] == 2
    assert follow(api, again)["status"] == "succeeded"
    reapplied = api.post(reverse("api:edit-reapply", args=[again.json()["id"]]))
    assert reapplied.status_code == 409
    assert reapplied.json()["code"] == "conflict"


def test_check_again_is_only_for_an_edit_still_locked(api_as, image_sets, scheduled):
    datastore_id, (image_set_id, *_) = image_sets
    api = api_as("editor")
    edit = queue(api, datastore_id, image_set_id, RENAME).json()

    refused = api.post(reverse("api:edit-check-again", args=[edit["id"]]))
    MetadataEdit.objects.filter(pk=edit["id"]).update(status=Status.TIMED_OUT)
    resumed = api.post(reverse("api:edit-check-again", args=[edit["id"]]))

    assert refused.status_code == 409
    assert refused.json()["code"] == "conflict"
    assert resumed.status_code == 202
    assert resumed.json()["status"] == "queued"


def test_editors_see_their_own_edits_and_admins_everyones(
    api_as, image_sets, scheduled
):
    datastore_id, (first, second, _) = image_sets
    alice, bob, admin = (
        api_as("editor", username="alice"),
        api_as("editor", username="bob"),
        api_as("admin"),
    )
    alices = queue(alice, datastore_id, first, RENAME).json()
    bobs = queue(bob, datastore_id, second, RENAME).json()

    def listed(api, query=""):
        return [
            edit["id"]
            for edit in api.get(reverse("api:edit-list") + query).json()["results"]
        ]

    assert listed(alice) == [alices["id"]]
    assert listed(admin) == [bobs["id"], alices["id"]]
    assert listed(admin, f"?image_set_id={first}") == [alices["id"]]
    assert listed(admin, "?status=succeeded") == []
    assert alice.get(bobs["url"]).status_code == 404
    assert alice.post(reverse("api:edit-reapply", args=[bobs["id"]])).status_code == 404
    assert admin.get(bobs["url"]).json()["requested_by"] == "bob"


def test_an_admin_reverts_and_follows_the_revert_like_an_edit(
    api_as, image_sets, scheduled
):
    datastore_id, (image_set_id, *_) = image_sets
    admin = api_as("admin")
    follow(admin, queue(admin, datastore_id, image_set_id, RENAME))  # version 2
    url = reverse("api:revert-create", args=[datastore_id, image_set_id])

    to_latest = admin.post(url, {"revert_to_version": 2, "reason": "r"}, format="json")
    moved_on = admin.post(
        url, {"revert_to_version": 1, "reason": "r", "base_version": 1}, format="json"
    )
    missing_reason = admin.post(url, {"revert_to_version": 1}, format="json")
    response = admin.post(
        url, {"revert_to_version": 1, "reason": "The rename was wrong"}, format="json"
    )

    assert to_latest.status_code == 409
    assert "latest version" in to_latest.json()["message"]
    assert moved_on.status_code == 409
    assert "now at version 2" in moved_on.json()["message"]
    assert missing_reason.status_code == 400
    assert "reason" in missing_reason.json()["fields"]
    assert response.status_code == 202
    assert response.json()["kind"] == "revert"
    assert response.json()["revert_to_version"] == 1
    done = follow(admin, response)
    assert done["status"] == "succeeded"
    assert done["accepted_version"] == 3
    document = admin.get(
        reverse("api:image-set-metadata", args=[datastore_id, image_set_id])
    ).json()
    original = get_gateway().get_image_set_metadata(
        datastore_id, image_set_id, version=1
    )
    assert document["Patient"] == original["Patient"]
