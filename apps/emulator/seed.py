"""Synthetic archive for the HealthImaging emulator: realistic image set metadata.

Owns the generated data only (patients, studies, series, instances, frames) and is
deterministic for a seed; the emulator's storage calls `generate_image_sets`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from faker import Faker

ARCHIVE_END = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)

# pydicom's public demo root: valid, registered, and obviously not a real vendor's.
UID_ROOT = "1.2.826.0.1.3680043.8.498"
HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
SCHEMA_VERSION = "1.1"

_FIRST_STUDY = datetime.datetime(1995, 1, 1, tzinfo=datetime.UTC)
_OLDEST_BIRTH = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)
_IMPORT_WINDOW_SECONDS = round(6 * 365.25 * 86400)
_MAX_SERIES_PER_STUDY = 4

SOP_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
}


@dataclass(frozen=True)
class SeedImageSet:
    image_set_id: str
    metadata: dict
    created_at: float
    updated_at: float
    is_primary: bool


def generate_image_sets(
    count: int,
    *,
    datastore_id: str,
    random_seed: int,
    archive_end: datetime.datetime = ARCHIVE_END,
) -> Iterator[SeedImageSet]:
    """Yield exactly `count` image sets; the same arguments always give the same sets.

    The output for a smaller `count` is a prefix of the output for a larger one.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if archive_end.tzinfo is None:
        raise ValueError("archive_end must be timezone-aware")
    # Validate eagerly, then hand back a lazy generator.
    return _Archive(datastore_id, random_seed, archive_end).image_sets(count)


# ---------------------------------------------------------------------------
# Catalog: procedures, series kinds, scanners, institutions.


@dataclass(frozen=True)
class _SeriesKind:
    description: str
    number: int
    probability: float
    instances: tuple[int, int]
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY")
    window: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    slice_thickness: tuple[str, ...] = ()
    # (ViewPosition, ImageLaterality), cycled over the instances; "*" is the study side.
    views: tuple[tuple[str, str], ...] = ()
    # Set only when it differs from the study's modality (the CT series of a PET/CT).
    modality: str | None = None


@dataclass(frozen=True)
class _Procedure:
    modality: str  # "XR" resolves to CR or DX by era and site
    description: str
    body_parts: tuple[str, ...]
    series: tuple[_SeriesKind, ...]
    weight: float
    protocol: str = ""
    sex: str = ""
    min_age: int = 0
    max_age: int = 130
    laterality: str = ""
    patient_position: str = "HFS"
    split_series: tuple[_SeriesKind, ...] = ()


@dataclass(frozen=True)
class _Scanner:
    manufacturer: str
    model: str
    since: int
    software: str
    private: tuple[tuple[str, str, str], ...] = ()  # (tag, value, VR), creators first


_SOFT = (("40",), ("400",))
_SOFT_LUNG = (("40", "-600"), ("400", "1500"))
_LUNG = (("-600",), ("1500",))
_BRAIN = (("40",), ("80",))
_BONE = (("300",), ("1500",))
_CT_AXIAL = ("ORIGINAL", "PRIMARY", "AXIAL")
_CT_REFORMAT = ("DERIVED", "SECONDARY", "REFORMATTED")
_LOCALIZER = ("ORIGINAL", "PRIMARY", "LOCALIZER")
_MR_IMAGE = ("ORIGINAL", "PRIMARY", "M", "ND")


def _ct_scout(probability: float = 0.5) -> _SeriesKind:
    return _SeriesKind("SCOUT", 1, probability, (1, 3), _LOCALIZER, _SOFT, ("2",))


def _mr(
    description: str, number: int, probability: float, thickness: str = "4"
) -> _SeriesKind:
    return _SeriesKind(
        description, number, probability, (5, 24), _MR_IMAGE, None, (thickness,)
    )


def _xr(
    description: str, body_part: str, views: tuple[str, ...], weight: float
) -> _Procedure:
    # Radiographs arrive as one series holding every view or as one series per view.
    combined = _SeriesKind(
        views[0], 1, 1.0, (len(views), len(views)), views=tuple((v, "") for v in views)
    )
    split = tuple(
        _SeriesKind(view, number, 1.0, (1, 1), views=((view, ""),))
        for number, view in enumerate(views, start=1)
    )
    return _Procedure(
        "XR",
        description,
        (body_part,),
        (combined,),
        weight,
        split_series=split if len(views) > 1 else (),
    )


def _sided(procedure: _Procedure) -> list[_Procedure]:
    return [
        dataclasses.replace(
            procedure,
            description=f"{procedure.description} {word}",
            weight=procedure.weight / 2,
            laterality=side,
        )
        for side, word in (("R", "RIGHT"), ("L", "LEFT"))
    ]


