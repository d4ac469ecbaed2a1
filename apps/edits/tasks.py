"""Celery tasks for edits: thin, idempotent, ids in and nothing out (Celery logs both)."""

from celery import Task, shared_task

from apps.edits import services


@shared_task(name=services.ADVANCE_TASK, ignore_result=True, bind=True)
def advance_edit(self: Task, edit_id: str) -> None:
    services.advance_edit(
        edit_id,
        step_id=self.request.id,
        redelivered=bool((self.request.delivery_info or {}).get("redelivered")),
    )


@shared_task(name="apps.edits.tasks.reconcile_edits", ignore_result=True)
def reconcile_edits() -> None:
    services.reconcile_edits()
