"""Giving a user a role: membership of exactly one of the role groups."""

from django.contrib.auth.models import AbstractBaseUser, Group, Permission

from apps.accounts.roles import ROLE_PERMISSIONS


def role_group(role: str) -> Group:
    """The role's group; made again, as the roles migration defines it, if it was deleted
    (by hand, or by a test database flush)."""
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"Unknown role {role!r}: one of {', '.join(ROLE_PERMISSIONS)}")
    group, created = Group.objects.get_or_create(name=role)
    if created:
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="accounts",
                codename__in=ROLE_PERMISSIONS[role],
            )
        )
    return group


def set_role(user: AbstractBaseUser, role: str) -> None:
    """Make `role` (viewer, editor or admin) the user's only role; other groups stay."""
    group = role_group(role)
    others = user.groups.filter(name__in=ROLE_PERMISSIONS).exclude(name=role)
    user.groups.remove(*others)
    user.groups.add(group)
    # Django caches permissions on the user object; a role change must show at once.
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)
