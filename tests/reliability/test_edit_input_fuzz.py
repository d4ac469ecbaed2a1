"""S9: hypothesis over the edit form (common fields and advanced rows) and the API's edit input.

10,000 generated inputs go through the form and the serializer in this process, as the page
and the API call them. Every input must be answered (no exception); an edit accepted without
Force must hold only values an independent oracle of DICOM PS3.5's VR rules accepts (with
Force, only those the review flags as needing it); and every accepted value must come out of
the DICOMUpdates JSON the gateway sends exactly as typed. A sample of accepted inputs then
goes through the real pages and API to the live emulator and is read back from it.
"""

import dataclasses
import datetime
import functools
import json
import re
import unicodedata

import pytest
from django.http import QueryDict
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword

from apps.accounts.roles import ADMIN, EDITOR
from apps.api.edits import EditInputSerializer, _form_data, _form_errors
from apps.edits.changes import dicom_updates
from apps.edits.forms import COMMON_ATTRIBUTES, MetadataEditForm
from apps.edits.models import MetadataEdit
from apps.edits.rules import value_text
from apps.healthimaging.gateway import get_gateway
from tests.support.edits import run_to_end
from tests.support.emulator import fresh_image_sets

pytestmark = pytest.mark.django_db

FORM_INPUTS = 6_000
API_INPUTS = 4_000
# Each hypothesis example is a batch of inputs: hypothesis's own work per example costs
# about as much as the form's, and batching halves it while every input is still drawn
# by the strategies below.
BATCH = 10
SAMPLE_SIZE = 20
FUZZ = settings(
    max_examples=FORM_INPUTS // BATCH,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# -- the oracle: DICOM PS3.5 6.2, written apart from apps.edits.rules -----------------------

VR_OF = {
    "PatientName": "PN",
    "PatientID": "LO",
    "PatientBirthDate": "DA",
    "PatientSex": "CS",
    "PatientComments": "LT",
    "OtherPatientNames": "PN",
    "EthnicGroup": "SH",
    "PatientBirthTime": "TM",
    "StudyDescription": "LO",
    "AccessionNumber": "SH",
    "StudyDate": "DA",
    "StudyTime": "TM",
    "ReferringPhysicianName": "PN",
    "PatientAge": "AS",
    "PatientWeight": "DS",
    "AdditionalPatientHistory": "LT",
    "SeriesNumber": "IS",
    "SeriesDescription": "LO",
    "Modality": "CS",
    "InstanceNumber": "IS",
    "Rows": "US",
    "WindowCenter": "DS",
}
LEVEL_OF = {
    **dict.fromkeys(
        [
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "PatientSex",
            "PatientComments",
            "OtherPatientNames",
            "EthnicGroup",
            "PatientBirthTime",
        ],
        "Patient",
    ),
    **dict.fromkeys(
        [
            "StudyDescription",
            "AccessionNumber",
            "StudyDate",
            "StudyTime",
            "ReferringPhysicianName",
            "PatientAge",
            "PatientWeight",
            "AdditionalPatientHistory",
        ],
        "Study",
    ),
    **dict.fromkeys(["SeriesNumber", "SeriesDescription", "Modality"], "Series"),
    **dict.fromkeys(["InstanceNumber", "Rows", "WindowCenter"], "Instance"),
}
PRIVATE_TAG = "00091001"
PRIVATE_VRS = ("LO", "SH", "DS", "US", "UT")
# Text VRs: at most this many characters per value (PN: per component group).
MAX_CHARS = {"AE": 16, "CS": 16, "LO": 64, "SH": 16, "LT": 10240, "ST": 1024, "PN": 64}
ONE_VALUE_TEXT = {"LT", "ST", "UT"}  # VM 1: a backslash is text
INTEGER_RANGE = {
    "US": (0, 65535),
    "SL": (-(2**31), 2**31 - 1),
    "IS": (-(2**31), 2**31 - 1),
}
DS_SYNTAX = re.compile(r" *[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)? *")
IS_SYNTAX = re.compile(r" *[+-]?[0-9]+ *")


def is_control(char: str, vr: str) -> bool:
    """Control characters (C0, DEL, C1) other than those the VR's text may hold.
    ESC, which DICOM allows for ISO 2022 code extensions, the portal refuses: strictness
    refuses more, it can not let an invalid value through."""
    allowed = "\t\n\r\f\x1b" if vr in ("LT", "ST") else "\x1b"
    return unicodedata.category(char) == "Cc" and char not in allowed


def oracle_valid(vr: str, value: object) -> bool:
    """Whether one JSON value is a valid DICOM value of `vr` (PS3.5 table 6.2-1)."""
    if value is None:
        return True  # an empty value
    if vr in ("US", "SL"):
        low, high = INTEGER_RANGE[vr]
        return type(value) is int and low <= value <= high
    if not isinstance(value, str):
        return False
    if vr == "UT":
        return True
    if any(is_control(char, vr) for char in value):
        return False
    if vr not in ONE_VALUE_TEXT and "\\" in value:
        return False
    if vr == "PN":
        groups = value.split("=")
        return len(groups) <= 3 and all(
            len(group) <= 64 and group.count("^") <= 4 for group in groups
        )
    if vr in MAX_CHARS:
        return len(value) <= MAX_CHARS[vr] and (
            vr != "CS" or re.fullmatch(r"[A-Z0-9 _]*", value) is not None
        )
    if vr == "DA":
        return _is_date(value)
    if vr == "TM":
        return _is_time(value)
    if vr == "AS":
        return re.fullmatch(r"[0-9]{3}[DWMY]", value) is not None
    if vr == "DS":
        return len(value) <= 16 and DS_SYNTAX.fullmatch(value) is not None
    if vr == "IS":
        low, high = INTEGER_RANGE["IS"]
        return (
            len(value) <= 12
            and IS_SYNTAX.fullmatch(value) is not None
            and low <= int(value) <= high
        )
    raise AssertionError(f"no oracle for VR {vr}")


def _is_date(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{8}", value):
        return False
    try:
        datetime.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return False
    return True


def _is_time(value: str) -> bool:
    match = re.fullmatch(
        r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.[0-9]{1,6})?)?)?", value
    )
    if match is None:
        return False
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours <= 23 and minutes <= 59 and seconds <= 60


