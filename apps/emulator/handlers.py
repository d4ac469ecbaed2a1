"""One handler per HealthImaging operation, named after it.

Each takes the store, the validated input members and the request context, and returns the
output members by their wire names; the wire layer serialises them per the model.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.emulator.copies import parse_copiable_attributes
from apps.emulator.errors import (
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from apps.emulator.state import (
    ACCOUNT_ID,
    Store,
    UpdateRequest,
    import_output_uri,
)
from apps.emulator.updates import parse_updates_blob

MAX_UPDATE_PAYLOAD_BYTES = 10 * 1024
# Versions are stored as SQLite integers; larger numbers can not name a version.
MAX_VERSION = 2**31 - 1
_ARN = re.compile(
    r"arn:aws[a-z-]*:medical-imaging:[a-z0-9-]+:(?P<account>[0-9]{12}):"
    r"datastore/(?P<datastore>[0-9a-z]{32})(/imageset/(?P<image_set>[0-9a-z]{32}))?"
)


@dataclass(frozen=True)
class Context:
    region: str
    body_size: int

    def datastore_arn(self, datastore_id: str) -> str:
        return f"arn:aws:medical-imaging:{self.region}:{ACCOUNT_ID}:datastore/{datastore_id}"

    def image_set_arn(self, datastore_id: str, image_set_id: str) -> str:
        return f"{self.datastore_arn(datastore_id)}/imageset/{image_set_id}"


Handler = Callable[[Store, dict[str, Any], Context], dict[str, Any]]


def _datastore_properties(row: dict, context: Context) -> dict:
    return {
        "datastoreId": row["id"],
        "datastoreName": row["name"],
        "datastoreStatus": row["status"],
        "kmsKeyArn": row["kms_key_arn"],
        "lambdaAuthorizerArn": row["lambda_authorizer_arn"],
        "losslessStorageFormat": row["lossless_storage_format"],
        "datastoreArn": context.datastore_arn(row["id"]),
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def _image_set_properties(props: dict, context: Context) -> dict:
    return {
        "datastoreId": props["datastore_id"],
        "imageSetId": props["image_set_id"],
        "versionId": str(props["version"]),
        "imageSetState": props["state"],
        "imageSetWorkflowStatus": props["workflow_status"],
        "createdAt": props["created_at"],
        "updatedAt": props["updated_at"],
        "deletedAt": props["deleted_at"],
        "message": props["message"],
        "imageSetArn": context.image_set_arn(
            props["datastore_id"], props["image_set_id"]
        ),
        "overrides": {"forced": True} if props["forced"] else None,
        "isPrimary": props["is_primary"],
        "storageTier": "FREQUENT_ACCESS",
    }


def _version_number(value: str | None, member: str) -> int | None:
    if value is None:
        return None
    # Only the pattern \d+ bounds the text, so keep int() away from absurd lengths.
    number = int(value) if len(value) <= len(str(MAX_VERSION)) else MAX_VERSION + 1
    if not 1 <= number <= MAX_VERSION:
        raise ValidationException(f"{member} must be between 1 and {MAX_VERSION}")
    return number


def CreateDatastore(store: Store, params: dict, context: Context) -> dict:
    row = store.create_datastore(
        name=params.get("datastoreName"),
        client_token=params["clientToken"],
        kms_key_arn=params.get("kmsKeyArn"),
        lambda_authorizer_arn=params.get("lambdaAuthorizerArn"),
        lossless_storage_format=params.get("losslessStorageFormat"),
    )
    if params.get("tags"):
        store.tag_resource(row["id"], None, params["tags"])
    return {"datastoreId": row["id"], "datastoreStatus": row["status"]}


def GetDatastore(store: Store, params: dict, context: Context) -> dict:
    row = store.get_datastore(params["datastoreId"])
    return {"datastoreProperties": _datastore_properties(row, context)}


def ListDatastores(store: Store, params: dict, context: Context) -> dict:
    rows, token = store.list_datastores(
        status=params.get("datastoreStatus"),
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    summaries = [
        {
            key: value
            for key, value in _datastore_properties(row, context).items()
            if key not in ("kmsKeyArn", "lambdaAuthorizerArn", "losslessStorageFormat")
        }
        for row in rows
    ]
    return {"datastoreSummaries": summaries, "nextToken": token}


def DeleteDatastore(store: Store, params: dict, context: Context) -> dict:
    return store.delete_datastore(params["datastoreId"])


def SearchImageSets(store: Store, params: dict, context: Context) -> dict:
    criteria = params.get("searchCriteria") or {}
    summaries, token = store.search_image_sets(
        params["datastoreId"],
        criteria,
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {
        "imageSetsMetadataSummaries": [
            {
                "imageSetId": item["image_set_id"],
                "version": item["version"],
                "createdAt": item["created_at"],
                "updatedAt": item["updated_at"],
                "storageTier": "FREQUENT_ACCESS",
                "isPrimary": item["is_primary"],
                "DICOMTags": item["dicom_tags"],
            }
            for item in summaries
        ],
        "sort": criteria.get("sort"),
        "nextToken": token,
    }


def GetImageSet(store: Store, params: dict, context: Context) -> dict:
    props = store.get_image_set(
        params["datastoreId"],
        params["imageSetId"],
        _version_number(params.get("versionId"), "version"),
    )
    return _image_set_properties(props, context)


def GetImageSetMetadata(store: Store, params: dict, context: Context) -> dict:
    blob = store.get_image_set_metadata(
        params["datastoreId"],
        params["imageSetId"],
        _version_number(params.get("versionId"), "version"),
    )
    return {
        "imageSetMetadataBlob": blob,
        "contentType": "application/json",
        "contentEncoding": "gzip",
    }


def ListImageSetVersions(store: Store, params: dict, context: Context) -> dict:
    items, token = store.list_image_set_versions(
        params["datastoreId"],
        params["imageSetId"],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    versions = []
    for props in items:
        item = _image_set_properties(props, context)
        # The model names this key with a capital I in this list only.
        item["ImageSetWorkflowStatus"] = item.pop("imageSetWorkflowStatus")
        for key in ("datastoreId", "imageSetArn", "storageTier"):
            item.pop(key)
        versions.append(item)
    return {"imageSetPropertiesList": versions, "nextToken": token}


def UpdateImageSetMetadata(store: Store, params: dict, context: Context) -> dict:
    if context.body_size > MAX_UPDATE_PAYLOAD_BYTES:
        raise ServiceQuotaExceededException(
            f"UpdateImageSetMetadata payload exceeds the {MAX_UPDATE_PAYLOAD_BYTES // 1024} KB quota"
        )
    updates = params.get("updateImageSetMetadataUpdates") or {}
    include_study = params.get("includeStudyImageSets", False)
    dicom_updates = updates.get("DICOMUpdates")
    if "revertToVersionId" in updates:
        if include_study:
            raise ValidationException(
                "includeStudyImageSets is not supported with revertToVersionId"
            )
        request = UpdateRequest(
            revert_to=_version_number(
                updates["revertToVersionId"], "revertToVersionId"
            ),
            force=params.get("force", False),
        )
    else:
        blobs = {
            member: parse_updates_blob(dicom_updates[member], member)
            for member in ("updatableAttributes", "removableAttributes")
            if member in dicom_updates
        }
        if not blobs:
            raise ValidationException(
                "DICOMUpdates must have updatableAttributes or removableAttributes"
            )
        request = UpdateRequest(
            updatable=blobs.get("updatableAttributes"),
            removable=blobs.get("removableAttributes"),
            force=params.get("force", False),
            include_study=include_study,
        )
    props = store.update_image_set_metadata(
        params["datastoreId"],
        params["imageSetId"],
        _version_number(params["latestVersionId"], "latestVersion"),
        request,
    )
    return {
        "datastoreId": props["datastore_id"],
        "imageSetId": props["image_set_id"],
        "latestVersionId": str(props["version"]),
        "imageSetState": props["state"],
        "imageSetWorkflowStatus": props["workflow_status"],
        "createdAt": props["created_at"],
        "updatedAt": props["updated_at"],
    }


def CopyImageSet(store: Store, params: dict, context: Context) -> dict:
    information = params["copyImageSetInformation"]
    source = information["sourceImageSet"]
    destination = information.get("destinationImageSet") or {}
    copies = source.get("DICOMCopies")
    source_props, destination_props = store.copy_image_set(
        params["datastoreId"],
        params["sourceImageSetId"],
        source_version=_version_number(source["latestVersionId"], "latestVersionId"),
        copiable=parse_copiable_attributes(copies["copiableAttributes"])
        if copies
        else None,
        destination_id=destination.get("imageSetId"),
        destination_version=_version_number(
            destination.get("latestVersionId"), "latestVersionId"
        ),
        force=params.get("force", False),
        promote_to_primary=params.get("promoteToPrimary", False),
    )

    def copy_properties(props: dict) -> dict:
        full = _image_set_properties(props, context)
        return {
            "imageSetId": full["imageSetId"],
            "latestVersionId": full["versionId"],
            "imageSetState": full["imageSetState"],
            "imageSetWorkflowStatus": full["imageSetWorkflowStatus"],
            "createdAt": full["createdAt"],
            "updatedAt": full["updatedAt"],
            "imageSetArn": full["imageSetArn"],
        }

    return {
        "datastoreId": params["datastoreId"],
        "sourceImageSetProperties": copy_properties(source_props),
        "destinationImageSetProperties": copy_properties(destination_props),
    }


def DeleteImageSet(store: Store, params: dict, context: Context) -> dict:
    result = store.delete_image_set(params["datastoreId"], params["imageSetId"])
    return {
        "datastoreId": params["datastoreId"],
        "imageSetId": params["imageSetId"],
        "imageSetState": result["state"],
        "imageSetWorkflowStatus": result["workflow_status"],
    }


def StartDICOMImportJob(store: Store, params: dict, context: Context) -> dict:
    if params.get("importConfiguration"):
        # The DICOM JSON metadata import (enhancing stored instances) is not emulated.
        raise ValidationException(
            "importConfiguration is not supported by this emulator: it imports DICOM P10 files only"
        )
    datastore_id = params["datastoreId"]
    if len(import_output_uri(params["outputS3Uri"], datastore_id, "0" * 32)) > 1024:
        raise ValidationException(
            "outputS3Uri leaves no room for the job's output folder within 1024 characters"
        )
    job = store.start_import_job(
        datastore_id,
        client_token=params["clientToken"],
        name=params.get("jobName"),
        role_arn=params["dataAccessRoleArn"],
        input_uri=params["inputS3Uri"],
        output_uri=params["outputS3Uri"],
        input_owner=params.get("inputOwnerAccountId"),
    )
    return {
        "datastoreId": job["datastore_id"],
        "jobId": job["id"],
        "jobStatus": job["status"],
        "submittedAt": job["submitted_at"],
    }


def _import_job_properties(job: dict) -> dict:
    return {
        "jobId": job["id"],
        "jobName": job["name"],
        "jobStatus": job["status"],
        "datastoreId": job["datastore_id"],
        "dataAccessRoleArn": job["role_arn"],
        "endedAt": job["ended_at"],
        "submittedAt": job["submitted_at"],
        "inputS3Uri": job["input_uri"],
        "outputS3Uri": job["output_uri"],
        "message": job["message"],
    }


def GetDICOMImportJob(store: Store, params: dict, context: Context) -> dict:
    job = store.get_import_job(params["datastoreId"], params["jobId"])
    return {"jobProperties": _import_job_properties(job)}


def ListDICOMImportJobs(store: Store, params: dict, context: Context) -> dict:
    jobs, token = store.list_import_jobs(
        params["datastoreId"],
        status=params.get("jobStatus"),
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    summaries = [
        {
            key: value
            for key, value in _import_job_properties(job).items()
            if key not in ("inputS3Uri", "outputS3Uri")
        }
        for job in jobs
    ]
    return {"jobSummaries": summaries, "nextToken": token}


def _resource(arn: str) -> tuple[str, str | None]:
    match = _ARN.fullmatch(arn)
    if match is None or match["account"] != ACCOUNT_ID:
        raise ResourceNotFoundException(f"Resource {arn} does not exist")
    return match["datastore"], match["image_set"]


def TagResource(store: Store, params: dict, context: Context) -> dict:
    store.tag_resource(*_resource(params["resourceArn"]), params["tags"])
    return {}


def UntagResource(store: Store, params: dict, context: Context) -> dict:
    store.untag_resource(*_resource(params["resourceArn"]), params["tagKeys"])
    return {}


def ListTagsForResource(store: Store, params: dict, context: Context) -> dict:
    return {"tags": store.list_tags(*_resource(params["resourceArn"]))}


HANDLERS: dict[str, Handler] = {
    handler.__name__: handler
    for handler in (
        CreateDatastore,
        GetDatastore,
        ListDatastores,
        DeleteDatastore,
        StartDICOMImportJob,
        GetDICOMImportJob,
        ListDICOMImportJobs,
        SearchImageSets,
        GetImageSet,
        GetImageSetMetadata,
        ListImageSetVersions,
        UpdateImageSetMetadata,
        CopyImageSet,
        DeleteImageSet,
        TagResource,
        UntagResource,
        ListTagsForResource,
    )
}
