"""The audit log, filtered as on its page, as JSON pages or CSV."""

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.roles import VIEW_AUDIT_LOG
from apps.api.errors import form_invalid
from apps.api.pagination import PageNumberPagination
from apps.api.permissions import portal_permission
from apps.api.schema import errors, form_parameters
from apps.audit import exports, selectors
from apps.audit.forms import AuditFilterForm
from apps.audit.models import AuditEvent


class AuditEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    subject = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    action_label = serializers.CharField(source="get_action_display")

    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "at",
            "action",
            "action_label",
            "actor",
            "username",
            "subject",
            "ip_address",
            "datastore_id",
            "image_set_id",
            "edit_id",
            "version_from",
            "version_to",
            "reason",
            "forced",
            "outcome",
        )

    def get_actor(self, event: AuditEvent) -> str | None:
        return event.actor.get_username() if event.actor else None


class AuditPagination(PageNumberPagination):
    max_page_size = 500


# The filter form lowercases IDs before checking them, so either case is accepted.
_ID_ANY_CASE = {"type": "string", "pattern": "^[0-9A-Za-z]{32}$"}
FILTER_PARAMETERS = form_parameters(
    AuditFilterForm,
    schemas={"datastore_id": _ID_ANY_CASE, "image_set_id": _ID_ANY_CASE},
)


def _filtered_events(request: Request) -> QuerySet[AuditEvent]:
    form = AuditFilterForm(request.query_params)
    if not form.is_valid():
        raise form_invalid(form)
    return selectors.audit_event_list(**form.filters())


class AuditEventListApi(ListAPIView):
    permission_classes = [portal_permission(VIEW_AUDIT_LOG)]
    serializer_class = AuditEventOutputSerializer
    pagination_class = AuditPagination

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return _filtered_events(self.request)

    @extend_schema(
        operation_id="audit_events_list",
        summary="Audit events, newest first",
        description="Filtered as on the audit log page: by user (who acted, who was "
        "acted on, or the name a sign-in used), action, data store, image set and a time "
        "range (UTC; a date alone as `end` means the end of that day).",
        parameters=FILTER_PARAMETERS,
        responses={200: AuditEventOutputSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class IgnoreAccept(BaseContentNegotiation):
    """The export answers CSV whatever the client accepts (`text/csv` included), and its
    errors as JSON, like every other endpoint."""

    def select_parser(self, request: Request, parsers: list) -> object:
        return parsers[0]

    def select_renderer(
        self, request: Request, renderers: list, format_suffix: str | None = None
    ) -> tuple:
        return renderers[0], renderers[0].media_type


class AuditEventExportApi(APIView):
    permission_classes = [portal_permission(VIEW_AUDIT_LOG)]
    content_negotiation_class = IgnoreAccept

    @extend_schema(
        operation_id="audit_events_export",
        summary="Audit events as CSV, with the same filters",
        parameters=FILTER_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="One row per event, newest first."
            ),
            **errors(400),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return exports.csv_response(_filtered_events(request))
