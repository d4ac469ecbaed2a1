"""Data stores and image sets: list and read data stores, search a data store's image sets
with the page's search form, read an image set's properties and metadata."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.roles import BROWSE
from apps.api.audit_trail import through_the_api
from apps.api.errors import form_invalid
from apps.api.permissions import portal_permission
from apps.api.schema import (
    HEALTHIMAGING_ERRORS,
    MAX_VERSION,
    accepting_empty,
    errors,
    form_parameters,
)
from apps.audit.services import audit_metadata_view, audit_search
from apps.imagesets import selectors
from apps.imagesets.forms import ImageSetSearchForm

EXPIRED_TOKEN = (
    "This next_token has expired or belongs to another search. "
    "Search again without it, with the same criteria."
)
# The search form refuses dates outside criteria.SEARCH_YEARS (1000 to 4999); so does the schema.
_SEARCH_DATE = {
    "type": "string",
    "format": "date",
    "pattern": r"^[1-4][0-9]{3}-[0-9]{2}-[0-9]{2}$",
}


class DatastoreOutputSerializer(serializers.Serializer):
    datastore_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    arn = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class DatastoreListOutputSerializer(serializers.Serializer):
    items = DatastoreOutputSerializer(many=True)


class DatastoreListApi(APIView):
    permission_classes = [portal_permission(BROWSE)]

    @extend_schema(
        operation_id="datastores_list",
        summary="Every data store, by name",
        responses={200: DatastoreListOutputSerializer, **errors(*HEALTHIMAGING_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        return Response(
            DatastoreListOutputSerializer({"items": selectors.datastore_list()}).data
        )


class DatastoreDetailApi(APIView):
    permission_classes = [portal_permission(BROWSE)]

    @extend_schema(
        operation_id="datastores_retrieve",
        summary="One data store",
        responses={200: DatastoreOutputSerializer, **errors(*HEALTHIMAGING_ERRORS)},
    )
    def get(self, request: Request, datastore_id: str) -> Response:
        datastore = selectors.datastore_get(datastore_id=datastore_id)
        return Response(DatastoreOutputSerializer(datastore).data)


class DicomTagsOutputSerializer(serializers.Serializer):
    patient_id = serializers.CharField(allow_null=True)
    patient_name = serializers.CharField(allow_null=True)
    patient_birth_date = serializers.CharField(allow_null=True)
    patient_sex = serializers.CharField(allow_null=True)
    study_instance_uid = serializers.CharField(allow_null=True)
    study_id = serializers.CharField(allow_null=True)
    study_description = serializers.CharField(allow_null=True)
    accession_number = serializers.CharField(allow_null=True)
    study_date = serializers.CharField(allow_null=True)
    study_time = serializers.CharField(allow_null=True)
    series_instance_uid = serializers.CharField(allow_null=True)
    modality = serializers.CharField(allow_null=True)
    body_part = serializers.CharField(allow_null=True)
    series_number = serializers.IntegerField(allow_null=True)
    series_count = serializers.IntegerField(allow_null=True)
    instance_count = serializers.IntegerField(allow_null=True)


class ImageSetSummaryOutputSerializer(serializers.Serializer):
    image_set_id = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    is_primary = serializers.BooleanField(allow_null=True)
    tags = DicomTagsOutputSerializer()


class ImageSetSearchOutputSerializer(serializers.Serializer):
    items = ImageSetSummaryOutputSerializer(many=True)
    next_token = serializers.CharField(
        allow_null=True,
        help_text="Pass it as `next_token`, with the same criteria, for the next page; "
        "null on the last page.",
    )


class ImageSetListApi(APIView):
    permission_classes = [portal_permission(BROWSE)]

    @extend_schema(
        operation_id="image_sets_search",
        summary="Search a data store's image sets",
        description="The image sets tab's search: one property filter (a value, or a "
        "date range for the date properties), a sort and a page size, validated exactly "
        "as the page validates them. Dates and times are UTC.",
        parameters=[
            *form_parameters(
                ImageSetSearchForm,
                schemas={"date_from": _SEARCH_DATE, "date_to": _SEARCH_DATE},
            ),
            OpenApiParameter(
                "next_token",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                description="The `next_token` of the previous page.",
            ),
        ],
        responses={
            200: ImageSetSearchOutputSerializer,
            **errors(400, *HEALTHIMAGING_ERRORS),
        },
    )
    def get(self, request: Request, datastore_id: str) -> Response:
        form = ImageSetSearchForm(request.query_params)
        if not form.is_valid():
            raise form_invalid(form)
        next_token = request.query_params.get("next_token") or None
        results = selectors.image_set_search(
            datastore_id=datastore_id,
            criteria=form.criteria,
            page_size=form.cleaned_data["page_size"],
            cursor=next_token,
        )
        if results.expired:
            raise serializers.ValidationError({"next_token": [EXPIRED_TOKEN]})
        audit_search(
            request._request,
            datastore_id=datastore_id,
            parameters=form.search_parameters(),
            shown=len(results.items),
            done=through_the_api(request, "Searched"),
        )
        return Response(
            ImageSetSearchOutputSerializer(
                {"items": results.items, "next_token": results.next_token}
            ).data
        )


class ImageSetOutputSerializer(serializers.Serializer):
    datastore_id = serializers.CharField()
    image_set_id = serializers.CharField()
    version = serializers.IntegerField()
    state = serializers.CharField(help_text="ACTIVE, LOCKED or DELETED.")
    workflow_status = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(allow_null=True)
    arn = serializers.CharField(allow_null=True)
    is_primary = serializers.BooleanField(allow_null=True)
    forced = serializers.BooleanField()


class ImageSetDetailApi(APIView):
    permission_classes = [portal_permission(BROWSE)]

    @extend_schema(
        operation_id="image_sets_retrieve",
        summary="An image set's properties (its latest version)",
        responses={200: ImageSetOutputSerializer, **errors(*HEALTHIMAGING_ERRORS)},
    )
    def get(self, request: Request, datastore_id: str, image_set_id: str) -> Response:
        image_set = selectors.image_set_get(
            datastore_id=datastore_id, image_set_id=image_set_id
        )
        return Response(ImageSetOutputSerializer(image_set).data)


class MetadataInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        required=False,
    )


class ImageSetMetadataApi(APIView):
    permission_classes = [portal_permission(BROWSE)]

    @extend_schema(
        operation_id="image_sets_metadata",
        summary="An image set's DICOM metadata document",
        description="The metadata document as HealthImaging holds it (Patient, Study, "
        "Series, Instances). Every read is recorded in the audit trail.",
        parameters=[
            OpenApiParameter(
                "version",
                accepting_empty(
                    {"type": "integer", "minimum": 1, "maximum": MAX_VERSION}
                ),
                OpenApiParameter.QUERY,
                description="A version number; the latest when left out (or empty).",
            )
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(400, *HEALTHIMAGING_ERRORS)},
    )
    def get(self, request: Request, datastore_id: str, image_set_id: str) -> Response:
        query = MetadataInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        version = query.validated_data.get("version")
        document = selectors.image_set_metadata_get(
            datastore_id=datastore_id, image_set_id=image_set_id, version=version
        )
        audit_metadata_view(
            request._request,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            version_to=version,
            outcome=through_the_api(request, "Read"),
        )
        return Response(document)
