"""The Start import form checks each value as HealthImaging does, and says what is wrong in
words for the people who fill it in; its rules are the botocore model's, kept from drifting."""

import re

import botocore.session
import pytest
from django.http import QueryDict

from apps.imports import forms
from apps.imports.forms import ImportJobFilterForm, StartImportForm
from apps.imports.selectors import STATUS_LABELS

GOOD = {
    "job_name": "ct-batch-1",
    "input_s3_uri": "s3://my-bucket/dicom/",
    "output_s3_uri": "s3://my-bucket/import-results/",
    "data_access_role_arn": "arn:aws:iam::123456789012:role/HealthImagingImport",
    "input_owner_account_id": "",
    "client_token": "0123456789abcdef0123456789abcdef",
}
# Form field -> StartDICOMImportJob member.
MEMBERS = {
    "job_name": "jobName",
    "input_s3_uri": "inputS3Uri",
    "output_s3_uri": "outputS3Uri",
    "data_access_role_arn": "dataAccessRoleArn",
    "input_owner_account_id": "inputOwnerAccountId",
    "client_token": "clientToken",
}
RULES = {
    "jobName": forms.JOB_NAME,
    "inputS3Uri": forms.S3_URI,
    "outputS3Uri": forms.S3_URI,
    "dataAccessRoleArn": forms.ROLE_ARN,
    "inputOwnerAccountId": forms.ACCOUNT_ID,
    "clientToken": forms.CLIENT_TOKEN,
}
EMOJI = "\N{GRINNING FACE}"  # one code point, two UTF-16 code units, as Java counts


def start_model():
    model = botocore.session.get_session().get_service_model("medical-imaging")
    return model.operation_model("StartDICOMImportJob").input_shape


def bound(**values):
    return StartImportForm(data={**GOOD, **values})


@pytest.mark.parametrize(("member", "rule"), RULES.items())
def test_each_rule_is_the_models_pattern_and_lengths(member, rule):
    shape = start_model().members[member]

    assert rule.pattern == shape.metadata["pattern"]
    assert rule.min_length == shape.metadata["min"]
    assert rule.max_length == shape.metadata["max"]


def test_the_form_asks_for_what_the_model_requires_and_no_more():
    shape = start_model()
    form = StartImportForm()

    assert set(MEMBERS.values()) == set(shape.members) - {
        "datastoreId",  # the page's data store
        "importConfiguration",  # the JSON metadata import: not offered
    }
    for field, member in MEMBERS.items():
        required = member in shape.required_members
        # The model leaves jobName optional; the form fills in a name if it is left empty.
        assert form.fields[field].required == required, field


def test_the_status_filter_offers_the_models_job_statuses_in_order():
    model = botocore.session.get_session().get_service_model("medical-imaging")
    statuses = model.shape_for("JobStatus").enum

    assert list(STATUS_LABELS) == statuses
    assert [value for value, _ in ImportJobFilterForm().fields["status"].choices] == [
        "",
        *statuses,
    ]


def test_a_complete_form_is_valid_and_gives_the_services_parameters():
    form = bound()

    assert form.is_valid(), form.errors
    assert form.job_parameters() == {
        "job_name": "ct-batch-1",
        "input_s3_uri": "s3://my-bucket/dicom/",
        "output_s3_uri": "s3://my-bucket/import-results/",
        "data_access_role_arn": "arn:aws:iam::123456789012:role/HealthImagingImport",
        "input_owner_account_id": None,
        "client_token": GOOD["client_token"],
    }


def test_a_form_first_shown_carries_a_fresh_token_and_a_suggested_name():
    first, second = StartImportForm.first_shown(), StartImportForm.first_shown()

    token = first.initial["client_token"]
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert token != second.initial["client_token"]
    assert re.fullmatch(r"import-\d{8}-\d{6}", first.initial["job_name"])
    assert forms.JOB_NAME.matches(first.initial["job_name"])
    assert f'value="{token}"' in str(first["client_token"])


