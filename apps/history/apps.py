from django.apps import AppConfig


class HistoryConfig(AppConfig):
    """An image set's versions: the history tab, a version's metadata, diffs, revert."""

    name = "apps.history"
    verbose_name = "Version history"