_PROCEDURES: tuple[_Procedure, ...] = (
    # CT
    _Procedure(
        "CT",
        "CT CHEST W CONTRAST",
        ("CHEST",),
        (
            _ct_scout(),
            _SeriesKind("AXIAL 5MM", 2, 1.0, (5, 30), _CT_AXIAL, _SOFT_LUNG, ("5",)),
            _SeriesKind("LUNG 1.25MM", 3, 0.4, (8, 30), _CT_AXIAL, _LUNG, ("1.25",)),
            _SeriesKind("COR MPR 3MM", 601, 0.2, (5, 20), _CT_REFORMAT, _SOFT, ("3",)),
        ),
        5,
        "CHEST_W_CONTRAST",
    ),
    _Procedure(
        "CT",
        "CT CHEST WO CONTRAST",
        ("CHEST",),
        (
            _ct_scout(),
            _SeriesKind("AXIAL 2.5MM", 2, 1.0, (8, 30), _CT_AXIAL, _LUNG, ("2.5",)),
        ),
        3,
        "CHEST_ROUTINE",
    ),
    _Procedure(
        "CT",
        "CT ABDOMEN PELVIS W CONTRAST",
        ("ABDOMEN", "PELVIS"),
        (
            _ct_scout(),
            _SeriesKind("PORTAL VENOUS 5MM", 2, 1.0, (5, 30), _CT_AXIAL, _SOFT, ("5",)),
            _SeriesKind("COR 3MM", 602, 0.3, (5, 20), _CT_REFORMAT, _SOFT, ("3",)),
        ),
        5,
        "ABD_PELVIS_W",
        patient_position="FFS",
    ),
    _Procedure(
        "CT",
        "CT HEAD WO CONTRAST",
        ("HEAD",),
        (
            _ct_scout(0.4),
            _SeriesKind("AXIAL 5MM BRAIN", 2, 1.0, (5, 28), _CT_AXIAL, _BRAIN, ("5",)),
            _SeriesKind("AXIAL 2MM BONE", 3, 0.25, (8, 30), _CT_AXIAL, _BONE, ("2",)),
        ),
        5,
        "ROUTINE_HEAD",
    ),
    _Procedure(
        "CT",
        "CTA CHEST PE PROTOCOL",
        ("CHEST",),
        (
            _ct_scout(),
            _SeriesKind("CTA 1MM", 2, 1.0, (10, 30), _CT_AXIAL, _SOFT_LUNG, ("1",)),
        ),
        1.5,
        "PE_PROTOCOL",
        min_age=16,
    ),
    _Procedure(
        "CT",
        "CT CERVICAL SPINE WO CONTRAST",
        ("CSPINE",),
        (
            _ct_scout(0.4),
            _SeriesKind("AXIAL 1MM BONE", 2, 1.0, (8, 30), _CT_AXIAL, _BONE, ("1",)),
            _SeriesKind("SAG 2MM", 601, 0.3, (5, 16), _CT_REFORMAT, _BONE, ("2",)),
        ),
        1.5,
        "C_SPINE",
    ),
    # MR
    _Procedure(
        "MR",
        "MRI BRAIN WO CONTRAST",
        ("BRAIN", "HEAD"),
        (
            _mr("SAG T1", 1, 0.5, "5"),
            _mr("AX T2 FLAIR", 2, 1.0, "5"),
            _mr("AX DWI", 3, 0.5, "5"),
            _mr("AX T2", 4, 0.3, "5"),
        ),
        4,
        "BRAIN ROUTINE",
    ),
    _Procedure(
        "MR",
        "MRI BRAIN W WO CONTRAST",
        ("BRAIN", "HEAD"),
        (
            _mr("AX T1", 2, 0.6, "5"),
            _mr("AX T2 FLAIR", 3, 0.6, "5"),
            _mr("AX T1 POST", 6, 1.0, "5"),
        ),
        2,
        "BRAIN W WO",
    ),
    _Procedure(
        "MR",
        "MRI LUMBAR SPINE WO CONTRAST",
        ("LSPINE",),
        (_mr("SAG T2", 1, 1.0), _mr("SAG T1", 2, 0.5), _mr("AX T2", 3, 0.5)),
        3,
        "L-SPINE",
    ),
    _Procedure(
        "MR",
        "MRI CERVICAL SPINE WO CONTRAST",
        ("CSPINE",),
        (_mr("SAG T2", 1, 1.0, "3"), _mr("AX T2 GRE", 3, 0.5, "3")),
        1.5,
        "C-SPINE",
    ),
    *_sided(
        _Procedure(
            "MR",
            "MRI KNEE WO CONTRAST",
            ("KNEE",),
            (
                _mr("COR PD FS", 1, 1.0, "3"),
                _mr("SAG PD", 2, 0.6, "3"),
                _mr("AX T2 FS", 3, 0.4, "3"),
            ),
            3,
            "KNEE",
            patient_position="FFS",
        )
    ),
    *_sided(
        _Procedure(
            "MR",
            "MRI SHOULDER WO CONTRAST",
            ("SHOULDER",),
            (_mr("COR T2 FS", 1, 1.0, "3"), _mr("AX PD", 2, 0.5, "3")),
            1.5,
            "SHOULDER",
        )
    ),
    _Procedure(
        "MR",
        "MRI PROSTATE W WO CONTRAST",
        ("PROSTATE",),
        (
            _mr("AX T2", 1, 1.0, "3"),
            _mr("AX DWI", 2, 0.6, "3"),
            _mr("AX DCE", 3, 0.3, "3"),
        ),
        1,
        "PROSTATE MP",
        sex="M",
        min_age=40,
    ),
    _Procedure(
        "MR",
        "MRI ABDOMEN W WO CONTRAST",
        ("ABDOMEN",),
        (_mr("AX T2 HASTE", 1, 1.0, "6"), _mr("AX T1 POST", 2, 0.5, "3")),
        1,
        "LIVER",
    ),
    # Radiography
    _xr("XR CHEST 2 VIEWS", "CHEST", ("PA", "LL"), 16),
    _xr("XR CHEST 1 VIEW PORTABLE", "CHEST", ("AP",), 8),
    _xr("XR ABDOMEN 1 VIEW", "ABDOMEN", ("AP",), 2),
    _xr("XR LUMBAR SPINE 2 VIEWS", "LSPINE", ("AP", "LATERAL"), 3),
    _xr("XR PELVIS 1 VIEW", "PELVIS", ("AP",), 2),
    *_sided(_xr("XR KNEE 2 VIEWS", "KNEE", ("AP", "LATERAL"), 4)),
    *_sided(_xr("XR HAND 2 VIEWS", "HAND", ("PA", "OBLIQUE"), 2)),
    *_sided(_xr("XR ANKLE 2 VIEWS", "ANKLE", ("AP", "LATERAL"), 2)),
    *_sided(_xr("XR SHOULDER 2 VIEWS", "SHOULDER", ("AP", "Y VIEW"), 2)),
    # Ultrasound
    _Procedure(
        "US",
        "US ABDOMEN COMPLETE",
        ("ABDOMEN",),
        (
            _SeriesKind(
                "ABDOMEN", 1, 1.0, (3, 12), ("ORIGINAL", "PRIMARY", "ABDOMINAL")
            ),
        ),
        5,
    ),
    _Procedure(
        "US",
        "US RENAL",
        ("KIDNEY",),
        (_SeriesKind("RENAL", 1, 1.0, (3, 10), ("ORIGINAL", "PRIMARY", "ABDOMINAL")),),
        2,
    ),
    _Procedure(
        "US",
        "US THYROID",
        ("THYROID",),
        (
            _SeriesKind(
                "THYROID", 1, 1.0, (3, 10), ("ORIGINAL", "PRIMARY", "SMALL PART")
            ),
        ),
        2,
        min_age=12,
    ),
    _Procedure(
        "US",
        "US PELVIS TRANSVAGINAL",
        ("PELVIS",),
        (_SeriesKind("PELVIS TV", 1, 1.0, (3, 12), ("ORIGINAL", "PRIMARY", "PELVIC")),),
        2,
        sex="F",
        min_age=16,
    ),
    _Procedure(
        "US",
        "US OB 2ND TRIMESTER",
        ("ABDOMEN",),
        (_SeriesKind("OB", 1, 1.0, (4, 12), ("ORIGINAL", "PRIMARY", "OB")),),
        1.5,
        sex="F",
        min_age=16,
        max_age=46,
    ),
    _Procedure(
        "US",
        "US CAROTID DUPLEX BILAT",
        ("NECK",),
        (_SeriesKind("CAROTID", 1, 1.0, (4, 12), ("ORIGINAL", "PRIMARY", "VASCULAR")),),
        1.5,
        min_age=40,
    ),
    # Mammography
    _Procedure(
        "MG",
        "MAMMO SCREENING BILAT",
        ("BREAST",),
        (
            _SeriesKind(
                "SCREENING",
                1,
                1.0,
                (4, 4),
                views=(("CC", "R"), ("CC", "L"), ("MLO", "R"), ("MLO", "L")),
            ),
        ),
        6,
        sex="F",
        min_age=38,
    ),
    *_sided(
        _Procedure(
            "MG",
            "MAMMO DIAGNOSTIC",
            ("BREAST",),
            (
                _SeriesKind(
                    "DIAGNOSTIC",
                    1,
                    1.0,
                    (1, 3),
                    views=(("CC", "*"), ("MLO", "*"), ("ML", "*")),
                ),
            ),
            2,
            sex="F",
            min_age=25,
        )
    ),
    # PET/CT: one hybrid scanner, CT and PT series share the frame of reference.
    _Procedure(
        "PT",
        "PET/CT WHOLE BODY",
        ("WHOLEBODY",),
        (
            _SeriesKind(
                "CT ATTENUATION CORRECTION",
                2,
                0.7,
                (5, 30),
                _CT_AXIAL,
                _SOFT,
                ("3.75",),
                modality="CT",
            ),
            _SeriesKind("PET WB AC", 3, 1.0, (5, 30)),
            _SeriesKind("PET WB NAC", 4, 0.3, (5, 30)),
        ),
        2,
        "WB FDG",
        min_age=10,
    ),
)


