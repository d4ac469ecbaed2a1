from django.urls import path, register_converter

from apps.imagesets import views
from apps.imagesets.converters import HealthImagingIdConverter

register_converter(HealthImagingIdConverter, "hid")

app_name = "imagesets"

urlpatterns = [
    path("datastores/", views.datastore_list, name="datastore-list"),
    path(
        "datastores/<hid:datastore_id>/",
        views.image_set_list,
        name="image-set-list",
    ),
    path(
        "datastores/<hid:datastore_id>/image-sets/<hid:image_set_id>/",
        views.image_set_detail,
        name="image-set-detail",
    ),
    path(
        "datastores/<hid:datastore_id>/image-sets/<hid:image_set_id>/metadata.json",
        views.image_set_metadata,
        name="image-set-metadata",
    ),
]
