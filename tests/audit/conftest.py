"""Users of each role, made here (not shared fixtures), and a way to add audit records."""

import datetime

import pytest
from django.contrib.auth.models import Group

from apps.audit.models import AuditEvent

PASSWORD = "a-long-test-password-1234"
DATASTORE = "d" * 32
OTHER_DATASTORE = "e" * 32
IMAGE_SET = "1" * 32
OTHER_IMAGE_SET = "2" * 32


def make_user(django_user_model, username: str, role: str | None = None):
    user = django_user_model.objects.create_user(username, password=PASSWORD)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def audit_admin(django_user_model):
    return make_user(django_user_model, "audit-admin", "admin")


@pytest.fixture
def audit_editor(django_user_model):
    return make_user(django_user_model, "audit-editor", "editor")


@pytest.fixture
def audit_viewer(django_user_model):
    return make_user(django_user_model, "audit-viewer", "viewer")


@pytest.fixture
def admin_client(client, audit_admin):
    client.force_login(audit_admin)
    return client


def at(day: int, hour: int = 12, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 3, day, hour, minute, tzinfo=datetime.UTC)


def event(action=AuditEvent.Action.EDIT_QUEUED, **fields) -> AuditEvent:
    fields.setdefault("at", at(1))
    return AuditEvent.objects.create(action=action, **fields)
