"""The Import jobs tab's status filter, and the Start import form.

The Start import form checks each value as HealthImaging does (StartDICOMImportJob in the
botocore model: the same patterns and lengths, a test keeps them equal), and matches them the
way the service's Java validation does: the whole value, `\\d` meaning 0-9, `.` not matching a
line end, and lengths counted in UTF-16 code units.
"""

import re
import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.core.numbers import positive_int
from apps.imports.selectors import STATUS_LABELS

MAX_PAGE = 100_000
# Java's `.` stops at these; Python's only at "\n".
_JAVA_LINE_ENDS = "\n\r\u0085\u2028\u2029"
_JAVA_DOT = "[^" + "".join(f"\\u{ord(c):04x}" for c in _JAVA_LINE_ENDS) + "]"


def _java_to_python(pattern: str) -> str:
    """The model's Java pattern for Python's `re`: each `.` outside a class as Java reads it."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char == "." and not in_class:
            out.append(_JAVA_DOT)
            continue
        out.append(char)
    return "".join(out)


def utf16_length(value: str) -> int:
    """A string's length as Java (and the service) counts it."""
    return len(value.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class ModelRule:
    """One member's constraint in the model: a pattern the whole value matches, and lengths."""

    pattern: str
    min_length: int
    max_length: int

    def matches(self, value: str) -> bool:
        return re.fullmatch(_java_to_python(self.pattern), value, re.ASCII) is not None

    def fits(self, value: str) -> bool:
        return self.min_length <= utf16_length(value) <= self.max_length


# StartDICOMImportJob's members (botocore model shapes JobName, S3Uri, RoleArn, AwsAccountId,
# ClientToken). tests/imports/test_forms.py checks them against the installed model.
JOB_NAME = ModelRule(r"[A-Za-z0-9._/#-]+", 1, 64)
S3_URI = ModelRule(r"s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?", 1, 1024)
ROLE_ARN = ModelRule(r"arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+", 20, 2048)
ACCOUNT_ID = ModelRule(r"\d+", 12, 12)
CLIENT_TOKEN = ModelRule(r"[A-Za-z0-9._-]+", 1, 64)

S3_URI_EXAMPLE = "s3://my-bucket/dicom/"
ROLE_ARN_EXAMPLE = "arn:aws:iam::123456789012:role/HealthImagingImport"
TOKEN_LOST = (
    "This form lost the one-time token that keeps it from starting the same import twice. "
    "Open the form again to start an import."
)


def default_job_name() -> str:
    return timezone.localtime().strftime("import-%Y%m%d-%H%M%S")


def new_client_token() -> str:
    return uuid.uuid4().hex


def _checked(value: str, rule: ModelRule, *, problem: str, what: str) -> str:
    """`value` if it passes `rule`; otherwise a message with the length, or `problem`."""
    length = utf16_length(value)
    if length > rule.max_length:
        raise ValidationError(
            f"{what} can be at most {rule.max_length} characters long; this one has {length}."
        )
    if length < rule.min_length or not rule.matches(value):
        raise ValidationError(problem)
    return value


def _text(**attrs: str) -> forms.TextInput:
    return forms.TextInput(
        attrs={"autocomplete": "off", "spellcheck": "false", **attrs}
    )


class StartImportForm(forms.Form):
    job_name = forms.CharField(
        label="Job name",
        required=False,
        help_text=(
            "Letters, digits and . _ / # - only, at most 64 characters. "
            "Left empty, the job is named import- and this form's own reference."
        ),
        widget=_text(),
    )
    input_s3_uri = forms.CharField(
        label="Input S3 URI",
        help_text=(
            "The S3 folder that holds the DICOM files to import, such as "
            f"{S3_URI_EXAMPLE}. Every file under it is read."
        ),
        error_messages={
            "required": f"Enter the S3 URI of the DICOM files, such as {S3_URI_EXAMPLE}"
        },
        widget=_text(inputmode="url"),
    )
    output_s3_uri = forms.CharField(
        label="Output S3 URI",
        help_text=(
            "The S3 folder where HealthImaging writes the job's results: which files were "
            "imported and which were not, and why. For example s3://my-bucket/import-results/."
        ),
        error_messages={
            "required": (
                "Enter the S3 URI of a folder for the job's results, such as "
                "s3://my-bucket/import-results/"
            )
        },
        widget=_text(inputmode="url"),
    )
    data_access_role_arn = forms.CharField(
        label="IAM role ARN",
        help_text=(
            "The IAM role HealthImaging takes on to read the input folder and write the "
            f"results, such as {ROLE_ARN_EXAMPLE}."
        ),
        error_messages={
            "required": f"Enter the ARN of an IAM role, such as {ROLE_ARN_EXAMPLE}"
        },
        widget=_text(),
    )
    input_owner_account_id = forms.CharField(
        label="Source account ID (optional)",
        required=False,
        help_text=(
            "Only when the input bucket belongs to another AWS account: "
            "that account's 12-digit ID."
        ),
        widget=_text(inputmode="numeric"),
    )
    # Made when the form is first shown and sent back with it: HealthImaging starts one job
    # per token, so a form sent twice (a double click, a reload) starts one job.
    client_token = forms.CharField(
        widget=forms.HiddenInput,
        error_messages={"required": TOKEN_LOST},
    )

    @classmethod
    def first_shown(cls) -> "StartImportForm":
        """The empty form as it is first shown: a fresh client token, a suggested name."""
        return cls(
            initial={"client_token": new_client_token(), "job_name": default_job_name()}
        )

    def clean_job_name(self) -> str:
        value = self.cleaned_data["job_name"]
        if not value:
            return ""  # named after the client token in `clean`
        return _checked(
            value,
            JOB_NAME,
            what="A job name",
            problem=(
                "Use only letters, digits and the characters . _ / # - in the job name "
                "(no spaces), for example import-2024-ct."
            ),
        )

    def clean_input_s3_uri(self) -> str:
        return self._s3_uri("input_s3_uri", example=S3_URI_EXAMPLE)

    def clean_output_s3_uri(self) -> str:
        return self._s3_uri("output_s3_uri", example="s3://my-bucket/import-results/")

    def _s3_uri(self, name: str, *, example: str) -> str:
        return _checked(
            self.cleaned_data[name],
            S3_URI,
            what="An S3 URI",
            problem=(
                f"Enter an S3 URI such as {example}: s3:// then the bucket name "
                "(3 to 63 lowercase letters, digits, dots or hyphens, starting and ending "
                "with a letter or digit), then / and the folder."
            ),
        )

    def clean_data_access_role_arn(self) -> str:
        return _checked(
            self.cleaned_data["data_access_role_arn"],
            ROLE_ARN,
            what="A role ARN",
            problem=(
                f"Enter an IAM role ARN such as {ROLE_ARN_EXAMPLE}: arn:aws:iam::, the "
                "12-digit account ID, then :role/ and the role's name."
            ),
        )

    def clean_input_owner_account_id(self) -> str:
        value = self.cleaned_data["input_owner_account_id"]
        if not value:
            return ""
        if not (ACCOUNT_ID.fits(value) and ACCOUNT_ID.matches(value)):
            raise ValidationError(
                "Enter the 12 digits of an AWS account ID, such as 123456789012, "
                "or leave it empty."
            )
        return value

    def clean_client_token(self) -> str:
        value = self.cleaned_data["client_token"]
        if not (CLIENT_TOKEN.fits(value) and CLIENT_TOKEN.matches(value)):
            raise ValidationError(TOKEN_LOST)
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        token = cleaned.get("client_token")
        if not cleaned.get("job_name") and token:
            # Named after the token, not the time: sent again, it is the same job.
            cleaned["job_name"] = f"import-{token}"[: JOB_NAME.max_length]
        return cleaned

    def job_parameters(self) -> dict[str, Any]:
        """The cleaned values, named as `services.import_job_start` takes them."""
        data = self.cleaned_data
        return {
            "job_name": data["job_name"],
            "input_s3_uri": data["input_s3_uri"],
            "output_s3_uri": data["output_s3_uri"],
            "data_access_role_arn": data["data_access_role_arn"],
            "input_owner_account_id": data["input_owner_account_id"] or None,
            "client_token": data["client_token"],
        }


class ImportJobFilterForm(forms.Form):
    """The Import jobs tab's status filter, and the page and cursor of its paging links."""

    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "All statuses"), *STATUS_LABELS.items()],
    )

    def page(self) -> int:
        return positive_int(self.data.get("page", ""), maximum=MAX_PAGE) or 1

    def cursor(self) -> str | None:
        return (self.data.get("cursor") or None) if self.page() > 1 else None

    def parameters(self) -> dict[str, str]:
        """The filter as query parameters, left out when empty (so page 1 is the bare URL)."""
        status = self.cleaned_data.get("status") or ""
        return {"status": status} if status else {}
