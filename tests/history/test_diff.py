"""Attribute-level diffs of two metadata documents, at every level."""

import copy

from apps.history.diff import Change, LevelKind, Presence, diff_documents

S1, S2, S3 = "1.2.840.1", "1.2.840.2", "1.2.840.3"
I11, I12, I21, I31 = "1.2.840.1.1", "1.2.840.1.2", "1.2.840.2.1", "1.2.840.3.1"


def instance(number: int, **dicom) -> dict:
    return {
        "DICOM": {"InstanceNumber": number, "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2"}
        | dicom,
        "StoredTransferSyntaxUID": "1.2.840.10008.1.2.1",
        "ImageFrames": [{"ID": f"frame{number}", "FrameSizeInBytes": 1024}],
    }


BASE = {
    "SchemaVersion": "1.1",
    "DatastoreID": "d" * 32,
    "ImageSetID": "i" * 32,
    "Patient": {
        "DICOM": {"PatientName": "DOE^JOHN", "PatientID": "P1", "PatientAge": None}
    },
    "Study": {
        "DICOM": {
            "StudyDescription": "CT HEAD",
            "StudyInstanceUID": "1.2.840",
            "NumberOfStudyRelatedSeries": 2,
        },
        "Series": {
            S1: {
                "DICOM": {
                    "Modality": "CT",
                    "SeriesNumber": 1,
                    "SeriesDescription": "AX",
                },
                "Instances": {I11: instance(1), I12: instance(2)},
            },
            S2: {
                "DICOM": {"Modality": "CT", "SeriesNumber": 2},
                "Instances": {I21: instance(1)},
            },
        },
    },
}


def level(diff, kind, uid=None):
    (found,) = [lvl for lvl in diff.levels if lvl.kind == kind and lvl.uid == uid]
    return found


def rows(lvl) -> dict:
    return {row.key: row for row in lvl.attributes}


def test_identical_documents_have_no_differences():
    diff = diff_documents(BASE, copy.deepcopy(BASE))

    assert diff.is_empty
    assert (diff.added, diff.removed, diff.changed) == (0, 0, 0)
    patient = level(diff, LevelKind.PATIENT)
    assert patient.differences == ()
    assert patient.unchanged_count == 3  # kept, to be shown on request


def test_patient_and_study_attributes_added_removed_and_changed():
    new = copy.deepcopy(BASE)
    new["Patient"]["DICOM"]["PatientName"] = "DOE^JANE"
    new["Patient"]["DICOM"]["PatientSex"] = "F"
    del new["Patient"]["DICOM"]["PatientID"]
    new["Study"]["DICOM"]["StudyDescription"] = None

    diff = diff_documents(BASE, new)

    patient = rows(level(diff, LevelKind.PATIENT))
    assert patient["PatientName"].change == Change.CHANGED
    assert (patient["PatientName"].old, patient["PatientName"].new) == (
        "DOE^JOHN",
        "DOE^JANE",
    )
    assert patient["PatientSex"].change == Change.ADDED
    assert patient["PatientSex"].new == "F"
    assert patient["PatientID"].change == Change.REMOVED
    assert patient["PatientID"].old == "P1"
    assert patient["PatientAge"].change == Change.UNCHANGED  # null both times
    study = rows(level(diff, LevelKind.STUDY))
    assert study["StudyDescription"].change == Change.CHANGED
    assert study["StudyDescription"].new is None
    assert [row.key for row in level(diff, LevelKind.STUDY).differences] == [
        "StudyDescription"
    ]
    assert (diff.added, diff.removed, diff.changed) == (1, 1, 2)


def test_values_are_compared_exactly_lists_numbers_and_nulls():
    old = copy.deepcopy(BASE)
    old["Patient"]["DICOM"] |= {
        "OtherPatientIDs": ["A", "B"],
        "PatientWeight": 70,
        "PatientSize": 1.8,
        "EthnicGroup": "",
    }
    new = copy.deepcopy(old)
    new["Patient"]["DICOM"] |= {
        "OtherPatientIDs": ["B", "A"],  # order matters
        "PatientWeight": "70",  # a string is not a number
        "PatientSize": 1.8,
        "EthnicGroup": None,  # null is not an empty string
        "PatientAge": "040Y",  # was null
    }
    new["Study"]["DICOM"]["NumberOfStudyRelatedSeries"] = 2.0  # same number, float

    patient = rows(level(diff_documents(old, new), LevelKind.PATIENT))

    assert patient["OtherPatientIDs"].change == Change.CHANGED
    assert patient["OtherPatientIDs"].old == ["A", "B"]
    assert patient["PatientWeight"].change == Change.CHANGED
    assert patient["PatientSize"].change == Change.UNCHANGED
    assert patient["EthnicGroup"].change == Change.CHANGED
    assert patient["PatientAge"].change == Change.CHANGED
    assert patient["PatientAge"].old is None
    study = rows(level(diff_documents(old, new), LevelKind.STUDY))
    assert study["NumberOfStudyRelatedSeries"].change == Change.CHANGED


