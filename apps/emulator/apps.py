from django.apps import AppConfig


class EmulatorConfig(AppConfig):
    """Gives `manage.py` the emulator's commands; the emulator keeps no Django models."""

    name = "apps.emulator"
    label = "emulator"
    verbose_name = "HealthImaging emulator"
