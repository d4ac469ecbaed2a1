"""DICOM import jobs of a data store: list them, read one, and (admins) start one with the
Start import form's own checks."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from apps.accounts.roles import BROWSE, START_IMPORT
from apps.api.errors import form_invalid
from apps.api.permissions import portal_permission
from apps.api.schema import HEALTHIMAGING_ERRORS, errors, form_parameters
from apps.imports import selectors, services
from apps.imports.forms import (
    ACCOUNT_ID,
    CLIENT_TOKEN,
    JOB_NAME,
    ROLE_ARN,
    S3_URI,
    ImportJobFilterForm,
    ModelRule,
    StartImportForm,
    new_client_token,
)

EXPIRED_TOKEN = (
    "This next_token has expired or belongs to another listing. "
    "List again without it, with the same status."
)


class ImportJobOutputSerializer(serializers.Serializer):
    job_id = serializers.CharField()
    job_name = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED"]
    )
    datastore_id = serializers.CharField()
    data_access_role_arn = serializers.CharField(allow_null=True)
    input_s3_uri = serializers.CharField(
        allow_null=True, help_text="Only in a job's own answer, not in lists."
    )
    output_s3_uri = serializers.CharField(
        allow_null=True, help_text="Only in a job's own answer, not in lists."
    )
    submitted_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(allow_null=True)
    is_active = serializers.BooleanField(
        help_text="SUBMITTED or IN_PROGRESS: look again until false."
    )


class ImportJobListOutputSerializer(serializers.Serializer):
    items = ImportJobOutputSerializer(
        many=True,
        help_text="Newest first within the page (the service promises no order).",
    )
    next_token = serializers.CharField(allow_null=True)


def _model_rule_field(rule: ModelRule, **kwargs: object) -> serializers.CharField:
    """A text field the schema describes with the service's own pattern and lengths; the
    Start import form checks the value, with its messages for people."""
    described = extend_schema_field(
        {
            "type": "string",
            "pattern": f"^{rule.pattern}$",
            "minLength": rule.min_length,
            "maxLength": rule.max_length,
        }
    )(type("ModelRuleField", (serializers.CharField,), {}))
    return described(trim_whitespace=False, **kwargs)


class StartImportInputSerializer(serializers.Serializer):
    """The shape of the request; the values are checked by the Start import form."""

    job_name = _model_rule_field(
        JOB_NAME,
        required=False,
        help_text="import- and the client token, when left out.",
    )
    input_s3_uri = _model_rule_field(
        S3_URI,
        help_text="The S3 folder of the DICOM files, such as s3://bucket/dicom/.",
    )
    output_s3_uri = _model_rule_field(
        S3_URI, help_text="The S3 folder for the job's results."
    )
    data_access_role_arn = _model_rule_field(
        ROLE_ARN,
        help_text="The IAM role HealthImaging takes on to read and write them.",
    )
    input_owner_account_id = _model_rule_field(
        ACCOUNT_ID,
        required=False,
        help_text="Only when the input bucket belongs to another AWS account.",
    )
    client_token = _model_rule_field(
        CLIENT_TOKEN,
        required=False,
        help_text="Send the same token again to get the same job back, never a second "
        "one; a new one is made when left out.",
    )


class ImportJobStartedOutputSerializer(serializers.Serializer):
    job_id = serializers.CharField()
    datastore_id = serializers.CharField()
    status = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    url = serializers.URLField()


class ImportJobListApi(APIView):
    """GET lists (every role); POST starts a job (admins)."""

    def get_permissions(self) -> list[BasePermission]:
        needed = START_IMPORT if self.request.method == "POST" else BROWSE
        return [portal_permission(needed)()]

    @extend_schema(
        operation_id="import_jobs_list",
        summary="A data store's DICOM import jobs, newest first",
        parameters=[
            *form_parameters(ImportJobFilterForm),
            OpenApiParameter(
                "next_token",
                OpenApiTypes.STR,
                description="The `next_token` of the previous page.",
            ),
        ],
        responses={
            200: ImportJobListOutputSerializer,
            **errors(400, *HEALTHIMAGING_ERRORS),
        },
    )
    def get(self, request: Request, datastore_id: str) -> Response:
        form = ImportJobFilterForm(request.query_params)
        if not form.is_valid():
            raise form_invalid(form)
        next_token = request.query_params.get("next_token") or None
        results = selectors.import_job_list(
            datastore_id=datastore_id,
            status=form.cleaned_data["status"] or None,
            page=2 if next_token else 1,
            cursor=next_token,
        )
        if results.expired:
            raise serializers.ValidationError({"next_token": [EXPIRED_TOKEN]})
        return Response(
            ImportJobListOutputSerializer(
                {"items": results.items, "next_token": results.next_token}
            ).data
        )

    @extend_schema(
        operation_id="import_jobs_start",
        summary="Start a DICOM import job (admins)",
        description="Checked as the Start import form checks it (the service's own rules "
        "for each value), then StartDICOMImportJob. The job's `url` follows it.",
        request=StartImportInputSerializer,
        responses={
            202: ImportJobStartedOutputSerializer,
            **errors(400, 409, *HEALTHIMAGING_ERRORS),
        },
    )
    def post(self, request: Request, datastore_id: str) -> Response:
        shape = StartImportInputSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        form = StartImportForm(
            {"client_token": new_client_token(), **shape.validated_data}
        )
        if not form.is_valid():
            raise form_invalid(form)
        started = services.import_job_start(
            user=request.user,
            request=request._request,
            datastore_id=datastore_id,
            **form.job_parameters(),
        )
        url = reverse(
            "api:import-job-detail",
            args=[datastore_id, started.job_id],
            request=request,
        )
        return Response(
            ImportJobStartedOutputSerializer({**started.__dict__, "url": url}).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )


class ImportJobDetailApi(APIView):
    permission_classes = [portal_permission(BROWSE)]

    @extend_schema(
        operation_id="import_jobs_retrieve",
        summary="One DICOM import job",
        responses={200: ImportJobOutputSerializer, **errors(*HEALTHIMAGING_ERRORS)},
    )
    def get(self, request: Request, datastore_id: str, job_id: str) -> Response:
        job = selectors.import_job_get(datastore_id=datastore_id, job_id=job_id)
        return Response(ImportJobOutputSerializer(job).data)
