"""Every page, fragment and POST endpoint of the image set, edit, history, import, audit
and account (API token) apps, for every role.

Anonymous: sent to sign in (htmx: HX-Redirect). A role without the permission: the friendly
403 page (htmx: HX-Refresh). Either way not one HealthImaging call is made: the check comes
before any selector. A role with the permission gets the page (or 302/404 as the case may be).
"""

import uuid

import pytest
from django.urls import reverse

from apps.accounts import urls as account_urls
from apps.accounts.models import ApiToken
from apps.audit import urls as audit_urls
from apps.edits import urls as edit_urls
from apps.edits.models import MetadataEdit
from apps.history import urls as history_urls
from apps.imagesets import urls as imageset_urls
from apps.imports import urls as import_urls
from tests.accounts.conftest import form_inputs
from tests.support.emulator import clear_emulator_calls, emulator_calls

pytestmark = pytest.mark.django_db

BROWSE_ROLES = {"viewer", "editor", "admin"}
EDIT_ROLES = {"editor", "admin"}
ADMIN_ROLES = {"admin"}
UNKNOWN_EDIT = uuid.UUID("00000000-0000-4000-8000-000000000000")
UNKNOWN_TOKEN = 999_999
UNKNOWN_JOB = "0" * 32

# (url name, method, htmx, what the url needs, roles allowed)
ROUTES = [
    ("imagesets:datastore-list", "get", False, "none", BROWSE_ROLES),
    ("imagesets:datastore-list", "get", True, "none", BROWSE_ROLES),
    ("imagesets:image-set-list", "get", False, "datastore", BROWSE_ROLES),
    ("imagesets:image-set-list", "get", True, "datastore", BROWSE_ROLES),
    ("imagesets:image-set-detail", "get", False, "image_set", BROWSE_ROLES),
    ("imagesets:image-set-detail", "get", True, "image_set", BROWSE_ROLES),
    ("imagesets:image-set-metadata", "get", False, "image_set", BROWSE_ROLES),
    ("edits:edit-form", "get", False, "image_set", EDIT_ROLES),
    ("edits:edit-form", "post", False, "image_set", EDIT_ROLES),
    ("edits:edit-list", "get", False, "none", EDIT_ROLES),
    ("edits:edit-detail", "get", False, "edit", EDIT_ROLES),
    ("edits:edit-status", "get", False, "edit", EDIT_ROLES),
    ("edits:edit-status", "get", True, "edit", EDIT_ROLES),
    ("edits:edit-reapply", "post", False, "edit", EDIT_ROLES),
    ("edits:edit-check-again", "post", False, "edit", EDIT_ROLES),
    ("history:version-list", "get", False, "image_set", BROWSE_ROLES),
    ("history:version-detail", "get", False, "version", BROWSE_ROLES),
    ("history:compare", "get", False, "image_set", BROWSE_ROLES),
    ("history:revert", "get", False, "version", ADMIN_ROLES),
    ("history:revert", "post", False, "version", ADMIN_ROLES),
    ("imports:job-list", "get", False, "datastore", BROWSE_ROLES),
    ("imports:job-list", "get", True, "datastore", BROWSE_ROLES),
    ("imports:job-list-status", "get", False, "datastore", BROWSE_ROLES),
    ("imports:job-list-status", "get", True, "datastore", BROWSE_ROLES),
    ("imports:job-detail", "get", False, "job", BROWSE_ROLES),
    ("imports:job-detail", "get", True, "job", BROWSE_ROLES),
    ("imports:job-status", "get", False, "job", BROWSE_ROLES),
    ("imports:job-status", "get", True, "job", BROWSE_ROLES),
    ("imports:job-start", "get", False, "datastore", ADMIN_ROLES),
    ("imports:job-start", "post", False, "datastore", ADMIN_ROLES),
    ("audit:audit-log", "get", False, "none", ADMIN_ROLES),
    ("audit:audit-export", "get", False, "none", ADMIN_ROLES),
    ("accounts:token-list", "get", False, "none", BROWSE_ROLES),
    ("accounts:token-create", "post", False, "none", BROWSE_ROLES),
    ("accounts:token-revoke", "post", False, "token", BROWSE_ROLES),
]


def route_names(module, namespace):
    return {f"{namespace}:{pattern.name}" for pattern in module.urlpatterns}


def test_the_matrix_covers_every_route_of_the_apps():
    assert {name for name, *_ in ROUTES} == (
        route_names(imageset_urls, "imagesets")
        | route_names(edit_urls, "edits")
        | route_names(history_urls, "history")
        | route_names(import_urls, "imports")
        | route_names(audit_urls, "audit")
        | route_names(account_urls, "accounts")
    )


def url_for(name, needs, image_set):
    datastore_id, image_set_id = image_set
    args = {
        "none": [],
        "datastore": [datastore_id],
        "image_set": [datastore_id, image_set_id],
        "version": [datastore_id, image_set_id, 1],
        "edit": [UNKNOWN_EDIT],  # one nobody may see: the permission check comes first
        "token": [UNKNOWN_TOKEN],  # likewise
        "job": [datastore_id, UNKNOWN_JOB],  # an import job HealthImaging does not know
    }[needs]
    return reverse(name, args=args)


