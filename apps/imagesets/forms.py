"""The image set search form: the console's property filter, date range, sort and page size."""

from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone

from apps.core.numbers import positive_int
from apps.healthimaging import criteria

PAGE_SIZES = (10, 25, 50)
DEFAULT_PAGE_SIZE = 25
MAX_PAGE = 100_000
ORDERS = (("desc", "Newest first"), ("asc", "Oldest first"))
# Sent on arrival and filled in for any the URL leaves out, so the selects show the real choice.
DEFAULTS = {
    "sort_by": "updated_at",
    "order": "desc",
    "page_size": str(DEFAULT_PAGE_SIZE),
}
# The parameters that define a search; paging adds `page` and `cursor`.
SEARCH_PARAMETERS = (
    "property",
    "value",
    "date_from",
    "time_from",
    "date_to",
    "time_to",
    "sort_by",
    "order",
    "page_size",
)


class ImageSetSearchForm(forms.Form):
    property = forms.ChoiceField(
        label="Property",
        required=False,
        choices=[("", "All image sets")]
        + [(key, p.label) for key, p in criteria.PROPERTIES.items()],
    )
    value = forms.CharField(label="Value", required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    time_from = forms.TimeField(
        label="From time",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    time_to = forms.TimeField(
        label="To time",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    sort_by = forms.ChoiceField(
        label="Sort by",
        choices=[(key, label) for key, (label, _) in criteria.SORT_FIELDS.items()],
    )
    order = forms.ChoiceField(label="Order", choices=ORDERS)
    page_size = forms.TypedChoiceField(
        label="Results per page",
        choices=[(str(size), str(size)) for size in PAGE_SIZES],
        coerce=int,
    )

    def __init__(self, query: QueryDict, **kwargs: Any) -> None:
        data = query.copy()
        for name, value in DEFAULTS.items():
            if not data.get(name):
                data[name] = value
        super().__init__(data, **kwargs)
        self.criteria: dict | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        query = criteria.SearchQuery(
            property=cleaned.get("property") or "",
            value=cleaned.get("value") or "",
            date_from=cleaned.get("date_from"),
            time_from=cleaned.get("time_from"),
            date_to=cleaned.get("date_to"),
            time_to=cleaned.get("time_to"),
            sort_by=cleaned.get("sort_by") or DEFAULTS["sort_by"],
            descending=cleaned.get("order", "desc") != "asc",
        )
        try:
            self.criteria = criteria.build_search_criteria(
                query, timezone=timezone.get_current_timezone()
            )
        except criteria.InvalidSearch as invalid:
            for name, messages in invalid.errors.items():
                # A field Django already rejected (say, 2023-02-30) keeps just that message.
                if name not in self.errors:
                    self.add_error(name if name in self.fields else None, messages)
        return cleaned

    # (No @property here: the `property` field above shadows the builtin in this class.)
    def page(self) -> int:
        """The page number asked for; anything that is not a sensible page is page 1."""
        return positive_int(self.data.get("page", ""), maximum=MAX_PAGE) or 1

    def cursor(self) -> str | None:
        """The nextToken that leads to the page asked for (page 1 needs none)."""
        return (self.data.get("cursor") or None) if self.page() > 1 else None

    def search_parameters(self) -> dict[str, str]:
        """The search as query parameters (empty ones left out), as typed and normalised."""
        return {
            name: self._parameter(name)
            for name in SEARCH_PARAMETERS
            if self._parameter(name)
        }

    def _parameter(self, name: str) -> str:
        value = self.cleaned_data.get(name)
        if value is None:
            return ""
        if name.startswith("time_"):
            return value.isoformat(timespec="seconds" if value.second else "minutes")
        if name.startswith("date_"):
            return value.isoformat()
        return str(value)
