"""The synthetic archive looks like a real hospital archive and is reproducible."""

import datetime
import json
import re
from collections import Counter, defaultdict

import pytest

from apps.emulator.seed import ARCHIVE_END, SeedImageSet, generate_image_sets

DATASTORE_ID = "2aa75d103f7f45ab977b0e93f00e6fe9"
COUNT = 600

UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
HEX32 = re.compile(r"^[0-9a-z]{32}$")
NAME_PART = r"[A-Z][A-Z' -]*"
PERSON_NAME = re.compile(rf"^{NAME_PART}\^{NAME_PART}(\^{NAME_PART})?$")
PRIVATE_TAG = re.compile(r"^[0-9A-F]{8}$")

PATIENT_KEYS = {
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
}
STUDY_KEYS = {
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "ReferringPhysicianName",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
}
SERIES_KEYS = {
    "Modality",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "SeriesDescription",
    "BodyPartExamined",
    "Laterality",
    "PatientPosition",
    "ProtocolName",
    "Manufacturer",
    "ManufacturerModelName",
    "InstitutionName",
    "StationName",
    "DeviceSerialNumber",
    "SoftwareVersions",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
}
SOP_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
}
MAX_INSTANCES = {"CR": 2, "DX": 2, "MG": 4, "US": 12, "CT": 30, "MR": 30, "PT": 30}
# Words in a study description and the body parts they allow.
BODY_PARTS = {
    "MAMMO": {"BREAST"},
    "WHOLE BODY": {"WHOLEBODY"},
    "BRAIN": {"BRAIN", "HEAD"},
    "HEAD": {"HEAD"},
    "CHEST": {"CHEST"},
    "ABDOMEN": {"ABDOMEN", "PELVIS"},
    "PELVIS": {"PELVIS"},
    "LUMBAR SPINE": {"LSPINE"},
    "CERVICAL SPINE": {"CSPINE"},
    "KNEE": {"KNEE"},
    "SHOULDER": {"SHOULDER"},
    "HAND": {"HAND"},
    "ANKLE": {"ANKLE"},
    "PROSTATE": {"PROSTATE"},
    "RENAL": {"KIDNEY"},
    "THYROID": {"THYROID"},
    "CAROTID": {"NECK"},
    "US OB": {"ABDOMEN"},
}


def generate(count=COUNT, random_seed=7, datastore_id=DATASTORE_ID):
    return list(
        generate_image_sets(count, datastore_id=datastore_id, random_seed=random_seed)
    )


def as_json(image_sets):
    return json.dumps(
        [
            [s.image_set_id, s.metadata, s.created_at, s.updated_at, s.is_primary]
            for s in image_sets
        ]
    )


def only_series(image_set):
    (series,) = image_set.metadata["Study"]["Series"].values()
    return series


def instances(image_set):
    return list(only_series(image_set)["Instances"].values())


@pytest.fixture(scope="module")
def archive() -> list[SeedImageSet]:
    return generate()


@pytest.fixture(scope="module")
def primary(archive) -> list[SeedImageSet]:
    return [s for s in archive if s.is_primary]


def test_generate_image_sets_is_deterministic_for_a_seed(archive):
    assert as_json(generate()) == as_json(archive)


def test_other_seeds_and_data_stores_give_other_archives(archive):
    assert as_json(generate(random_seed=8)) != as_json(archive)
    assert as_json(generate(datastore_id="f" * 32)) != as_json(archive)


def test_a_smaller_count_gives_a_prefix_of_the_larger_archive(archive):
    assert as_json(generate(count=250)) == as_json(archive[:250])


@pytest.mark.parametrize("count", [0, 1, 2, 17, COUNT])
def test_generate_image_sets_stops_at_exactly_count(count):
    assert len(generate(count=count)) == count


def test_a_negative_count_is_rejected():
    with pytest.raises(ValueError, match="count"):
        generate_image_sets(-1, datastore_id=DATASTORE_ID, random_seed=1)


def test_a_naive_archive_end_is_rejected():
    naive = datetime.datetime(2026, 1, 1)  # noqa: DTZ001 - the naive value is the point
    with pytest.raises(ValueError, match="timezone"):
        generate_image_sets(
            1, datastore_id=DATASTORE_ID, random_seed=1, archive_end=naive
        )


