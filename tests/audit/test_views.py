"""The Audit log page: who may see it, each filter, the time range, paging and escaping."""

import html
import re

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.audit.conftest import (
    DATASTORE,
    IMAGE_SET,
    OTHER_DATASTORE,
    OTHER_IMAGE_SET,
    at,
    event,
    make_user,
)

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
LOG_URL = "/audit/"
EXPORT_URL = "/audit/export.csv"


def rows(response) -> list[str]:
    """The audit event ids shown in the table, in order."""
    return re.findall(r'data-audit-event="([0-9a-f-]+)"', response.content.decode())


def test_the_routes():
    assert reverse("audit:audit-log") == LOG_URL
    assert reverse("audit:audit-export") == EXPORT_URL


# --- who may see it -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [LOG_URL, EXPORT_URL])
def test_signed_out_users_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["viewer", "editor"])
@pytest.mark.parametrize("url", [LOG_URL, EXPORT_URL])
@pytest.mark.parametrize("method", ["get", "post"])
def test_viewers_and_editors_are_refused(client, django_user_model, role, url, method):
    event(reason="secret reason")
    client.force_login(make_user(django_user_model, f"audit-{role}", role))
    response = getattr(client, method)(url)
    assert response.status_code == 403
    assert "secret reason" not in response.content.decode()
    assert "read the audit log" in response.content.decode()


@pytest.mark.parametrize("url", [LOG_URL, EXPORT_URL])
def test_admins_may_read_and_export(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_the_navigation_shows_each_role_only_its_links(client, django_user_model):
    for role, edits, audit in (
        ("viewer", False, False),
        ("editor", True, False),
        ("admin", True, True),
    ):
        client.force_login(make_user(django_user_model, f"nav-{role}", role))
        page = client.get(reverse("imagesets:datastore-list")).content.decode()
        assert ('href="/audit/"' in page) is audit, role
        assert (reverse("edits:edit-list") in page) is edits, role


# --- what it shows ------------------------------------------------------------------------


def test_a_record_shows_every_column(admin_client, audit_editor):
    event(
        Action.EDIT_SUCCEEDED,
        at=at(2, 9, 30),
        actor=audit_editor,
        ip_address="192.0.2.44",
        datastore_id=DATASTORE,
        image_set_id=IMAGE_SET,
        version_from=3,
        version_to=4,
        reason="Fix the typo",
        outcome="UPDATED",
        forced=True,
    )
    page = admin_client.get(LOG_URL, {"action": Action.EDIT_SUCCEEDED})
    body = page.content.decode()
    for text in (
        "2026-03-02 09:30:00",
        "audit-editor",
        "Edit succeeded",
        "192.0.2.44",
        DATASTORE,
        "3 → 4",
        "Fix the typo",
        "UPDATED",
        "Forced",
    ):
        assert text in body, text
    detail = reverse("imagesets:image-set-detail", args=[DATASTORE, IMAGE_SET])
    assert f'href="{detail}"' in body
    for header in ("Time (UTC)", "User", "Action", "Address", "Data store"):
        assert f'<th scope="col">{header}</th>' in body


def test_html_in_a_reason_is_escaped(admin_client):
    event(reason='<script>alert("x")</script>', outcome="<b>bold</b>")
    body = admin_client.get(LOG_URL).content.decode()
    assert "<script>alert" not in body
    assert "<b>bold</b>" not in body
    assert html.escape('<script>alert("x")</script>') in body


def test_newest_first(admin_client):
    old = event(at=at(1), datastore_id=DATASTORE)
    new = event(at=at(3), datastore_id=DATASTORE)
    middle = event(at=at(2), datastore_id=DATASTORE)
    shown = rows(admin_client.get(LOG_URL, {"datastore_id": DATASTORE}))
    assert shown == [str(new.pk), str(middle.pk), str(old.pk)]


# --- filters ------------------------------------------------------------------------------


def test_filter_by_user_matches_actor_subject_and_name_tried(
    admin_client, audit_editor, audit_viewer
):
    acted = event(actor=audit_editor, datastore_id=DATASTORE)
    about = event(Action.ROLES_CHANGED, subject=audit_editor, outcome="added to x")
    tried = event(Action.SIGN_IN_FAILED, username="audit-editor")
    event(actor=audit_viewer, datastore_id=DATASTORE)
    event(Action.SIGN_IN_FAILED, username="someone-else")

    shown = set(rows(admin_client.get(LOG_URL, {"user": "audit-editor"})))
    # The editor's own role change (adding the group when made) matches too.
    expected = {str(e.pk) for e in (acted, about, tried)} | {
        str(e.pk)
        for e in AuditEvent.objects.filter(
            action=Action.ROLES_CHANGED, subject=audit_editor
        )
    }
    assert shown == expected


def test_filter_by_action(admin_client):
    queued = event(Action.EDIT_QUEUED)
    event(Action.REVERT_QUEUED)
    event(Action.SIGN_IN_FAILED, username="x")
    assert rows(admin_client.get(LOG_URL, {"action": Action.EDIT_QUEUED})) == [
        str(queued.pk)
    ]


def test_filter_by_data_store_and_image_set(admin_client):
    both = event(datastore_id=DATASTORE, image_set_id=IMAGE_SET)
    same_store = event(datastore_id=DATASTORE, image_set_id=OTHER_IMAGE_SET)
    event(datastore_id=OTHER_DATASTORE, image_set_id=IMAGE_SET)

    by_store = rows(admin_client.get(LOG_URL, {"datastore_id": DATASTORE}))
    assert set(by_store) == {str(both.pk), str(same_store.pk)}
    by_set = rows(
        admin_client.get(
            LOG_URL, {"datastore_id": DATASTORE, "image_set_id": IMAGE_SET}
        )
    )
    assert by_set == [str(both.pk)]
    # IDs are matched whatever their case or surrounding spaces.
    assert rows(admin_client.get(LOG_URL, {"image_set_id": f" {IMAGE_SET.upper()} "}))


def test_filter_by_time_range(admin_client):
    early = event(at=at(1, 8), datastore_id=DATASTORE)
    inside = event(at=at(2, 12), datastore_id=DATASTORE)
    edge = event(at=at(3, 23, 59), datastore_id=DATASTORE)
    late = event(at=at(4, 0, 1), datastore_id=DATASTORE)

    def shown(**query):
        return set(
            rows(admin_client.get(LOG_URL, {"datastore_id": DATASTORE, **query}))
        )

    assert shown(start="2026-03-02T00:00", end="2026-03-03T00:00") == {str(inside.pk)}
    assert shown(start="2026-03-02T12:00:00") == {
        str(inside.pk),
        str(edge.pk),
        str(late.pk),
    }
    assert shown(end="2026-03-01T08:00") == {str(early.pk)}
    # A day on its own as the end means the whole of that day.
    assert shown(start="2026-03-02", end="2026-03-03") == {str(inside.pk), str(edge.pk)}
    assert str(late.pk) not in shown(end="2026-03-03")
    # A time with an offset is that moment in UTC, whatever offset Python takes.
    assert shown(start="2026-03-02T14:00+02:00", end="2026-03-02T12:00Z") == {
        str(inside.pk)
    }
    assert shown(start="2026-03-02T00:00-16:57", end="2026-03-02") == set()
    assert shown(end="9999-12-31") == {str(e.pk) for e in (early, inside, edge, late)}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"start": "0001-01-01T00:00+05:00"}, "start"),
        ({"end": "9999-12-31T23:00-16:57"}, "end"),
        ({"end": "2026-13-45T99:99"}, "end"),
        ({"start": "2026-03-05T00:00", "end": "2026-03-01T00:00"}, "end"),
        ({"datastore_id": "../../etc/passwd"}, "datastore_id"),
        ({"image_set_id": "x" * 500}, "image_set_id"),
        ({"action": "drop table"}, "action"),
        ({"user": "u" * 200}, "user"),
    ],
)
def test_bad_filters_show_errors_beside_their_fields(admin_client, query, field):
    event(reason="must not show")
    response = admin_client.get(LOG_URL, query)
    assert response.status_code == 400
    body = response.content.decode()
    assert f'id="id_{field}_error"' in body
    assert "must not show" not in body
    assert 'aria-invalid="true"' in body
    assert re.search(rf'aria-describedby="id_{field}_error[^"]*"', body)
    export = admin_client.get(EXPORT_URL, query)
    assert export.status_code == 400
    assert "must not show" not in export.content.decode()


