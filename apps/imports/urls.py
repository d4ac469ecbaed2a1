"""Import routes, under their data store: the Import jobs tab, Start import, each job."""

from django.urls import path, register_converter

# The image set routes register the `hid` converter these routes share.
import apps.imagesets.urls  # noqa: F401
from apps.imports import views


class JobIdConverter:
    """An import job ID: the model's JobId, 1 to 32 lowercase letters and digits."""

    regex = "[0-9a-z]{1,32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(JobIdConverter, "jobid")

app_name = "imports"

urlpatterns = [
    path("datastores/<hid:datastore_id>/imports/", views.job_list, name="job-list"),
    path(
        "datastores/<hid:datastore_id>/imports/status/",
        views.job_list_status,
        name="job-list-status",
    ),
    # Before the job routes: `start` and `status` would also read as job IDs.
    path(
        "datastores/<hid:datastore_id>/imports/start/",
        views.job_start,
        name="job-start",
    ),
    path(
        "datastores/<hid:datastore_id>/imports/<jobid:job_id>/",
        views.job_detail,
        name="job-detail",
    ),
    path(
        "datastores/<hid:datastore_id>/imports/<jobid:job_id>/status/",
        views.job_status,
        name="job-status",
    ),
]
