"""Audit records can be added, never changed or removed: not by the model, not by the admin."""

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import reverse

from apps.audit.admin import AuditEventAdmin
from apps.audit.models import AppendOnlyError, AuditEvent
from tests.audit.conftest import DATASTORE, IMAGE_SET, event, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def record():
    return event(datastore_id=DATASTORE, image_set_id=IMAGE_SET, reason="typo")


def test_a_record_can_not_be_saved_again(record):
    record.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        record.save()
    assert AuditEvent.objects.get(pk=record.pk).reason == "typo"


def test_a_record_can_not_be_deleted(record):
    with pytest.raises(AppendOnlyError):
        record.delete()
    assert AuditEvent.objects.filter(pk=record.pk).exists()


def test_querysets_can_not_update_or_delete(record):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=record.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=record.pk).reason == "typo"


@pytest.fixture
def staff_auditor(django_user_model):
    user = make_user(django_user_model, "staff-auditor", "admin")
    user.is_staff = True
    user.save()
    return user


def test_the_admin_grants_no_add_change_or_delete(staff_auditor):
    model_admin = AuditEventAdmin(AuditEvent, admin.site)
    request = RequestFactory().get("/admin/")
    request.user = staff_auditor
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.get_actions(request) == {}
    assert set(model_admin.get_readonly_fields(request)) == {
        f.name for f in AuditEvent._meta.concrete_fields
    }


def test_the_admin_shows_records_read_only(client, staff_auditor, record):
    client.force_login(staff_auditor)
    changelist = client.get(reverse("admin:audit_auditevent_changelist"))
    assert changelist.status_code == 200
    assert IMAGE_SET in changelist.content.decode()

    change_url = reverse("admin:audit_auditevent_change", args=[record.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()

    # The admin refuses (PermissionDenied, which the site turns into its 403 page).
    model_admin = AuditEventAdmin(AuditEvent, admin.site)
    factory = RequestFactory()
    for view, method, data in (
        (model_admin.change_view, "post", {"reason": "rewritten"}),
        (model_admin.delete_view, "post", {"post": "yes"}),
    ):
        request = getattr(factory, method)("/admin/", data)
        request.user = staff_auditor
        request._dont_enforce_csrf_checks = True
        with pytest.raises(PermissionDenied):
            view(request, str(record.pk))
    request = factory.get("/admin/")
    request.user = staff_auditor
    with pytest.raises(PermissionDenied):
        model_admin.add_view(request)
    assert AuditEvent.objects.get(pk=record.pk).reason == "typo"


def test_staff_without_the_audit_permission_can_not_read_it_in_the_admin(
    django_user_model, record
):
    user = make_user(django_user_model, "staff-editor", "editor")
    user.is_staff = True
    user.save()
    model_admin = AuditEventAdmin(AuditEvent, admin.site)
    request = RequestFactory().get("/admin/")
    request.user = user
    assert not model_admin.has_view_permission(request)
    assert not model_admin.has_module_permission(request)