def expected_json(text: str, vr: str) -> object:
    """What the typed text must become in `updatableAttributes`: exactly what was typed,
    split into values at backslashes (not in free text), numbers for binary numeric VRs."""
    if text == "":
        return None
    if "\\" in text and vr not in ONE_VALUE_TEXT:
        return [expected_json(part, vr) for part in text.split("\\")]
    if vr in ("US", "SL") and IS_SYNTAX.fullmatch(text):
        return int(text)
    return text


# -- what is typed ---------------------------------------------------------------------------

NEAR_MISSES = [
    "١٩٧٠٠١٣١",  # Arabic-Indic digits
    "１２３",  # fullwidth digits
    "12.5",
    "1230.5",
    "2359601",
    "20240230",
    "2024013",
    " 12\u2003",
    "1_000",
    "99999999999",
    "70000",
    "-1",
    "1e999",
    "nan",
    "DOE\tJANE",
    "DOE\x7fJANE",
    "DOE\x85JANE",
    "DOE\x1bJANE",
    "A=B=C=D",
    "A^B^C^D^E^F",
    "ONE\\TWO",
    "line\nbreak",
    "x" * 65,
    "045y",
    "abc",
    "",
    " ",
]
# Small alphabets keep generation fast; each holds the characters that matter: other
# scripts, other digits and spaces, combining and invisible marks, an astral character.
NAME_CHARS = (
    "ABCDEFGHJKLMNOPQRSTUVWXYZabcdeyz0189 '-.,"
    "ÉéüßñØÅçŁ山田太郎やまだたろうЖΩאב١٢０\u00a0\u2003\u0301\u200b\u202e😀"
)
TEXT_CHARS = NAME_CHARS + '^=\\\t\n\r\x00\x1b\x7f\x85<>&"/'


