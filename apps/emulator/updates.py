"""How UpdateImageSetMetadata changes a metadata document: the DICOMUpdates merge and its rules.

Malformed blobs are synchronous `ValidationException`s; DICOM-level violations raise
`UpdateRejected`, which the store turns into an `UPDATE_FAILED` version, as the service does.
"""

import copy
import re
from dataclasses import dataclass
from typing import Any

import orjson
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from apps.emulator.documents import parse_study_instant
from apps.emulator.errors import ValidationException


def _keywords(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Developer Guide, "metadata-normalization": the keywords kept at each level above Instance.
PATIENT_KEYWORDS = _keywords(
    """PatientName PatientID IssuerOfPatientID IssuerOfPatientIDQualifiersSequence TypeOfPatientID
    PatientBirthDate PatientBirthDateInAlternativeCalendar PatientDeathDateInAlternativeCalendar
    PatientAlternativeCalendar PatientSex ReferencedPatientPhotoSequence QualityControlSubject
    ReferencedPatientSequence PatientBirthTime OtherPatientIDsSequence OtherPatientNames
    EthnicGroup PatientComments PatientSpeciesDescription PatientSpeciesCodeSequence
    PatientBreedDescription PatientBreedCodeSequence BreedRegistrationSequence StrainDescription
    StrainNomenclature StrainCodeSequence StrainAdditionalInformation StrainStockSequence
    GeneticModificationsSequence ResponsiblePerson ResponsiblePersonRole ResponsibleOrganization
    PatientIdentityRemoved DeidentificationMethod DeidentificationMethodCodeSequence
    SourcePatientGroupIdentificationSequence GroupOfPatientsIdentificationSequence
    ClinicalTrialSponsorName ClinicalTrialProtocolID ClinicalTrialProtocolName
    ClinicalTrialSiteID ClinicalTrialSiteName ClinicalTrialSubjectID ClinicalTrialSubjectReadingID
    ClinicalTrialProtocolEthicsCommitteeName ClinicalTrialProtocolEthicsCommitteeApprovalNumber
    """
)
STUDY_KEYWORDS = _keywords(
    """StudyInstanceUID StudyDate StudyTime ReferringPhysicianName
    ReferringPhysicianIdentificationSequence ConsultingPhysicianName
    ConsultingPhysicianIdentificationSequence StudyID AccessionNumber
    IssuerOfAccessionNumberSequence StudyDescription PhysiciansOfRecord
    PhysiciansOfRecordIdentificationSequence NameOfPhysiciansReadingStudy
    PhysiciansReadingStudyIdentificationSequence RequestingServiceCodeSequence RequestingService
    ReferencedStudySequence ProcedureCodeSequence ReasonForPerformedProcedureCodeSequence
    AdmittingDiagnosesDescription AdmittingDiagnosesCodeSequence PatientAge PatientSize
    PatientWeight PatientBodyMassIndex MeasuredAPDimension MeasuredLateralDimension
    PatientSizeCodeSequence MedicalAlerts Allergies SmokingStatus PregnancyStatus
    LastMenstrualDate PatientState Occupation AdditionalPatientHistory AdmissionID
    IssuerOfAdmissionIDSequence ReasonForVisit ReasonForVisitCodeSequence ServiceEpisodeID
    IssuerOfServiceEpisodeIDSequence ServiceEpisodeDescription PatientSexNeutered
    ClinicalTrialTimePointID ClinicalTrialTimePointDescription LongitudinalTemporalOffsetFromEvent
    LongitudinalTemporalEventType ConsentForClinicalTrialUseSequence
    """
)
SERIES_KEYWORDS = _keywords(
    """Modality SeriesInstanceUID SeriesNumber Laterality SeriesDate SeriesTime
    PerformingPhysicianName PerformingPhysicianIdentificationSequence ProtocolName
    SeriesDescription SeriesDescriptionCodeSequence OperatorsName OperatorIdentificationSequence
    ReferencedPerformedProcedureStepSequence RelatedSeriesSequence BodyPartExamined
    PatientPosition SmallestPixelValueInSeries LargestPixelValueInSeries
    RequestAttributesSequence AnatomicalOrientationType TreatmentSessionUID
    ClinicalTrialCoordinatingCenterName ClinicalTrialSeriesID ClinicalTrialSeriesDescription
    Manufacturer InstitutionName InstitutionAddress StationName InstitutionalDepartmentName
    InstitutionalDepartmentTypeCodeSequence ManufacturerModelName ManufacturerDeviceClassUID
    DeviceSerialNumber SoftwareVersions GantryID UDISequence DeviceUID SpatialResolution
    DateOfLastCalibration TimeOfLastCalibration PixelPaddingValue FrameOfReferenceUID
    PositionReferenceIndicator
    """
)
NEVER_UPDATABLE = _keywords(
    """SchemaVersion DatastoreID ImageSetID PixelData Checksum Width Height MinPixelValue
    MaxPixelValue FrameSizeInBytes"""
)
UID_KEYWORDS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"})
FORCE_REQUIRED = UID_KEYWORDS | {"StudyID"}

_HEX_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_VR_MAX_LENGTH = {
    "LO": 64,
    "SH": 16,
    "CS": 16,
    "LT": 10240,
    "ST": 1024,
    "AE": 16,
    "DT": 26,
}
_NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})


