"""Template helpers for edits: the status panel on an image set's page, and how changed
values and payloads read.

The panel is a tag so that the image set pages can show it without knowing about edits.
"""

import json
from collections.abc import Iterable

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.accounts.roles import QUEUE_EDIT
from apps.edits import selectors
from apps.edits.changes import AttributeChange, dicom_updates
from apps.edits.models import MetadataEdit
from apps.edits.rules import value_text

register = template.Library()


@register.inclusion_tag("edits/partials/edit_status.html", takes_context=True)
def edit_status_panel(
    context: template.Context, datastore_id: str, image_set_id: str
) -> dict:
    """The signed-in user's newest edit of this image set, if it is active or recent."""
    user = context["request"].user
    edit = (
        selectors.edit_recent_get(
            user=user, datastore_id=datastore_id, image_set_id=image_set_id
        )
        if user.has_perm(QUEUE_EDIT)  # its status is polled: only for who may see it
        else None
    )
    return {"edit": edit}


@register.filter
def change_value(value: object) -> str | SafeString:
    """A value as typed in the form (several values joined by `\\`); null as "empty"."""
    if value is None:
        return format_html('<em class="value--empty">{}</em>', "empty")
    return value_text(value)


@register.filter
def dicom_updates_json(changes: Iterable[AttributeChange]) -> str:
    """The DICOMUpdates members the changes become, pretty-printed (escaped on output)."""
    return json.dumps(dicom_updates(changes), indent=2, ensure_ascii=False)


@register.filter
def changed_attributes(edit: MetadataEdit) -> str:
    """The attributes an edit changes, each once, in order: "PatientName, StudyDate"."""
    names = dict.fromkeys(change.attribute for change in edit.attribute_changes)
    return ", ".join(names)