_GE_PRIVATE = (
    ("00090010", "GEMS_IDEN_01", "LO"),
    ("00091001", "GE_GENESIS_DD", "LO"),
    ("00190010", "GEMS_ACQU_01", "LO"),
    ("001910F9", "97", "DS"),
)
_SIEMENS_PRIVATE = (
    ("00290010", "SIEMENS CSA HEADER", "LO"),
    ("00291008", "IMAGE NUM 4", "CS"),
)
_PHILIPS_PRIVATE = (
    ("20010010", "Philips Imaging DD 001", "LO"),
    ("2001100B", "TRANSVERSAL", "CS"),
)
_CANON_PRIVATE = (("70050010", "TOSHIBA_MEC_CT3", "LO"),)

_SCANNERS: dict[str, tuple[_Scanner, ...]] = {
    "CT": (
        _Scanner(
            "GE MEDICAL SYSTEMS", "LightSpeed16", 1995, "LightSpeedverrel", _GE_PRIVATE
        ),
        _Scanner("GE MEDICAL SYSTEMS", "LightSpeed VCT", 2005, "07MW18.4", _GE_PRIVATE),
        _Scanner(
            "GE MEDICAL SYSTEMS", "Revolution CT", 2015, "revo_ct_22bc.50", _GE_PRIVATE
        ),
        _Scanner("SIEMENS", "Sensation 16", 1995, "syngo CT 2007S", _SIEMENS_PRIVATE),
        _Scanner(
            "SIEMENS",
            "SOMATOM Definition AS+",
            2008,
            "syngo CT VA48A",
            _SIEMENS_PRIVATE,
        ),
        _Scanner("SIEMENS", "SOMATOM Force", 2014, "syngo CT VB20A", _SIEMENS_PRIVATE),
        _Scanner("Philips", "Brilliance 64", 2004, "4.1.6", _PHILIPS_PRIVATE),
        _Scanner("Philips", "IQon - Spectral CT", 2016, "5.0.0", _PHILIPS_PRIVATE),
        _Scanner("TOSHIBA", "Aquilion", 1998, "V4.86ER010", _CANON_PRIVATE),
        _Scanner("CANON_MEC", "Aquilion ONE", 2016, "V10.6SP0010", _CANON_PRIVATE),
    ),
    "MR": (
        _Scanner("GE MEDICAL SYSTEMS", "Signa HDxt", 1995, "15\\LX\\MR", _GE_PRIVATE),
        _Scanner(
            "GE MEDICAL SYSTEMS", "DISCOVERY MR750", 2008, "DV25.0_R02", _GE_PRIVATE
        ),
        _Scanner("GE MEDICAL SYSTEMS", "SIGNA Premier", 2017, "RX29.1", _GE_PRIVATE),
        _Scanner("SIEMENS", "Avanto", 1995, "syngo MR B17", _SIEMENS_PRIVATE),
        _Scanner("SIEMENS", "Skyra", 2010, "syngo MR E11", _SIEMENS_PRIVATE),
        _Scanner("SIEMENS", "Prisma", 2014, "syngo MR XA30", _SIEMENS_PRIVATE),
        _Scanner("Philips Medical Systems", "Achieva", 1995, "5.1.7", _PHILIPS_PRIVATE),
        _Scanner("Philips Medical Systems", "Ingenia", 2011, "5.7.1", _PHILIPS_PRIVATE),
        _Scanner("CANON_MEC", "Vantage Orian", 2018, "V7.0"),
    ),
    "CR": (
        _Scanner("KODAK", "CR 850", 1995, "5.2"),
        _Scanner("Agfa", "ADC Compact Plus", 1995, "VIPS 2.1"),
        _Scanner("FUJI PHOTO FILM Co., ltd.", "XU-D1", 1995, "A14"),
        _Scanner("Carestream Health", "DirectView CR 975", 2007, "5.7.410"),
    ),
    "DX": (
        _Scanner(
            "GE Healthcare", "Definium 8000", 2005, "DM_Platform_Release_Version 11.2"
        ),
        _Scanner("GE Healthcare", "Optima XR240amx", 2013, "LAMBDA 2.3"),
        _Scanner("SIEMENS", "Ysio Max", 2013, "VF85B"),
        _Scanner("Philips Medical Systems", "DigitalDiagnost", 2003, "4.3.2"),
        _Scanner("Carestream Health", "DRX-Evolution", 2011, "5.8.0"),
        _Scanner("FUJIFILM Corporation", "FDR D-EVO II", 2015, "V6.0"),
    ),
    "US": (
        _Scanner("GE Healthcare", "LOGIQ E9", 2008, "R6.1.1"),
        _Scanner("GE Healthcare", "Voluson E10", 2015, "EM.20.0"),
        _Scanner("Philips Medical Systems", "iU22", 2004, "6.3.2.5"),
        _Scanner("Philips Medical Systems", "EPIQ 7G", 2013, "7.0.5"),
        _Scanner("SIEMENS", "ACUSON S2000", 2008, "VC10B"),
        _Scanner("TOSHIBA_MEC_US", "Aplio 500", 2011, "V6.0"),
        _Scanner("ATL", "HDI 5000", 1995, "10.2"),
    ),
    "MG": (
        _Scanner("HOLOGIC, Inc.", "Lorad Selenia", 2000, "AWS:MAMMODROC_3_4_1_8"),
        _Scanner("HOLOGIC, Inc.", "Selenia Dimensions", 2009, "1.9.0.6"),
        _Scanner("HOLOGIC, Inc.", "3Dimensions", 2017, "2.1.1.4"),
        _Scanner("GE MEDICAL SYSTEMS", "Senographe DS", 1995, "ADS_43.10.1"),
        _Scanner("GE MEDICAL SYSTEMS", "Senographe Pristina", 2016, "ADS_80.16"),
        _Scanner("SIEMENS", "Mammomat Revelation", 2016, "VB10D"),
        _Scanner("FUJIFILM Corporation", "Amulet Innovality", 2013, "V4.1"),
    ),
    "PT": (
        _Scanner("GE MEDICAL SYSTEMS", "Discovery ST", 2001, "dmi_ct_2.0", _GE_PRIVATE),
        _Scanner(
            "GE MEDICAL SYSTEMS", "Discovery MI", 2016, "pet_cpfs.40", _GE_PRIVATE
        ),
        _Scanner("SIEMENS", "Biograph mCT", 2009, "VG60A", _SIEMENS_PRIVATE),
        _Scanner("SIEMENS", "Biograph Vision 600", 2018, "VG80B", _SIEMENS_PRIVATE),
        _Scanner(
            "Philips Medical Systems",
            "Ingenuity TF PET/CT",
            2010,
            "4.1.1",
            _PHILIPS_PRIVATE,
        ),
    ),
}

