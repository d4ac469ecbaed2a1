"""The role matrix (S6): every page, fragment, form and API endpoint, for every role.

Anonymous: sent to sign in (htmx: HX-Redirect; the API: 401). A role without the permission:
the friendly 403 page (htmx: HX-Refresh; a refused poll stops with 286; the API: 403
`permission_denied`). Either way not one HealthImaging call is made: the check comes before
any selector. A role with the permission gets the page (or 302/404 as the case may be). The
Django admin lets in staff alone. A test walks the URLconf, so no route escapes the matrix.
"""

import functools
import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from apps.accounts import tokens
from apps.accounts.models import ApiToken
from apps.edits.models import MetadataEdit
from tests.accounts.conftest import form_inputs
from tests.support.emulator import clear_emulator_calls, emulator_calls

pytestmark = pytest.mark.django_db

ROLES = (None, "viewer", "editor", "admin")
SIGNED_IN = {"viewer", "editor", "admin"}
BROWSE_ROLES = {"viewer", "editor", "admin"}
EDIT_ROLES = {"editor", "admin"}
ADMIN_ROLES = {"admin"}
UNKNOWN_EDIT = uuid.UUID("00000000-0000-4000-8000-000000000000")
UNKNOWN_TOKEN = 999_999
UNKNOWN_JOB = "0" * 32

