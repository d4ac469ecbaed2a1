"""Reads for the import pages: a data store's import jobs a page at a time, and one job.

Every call goes through the HealthImaging gateway; its errors pass through untouched, except an
expired or foreign paging cursor, which is an expected state of old links, not a failure.
"""

from dataclasses import dataclass

from django.contrib.sessions.backends.base import SessionBase

from apps.healthimaging import errors
from apps.healthimaging.gateway import get_gateway
from apps.healthimaging.types import ImportJob
from apps.imagesets import paging

# The model's JobStatus enum, in the order a job goes through it, with words for people.
STATUS_LABELS = {
    "SUBMITTED": "Submitted",
    "IN_PROGRESS": "In progress",
    "COMPLETED": "Completed",
    "FAILED": "Failed",
}
PAGE_SIZE = 25


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class ImportJobResults:
    """One page of jobs, newest first; `expired` when the cursor that led here is refused."""

    items: tuple[ImportJob, ...] = ()
    next_token: str | None = None
    expired: bool = False

    @property
    def counts(self) -> list[StatusCount]:
        """How many of the jobs listed are in each status."""
        return [
            StatusCount(
                status=status,
                label=label,
                count=sum(1 for job in self.items if job.status == status),
            )
            for status, label in STATUS_LABELS.items()
        ]

    @property
    def has_active(self) -> bool:
        """A listed job has still to finish, so the list is worth looking at again."""
        return any(job.is_active for job in self.items)


def import_job_list(
    *,
    datastore_id: str,
    status: str | None,
    page: int = 1,
    cursor: str | None = None,
) -> ImportJobResults:
    """Page `page` of the data store's jobs (only those in `status`, if given), with exactly
    one ListDICOMImportJobs call; a later page needs the cursor (nextToken) that leads to it."""
    if page > 1 and not cursor:
        return ImportJobResults(expired=True)
    try:
        listed = get_gateway().list_dicom_import_jobs(
            datastore_id,
            status=status,
            max_results=PAGE_SIZE,
            next_token=cursor,
        )
    except errors.InvalidRequest:
        if cursor:
            return ImportJobResults(expired=True)
        raise
    # The model promises no order: newest submitted first, within the page.
    items = sorted(
        listed.items,
        key=lambda job: (job.submitted_at is not None, job.submitted_at),
        reverse=True,
    )
    return ImportJobResults(items=tuple(items), next_token=listed.next_token)


def import_job_results_page(
    *,
    session: SessionBase,
    datastore_id: str,
    path: str,
    parameters: dict[str, str],
    page: int,
    cursor: str | None,
    remember: bool = True,
) -> tuple[ImportJobResults, paging.Pager]:
    """Page `page` of the jobs and its paging links, as the image set results page them.

    `remember=False` reads the session's cursor trail but writes nothing to the session: a
    background poll must not change it, or saving it would count as the user's activity.
    """
    key = paging.trail_key(f"{datastore_id}/imports", parameters)
    cursor = paging.cursor_for(session, key=key, page=page, given=cursor)
    results = import_job_list(
        datastore_id=datastore_id,
        status=parameters.get("status") or None,
        page=page,
        cursor=cursor,
    )
    pager = paging.pager_build(
        session if remember else _scratch(session),
        key=key,
        path=path,
        parameters=parameters,
        page=page,
        cursor=None if results.expired else cursor,
        next_token=results.next_token,
    )
    return results, pager


def _scratch(session: SessionBase) -> dict:
    """A throwaway copy of the paging trails, for `pager_build` to write into."""
    return {paging.SESSION_KEY: dict(session.get(paging.SESSION_KEY, {}))}


def import_job_get(*, datastore_id: str, job_id: str) -> ImportJob:
    return get_gateway().get_dicom_import_job(datastore_id, job_id)