_INSTITUTION_TEMPLATES = (
    "{city} GENERAL HOSPITAL",
    "{city} MEDICAL CENTER",
    "ST. {given}'S HOSPITAL",
    "{city} REGIONAL MEDICAL CENTER",
    "{family} MEMORIAL HOSPITAL",
    "UNIVERSITY HOSPITAL {city}",
    "{city} IMAGING CENTER",
    "{city} COMMUNITY HOSPITAL",
)

# Latin-script locales; names are folded to upper-case ASCII as most PACS store them.
_LOCALES = (
    ("en_US", 50),
    ("es_MX", 10),
    ("en_GB", 7),
    ("de_DE", 5),
    ("fr_FR", 5),
    ("it_IT", 5),
    ("en_IN", 4),
    ("pl_PL", 4),
    ("pt_BR", 4),
    ("vi_VN", 3),
    ("nl_NL", 3),
)
_DOUBLE_SURNAME_LOCALES = frozenset({"es_MX", "pt_BR"})

# Studies per patient 1..6: most patients come back at least once.
_STUDIES_PER_PATIENT = (1, 2, 3, 4, 5, 6)
_STUDIES_PER_PATIENT_WEIGHTS = (42, 26, 15, 9, 5, 3)

_TRANSLITERATE = str.maketrans(
    {"Ø": "O", "Đ": "D", "Ð": "D", "Ł": "L", "Æ": "AE", "Œ": "OE", "Þ": "TH"}
)


def _dicom_upper(text: str) -> str:
    """Upper-case ASCII as a default-character-set PACS stores it; '' if unusable."""
    folded = unicodedata.normalize("NFKD", text.upper().translate(_TRANSLITERATE))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    cleaned = " ".join(
        "".join(c if c.isalpha() or c in " '-" else " " for c in ascii_text).split()
    )
    return cleaned if cleaned[:1].isalpha() else ""


