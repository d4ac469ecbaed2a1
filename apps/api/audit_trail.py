"""How the API names a read in the audit trail: what was done, and through which token (or a
signed-in session), so that after a token leaks an admin can see what it read."""

from rest_framework.request import Request

from apps.accounts.models import ApiToken


def through_the_api(request: Request, done: str) -> str:
    via = (
        f"token {request.auth.prefix}"
        if isinstance(request.auth, ApiToken)
        else "signed-in session"
    )
    return f"{done} through the API ({via})"
