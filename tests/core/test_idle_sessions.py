"""Idle sessions: a request a person makes slides the expiry.

That polls do not, and that the session ends on time while a page polls, is case S5 of
tests/reliability/test_sessions.py.
"""

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


def test_a_request_a_person_makes_extends_the_session(client, edit, settings):
    client.force_login(edit.requested_by)
    expire_in(client, 60)

    client.get(reverse("edits:edit-list"))

    left = (
        Session.objects.get(pk=client.session.session_key).expire_date - timezone.now()
    )
    assert left > datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)
