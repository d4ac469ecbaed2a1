"""The REST API's token sign-in (`Authorization: Bearer hip_...`): who gets in, the 401 and
its challenge for everyone else, the OpenAPI description, and no secret in the logs."""

import datetime
import logging

import pytest
from django.db import connection
from django.urls import path
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from rest_framework import views
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from apps.accounts import tokens
from apps.accounts.authentication import REFUSED, PersonalTokenAuthentication
from apps.accounts.models import ApiToken

pytestmark = pytest.mark.django_db
CHALLENGE = 'Bearer realm="api"'


class Whoami(views.APIView):
    """The smallest API view: token first, then the session, as the settings have it."""

    authentication_classes = [PersonalTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    throttle_classes = []
    schema = AutoSchema()

    def get_exception_handler(self):
        return views.exception_handler  # DRF's own, whatever the project's API sets

    def get(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {
                "user": request.user.get_username(),
                "token": token.prefix if token else None,
            }
        )


urlpatterns = [path("whoami/", Whoami.as_view())]


def call(authorization: str | None = None):
    headers = {} if authorization is None else {"Authorization": authorization}
    request = APIRequestFactory().get("/whoami/", headers=headers)
    return Whoami.as_view()(request)


def refusal(authorization: str) -> AuthenticationFailed:
    request = views.APIView().initialize_request(
        APIRequestFactory().get("/", headers={"Authorization": authorization})
    )
    with pytest.raises(AuthenticationFailed) as refused:
        PersonalTokenAuthentication().authenticate(request)
    return refused.value


@pytest.fixture
def token(viewer):
    return tokens.token_create(
        user=viewer, name="script", expires_in_days=90, request=None
    )


def test_a_fresh_token_signs_in_as_its_owner(token, viewer):
    made, plaintext = token

    response = call(f"Bearer {plaintext}")

    assert response.status_code == 200
    assert response.data == {"user": viewer.get_username(), "token": made.prefix}
    made.refresh_from_db()
    assert made.last_used_at is not None


def test_the_scheme_name_is_case_insensitive(token):
    _, plaintext = token

    assert call(f"bearer {plaintext}").status_code == 200


def revoke(made, plaintext):
    tokens.token_revoke(user=made.user, token_id=made.pk, request=None)
    return f"Bearer {plaintext}"


def expire(made, plaintext):
    ApiToken.objects.filter(pk=made.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    return f"Bearer {plaintext}"


def deactivate(made, plaintext):
    made.user.is_active = False
    made.user.save()
    return f"Bearer {plaintext}"


def unknown(made, plaintext):
    return f"Bearer {plaintext[:-4]}AAAA"


REFUSALS = {
    "revoked": revoke,
    "expired": expire,
    "user-inactive": deactivate,
    "unknown": unknown,
    "malformed": lambda made, plaintext: "Bearer not-a-token",
    "secret-alone": lambda made, plaintext: "Bearer " + plaintext.split("_", 2)[2],
    "no-token": lambda made, plaintext: "Bearer",
    "two-words": lambda made, plaintext: f"Bearer {plaintext} extra",
    "not-ascii": lambda made, plaintext: "Bearer hip_é",
}


@pytest.mark.parametrize("spoil", REFUSALS.values(), ids=REFUSALS.keys())
def test_other_tokens_are_refused_with_401_and_the_bearer_challenge(token, spoil):
    authorization = spoil(*token)

    response = call(authorization)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE
    assert str(response.data["detail"]) == REFUSED


@pytest.mark.parametrize("spoil", REFUSALS.values(), ids=REFUSALS.keys())
def test_every_refusal_says_the_same_thing(token, spoil):
    """Nothing tells a caller whether a token exists, was revoked or has expired."""
    assert str(refusal(spoil(*token)).detail) == REFUSED


def test_without_a_header_it_steps_aside_for_the_session(viewer, client):
    request = views.APIView().initialize_request(APIRequestFactory().get("/"))

    assert PersonalTokenAuthentication().authenticate(request) is None
    response = call()
    assert response.status_code == 401  # not 403: the challenge makes it 401
    assert response["WWW-Authenticate"] == CHALLENGE


def test_another_scheme_is_left_to_the_other_classes(token):
    request = views.APIView().initialize_request(
        APIRequestFactory().get("/", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    )

    assert PersonalTokenAuthentication().authenticate(request) is None


@pytest.mark.urls(__name__)
def test_a_signed_in_session_still_works_alongside(client, viewer):
    client.force_login(viewer)

    response = client.get("/whoami/")

    assert response.status_code == 200
    assert response.json() == {"user": viewer.get_username(), "token": None}


@pytest.mark.urls(__name__)
def test_the_token_never_reaches_the_logs(client, token, caplog):
    made, plaintext = token
    other, other_text = tokens.token_create(
        user=made.user, name="revoked", expires_in_days=None, request=None
    )
    tokens.token_revoke(user=made.user, token_id=other.pk, request=None)
    django_logger = logging.getLogger("django")  # it does not propagate to the root
    # The settings keep SQL logging at INFO (its parameters hold patient data); here it
    # is turned on, to show that not even SQL would carry the token.
    sql_logger = logging.getLogger("django.db.backends")
    levels = {logger: logger.level for logger in (django_logger, sql_logger)}
    django_logger.addHandler(caplog.handler)
    connection.force_debug_cursor = True  # every SQL statement is logged as well
    try:
        with caplog.at_level(logging.DEBUG):
            for logger in levels:
                logger.setLevel(logging.DEBUG)
            ok = client.get(
                "/whoami/", headers={"Authorization": f"Bearer {plaintext}"}
            )
            refused = [
                client.get("/whoami/", headers={"Authorization": authorization})
                for authorization in (
                    f"Bearer {other_text}",
                    f"Bearer {plaintext[:-4]}AAAA",
                )
            ]
    finally:
        connection.force_debug_cursor = False
        django_logger.removeHandler(caplog.handler)
        for logger, level in levels.items():
            logger.setLevel(level)

    assert ok.status_code == 200
    assert [response.status_code for response in refused] == [401, 401]
    assert "Unauthorized: /whoami/" in caplog.text  # the logs were captured
    assert "accounts_apitoken" in caplog.text  # and so were the queries
    for text in (plaintext, other_text, plaintext[:-4]):
        assert text not in caplog.text
        assert text.split("_", 2)[2] not in caplog.text


def test_the_openapi_schema_describes_the_bearer_scheme():
    schema = SchemaGenerator(
        patterns=[path("api/v1/whoami/", Whoami.as_view())]
    ).get_schema(request=None, public=True)

    scheme = schema["components"]["securitySchemes"]["personalToken"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    operation = schema["paths"]["/api/v1/whoami/"]["get"]
    assert {"personalToken": []} in operation["security"]
