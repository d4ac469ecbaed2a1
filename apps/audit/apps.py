from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        connect_receivers()


def connect_receivers() -> None:
    """Sign-ins, sign-outs, failed sign-ins, lockouts (with django-axes) and role changes."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.signals import (
        user_logged_in,
        user_logged_out,
        user_login_failed,
    )
    from django.db.models.signals import m2m_changed, pre_save

    from apps.audit import receivers

    user_logged_in.connect(receivers.signed_in, dispatch_uid="audit.signed_in")
    user_logged_out.connect(receivers.signed_out, dispatch_uid="audit.signed_out")
    user_login_failed.connect(
        receivers.sign_in_failed, dispatch_uid="audit.sign_in_failed"
    )
    user_model = get_user_model()
    m2m_changed.connect(
        receivers.roles_changed,
        sender=user_model.groups.through,
        dispatch_uid="audit.roles_changed",
    )
    m2m_changed.connect(
        receivers.user_permissions_changed,
        sender=user_model.user_permissions.through,
        dispatch_uid="audit.user_permissions_changed",
    )
    pre_save.connect(
        receivers.account_flags_changed,
        sender=user_model,
        dispatch_uid="audit.account_flags_changed",
    )
    if any(app == "axes" or app.startswith("axes.") for app in settings.INSTALLED_APPS):
        from axes.signals import user_locked_out

        user_locked_out.connect(
            receivers.account_locked, dispatch_uid="audit.account_locked"
        )
