"""The edit lifecycle: queue an edit, take it one step at a time, re-drive the stuck ones.

A job is a `MetadataEdit` row. `advance_edit` takes one step (send the update, or look at
the image set once) and schedules the next look; no step waits on HealthImaging in a loop, so
a worker slot is held for one call at a time. Steps hold a lease on the row instead of a
database lock across the HTTP call, and every step is safe to run twice:

- an update is always sent with `latestVersionId` = the version the user saw, so a second
  send can never apply the edit again: HealthImaging answers "not the latest";
- that answer is then checked against the next version: if it carries the edit, it is the
  edit's own write whose answer was lost, and the job follows it instead of reporting a conflict.
"""

import base64
import datetime
import json
import logging
import random
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.roles import FORCE_EDIT, QUEUE_EDIT, REVERT
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.edits import pacing
from apps.edits.changes import AttributeChange, carries, dicom_updates, level_element
from apps.edits.models import MetadataEdit
from apps.edits.rules import judge
from apps.healthimaging import errors
from apps.healthimaging.gateway import get_gateway
from apps.healthimaging.types import ImageSet

logger = logging.getLogger(__name__)

ADVANCE_TASK = "apps.edits.tasks.advance_edit"
# Longer than one step can take (the task's hard time limit), so a live step keeps its lease;
# a quarter more for the pool's time-limit check and clocks that differ between workers.
LEASE_SECONDS = settings.CELERY_TASK_TIME_LIMIT * 5 / 4
# Steps of one edit that may die with their worker before the edit is given up.
MAX_INTERRUPTIONS = 3
# Tries at making an edit its image set's active one, when the edit that held it ends meanwhile.
CLAIM_ATTEMPTS = 3
# A message delivered this much before the row's next check is a duplicate of a later one.
EARLY_TOLERANCE = datetime.timedelta(seconds=1)

# HealthImaging's quota on one UpdateImageSetMetadata payload (contract, "Quotas").
MAX_PAYLOAD_BYTES = 10 * 1024
TOO_LARGE = (
    "This change is too large for one update (HealthImaging accepts 10 KB). "
    "Split it into smaller edits."
)
# A re-scheduled step must come back before the broker would hand its message to another
# worker (the visibility timeout), with room for the step itself. (A worker with a backlog
# may still hold one longer: a copy then takes the row over, and the step it pre-empted can
# not write; see `advance_edit`.)
MAX_COUNTDOWN = settings.CELERY_VISIBILITY_TIMEOUT - settings.CELERY_TASK_TIME_LIMIT
# Clock difference allowed between the portal and HealthImaging when telling whether a
# version was written after this edit was first sent.
CLOCK_SKEW = datetime.timedelta(seconds=5)

Status = MetadataEdit.Status


class EditRefused(Exception):
    """The edit can not be queued; the message says why, in words for the user."""


class EditStateRefused(EditRefused):
    """The edit is not in a state that allows this (re-apply, check again)."""


class EditInProgress(EditRefused):
    def __init__(self, active: MetadataEdit) -> None:
        super().__init__(
            "This image set already has an edit in progress "
            f"(queued {active.created_at:%Y-%m-%d %H:%M} UTC). "
            "Wait for it to finish, then edit again on the new version."
        )
        self.active = active


@dataclass(frozen=True)
class Check:
    """What the rules found, per change: refusals, and why `force` is needed."""

    change: AttributeChange
    errors: tuple[str, ...]
    needs_force: tuple[str, ...]


def check_changes(changes: list[AttributeChange], document: dict) -> list[Check]:
    checks = []
    for change in changes:
        verdict = judge(change, document)
        checks.append(Check(change, tuple(verdict.errors), tuple(verdict.needs_force)))
    return checks


def payload_size(changes: list[AttributeChange]) -> int:
    """Bytes of the request body these changes become: the DICOMUpdates documents travel
    base64-encoded inside JSON, which is what the 10 KB quota counts."""
    blobs = {
        member: base64.b64encode(
            json.dumps(document, ensure_ascii=False).encode()
        ).decode()
        for member, document in dicom_updates(changes).items()
    }
    body = {"updateImageSetMetadataUpdates": {"DICOMUpdates": blobs}}
    return len(json.dumps(body).encode())


