"""Users with a role, for the history and revert tests.

A role is a Django group made by a migration; a transactional test's flush empties the
groups table, so the group is made again here (with its permissions) when it is missing.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission

from apps.accounts.roles import ROLE_PERMISSIONS


def user_with_role(username: str, role: str) -> AbstractBaseUser:
    group, created = Group.objects.get_or_create(name=role)
    if created:
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="accounts",
                codename__in=ROLE_PERMISSIONS[role],
            )
        )
    user = get_user_model().objects.create_user(username, password="not-used-here")
    user.groups.add(group)
    return user
