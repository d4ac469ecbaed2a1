from django.apps import AppConfig


class EditsConfig(AppConfig):
    name = "apps.edits"
    verbose_name = "Metadata edits"
