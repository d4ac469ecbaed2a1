"""Metadata edits and reverts: queue them, list them, follow one to its end, re-apply one
in conflict, check a still-locked one again.

An edit's changes are checked by the edit form itself (its advanced editor's rows), so the
API accepts exactly what the page accepts, with the same messages; the services queue it.
"""

from django.db.models import QuerySet
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from apps.accounts.roles import FORCE_EDIT, QUEUE_EDIT, REVERT
from apps.api.errors import ApiError, form_errors
from apps.api.pagination import PageNumberPagination
from apps.api.permissions import portal_permission
from apps.api.schema import (
    HEALTHIMAGING_ERRORS,
    HEALTHIMAGING_ID,
    MAX_VERSION,
    BoundedListSerializer,
    TextField,
    errors,
)
from apps.edits import selectors, services
from apps.edits.changes import LEVELS, dicom_updates
from apps.edits.forms import (
    FORCE_REFUSED,
    MAX_ROWS,
    REASON_MAX_LENGTH,
    MetadataEditForm,
)
from apps.edits.models import MetadataEdit
from apps.edits.rules import VALID_VRS
from apps.healthimaging import errors as healthimaging_errors
from apps.history import selectors as history_selectors
from apps.imagesets.selectors import image_set_get


class ChangeSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=LEVELS)
    attribute = TextField(
        max_length=64,
        help_text="A DICOM keyword such as StudyDescription, or a tag such as "
        "(0009,1001) or 00091001.",
    )
    value = TextField(
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        help_text="The new value as text; several values separated by a backslash. "
        "Empty or null sends an empty value. Ignored with `remove`.",
    )
    remove = serializers.BooleanField(
        default=False, help_text="Remove the attribute instead."
    )
    series_uid = TextField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="For Series and Instance level: the series.",
    )
    instance_uid = TextField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="For Instance level: the SOP instance.",
    )
    vr = serializers.ChoiceField(
        choices=sorted(VALID_VRS),
        required=False,
        allow_blank=True,
        help_text="Only for a private tag: its value representation.",
    )


class EditInputSerializer(serializers.Serializer):
    changes = BoundedListSerializer(
        child=ChangeSerializer(), min_length=1, max_length=MAX_ROWS
    )
    reason = TextField(max_length=REASON_MAX_LENGTH)
    force = serializers.BooleanField(
        default=False,
        help_text="Override HealthImaging's DICOM checks (admins only). Needed for "
        "identifiers, private tags and values that break their VR.",
    )
    base_version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        required=False,
        help_text="The version the changes were made against; the latest when left "
        "out. If the image set has moved on since, the edit ends in conflict.",
    )


class RevertInputSerializer(serializers.Serializer):
    revert_to_version = serializers.IntegerField(min_value=1, max_value=MAX_VERSION)
    reason = TextField(max_length=2000)
    base_version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        required=False,
        help_text="The latest version you saw. If the image set has moved on since, "
        "the revert is refused (409) so you can review it again.",
    )


class ChangeOutputSerializer(serializers.Serializer):
    level = serializers.CharField()
    attribute = serializers.CharField()
    series_uid = serializers.CharField()
    instance_uid = serializers.CharField()
    old = serializers.JSONField(allow_null=True, help_text="The value seen.")
    new = serializers.JSONField(allow_null=True)
    remove = serializers.BooleanField()
    vr = serializers.CharField()


class EditOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    datastore_id = serializers.CharField()
    image_set_id = serializers.CharField()
    status = serializers.ChoiceField(choices=MetadataEdit.Status.choices)
    status_label = serializers.CharField(source="get_status_display")
    is_active = serializers.BooleanField(
        help_text="Queued or updating: poll again (every few seconds) until false."
    )
    requested_by = serializers.CharField(source="requested_by.username")
    reason = serializers.CharField()
    force = serializers.BooleanField()
    base_version = serializers.IntegerField()
    revert_to_version = serializers.IntegerField(allow_null=True)
    changes = ChangeOutputSerializer(many=True, source="attribute_changes")
    dicom_updates = serializers.SerializerMethodField(
        help_text="The DICOMUpdates payload sent to UpdateImageSetMetadata."
    )
    accepted_version = serializers.IntegerField(
        allow_null=True, help_text="The version HealthImaging made for this edit."
    )
    message = serializers.CharField(
        help_text="HealthImaging's message, or why the job stopped."
    )
    attempts = serializers.IntegerField()
    can_reapply = serializers.BooleanField()
    reapplies = serializers.UUIDField(source="reapplies_id", allow_null=True)
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=["edit", "revert"]))
    def get_kind(self, edit: MetadataEdit) -> str:
        return "revert" if edit.is_revert else "edit"

    @extend_schema_field(serializers.URLField())
    def get_url(self, edit: MetadataEdit) -> str:
        return reverse(
            "api:edit-detail", args=[edit.pk], request=self.context.get("request")
        )

    @extend_schema_field(serializers.DictField())
    def get_dicom_updates(self, edit: MetadataEdit) -> dict:
        return dicom_updates(edit.attribute_changes)


