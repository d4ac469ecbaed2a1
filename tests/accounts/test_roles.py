"""The roles are Django groups made by a migration, with exactly these permissions."""

import importlib

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.accounts.roles import ROLE_PERMISSIONS

pytestmark = pytest.mark.django_db


def run_roles_migration():
    """The roles migration's own function, on the schema as it leaves it (a test database
    flush by an earlier transactional test deletes the groups it made at set-up)."""
    executor = MigrationExecutor(connection)
    state = executor.loader.project_state(("accounts", "0002_roles"))
    importlib.import_module("apps.accounts.migrations.0002_roles").make_roles(
        state.apps, None
    )


def role_permissions():
    return {
        group.name: {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        for group in Group.objects.all()
    }


def test_the_migration_makes_exactly_the_three_roles_with_their_permissions():
    Group.objects.all().delete()
    run_roles_migration()

    assert role_permissions() == {
        "viewer": {"accounts.browse"},
        "editor": {"accounts.browse", "accounts.queue_edit"},
        "admin": {
            "accounts.browse",
            "accounts.queue_edit",
            "accounts.force_edit",
            "accounts.revert",
            "accounts.view_audit_log",
            "accounts.manage_users",
            "accounts.start_import",
        },
    }
    assert set(role_permissions()) == set(ROLE_PERMISSIONS)


def test_running_the_migration_again_puts_a_removed_permission_back():
    run_roles_migration()
    admin = Group.objects.get(name="admin")
    admin.permissions.remove(Permission.objects.get(codename="force_edit"))
    Group.objects.create(name="someone-elses-group")

    run_roles_migration()

    assert "accounts.force_edit" in role_permissions()["admin"]
    assert Group.objects.filter(name="someone-elses-group").exists()


def test_set_role_makes_a_deleted_role_group_again_as_defined(make_user):
    Group.objects.filter(name="editor").delete()

    user = make_user("editor")

    assert role_permissions()["editor"] == {"accounts.browse", "accounts.queue_edit"}
    assert user.has_perm("accounts.queue_edit")


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (
            "viewer",
            {"browse"},
            {"queue_edit", "force_edit", "revert", "view_audit_log", "start_import"},
        ),
        (
            "editor",
            {"browse", "queue_edit"},
            {"force_edit", "revert", "view_audit_log", "start_import"},
        ),
        (
            "admin",
            {
                "browse",
                "queue_edit",
                "force_edit",
                "revert",
                "view_audit_log",
                "start_import",
            },
            set(),
        ),
    ],
)
def test_a_member_of_a_role_holds_its_permissions_and_no_others(
    make_user, role, allowed, refused
):
    user = make_user(role)

    assert all(user.has_perm(f"accounts.{name}") for name in allowed)
    assert not any(user.has_perm(f"accounts.{name}") for name in refused)


def test_set_role_replaces_the_previous_role_at_once(make_user):
    from apps.accounts.services import set_role

    user = make_user("admin")
    assert user.has_perm("accounts.force_edit")

    set_role(user, "viewer")

    assert [group.name for group in user.groups.all()] == ["viewer"]
    assert not user.has_perm("accounts.force_edit")
    assert user.has_perm("accounts.browse")


def test_set_role_refuses_an_unknown_role(make_user):
    from apps.accounts.services import set_role

    with pytest.raises(ValueError, match="Unknown role"):
        set_role(make_user(None), "superhero")


def test_the_start_import_migration_gives_it_to_the_existing_admin_group_only():
    """0004_start_import, on a database whose roles were made before it existed."""
    run_roles_migration()
    start_import = Permission.objects.get(codename="start_import")
    Group.objects.get(name="admin").permissions.remove(start_import)
    migration = importlib.import_module("apps.accounts.migrations.0004_start_import")
    state = MigrationExecutor(connection).loader.project_state(
        ("accounts", "0004_start_import")
    )

    migration.grant(state.apps, None)

    permissions = role_permissions()
    assert "accounts.start_import" in permissions["admin"]
    assert "accounts.start_import" not in permissions["viewer"] | permissions["editor"]

    migration.revoke(state.apps, None)

    assert "accounts.start_import" not in role_permissions()["admin"]