def test_metadata_documents_have_the_contract_shape(archive):
    for image_set in archive:
        metadata = image_set.metadata
        assert list(metadata) == [
            "SchemaVersion",
            "DatastoreID",
            "ImageSetID",
            "Patient",
            "Study",
        ]
        assert metadata["SchemaVersion"] == "1.1"
        assert metadata["DatastoreID"] == DATASTORE_ID
        assert metadata["ImageSetID"] == image_set.image_set_id
        assert list(metadata["Patient"]) == ["DICOM"]
        assert list(metadata["Study"]) == ["DICOM", "Series"]
        # One image set is one series, keyed by its own SeriesInstanceUID.
        ((series_uid, series),) = metadata["Study"]["Series"].items()
        assert series["DICOM"]["SeriesInstanceUID"] == series_uid
        for sop_uid, instance in series["Instances"].items():
            assert instance["DICOM"]["SOPInstanceUID"] == sop_uid
            assert instance["StoredTransferSyntaxUID"] == "1.2.840.10008.1.2.4.202"
            assert instance["DICOM"]["PixelData"] is None
        assert json.loads(json.dumps(metadata)) == metadata


def test_image_set_ids_are_32_lowercase_characters_and_unique(archive):
    ids = [s.image_set_id for s in archive]
    assert all(HEX32.match(image_set_id) for image_set_id in ids)
    assert len(set(ids)) == len(ids)


def test_about_a_third_as_many_patients_as_image_sets_most_with_several_studies(
    primary,
):
    studies_by_patient = defaultdict(set)
    for image_set in primary:
        patient_id = image_set.metadata["Patient"]["DICOM"]["PatientID"]
        studies_by_patient[patient_id].add(
            image_set.metadata["Study"]["DICOM"]["StudyInstanceUID"]
        )
    assert 0.25 * COUNT <= len(studies_by_patient) <= 0.42 * COUNT
    study_counts = [len(studies) for studies in studies_by_patient.values()]
    assert sum(count > 1 for count in study_counts) > len(study_counts) / 2
    assert max(study_counts) <= 6


def test_each_study_has_one_to_four_series(primary):
    series_by_study = defaultdict(set)
    for image_set in primary:
        study_uid = image_set.metadata["Study"]["DICOM"]["StudyInstanceUID"]
        series_by_study[study_uid].add(only_series(image_set)["DICOM"]["SeriesNumber"])
    counts = Counter(len(series) for series in series_by_study.values())
    assert set(counts) <= {1, 2, 3, 4}
    assert min(counts[1], counts[2], counts[3]) > 0


def test_image_sets_of_one_study_share_patient_and_study_attributes(archive):
    by_study = defaultdict(list)
    for image_set in archive:
        study_uid = image_set.metadata["Study"]["DICOM"]["StudyInstanceUID"]
        by_study[study_uid].append(image_set)
    assert any(len(sets) > 1 for sets in by_study.values())
    for sets in by_study.values():
        first = sets[0].metadata
        for other in sets[1:]:
            assert other.metadata["Patient"] == first["Patient"]
            assert other.metadata["Study"]["DICOM"] == first["Study"]["DICOM"]
            assert other.metadata["Patient"] is not first["Patient"]


def test_a_patient_keeps_the_same_name_birth_date_and_sex(archive):
    patients = {}
    for image_set in archive:
        patient = image_set.metadata["Patient"]["DICOM"]
        assert patients.setdefault(patient["PatientID"], patient) == patient


def test_person_names_are_upper_case_family_caret_given(archive):
    names = [s.metadata["Patient"]["DICOM"]["PatientName"] for s in archive]
    assert all(PERSON_NAME.match(name) for name in names), names
    assert any(name.count("^") == 2 for name in names)
    assert not any(re.search(r"\d", name) for name in names)
    physicians = {
        s.metadata["Study"]["DICOM"]["ReferringPhysicianName"] for s in archive
    } - {None}
    assert all(re.match(rf"^{NAME_PART}\^{NAME_PART}", name) for name in physicians)


def test_patient_sex_birth_date_and_age_are_consistent(archive):
    sexes = Counter(s.metadata["Patient"]["DICOM"]["PatientSex"] for s in archive)
    assert set(sexes) <= {"M", "F", "O", None}
    assert min(sexes["M"], sexes["F"]) > COUNT / 5
    for image_set in archive:
        patient = image_set.metadata["Patient"]["DICOM"]
        study = image_set.metadata["Study"]["DICOM"]
        birth = patient["PatientBirthDate"]
        if birth is None:
            continue
        assert re.match(r"^(19|20)\d{6}$", birth)
        assert birth <= study["StudyDate"]
        age = study.get("PatientAge")
        if age and age.endswith("Y"):
            years = int(study["StudyDate"][:4]) - int(birth[:4])
            assert int(age[:3]) in (years - 1, years)