def _accepted(request: Request, edit: MetadataEdit) -> Response:
    """202: queued; follow it at its `url` (also the Location header)."""
    data = EditOutputSerializer(edit, context={"request": request}).data
    return Response(
        data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]}
    )


class ImageSetEditCreateApi(APIView):
    permission_classes = [portal_permission(QUEUE_EDIT)]

    @extend_schema(
        operation_id="edits_create",
        summary="Queue a metadata edit",
        description="The changes are checked as the edit form checks them (each "
        "attribute's level, VR and the service's update rules) against `base_version`, "
        "then queued. The edit's `url` (and the Location header) follows it to the end.",
        request=EditInputSerializer,
        responses={
            202: EditOutputSerializer,
            **errors(400, 409, *HEALTHIMAGING_ERRORS),
        },
    )
    def post(self, request: Request, datastore_id: str, image_set_id: str) -> Response:
        data = _valid(EditInputSerializer, request)
        can_force = request.user.has_perm(FORCE_EDIT)
        if data["force"] and not can_force:
            raise PermissionDenied(FORCE_REFUSED)
        basis = _edit_basis(datastore_id, image_set_id, data.get("base_version"))
        form = MetadataEditForm(
            _form_data(data, basis.version),
            document=basis.document,
            can_force=can_force,
            common_fields=False,
        )
        if not form.is_valid():
            raise serializers.ValidationError(_form_errors(form))
        edit = services.queue_edit(
            user=request.user,
            request=request._request,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            base_version=basis.version,
            changes=form.changes,
            force=data["force"],
            reason=form.cleaned_data["reason"],
        )
        return _accepted(request, edit)


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _edit_basis(
    datastore_id: str, image_set_id: str, version: int | None
) -> selectors.EditBasis:
    """The metadata the changes are checked against: `version`'s, or the latest."""
    try:
        return selectors.edit_basis_get(
            datastore_id=datastore_id, image_set_id=image_set_id, version=version
        )
    except healthimaging_errors.NotFound:
        if version is None:
            raise
        # The image set exists (or this raises NotFound again): the version does not.
        latest = image_set_get(datastore_id=datastore_id, image_set_id=image_set_id)
        raise serializers.ValidationError(
            {
                "base_version": [
                    f"The image set's latest version is {latest.version}; "
                    f"there is no version {version}."
                ]
            }
        ) from None


def _form_data(data: dict, base_version: int) -> QueryDict:
    """The request as the edit form's POST: one advanced-editor row per change."""
    form_data = QueryDict(mutable=True)
    form_data.update(
        {
            "base_version": str(base_version),
            "reason": data["reason"],
            "rows-TOTAL_FORMS": str(len(data["changes"])),
            "rows-INITIAL_FORMS": "0",
        }
    )
    if data["force"]:
        form_data["force"] = "on"
    for index, change in enumerate(data["changes"]):
        prefix = f"rows-{index}-"
        form_data.update(
            {
                f"{prefix}level": change["level"],
                f"{prefix}attribute": change["attribute"],
                f"{prefix}value": change.get("value") or "",
                f"{prefix}series_uid": change.get("series_uid", ""),
                f"{prefix}instance_uid": change.get("instance_uid", ""),
                f"{prefix}vr": change.get("vr", ""),
            }
        )
        if change["remove"]:
            form_data[f"{prefix}remove"] = "on"
    return form_data


def _form_errors(form: MetadataEditForm) -> dict:
    """The form's errors in the request's shape: `changes` by index, then the rest."""
    found: dict = {}
    rows = [form_errors(row.errors) for row in form.rows.forms]
    if any(rows):
        found["changes"] = rows
    found.update(form_errors(form.errors))
    if form.rows.non_form_errors():
        found.setdefault("non_field_errors", []).extend(form.rows.non_form_errors())
    return found


