"""Admins manage users and roles in the Django admin; nobody else does, and no admin can
make anyone (themselves included) more than a role."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.accounts.services import set_role
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def member(username: str, role: str, *, staff: bool = False):
    user = get_user_model().objects.create_user(
        username, password="not-used-here", is_staff=staff
    )
    set_role(user, role)
    return user


def test_an_admin_lists_users_and_changes_a_role(client):
    admin_user = member("the-admin", ADMIN, staff=True)
    clerk = member("clerk", VIEWER)
    client.force_login(admin_user)

    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
    page = client.get(reverse("admin:auth_user_change", args=[clerk.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="is_superuser"' not in body
    assert 'name="user_permissions"' not in body

    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if name in form.fields and value is not None
    }
    data["groups"] = [form.fields["groups"].queryset.get(name=EDITOR).pk]
    data["date_joined_0"], data["date_joined_1"] = "2026-01-01", "00:00:00"
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("password", None)
    response = client.post(reverse("admin:auth_user_change", args=[clerk.pk]), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(clerk.groups.values_list("name", flat=True)) == [EDITOR]
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ROLES_CHANGED, subject=clerk, actor=admin_user
    ).exists()


def test_only_the_roles_are_offered_to_an_admin(client):
    admin_user = member("the-admin", ADMIN, staff=True)
    client.force_login(admin_user)

    page = client.get(reverse("admin:auth_user_change", args=[admin_user.pk]))

    offered = set(
        page.context["adminform"]
        .form.fields["groups"]
        .queryset.values_list("name", flat=True)
    )
    assert offered == {VIEWER, EDITOR, ADMIN}


@pytest.mark.parametrize("role", [VIEWER, EDITOR])
def test_other_roles_do_not_manage_users_even_as_staff(client, role):
    client.force_login(member("someone", role, staff=True))

    response = client.get(reverse("admin:auth_user_changelist"))

    assert response.status_code == 403