@pytest.mark.parametrize("page", ["abc", "-1", "0", "99999", "1e9", ""])
def test_bad_page_numbers_never_fail(admin_client, page):
    event(datastore_id=DATASTORE)
    response = admin_client.get(LOG_URL, {"datastore_id": DATASTORE, "page": page})
    assert response.status_code == 200
    assert len(rows(response)) == 1


# --- paging -------------------------------------------------------------------------------


def test_pages_of_fifty_whose_links_keep_the_filters(admin_client):
    made = [
        event(at=at(1, hour, minute), datastore_id=DATASTORE)
        for hour in range(2)
        for minute in range(60)
    ]
    event(at=at(5), datastore_id=OTHER_DATASTORE)
    newest_first = [str(e.pk) for e in reversed(made)]
    query = {"datastore_id": DATASTORE, "action": Action.EDIT_QUEUED}

    first = admin_client.get(LOG_URL, query)
    assert rows(first) == newest_first[:50]
    body = first.content.decode()
    assert "120 records matching the filters" in body
    assert "Page 1 of 3" in body
    next_link = re.search(r'rel="next" href="([^"]+)"', body).group(1)
    next_link = html.unescape(next_link)
    assert f"datastore_id={DATASTORE}" in next_link
    assert "action=edit.queued" in next_link

    second = admin_client.get(LOG_URL + next_link)
    assert rows(second) == newest_first[50:100]
    third = admin_client.get(LOG_URL, {**query, "page": 3})
    assert rows(third) == newest_first[100:]
    assert 'rel="next"' not in third.content.decode()

    export_link = re.search(r'href="(/audit/export\.csv[^"]*)"', body).group(1)
    assert f"datastore_id={DATASTORE}" in html.unescape(export_link)
