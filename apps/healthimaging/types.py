"""Typed results of HealthImaging calls: frozen dataclasses in snake_case."""

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class Datastore:
    datastore_id: str
    name: str
    status: str
    arn: str | None
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None


@dataclass(frozen=True)
class DicomTags:
    """The patient, study and series attributes a search summary carries; absent ones are None."""

    patient_id: str | None = None
    patient_name: str | None = None
    patient_birth_date: str | None = None
    patient_sex: str | None = None
    study_instance_uid: str | None = None
    study_id: str | None = None
    study_description: str | None = None
    accession_number: str | None = None
    study_date: str | None = None
    study_time: str | None = None
    series_instance_uid: str | None = None
    modality: str | None = None
    body_part: str | None = None
    series_number: int | None = None
    series_count: int | None = None
    instance_count: int | None = None


@dataclass(frozen=True)
class ImageSetSummary:
    image_set_id: str
    version: int | None
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    is_primary: bool | None
    tags: DicomTags


@dataclass(frozen=True)
class SearchPage:
    """One page of search results and the token for the next page (None on the last)."""

    items: tuple[ImageSetSummary, ...]
    next_token: str | None


@dataclass(frozen=True)
class ImageSet:
    """An image set's properties at one version (GetImageSet)."""

    datastore_id: str
    image_set_id: str
    version: int
    state: str
    workflow_status: str | None
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    deleted_at: datetime.datetime | None
    message: str | None
    arn: str | None
    is_primary: bool | None
    forced: bool

    @property
    def is_locked(self) -> bool:
        return self.state == "LOCKED"

    @property
    def is_settled(self) -> bool:
        """No write is running on it: not LOCKED and no UPDATING* workflow."""
        return not self.is_locked and not (self.workflow_status or "").startswith(
            "UPDATING"
        )


@dataclass(frozen=True)
class ImageSetVersion:
    """One entry of an image set's version history (ListImageSetVersions)."""

    version: int
    state: str
    workflow_status: str | None
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    deleted_at: datetime.datetime | None
    message: str | None
    forced: bool


@dataclass(frozen=True)
class UpdateAccepted:
    """UpdateImageSetMetadata's synchronous answer: the new version and the set's state."""

    version: int
    state: str
    workflow_status: str | None
    message: str | None


@dataclass(frozen=True)
class ImportJob:
    """A DICOM import job (GetDICOMImportJob), or its summary (ListDICOMImportJobs), which
    carries no S3 URIs and may lack the role: those are None there."""

    job_id: str
    job_name: str
    status: str
    datastore_id: str
    data_access_role_arn: str | None
    input_s3_uri: str | None
    output_s3_uri: str | None
    submitted_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    message: str | None

    @property
    def is_active(self) -> bool:
        """Still to finish: SUBMITTED or IN_PROGRESS (it ends COMPLETED or FAILED)."""
        return self.status in ("SUBMITTED", "IN_PROGRESS")


@dataclass(frozen=True)
class ImportJobStarted:
    """StartDICOMImportJob's answer: the job and its first status (SUBMITTED)."""

    datastore_id: str
    job_id: str
    status: str
    submitted_at: datetime.datetime | None


@dataclass(frozen=True)
class ImportJobPage:
    """One page of import jobs and the token for the next page (None on the last)."""

    items: tuple[ImportJob, ...]
    next_token: str | None
