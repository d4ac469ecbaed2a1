from django.apps import AppConfig


class HealthImagingConfig(AppConfig):
    """The gateway to AWS HealthImaging; no models."""

    name = "apps.healthimaging"
    label = "healthimaging"
    verbose_name = "HealthImaging gateway"
