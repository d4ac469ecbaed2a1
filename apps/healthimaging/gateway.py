"""The one place the portal talks to AWS HealthImaging.

Owns the boto3 client (built once from settings; credentials from the default AWS chain),
returns typed results with metadata already un-gzipped, and translates every botocore error
into the small family in `apps.healthimaging.errors`.
"""

import functools
import gzip
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from apps.healthimaging import errors
from apps.healthimaging.types import (
    Datastore,
    DicomTags,
    ImageSet,
    ImageSetSummary,
    ImageSetVersion,
    ImportJob,
    ImportJobPage,
    ImportJobStarted,
    SearchPage,
    UpdateAccepted,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The service answers a write based on an old version with a 404 and this text
# (contract 4.3); it means "changed since", not "gone".
_STALE_VERSION_TEXT = "is not the latest"

_ERRORS: dict[str, type[errors.HealthImagingError]] = {
    "ResourceNotFoundException": errors.NotFound,
    "ConflictException": errors.Conflict,
    "ValidationException": errors.InvalidRequest,
    "BadRequestException": errors.InvalidRequest,
    "AccessDeniedException": errors.AccessDenied,
    "ThrottlingException": errors.Throttled,
    "ServiceQuotaExceededException": errors.QuotaExceeded,
    "InternalServerException": errors.Unavailable,
}
_TAGS = {
    "DICOMPatientId": "patient_id",
    "DICOMPatientName": "patient_name",
    "DICOMPatientBirthDate": "patient_birth_date",
    "DICOMPatientSex": "patient_sex",
    "DICOMStudyInstanceUID": "study_instance_uid",
    "DICOMStudyId": "study_id",
    "DICOMStudyDescription": "study_description",
    "DICOMAccessionNumber": "accession_number",
    "DICOMStudyDate": "study_date",
    "DICOMStudyTime": "study_time",
    "DICOMSeriesInstanceUID": "series_instance_uid",
    "DICOMSeriesModality": "modality",
    "DICOMSeriesBodyPart": "body_part",
    "DICOMSeriesNumber": "series_number",
    "DICOMNumberOfStudyRelatedSeries": "series_count",
    "DICOMNumberOfStudyRelatedInstances": "instance_count",
}


def _translated(call: Callable[..., T]) -> Callable[..., T]:
    """Turn botocore's errors into ours; the service's message is kept, never logged with PHI."""

    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return call(*args, **kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            message = error.response.get("Error", {}).get("Message", "")
            kind = _ERRORS.get(code) or (
                errors.Unavailable if status >= 500 else errors.HealthImagingError
            )
            if kind is errors.NotFound and _STALE_VERSION_TEXT in message:
                kind = errors.StaleVersion
            logger.warning("HealthImaging %s failed: %s", call.__name__, code or status)
            raise kind(message, code=code) from error
        except BotoCoreError as error:
            # Connection refused, timeouts, DNS: the service is out of reach.
            logger.warning(
                "HealthImaging %s unreachable: %s", call.__name__, type(error).__name__
            )
            raise errors.Unavailable(str(error), code=type(error).__name__) from error

    return wrapper


class HealthImagingGateway:
    """HealthImaging operations, named after them; takes the client so tests can stub it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @_translated
    def list_datastores(self) -> list[Datastore]:
        paginator = self.client.get_paginator("list_datastores")
        return [
            _datastore(summary)
            for page in paginator.paginate()
            for summary in page["datastoreSummaries"]
        ]

    @_translated
    def get_datastore(self, datastore_id: str) -> Datastore:
        response = self.client.get_datastore(datastoreId=datastore_id)
        return _datastore(response["datastoreProperties"])

    @_translated
    def search_image_sets(
        self,
        datastore_id: str,
        *,
        criteria: dict | None = None,
        max_results: int = 50,
        next_token: str | None = None,
    ) -> SearchPage:
        """One page of results: exactly one SearchImageSets call."""
        kwargs: dict[str, Any] = {
            "datastoreId": datastore_id,
            "maxResults": max_results,
        }
        if criteria:
            kwargs["searchCriteria"] = criteria
        if next_token:
            kwargs["nextToken"] = next_token
        response = self.client.search_image_sets(**kwargs)
        return SearchPage(
            items=tuple(
                _summary(item) for item in response["imageSetsMetadataSummaries"]
            ),
            next_token=response.get("nextToken"),
        )

    @_translated
    def get_image_set(
        self, datastore_id: str, image_set_id: str, *, version: int | None = None
    ) -> ImageSet:
        response = self.client.get_image_set(
            **_image_set_version(datastore_id, image_set_id, version)
        )
        return ImageSet(
            datastore_id=response["datastoreId"],
            image_set_id=response["imageSetId"],
            version=int(response["versionId"]),
            state=response["imageSetState"],
            workflow_status=response.get("imageSetWorkflowStatus"),
            created_at=response.get("createdAt"),
            updated_at=response.get("updatedAt"),
            deleted_at=response.get("deletedAt"),
            message=response.get("message"),
            arn=response.get("imageSetArn"),
            is_primary=response.get("isPrimary"),
            forced=bool(response.get("overrides", {}).get("forced")),
        )

    @_translated
    def get_image_set_metadata(
        self, datastore_id: str, image_set_id: str, *, version: int | None = None
    ) -> dict:
        """The metadata document, un-gzipped and parsed (boto3 hands back the gzip bytes)."""
        response = self.client.get_image_set_metadata(
            **_image_set_version(datastore_id, image_set_id, version)
        )
        body = response["imageSetMetadataBlob"].read()
        if response.get("contentEncoding") == "gzip" or body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        return json.loads(body)

    @_translated
    def list_image_set_versions(
        self, datastore_id: str, image_set_id: str
    ) -> list[ImageSetVersion]:
        """Every version, all pages, newest first."""
        paginator = self.client.get_paginator("list_image_set_versions")
        versions = [
            ImageSetVersion(
                version=int(item["versionId"]),
                state=item["imageSetState"],
                # The model spells this member with a capital I, unlike GetImageSet's.
                workflow_status=item.get("ImageSetWorkflowStatus"),
                created_at=item.get("createdAt"),
                updated_at=item.get("updatedAt"),
                deleted_at=item.get("deletedAt"),
                message=item.get("message"),
                forced=bool(item.get("overrides", {}).get("forced")),
            )
            for page in paginator.paginate(
                datastoreId=datastore_id, imageSetId=image_set_id
            )
            for item in page["imageSetPropertiesList"]
        ]
        return sorted(versions, key=lambda entry: entry.version, reverse=True)

    @_translated
    def update_image_set_metadata(
        self,
        datastore_id: str,
        image_set_id: str,
        *,
        latest_version: int,
        dicom_updates: dict | None = None,
        revert_to_version: int | None = None,
        force: bool = False,
    ) -> UpdateAccepted:
        """Start an update: DICOMUpdates (two JSON documents) or a revert, never both.

        A LOCKED set raises `Locked`; a `latest_version` that is no longer the latest
        raises `StaleVersion`. The answer comes at once; the set settles later.
        """
        if (dicom_updates is None) == (revert_to_version is None):
            raise ValueError("give either dicom_updates or revert_to_version")
        if revert_to_version is not None:
            updates: dict[str, Any] = {"revertToVersionId": str(revert_to_version)}
        else:
            updates = {
                "DICOMUpdates": {
                    member: json.dumps(document, ensure_ascii=False).encode()
                    for member, document in dicom_updates.items()
                }
            }
        try:
            response = self.client.update_image_set_metadata(
                datastoreId=datastore_id,
                imageSetId=image_set_id,
                latestVersionId=str(latest_version),
                force=force,
                updateImageSetMetadataUpdates=updates,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConflictException":
                message = error.response["Error"].get("Message", "")
                raise errors.Locked(message, code="ConflictException") from error
            raise
        return UpdateAccepted(
            version=int(response["latestVersionId"]),
            state=response["imageSetState"],
            workflow_status=response.get("imageSetWorkflowStatus"),
            message=response.get("message"),
        )

    @_translated
    def start_dicom_import_job(
        self,
        datastore_id: str,
        *,
        job_name: str | None,
        data_access_role_arn: str,
        input_s3_uri: str,
        output_s3_uri: str,
        input_owner_account_id: str | None = None,
        client_token: str,
    ) -> ImportJobStarted:
        """Submit an import of the DICOM P10 files under `input_s3_uri`.

        The same `client_token` with the same parameters returns the job it already started,
        so a form sent twice starts one job.
        """
        kwargs: dict[str, Any] = {
            "datastoreId": datastore_id,
            "dataAccessRoleArn": data_access_role_arn,
            "inputS3Uri": input_s3_uri,
            "outputS3Uri": output_s3_uri,
            "clientToken": client_token,
        }
        if job_name:
            kwargs["jobName"] = job_name
        if input_owner_account_id:
            kwargs["inputOwnerAccountId"] = input_owner_account_id
        response = self.client.start_dicom_import_job(**kwargs)
        return ImportJobStarted(
            datastore_id=response["datastoreId"],
            job_id=response["jobId"],
            status=response["jobStatus"],
            submitted_at=response.get("submittedAt"),
        )

    @_translated
    def get_dicom_import_job(self, datastore_id: str, job_id: str) -> ImportJob:
        response = self.client.get_dicom_import_job(
            datastoreId=datastore_id, jobId=job_id
        )
        return _import_job(response["jobProperties"])

    @_translated
    def list_dicom_import_jobs(
        self,
        datastore_id: str,
        *,
        status: str | None = None,
        max_results: int = 50,
        next_token: str | None = None,
    ) -> ImportJobPage:
        """One page of a data store's import jobs: exactly one ListDICOMImportJobs call."""
        kwargs: dict[str, Any] = {
            "datastoreId": datastore_id,
            "maxResults": max_results,
        }
        if status:
            kwargs["jobStatus"] = status
        if next_token:
            kwargs["nextToken"] = next_token
        response = self.client.list_dicom_import_jobs(**kwargs)
        return ImportJobPage(
            items=tuple(_import_job(item) for item in response["jobSummaries"]),
            next_token=response.get("nextToken"),
        )


def _image_set_version(
    datastore_id: str, image_set_id: str, version: int | None
) -> dict[str, str]:
    """The parameters naming an image set, at `version` or (None) its latest."""
    params = {"datastoreId": datastore_id, "imageSetId": image_set_id}
    if version is not None:
        params["versionId"] = str(version)
    return params


def _datastore(item: dict) -> Datastore:
    return Datastore(
        datastore_id=item["datastoreId"],
        name=item.get("datastoreName", ""),
        status=item["datastoreStatus"],
        arn=item.get("datastoreArn"),
        created_at=item.get("createdAt"),
        updated_at=item.get("updatedAt"),
    )


def _import_job(item: dict) -> ImportJob:
    """Job properties, or a list summary (no S3 URIs; the role is optional there)."""
    return ImportJob(
        job_id=item["jobId"],
        job_name=item["jobName"],
        status=item["jobStatus"],
        datastore_id=item["datastoreId"],
        data_access_role_arn=item.get("dataAccessRoleArn"),
        input_s3_uri=item.get("inputS3Uri"),
        output_s3_uri=item.get("outputS3Uri"),
        submitted_at=item.get("submittedAt"),
        ended_at=item.get("endedAt"),
        message=item.get("message"),
    )


def _summary(item: dict) -> ImageSetSummary:
    tags = item.get("DICOMTags", {})
    return ImageSetSummary(
        image_set_id=item["imageSetId"],
        version=item.get("version"),
        created_at=item.get("createdAt"),
        updated_at=item.get("updatedAt"),
        is_primary=item.get("isPrimary"),
        tags=DicomTags(
            **{field: tags[key] for key, field in _TAGS.items() if key in tags}
        ),
    )


def build_client(
    *,
    endpoint_url: str | None,
    region: str,
    timeout_seconds: float,
    attempts: int = 3,
) -> Any:
    # The image set operations carry a `runtime-` host prefix that an emulator endpoint can
    # not serve; with an endpoint override the prefix is turned off.
    config = Config(
        region_name=region,
        inject_host_prefix=not endpoint_url,
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        max_pool_connections=20,
    )
    return boto3.session.Session().client(
        "medical-imaging", endpoint_url=endpoint_url or None, config=config
    )


@functools.cache
def get_gateway() -> HealthImagingGateway:
    """The portal's gateway, built once per process from settings."""
    return HealthImagingGateway(
        build_client(
            endpoint_url=settings.HEALTHIMAGING_ENDPOINT_URL,
            region=settings.AWS_REGION,
            timeout_seconds=settings.HEALTHIMAGING_TIMEOUT_SECONDS,
        )
    )


@functools.cache
def get_probe_gateway() -> HealthImagingGateway:
    """For health checks: one attempt and a short timeout, so a probe answers quickly."""
    return HealthImagingGateway(
        build_client(
            endpoint_url=settings.HEALTHIMAGING_ENDPOINT_URL,
            region=settings.AWS_REGION,
            timeout_seconds=min(settings.HEALTHIMAGING_TIMEOUT_SECONDS, 2.0),
            attempts=1,
        )
    )
