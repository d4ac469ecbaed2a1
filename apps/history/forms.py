"""The compare form (two versions) and the revert confirmation (a reason)."""

from django import forms


class CompareForm(forms.Form):
    """`from` and `to` are the query's names; either may be left out (see `versions`)."""

    from_version = forms.IntegerField(label="From version", min_value=1, required=False)
    to_version = forms.IntegerField(label="To version", min_value=1, required=False)
    all = forms.BooleanField(label="Show unchanged attributes", required=False)

    def __init__(self, query: dict, **kwargs: object) -> None:
        data = {
            "from_version": query.get("from", ""),
            "to_version": query.get("to", ""),
            "all": query.get("all", ""),
        }
        super().__init__(data, **kwargs)

    def versions(self, latest: int) -> tuple[int, int]:
        """(old, new): by default the latest version and the one before it; with only
        `to`, that version and the one before it."""
        new = self.cleaned_data.get("to_version") or latest
        old = self.cleaned_data.get("from_version") or max(new - 1, 1)
        return old, new


class RevertForm(forms.Form):
    reason = forms.CharField(
        label="Reason for the revert",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Recorded in the audit trail with your name.",
    )
    # The latest version the admin saw: sent as latestVersionId, so a change made since
    # ends the job in conflict instead of being overwritten.
    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason for the revert.")
        return reason
