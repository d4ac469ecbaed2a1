from apps.imagesets.metadata import EMPTY, metadata_tree

DOCUMENT = {
    "SchemaVersion": "1.1",
    "DatastoreID": "d" * 32,
    "ImageSetID": "i" * 32,
    "Patient": {"DICOM": {"PatientName": "DOE^JANE", "PatientWeight": None}},
    "Study": {
        "DICOM": {
            "StudyInstanceUID": "1.2.3",
            "StudyDescription": "CT HEAD",
            "ProcedureCodeSequence": [
                {"CodeValue": "CTHD", "CodingSchemeDesignator": "L"},
                {"CodeValue": "CTX", "CodingSchemeDesignator": "L"},
            ],
        },
        "Series": {
            "1.2.3.4": {
                "DICOM": {
                    "Modality": "CT",
                    "SeriesNumber": 2,
                    "SeriesDescription": "AXIAL",
                    "SoftwareVersions": ["A", "B"],
                },
                "Instances": {
                    "1.2.3.4.1": {
                        "DICOM": {
                            "InstanceNumber": "1",
                            "ImageType": ["ORIGINAL", "PRIMARY"],
                            "00091001": "GE_GENESIS_DD",
                            "Rows": 512,
                        },
                        "DICOMVRs": {"00091001": "LO"},
                        "StoredTransferSyntaxUID": "1.2.840.10008.1.2.4.202",
                        "ImageFrames": [
                            {
                                "ID": "f" * 32,
                                "PixelDataChecksumFromBaseToFullResolution": [
                                    {"Width": 256, "Height": 256, "Checksum": 1},
                                    {"Width": 512, "Height": 512, "Checksum": 2},
                                ],
                                "FrameSizeInBytes": 524288,
                            }
                        ],
                    },
                    "1.2.3.4.2": {"DICOM": {}},
                },
            }
        },
    },
}


def attributes(level):
    return {attribute.keyword: attribute for attribute in level.attributes}


def test_metadata_tree_has_patient_study_series_and_instances():
    tree = metadata_tree(DOCUMENT)

    assert tree.patient.title == "Patient"
    assert tree.study.uid == "1.2.3"
    assert [series.title for series in tree.series] == ["CT · Series 2 · AXIAL"]
    assert tree.series[0].uid == "1.2.3.4"
    assert [instance.title for instance in tree.series[0].children] == [
        "Instance 1",
        "Instance",
    ]
    assert tree.series[0].children[0].uid == "1.2.3.4.1"
    assert tree.instance_count == 2
    assert tree.schema_version == "1.1"
    assert tree.patient_name == "DOE^JANE"
    assert tree.study_description == "CT HEAD"


def test_metadata_tree_opens_patient_study_and_series_but_not_instances():
    tree = metadata_tree(DOCUMENT)

    assert tree.patient.open
    assert tree.study.open
    assert tree.series[0].open
    assert not any(instance.open for instance in tree.series[0].children)


def test_metadata_tree_shows_values_readably():
    tree = metadata_tree(DOCUMENT)
    instance = attributes(tree.series[0].children[0])

    assert attributes(tree.patient)["PatientWeight"].value == EMPTY
    assert attributes(tree.series[0])["SoftwareVersions"].value == "A \\ B"
    assert instance["ImageType"].value == "ORIGINAL \\ PRIMARY"
    assert instance["Rows"].value == "512"
    assert instance["StoredTransferSyntaxUID"].value == "1.2.840.10008.1.2.4.202"


def test_metadata_tree_names_private_tags_with_their_vr():
    instance = attributes(metadata_tree(DOCUMENT).series[0].children[0])

    private = instance["(0009,1001)"]
    assert private.value == "GE_GENESIS_DD"
    assert private.vr == "LO"


def test_metadata_tree_nests_sequences():
    sequence = attributes(metadata_tree(DOCUMENT).study)["ProcedureCodeSequence"]

    assert sequence.is_sequence
    assert [[(a.keyword, a.value) for a in item] for item in sequence.items] == [
        [("CodeValue", "CTHD"), ("CodingSchemeDesignator", "L")],
        [("CodeValue", "CTX"), ("CodingSchemeDesignator", "L")],
    ]


def test_metadata_tree_summarises_image_frames():
    instances = metadata_tree(DOCUMENT).series[0].children

    frames = instances[0].frames
    assert (frames.count, frames.sizes, frames.total_bytes) == (
        1,
        ("512 × 512",),
        524288,
    )
    assert instances[1].frames is None


def test_metadata_tree_survives_an_odd_document():
    tree = metadata_tree({"Patient": "nonsense", "Study": {"Series": {"1.2": None}}})

    assert tree.patient.attributes == ()
    assert tree.series[0].title == "Series"
    assert tree.patient_name is None
