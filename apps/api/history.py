"""An image set's versions, and the attribute-level difference between two of them."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.roles import BROWSE
from apps.api.audit_trail import through_the_api
from apps.api.errors import ApiError, form_invalid
from apps.api.permissions import portal_permission
from apps.api.schema import HEALTHIMAGING_ERRORS, MAX_VERSION, errors
from apps.audit.services import audit_metadata_view
from apps.edits.selectors import edits_visible_to
from apps.history import selectors
from apps.history.diff import Change, LevelKind, Presence
from apps.history.forms import CompareForm


class VersionEditOutputSerializer(serializers.Serializer):
    """The portal edit or revert that made a version."""

    edit_id = serializers.UUIDField(
        allow_null=True,
        help_text="The edit, for those who may read it (its requester and admins).",
    )
    kind = serializers.ChoiceField(choices=["edit", "revert"])
    requested_by = serializers.CharField()
    reason = serializers.CharField()


class VersionOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="entry.version")
    state = serializers.CharField(source="entry.state")
    workflow_status = serializers.CharField(
        source="entry.workflow_status", allow_null=True
    )
    created_at = serializers.DateTimeField(source="entry.created_at", allow_null=True)
    updated_at = serializers.DateTimeField(source="entry.updated_at", allow_null=True)
    deleted_at = serializers.DateTimeField(source="entry.deleted_at", allow_null=True)
    message = serializers.CharField(source="entry.message", allow_null=True)
    forced = serializers.BooleanField(source="entry.forced")
    is_latest = serializers.BooleanField()
    can_be_restored = serializers.BooleanField()
    made_by_portal = serializers.SerializerMethodField()

    @extend_schema_field(VersionEditOutputSerializer(allow_null=True))
    def get_made_by_portal(self, row: selectors.VersionRow) -> dict | None:
        edit = row.edit
        if edit is None:
            return None
        visible = self.context["visible_edit_ids"]
        return VersionEditOutputSerializer(
            {
                "edit_id": edit.pk if edit.pk in visible else None,
                "kind": "revert" if edit.is_revert else "edit",
                "requested_by": edit.requested_by.get_username(),
                "reason": edit.reason,
            }
        ).data


class VersionListOutputSerializer(serializers.Serializer):
    items = VersionOutputSerializer(many=True, help_text="Newest first.")


class VersionListApi(APIView):
    permission_classes = [portal_permission(BROWSE)]

    @extend_schema(
        operation_id="image_sets_versions",
        summary="Every version of an image set, newest first",
        responses={200: VersionListOutputSerializer, **errors(*HEALTHIMAGING_ERRORS)},
    )
    def get(self, request: Request, datastore_id: str, image_set_id: str) -> Response:
        history = selectors.history_get(
            datastore_id=datastore_id, image_set_id=image_set_id
        )
        made = [row.edit.pk for row in history.rows if row.edit is not None]
        visible = set(
            edits_visible_to(user=request.user)
            .filter(pk__in=made)
            .values_list("pk", flat=True)
        )
        return Response(
            VersionListOutputSerializer(
                {"items": history.rows}, context={"visible_edit_ids": visible}
            ).data
        )


class AttributeDiffOutputSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="As in the document: a keyword or a tag.")
    label = serializers.CharField(help_text="The keyword, or a tag as (gggg,eeee).")
    change = serializers.ChoiceField(choices=[change.value for change in Change])
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)
    old_vr = serializers.CharField(allow_null=True)
    new_vr = serializers.CharField(allow_null=True)
    technical = serializers.BooleanField(
        help_text="Outside the level's DICOM attributes (such as ImageFrames)."
    )


class LevelDiffOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[kind.value for kind in LevelKind])
    title = serializers.CharField()
    uid = serializers.CharField(
        allow_null=True, help_text="The series or SOP instance UID."
    )
    series_uid = serializers.CharField(
        allow_null=True, help_text="An instance's series."
    )
    presence = serializers.ChoiceField(choices=[p.value for p in Presence])
    instance_uids = serializers.ListField(
        child=serializers.CharField(),
        help_text="A whole series added or removed: its instances.",
    )
    attributes = serializers.SerializerMethodField()

    @extend_schema_field(AttributeDiffOutputSerializer(many=True))
    def get_attributes(self, level: object) -> list[dict]:
        rows = level.attributes if self.context["all"] else level.differences
        return AttributeDiffOutputSerializer(rows, many=True).data


class DiffOutputSerializer(serializers.Serializer):
    from_version = serializers.IntegerField(source="old")
    to_version = serializers.IntegerField(source="new")
    added = serializers.IntegerField(source="diff.added")
    removed = serializers.IntegerField(source="diff.removed")
    changed = serializers.IntegerField(source="diff.changed")
    levels = serializers.SerializerMethodField()

    @extend_schema_field(LevelDiffOutputSerializer(many=True))
    def get_levels(self, comparison: selectors.Comparison) -> list[dict]:
        diff = comparison.diff
        levels = diff.levels if self.context["all"] else diff.differing_levels
        return LevelDiffOutputSerializer(levels, many=True, context=self.context).data


class DiffOptionsSerializer(serializers.Serializer):
    all = serializers.BooleanField(required=False, default=False)


# A version number, as the compare form takes it (HealthImaging's are 32-bit).
VERSION = {"type": "integer", "minimum": 1, "maximum": MAX_VERSION}


class DiffApi(APIView):
    permission_classes = [portal_permission(BROWSE)]

    @extend_schema(
        operation_id="image_sets_diff",
        summary="What changed between two versions, attribute by attribute",
        description="`from` and `to` are version numbers; by default the latest version "
        "and the one before it. Series and instances added or removed are levels of "
        "their own. With `all`, unchanged attributes and levels are listed too.",
        parameters=[
            OpenApiParameter("from", VERSION, description="The older version."),
            OpenApiParameter("to", VERSION, description="The newer version."),
            OpenApiParameter(
                "all", OpenApiTypes.BOOL, description="List unchanged attributes too."
            ),
        ],
        responses={200: DiffOutputSerializer, **errors(400, *HEALTHIMAGING_ERRORS)},
    )
    def get(self, request: Request, datastore_id: str, image_set_id: str) -> Response:
        form = CompareForm(request.query_params)
        if not form.is_valid():
            raise form_invalid(form)
        # The page's checkbox reads any value as "on"; the API takes only a boolean.
        options = DiffOptionsSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        history = selectors.history_get(
            datastore_id=datastore_id, image_set_id=image_set_id
        )
        old, new = form.versions(history.image_set.version)
        try:
            comparison = selectors.comparison_get(
                datastore_id=datastore_id,
                image_set_id=image_set_id,
                old=old,
                new=new,
                versions=history.versions,
            )
        except selectors.VersionProblem as problem:
            raise ApiError(
                status_code=status.HTTP_400_BAD_REQUEST,
                code="invalid",
                message=str(problem),
                fields={"non_field_errors": [str(problem)]},
            ) from None
        audit_metadata_view(
            request._request,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            version_from=old,
            version_to=new,
            outcome=through_the_api(request, "Compared versions"),
        )
        return Response(
            DiffOutputSerializer(
                comparison, context={"all": options.validated_data["all"]}
            ).data
        )