class ImageSetRevertCreateApi(APIView):
    permission_classes = [portal_permission(REVERT)]

    @extend_schema(
        operation_id="reverts_create",
        summary="Queue a revert to an earlier version",
        description="HealthImaging makes a new version equal to `revert_to_version`. "
        "Refused (409) when that version is the latest or failed, when an edit is in "
        "progress, or when the image set moved on from `base_version`. Followed like an "
        "edit, at its `url`.",
        request=RevertInputSerializer,
        responses={
            202: EditOutputSerializer,
            **errors(400, 409, *HEALTHIMAGING_ERRORS),
        },
    )
    def post(self, request: Request, datastore_id: str, image_set_id: str) -> Response:
        data = _valid(RevertInputSerializer, request)
        history = history_selectors.history_get(
            datastore_id=datastore_id, image_set_id=image_set_id
        )
        latest = history.image_set.version
        refusal = history_selectors.revert_refusal(history, data["revert_to_version"])
        if refusal is None and data.get("base_version", latest) != latest:
            refusal = (
                f"The image set changed since version {data['base_version']}: it is "
                f"now at version {latest}. Review what the revert will change, then "
                "send it again."
            )
        if refusal is not None:
            raise ApiError(
                status_code=status.HTTP_409_CONFLICT, code="conflict", message=refusal
            )
        edit = services.queue_revert(
            user=request.user,
            request=request._request,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            base_version=latest,
            revert_to_version=data["revert_to_version"],
            reason=data["reason"],
        )
        return _accepted(request, edit)


class EditFilterSerializer(serializers.Serializer):
    """The list's filters; an empty value is no filter."""

    status = serializers.ChoiceField(
        choices=MetadataEdit.Status.choices, required=False, allow_blank=True
    )
    datastore_id = serializers.RegexField(
        HEALTHIMAGING_ID, required=False, allow_blank=True, trim_whitespace=False
    )
    image_set_id = serializers.RegexField(
        HEALTHIMAGING_ID, required=False, allow_blank=True, trim_whitespace=False
    )


class EditListApi(ListAPIView):
    permission_classes = [portal_permission(QUEUE_EDIT)]
    serializer_class = EditOutputSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet[MetadataEdit]:
        filters = EditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        edits = selectors.edits_visible_to(user=self.request.user).order_by(
            "-created_at", "-id"
        )
        return edits.filter(
            **{name: value for name, value in filters.validated_data.items() if value}
        )

    @extend_schema(
        operation_id="edits_list",
        summary="Edits and reverts, newest first",
        description="Your own; everyone's for those who may read the audit log (admins).",
        parameters=[EditFilterSerializer],
        responses={200: EditOutputSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


def _visible_edit(request: Request, edit_id: object) -> MetadataEdit:
    """The edit, if this user may see it; 404 otherwise, so others' edits stay unknown."""
    return get_object_or_404(selectors.edits_visible_to(user=request.user), pk=edit_id)


class EditDetailApi(APIView):
    permission_classes = [portal_permission(QUEUE_EDIT)]

    @extend_schema(
        operation_id="edits_retrieve",
        summary="An edit or revert, with its live status",
        responses={200: EditOutputSerializer, **errors(404)},
    )
    def get(self, request: Request, edit_id: str) -> Response:
        edit = _visible_edit(request, edit_id)
        return Response(EditOutputSerializer(edit, context={"request": request}).data)


class EditReapplyApi(APIView):
    permission_classes = [portal_permission(QUEUE_EDIT)]

    @extend_schema(
        operation_id="edits_reapply",
        summary="Queue an edit in conflict (or failed) again, on the latest version",
        request=None,
        responses={
            202: EditOutputSerializer,
            **errors(400, 409, *HEALTHIMAGING_ERRORS),
        },
    )
    def post(self, request: Request, edit_id: str) -> Response:
        edit = _visible_edit(request, edit_id)
        if edit.is_revert and not request.user.has_perm(REVERT):
            raise PermissionDenied("Your role does not let you revert image sets.")
        again = services.reapply_edit(
            edit=edit, user=request.user, request=request._request
        )
        return _accepted(request, again)


class EditCheckAgainApi(APIView):
    permission_classes = [portal_permission(QUEUE_EDIT)]

    @extend_schema(
        operation_id="edits_check_again",
        summary="Follow an edit that was still locked at its deadline again",
        request=None,
        responses={202: EditOutputSerializer, **errors(409, 404)},
    )
    def post(self, request: Request, edit_id: str) -> Response:
        edit = _visible_edit(request, edit_id)
        services.check_again(edit=edit, user=request.user, request=request._request)
        edit.refresh_from_db()
        return _accepted(request, edit)
