from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Roles (viewer, editor, admin) and the permission checks every view makes."""

    name = "apps.accounts"
    verbose_name = "Accounts and roles"
