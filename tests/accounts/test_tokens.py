"""Personal API tokens: made and shown once, stored as a digest, listed, revoked, audited,
and managed by admins in the Django admin."""

import datetime
import hashlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.accounts import tokens
from apps.accounts.models import ApiToken
from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.accounts.services import set_role
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
LIST_URL = "/account/tokens/"
CREATE_URL = "/account/tokens/create/"
ADDRESS = "192.0.2.40"


def a_request():
    return RequestFactory().post("/", REMOTE_ADDR=ADDRESS)


def make_token(user, *, name="script", days=90):
    return tokens.token_create(
        user=user, name=name, expires_in_days=days, request=a_request()
    )


def secret_of(plaintext: str) -> str:
    return plaintext.split("_", 2)[2]


def row_values(instance) -> list[str]:
    return [
        str(getattr(instance, field.attname))
        for field in instance._meta.concrete_fields
    ]


def assert_nowhere_stored(plaintext: str) -> None:
    """Neither the token nor its secret part is in any token row or audit record."""
    for row in [*ApiToken.objects.all(), *AuditEvent.objects.all()]:
        for value in row_values(row):
            assert plaintext not in value
            assert secret_of(plaintext) not in value


def created_token(response) -> str:
    found = re.findall(r"hip_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", response.content.decode())
    assert found, "no token on the page"
    return found[0]


def test_the_routes():
    assert reverse("accounts:token-list") == LIST_URL
    assert reverse("accounts:token-create") == CREATE_URL
    assert reverse("accounts:token-revoke", args=[7]) == "/account/tokens/7/revoke/"


# --- the service --------------------------------------------------------------------------


def test_token_create_returns_the_text_and_stores_only_its_digest(viewer):
    before = timezone.now()

    token, plaintext = make_token(viewer, name="  nightly export  ", days=30)

    assert tokens.TOKEN_PATTERN.fullmatch(plaintext)
    assert plaintext.startswith(f"hip_{token.prefix}_")
    assert len(token.prefix) == 8
    assert token.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert token.name == "nightly export"
    assert token.user == viewer
    assert token.last_used_at is None
    assert token.revoked_at is None
    assert (
        before + datetime.timedelta(days=30)
        <= token.expires_at
        <= timezone.now() + datetime.timedelta(days=30)
    )
    assert_nowhere_stored(plaintext)


def test_token_create_makes_a_different_token_every_time(viewer):
    made = [make_token(viewer) for _ in range(5)]

    assert len({plaintext for _, plaintext in made}) == 5
    assert len({token.prefix for token, _ in made}) == 5


def test_token_create_without_expiry_never_expires(viewer):
    token, _ = make_token(viewer, days=None)

    assert token.expires_at is None
    assert token.status == "Active"


def test_token_create_refuses_a_lifetime_under_a_day(viewer):
    with pytest.raises(ValueError, match="one day"):
        make_token(viewer, days=0)
    assert not ApiToken.objects.exists()


def test_token_create_is_audited_without_the_secret(viewer):
    token, plaintext = make_token(viewer, name="nightly export", days=None)

    event = AuditEvent.objects.get(action=Action.TOKEN_CREATED)
    assert event.actor == viewer
    assert event.subject == viewer
    assert event.ip_address == ADDRESS
    assert token.prefix in event.outcome
    # Its name is the user's free text (it could name a patient): never in the audit trail.
    assert "nightly export" not in event.outcome
    assert "never expires" in event.outcome
    assert_nowhere_stored(plaintext)


