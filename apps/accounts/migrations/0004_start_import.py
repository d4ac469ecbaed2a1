"""The `start_import` permission, given to the existing admin role group (apps.accounts.roles);
viewers and editors do not get it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAME = "start_import"
ROLE = "admin"


def grant(apps, schema_editor):
    # As in 0002_roles: the permission row is normally made after all migrations, and the
    # historical app config needs a models module for create_permissions to make it now.
    config = apps.get_app_config("accounts")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(
        content_type__app_label="accounts", codename=CODENAME
    )
    # No admin group yet (a fresh database made it in 0002; a flushed one makes it again,
    # from the roles, in apps.accounts.services.role_group).
    for group in Group.objects.filter(name=ROLE):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for permission in Permission.objects.filter(
        content_type__app_label="accounts", codename=CODENAME
    ):
        for group in Group.objects.filter(name=ROLE):
            group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_api_token"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="portalpermission",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("browse", "Browse and search image sets, read metadata and history"),
                    ("queue_edit", "Queue metadata edits"),
                    ("force_edit", "Use Force on metadata edits"),
                    ("revert", "Revert image sets to an earlier version"),
                    ("view_audit_log", "Read and export the audit log"),
                    ("manage_users", "Manage users and their roles"),
                    ("start_import", "Start DICOM import jobs"),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
