"""The form that makes a personal API token: a name, and when it expires."""

from django import forms

NEVER = "never"
EXPIRY_CHOICES = [
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In 365 days"),
    (NEVER, "Never"),
]
DEFAULT_EXPIRY = "90"


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the token is for, so you can tell your tokens apart, "
        "e.g. “nightly export script”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expires_in = forms.ChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        initial=DEFAULT_EXPIRY,
        help_text="A token that never expires works until you revoke it.",
    )

    @property
    def expires_in_days(self) -> int | None:
        """The chosen lifetime in days, None for never (call after `is_valid()`)."""
        choice = self.cleaned_data["expires_in"]
        return None if choice == NEVER else int(choice)
