"""History routes, under their image set: the versions, one version, compare, revert."""

from django.urls import path

# The image set routes register the `hid` converter these routes share.
import apps.imagesets.urls  # noqa: F401
from apps.history import views

app_name = "history"

_IMAGE_SET = "datastores/<hid:datastore_id>/image-sets/<hid:image_set_id>/history/"

urlpatterns = [
    path(_IMAGE_SET, views.version_list, name="version-list"),
    path(
        f"{_IMAGE_SET}versions/<int:version>/",
        views.version_detail,
        name="version-detail",
    ),
    path(f"{_IMAGE_SET}compare/", views.compare, name="compare"),
    path(
        f"{_IMAGE_SET}versions/<int:version>/revert/",
        views.revert,
        name="revert",
    ),
]
