from django.apps import AppConfig


class ImageSetsConfig(AppConfig):
    """Browsing and searching data stores and image sets."""

    name = "apps.imagesets"
    label = "imagesets"
    verbose_name = "Image sets"
