"""The REST API under /api/v1/, its OpenAPI schema and its documentation page."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# The image set and import routes register the `hid` and `jobid` converters used here.
import apps.imagesets.urls  # noqa: F401
import apps.imports.urls  # noqa: F401
from apps.api import audit, edits, history, imagesets, imports
from apps.core.viewtools import signed_in

app_name = "api"

_IMAGE_SET = "v1/datastores/<hid:datastore_id>/image-sets/<hid:image_set_id>/"

urlpatterns = [
    path("v1/datastores/", imagesets.DatastoreListApi.as_view(), name="datastore-list"),
    path(
        "v1/datastores/<hid:datastore_id>/",
        imagesets.DatastoreDetailApi.as_view(),
        name="datastore-detail",
    ),
    path(
        "v1/datastores/<hid:datastore_id>/image-sets/",
        imagesets.ImageSetListApi.as_view(),
        name="image-set-list",
    ),
    path(_IMAGE_SET, imagesets.ImageSetDetailApi.as_view(), name="image-set-detail"),
    path(
        f"{_IMAGE_SET}metadata/",
        imagesets.ImageSetMetadataApi.as_view(),
        name="image-set-metadata",
    ),
    path(
        f"{_IMAGE_SET}versions/", history.VersionListApi.as_view(), name="version-list"
    ),
    path(f"{_IMAGE_SET}diff/", history.DiffApi.as_view(), name="diff"),
    path(
        f"{_IMAGE_SET}edits/", edits.ImageSetEditCreateApi.as_view(), name="edit-create"
    ),
    path(
        f"{_IMAGE_SET}reverts/",
        edits.ImageSetRevertCreateApi.as_view(),
        name="revert-create",
    ),
    path(
        "v1/datastores/<hid:datastore_id>/import-jobs/",
        imports.ImportJobListApi.as_view(),
        name="import-job-list",
    ),
    path(
        "v1/datastores/<hid:datastore_id>/import-jobs/<jobid:job_id>/",
        imports.ImportJobDetailApi.as_view(),
        name="import-job-detail",
    ),
    path("v1/edits/", edits.EditListApi.as_view(), name="edit-list"),
    path("v1/edits/<uuid:edit_id>/", edits.EditDetailApi.as_view(), name="edit-detail"),
    path(
        "v1/edits/<uuid:edit_id>/reapply/",
        edits.EditReapplyApi.as_view(),
        name="edit-reapply",
    ),
    path(
        "v1/edits/<uuid:edit_id>/check-again/",
        edits.EditCheckAgainApi.as_view(),
        name="edit-check-again",
    ),
    path(
        "v1/audit-events/", audit.AuditEventListApi.as_view(), name="audit-event-list"
    ),
    path(
        "v1/audit-events/export/",
        audit.AuditEventExportApi.as_view(),
        name="audit-event-export",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # A page for people: signed-in users only, sent to sign in otherwise.
    path(
        "docs/",
        signed_in(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
]