def _padded(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["", " "]), core, st.sampled_from(["", " "])).map(
        "".join
    )


def _person_names() -> st.SearchStrategy[str]:
    component = st.text(NAME_CHARS, max_size=9)
    group = st.lists(component, min_size=1, max_size=5).map("^".join)
    return st.lists(group, min_size=1, max_size=3).map("=".join)


def _times() -> st.SearchStrategy[str]:
    two = st.integers(0, 99).map("{:02d}".format)
    return st.one_of(
        st.integers(0, 23).map("{:02d}".format),
        st.tuples(st.integers(0, 23), st.integers(0, 59)).map(
            lambda t: f"{t[0]:02d}{t[1]:02d}"
        ),
        st.tuples(
            st.integers(0, 23),
            st.integers(0, 59),
            st.integers(0, 60),
            st.one_of(st.just(""), st.integers(0, 10**6 - 1).map(".{}".format)),
        ).map(lambda t: f"{t[0]:02d}{t[1]:02d}{t[2]:02d}{t[3]}"),
        st.tuples(two, two, two).map("".join),
    )


VALID_LOOKING = {
    "PN": _person_names(),
    "LO": st.text(NAME_CHARS + "^", max_size=64),
    "SH": st.text(NAME_CHARS, max_size=16),
    "LT": st.text(TEXT_CHARS, max_size=120),
    "UT": st.text(TEXT_CHARS, max_size=120),
    "CS": st.text("ABCMRTXZ019 _", max_size=16),
    "DA": st.dates().map(lambda day: f"{day.year:04d}{day.month:02d}{day.day:02d}"),
    "TM": _times(),
    "AS": st.tuples(st.integers(0, 999), st.sampled_from("DWMY")).map(
        lambda age: f"{age[0]:03d}{age[1]}"
    ),
    "DS": _padded(
        st.tuples(
            st.sampled_from(["", "+", "-"]),
            st.integers(0, 99999).map(str),
            st.sampled_from(["", ".", ".5", ".25", ".0625"]),
            st.sampled_from(["", "e3", "E-2", "e+10"]),
        ).map("".join)
    ),
    "IS": _padded(st.integers(-(2**31) - 5, 2**31 + 5).map(str)),
    "US": st.integers(-3, 70_000).map(str),
}


@functools.cache  # built once per VR: building strategies is what costs
def typed_text(vr: str) -> st.SearchStrategy[str]:
    """Mostly values that look right for the VR, some near misses, some anything."""
    looking = VALID_LOOKING[vr]
    return st.one_of(
        looking,
        looking,
        st.lists(looking, min_size=2, max_size=3).map("\\".join),
        st.tuples(looking, st.sampled_from(NEAR_MISSES), st.integers(0, 64)).map(
            lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
        ),
        st.sampled_from(NEAR_MISSES),
        st.text(TEXT_CHARS, max_size=70),
    )


@dataclasses.dataclass(frozen=True)
class Row:
    attribute: str  # a keyword, or PRIVATE_TAG
    spelling: str  # as typed: the keyword or a tag
    text: str
    remove: bool = False
    vr: str = ""  # only for the private tag

    @property
    def level(self) -> str:
        return "Instance" if self.attribute == PRIVATE_TAG else LEVEL_OF[self.attribute]

    @property
    def value_vr(self) -> str:
        return self.vr or VR_OF[self.attribute]


@dataclasses.dataclass(frozen=True)
class EditInput:
    common: dict  # field name -> typed text, or None to tick Remove
    rows: tuple[Row, ...]
    force: bool
    can_force: bool
    reason: str


@functools.cache
def _spellings(keyword: str) -> st.SearchStrategy[str]:
    tag = tag_for_keyword(keyword)
    return st.sampled_from(
        [keyword, f"({tag >> 16:04X},{tag & 0xFFFF:04x})", f"{tag:08X}"]
    )


