"""REST API sign-in with a personal API token (`Authorization: Bearer hip_...`), and how the
OpenAPI schema describes it.

It must come first in DEFAULT_AUTHENTICATION_CLASSES: DRF takes the WWW-Authenticate
challenge from the first class, and a challenge is what makes a refusal 401, not 403.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apps.accounts.models import ApiToken
from apps.accounts.tokens import token_user

KEYWORD = "Bearer"
# One answer for every refusal, so a caller learns nothing about which tokens exist.
REFUSED = (
    "Invalid API token: it is malformed, unknown, expired or revoked, or its account is "
    "disabled. Create a new one on the API tokens page of the portal."
)


class PersonalTokenAuthentication(BaseAuthentication):
    """`request.user` is the token's owner and `request.auth` the `ApiToken`."""

    def authenticate(
        self, request: Request
    ) -> tuple[AbstractBaseUser, ApiToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != KEYWORD.lower().encode():
            # Not ours (no header, or another scheme): let the next class try.
            return None
        if len(words) != 2:
            raise AuthenticationFailed(REFUSED)
        try:
            plaintext = words[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(REFUSED) from None
        token = token_user(plaintext=plaintext)
        if token is None:
            raise AuthenticationFailed(REFUSED)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """Found by drf-spectacular because it subclasses the extension; it lives here so that
    loading the authentication class registers it."""

    target_class = "apps.accounts.authentication.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "hip_<prefix>_<secret>",
            "description": (
                "A personal API token, made on the portal's API tokens page. It acts "
                "with its owner's role."
            ),
        }