def test_a_null_value_is_not_an_absent_attribute():
    new = copy.deepcopy(BASE)
    del new["Patient"]["DICOM"]["PatientAge"]

    patient = rows(level(diff_documents(BASE, new), LevelKind.PATIENT))

    assert patient["PatientAge"].change == Change.REMOVED


def test_series_and_instance_attributes_are_compared_under_their_uids():
    new = copy.deepcopy(BASE)
    new["Study"]["Series"][S1]["DICOM"]["SeriesDescription"] = "AXIAL"
    new["Study"]["Series"][S1]["Instances"][I12]["DICOM"]["00091001"] = "97"
    new["Study"]["Series"][S1]["Instances"][I12]["DICOMVRs"] = {"00091001": "DS"}
    new["Study"]["Series"][S1]["Instances"][I11]["StoredTransferSyntaxUID"] = "1.2.3"

    diff = diff_documents(BASE, new)

    series = level(diff, LevelKind.SERIES, S1)
    assert series.presence == Presence.BOTH
    assert series.title == "CT · Series 1 · AXIAL"  # named as in the newer
    assert [(r.key, r.old, r.new) for r in series.differences] == [
        ("SeriesDescription", "AX", "AXIAL")
    ]
    private = rows(level(diff, LevelKind.INSTANCE, I12))["00091001"]
    assert private.change == Change.ADDED
    assert private.label == "(0009,1001)"
    assert private.vr == "DS"
    assert level(diff, LevelKind.INSTANCE, I12).series_uid == S1
    syntax = rows(level(diff, LevelKind.INSTANCE, I11))["StoredTransferSyntaxUID"]
    assert syntax.change == Change.CHANGED
    assert syntax.technical
    assert not level(diff, LevelKind.SERIES, S2).has_differences
    assert not level(diff, LevelKind.INSTANCE, I21).has_differences


def test_a_different_value_representation_is_a_change():
    old = copy.deepcopy(BASE)
    old["Study"]["Series"][S1]["Instances"][I11]["DICOM"]["00091001"] = "97"
    old["Study"]["Series"][S1]["Instances"][I11]["DICOMVRs"] = {"00091001": "DS"}
    new = copy.deepcopy(old)
    new["Study"]["Series"][S1]["Instances"][I11]["DICOMVRs"] = {"00091001": "IS"}

    row = rows(level(diff_documents(old, new), LevelKind.INSTANCE, I11))["00091001"]

    assert row.change == Change.CHANGED
    assert row.vr_changed
    assert (row.old_vr, row.new_vr) == ("DS", "IS")


def test_whole_series_added_and_removed():
    new = copy.deepcopy(BASE)
    del new["Study"]["Series"][S2]
    new["Study"]["Series"][S3] = {
        "DICOM": {"Modality": "MR", "SeriesNumber": 3},
        "Instances": {I31: instance(1)},
    }

    diff = diff_documents(BASE, new)

    [added] = diff.series_added
    assert (added.uid, added.title, added.instance_uids) == (
        S3,
        "MR · Series 3",
        (I31,),
    )
    assert {row.key: row.change for row in added.attributes} == {
        "Modality": Change.ADDED,
        "SeriesNumber": Change.ADDED,
    }
    [removed] = diff.series_removed
    assert (removed.uid, removed.instance_uids) == (S2, (I21,))
    assert all(row.change == Change.REMOVED for row in removed.attributes)
    # A whole series carries its instances; they are not listed one by one.
    assert diff.instances_added == ()
    assert diff.instances_removed == ()
    assert {lvl.uid for lvl in diff.differing_levels} == {S2, S3}


def test_instances_added_and_removed_in_a_series_both_versions_have():
    new = copy.deepcopy(BASE)
    del new["Study"]["Series"][S1]["Instances"][I12]
    new["Study"]["Series"][S2]["Instances"]["1.2.840.2.2"] = instance(2)

    diff = diff_documents(BASE, new)

    [removed] = diff.instances_removed
    assert (removed.uid, removed.series_uid, removed.title) == (I12, S1, "Instance 2")
    assert rows(removed)["InstanceNumber"].change == Change.REMOVED
    assert rows(removed)["ImageFrames"].change == Change.REMOVED
    [added] = diff.instances_added
    assert (added.uid, added.series_uid) == ("1.2.840.2.2", S2)
    assert all(row.change == Change.ADDED for row in added.attributes)
    assert diff.series_added == ()
    assert diff.series_removed == ()
    assert not level(diff, LevelKind.SERIES, S1).differences


def test_document_keys_and_levels_missing_altogether():
    new = copy.deepcopy(BASE)
    new["SchemaVersion"] = "1.2"
    del new["Patient"]

    diff = diff_documents(BASE, new)

    document = rows(level(diff, LevelKind.DOCUMENT))
    assert document["SchemaVersion"].change == Change.CHANGED
    assert "Patient" not in document
    assert "Study" not in document
    assert {row.change for row in level(diff, LevelKind.PATIENT).attributes} == {
        Change.REMOVED
    }
    assert diff_documents({}, {}).is_empty
