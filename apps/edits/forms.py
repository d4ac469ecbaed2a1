"""The metadata edit form: common attributes by level, an advanced editor of any attribute,
force, and a reason.

It turns what was typed into `AttributeChange`s against the metadata the user saw (only what
differs from it), and puts the rules' verdicts (`services.check_changes`) beside the field or
row they concern. Values are kept exactly as typed: DICOM person names carry meaning in `^`,
`=` and spaces, so nothing is stripped.
"""

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorDict
from django.http import QueryDict
from pydicom.datadict import keyword_for_tag

from apps.core.numbers import positive_int
from apps.edits import services
from apps.edits.changes import LEVELS, AttributeChange, level_element
from apps.edits.rules import (
    VALID_VRS,
    attribute_vr,
    is_private_tag,
    typed_value,
    value_problem,
    value_text,
)

MAX_ROWS = 20
REASON_MAX_LENGTH = 1000
FORCE_WARNING = (
    "Force makes HealthImaging accept changes its DICOM checks would refuse: identifiers "
    "(UIDs, Study ID), private tags, sequences, several values, values that do not suit "
    "their type. Use it only when you are sure; its use is recorded."
)
FORCE_REFUSED = "Your role does not let you use Force. Send the change without it, or ask an administrator."
# Form data that says what to do with the form, not what it holds.
_ACTIONS = frozenset({"csrfmiddlewaretoken", "action", "add_row"})
_TAG = re.compile(r"\(?\s*([0-9A-Fa-f]{4})\s*,?\s*([0-9A-Fa-f]{4})\s*\)?")
_KEYWORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_SERIES_LEVELS = ("Series", "Instance")


@dataclass(frozen=True)
class CommonAttribute:
    name: str  # the form field
    label: str
    level: str
    keyword: str
    hint: str = ""

    @property
    def vr(self) -> str | None:
        return attribute_vr(self.keyword)

    @property
    def remove_name(self) -> str:
        return f"{self.name}_remove"


PERSON_NAME_HINT = "FAMILY^GIVEN^MIDDLE^PREFIX^SUFFIX, such as DOE^JANE."
COMMON_ATTRIBUTES = (
    CommonAttribute(
        "patient_name", "Patient name", "Patient", "PatientName", PERSON_NAME_HINT
    ),
    CommonAttribute("patient_id", "Patient ID", "Patient", "PatientID"),
    CommonAttribute(
        "patient_birth_date",
        "Patient birth date",
        "Patient",
        "PatientBirthDate",
        "YYYYMMDD, such as 19700131.",
    ),
    CommonAttribute("patient_sex", "Patient sex", "Patient", "PatientSex"),
    CommonAttribute(
        "study_description", "Study description", "Study", "StudyDescription"
    ),
    CommonAttribute("accession_number", "Accession number", "Study", "AccessionNumber"),
    CommonAttribute(
        "study_date", "Study date", "Study", "StudyDate", "YYYYMMDD, such as 20240131."
    ),
    CommonAttribute(
        "study_time", "Study time", "Study", "StudyTime", "HHMMSS, such as 143000."
    ),
    CommonAttribute(
        "referring_physician_name",
        "Referring physician name",
        "Study",
        "ReferringPhysicianName",
        PERSON_NAME_HINT,
    ),
)
SEX_CHOICES = [("", "Not recorded"), ("M", "M"), ("F", "F"), ("O", "O")]


class DicomValueField(forms.CharField):
    """Text for one attribute, checked against its value representation, never stripped."""

    def __init__(self, *, vr: str | None, **kwargs: Any) -> None:
        super().__init__(required=False, strip=False, **kwargs)
        self.vr = vr

    def validate(self, value: str) -> None:
        super().validate(value)
        typed = typed_value(value, self.vr)
        for part in typed if isinstance(typed, list) else [typed]:
            if problem := value_problem(part, self.vr):
                raise ValidationError(problem)