def test_identifiers_look_like_a_hospital_archive(primary):
    patient_ids = {s.metadata["Patient"]["DICOM"]["PatientID"] for s in primary}
    assert all(re.match(r"^[A-Z]{0,4}\d{7,8}$", pid) for pid in patient_ids)
    assert any(pid.isdigit() for pid in patient_ids)
    assert any(not pid.isdigit() for pid in patient_ids)
    accession_by_study = {}
    for image_set in primary:
        study = image_set.metadata["Study"]["DICOM"]
        assert re.match(r"^(19|20)\d{6}$", study["StudyDate"])
        assert re.match(
            r"^([01]\d|2[0-3])[0-5]\d[0-5]\d(\.\d{6})?$", study["StudyTime"]
        )
        assert study["StudyID"] is None or re.match(r"^\d{1,5}$", study["StudyID"])
        if study.get("AccessionNumber"):
            assert re.match(r"^[A-Z0-9]{6,16}$", study["AccessionNumber"])
            accession_by_study[study["StudyInstanceUID"]] = study["AccessionNumber"]
    accessions = list(accession_by_study.values())
    assert len(set(accessions)) == len(accessions)


def test_study_dates_span_decades(primary):
    years = {int(s.metadata["Study"]["DICOM"]["StudyDate"][:4]) for s in primary}
    assert min(years) < 2005
    assert max(years) >= 2024
    assert max(years) <= ARCHIVE_END.year
    times = [s.metadata["Study"]["DICOM"]["StudyTime"] for s in primary]
    assert any("." in t for t in times)
    assert any("." not in t for t in times)


def test_every_uid_is_a_valid_dicom_uid(archive):
    def check(uid):
        assert UID.match(uid), uid
        assert len(uid) <= 64, uid
        assert all(part == "0" or not part.startswith("0") for part in uid.split("."))

    for image_set in archive:
        study = image_set.metadata["Study"]
        check(study["DICOM"]["StudyInstanceUID"])
        series = only_series(image_set)
        check(series["DICOM"]["SeriesInstanceUID"])
        if "FrameOfReferenceUID" in series["DICOM"]:
            check(series["DICOM"]["FrameOfReferenceUID"])
        for instance in instances(image_set):
            check(instance["DICOM"]["SOPInstanceUID"])
            check(instance["DICOM"]["SOPClassUID"])


def test_sop_instance_uids_are_unique_across_primary_image_sets(primary):
    uids = [
        instance["DICOM"]["SOPInstanceUID"]
        for image_set in primary
        for instance in instances(image_set)
    ]
    assert len(set(uids)) == len(uids)


def test_each_attribute_lives_at_its_normalized_level(archive):
    for image_set in archive:
        assert set(image_set.metadata["Patient"]["DICOM"]) <= PATIENT_KEYS
        assert set(image_set.metadata["Study"]["DICOM"]) <= STUDY_KEYS
        series = only_series(image_set)
        assert set(series["DICOM"]) <= SERIES_KEYS
        for instance in series["Instances"].values():
            keys = set(instance["DICOM"])
            assert not keys & (PATIENT_KEYS | STUDY_KEYS | SERIES_KEYS)


def test_values_use_the_json_types_of_their_vrs(archive):
    for image_set in archive:
        series = only_series(image_set)["DICOM"]
        assert isinstance(series["SeriesNumber"], int)
        assert isinstance(series["SoftwareVersions"], list)
        for instance in instances(image_set):
            dicom = instance["DICOM"]
            assert isinstance(dicom["InstanceNumber"], str)
            assert dicom["InstanceNumber"].isdigit()
            for key in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit"):
                assert isinstance(dicom[key], int)
            assert isinstance(dicom["ImageType"], list)
            if "PixelSpacing" in dicom:
                assert len(dicom["PixelSpacing"]) == 2
                assert all(isinstance(v, str) for v in dicom["PixelSpacing"])
                assert float(dicom["PixelSpacing"][0]) > 0
            for key in ("WindowCenter", "WindowWidth"):
                values = dicom.get(key, [])
                values = values if isinstance(values, list) else [values]
                assert all(isinstance(v, str) and float(v) == float(v) for v in values)


def test_modalities_are_varied_with_matching_body_parts_and_sop_classes(archive):
    modalities = Counter()
    for image_set in archive:
        study = image_set.metadata["Study"]["DICOM"]
        series = only_series(image_set)["DICOM"]
        modality = series["Modality"]
        modalities[modality] += 1
        for instance in instances(image_set):
            assert instance["DICOM"]["SOPClassUID"] == SOP_CLASS[modality]
        description = study.get("StudyDescription")
        body_part = series.get("BodyPartExamined")
        if description and body_part:
            allowed = next(
                parts for word, parts in BODY_PARTS.items() if word in description
            )
            assert body_part in allowed, (description, body_part)
        if modality == "MG":
            assert image_set.metadata["Patient"]["DICOM"]["PatientSex"] in ("F", None)
    assert set(modalities) == set(SOP_CLASS)
    assert modalities.most_common(1)[0][1] < COUNT / 2