class UpdateRejected(Exception):
    """A DICOM-level violation: the update is accepted, then its version ends UPDATE_FAILED."""


@dataclass(frozen=True)
class UpdateRules:
    force: bool
    strict: bool
    is_primary: bool


def parse_updates_blob(blob: bytes, member: str) -> dict:
    """Decode one DICOMUpdates blob; a malformed one is a synchronous ValidationException."""
    try:
        # orjson also refuses lone surrogates, which could not be stored.
        document = orjson.loads(blob)
    except orjson.JSONDecodeError as error:
        raise ValidationException(f"{member} is not valid JSON") from error
    if not isinstance(document, dict):
        raise ValidationException(f"{member} must be a JSON object")
    if str(document.get("SchemaVersion")) != "1.1":
        raise ValidationException(f"{member} must have SchemaVersion 1.1")
    unknown = set(document) - {"SchemaVersion", "Patient", "Study"}
    if unknown:
        raise ValidationException(
            f"{member} has unknown top level keys: {', '.join(sorted(unknown))}"
        )
    _expect_object(document, "Patient", member, {"DICOM"})
    study = _expect_object(document, "Study", member, {"DICOM", "Series"})
    for series_uid, series in _expect_object(study, "Series", member, None).items():
        _expect_uid_key(series_uid, member)
        if not isinstance(series, dict):
            raise ValidationException(f"{member} Series entries must be JSON objects")
        _expect_object(series, "DICOM", member, None)
        instances = _expect_object(series, "Instances", member, None)
        unknown = set(series) - {"DICOM", "Instances"}
        if unknown:
            raise ValidationException(
                f"{member} has unknown Series keys: {', '.join(sorted(unknown))}"
            )
        for instance_uid, instance in instances.items():
            _expect_uid_key(instance_uid, member)
            if not isinstance(instance, dict) or set(instance) - {"DICOM", "DICOMVRs"}:
                raise ValidationException(
                    f"{member} Instances entries may only hold DICOM and DICOMVRs"
                )
            _expect_object(instance, "DICOM", member, None)
            for vr in _expect_object(instance, "DICOMVRs", member, None).values():
                if not isinstance(vr, str) or not re.fullmatch(r"[A-Z]{2}", vr):
                    raise ValidationException(
                        f"{member} DICOMVRs values must be two letter VRs"
                    )
    for level in (document.get("Patient", {}), study):
        _expect_object(level, "DICOM", member, None)
    return document


def _expect_object(
    parent: dict, key: str, member: str, allowed: set[str] | None
) -> dict:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ValidationException(f"{member} {key} must be a JSON object")
    if allowed is not None and set(value) - allowed:
        unknown = ", ".join(sorted(set(value) - allowed))
        raise ValidationException(f"{member} {key} has unknown keys: {unknown}")
    return value


def _expect_uid_key(uid: str, member: str) -> None:
    if not _UID.fullmatch(uid) or len(uid) > 64:
        raise ValidationException(
            f"{member} has a Series or Instance key that is not a DICOM UID"
        )


def apply_dicom_updates(
    current: dict, updatable: dict | None, removable: dict | None, rules: UpdateRules
) -> dict:
    """The document after the update: removals first, then inserts and replacements."""
    document = copy.deepcopy(current)
    if removable:
        _apply_removals(document, removable, rules)
    if updatable:
        _apply_updates(document, updatable, rules)
    return document


