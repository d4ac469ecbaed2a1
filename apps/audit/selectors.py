"""Reading the audit trail: the filtered records, newest first."""

import datetime

from django.db.models import Q, QuerySet

from apps.audit.models import AuditEvent


def audit_event_list(
    *,
    user: str = "",
    action: str = "",
    datastore_id: str = "",
    image_set_id: str = "",
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Records matching every filter given, newest first (in a stable order for paging).

    `user` matches who acted, who was acted on (role changes), or the name a sign-in used.
    """
    events = AuditEvent.objects.select_related("actor", "subject")
    if user:
        events = events.filter(
            Q(actor__username=user) | Q(subject__username=user) | Q(username=user)
        )
    if action:
        events = events.filter(action=action)
    if datastore_id:
        events = events.filter(datastore_id=datastore_id)
    if image_set_id:
        events = events.filter(image_set_id=image_set_id)
    if start is not None:
        events = events.filter(at__gte=start)
    if end is not None:
        events = events.filter(at__lte=end)
    return events.order_by("-at", "-id")
