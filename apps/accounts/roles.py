"""The three roles and what each may do; the migration makes them Django groups."""

VIEWER, EDITOR, ADMIN = "viewer", "editor", "admin"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: ("browse",),
    EDITOR: ("browse", "queue_edit"),
    ADMIN: (
        "browse",
        "queue_edit",
        "force_edit",
        "revert",
        "view_audit_log",
        "manage_users",
        "start_import",
    ),
}

BROWSE = "accounts.browse"
QUEUE_EDIT = "accounts.queue_edit"
FORCE_EDIT = "accounts.force_edit"
REVERT = "accounts.revert"
VIEW_AUDIT_LOG = "accounts.view_audit_log"
MANAGE_USERS = "accounts.manage_users"
START_IMPORT = "accounts.start_import"
