"""Idle sessions end on time even while a page polls: polls are not activity."""

import datetime

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import EDITOR
from apps.accounts.services import set_role
from apps.edits.models import MetadataEdit

pytestmark = pytest.mark.django_db


@pytest.fixture
def edit(django_user_model):
    user = django_user_model.objects.create_user("poller", password="not-used-here")
    set_role(user, EDITOR)  # the edit pages need QUEUE_EDIT
    return MetadataEdit.objects.create(
        requested_by=user,
        datastore_id="a" * 32,
        image_set_id="b" * 32,
        base_version=1,
        changes=[],
        reason="test",
    )


def expire_in(client, seconds: int) -> Session:
    session = Session.objects.get(pk=client.session.session_key)
    Session.objects.filter(pk=session.pk).update(
        expire_date=timezone.now() + datetime.timedelta(seconds=seconds)
    )
    return session


def poll(client, edit):
    return client.get(
        reverse("edits:edit-status", args=[edit.pk]), headers={"HX-Request": "true"}
    )


def test_a_poll_does_not_extend_the_session(client, edit):
    client.force_login(edit.requested_by)
    expire_in(client, 60)

    assert poll(client, edit).status_code == 200

    left = (
        Session.objects.get(pk=client.session.session_key).expire_date - timezone.now()
    )
    assert left <= datetime.timedelta(seconds=60)


def test_a_request_a_person_makes_extends_the_session(client, edit, settings):
    client.force_login(edit.requested_by)
    expire_in(client, 60)

    client.get(reverse("edits:edit-list"))

    left = (
        Session.objects.get(pk=client.session.session_key).expire_date - timezone.now()
    )
    assert left > datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)


def test_once_idle_the_next_poll_sends_the_page_to_sign_in(client, edit):
    client.force_login(edit.requested_by)
    expire_in(client, -1)

    response = poll(client, edit)

    assert response["HX-Redirect"].startswith(reverse("login"))