def test_token_create_saves_nothing_when_the_audit_record_fails(viewer, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(tokens, "audit_record", broken)

    with pytest.raises(RuntimeError):
        make_token(viewer)
    assert not ApiToken.objects.exists()


def test_token_list_holds_the_users_own_tokens_newest_first(viewer, editor):
    first, _ = make_token(viewer, name="first")
    second, _ = make_token(viewer, name="second")
    make_token(editor, name="not mine")
    tokens.token_revoke(user=viewer, token_id=first.pk, request=None)

    assert list(tokens.token_list(user=viewer)) == [second, first]


def test_token_revoke_revokes_once_and_records_once(viewer):
    token, plaintext = make_token(viewer, name="laptop")

    revoked = tokens.token_revoke(user=viewer, token_id=token.pk, request=a_request())
    when = revoked.revoked_at
    again = tokens.token_revoke(user=viewer, token_id=token.pk, request=a_request())

    assert when is not None
    assert again.revoked_at == when
    assert revoked.status == "Revoked"
    event = AuditEvent.objects.get(action=Action.TOKEN_REVOKED)
    assert (event.actor, event.subject, event.ip_address) == (viewer, viewer, ADDRESS)
    assert token.prefix in event.outcome
    assert "laptop" not in event.outcome
    assert tokens.token_user(plaintext=plaintext) is None
    assert_nowhere_stored(plaintext)


def test_token_revoke_of_another_users_token_is_not_found(viewer, editor):
    token, plaintext = make_token(editor)

    with pytest.raises(tokens.TokenNotFound):
        tokens.token_revoke(user=viewer, token_id=token.pk, request=None)

    token.refresh_from_db()
    assert token.revoked_at is None
    assert tokens.token_user(plaintext=plaintext) == token
    assert not AuditEvent.objects.filter(action=Action.TOKEN_REVOKED).exists()


# --- which tokens let a request in -------------------------------------------------------


def test_token_user_finds_a_fresh_token(viewer):
    token, plaintext = make_token(viewer)

    found = tokens.token_user(plaintext=plaintext)

    assert found == token
    assert found.user == viewer
    assert found.last_used_at is not None


def test_token_user_refuses_a_revoked_token(viewer):
    token, plaintext = make_token(viewer)
    tokens.token_revoke(user=viewer, token_id=token.pk, request=None)

    assert tokens.token_user(plaintext=plaintext) is None


def test_token_user_refuses_an_expired_token(viewer):
    token, plaintext = make_token(viewer, days=30)
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )

    assert tokens.token_user(plaintext=plaintext) is None
    token.refresh_from_db()
    assert token.status == "Expired"
    assert token.last_used_at is None


def test_token_user_refuses_the_token_of_a_deactivated_user(viewer):
    _, plaintext = make_token(viewer)
    viewer.is_active = False
    viewer.save()

    assert tokens.token_user(plaintext=plaintext) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda text: text[:-1] + ("A" if text[-1] != "A" else "B"),  # unknown secret
        lambda text: text.replace("hip_", "abc_", 1),  # another kind of token
        lambda text: text[:-1],  # too short
        lambda text: text + "x",  # too long
        lambda text: "",
        lambda text: secret_of(text),  # the secret alone
    ],
    ids=["unknown", "wrong-kind", "short", "long", "empty", "secret-alone"],
)
def test_token_user_refuses_anything_but_the_exact_token(viewer, mangle):
    _, plaintext = make_token(viewer)

    assert tokens.token_user(plaintext=mangle(plaintext)) is None


def test_last_used_is_written_at_most_once_a_minute(viewer, django_assert_num_queries):
    token, plaintext = make_token(viewer)
    recent = timezone.now() - datetime.timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recent)

    with django_assert_num_queries(1):  # the lookup, and no write
        tokens.token_user(plaintext=plaintext)
    token.refresh_from_db()
    assert token.last_used_at == recent

    stale = timezone.now() - datetime.timedelta(seconds=61)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    with django_assert_num_queries(2):  # the lookup, and one write
        tokens.token_user(plaintext=plaintext)
    token.refresh_from_db()
    assert token.last_used_at > stale
    written = token.last_used_at

    with django_assert_num_queries(1):
        tokens.token_user(plaintext=plaintext)
    token.refresh_from_db()
    assert token.last_used_at == written


# --- the pages ---------------------------------------------------------------------------


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def test_the_list_page_offers_the_form_with_90_days_chosen(viewer_client):
    response = viewer_client.get(LIST_URL)

    body = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_name">Name</label>' in body
    assert '<label for="id_expires_in">Expires</label>' in body
    assert re.search(r'<option value="90"[^>]*selected', body)
    for choice in ("30", "365", "never"):
        assert f'<option value="{choice}"' in body
    assert "You have no API tokens" in body
    assert 'href="/account/tokens/" aria-current="true">API tokens</a>' in body


