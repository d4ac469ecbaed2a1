"""Edit routes: the form under its image set, then each edit by its id."""

from django.urls import path

# The image set routes register the `hid` converter these routes share.
import apps.imagesets.urls  # noqa: F401
from apps.edits import views

app_name = "edits"

urlpatterns = [
    path(
        "datastores/<hid:datastore_id>/image-sets/<hid:image_set_id>/edit/",
        views.edit_form,
        name="edit-form",
    ),
    path("edits/", views.edit_list, name="edit-list"),
    path("edits/<uuid:edit_id>/", views.edit_detail, name="edit-detail"),
    path("edits/<uuid:edit_id>/status/", views.edit_status, name="edit-status"),
    path("edits/<uuid:edit_id>/reapply/", views.edit_reapply, name="edit-reapply"),
    path(
        "edits/<uuid:edit_id>/check-again/",
        views.edit_check_again,
        name="edit-check-again",
    ),
]