class InstanceSelect(forms.Select):
    """A select of SOP instances that marks each with its series, so a script can offer
    only the instances of the series chosen beside it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.series_of: dict[str, str] = {}  # SOP instance UID -> series UID

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        if series := self.series_of.get(str(option["value"])):
            option["attrs"]["data-series"] = series
        return option


def normalised_attribute(text: str) -> str:
    """A keyword as typed; a tag in any common spelling as 8 upper-case hex digits, or as
    its keyword when it is a standard attribute (the metadata keys those by keyword)."""
    if match := _TAG.fullmatch(text):
        tag = (match[1] + match[2]).upper()
        if is_private_tag(tag):
            return tag
        return keyword_for_tag(int(tag, 16)) or tag
    if _KEYWORD.fullmatch(text):
        return text
    raise ValidationError(
        "Enter a DICOM keyword such as StudyDescription, or a tag such as (0009,1001)."
    )


class DraftableForm(forms.Form):
    """A form that, as a draft (adding a row, back from review), is shown as typed and not
    judged yet, so no premature errors appear."""

    draft = False

    def full_clean(self) -> None:
        if self.draft:
            self._errors = ErrorDict()
            self.cleaned_data = {}
            return
        super().full_clean()


class AttributeRowForm(DraftableForm):
    """One row of the advanced editor: any attribute at any level. A row with no
    attribute, no value and no removal is empty and ignored."""

    level = forms.ChoiceField(
        label="Level",
        required=False,
        choices=[("", "Choose a level")] + [(level, level) for level in LEVELS],
    )
    series_uid = forms.ChoiceField(
        label="Series",
        required=False,
        error_messages={"invalid_choice": "This series is not in the image set."},
    )
    instance_uid = forms.ChoiceField(
        label="Instance",
        required=False,
        widget=InstanceSelect,
        error_messages={"invalid_choice": "This instance is not in the image set."},
    )
    attribute = forms.CharField(label="Attribute", required=False, max_length=64)
    vr = forms.ChoiceField(
        label="Value representation (VR)",
        required=False,
        choices=[("", "From the DICOM dictionary")]
        + [(vr, vr) for vr in sorted(VALID_VRS)],
    )
    value = forms.CharField(label="Value", required=False, strip=False)
    remove = forms.BooleanField(label="Remove", required=False)

    def __init__(
        self, *args: Any, document: dict, draft: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.document = document
        self.draft = draft
        self.change: AttributeChange | None = None
        series = document.get("Study", {}).get("Series", {})
        self.fields["series_uid"].choices = [("", "Choose a series")] + [
            (uid, _series_label(uid, entry)) for uid, entry in series.items()
        ]
        self.fields["instance_uid"].choices = [("", "Choose an instance")] + [
            (
                f"Series {uid}",
                [
                    (sop_uid, _instance_label(sop_uid, instance))
                    for sop_uid, instance in entry.get("Instances", {}).items()
                ],
            )
            for uid, entry in series.items()
        ]
        self.fields["instance_uid"].widget.series_of = {
            sop_uid: uid
            for uid, entry in series.items()
            for sop_uid in entry.get("Instances", {})
        }

    def has_changed(self) -> bool:
        return any(self[name].data for name in ("attribute", "value", "remove"))

    def clean_attribute(self) -> str:
        text = self.cleaned_data["attribute"]
        return normalised_attribute(text) if text else text

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        level = data.get("level")
        series_uid = data.get("series_uid", "")
        instance_uid = data.get("instance_uid", "")
        if not level:
            self.add_error("level", "Choose the level the attribute is at.")
        if level in _SERIES_LEVELS and not series_uid and "series_uid" in data:
            self.add_error("series_uid", "Choose a series.")
        if level == "Instance" and "instance_uid" in data and series_uid:
            if not instance_uid:
                self.add_error("instance_uid", "Choose an instance.")
            elif instance_uid not in self._instances_of(series_uid):
                self.add_error(
                    "instance_uid", "This instance is not in the chosen series."
                )
        if not data.get("attribute") and "attribute" not in self.errors:
            self.add_error(
                "attribute",
                "Enter a DICOM keyword such as StudyDescription, or a tag such as (0009,1001).",
            )
        if not self.errors:
            self.change = self._change(data)
        return data

    def _instances_of(self, series_uid: str) -> dict:
        series = self.document.get("Study", {}).get("Series", {})
        return series.get(series_uid, {}).get("Instances", {})

    def _change(self, data: dict[str, Any]) -> AttributeChange | None:
        level, attribute, remove = data["level"], data["attribute"], data["remove"]
        place = AttributeChange(
            level=level,
            attribute=attribute,
            old=None,
            series_uid=data["series_uid"] if level in _SERIES_LEVELS else "",
            instance_uid=data["instance_uid"] if level == "Instance" else "",
        )
        element = level_element(self.document, place) or {}
        private = is_private_tag(attribute)
        dictionary_vr = None if private else attribute_vr(attribute)
        if not private and data["vr"] and data["vr"] != dictionary_vr:
            self.add_error(
                "vr",
                f"Leave this empty: {attribute} takes its value representation from "
                f"the DICOM dictionary ({dictionary_vr or 'none there'}). Only private "
                "tags take one from here.",
            )
            return None
        vr = (data["vr"] or self._document_vr(place)) if private else dictionary_vr
        return dataclasses.replace(
            place,
            old=element.get(attribute),
            new=None if remove else typed_value(data["value"], vr),
            remove=remove,
            vr=data["vr"] if private and not remove else "",
        )

    def _document_vr(self, place: AttributeChange) -> str | None:
        instance = self._instances_of(place.series_uid).get(place.instance_uid, {})
        return instance.get("DICOMVRs", {}).get(place.attribute)


AttributeRowFormSet = forms.formset_factory(
    AttributeRowForm,
    extra=1,
    max_num=MAX_ROWS,
    absolute_max=MAX_ROWS,
    validate_max=True,
)


class MetadataEditForm(DraftableForm):
    """Everything the edit form holds; `rows` is the advanced editor's formset.

    Once valid, `changes` are the attribute changes in the order shown, and `checks` what
    the rules say about each (for force-flagged items on the review).
    """

    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    force = forms.BooleanField(
        label="Force (override HealthImaging's DICOM checks)",
        required=False,
        help_text=FORCE_WARNING,
    )
    reason = forms.CharField(
        label="Reason for change",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the edit and in the audit trail. Do not enter patient details here.",
        error_messages={"required": "Give a reason for the change."},
    )

    def __init__(
        self,
        data: QueryDict | None = None,
        *,
        document: dict,
        draft: bool = False,
        add_row: bool = False,
        can_force: bool = True,
        common_fields: bool = True,
        **kwargs: Any,
    ) -> None:
        if data is not None and add_row:
            data = _with_another_row(data)
        super().__init__(data, **kwargs)
        self.document = document
        self.draft = draft
        # Whether this user's role holds Force (FORCE_EDIT). The views always say; without
        # it the field is not shown, and a posted force=on is refused with an error.
        self.can_force = can_force
        self.changes: list[AttributeChange] = []
        self.checks: list[services.Check] = []
        # The API sends only attribute rows; without the common fields nothing else changes.
        for attribute in COMMON_ATTRIBUTES if common_fields else ():
            element = self._element(attribute)
            self.fields[attribute.name] = self._common_field(attribute)
            self.initial.setdefault(
                attribute.name, value_text(element.get(attribute.keyword))
            )
            if attribute.keyword in element:
                self.fields[attribute.remove_name] = forms.BooleanField(
                    label=f"Remove {attribute.label}", required=False
                )
        self.rows = AttributeRowFormSet(
            data, prefix="rows", form_kwargs={"document": document, "draft": draft}
        )

    def _element(self, attribute: CommonAttribute) -> dict:
        return self.document.get(attribute.level, {}).get("DICOM") or {}

    def _common_field(self, attribute: CommonAttribute) -> forms.Field:
        if attribute.keyword == "PatientSex":
            current = value_text(self._element(attribute).get("PatientSex"))
            known = {value for value, _ in SEX_CHOICES}
            # An unusual recorded value stays selectable, so leaving it alone changes nothing.
            extra = [] if current in known else [(current, current)]
            return forms.ChoiceField(
                label=attribute.label, required=False, choices=SEX_CHOICES + extra
            )
        return DicomValueField(
            vr=attribute.vr, label=attribute.label, help_text=attribute.hint
        )

    @property
    def levels(
        self,
    ) -> list[tuple[str, list[tuple[forms.BoundField, forms.BoundField | None]]]]:
        """The common fields by level, each with its Remove box (None when absent)."""
        grouped: dict[str, list] = {}
        for attribute in COMMON_ATTRIBUTES:
            remove = (
                self[attribute.remove_name]
                if attribute.remove_name in self.fields
                else None
            )
            grouped.setdefault(attribute.level, []).append(
                (self[attribute.name], remove)
            )
        return list(grouped.items())

    @property
    def advanced_open(self) -> bool:
        """Show the advanced editor open once it holds anything."""
        return self.rows.total_form_count() > 1 or any(
            row.has_changed() for row in self.rows.forms
        )

    def is_valid(self) -> bool:
        return super().is_valid() and self.rows.is_valid()

    def clean_force(self) -> bool:
        force = self.cleaned_data["force"]
        if force and not self.can_force:
            raise ValidationError(FORCE_REFUSED)
        return force

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        sources = self._common_changes(data)
        if self.rows.is_valid():
            sources += [
                (row.change, row, None) for row in self.rows.forms if row.change
            ]
        sources = self._without_repeats(sources)
        force = bool(data.get("force"))
        checks = services.check_changes(
            [change for change, *_ in sources], self.document
        )
        for check, (_, form, field) in zip(checks, sources, strict=True):
            for problem in check.errors:
                form.add_error(field, problem)
            if check.needs_force and not force:
                form.add_error(
                    field,
                    "This change needs Force: "
                    + " ".join(check.needs_force)
                    + (
                        " Tick Force below to send it anyway."
                        if self.can_force
                        else " Only an administrator can use Force."
                    ),
                )
        self.checks = checks
        self.changes = [check.change for check in checks]
        if not self.changes and not self.errors and self.rows.is_valid():
            raise ValidationError("Nothing to change: every value is as it was.")
        if services.payload_size(self.changes) > services.MAX_PAYLOAD_BYTES:
            raise ValidationError(services.TOO_LARGE)
        return data

    def _common_changes(self, data: dict[str, Any]) -> list[tuple]:
        """(change, form, field) for each common field that differs from the metadata."""
        sources = []
        for attribute in COMMON_ATTRIBUTES:
            if attribute.name not in data:
                continue  # invalid: its error is already beside it
            current = self._element(attribute).get(attribute.keyword)
            if data.get(attribute.remove_name):
                change = AttributeChange(
                    level=attribute.level,
                    attribute=attribute.keyword,
                    old=current,
                    remove=True,
                )
            elif data[attribute.name] == value_text(current):  # "" when absent
                continue
            else:
                change = AttributeChange(
                    level=attribute.level,
                    attribute=attribute.keyword,
                    old=current,
                    new=typed_value(data[attribute.name], attribute.vr),
                )
            sources.append((change, self, attribute.name))
        return sources

    def _without_repeats(self, sources: list[tuple]) -> list[tuple]:
        """One change per attribute and place: a second one is an error, not a race."""
        seen = set()
        kept = []
        for change, form, field in sources:
            key = (
                change.level,
                change.series_uid,
                change.instance_uid,
                change.attribute,
            )
            if key in seen:
                form.add_error(
                    field,
                    f"{change.attribute} at {change.place} is already changed above.",
                )
                continue
            seen.add(key)
            kept.append((change, form, field))
        return kept

    @property
    def state(self) -> list[tuple[str, str]]:
        """Everything posted, as (name, value) pairs, so the review page can carry it."""
        if self.data is None:
            return []
        return [
            (name, value)
            for name, values in self.data.lists()
            if name not in _ACTIONS
            for value in values
        ]

    @staticmethod
    def posted_version(data: QueryDict) -> int | None:
        """The version the form was loaded with, if it is a version number at all."""
        return positive_int(data.get("base_version", ""))


def _with_another_row(data: QueryDict) -> QueryDict:
    total = "rows-TOTAL_FORMS"
    text = data.get(total, "")
    count = 0 if text == "0" else positive_int(text)
    if count is None:
        return data  # the formset reports the broken management form
    data = data.copy()
    data[total] = str(min(count + 1, MAX_ROWS))
    return data


def _series_label(uid: str, series: dict) -> str:
    dicom = series.get("DICOM", {})
    described = " ".join(
        str(part)
        for part in (
            dicom.get("SeriesNumber"),
            dicom.get("Modality"),
            dicom.get("SeriesDescription"),
        )
        if part not in (None, "")
    )
    return f"{described} ({uid})" if described else uid


def _instance_label(uid: str, instance: dict) -> str:
    number = instance.get("DICOM", {}).get("InstanceNumber")
    return f"Instance {number} ({uid})" if number not in (None, "") else uid
