"""The pages' role permissions, as DRF permission classes."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.accounts.permissions import PERMISSION_NEEDS


def portal_permission(permission: str) -> type[BasePermission]:
    """Signed in (session or token) and holding `permission`, e.g. "accounts.browse".

    Without credentials DRF answers 401; with them but without the permission, 403 with a
    message saying what the role lacks.
    """

    class HoldsPortalPermission(BasePermission):
        message = (
            f"Your role does not let you {PERMISSION_NEEDS.get(permission, 'do this')}."
        )

        def has_permission(self, request: Request, view: APIView) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perm(permission))

    HoldsPortalPermission.__name__ = f"Holds_{permission.replace('.', '_')}"
    return HoldsPortalPermission