def test_creating_shows_the_token_once_and_never_again(viewer_client, viewer):
    response = viewer_client.post(
        CREATE_URL, {"name": "nightly export", "expires_in": "30"}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    plaintext = created_token(response)
    token = ApiToken.objects.get(user=viewer)
    assert plaintext.startswith(f"hip_{token.prefix}_")
    assert "it will not be shown again" in body
    assert (
        f'curl -H "Authorization: Bearer {plaintext}" '
        "http://testserver/api/v1/datastores/" in body
    )
    assert f'value="{plaintext}" readonly' in body
    assert tokens.token_user(plaintext=plaintext) == token

    listed = viewer_client.get(LIST_URL).content.decode()
    assert plaintext not in listed
    assert secret_of(plaintext) not in listed
    assert token.prefix in listed
    assert "nightly export" in listed
    assert "Active" in listed
    assert_nowhere_stored(plaintext)
    assert AuditEvent.objects.filter(action=Action.TOKEN_CREATED, actor=viewer).exists()


def test_creating_with_never_makes_a_token_that_does_not_expire(viewer_client):
    response = viewer_client.post(
        CREATE_URL, {"name": "forever", "expires_in": "never"}
    )

    assert response.status_code == 200
    assert ApiToken.objects.get().expires_at is None
    assert "never expires" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "expires_in": "365"}, "name", "This field is required."),
        ({"name": "x" * 101, "expires_in": "365"}, "name", "at most 100 characters"),
        (
            {"name": "kept name", "expires_in": "7"},
            "expires_in",
            "Select a valid choice",
        ),
    ],
    ids=["blank-name", "long-name", "unknown-expiry"],
)
def test_bad_input_shows_the_form_again_with_errors_and_what_was_typed(
    viewer_client, data, field, message
):
    response = viewer_client.post(CREATE_URL, data)

    body = response.content.decode()
    assert response.status_code == 200
    assert "accounts/token_list.html" in [t.name for t in response.templates]
    error = re.search(
        rf'<p class="form__error" id="id_{field}_error">([^<]*)</p>', body
    )
    assert error
    assert message in error.group(1)
    assert re.search(
        rf'id="id_{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="id_{field}"',
        body,
    )
    if data["name"]:
        assert f'value="{data["name"]}"' in body
    if data["expires_in"] == "365":
        assert re.search(r'<option value="365"[^>]*selected', body)
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.TOKEN_CREATED).exists()


def test_the_list_shows_each_tokens_state_and_offers_revoke_for_active_ones(
    viewer_client, viewer
):
    active, _ = make_token(viewer, name="active one")
    revoked, _ = make_token(viewer, name="revoked one")
    expired, _ = make_token(viewer, name="expired one")
    tokens.token_revoke(user=viewer, token_id=revoked.pk, request=None)
    ApiToken.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - datetime.timedelta(days=1)
    )

    body = viewer_client.get(LIST_URL).content.decode()

    rows = dict(re.findall(r'<tr data-token-id="(\d+)">(.*?)</tr>', body, re.S))
    assert list(rows) == [str(expired.pk), str(revoked.pk), str(active.pk)]
    assert ">Active<" in rows[str(active.pk)]
    assert ">Revoked<" in rows[str(revoked.pk)]
    assert ">Expired<" in rows[str(expired.pk)]
    assert f'action="/account/tokens/{active.pk}/revoke/"' in rows[str(active.pk)]
    assert "revoke/" not in rows[str(revoked.pk)]
    assert "revoke/" not in rows[str(expired.pk)]
    assert "csrfmiddlewaretoken" in rows[str(active.pk)]


def test_the_list_shows_only_the_users_own_tokens(viewer_client, editor):
    make_token(editor, name="editor's script")

    assert "editor&#x27;s script" not in viewer_client.get(LIST_URL).content.decode()


def test_revoking_redirects_back_with_a_message(viewer_client, viewer):
    token, plaintext = make_token(viewer, name="laptop")

    response = viewer_client.post(
        reverse("accounts:token-revoke", args=[token.pk]), follow=True
    )

    assert response.redirect_chain == [(LIST_URL, 302)]
    body = response.content.decode()
    assert "is revoked" in body
    assert "laptop" in body
    token.refresh_from_db()
    assert token.status == "Revoked"
    assert tokens.token_user(plaintext=plaintext) is None
    assert AuditEvent.objects.filter(action=Action.TOKEN_REVOKED, actor=viewer).exists()


def test_revoking_another_users_token_is_404_and_changes_nothing(viewer_client, editor):
    token, plaintext = make_token(editor)

    response = viewer_client.post(reverse("accounts:token-revoke", args=[token.pk]))

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert tokens.token_user(plaintext=plaintext) == token
    assert not AuditEvent.objects.filter(action=Action.TOKEN_REVOKED).exists()