@st.composite
def rows(draw: st.DrawFn) -> Row:
    if draw(st.integers(0, 9)) == 0:
        vr = draw(st.sampled_from(PRIVATE_VRS))
        text = draw(typed_text(vr))
        return Row(PRIVATE_TAG, "(0009,1001)", text, vr=vr)
    attribute = draw(st.sampled_from(sorted(VR_OF)))
    remove = draw(st.integers(0, 14)) == 0
    return Row(
        attribute,
        draw(_spellings(attribute)),
        "" if remove else draw(typed_text(VR_OF[attribute])),
        remove=remove,
    )


COMMON_VR = {field.name: (field.vr or "CS") for field in COMMON_ATTRIBUTES}


@st.composite
def edit_inputs(draw: st.DrawFn) -> EditInput:
    changed = draw(
        st.lists(st.sampled_from(sorted(COMMON_VR)), max_size=3, unique=True)
    )
    common = {}
    for name in changed:
        if name == "patient_sex":
            common[name] = draw(st.sampled_from(["", "M", "F", "O", "X", "m"]))
        elif draw(st.integers(0, 11)) == 0:
            common[name] = None
        else:
            common[name] = draw(typed_text(COMMON_VR[name]))
    can_force = draw(st.booleans())
    return EditInput(
        common=common,
        rows=tuple(draw(st.lists(rows(), max_size=2))),
        force=can_force and draw(st.integers(0, 3)) == 0,
        can_force=can_force,
        reason=draw(
            st.one_of(st.just("Misspelt at registration"), st.text(max_size=20))
        ),
    )


# -- putting an input to the form and the API ----------------------------------------------


def place_of(document: dict) -> tuple[str, str]:
    """The first series and its first instance, where Series and Instance rows go."""
    series_uid, series = next(iter(document["Study"]["Series"].items()))
    return series_uid, next(iter(series["Instances"]))


def form_post(example: EditInput, document: dict, version: int) -> QueryDict:
    """The edit form's POST: unchanged fields as the form prefills them."""
    series_uid, instance_uid = place_of(document)
    data = QueryDict(mutable=True)
    data.update(
        {
            "base_version": str(version),
            "reason": example.reason,
            "rows-TOTAL_FORMS": str(len(example.rows)),
            "rows-INITIAL_FORMS": "0",
        }
    )
    if example.force:
        data["force"] = "on"
    for field in COMMON_ATTRIBUTES:
        current = document[field.level]["DICOM"].get(field.keyword)
        text = example.common.get(field.name, value_text(current))
        if text is None:
            data[field.remove_name] = "on"
            text = value_text(current)
        data[field.name] = text
    for index, row in enumerate(example.rows):
        prefix = f"rows-{index}-"
        data.update(
            {
                f"{prefix}level": row.level,
                f"{prefix}attribute": row.spelling,
                f"{prefix}value": row.text,
                f"{prefix}vr": row.vr,
                f"{prefix}series_uid": series_uid if row.level != "Patient" else "",
                f"{prefix}instance_uid": instance_uid
                if row.level == "Instance"
                else "",
            }
        )
        if row.remove:
            data[f"{prefix}remove"] = "on"
    return data


def api_body(example: EditInput, document: dict) -> dict:
    series_uid, instance_uid = place_of(document)
    return {
        "reason": example.reason,
        "force": example.force,
        "changes": [
            {
                "level": row.level,
                "attribute": row.spelling,
                "value": row.text,
                "remove": row.remove,
                "vr": row.vr,
                "series_uid": series_uid if row.level != "Patient" else "",
                "instance_uid": instance_uid if row.level == "Instance" else "",
            }
            for row in example.rows
        ],
    }


def wanted_changes(
    example: EditInput, document: dict, *, common: bool
) -> dict[tuple, object]:
    """(level, attribute) -> the value updatableAttributes must carry, or REMOVED."""
    wanted: dict[tuple, object] = {}
    if common:
        for field in COMMON_ATTRIBUTES:
            if field.name not in example.common:
                continue
            current = document[field.level]["DICOM"].get(field.keyword)
            text = example.common[field.name]
            if text is None:
                wanted[(field.level, field.keyword)] = REMOVED
            elif text != value_text(current):
                wanted[(field.level, field.keyword)] = expected_json(
                    text, COMMON_VR[field.name]
                )
    for row in example.rows:
        wanted[(row.level, row.attribute)] = (
            REMOVED if row.remove else expected_json(row.text, row.value_vr)
        )
    return wanted