def test_equipment_matches_the_modality(archive):
    by_modality = defaultdict(set)
    for image_set in archive:
        series = only_series(image_set)["DICOM"]
        by_modality[series["Modality"]].add(series["Manufacturer"])
        assert series["ManufacturerModelName"]
        assert series["StationName"]
    assert all(
        m.startswith(("HOLOGIC", "GE", "SIEMENS", "FUJI")) for m in by_modality["MG"]
    )
    assert len(by_modality["CT"]) > 1


def test_optional_attributes_are_sometimes_missing_or_empty(primary):
    studies = [s.metadata["Study"]["DICOM"] for s in primary]
    patients = [s.metadata["Patient"]["DICOM"] for s in primary]
    series = [only_series(s)["DICOM"] for s in primary]
    no_accession = sum(not study.get("AccessionNumber") for study in studies)
    assert 0.04 * len(studies) < no_accession < 0.2 * len(studies)
    assert any(
        "AccessionNumber" in study and study["AccessionNumber"] is None
        for study in studies
    )
    assert any("StudyDescription" not in study for study in studies)
    assert any(study["ReferringPhysicianName"] is None for study in studies)
    assert any("BodyPartExamined" not in s for s in series)
    assert any(patient["PatientBirthDate"] is None for patient in patients)
    assert sum("StudyDescription" in study for study in studies) > 0.8 * len(studies)


def test_instance_counts_are_modest_and_modality_typical(archive):
    for image_set in archive:
        modality = only_series(image_set)["DICOM"]["Modality"]
        assert 1 <= len(instances(image_set)) <= MAX_INSTANCES[modality]


def test_image_frames_are_consistent_with_the_pixel_module(archive):
    frame_ids = []
    for image_set in archive:
        for instance in instances(image_set):
            dicom = instance["DICOM"]
            assert dicom["HighBit"] == dicom["BitsStored"] - 1
            assert dicom["BitsStored"] <= dicom["BitsAllocated"]
            (frame,) = instance["ImageFrames"]
            frame_ids.append(frame["ID"])
            assert HEX32.match(frame["ID"])
            expected = (
                dicom["Rows"]
                * dicom["Columns"]
                * dicom["SamplesPerPixel"]
                * dicom["BitsAllocated"]
                // 8
            )
            assert frame["FrameSizeInBytes"] == expected
            levels = frame["PixelDataChecksumFromBaseToFullResolution"]
            widths = [level["Width"] for level in levels]
            assert widths == sorted(widths)
            assert (levels[-1]["Width"], levels[-1]["Height"]) == (
                dicom["Columns"],
                dicom["Rows"],
            )
            assert all(0 <= level["Checksum"] < 2**32 for level in levels)
            assert frame["MinPixelValue"] <= frame["MaxPixelValue"]
            if dicom["PixelRepresentation"] == 0:
                assert frame["MinPixelValue"] >= 0
            assert frame["MaxPixelValue"] < 2 ** dicom["BitsStored"]
    assert len(set(frame_ids)) == len(frame_ids)


def test_private_tags_carry_their_vrs(archive):
    with_private = 0
    for image_set in archive:
        for instance in instances(image_set):
            private = {key for key in instance["DICOM"] if PRIVATE_TAG.match(key)}
            assert private == set(instance["DICOMVRs"])
            with_private += bool(private)
    assert with_private


def test_created_and_updated_times_fall_in_the_import_window(archive):
    window_start = ARCHIVE_END.timestamp() - 6.01 * 365.25 * 86400
    for image_set in archive:
        assert window_start <= image_set.created_at <= image_set.updated_at
        assert image_set.updated_at <= ARCHIVE_END.timestamp()
        assert round(image_set.created_at, 3) == image_set.created_at
    assert any(s.updated_at > s.created_at for s in archive)
    assert sum(s.updated_at == s.created_at for s in archive) > 0.8 * len(archive)


def test_a_few_image_sets_are_non_primary_copies(archive):
    copies = [s for s in archive if not s.is_primary]
    assert 0 < len(copies) < 0.08 * len(archive)
    primaries = {
        only_series(s)["DICOM"]["SeriesInstanceUID"]: s for s in archive if s.is_primary
    }
    for copy in copies:
        original = primaries[only_series(copy)["DICOM"]["SeriesInstanceUID"]]
        assert copy.created_at >= original.created_at
        assert copy.metadata["Patient"] == original.metadata["Patient"]


def test_a_custom_archive_end_moves_the_whole_archive():
    end = datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC)
    image_sets = list(
        generate_image_sets(
            200, datastore_id=DATASTORE_ID, random_seed=3, archive_end=end
        )
    )
    assert len(image_sets) == 200
    for image_set in image_sets:
        assert image_set.updated_at <= end.timestamp()
        assert image_set.metadata["Study"]["DICOM"]["StudyDate"] < "20150101"