# -- queueing ----------------------------------------------------------------------------


def queue_edit(
    *,
    user: AbstractBaseUser,
    request: HttpRequest | None,
    datastore_id: str,
    image_set_id: str,
    base_version: int,
    changes: list[AttributeChange],
    force: bool,
    reason: str,
    reapplies: MetadataEdit | None = None,
) -> MetadataEdit:
    """Save the edit and its audit record in one transaction; enqueue once committed.

    Raises `EditInProgress` when the image set already has an active edit.
    """
    if not user.has_perm(QUEUE_EDIT):
        raise EditRefused("Your role does not let you edit metadata.")
    if force and not user.has_perm(FORCE_EDIT):
        raise EditRefused("Your role does not let you use Force.")
    if not changes:
        raise EditRefused("Nothing to change: every value is as it was.")
    if not reason.strip():
        raise EditRefused("Give a reason for the change.")
    if payload_size(changes) > MAX_PAYLOAD_BYTES:
        raise EditRefused(TOO_LARGE)
    return _queue(
        MetadataEdit(
            requested_by=user,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            base_version=base_version,
            changes=[change.as_json() for change in changes],
            force=force,
            reason=reason.strip(),
            reapplies=reapplies,
        ),
        request,
    )


def queue_revert(
    *,
    user: AbstractBaseUser,
    request: HttpRequest | None,
    datastore_id: str,
    image_set_id: str,
    base_version: int,
    revert_to_version: int,
    reason: str,
    reapplies: MetadataEdit | None = None,
) -> MetadataEdit:
    """Queue a revert of the image set to `revert_to_version`: the same job as an edit, which
    sends `revertToVersionId` instead of DICOMUpdates, with `latestVersionId` = `base_version`
    (the latest version the admin saw). HealthImaging makes a new version equal to the target.

    Only an earlier version that did not fail can be restored (contract 4.3); asking
    HealthImaging which it is costs one GetImageSet. Raises `EditRefused` (or
    `EditInProgress`) with the reason in words for the user.
    """
    if not user.has_perm(REVERT):
        raise EditRefused("Your role does not let you revert image sets.")
    if not reason.strip():
        raise EditRefused("Give a reason for the revert.")
    if not 1 <= revert_to_version < base_version:
        raise EditRefused(
            f"Only an earlier version can be restored: choose one from 1 to "
            f"{base_version - 1}."
            if base_version > 1
            else "This image set has only one version: there is nothing to revert to."
        )
    try:
        target = get_gateway().get_image_set(
            datastore_id, image_set_id, version=revert_to_version
        )
    except errors.NotFound:
        raise EditRefused(
            f"Version {revert_to_version} of this image set does not exist."
        ) from None
    if (target.workflow_status or "").endswith("_FAILED"):
        raise EditRefused(
            f"Version {revert_to_version} ended in {target.workflow_status}: "
            "a failed version can not be restored."
        )
    return _queue(
        MetadataEdit(
            requested_by=user,
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            base_version=base_version,
            changes=[],
            revert_to_version=revert_to_version,
            force=False,
            reason=reason.strip(),
            reapplies=reapplies,
        ),
        request,
    )


def _queue(edit: MetadataEdit, request: HttpRequest | None) -> MetadataEdit:
    """Save the job and its audit record in one transaction; enqueue once committed."""
    edit.next_check_at = timezone.now()

    def insert() -> None:
        edit.save(force_insert=True)
        _audit_job(
            edit,
            AuditEvent.Action.REVERT_QUEUED
            if edit.is_revert
            else AuditEvent.Action.EDIT_QUEUED,
            Status.QUEUED.label,
            actor=edit.requested_by,
            request=request,
        )
        transaction.on_commit(lambda: schedule_step(edit.id))

    _claim_image_set(edit, insert)
    return edit


