from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """A data store's DICOM import jobs: the Import jobs tab, a job's page, starting one."""

    name = "apps.imports"
    label = "imports"
    verbose_name = "DICOM imports"