def test_revoking_needs_a_post_with_the_csrf_token(viewer, make_user):
    token, _ = make_token(viewer)
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    url = reverse("accounts:token-revoke", args=[token.pk])

    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_creating_needs_a_post(viewer_client):
    assert viewer_client.get(CREATE_URL).status_code == 405
    assert not ApiToken.objects.exists()


def test_pages_have_no_inline_scripts_or_styles(viewer_client):
    for response in (
        viewer_client.get(LIST_URL),
        viewer_client.post(CREATE_URL, {"name": "x", "expires_in": "90"}),
        viewer_client.post(CREATE_URL, {"name": "", "expires_in": "90"}),
    ):
        body = response.content.decode()
        assert "<style" not in body
        assert not re.search(r"\sstyle=", body)
        assert all('src="' in tag for tag in body.split("<script")[1:])


def test_a_user_without_a_role_neither_sees_the_link_nor_the_page(client, make_user):
    client.force_login(make_user(None))

    response = client.get(LIST_URL)

    assert response.status_code == 403
    assert "API tokens</a>" not in response.content.decode()


# --- the admin ---------------------------------------------------------------------------


def staff(username: str, role: str):
    user = get_user_model().objects.create_user(username, is_staff=True)
    set_role(user, role)
    return user


CHANGELIST = "admin:accounts_apitoken_changelist"


def test_an_admin_lists_every_users_tokens(client, viewer, editor):
    viewer_token, _ = make_token(viewer, name="viewer script")
    editor_token, _ = make_token(editor, name="editor script")
    client.force_login(staff("the-admin", ADMIN))

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    body = response.content.decode()
    for token in (viewer_token, editor_token):
        assert token.prefix in body
        assert token.key_hash not in body
    assert "Revoke selected tokens" in body
    assert "Delete selected" not in body
    assert reverse("admin:accounts_apitoken_add") not in body


def test_an_admin_may_read_a_token_but_not_add_change_or_delete_it(client, viewer):
    token, _ = make_token(viewer)
    client.force_login(staff("the-admin", ADMIN))

    page = client.get(reverse("admin:accounts_apitoken_change", args=[token.pk]))

    assert page.status_code == 200
    assert token.key_hash not in page.content.decode()
    assert 'name="name"' not in page.content.decode()
    assert (
        client.post(
            reverse("admin:accounts_apitoken_change", args=[token.pk]), {"name": "new"}
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    assert (
        client.post(
            reverse("admin:accounts_apitoken_delete", args=[token.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    token.refresh_from_db()
    assert token.name == "script"


def test_an_admin_revokes_selected_tokens_and_it_is_audited(client, viewer, editor):
    admin = staff("the-admin", ADMIN)
    chosen, chosen_text = make_token(viewer, name="leaked")
    already, _ = make_token(viewer, name="old")
    tokens.token_revoke(user=viewer, token_id=already.pk, request=None)
    kept, kept_text = make_token(editor, name="kept")
    client.force_login(admin)

    response = client.post(
        reverse(CHANGELIST),
        {"action": "revoke_selected", "_selected_action": [chosen.pk, already.pk]},
        REMOTE_ADDR=ADDRESS,
        follow=True,
    )

    assert response.status_code == 200
    assert "1 token revoked." in response.content.decode()
    assert tokens.token_user(plaintext=chosen_text) is None
    assert tokens.token_user(plaintext=kept_text) == kept
    event = AuditEvent.objects.get(action=Action.TOKEN_REVOKED, actor=admin)
    assert event.subject == viewer
    assert event.ip_address == ADDRESS
    assert chosen.prefix in event.outcome
    assert "by an admin" in event.outcome
    assert_nowhere_stored(chosen_text)


@pytest.mark.parametrize("role", [VIEWER, EDITOR])
def test_other_roles_do_not_see_or_revoke_tokens_in_the_admin(client, viewer, role):
    token, plaintext = make_token(viewer)
    client.force_login(staff("someone", role))

    listed = client.get(reverse(CHANGELIST))
    acted = client.post(
        reverse(CHANGELIST),
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )

    assert listed.status_code == 403
    assert acted.status_code == 403
    assert tokens.token_user(plaintext=plaintext) == token
    assert not AuditEvent.objects.filter(action=Action.TOKEN_REVOKED).exists()