def send(client, method, url, *, htmx):
    headers = (
        {"HX-Request": "true", "HX-Current-URL": "http://testserver/"} if htmx else {}
    )
    data = {"base_version": "1", "reason": ""} if method == "post" else None
    return getattr(client, method)(url, data, headers=headers)


@pytest.mark.parametrize("role", [None, "viewer", "editor", "admin"])
@pytest.mark.parametrize(
    ("name", "method", "htmx", "needs", "allowed"),
    ROUTES,
    ids=[
        f"{name}-{method}{'-htmx' if htmx else ''}" for name, method, htmx, *_ in ROUTES
    ],
)
def test_each_role_gets_what_its_permissions_allow(
    client_as, image_set, healthimaging, role, name, method, htmx, needs, allowed
):
    client = client_as(role)
    url = url_for(name, needs, image_set)
    clear_emulator_calls(healthimaging.url)

    response = send(client, method, url, htmx=htmx)

    refused = role is None or role not in allowed
    if role is None:
        if htmx:
            assert response["HX-Redirect"].startswith(reverse("login"))
        else:
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login") + "?next=")
    elif refused and htmx and name == "edits:edit-status":
        assert response.status_code == 286  # a refused poll stops; it does not reload
    elif refused:
        assert response.status_code == 403
        assert "accounts/forbidden.html" in [t.name for t in response.templates]
        assert "Your role does not let you" in response.content.decode()
        if htmx:
            assert response["HX-Refresh"] == "true"
    else:
        assert response.status_code in {200, 302, 404, 409}
        if needs in {"edit", "token"}:
            assert (
                response.status_code == 404
            )  # nobody's edit or token, but not refused
        elif needs == "job":
            # No such job, but not refused: a 404 page, or (htmx swaps no 4xx) a fragment.
            assert response.status_code == (200 if htmx else 404)
            if htmx:
                assert response["HX-Retarget"] == "#import-job"
        elif method == "get":
            assert response.status_code == 200
    if refused:
        assert emulator_calls(healthimaging.url) == []
    assert not MetadataEdit.objects.exists()
    assert not ApiToken.objects.exists()


def test_a_viewer_cannot_queue_an_edit_even_by_posting_directly(
    client, make_user, image_set, healthimaging, monkeypatch
):
    """The whole form, as an editor's browser would send it: refused, nothing saved."""
    from apps.edits import services

    queued = []
    monkeypatch.setattr(
        services, "schedule_step", lambda edit_id, countdown=0: queued.append(edit_id)
    )
    editor, viewer = make_user("editor"), make_user("viewer")
    url = reverse("edits:edit-form", args=image_set)
    client.force_login(editor)
    data = form_inputs(client.get(url).content.decode())
    data |= {"patient_name": "DOE^JANE", "reason": "Typo", "action": "queue"}
    client.force_login(viewer)
    clear_emulator_calls(healthimaging.url)

    refused = client.post(url, data)

    assert refused.status_code == 403
    assert MetadataEdit.objects.count() == 0
    assert emulator_calls(healthimaging.url) == []
    assert queued == []

    # The same post from the editor does queue it, so the refusal is the role's doing.
    client.force_login(editor)
    assert client.post(url, data).status_code == 302
    assert MetadataEdit.objects.get().requested_by == editor


def test_an_admin_sees_anyones_edit_and_an_editor_only_their_own(
    client, make_user, image_set
):
    owner, other_editor, admin = (
        make_user("editor"),
        make_user("editor", username="other"),
        make_user("admin"),
    )
    edit = MetadataEdit.objects.create(
        requested_by=owner,
        datastore_id=image_set[0],
        image_set_id=image_set[1],
        base_version=1,
        changes=[],
        reason="Typo",
        status=MetadataEdit.Status.SUCCEEDED,
    )

    for user, status in ((owner, 200), (other_editor, 404), (admin, 200)):
        client.force_login(user)
        for name in ("edits:edit-detail", "edits:edit-status"):
            response = client.get(reverse(name, args=[edit.pk]))
            assert response.status_code == status, (user.username, name)


def test_a_demoted_editor_is_not_polled_back_into_reloads(
    make_user, image_set, healthimaging
):
    """An editor becomes a viewer while an edit of theirs is active: the image set page no
    longer polls its status, and a poll from a page still open stops (286), not reloads."""
    from django.test import Client

    from apps.accounts.roles import VIEWER
    from apps.accounts.services import set_role

    editor = make_user("editor")
    datastore_id, image_set_id = image_set
    edit = MetadataEdit.objects.create(
        requested_by=editor,
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        base_version=1,
        changes=[],
        reason="test",
    )
    set_role(editor, VIEWER)
    client = Client()
    client.force_login(editor)

    page = client.get(reverse("imagesets:image-set-detail", args=image_set))
    poll = client.get(
        reverse("edits:edit-status", args=[edit.pk]), headers={"HX-Request": "true"}
    )

    assert "every 2s" not in page.content.decode()
    assert poll.status_code == 286
    assert "HX-Refresh" not in poll