def _audit_job(
    edit: MetadataEdit,
    action: AuditEvent.Action,
    label: str,
    *,
    actor: AbstractBaseUser,
    request: HttpRequest | None = None,
) -> None:
    """One audit record of a job's step; for a revert, the outcome names the version."""
    if edit.is_revert:
        label = f"{label} (revert to version {edit.revert_to_version})"
    audit_record(
        action,
        actor=actor,
        request=request,
        datastore_id=edit.datastore_id,
        image_set_id=edit.image_set_id,
        edit_id=edit.id,
        version_from=edit.base_version,
        version_to=edit.accepted_version,
        reason=edit.reason,
        forced=edit.force,
        outcome=label,
    )


def _claim_image_set(edit: MetadataEdit, write: Callable[[], None]) -> None:
    """Run `write`, which makes `edit` its image set's active edit, in a transaction; the
    one-active-edit-per-image-set constraint refuses it with `EditInProgress`.

    The edit that held the image set may end between the refusal and the read that names
    it (under load, within milliseconds): the image set is then free, and `write` is tried
    again, as it would have been had it come a moment later."""
    for attempt in range(1, CLAIM_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                write()
            return
        except IntegrityError:
            active = active_edit(
                datastore_id=edit.datastore_id, image_set_id=edit.image_set_id
            )
            if active is not None:
                raise EditInProgress(active) from None
            if attempt == CLAIM_ATTEMPTS:
                raise


def active_edit(*, datastore_id: str, image_set_id: str) -> MetadataEdit | None:
    return MetadataEdit.objects.filter(
        datastore_id=datastore_id,
        image_set_id=image_set_id,
        status__in=MetadataEdit.ACTIVE,
    ).first()


def schedule_step(edit_id: uuid.UUID, countdown: float = 0) -> None:
    """Ask a worker to take the edit's next step; ids only, never patient data.

    A broker that is down loses nothing: the row says a step is due, and the reconciler
    sends it again.
    """
    try:
        current_app.send_task(
            ADVANCE_TASK, args=[str(edit_id)], countdown=max(countdown, 0)
        )
    except Exception:  # noqa: BLE001 - any broker failure; the reconciler recovers
        logger.warning(
            "Could not enqueue edit %s; the reconciler will", edit_id, exc_info=True
        )


def reapply_edit(
    *, edit: MetadataEdit, user: AbstractBaseUser, request: HttpRequest | None
) -> MetadataEdit:
    """Queue the same changes again, against the image set's latest version."""
    if not edit.can_reapply:
        raise EditStateRefused(
            "Only an edit in conflict, or one that failed, can be re-applied."
        )
    gateway = get_gateway()
    latest = gateway.get_image_set(edit.datastore_id, edit.image_set_id)
    if edit.is_revert:
        return queue_revert(
            user=user,
            request=request,
            datastore_id=edit.datastore_id,
            image_set_id=edit.image_set_id,
            base_version=latest.version,
            revert_to_version=edit.revert_to_version,
            reason=edit.reason,
            reapplies=edit,
        )
    document = gateway.get_image_set_metadata(
        edit.datastore_id, edit.image_set_id, version=latest.version
    )
    changes = rebase_changes(edit.attribute_changes, document)
    problems = [
        problem
        for check in check_changes(changes, document)
        for problem in check.errors
    ]
    if problems:
        raise EditRefused(" ".join(problems))
    return queue_edit(
        user=user,
        request=request,
        datastore_id=edit.datastore_id,
        image_set_id=edit.image_set_id,
        base_version=latest.version,
        changes=changes,
        force=edit.force,
        reason=edit.reason,
        reapplies=edit,
    )


def rebase_changes(
    changes: list[AttributeChange], document: dict
) -> list[AttributeChange]:
    """The changes against a newer document: old values from it, and only what still differs."""
    rebased = []
    for change in changes:
        element = level_element(document, change) or {}
        present = change.attribute in element
        current = element.get(change.attribute)
        if change.remove and not present:
            continue
        if not change.remove and present and current == change.new:
            continue
        rebased.append(
            AttributeChange(**{**change.as_json(), "old": current if present else None})
        )
    return rebased


def check_again(
    *, edit: MetadataEdit, user: AbstractBaseUser, request: HttpRequest | None
) -> None:
    """Resume a job that stopped at its deadline ("still locked"), with a new deadline."""
    if edit.status != Status.TIMED_OUT:
        raise EditStateRefused(
            "Only an edit that is still locked can be checked again."
        )
    if edit.is_revert and not user.has_perm(REVERT):
        raise EditRefused("Your role does not let you revert image sets.")
    now = timezone.now()
    resumed = Status.UPDATING if edit.accepted_version else Status.QUEUED

    def resume() -> None:
        updated = MetadataEdit.objects.filter(
            pk=edit.pk, status=Status.TIMED_OUT
        ).update(
            status=resumed,
            waiting_since=now,
            next_check_at=now,
            finished_at=None,
        )
        if updated:
            _audit_job(
                edit,
                AuditEvent.Action.EDIT_CHECKED_AGAIN,
                resumed.label,
                actor=user,
                request=request,
            )
            transaction.on_commit(lambda: schedule_step(edit.id))

    _claim_image_set(edit, resume)


# -- the worker's step -------------------------------------------------------------------


def advance_edit(
    edit_id: uuid.UUID | str,
    *,
    step_id: uuid.UUID | str | None = None,
    redelivered: bool = False,
) -> None:
    """Take the edit's next step, if it is due and no other step holds it.

    `step_id` names the step (the task's id, which its message keeps when the broker hands
    it out again); `redelivered` says the broker did.
    """
    lease = _take_lease(edit_id, step_id=step_id, redelivered=redelivered)
    if lease is None:
        return
    edit = MetadataEdit.objects.select_related("requested_by").get(pk=edit_id)
    # Who holds the row: the lease, and how many times it was taken over. A copy of this
    # message that takes it over counts one more, and then this step can not write.
    held = Q(lease=lease, interruptions=edit.interruptions)
    edit.pending_audit = []
    now = timezone.now()
    edit.checks += 1
    if edit.interruptions >= MAX_INTERRUPTIONS:
        _finish(
            edit,
            Status.FAILED,
            now,
            message=f"The worker stopped {edit.interruptions} times in the middle of this "
            "edit, so it was given up. Check the image set's versions before re-applying it.",
        )
        _save_step(edit, held, now, None)
        return
    try:
        delay = (
            _submit(edit, now) if edit.accepted_version is None else _follow(edit, now)
        )
    except SoftTimeLimitExceeded:
        delay = _wait(edit, now, errors.Unavailable("the step ran out of time"))
    except DatabaseError:
        # The row can not be written now; its lease expires and the reconciler re-drives it.
        raise
    except Exception as error:  # noqa: BLE001 - a bug must stop the job, not loop it
        logger.error(
            "Edit %s stopped by %s:\n%s",
            edit.id,
            type(error).__name__,
            "".join(
                traceback.format_tb(error.__traceback__)
            ),  # no message: it may hold PHI
        )
        _finish(
            edit,
            Status.FAILED,
            now,
            message="The portal hit an unexpected error and stopped this edit. "
            "Its details are in the worker's log.",
        )
        delay = None
    if delay is not None:
        delay = min(delay, MAX_COUNTDOWN)
    if _save_step(edit, held, now, delay) and edit.is_active:
        schedule_step(edit.id, countdown=delay or 0)


def _save_step(
    edit: MetadataEdit, held: Q, now: datetime.datetime, delay: float | None
) -> bool:
    """Write the step's outcome and its audit records together, if the row is still held
    as `held`; whether it was."""
    edit.lease = None
    edit.lease_expires_at = None
    if edit.is_active:
        edit.next_check_at = now + datetime.timedelta(seconds=delay or 0)
    with transaction.atomic():
        saved = MetadataEdit.objects.filter(held, pk=edit.pk).update(
            **{field: getattr(edit, field) for field in _STEP_FIELDS},
            updated_at=timezone.now(),
        )
        if saved:
            for action, outcome in edit.pending_audit:
                logger.info("Edit %s: %s", edit.id, action.label)
                _audit_job(edit, action, outcome, actor=edit.requested_by)
    return bool(saved)


_STEP_FIELDS = (
    "status",
    "message",
    "first_submitted_at",
    "submitted_at",
    "accepted_version",
    "attempts",
    "checks",
    "waiting_since",
    "next_check_at",
    "finished_at",
    "lease",
    "lease_expires_at",
)


def _take_lease(
    edit_id: uuid.UUID | str,
    *,
    step_id: uuid.UUID | str | None,
    redelivered: bool,
) -> uuid.UUID | None:
    """Claim the row for one step: active, due, and not held by a live step.

    The lease is the step's id, so a redelivered message knows the lease it took before.
    """
    now = timezone.now()
    lease = uuid.UUID(str(step_id)) if step_id else uuid.uuid4()
    expires = now + datetime.timedelta(seconds=LEASE_SECONDS)
    due = MetadataEdit.objects.filter(
        pk=edit_id, status__in=MetadataEdit.ACTIVE
    ).filter(
        Q(next_check_at__isnull=True) | Q(next_check_at__lte=now + EARLY_TOLERANCE)
    )
    if due.filter(lease__isnull=True).update(lease=lease, lease_expires_at=expires):
        return lease
    # A lease held by a step that died (a killed worker, a crash): it expired, or this very
    # message holds it and came back. The broker hands a message out again only once the
    # delivery that took it is dead (its pool process lost, or its worker silent past the
    # visibility timeout, longer than any step), so its step need not wait out the lease.
    # Counted, so a job that takes its worker down every time stops instead of looping.
    dead = Q(lease_expires_at__lt=now)
    if redelivered:
        dead |= Q(lease=lease)
    interrupted = due.filter(dead).update(
        lease=lease, lease_expires_at=expires, interruptions=F("interruptions") + 1
    )
    return lease if interrupted else None


def _submit(edit: MetadataEdit, now: datetime.datetime) -> float | None:
    """Send the update, when the shared pace allows; returns seconds until the next step."""
    if edit.waiting_since is not None:
        # It waited (locked, throttled, unreachable): look before spending an update.
        looked = _look_before_sending(edit, now)
        if looked is not _SEND:
            return looked
    try:
        wait = pacing.take_update_slot()
    except SoftTimeLimitExceeded:
        raise
    except Exception:  # noqa: BLE001 - the limiter's Redis is out of reach: wait, not fail
        logger.warning("Update limiter unreachable for edit %s", edit.id)
        return _wait(edit, now, errors.Unavailable("the update limiter is unreachable"))
    if wait:
        # Edits before this one that wait for a slot: not one whose step runs now, which may
        # be the very edit sending with the slot this one was refused.
        ahead = MetadataEdit.objects.filter(
            status=Status.QUEUED,
            accepted_version__isnull=True,
            created_at__lt=edit.created_at,
            lease__isnull=True,
        ).count()
        # Come back about when this edit's turn comes, not all at once with every other.
        return wait + ahead * pacing.update_interval() + random.uniform(0, 0.5)  # noqa: S311
    edit.attempts += 1
    edit.submitted_at = now
    edit.first_submitted_at = edit.first_submitted_at or now
    # Recorded before the call: from here on the update may have reached HealthImaging.
    MetadataEdit.objects.filter(pk=edit.pk).update(
        attempts=edit.attempts,
        submitted_at=now,
        first_submitted_at=edit.first_submitted_at,
    )
    try:
        accepted = get_gateway().update_image_set_metadata(
            edit.datastore_id,
            edit.image_set_id,
            latest_version=edit.base_version,
            **(
                {"revert_to_version": edit.revert_to_version}
                if edit.is_revert
                else {"dicom_updates": dicom_updates(edit.attribute_changes)}
            ),
            force=edit.force,
        )
    except errors.StaleVersion:
        return _recognise_own_write(edit, now)
    except errors.QuotaExceeded as error:
        _finish(edit, Status.FAILED, now, message=_failure_text(error))
        return None
    except (errors.Locked, errors.Throttled, errors.Unavailable) as error:
        return _wait(edit, now, error)
    except errors.HealthImagingError as error:
        _finish(edit, Status.FAILED, now, message=_failure_text(error))
        return None
    finally:
        pacing.update_ended()
    _accept(edit, accepted.version, now)
    return settings.EDIT_POLL_FIRST_SECONDS


_SEND = object()


def _look_before_sending(edit: MetadataEdit, now: datetime.datetime) -> object:
    """`_SEND` if the image set is settled at the edit's base version; else the next delay."""
    try:
        latest = get_gateway().get_image_set(edit.datastore_id, edit.image_set_id)
    except (errors.Throttled, errors.Unavailable) as error:
        return _wait(edit, now, error)
    except errors.HealthImagingError as error:
        _finish(edit, Status.FAILED, now, message=_failure_text(error))
        return None
    if not latest.is_settled:
        return _wait(edit, now, None)
    if latest.version != edit.base_version:
        return _recognise_own_write(edit, now)
    return _SEND


def _recognise_own_write(edit: MetadataEdit, now: datetime.datetime) -> float | None:
    """After "not the latest": is the next version this edit's own write, or someone else's?

    Its own write is a version made after the edit was first sent that carries every
    change (for a revert: whose metadata equals the target version's). A version made after
    that send which failed is taken as its own failed write (its content is unchanged, so
    the edit may be re-applied).
    """
    gateway = get_gateway()
    candidate = edit.base_version + 1
    try:
        version = gateway.get_image_set(
            edit.datastore_id, edit.image_set_id, version=candidate
        )
        if not version.is_settled:
            return _wait(edit, now, None)  # decide once the next version has settled
        after_send = (
            edit.first_submitted_at is not None
            and version.updated_at is not None
            and version.updated_at >= edit.first_submitted_at - CLOCK_SKEW
        )
        failed = (version.workflow_status or "").endswith("_FAILED")
        ours = after_send and not failed and _is_own_content(edit, candidate)
    except (errors.Throttled, errors.Unavailable) as error:
        return _wait(edit, now, error)
    except errors.HealthImagingError as error:
        _finish(edit, Status.FAILED, now, message=_failure_text(error))
        return None
    if ours:
        _accept(edit, candidate, now)
        return _settle(edit, version, now)
    if after_send and failed:
        _finish(
            edit,
            Status.FAILED,
            now,
            message=version.message or "HealthImaging could not apply the update.",
        )
        return None
    _finish(
        edit,
        Status.CONFLICT,
        now,
        message=(
            f"The image set changed after you opened it (version {edit.base_version}); "
            + (
                f"the revert to version {edit.revert_to_version} was not applied. Review "
                "the history and revert again from the latest version."
                if edit.is_revert
                else "your change was not applied. Review what changed and re-apply it "
                "on the latest version."
            )
        ),
    )
    return None


def _is_own_content(edit: MetadataEdit, candidate: int) -> bool:
    """Whether version `candidate` holds what this job asked for."""
    gateway = get_gateway()
    document = gateway.get_image_set_metadata(
        edit.datastore_id, edit.image_set_id, version=candidate
    )
    if edit.is_revert:
        return document == gateway.get_image_set_metadata(
            edit.datastore_id, edit.image_set_id, version=edit.revert_to_version
        )
    return carries(document, edit.attribute_changes)


def _follow(edit: MetadataEdit, now: datetime.datetime) -> float | None:
    """Look at the edit's version once; finish if it has settled."""
    try:
        version = get_gateway().get_image_set(
            edit.datastore_id, edit.image_set_id, version=edit.accepted_version
        )
    except (errors.Throttled, errors.Unavailable) as error:
        return _wait(edit, now, error)
    except errors.HealthImagingError as error:
        _finish(edit, Status.FAILED, now, message=_failure_text(error))
        return None
    return _settle(edit, version, now)


def _settle(
    edit: MetadataEdit, version: ImageSet, now: datetime.datetime
) -> float | None:
    if not version.is_settled:
        return _wait(edit, now, None)
    if version.workflow_status == "UPDATED":
        _finish(edit, Status.SUCCEEDED, now, message=version.message or "")
    else:
        _finish(
            edit,
            Status.FAILED,
            now,
            message=version.message
            or f"HealthImaging did not apply the update (the image set is "
            f"{version.state}, {version.workflow_status or 'without a status'}).",
        )
    return None


def _wait(
    edit: MetadataEdit, now: datetime.datetime, error: errors.HealthImagingError | None
) -> float | None:
    """Wait for the image set (or the service) with a growing delay, up to the deadline."""
    edit.waiting_since = edit.waiting_since or now
    waited = (now - edit.waiting_since).total_seconds()
    if waited >= settings.EDIT_DEADLINE_SECONDS:
        minutes = max(round(settings.EDIT_DEADLINE_SECONDS / 60), 1)
        if error is None or isinstance(error, errors.Locked):
            text = (
                f"The image set is still locked after {minutes} min: HealthImaging has not "
                "finished. Check again later."
            )
        else:
            text = f"{error.user_message} (for {minutes} min). Check again later."
        _finish(edit, Status.TIMED_OUT, now, message=text)
        return None
    if isinstance(error, errors.Throttled | errors.Unavailable):
        # Full jitter, so workers throttled together do not come back together.
        return float(
            get_exponential_backoff_interval(
                factor=1,
                retries=min(edit.checks, 10),
                maximum=int(settings.EDIT_POLL_MAX_SECONDS),
                full_jitter=True,
            )
        ) + random.uniform(0.5, 1.0)  # noqa: S311
    delay = min(
        max(waited, settings.EDIT_POLL_FIRST_SECONDS), settings.EDIT_POLL_MAX_SECONDS
    )
    return delay * random.uniform(0.9, 1.1)  # noqa: S311


def _accept(edit: MetadataEdit, version: int, now: datetime.datetime) -> None:
    edit.accepted_version = version
    edit.status = Status.UPDATING
    edit.waiting_since = now
    _audit(
        edit,
        AuditEvent.Action.REVERT_ACCEPTED
        if edit.is_revert
        else AuditEvent.Action.EDIT_ACCEPTED,
        Status.UPDATING.label,
    )


_FINISHED_ACTIONS = {
    Status.SUCCEEDED: AuditEvent.Action.EDIT_SUCCEEDED,
    Status.FAILED: AuditEvent.Action.EDIT_FAILED,
    Status.CONFLICT: AuditEvent.Action.EDIT_CONFLICT,
    Status.TIMED_OUT: AuditEvent.Action.EDIT_TIMED_OUT,
}
_REVERT_FINISHED_ACTIONS = {
    Status.SUCCEEDED: AuditEvent.Action.REVERT_SUCCEEDED,
    Status.FAILED: AuditEvent.Action.REVERT_FAILED,
    Status.CONFLICT: AuditEvent.Action.REVERT_CONFLICT,
    Status.TIMED_OUT: AuditEvent.Action.REVERT_TIMED_OUT,
}


def _finish(
    edit: MetadataEdit, status: Status, now: datetime.datetime, *, message: str
) -> None:
    edit.status = status
    edit.message = message
    edit.finished_at = now
    edit.next_check_at = None
    actions = _REVERT_FINISHED_ACTIONS if edit.is_revert else _FINISHED_ACTIONS
    _audit(edit, actions[status], status.label)


def _audit(edit: MetadataEdit, action: AuditEvent.Action, outcome: str) -> None:
    """Recorded with the step's outcome, in the same transaction (see `_save_step`)."""
    edit.pending_audit.append((action, outcome))


def _failure_text(error: errors.HealthImagingError) -> str:
    return f"{error.user_message} {error.detail}".strip()


# -- the reconciler ----------------------------------------------------------------------


def reconcile_edits() -> int:
    """Re-drive every active edit whose next step is overdue; returns how many.

    Messages can be lost (a Redis restart without persistence, a broker outage at enqueue,
    a cancelled task); the row cannot. A re-driven step that turns out to be a duplicate
    finds the row not yet due, or leased, and does nothing.
    """
    overdue = timezone.now() - datetime.timedelta(
        seconds=settings.EDIT_RECONCILE_GRACE_SECONDS
    )
    stuck = list(
        MetadataEdit.objects.filter(status__in=MetadataEdit.ACTIVE)
        .filter(Q(next_check_at__lt=overdue) | Q(next_check_at__isnull=True))
        .filter(Q(lease__isnull=True) | Q(lease_expires_at__lt=timezone.now()))
        .values_list("pk", flat=True)
    )
    for edit_id in stuck:
        schedule_step(edit_id)
    if stuck:
        logger.info(
            "Reconciler re-drove %d edits: %s%s",
            len(stuck),
            " ".join(str(edit_id) for edit_id in stuck[:20]),
            " ..." if len(stuck) > 20 else "",
        )
    return len(stuck)