def _apply_removals(document: dict, removable: dict, rules: UpdateRules) -> None:
    for level_name in ("Patient", "Study"):
        attributes = removable.get(level_name, {}).get("DICOM", {})
        target = document.setdefault(level_name, {}).setdefault("DICOM", {})
        _remove_attributes(target, attributes, level_name, rules)
    for series_uid, series_change in (
        removable.get("Study", {}).get("Series", {}).items()
    ):
        series = _existing_series(document, series_uid)
        if not series_change:
            _check_structural_change("Series", rules)
            del document["Study"]["Series"][series_uid]
            continue
        _remove_attributes(
            series.setdefault("DICOM", {}),
            series_change.get("DICOM", {}),
            "Series",
            rules,
        )
        for instance_uid, instance_change in series_change.get("Instances", {}).items():
            instance = _existing_instance(series, series_uid, instance_uid)
            if not instance_change:
                _check_structural_change("Instance", rules)
                del series["Instances"][instance_uid]
                continue
            _remove_attributes(
                instance.setdefault("DICOM", {}),
                instance_change.get("DICOM", {}),
                "Instance",
                rules,
            )
            for tag in instance_change.get("DICOMVRs", {}):
                instance.get("DICOMVRs", {}).pop(tag, None)


def _remove_attributes(
    target: dict, attributes: dict, level: str, rules: UpdateRules
) -> None:
    for keyword in attributes:
        _check_attribute(keyword, None, level, rules, removing=True, known_vr=None)
        if keyword not in target:
            raise UpdateRejected(f"{keyword} is not present at {level} level")
        del target[keyword]


def _check_structural_change(level: str, rules: UpdateRules) -> None:
    if rules.strict and rules.is_primary and level == "Series":
        raise UpdateRejected("Series can not be removed from a primary image set")


def _apply_updates(document: dict, updatable: dict, rules: UpdateRules) -> None:
    for level_name in ("Patient", "Study"):
        attributes = updatable.get(level_name, {}).get("DICOM", {})
        target = document.setdefault(level_name, {}).setdefault("DICOM", {})
        for keyword, value in attributes.items():
            _check_attribute(
                keyword, value, level_name, rules, removing=False, known_vr=None
            )
            target[keyword] = value
    for series_uid, series_change in (
        updatable.get("Study", {}).get("Series", {}).items()
    ):
        series = _existing_series(document, series_uid)
        for keyword, value in series_change.get("DICOM", {}).items():
            _check_attribute(
                keyword, value, "Series", rules, removing=False, known_vr=None
            )
            series.setdefault("DICOM", {})[keyword] = value
        for instance_uid, instance_change in series_change.get("Instances", {}).items():
            instance = _existing_instance(series, series_uid, instance_uid)
            vrs = {
                **instance.get("DICOMVRs", {}),
                **instance_change.get("DICOMVRs", {}),
            }
            present = instance.get("DICOM", {})
            for keyword, value in instance_change.get("DICOM", {}).items():
                # An attribute already present keeps its VR, so only new private tags need one.
                known_vr = vrs.get(keyword) or ("UN" if keyword in present else None)
                _check_attribute(
                    keyword, value, "Instance", rules, removing=False, known_vr=known_vr
                )
                instance.setdefault("DICOM", {})[keyword] = value
            if instance_change.get("DICOMVRs"):
                instance["DICOMVRs"] = vrs
            new_instance_uid = instance.get("DICOM", {}).get("SOPInstanceUID")
            if new_instance_uid and new_instance_uid != instance_uid:
                _rekey(
                    series["Instances"],
                    instance_uid,
                    new_instance_uid,
                    "SOPInstanceUID",
                )
        new_series_uid = series.get("DICOM", {}).get("SeriesInstanceUID")
        if new_series_uid and new_series_uid != series_uid:
            _rekey(
                document["Study"]["Series"],
                series_uid,
                new_series_uid,
                "SeriesInstanceUID",
            )


def _rekey(entries: dict, old: str, new: str, keyword: str) -> None:
    # The Series and Instances maps are keyed by the current UID, so a changed UID moves the entry.
    if not isinstance(new, str) or not _UID.fullmatch(new) or len(new) > 64:
        raise UpdateRejected(f"{keyword} must be a valid DICOM UID")
    if new in entries:
        raise UpdateRejected(f"{keyword} {new} already exists in the image set")
    entries[new] = entries.pop(old)


def _existing_series(document: dict, series_uid: str) -> dict:
    series = document.get("Study", {}).get("Series", {}).get(series_uid)
    if series is None:
        raise UpdateRejected(f"Series {series_uid} is not in the image set")
    return series