REMOVED = object()


@dataclasses.dataclass
class Tally:
    examples: int = 0
    accepted: int = 0
    exceptions: list = dataclasses.field(default_factory=list)
    invalid_queued: list = dataclasses.field(default_factory=list)
    not_round_tripped: list = dataclasses.field(default_factory=list)
    # Accepted inputs worth sending to HealthImaging, by the way they came in.
    samples: dict = dataclasses.field(default_factory=lambda: {"form": [], "api": []})


def judge_accepted(
    tally: Tally,
    example: EditInput,
    form: MetadataEditForm,
    sent: dict,
    document: dict,
    *,
    via: str,
) -> None:
    """An accepted edit: every value valid (or flagged for Force), and sent as typed."""
    tally.accepted += 1
    series_uid, instance_uid = place_of(document)
    wanted = wanted_changes(example, document, common=via == "form")
    flagged = {
        (check.change.level, check.change.attribute): bool(check.needs_force)
        for check in form.checks
    }
    got: dict[tuple, object] = {}
    for level, element in _elements(
        sent.get("updatableAttributes", {}), series_uid, instance_uid
    ):
        got |= {(level, attribute): value for attribute, value in element.items()}
    for level, element in _elements(
        sent.get("removableAttributes", {}), series_uid, instance_uid
    ):
        got |= {(level, attribute): REMOVED for attribute in element}
    for (level, attribute), value in got.items():
        if value is REMOVED:
            continue
        vr = (
            next(row.vr for row in example.rows if row.attribute == attribute)
            if attribute == PRIVATE_TAG
            else VR_OF[attribute]
        )
        values = value if isinstance(value, list) else [value]
        valid = isinstance(value, str | int | float | None) and all(
            oracle_valid(vr, one) for one in values
        )
        if not valid and not (example.force and flagged.get((level, attribute))):
            tally.invalid_queued.append((via, example, attribute, value))
    if canonical(got) != canonical(wanted):
        tally.not_round_tripped.append((via, example, wanted, got))
    elif not example.force and len(tally.samples[via]) < 200 and _is_telling(example):
        tally.samples[via].append(example)


def canonical(changes: dict[tuple, object]) -> str:
    """Changes as comparable JSON text: 1, 1.0, "1" and null all differ."""
    return json.dumps(
        sorted(
            [level, attribute, {"removed": True} if value is REMOVED else value]
            for (level, attribute), value in changes.items()
        )
    )


def _elements(member: dict, series_uid: str, instance_uid: str):
    """(level, DICOM object) of a DICOMUpdates member, at the places the fuzz uses."""
    for level in ("Patient", "Study"):
        if "DICOM" in member.get(level, {}):
            yield level, member[level]["DICOM"]
    series = member.get("Study", {}).get("Series", {}).get(series_uid, {})
    if "DICOM" in series:
        yield "Series", series["DICOM"]
    instance = series.get("Instances", {}).get(instance_uid, {})
    if "DICOM" in instance:
        yield "Instance", instance["DICOM"]


def _is_telling(example: EditInput) -> bool:
    """Inputs worth the trip to HealthImaging: names with groups, non-ASCII, spaces."""
    texts = [t for t in example.common.values() if t] + [r.text for r in example.rows]
    return any(
        ("^" in t or "=" in t or not t.isascii() or t != t.strip()) for t in texts
    )


def payload(form: MetadataEditForm) -> dict:
    """The DICOMUpdates documents as the gateway encodes them, decoded as the service does."""
    return json.loads(
        json.dumps(dicom_updates(form.changes), ensure_ascii=False).encode()
    )


