import time

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_home_redirects_anonymous_users_to_login(client):
    response = client.get(reverse("core:home"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_home_sends_a_signed_in_user_to_the_data_stores(client, django_user_model):
    user = django_user_model.objects.create_user(username="ana", password="x")
    client.force_login(user)

    response = client.get(reverse("core:home"))

    assert response.status_code == 302
    assert response["Location"] == reverse("imagesets:datastore-list")


def test_pages_load_htmx_and_send_the_csrf_token_with_htmx_requests(client):
    body = client.get(reverse("login")).content.decode()

    assert "htmx" in body
    assert "<script src=" in body
    assert 'hx-headers=\'{"x-csrftoken": "' in body
    assert 'id="main"' in body
    assert 'href="#main"' in body


def test_pages_carry_no_inline_scripts(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="ana"))

    for url in (reverse("core:home"), reverse("login")):
        body = client.get(url).content.decode()
        assert "<script>" not in body
        assert all('src="' in tag for tag in body.split("<script")[1:])


def test_healthz_answers_ok_without_login_when_everything_is_reachable(
    client, healthimaging, broker
):
    response = client.get(reverse("core:healthz"))

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "healthimaging": "ok"},
    }
    assert response["Cache-Control"] == "no-store"


def test_healthz_names_what_is_out_of_reach_and_nothing_more(
    client, settings, healthimaging, caplog
):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"

    response = client.get(reverse("core:healthz"))

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unavailable", "healthimaging": "ok"},
    }
    assert "Health check redis failed: ConnectionError" in caplog.text


def test_healthz_sees_healthimaging_and_the_database_out_of_reach(
    client, broker, monkeypatch
):
    from django.db import OperationalError

    from apps.core import health

    def database_down():
        raise OperationalError("could not connect")

    monkeypatch.setitem(health.CHECKS, "database", database_down)
    started = time.monotonic()
    response = client.get(reverse("core:healthz"))  # no emulator: nothing listens

    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "unavailable",
        "redis": "ok",
        "healthimaging": "unavailable",
    }
    assert (
        time.monotonic() - started < 5
    )  # one quick attempt, not the gateway's retries


def test_healthz_refuses_writes(client):
    assert client.post(reverse("core:healthz")).status_code == 405


def test_login_page_has_labelled_fields_and_a_log_in_button(client):
    body = client.get(reverse("login")).content.decode()

    assert '<label for="id_username">Username</label>' in body
    assert '<label for="id_password">Password</label>' in body
    assert 'id="id_username"' in body
    assert 'id="id_password"' in body
    assert '<button type="submit" class="button">Log in</button>' in body


def test_login_with_valid_credentials_goes_home(client, django_user_model):
    django_user_model.objects.create_user(username="ana", password="a long passphrase")

    response = client.post(
        reverse("login"), {"username": "ana", "password": "a long passphrase"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("core:home")


def test_login_with_a_wrong_password_shows_an_error(client, django_user_model):
    django_user_model.objects.create_user(username="ana", password="a long passphrase")

    response = client.post(reverse("login"), {"username": "ana", "password": "nope"})

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_sign_out_is_a_post_and_ends_the_session(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="ana"))

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("core:home")).status_code == 302


def test_healthz_keeps_its_report_for_a_few_seconds(client, healthimaging, broker):
    from tests.support.emulator import clear_emulator_calls, emulator_calls

    clear_emulator_calls(healthimaging.url)
    answers = [client.get(reverse("core:healthz")).status_code for _ in range(5)]

    assert answers == [200] * 5
    assert len(emulator_calls(healthimaging.url, operation="ListDatastores")) == 1


def test_healthz_counts_a_throttled_healthimaging_as_reachable(
    client, broker, monkeypatch
):
    from apps.healthimaging import errors
    from apps.healthimaging.gateway import get_probe_gateway

    def busy():
        raise errors.Throttled()

    monkeypatch.setattr(get_probe_gateway(), "list_datastores", busy)
    assert client.get(reverse("core:healthz")).json()["checks"]["healthimaging"] == "ok"


def test_healthz_checks_every_redis_the_portal_uses(
    client, healthimaging, broker, settings
):
    settings.EDIT_RATE_LIMIT_STORAGE_URL = "redis://127.0.0.1:9/0"
    assert (
        client.get(reverse("core:healthz")).json()["checks"]["redis"] == "unavailable"
    )