def _existing_instance(series: dict, series_uid: str, instance_uid: str) -> dict:
    instance = series.get("Instances", {}).get(instance_uid)
    if instance is None:
        raise UpdateRejected(f"Instance {instance_uid} is not in Series {series_uid}")
    return instance


def _is_private(keyword: str) -> bool:
    return bool(_HEX_TAG.fullmatch(keyword)) and int(keyword[:4], 16) % 2 == 1


def _standard_keyword(keyword: str) -> str | None:
    if _HEX_TAG.fullmatch(keyword):
        return keyword_for_tag(int(keyword, 16)) or None
    return keyword if tag_for_keyword(keyword) is not None else None


def level_of(keyword: str) -> str:
    if keyword in PATIENT_KEYWORDS:
        return "Patient"
    if keyword in STUDY_KEYWORDS:
        return "Study"
    if keyword in SERIES_KEYWORDS:
        return "Series"
    return "Instance"


def _check_attribute(
    keyword: str,
    value: Any,
    level: str,
    rules: UpdateRules,
    *,
    removing: bool,
    known_vr: str | None,
) -> None:
    if keyword in NEVER_UPDATABLE:
        raise UpdateRejected(f"{keyword} can not be updated")
    if _is_private(keyword):
        if level != "Instance":
            raise UpdateRejected(
                f"Private attribute {keyword} can only be changed at Instance level"
            )
        if not rules.force:
            raise UpdateRejected(f"Changing private attribute {keyword} requires force")
        if not removing and known_vr is None:
            raise UpdateRejected(
                f"Private attribute {keyword} needs its VR in DICOMVRs"
            )
        return
    standard = _standard_keyword(keyword)
    if standard is None:
        if not rules.force:
            raise UpdateRejected(
                f"{keyword} is not a DICOM attribute - use force to override"
            )
        return
    if standard in NEVER_UPDATABLE:
        raise UpdateRejected(f"{standard} can not be updated")
    expected_level = level_of(standard)
    if expected_level != level:
        raise UpdateRejected(
            f"{standard} is a {expected_level} level attribute and can not be changed at {level} level"
        )
    if standard in FORCE_REQUIRED and not rules.force:
        raise UpdateRejected(f"Changing {standard} requires force")
    if rules.strict and rules.is_primary:
        if level in ("Patient", "Series"):
            raise UpdateRejected(
                "The Patient and Series level metadata elements can not be updated for primary image sets"
            )
        if standard in UID_KEYWORDS:
            raise UpdateRejected(
                f"{standard} can not be changed on a primary image set"
            )
    if removing or rules.force:
        return
    vr = dictionary_VR(standard)
    if vr == "SQ":
        raise UpdateRejected(f"Changing sequence attribute {standard} requires force")
    if isinstance(value, list):
        raise UpdateRejected(
            f"Changing multi-valued attribute {standard} requires force"
        )
    if not vr_accepts(vr, value):
        raise UpdateRejected(
            f"Value of {standard} does not match its VR {vr} - use force to override"
        )


def vr_accepts(vr: str, value: Any) -> bool:
    """Whether a single value fits its DICOM value representation (PS3.5 6.2)."""
    if value is None:
        return True
    if vr in _NUMERIC_VRS:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if vr == "IS":
        return _numeric_string(value, r"[+-]?[0-9]{1,12}", 12)
    if vr == "DS":
        return _numeric_string(
            value, r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", 16
        )
    if not isinstance(value, str):
        return False
    if vr == "DA":
        return value == "" or parse_study_instant(value, None) is not None
    if vr == "TM":
        return value == "" or parse_study_instant("20000101", value) is not None
    if vr == "UI":
        return value == "" or (len(value) <= 64 and bool(_UID.fullmatch(value)))
    if vr == "AS":
        return bool(re.fullmatch(r"[0-9]{3}[DWMY]", value))
    if vr == "CS":
        return len(value) <= 16 and bool(re.fullmatch(r"[A-Z0-9 _]*", value))
    if vr == "PN":
        return all(len(group) <= 64 for group in value.split("="))
    return len(value) <= _VR_MAX_LENGTH.get(vr, 2**32)


def _numeric_string(value: Any, pattern: str, max_length: int) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True
    return (
        isinstance(value, str)
        and len(value) <= max_length
        and bool(re.fullmatch(pattern, value.strip()))
    )