def test_an_empty_job_name_becomes_one_named_after_the_client_token():
    form = bound(job_name="")

    assert form.is_valid(), form.errors
    name = form.cleaned_data["job_name"]
    assert name == f"import-{form.cleaned_data['client_token']}"
    assert forms.JOB_NAME.matches(name)
    assert forms.JOB_NAME.fits(name)
    # Sent again (a double click), it is the very same request.
    again = bound(job_name="")
    assert again.is_valid()
    assert again.job_parameters() == form.job_parameters()


@pytest.mark.parametrize(
    "value",
    [
        "s3://abc",  # the shortest bucket name: 3 characters
        "s3://" + "a" * 63,  # the longest: 63
        "s3://my-bucket",
        "s3://my-bucket/",
        "s3://my.bucket-01/dicom/2024/",
        "s3://my-bucket/folder with spaces/CT #1/",
        "s3://my-bucket/école/",
        "s3://bucket/" + "x" * (1024 - 12),  # exactly 1024 characters
        "s3://bucket/" + EMOJI * 506,  # 1024 UTF-16 code units
        "  s3://my-bucket/dicom/  ",  # the spaces around it are dropped
    ],
)
@pytest.mark.parametrize("field", ["input_s3_uri", "output_s3_uri"])
def test_an_s3_uri_the_service_accepts_is_accepted(field, value):
    form = bound(**{field: value})

    assert form.is_valid(), form.errors
    assert form.cleaned_data[field] == value.strip()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Enter the S3 URI"),
        ("s3://ab/", "Enter an S3 URI such as"),  # a bucket name of 2 characters
        ("s3://" + "a" * 64, "Enter an S3 URI such as"),
        ("S3://my-bucket/", "Enter an S3 URI such as"),
        ("s3://My-Bucket/", "Enter an S3 URI such as"),
        ("s3://-bucket/", "Enter an S3 URI such as"),
        ("s3://bucket-/", "Enter an S3 URI such as"),
        ("s3://my_bucket/", "Enter an S3 URI such as"),
        ("s3:/my-bucket/", "Enter an S3 URI such as"),
        ("https://my-bucket.s3.amazonaws.com/dicom/", "Enter an S3 URI such as"),
        ("my-bucket/dicom/", "Enter an S3 URI such as"),
        ("s3://my-bucket/a\nb/", "Enter an S3 URI such as"),
        ("s3://my-bucket/a\u2028b/", "Enter an S3 URI such as"),  # a line end to Java
        (
            "s3://bucket/" + "x" * (1025 - 12),
            "at most 1024 characters long; this one has 1025",
        ),
        (
            "s3://bucket/" + EMOJI * 507,
            "at most 1024 characters long; this one has 1026",
        ),
    ],
)
@pytest.mark.parametrize("field", ["input_s3_uri", "output_s3_uri"])
def test_an_s3_uri_the_service_refuses_is_refused_with_words(field, value, message):
    form = bound(**{field: value})

    assert not form.is_valid()
    assert list(form.errors) == [field]
    assert message in form.errors[field][0]


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:iam::123456789012:role/HealthImagingImport",
        "arn:aws:iam::123456789012:role/service-role/Import.Role@hospital",
        "arn:aws-cn:iam::123456789012:role/x",
        "arn:aws-us-gov:iam::123456789012:role/x",
        "arn:aws:iam::123456789012:role/" + "r" * (2048 - 31),  # 2048 characters
    ],
)
def test_a_role_arn_the_service_accepts_is_accepted(value):
    assert bound(data_access_role_arn=value).is_valid()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Enter the ARN of an IAM role"),
        ("arn:aws:iam::12345678901:role/x", "Enter an IAM role ARN such as"),
        ("arn:aws:iam::1234567890123:role/x", "Enter an IAM role ARN such as"),
        ("arn:aws:iam::123456789012:user/x", "Enter an IAM role ARN such as"),
        ("arn:aws:iam::123456789012:role/", "Enter an IAM role ARN such as"),
        ("arn:aws:iam:us-east-1:123456789012:role/x", "Enter an IAM role ARN such as"),
        ("arn:aws:s3:::my-bucket", "Enter an IAM role ARN such as"),
        ("HealthImagingImport", "Enter an IAM role ARN such as"),
        ("arn:aws:iam::123456789012:role/a\nb", "Enter an IAM role ARN such as"),
        (
            "arn:aws:iam::123456789012:role/" + "r" * (2049 - 31),
            "at most 2048 characters long; this one has 2049",
        ),
    ],
)
def test_a_role_arn_the_service_refuses_is_refused_with_words(value, message):
    form = bound(data_access_role_arn=value)

    assert not form.is_valid()
    assert list(form.errors) == ["data_access_role_arn"]
    assert message in form.errors["data_access_role_arn"][0]