def _pool(draw: Iterator[str] | list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for raw in draw:
        name = _dicom_upper(raw)
        if name:
            seen[name] = None
    return tuple(seen)


@dataclass(frozen=True)
class _NamePool:
    locale: str
    family: tuple[str, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]


@dataclass
class _Site:
    name: str
    code: str
    mrn_style: str
    issuer: bool
    accession_style: str
    physicians: tuple[str, ...]
    vendors: dict[str, tuple[str, ...]]
    stations: dict[tuple[str, str], tuple[str, str]]


@dataclass
class _Patient:
    name: str
    patient_id: str
    issuer: str
    sex: str
    birth: datetime.datetime
    birth_date_known: bool
    sex_known: bool
    site: int
    adult_weight: float
    adult_height: float


@dataclass
class _Study:
    frame_of_reference: str
    when: datetime.datetime
    dicom: dict
    site: _Site
    procedure: _Procedure
    modality: str
    body_part: str | None
    scanner: _Scanner
    keeps_private: bool
    imported_at: float


def _uid(*parts: int | str) -> str:
    uid = ".".join((UID_ROOT, *map(str, parts)))
    if len(uid) > 64:
        raise AssertionError(f"UID over 64 characters: {uid}")
    return uid


def _ds(value: float, digits: int = 6) -> str:
    return f"{value:.{digits}g}"


def _pyramid(width: int, height: int) -> tuple[tuple[int, int], ...]:
    # HTJ2K resolution levels: halve until the base fits 256 pixels, base first.
    levels = [(width, height)]
    while width > 256:
        width, height = (width + 1) // 2, (height + 1) // 2
        levels.append((width, height))
    return tuple(reversed(levels))


class _Archive:
    def __init__(
        self, datastore_id: str, random_seed: int, archive_end: datetime.datetime
    ) -> None:
        self.datastore_id = datastore_id
        # `random` hashes a str seed with SHA-512: stable across processes and hosts.
        self.rng = random.Random(f"healthimaging-seed:{datastore_id}:{random_seed}")
        self.archive_end = archive_end.astimezone(datetime.UTC)
        self.end_ts = self.archive_end.timestamp()
        self.window_start_ts = self.end_ts - _IMPORT_WINDOW_SECONDS
        self.first_study = min(
            _FIRST_STUDY, self.archive_end - datetime.timedelta(days=3650)
        )
        self.study_days = (self.archive_end - self.first_study).days - 2
        self.used_ids: set[str] = set()
        self.used_mrns: set[str] = set()
        self.used_accessions: set[str] = set()
        self.pools: tuple[_NamePool, ...] = ()
        self.pool_weights: tuple[int, ...] = ()
        self.sites: list[_Site] = []
        self.site_weights: list[int] = []
        self.procedure_weights = tuple(p.weight for p in _PROCEDURES)

    # -- setup ---------------------------------------------------------------

    def _setup(self) -> None:
        rng = self.rng
        pools = []
        for locale, _weight in _LOCALES:
            fake = Faker(locale)
            fake.seed_instance(rng.getrandbits(64))
            pools.append(
                _NamePool(
                    locale,
                    _pool([fake.last_name() for _ in range(250)]),
                    _pool([fake.first_name_male() for _ in range(150)]),
                    _pool([fake.first_name_female() for _ in range(150)]),
                )
            )
        self.pools = tuple(pools)
        self.pool_weights = tuple(weight for _locale, weight in _LOCALES)

        fake = Faker("en_US")
        fake.seed_instance(rng.getrandbits(64))
        cities = [c for c in _pool([fake.city() for _ in range(40)]) if len(c) <= 20]
        site_count = rng.randint(3, 5)
        names: list[str] = []
        codes: list[str] = []
        us = self.pools[0]
        while len(names) < site_count:
            template = (
                _INSTITUTION_TEMPLATES[len(names)]
                if not names
                else rng.choice(_INSTITUTION_TEMPLATES)
            )
            name = template.format(
                city=rng.choice(cities),
                given=rng.choice(us.male),
                family=rng.choice(us.family),
            )
            if name in names or len(name) > 64:
                continue
            code = "".join(
                word[0] for word in name.replace("'S", "").split() if word[0].isalpha()
            )[:4]
            suffix = 1
            while code in codes:
                code, suffix = f"{code[:3]}{suffix}", suffix + 1
            names.append(name)
            codes.append(code)
        for index, (name, code) in enumerate(zip(names, codes, strict=True)):
            self.sites.append(
                _Site(
                    name=name
                    if rng.random() < 0.8
                    else name.title().replace("'S ", "'s "),
                    code=code,
                    mrn_style=("D8", "D7", "P7", "D7", "P8")[index],
                    issuer=rng.random() < 0.5,
                    accession_style=rng.choice(("CODE", "ACC", "DATE", "DIGITS")),
                    physicians=tuple(self._physician() for _ in range(30)),
                    vendors={},
                    stations={},
                )
            )
        # The first site is the big hospital; satellites see fewer patients.
        self.site_weights = [10] + [rng.randint(2, 5) for _ in names[1:]]

    def _physician(self) -> str:
        rng = self.rng
        pool = self.pools[0] if rng.random() < 0.7 else rng.choice(self.pools)
        given = rng.choice(pool.male if rng.random() < 0.5 else pool.female)
        name = f"{rng.choice(pool.family)}^{given}"
        style = rng.random()
        if style < 0.15:
            return f"{name}^^^MD"
        if style < 0.25:
            return f"{name}^^DR"
        if style < 0.4:
            return f"{name}^{rng.choice('ABCDEFGHJKLMNPRSTW')}"
        return name

    # -- patients ------------------------------------------------------------

    def _patient(self, birth: datetime.datetime) -> _Patient:
        rng = self.rng
        roll = rng.random()
        sex = "F" if roll < 0.52 else ("M" if roll < 0.995 else "O")
        pool = rng.choices(self.pools, self.pool_weights)[0]
        if sex == "F":
            givens = pool.female
        elif sex == "M":
            givens = pool.male
        else:
            givens = pool.female if rng.random() < 0.5 else pool.male
        family = rng.choice(pool.family)
        if pool.locale in _DOUBLE_SURNAME_LOCALES and rng.random() < 0.5:
            family = f"{family} {rng.choice(pool.family)}"
        name = f"{family}^{rng.choice(givens)}"
        middle = rng.random()
        if middle < 0.12:
            name = f"{name}^{rng.choice(givens)}"
        elif middle < 0.22:
            name = f"{name}^{rng.choice('ABCDEFGHIJKLMNOPRSTVW')}"

        site_index = rng.choices(range(len(self.sites)), self.site_weights)[0]
        site = self.sites[site_index]
        while True:
            style = site.mrn_style
            if style == "D8":
                mrn = f"{rng.randrange(10**8):08d}"
            elif style == "D7":
                mrn = str(rng.randrange(10**6, 10**7))
            elif style == "P7":
                mrn = f"{site.code}{rng.randrange(10**7):07d}"
            else:
                mrn = f"{site.code[:1]}{rng.randrange(10**8):08d}"
            if mrn not in self.used_mrns:
                self.used_mrns.add(mrn)
                break

        if sex == "M":
            weight, height = rng.gauss(84, 14), rng.gauss(1.77, 0.07)
        else:
            weight, height = rng.gauss(71, 14), rng.gauss(1.63, 0.07)
        return _Patient(
            name=name,
            patient_id=mrn,
            issuer=site.code if site.issuer else "",
            sex=sex,
            birth=birth,
            birth_date_known=rng.random() > 0.03,
            sex_known=rng.random() > 0.01,
            site=site_index,
            adult_weight=max(45.0, weight),
            adult_height=min(2.05, max(1.45, height)),
        )

    def _patient_dicom(self, patient: _Patient) -> dict:
        dicom: dict = {
            "PatientName": patient.name,
            "PatientID": patient.patient_id,
        }
        if patient.issuer:
            dicom["IssuerOfPatientID"] = patient.issuer
        dicom["PatientBirthDate"] = (
            patient.birth.strftime("%Y%m%d") if patient.birth_date_known else None
        )
        dicom["PatientSex"] = patient.sex if patient.sex_known else None
        return dicom

    def _study_days(self) -> list[int]:
        """Sorted study days for one patient, skewed to recent years as in real PACS."""
        rng = self.rng
        n = rng.choices(_STUDIES_PER_PATIENT, _STUDIES_PER_PATIENT_WEIGHTS)[0]
        first = int(self.study_days * rng.random() ** 0.6)
        remaining = self.study_days - first
        # Follow-ups cluster after the first visit.
        days = [first] + [
            first + int(remaining * rng.random() ** 2) for _ in range(n - 1)
        ]
        return sorted(days)

    # -- studies -------------------------------------------------------------

    def _age(
        self, birth: datetime.datetime, when: datetime.datetime
    ) -> tuple[int, str]:
        days = (when - birth).days
        years = (
            when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))
        )
        if days < 31:
            return 0, f"{days:03d}D"
        if years < 2:
            months = (
                (when.year - birth.year) * 12
                + when.month
                - birth.month
                - (when.day < birth.day)
            )
            return 0, f"{months:03d}M"
        return years, f"{years:03d}Y"

    def _pick_procedure(self, patient: _Patient, age: int) -> _Procedure:
        rng = self.rng
        while True:
            procedure = rng.choices(_PROCEDURES, self.procedure_weights)[0]
            if procedure.sex and procedure.sex != patient.sex:
                continue
            if procedure.min_age <= age <= procedure.max_age:
                return procedure

    def _scanner(self, site: _Site, modality: str, year: int) -> _Scanner:
        rng = self.rng
        catalog = _SCANNERS[modality]
        vendors = site.vendors.get(modality)
        if vendors is None:
            all_vendors = list(dict.fromkeys(s.manufacturer for s in catalog))
            vendors = tuple(
                rng.sample(all_vendors, min(len(all_vendors), rng.randint(1, 2)))
            )
            site.vendors[modality] = vendors
        available = [s for s in catalog if s.since <= year]
        preferred = [s for s in available if s.manufacturer in vendors]
        return rng.choice(
            preferred or available or [min(catalog, key=lambda s: s.since)]
        )

    def _station(
        self, site: _Site, modality: str, scanner: _Scanner
    ) -> tuple[str, str]:
        key = (modality, scanner.model)
        station = site.stations.get(key)
        if station is None:
            number = 1 + sum(1 for m, _model in site.stations if m == modality)
            serial = str(self.rng.randrange(10**4, 10**8))
            station = (f"{site.code}{modality}{number:02d}", serial)
            site.stations[key] = station
        return station

    def _accession(self, site: _Site, when: datetime.datetime) -> str:
        rng = self.rng
        while True:
            style = site.accession_style
            if style == "CODE":
                accession = f"{site.code}{rng.randrange(10**8):08d}"
            elif style == "ACC":
                accession = f"ACC{rng.randrange(10**7):07d}"
            elif style == "DATE":
                accession = f"{when:%Y%m%d}{rng.randrange(10**4):04d}"
            else:
                accession = str(rng.randrange(10**8, 10**10))
            if accession not in self.used_accessions:
                self.used_accessions.add(accession)
                return accession

    def _study(self, patient: _Patient, day: int) -> _Study:
        rng = self.rng
        hour = rng.randint(7, 18) if rng.random() < 0.82 else rng.randrange(24)
        when = self.first_study + datetime.timedelta(
            days=day, hours=hour, seconds=rng.randrange(3600)
        )
        age, age_string = self._age(patient.birth, when)
        procedure = self._pick_procedure(patient, age)
        site = (
            self.sites[patient.site] if rng.random() < 0.85 else rng.choice(self.sites)
        )

        modality = procedure.modality
        if modality == "XR":
            cr_share = 0.9 if when.year < 2005 else (0.5 if when.year < 2014 else 0.15)
            modality = "CR" if rng.random() < cr_share else "DX"
        scanner = self._scanner(site, modality, when.year)

        study_time = f"{when:%H%M%S}"
        if rng.random() < 0.3:
            study_time += f".{rng.randrange(10**6):06d}"
        stamp = f"{when:%Y%m%d%H%M%S}"
        dicom: dict = {
            "StudyInstanceUID": _uid(1, stamp, rng.getrandbits(48)),
            "StudyDate": f"{when:%Y%m%d}",
            "StudyTime": study_time,
            "StudyID": str(rng.randint(1, 99999)) if rng.random() < 0.96 else None,
        }
        roll = rng.random()
        if roll < 0.9:
            dicom["AccessionNumber"] = self._accession(site, when)
        elif roll < 0.97:
            dicom["AccessionNumber"] = None
        if rng.random() < 0.93:
            dicom["StudyDescription"] = procedure.description
        dicom["ReferringPhysicianName"] = (
            rng.choice(site.physicians) if rng.random() < 0.87 else None
        )
        if rng.random() < 0.85:
            dicom["PatientAge"] = age_string
        growth = min(1.0, age / 17)
        roll = rng.random()
        if roll < 0.55:
            weight = 3.5 + (patient.adult_weight - 3.5) * growth + rng.uniform(-2, 2)
            dicom["PatientWeight"] = _ds(round(max(2.5, weight), rng.choice((0, 1))), 4)
        elif roll < 0.7:
            dicom["PatientWeight"] = None
        if rng.random() < 0.3:
            height = 0.5 + (patient.adult_height - 0.5) * growth**0.8
            dicom["PatientSize"] = f"{height:.2f}"

        imported = self._import_time(when.timestamp())
        return _Study(
            frame_of_reference=_uid(4, stamp, rng.getrandbits(48)),
            when=when,
            dicom=dicom,
            site=site,
            procedure=procedure,
            modality=modality,
            body_part=rng.choice(procedure.body_parts) if rng.random() < 0.92 else None,
            scanner=scanner,
            keeps_private=rng.random() < 0.7,
            imported_at=imported,
        )

    def _import_time(self, acquired: float) -> float:
        rng = self.rng
        if acquired < self.window_start_ts:
            # Legacy study: part of the migration, spread over the whole window.
            return (
                self.window_start_ts
                + (self.end_ts - self.window_start_ts) * rng.random()
            )
        return min(self.end_ts - 60, acquired + 300 + rng.expovariate(1 / 7200))

    # -- series and instances --------------------------------------------------

    def _series_kinds(self, procedure: _Procedure) -> list[_SeriesKind]:
        rng = self.rng
        if procedure.split_series and rng.random() < 0.35:
            return list(procedure.split_series)
        kinds = [k for k in procedure.series if rng.random() < k.probability]
        if not kinds:
            kinds = [max(procedure.series, key=lambda k: k.probability)]
        return kinds[:_MAX_SERIES_PER_STUDY]

    def _series(self, study: _Study, kind: _SeriesKind, index: int) -> dict:
        rng = self.rng
        modality = kind.modality or study.modality
        scanner = study.scanner
        station, serial = self._station(study.site, study.modality, scanner)
        series_when = study.when + datetime.timedelta(
            minutes=2 + 4 * index, seconds=rng.randrange(60)
        )
        stamp = f"{series_when:%Y%m%d%H%M%S}"
        series_uid = _uid(2, stamp, rng.getrandbits(48))
        series_time = f"{series_when:%H%M%S}"
        if "." in study.dicom["StudyTime"]:
            series_time += f".{rng.randrange(10**6):06d}"
        dicom: dict = {
            "Modality": modality,
            "SeriesInstanceUID": series_uid,
            "SeriesNumber": kind.number,
            "SeriesDate": f"{series_when:%Y%m%d}",
            "SeriesTime": series_time,
        }
        if rng.random() < 0.95:
            dicom["SeriesDescription"] = kind.description
        if study.body_part:
            dicom["BodyPartExamined"] = study.body_part
        if study.procedure.laterality and modality in ("CR", "DX", "MR"):
            dicom["Laterality"] = study.procedure.laterality
        if modality in ("CT", "MR", "PT"):
            dicom["PatientPosition"] = study.procedure.patient_position
            if study.procedure.protocol and rng.random() < 0.6:
                dicom["ProtocolName"] = study.procedure.protocol
        dicom["Manufacturer"] = scanner.manufacturer
        dicom["ManufacturerModelName"] = scanner.model
        dicom["InstitutionName"] = study.site.name if rng.random() < 0.97 else None
        dicom["StationName"] = station
        if rng.random() < 0.8:
            dicom["DeviceSerialNumber"] = serial
        dicom["SoftwareVersions"] = scanner.software.split("\\")
        if modality in ("CT", "MR", "PT"):
            dicom["FrameOfReferenceUID"] = study.frame_of_reference
            dicom["PositionReferenceIndicator"] = None
        instances = self._instances(study, kind, modality, series_uid)
        return {"DICOM": dicom, "Instances": instances}

    def _instances(
        self, study: _Study, kind: _SeriesKind, modality: str, series_uid: str
    ) -> dict:
        rng = self.rng
        rand = rng.random
        bits = rng.getrandbits
        scanner = study.scanner
        vendor = scanner.manufacturer
        base: dict = {
            "ImageType": None,
            "SOPClassUID": SOP_CLASS[modality],
            "SOPInstanceUID": None,
            "InstanceNumber": None,
        }
        spacing = ""
        photometric = "MONOCHROME2"
        samples = 1
        bits_allocated, bits_stored, pixel_representation = 16, 12, 0
        min_range, max_range = (0, 30), (2000, 4095)
        window = kind.window
        mr_window = False
        rescale_slope = False

        if modality == "CT":
            rows = cols = 512
            if vendor.startswith("GE"):
                bits_stored, pixel_representation = 16, 1
                min_range, max_range = (-2048, -1000), (1800, 3500)
            spacing = _ds(rng.uniform(320, 500) / 512)
            base["KVP"] = rng.choice(("120", "100", "120", "140", "80"))
            base["SliceThickness"] = (
                kind.slice_thickness[0] if kind.slice_thickness else "5"
            )
        elif modality == "MR":
            rows = cols = rng.choice((256, 320, 384, 448, 512))
            spacing = _ds(rng.uniform(180, 260) / rows)
            max_range = (400, 4095)
            base["SliceThickness"] = (
                kind.slice_thickness[0] if kind.slice_thickness else "4"
            )
            mr_window = True
        elif modality in ("CR", "DX"):
            if modality == "CR":
                rows, cols = rng.choice(
                    (
                        (2140, 1760),
                        (1760, 2140),
                        (2500, 2048),
                        (2048, 2500),
                        (2964, 2364),
                    )
                )
                bits_stored = rng.choice((10, 12))
                photometric = "MONOCHROME1" if rand() < 0.6 else "MONOCHROME2"
                spacing = rng.choice(("0.1", "0.139", "0.15", "0.175"))
            else:
                rows, cols = rng.choice(
                    (
                        (3000, 3000),
                        (2836, 2336),
                        (3072, 2560),
                        (2560, 3072),
                        (2208, 2688),
                    )
                )
                bits_stored = rng.choice((12, 14))
                photometric = "MONOCHROME1" if rand() < 0.1 else "MONOCHROME2"
                spacing = rng.choice(("0.139", "0.143", "0.148", "0.15", "0.1"))
            max_range = (int(2**bits_stored * 0.6), 2**bits_stored - 1)
            base["KVP"] = str(rng.randint(60, 125))
            centre = 2 ** (bits_stored - 1)
            window = ((str(centre),), (str(centre * 2),))
        elif modality == "MG":
            rows, cols, spacing = {
                "HOLOGIC, Inc.": (4096, 3328, "0.07"),
                "GE MEDICAL SYSTEMS": (2850, 2394, "0.1"),
                "SIEMENS": (4096, 3328, "0.085"),
            }.get(vendor, (5928, 4728, "0.05"))
            bits_stored = 14 if vendor.startswith("HOLOGIC") else 12
            max_range = (int(2**bits_stored * 0.5), 2**bits_stored - 1)
            base["KVP"] = str(rng.randint(26, 34))
            window = ((str(2 ** (bits_stored - 1)),), (str(2**bits_stored),))
        elif modality == "US":
            rows, cols = rng.choice(((600, 800), (768, 1024), (480, 640), (720, 960)))
            bits_allocated = bits_stored = 8
            min_range, max_range = (0, 0), (180, 255)
            if rand() < 0.3:
                photometric, samples = "RGB", 3
        else:  # PT
            rows = cols = rng.choice((128, 144, 168, 192, 200, 256))
            bits_stored, pixel_representation = 16, 1
            min_range, max_range = (0, 0), (8000, 32767)
            spacing = _ds(rng.uniform(600, 700) / rows)
            base["SliceThickness"] = rng.choice(("2.027", "3.27", "4", "2.78"))
            base["RescaleIntercept"] = "0"
            rescale_slope = True

        if kind.views:
            base["ViewPosition"] = None
            if modality == "MG":
                base["ImageLaterality"] = None
        base["SamplesPerPixel"] = samples
        base["PhotometricInterpretation"] = photometric
        if samples == 3:
            base["PlanarConfiguration"] = 0
        base["Rows"] = rows
        base["Columns"] = cols
        if spacing:
            base["PixelSpacing"] = None
        base["BitsAllocated"] = bits_allocated
        base["BitsStored"] = bits_stored
        base["HighBit"] = bits_stored - 1
        base["PixelRepresentation"] = pixel_representation
        if window or mr_window:
            base["WindowCenter"] = None
            base["WindowWidth"] = None
        if modality == "CT":
            base["RescaleIntercept"] = "-1024"
            base["RescaleSlope"] = "1"
            base["RescaleType"] = "HU"
        elif rescale_slope:
            base["RescaleSlope"] = None
        base["PixelData"] = None
        private = (
            scanner.private
            if study.keeps_private and modality in ("CT", "MR", "PT")
            else ()
        )
        for tag, value, _vr in private:
            base[tag] = value
        vrs = {tag: vr for tag, _value, vr in private}

        frame_size = rows * cols * samples * bits_allocated // 8
        levels = _pyramid(cols, rows)
        min_lo, min_span = min_range[0], min_range[1] - min_range[0]
        max_lo, max_span = max_range[0], max_range[1] - max_range[0]
        image_type = kind.image_type
        low, high = kind.instances
        # Skewed towards short series so that 100k documents stay small.
        count = low + int((high - low + 1) * rand() ** 3)
        side = study.procedure.laterality
        instances: dict = {}
        for number in range(1, count + 1):
            sop_uid = f"{series_uid}.{number}"
            dicom = base.copy()
            dicom["ImageType"] = list(image_type)
            dicom["SOPInstanceUID"] = sop_uid
            dicom["InstanceNumber"] = str(number)
            if kind.views:
                view, laterality = kind.views[(number - 1) % len(kind.views)]
                dicom["ViewPosition"] = view
                if modality == "MG":
                    dicom["ImageLaterality"] = side if laterality == "*" else laterality
            if spacing:
                dicom["PixelSpacing"] = [spacing, spacing]
            if mr_window:
                top = max_lo + int(max_span * rand())
                dicom["WindowCenter"] = str(int(top * (0.35 + 0.2 * rand())))
                dicom["WindowWidth"] = str(int(top * (0.7 + 0.4 * rand())))
                max_value = top
            else:
                max_value = max_lo + int(max_span * rand())
                if window:
                    centres, widths = window
                    dicom["WindowCenter"] = (
                        list(centres) if len(centres) > 1 else centres[0]
                    )
                    dicom["WindowWidth"] = (
                        list(widths) if len(widths) > 1 else widths[0]
                    )
            if rescale_slope:
                dicom["RescaleSlope"] = _ds(0.05 + 3 * rand())
            instances[sop_uid] = {
                "DICOM": dicom,
                "DICOMVRs": dict(vrs),
                "StoredTransferSyntaxUID": HTJ2K_LOSSLESS_RPCL,
                "ImageFrames": [
                    {
                        "ID": f"{bits(128):032x}",
                        "PixelDataChecksumFromBaseToFullResolution": [
                            {"Width": w, "Height": h, "Checksum": bits(32)}
                            for w, h in levels
                        ],
                        "MinPixelValue": min_lo + int(min_span * rand()),
                        "MaxPixelValue": max_value,
                        "FrameSizeInBytes": frame_size,
                    }
                ],
            }
        return instances

    # -- assembly --------------------------------------------------------------

    def _new_id(self) -> str:
        while True:
            image_set_id = f"{self.rng.getrandbits(128):032x}"
            if image_set_id not in self.used_ids:
                self.used_ids.add(image_set_id)
                return image_set_id

    def _times(self, created: float) -> tuple[float, float]:
        rng = self.rng
        created = round(min(created, self.end_ts), 3)
        if rng.random() < 0.9:
            return created, created
        later = created + min(
            self.end_ts - created, 60 + rng.expovariate(1 / (30 * 86400))
        )
        return created, round(min(later, self.end_ts), 3)

    def _non_primary_copy(self, original: SeedImageSet) -> SeedImageSet:
        # A re-import that HealthImaging could not merge into the primary set.
        rng = self.rng
        metadata = json.loads(json.dumps(original.metadata))
        image_set_id = self._new_id()
        metadata["ImageSetID"] = image_set_id
        for series in metadata["Study"]["Series"].values():
            for instance in series["Instances"].values():
                for frame in instance["ImageFrames"]:
                    frame["ID"] = f"{rng.getrandbits(128):032x}"
        delay = rng.uniform(3600, 90 * 86400)
        created, updated = self._times(min(self.end_ts, original.created_at + delay))
        return SeedImageSet(image_set_id, metadata, created, updated, False)

    def image_sets(self, count: int) -> Iterator[SeedImageSet]:
        if count == 0:
            return
        self._setup()
        rng = self.rng
        emitted = 0
        while True:
            days = self._study_days()
            first_study = self.first_study + datetime.timedelta(days=days[0])
            birth = first_study - datetime.timedelta(
                days=self._age_at_first_study_days()
            )
            patient = self._patient(max(birth, _OLDEST_BIRTH))
            for day in days:
                study = self._study(patient, day)
                patient_dicom = self._patient_dicom(patient)
                for index, kind in enumerate(self._series_kinds(study.procedure)):
                    series = self._series(study, kind, index)
                    image_set_id = self._new_id()
                    metadata = {
                        "SchemaVersion": SCHEMA_VERSION,
                        "DatastoreID": self.datastore_id,
                        "ImageSetID": image_set_id,
                        "Patient": {"DICOM": dict(patient_dicom)},
                        "Study": {
                            "DICOM": dict(study.dicom),
                            "Series": {series["DICOM"]["SeriesInstanceUID"]: series},
                        },
                    }
                    created, updated = self._times(
                        study.imported_at + index * rng.uniform(0.5, 4)
                    )
                    image_set = SeedImageSet(
                        image_set_id, metadata, created, updated, True
                    )
                    # Copy before yielding: callers may mutate what they receive.
                    copy = (
                        self._non_primary_copy(image_set)
                        if rng.random() < 0.03
                        else None
                    )
                    for item in (image_set, copy):
                        if item is None:
                            continue
                        yield item
                        emitted += 1
                        if emitted == count:
                            return

    def _age_at_first_study_days(self) -> int:
        rng = self.rng
        if rng.random() < 0.08:
            return rng.randrange(18 * 365)
        return int(rng.triangular(18, 96, 62) * 365.25)