def run_form(tally: Tally, example: EditInput, document: dict) -> None:
    """The edit form's POST; only the portal's own calls are inside the `try`."""
    tally.examples += 1
    try:
        form = MetadataEditForm(
            form_post(example, document, 1),
            document=document,
            can_force=example.can_force,
        )
        sent = payload(form) if form.is_valid() else form.errors.as_json()
    except Exception as error:  # noqa: BLE001 - every one is counted and reported
        tally.exceptions.append(("form", example, repr(error)))
        return
    if form.is_valid():
        judge_accepted(tally, example, form, sent, document, via="form")


def run_api(tally: Tally, example: EditInput, body: dict, document: dict) -> None:
    """The edit endpoint's own steps, minus the calls to HealthImaging."""
    tally.examples += 1
    try:
        serializer = EditInputSerializer(data=body)
        if not serializer.is_valid():
            json.dumps(serializer.errors)
            return
        data = serializer.validated_data
        if data["force"] and not example.can_force:
            return  # 403
        form = MetadataEditForm(
            _form_data(data, 1),
            document=document,
            can_force=example.can_force,
            common_fields=False,
        )
        sent = payload(form) if form.is_valid() else json.dumps(_form_errors(form))
    except Exception as error:  # noqa: BLE001 - every one is counted and reported
        tally.exceptions.append(("api", body, repr(error)))
        return
    if form.is_valid():
        example = as_understood(example, data)
        judge_accepted(tally, example, form, sent, document, via="api")


def as_understood(example: EditInput, data: dict) -> EditInput:
    """The input as the serializer handed it on (DRF turns 5 into "5", 1 into True)."""
    rows = tuple(
        dataclasses.replace(
            row,
            text=change.get("value") or "",
            remove=change["remove"],
            vr=change.get("vr", ""),
        )
        for row, change in zip(example.rows, data["changes"], strict=True)
    )
    return dataclasses.replace(example, rows=rows, force=data["force"])


# The API also gets what no form can send: JSON of other types, and lone surrogates.
ODD_JSON = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.text(st.characters(exclude_categories=[]), max_size=10),
)
# Level and attribute stay as drawn, so an accepted change's VR is known.
ODD_KEYS = ["value", "remove", "vr", "series_uid", "instance_uid"]


@st.composite
def api_bodies(draw: st.DrawFn, document: dict) -> tuple[EditInput, dict]:
    example = draw(edit_inputs())
    body = api_body(example, document)
    if body["changes"] and draw(st.integers(0, 4)) == 0:
        change = draw(st.sampled_from(body["changes"]))
        change[draw(st.sampled_from(ODD_KEYS))] = draw(ODD_JSON)
    if draw(st.integers(0, 19)) == 0:
        body[draw(st.sampled_from(["reason", "force", "changes", "base_version"]))] = (
            draw(ODD_JSON)
        )
    return example, body


# -- the case ------------------------------------------------------------------------------