# Pages and fragments: (url name, method, htmx, what the url needs, roles allowed)
ROUTES = [
    ("core:home", "get", False, "none", SIGNED_IN),
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
# Rows whose allowed requests must call HealthImaging: a page, a fragment, a form and the
# API, each of which reads the image set or data store before it answers.
POSITIVE_CONTROLS = {
    "page get imagesets:image-set-detail",
    "page get imagesets:image-set-list htmx",
    "page post edits:edit-form",
    "page get history:revert",
    "api get api:datastore-list",
    "api get api:image-set-metadata",
}
# API endpoints: (url name, method, what the url needs, roles allowed)
API_ROUTES = [
    ("api:datastore-list", "get", "none", BROWSE_ROLES),
    ("api:datastore-detail", "get", "datastore", BROWSE_ROLES),
    ("api:image-set-list", "get", "datastore", BROWSE_ROLES),
    ("api:image-set-detail", "get", "image_set", BROWSE_ROLES),
    ("api:image-set-metadata", "get", "image_set", BROWSE_ROLES),
    ("api:version-list", "get", "image_set", BROWSE_ROLES),
    ("api:diff", "get", "image_set", BROWSE_ROLES),
    ("api:edit-create", "post", "image_set", EDIT_ROLES),
    ("api:revert-create", "post", "image_set", ADMIN_ROLES),
    ("api:edit-list", "get", "none", EDIT_ROLES),
    ("api:edit-detail", "get", "edit", EDIT_ROLES),
    ("api:edit-reapply", "post", "edit", EDIT_ROLES),
    ("api:edit-check-again", "post", "edit", EDIT_ROLES),
    ("api:import-job-list", "get", "datastore", BROWSE_ROLES),
    ("api:import-job-list", "post", "datastore", ADMIN_ROLES),
    ("api:import-job-detail", "get", "job", BROWSE_ROLES),
    ("api:audit-event-list", "get", "none", ADMIN_ROLES),
    ("api:audit-event-export", "get", "none", ADMIN_ROLES),
    # The schema and its documentation: any signed-in user, with or without a role.
    ("api:schema", "get", "none", SIGNED_IN | {"no role"}),
    ("api:docs", "get", "none", SIGNED_IN | {"no role"}),
]
# Open to everyone, signed in or not: signing in and out, and the load balancer's probe.
PUBLIC = {"login", "logout", "core:healthz"}
ADMIN_SITE = "admin/"


def urlconf_routes(patterns=None, prefix="", namespace=""):
    """(route, url name) for every pattern of the URLconf, includes walked."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = (
                f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            )
            yield from urlconf_routes(pattern.url_patterns, route, inner)
        else:
            assert isinstance(pattern, URLPattern)
            yield route, f"{namespace}{pattern.name}" if pattern.name else None


def test_the_matrix_covers_every_route_of_the_urlconf():
    """Every route is in the pages' or the API's matrix, is public, or is the Django admin
    (staff only, walked by the admin part of the matrix)."""
    routes = list(urlconf_routes())
    covered = {name for name, *_ in ROUTES} | {name for name, *_ in API_ROUTES} | PUBLIC
    left_out = [
        (route, name)
        for route, name in routes
        if not route.startswith(ADMIN_SITE) and name not in covered
    ]

    assert left_out == []
    assert covered <= {name for _, name in routes}


@pytest.fixture
def image_set(healthimaging, browse_archive) -> tuple[str, str]:
    """An image set of the read-only `browse` archive: tests here never change it."""
    datastore_id, image_set_ids = browse_archive
    return datastore_id, image_set_ids[0]


def admin_url(route: str, user) -> str:
    """The admin route with its parameters filled: the matrix checks who is let in, so
    any object will do."""
    values = {"app_label": "accounts", "url": "no-such-page/", "content_type_id": "1"}
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m[1]], route)
    path = re.sub(r"<(?:\w+:)?\w+>", str(user.pk), path)
    return "/" + path.replace("^", "").replace("$", "")


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


def page_verdict(response, *, role, name, method, htmx, needs, allowed) -> str | None:
    """What is wrong with a page's answer, or None."""
    refused = role not in allowed
    if role is None:
        if htmx:
            if not response.get("HX-Redirect", "").startswith(reverse("login")):
                return "anonymous htmx: no HX-Redirect to sign in"
        elif response.status_code != 302 or not response["Location"].startswith(
            reverse("login") + "?next="
        ):
            return f"anonymous: {response.status_code}, not sent to sign in"
        return None
    if refused and htmx and name == "edits:edit-status":
        # A refused poll stops; it does not reload.
        return None if response.status_code == 286 else f"poll: {response.status_code}"
    if refused:
        body = response.content.decode()
        if response.status_code != 403 or "Your role does not let you" not in body:
            return f"refused: {response.status_code}, not the 403 page"
        if htmx and response.get("HX-Refresh") != "true":
            return "refused htmx: no HX-Refresh"
        return None
    expected = {200, 302}
    if needs in {"edit", "token"}:
        expected = {404}  # nobody's edit or token, but not refused
    elif needs == "job":
        # No such job, but not refused: a 404 page, or (htmx swaps no 4xx) a fragment.
        expected = {200} if htmx else {404}
    elif method == "post":
        expected = {200, 302, 404, 409}
    if response.status_code not in expected:
        return f"allowed: {response.status_code}, expected one of {sorted(expected)}"
    return None


def api_verdict(response, *, role, name, allowed) -> str | None:
    if role is None and name == "api:docs":  # a page for people: sent to sign in
        if not response.get("Location", "").startswith(reverse("login")):
            return f"anonymous: {response.status_code}, not sent to sign in"
        return None
    if role is None:
        if response.status_code != 401 or response.get("WWW-Authenticate") != (
            'Bearer realm="api"'
        ):
            return f"anonymous: {response.status_code}, not 401 with WWW-Authenticate"
        return None
    if role in allowed:
        if response.status_code in {401, 403} or response.status_code >= 500:
            return f"allowed: {response.status_code}"
        return None
    body = response.json()
    if response.status_code != 403 or body.get("code") != "permission_denied":
        return f"refused: {response.status_code} {body.get('code')}"
    if not body["message"].startswith("Your role does not let you"):
        return "refused: no message saying what the role lacks"
    return None


def admin_verdict(response, *, role, route) -> str | None:
    """The Django admin: staff only. Others are sent to its sign-in page (from sign-out,
    by way of the admin's index), except on the sign-in page itself."""
    url = f"/{route}"
    if response.status_code >= 500:
        return f"{response.status_code}"
    location = response.get("Location", "") if response.status_code == 302 else ""
    sent_to_sign_in = location.startswith(reverse("admin:login"))
    if role == "admin":
        return "staff sent to sign in" if sent_to_sign_in else None
    if url == reverse("admin:login"):
        return None if response.status_code == 200 else f"{response.status_code}"
    if url == reverse("admin:logout"):
        return None if location == reverse("admin:index") else f"{response.status_code}"
    return None if sent_to_sign_in else f"not sent to sign in: {response.status_code}"


def test_every_role_gets_exactly_what_the_matrix_allows(
    make_user, image_set, healthimaging, figure
):
    users = {role: make_user(role) for role in ROLES if role}
    users["admin"].is_staff = True  # as `make demo` and an operator make admins
    users["admin"].save()
    users["no role"] = make_user(None)
    bearer = {
        role: tokens.token_create(
            user=user, name="matrix", expires_in_days=None, request=None
        )[1]
        for role, user in users.items()
    }
    pages = {role: Client() for role in ROLES}
    apis = {role: APIClient() for role in (*ROLES, "no role")}
    for role in ROLES[1:]:
        pages[role].force_login(users[role])
    for role in (*ROLES[1:], "no role"):
        apis[role].credentials(HTTP_AUTHORIZATION=f"Bearer {bearer[role]}")

    # Per route: (what, [(role, refused, request, verdict)]), requests and verdicts
    # being functions of the client and of the response.
    matrix = []
    for name, method, htmx, needs, allowed in ROUTES:
        url = url_for(name, needs, image_set)
        headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/"}
        data = {"base_version": "1", "reason": ""} if method == "post" else None
        facts = {"name": name, "method": method, "htmx": htmx, "needs": needs}
        matrix.append(
            (
                f"page {method} {name}{' htmx' if htmx else ''}",
                [
                    (
                        role,
                        role not in allowed,
                        functools.partial(
                            getattr(pages[role], method),
                            url,
                            data,
                            headers=headers if htmx else {},
                        ),
                        functools.partial(
                            page_verdict, role=role, allowed=allowed, **facts
                        ),
                    )
                    for role in ROLES
                ],
            )
        )
    for name, method, needs, allowed in API_ROUTES:
        url = url_for(name, needs, image_set)
        matrix.append(
            (
                f"api {method} {name}",
                [
                    (
                        role,
                        role not in allowed,
                        functools.partial(
                            getattr(apis[role], method), url, {}, format="json"
                        ),
                        functools.partial(
                            api_verdict, role=role, name=name, allowed=allowed
                        ),
                    )
                    for role in (*ROLES, "no role")
                ],
            )
        )
    for route, _ in urlconf_routes():
        if route.startswith(ADMIN_SITE):
            url = admin_url(route, users["editor"])
            matrix.append(
                (
                    f"admin get {route}",
                    [
                        (
                            role,
                            role != "admin",
                            functools.partial(pages[role].get, url),
                            functools.partial(admin_verdict, role=role, route=route),
                        )
                        for role in ROLES
                    ],
                )
            )

    cells = refused_cells = refused_calls = 0
    problems = []
    reached = set()  # rows whose allowed requests called HealthImaging
    rows_allowed = sum(not all(cell[1] for cell in row) for _, row in matrix)
    for what, row in matrix:
        # The refused requests first: the emulator's log then holds what they caused.
        row = sorted(row, key=lambda cell: not cell[1])
        clear_emulator_calls(healthimaging.url)
        calls = 0
        for index, (role, refused, request, verdict) in enumerate(row):
            if not refused and (index == 0 or row[index - 1][1]):
                calls = len(emulator_calls(healthimaging.url))
                refused_calls += calls
                if calls:
                    problems.append(
                        (what, "refused roles", f"{calls} HealthImaging calls")
                    )
            problem = verdict(request())
            cells += 1
            refused_cells += refused
            if problem:
                problems.append((what, role, problem))
        if all(refused for _, refused, *_ in row):
            refused_calls += len(emulator_calls(healthimaging.url))
        elif len(emulator_calls(healthimaging.url)) > calls:
            reached.add(what)

    assert problems == [], "\n".join(map(str, problems))
    # The control: the same count sees the calls of allowed requests, so its zero for
    # the refused ones means something.
    assert reached >= POSITIVE_CONTROLS, POSITIVE_CONTROLS - reached
    assert not MetadataEdit.objects.exists()
    assert ApiToken.objects.count() == len(bearer)  # none made by a refused form
    figure(
        "S6",
        "cells checked (role x page, fragment, form, API endpoint, admin route)",
        cells,
    )
    figure(
        "S6",
        "agreement with the expected matrix",
        f"{cells - len(problems)}/{cells} ({100 * (cells - len(problems)) / cells:.0f}%)",
    )
    figure(
        "S6",
        "HealthImaging calls made for refused requests",
        f"{refused_calls} in {refused_cells} refused cells",
    )
    figure(
        "S6",
        "positive control: rows whose allowed requests called HealthImaging",
        f"{len(reached)} of {rows_allowed} rows with an allowed role",
    )


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
