"""The roles as groups with their permissions. Re-running it brings them back to the
definition in apps.accounts.roles (a permission removed by hand comes back)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from apps.accounts.roles import ROLE_PERMISSIONS


def make_roles(apps, schema_editor):
    # Permissions are normally made after all migrations; the groups need them now. The
    # historical app config has no models module, which create_permissions requires.
    config = apps.get_app_config("accounts")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="accounts", codename__in=codenames
            )
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(make_roles, remove_roles)]