@pytest.mark.parametrize(
    "value", ["a", "a" * 64, "CT_2024.batch-1", "radiology/ct#7", "", "   "]
)
def test_a_job_name_the_service_accepts_is_accepted(value):
    form = bound(job_name=value)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["job_name"] == (
        value.strip() or form.cleaned_data["job_name"]
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a" * 65, "at most 64 characters long; this one has 65"),
        ("ct batch", "Use only letters, digits"),
        ("ct+batch", "Use only letters, digits"),
        ("école", "Use only letters, digits"),
        ("ct:1", "Use only letters, digits"),
    ],
)
def test_a_job_name_the_service_refuses_is_refused_with_words(value, message):
    form = bound(job_name=value)

    assert not form.is_valid()
    assert message in form.errors["job_name"][0]


@pytest.mark.parametrize("value", ["", "123456789012", "000000000000"])
def test_a_source_account_the_service_accepts_is_accepted(value):
    form = bound(input_owner_account_id=value)

    assert form.is_valid(), form.errors
    assert form.job_parameters()["input_owner_account_id"] == (value or None)


@pytest.mark.parametrize(
    "value",
    [
        "12345678901",
        "1234567890123",
        "12345678901a",
        "1234-5678-9012",
        "١٢٣٤٥٦٧٨٩٠١٢",  # digits, but not 0-9: Java's \d is ASCII
    ],
)
def test_a_source_account_the_service_refuses_is_refused_with_words(value):
    form = bound(input_owner_account_id=value)

    assert not form.is_valid()
    assert "12 digits of an AWS account ID" in form.errors["input_owner_account_id"][0]


@pytest.mark.parametrize("value", ["", "has space", "a" * 65, "tok/en"])
def test_a_lost_or_damaged_client_token_asks_to_open_the_form_again(value):
    form = bound(client_token=value)

    assert not form.is_valid()
    assert "Open the form again" in form.errors["client_token"][0]


def test_patterns_are_matched_as_the_services_java_matches_them():
    # `.` stops at every Java line end, but a class like [^:] takes them.
    assert not forms.S3_URI.matches("s3://bucket/a\rb")
    assert not forms.S3_URI.matches("s3://bucket/a\u0085b")
    assert forms.ROLE_ARN.matches("arn:aws-\u2028:iam::123456789012:role/x")
    # The whole value, not a part of it.
    assert not forms.ACCOUNT_ID.matches("123456789012x")
    assert forms.utf16_length(EMOJI) == 2


def test_every_field_has_a_label_and_help_in_words():
    form = StartImportForm()

    for name, field in form.fields.items():
        if name == "client_token":
            continue
        assert field.label, name
        assert field.help_text, name


@pytest.mark.parametrize(
    ("query", "valid", "parameters", "page", "cursor"),
    [
        ("", True, {}, 1, None),
        ("status=FAILED", True, {"status": "FAILED"}, 1, None),
        ("status=BOGUS", False, None, 1, None),
        ("status=COMPLETED&page=3&cursor=abc", True, {"status": "COMPLETED"}, 3, "abc"),
        ("page=0&cursor=abc", True, {}, 1, None),
        ("page=x", True, {}, 1, None),
    ],
)
def test_the_status_filter_reads_its_query(query, valid, parameters, page, cursor):
    form = ImportJobFilterForm(QueryDict(query))

    assert form.is_valid() == valid
    if valid:
        assert form.parameters() == parameters
    assert form.page() == page
    assert form.cursor() == cursor