def test_edit_input_fuzz_queues_only_valid_values_exactly_as_typed(
    healthimaging, scheduled, client, make_user, figure
):
    datastore_id, image_set_ids = fresh_image_sets(
        healthimaging, SAMPLE_SIZE + 1, name="fuzz"
    )
    document = get_gateway().get_image_set_metadata(datastore_id, image_set_ids[0])
    tally = Tally()

    @FUZZ
    @given(st.lists(edit_inputs(), min_size=BATCH, max_size=BATCH))
    def through_the_form(batch: list[EditInput]) -> None:
        for example in batch:
            run_form(tally, example, document)

    @settings(FUZZ, max_examples=API_INPUTS // BATCH)
    @given(st.lists(api_bodies(document), min_size=BATCH, max_size=BATCH))
    def through_the_api(batch: list[tuple[EditInput, dict]]) -> None:
        for example, body in batch:
            run_api(tally, example, body, document)

    through_the_form()
    through_the_api()
    sampled = send_sample(
        client, make_user, tally.samples, datastore_id, image_set_ids[1:]
    )

    figure(
        "S9",
        "inputs run: form + API (hypothesis examples x inputs each)",
        f"{tally.examples} ({tally.examples // BATCH} x {BATCH})",
    )
    figure("S9", "accepted edits checked", tally.accepted)
    figure("S9", "uncaught exceptions", len(tally.exceptions))
    figure("S9", "invalid values queued", len(tally.invalid_queued))
    figure("S9", "valid values that failed to round-trip", len(tally.not_round_tripped))
    figure(
        "S9",
        "sample through pages/API to the emulator, exact",
        f"{sampled.count(True)}/{len(sampled)}",
    )
    assert tally.examples >= FORM_INPUTS + API_INPUTS
    assert not tally.exceptions, tally.exceptions[:3]
    assert not tally.invalid_queued, tally.invalid_queued[:3]
    assert not tally.not_round_tripped, tally.not_round_tripped[:3]
    assert sampled == [True] * SAMPLE_SIZE


def send_sample(client, make_user, samples, datastore_id, image_set_ids) -> list[bool]:
    """Queue each sampled input through the real page or API (half each) on its own fresh
    image set, run the edit to its end against the emulator, and read the values back."""
    users = {False: make_user(EDITOR), True: make_user(ADMIN)}
    half = SAMPLE_SIZE // 2
    chosen = {
        via: accepted[:: max(1, len(accepted) // half)][:half]
        for via, accepted in samples.items()
    }
    assert [len(some) for some in chosen.values()] == [half, half], "too few accepted"
    alternating = [
        (via, example)
        for pair in zip(chosen["form"], chosen["api"], strict=True)
        for via, example in zip(("form", "api"), pair, strict=True)
    ]
    outcomes = []
    for (via, example), image_set_id in zip(alternating, image_set_ids, strict=True):
        client.force_login(users[example.can_force])
        gateway = get_gateway()
        document = gateway.get_image_set_metadata(datastore_id, image_set_id)
        version = gateway.get_image_set(datastore_id, image_set_id).version
        args = [datastore_id, image_set_id]
        if via == "api":
            response = client.post(
                reverse("api:edit-create", args=args),
                api_body(example, document),
                content_type="application/json",
            )
            queued = response.status_code == 202
        else:
            post = form_post(example, document, version)
            post["action"] = "queue"
            response = client.post(reverse("edits:edit-form", args=args), post)
            queued = response.status_code == 302
        edit = MetadataEdit.objects.filter(image_set_id=image_set_id).first()
        # Accepted for the first image set's document, the input may still be refused for
        # this one's (a common field already at its value, say): the page and the API must
        # then agree with the portal's own checks run on this document.
        if not accepted_for(via, example, document):
            outcomes.append(not queued and edit is None)
            continue
        if not queued or edit is None:
            outcomes.append(False)
            continue
        edit = run_to_end(edit)
        after = gateway.get_image_set_metadata(datastore_id, image_set_id)
        wanted = wanted_changes(example, document, common=via == "form")
        outcomes.append(
            edit.status == MetadataEdit.Status.SUCCEEDED
            and all(_stored(after, place) == value for place, value in wanted.items())
        )
    return outcomes


def accepted_for(via: str, example: EditInput, document: dict) -> bool:
    """Whether the edit form's checks (or the API's, then the form's) accept the input for
    the image set whose metadata is `document`."""
    if via == "form":
        form = MetadataEditForm(
            form_post(example, document, 1),
            document=document,
            can_force=example.can_force,
        )
        return form.is_valid()
    serializer = EditInputSerializer(data=api_body(example, document))
    if not serializer.is_valid():
        return False
    form = MetadataEditForm(
        _form_data(serializer.validated_data, 1),
        document=document,
        can_force=example.can_force,
        common_fields=False,
    )
    return form.is_valid()


def _stored(document: dict, place: tuple[str, str]) -> object:
    level, attribute = place
    series_uid, instance_uid = place_of(document)
    element = {
        "Patient": lambda: document["Patient"]["DICOM"],
        "Study": lambda: document["Study"]["DICOM"],
        "Series": lambda: document["Study"]["Series"][series_uid]["DICOM"],
        "Instance": lambda: document["Study"]["Series"][series_uid]["Instances"][
            instance_uid
        ]["DICOM"],
    }[level]()
    return element.get(attribute, REMOVED)
