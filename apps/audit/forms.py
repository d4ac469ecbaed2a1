"""The audit log's filters: user, action, data store, image set and a time range (UTC).

Every value is optional; a bad one is an error beside its field, never a server error.
"""

import datetime
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils import timezone

from apps.audit.models import AuditEvent

# The query parameters that define a filter; paging adds `page`.
FILTER_PARAMETERS = ("user", "action", "datastore_id", "image_set_id", "start", "end")
_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
_INPUT_FORMATS = (
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)
_HEALTHIMAGING_ID = RegexValidator(
    r"^[0-9a-z]{32}$", "Enter an ID of 32 lowercase letters and digits."
)


class UTCDateTimeField(forms.DateTimeField):
    """A date and time read as UTC, whatever the active time zone; one given with an offset
    is turned to UTC (the database keeps UTC, and PostgreSQL refuses offsets beyond 15:59
    that Python takes)."""

    def to_python(self, value: Any) -> datetime.datetime | None:
        with timezone.override(datetime.UTC):
            parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError:
            raise ValidationError(
                "Enter a date and time from the year 1 to 9999 in UTC.", code="invalid"
            ) from None


class IdentifierField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            required=False, max_length=32, validators=[_HEALTHIMAGING_ID], **kwargs
        )

    def to_python(self, value: Any) -> str:
        return super().to_python(value).lower()


def _datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(
        attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
    )


class AuditFilterForm(forms.Form):
    user = forms.CharField(
        label="User",
        required=False,
        max_length=150,
        help_text="A user name: who acted, who was acted on, or who tried to sign in.",
    )
    action = forms.ChoiceField(
        label="Action",
        required=False,
        choices=[("", "All actions"), *AuditEvent.Action.choices],
    )
    datastore_id = IdentifierField(label="Data store ID")
    image_set_id = IdentifierField(label="Image set ID")
    start = UTCDateTimeField(
        label="From (UTC)",
        required=False,
        input_formats=_INPUT_FORMATS,
        widget=_datetime_input(),
    )
    end = UTCDateTimeField(
        label="To (UTC)",
        required=False,
        input_formats=_INPUT_FORMATS,
        widget=_datetime_input(),
    )

    def clean_end(self) -> datetime.datetime | None:
        end = self.cleaned_data.get("end")
        if end is not None and _DATE_ONLY.match(self.data.get("end", "")):
            # A day on its own means up to the end of that day (9999-12-31 too).
            end = end.replace(hour=23, minute=59, second=59, microsecond=999999)
        return end

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is not None and end is not None and start > end:
            self.add_error("end", "The end of the range must not be before its start.")
        return cleaned

    def full_clean(self) -> None:
        super().full_clean()
        # Each error is read out with its field (the template gives it this id).
        for name in self.errors:
            if name in self.fields:
                field = self[name]
                described = [f"{field.auto_id}_error"]
                if field.help_text:
                    described.append(f"{field.auto_id}_helptext")
                self.fields[name].widget.attrs["aria-describedby"] = " ".join(described)

    def filters(self) -> dict[str, Any]:
        """The filters given, by name (call after `is_valid()`)."""
        return {name: value for name, value in self.cleaned_data.items() if value}
