"""Sign-ins, sign-outs, failed sign-ins, lockouts and role changes reach the audit trail."""

import pytest
from axes.signals import user_locked_out
from django.contrib.auth.models import Group
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import path, reverse

from apps.audit.middleware import AuditRequestMiddleware, current_request
from apps.audit.models import AuditEvent
from tests.audit.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
WRONG_PASSWORD = "Wrong-Secret-Password-9876"


def only(action: str) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, events
    return events[0]


def every_value(event: AuditEvent) -> list[str]:
    return [str(getattr(event, f.attname)) for f in AuditEvent._meta.concrete_fields]


# --- signing in and out -------------------------------------------------------------------


def test_sign_in_is_recorded_with_the_user_and_address(client, django_user_model):
    user = make_user(django_user_model, "ada", "viewer")
    response = client.post(
        reverse("login"),
        {"username": "ada", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 302
    signed_in = only(Action.SIGNED_IN)
    assert signed_in.actor == user
    assert signed_in.ip_address == "192.0.2.10"
    assert signed_in.username == "ada"


def test_sign_out_is_recorded(client, django_user_model):
    user = make_user(django_user_model, "ada", "viewer")
    client.force_login(user)
    response = client.post(reverse("logout"), REMOTE_ADDR="192.0.2.11")
    assert response.status_code in (200, 302)
    signed_out = only(Action.SIGNED_OUT)
    assert signed_out.actor == user
    assert signed_out.ip_address == "192.0.2.11"


def test_failed_sign_in_keeps_the_username_and_never_the_password(
    client, django_user_model
):
    make_user(django_user_model, "ada", "viewer")
    response = client.post(
        reverse("login"),
        {"username": "ada", "password": WRONG_PASSWORD},
        REMOTE_ADDR="192.0.2.12",
    )
    assert response.status_code == 200
    failed = only(Action.SIGN_IN_FAILED)
    assert failed.actor is None
    assert failed.username == "ada"
    assert failed.ip_address == "192.0.2.12"
    assert not AuditEvent.objects.filter(action=Action.SIGNED_IN).exists()
    for recorded in AuditEvent.objects.all():
        assert not any(WRONG_PASSWORD in value for value in every_value(recorded))
        assert not any(PASSWORD in value for value in every_value(recorded))


def test_failed_sign_in_of_an_unknown_name_is_recorded(client):
    client.post(reverse("login"), {"username": "nobody", "password": WRONG_PASSWORD})
    failed = only(Action.SIGN_IN_FAILED)
    assert failed.username == "nobody"
    assert failed.actor is None


def test_lockout_after_repeated_failures_is_recorded(
    client, django_user_model, settings
):
    settings.AXES_FAILURE_LIMIT = 2
    make_user(django_user_model, "ada", "viewer")
    for _ in range(3):
        client.post(
            reverse("login"),
            {"username": "ada", "password": WRONG_PASSWORD},
            REMOTE_ADDR="192.0.2.13",
        )
    locked = AuditEvent.objects.filter(action=Action.ACCOUNT_LOCKED).first()
    assert locked is not None
    assert locked.username == "ada"
    assert locked.ip_address == "192.0.2.13"
    for recorded in AuditEvent.objects.all():
        assert not any(WRONG_PASSWORD in value for value in every_value(recorded))


def test_axes_lockout_signal_is_recorded_with_username_and_address():
    request = RequestFactory().post("/login/", REMOTE_ADDR="198.51.100.7")
    user_locked_out.send(
        "axes", request=request, username="grace", ip_address="198.51.100.7"
    )
    locked = only(Action.ACCOUNT_LOCKED)
    assert (locked.username, locked.ip_address) == ("grace", "198.51.100.7")
    assert locked.actor is None


# --- role changes -------------------------------------------------------------------------


def test_role_changes_outside_a_request_have_a_subject_and_no_actor(
    django_user_model,
):
    user = make_user(django_user_model, "ada")
    viewer, editor = Group.objects.get(name="viewer"), Group.objects.get(name="editor")

    user.groups.add(viewer)
    user.groups.add(editor)
    user.groups.remove(viewer)

    changes = list(
        AuditEvent.objects.filter(action=Action.ROLES_CHANGED).order_by("at")
    )
    assert [c.outcome for c in changes] == [
        "added to viewer",
        "added to editor",
        "removed from viewer",
    ]
    assert all(c.subject == user and c.actor is None for c in changes)


def test_removing_or_clearing_records_only_real_memberships(django_user_model):
    user = make_user(django_user_model, "ada", "editor")
    before = AuditEvent.objects.count()

    user.groups.remove(Group.objects.get(name="admin"))  # not a member: no change
    user.groups.add(Group.objects.get(name="editor"))  # already a member: no change
    assert AuditEvent.objects.count() == before

    user.groups.add(Group.objects.get(name="viewer"))
    user.groups.clear()
    last = AuditEvent.objects.filter(action=Action.ROLES_CHANGED).order_by("-at")[0]
    assert last.outcome == "removed from editor, viewer"
    assert last.subject == user


def test_role_changes_from_the_group_side_are_recorded(django_user_model):
    ada = make_user(django_user_model, "ada")
    bob = make_user(django_user_model, "bob")
    admin = Group.objects.get(name="admin")

    admin.user_set.add(ada, bob)

    changes = AuditEvent.objects.filter(action=Action.ROLES_CHANGED)
    assert {(c.subject.username, c.outcome) for c in changes} == {
        ("ada", "added to admin"),
        ("bob", "added to admin"),
    }


def test_role_change_during_a_request_records_who_made_it(django_user_model):
    boss = make_user(django_user_model, "boss", "admin")
    ada = make_user(django_user_model, "ada", "viewer")
    request = RequestFactory().post("/users/ada/roles/", REMOTE_ADDR="203.0.113.5")
    request.user = boss

    def change_roles(request):
        ada.groups.add(Group.objects.get(name="editor"))
        return HttpResponse("done")

    AuditRequestMiddleware(change_roles)(request)

    change = AuditEvent.objects.filter(action=Action.ROLES_CHANGED).order_by("-at")[0]
    assert change.actor == boss
    assert change.subject == ada
    assert change.ip_address == "203.0.113.5"
    assert change.outcome == "added to editor"
    assert current_request() is None  # forgotten once the request is done


def promote(request, username):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=username)
    user.groups.add(Group.objects.get(name="editor"))
    return HttpResponse("promoted")


urlpatterns = [path("promote/<str:username>/", promote)]


@pytest.mark.urls("tests.audit.test_receivers")
def test_role_change_through_the_middleware_stack(client, settings, django_user_model):
    """The middleware in the real stack (the settings line this app asks for)."""
    middleware = list(settings.MIDDLEWARE)
    if "apps.audit.middleware.AuditRequestMiddleware" not in middleware:
        auth = middleware.index(
            "django.contrib.auth.middleware.AuthenticationMiddleware"
        )
        middleware.insert(auth + 1, "apps.audit.middleware.AuditRequestMiddleware")
        settings.MIDDLEWARE = middleware
    boss = make_user(django_user_model, "boss", "admin")
    ada = make_user(django_user_model, "ada", "viewer")
    client.force_login(boss)

    assert client.get("/promote/ada/", REMOTE_ADDR="203.0.113.9").status_code == 200

    change = AuditEvent.objects.filter(action=Action.ROLES_CHANGED).order_by("-at")[0]
    assert (change.actor, change.subject, change.outcome) == (
        boss,
        ada,
        "added to editor",
    )
    assert change.ip_address == "203.0.113.9"


def test_superuser_staff_and_active_changes_are_recorded_as_role_changes(
    django_user_model,
):
    user = django_user_model.objects.create_user("flagged", password="not-used-here")

    user.is_superuser = True
    user.is_active = False
    user.save()

    (event,) = AuditEvent.objects.filter(
        action=AuditEvent.Action.ROLES_CHANGED, subject=user
    )
    assert event.outcome == "is_superuser on, is_active off"


def test_single_permissions_given_to_a_user_are_recorded(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("granted", password="not-used-here")
    revert = Permission.objects.get(
        codename="revert", content_type__app_label="accounts"
    )

    user.user_permissions.add(revert)

    (event,) = AuditEvent.objects.filter(
        action=AuditEvent.Action.ROLES_CHANGED, subject=user
    )
    assert event.outcome == "permissions given: revert"
