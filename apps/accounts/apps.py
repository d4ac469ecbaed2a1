from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Roles (viewer, editor, admin), the permission checks every view makes, and session
    security (absolute lifetime, sign-in lockout)."""

    name = "apps.accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from apps.accounts.sessions import record_sign_in

        user_logged_in.connect(record_sign_in, dispatch_uid="accounts.record_sign_in")
