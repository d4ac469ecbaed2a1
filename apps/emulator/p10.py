"""What one DICOM P10 file becomes on import: its Patient, Study, Series and Instance metadata.

Owns reading a file with pydicom, the checks that send a file to the import's failure list (not
P10, a required attribute missing, an import-time length limit, pixel data shorter than the image
needs), the JSON form of each attribute, and the image frames with their sizes, pixel ranges and
checksums. Which keyword lives at which level is `updates.level_of` (the contract's section 5.3).
"""

import array
import base64
import math
import re
import sys
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import pydicom
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import get_decoder
from pydicom.tag import BaseTag

from apps.emulator.updates import level_of

HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
# Developer Guide, "supported-transfer-syntaxes": the syntaxes stored as they arrive (marked *);
# every other one is transcoded to the data store's lossless format.
RETAINED_TRANSFER_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",  # JPEG Baseline (lossy 8 bit)
        "1.2.840.10008.1.2.4.91",  # JPEG 2000 (lossy)
        "1.2.840.10008.1.2.4.203",  # HTJ2K (lossy allowed)
        "1.2.840.10008.1.2.4.100",  # MPEG2 and the video syntaxes after it
        "1.2.840.10008.1.2.4.100.1",
        "1.2.840.10008.1.2.4.101",
        "1.2.840.10008.1.2.4.101.1",
        "1.2.840.10008.1.2.4.102",
        "1.2.840.10008.1.2.4.102.1",
        "1.2.840.10008.1.2.4.103",
        "1.2.840.10008.1.2.4.103.1",
        "1.2.840.10008.1.2.4.104",
        "1.2.840.10008.1.2.4.104.1",
        "1.2.840.10008.1.2.4.105",
        "1.2.840.10008.1.2.4.105.1",
        "1.2.840.10008.1.2.4.106",
        "1.2.840.10008.1.2.4.106.1",
        "1.2.840.10008.1.2.4.107",
        "1.2.840.10008.1.2.4.108",
    }
)
# Without these an instance can not be placed in the DICOM hierarchy.
REQUIRED_UIDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
)
# Developer Guide, "dicom-element-constraints": longest value accepted at import.
MAX_LENGTHS = {
    "PatientName": 256,
    "PatientID": 256,
    "StudyInstanceUID": 256,
    "StudyID": 256,
    "StudyDescription": 256,
    "AccessionNumber": 256,
    "SOPInstanceUID": 256,
    "SeriesInstanceUID": 256,
    "PatientBirthDate": 18,
    "PatientSex": 16,
    "StudyDate": 18,
    "StudyTime": 28,
}
# Developer Guide, "endpoints-quotas": the largest P10 file an import takes.
MAX_FILE_BYTES = 4 * 1024**3

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW"})
NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "US or SS"})
PIXEL_DATA_KEYWORDS = frozenset({"PixelData", "FloatPixelData", "DoubleFloatPixelData"})
# Data Set Trailing Padding carries no data; group lengths say nothing once re-encoded.
_SKIPPED_TAGS = frozenset({0xFFFCFFFC})
_UID = re.compile(r"[0-9.]+")


class P10Rejected(Exception):
    """A file the import puts on its failure list; the message is the reason given there."""


@dataclass
class P10Instance:
    """One imported SOP instance, with its attributes split by level."""

    patient: dict[str, Any]
    study: dict[str, Any]
    series: dict[str, Any]
    instance: dict[str, Any] = field(default_factory=dict)

    @property
    def study_uid(self) -> str:
        return self.study["StudyInstanceUID"]

    @property
    def series_uid(self) -> str:
        return self.series["SeriesInstanceUID"]

    @property
    def sop_uid(self) -> str:
        return self.instance["DICOM"]["SOPInstanceUID"]


def read_p10(path: str, *, lossless_storage_format: str = "HTJ2K") -> P10Instance:
    """Read one P10 file as HealthImaging's import does; `P10Rejected` says why it can not be."""
    # pydicom warns (and logs) about odd values it still reads; the import takes what it reads.
    # Its warnings are left alone: catch_warnings is not thread-safe.
    dataset = _read(path)
    try:
        return _instance(dataset, lossless_storage_format)
    except P10Rejected:
        raise
    except Exception as error:
        raise P10Rejected(f"The DICOM P10 file could not be read: {error}") from error


def _read(path: str) -> Dataset:
    try:
        dataset = pydicom.dcmread(path)
    except InvalidDicomError as error:
        raise P10Rejected(
            "Not a DICOM P10 file: the DICM prefix of the File Meta Information is missing"
        ) from error
    except Exception as error:
        raise P10Rejected(f"The DICOM P10 file could not be read: {error}") from error
    transfer_syntax = (
        dataset.file_meta.get("TransferSyntaxUID") if dataset.file_meta else None
    )
    if not transfer_syntax:
        raise P10Rejected("DICOM attribute TransferSyntaxUID does not exist")
    return dataset


def _instance(dataset: Dataset, lossless_storage_format: str) -> P10Instance:
    for keyword in REQUIRED_UIDS:
        value = dataset.get(keyword)
        if value is None:
            raise P10Rejected(f"DICOM attribute {keyword} does not exist")
        if not str(value):
            raise P10Rejected(f"DICOM attribute {keyword} has no value")
        if keyword != "SOPClassUID" and not _UID.fullmatch(str(value)):
            raise P10Rejected(f"DICOM attribute {keyword} is not a valid UID")
    levels: dict[str, dict[str, Any]] = {
        "Patient": {},
        "Study": {},
        "Series": {},
        "Instance": {},
    }
    private_vrs: dict[str, str] = {}
    for element in dataset:
        key, value, vr = convert_element(element)
        if key is None:
            continue
        level = "Instance" if _is_hex_key(key) else level_of(key)
        levels[level][key] = value
        if vr is not None:
            private_vrs[key] = vr
    for keyword, limit in MAX_LENGTHS.items():
        value = next(
            (level[keyword] for level in levels.values() if keyword in level), None
        )
        if value is not None and len(_joined(value)) > limit:
            raise P10Rejected(
                f"DICOM attribute {keyword} is longer than the {limit} characters import allows"
            )
    transfer_syntax = str(dataset.file_meta.TransferSyntaxUID)
    instance: dict[str, Any] = {"DICOM": levels["Instance"]}
    if private_vrs:
        instance["DICOMVRs"] = private_vrs
    instance["StoredTransferSyntaxUID"] = stored_transfer_syntax(
        transfer_syntax, lossless_storage_format
    )
    instance["ImageFrames"] = image_frames(dataset, transfer_syntax)
    return P10Instance(
        patient=levels["Patient"],
        study=levels["Study"],
        series=levels["Series"],
        instance=instance,
    )


def stored_transfer_syntax(transfer_syntax: str, lossless_storage_format: str) -> str:
    if transfer_syntax in RETAINED_TRANSFER_SYNTAXES:
        return transfer_syntax
    if lossless_storage_format == "JPEG_2000_LOSSLESS":
        return JPEG_2000_LOSSLESS
    return HTJ2K_LOSSLESS_RPCL


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return "\\".join(str(item) for item in value)
    return str(value)


def _is_hex_key(key: str) -> bool:
    return len(key) == 8 and all(c in "0123456789ABCDEF" for c in key)


# -- attribute values ------------------------------------------------------------------------


def element_key(element: DataElement) -> tuple[str | None, bool]:
    """The metadata key of an element and whether its VR must be recorded in `DICOMVRs`.

    Standard attributes go by their keyword; private ones, and public ones the dictionary has no
    exact keyword for (repeating groups, retired oddities), by their 8 hex digit tag with the VR.
    """
    tag = int(element.tag)
    if tag in _SKIPPED_TAGS or tag & 0xFFFF == 0 or tag >> 16 == 0x0002:
        return None, False
    keyword = keyword_for_tag(tag)
    if keyword and not element.tag.is_private and tag_for_keyword(keyword) == tag:
        return keyword, False
    return f"{tag:08X}", True


def convert_element(element: DataElement) -> tuple[str | None, Any, str | None]:
    """(key, JSON value, VR for `DICOMVRs` or None); the key is None for skipped elements."""
    key, needs_vr = element_key(element)
    if key is None:
        return None, None, None
    if key in PIXEL_DATA_KEYWORDS:
        return key, None, None
    return key, element_value(element), element.VR if needs_vr else None


def element_value(element: DataElement) -> Any:
    """An attribute's value in the metadata document's JSON form.

    Strings (PN included) stay strings, IS and DS as written; binary VRs are base64; numbers are
    JSON numbers; several values make a list; a sequence is a list of keyword maps; an element
    present without a value is null.
    """
    vr = element.VR
    value = element.value
    if value is None:
        return None
    if vr == "SQ":
        items = [dataset_json(item) for item in value]
        return items or None
    if vr in BINARY_VRS or isinstance(value, bytes | bytearray):
        data = bytes(value)
        return base64.b64encode(data).decode() if data else None
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    if not values:
        return None
    converted = [_single_value(vr, item) for item in values]
    if len(converted) == 1:
        return None if converted[0] == "" else converted[0]
    return converted


def _single_value(vr: str, value: Any) -> Any:
    if vr == "AT" or isinstance(value, BaseTag):
        return f"{int(value):08X}"
    if vr in ("IS", "DS"):
        original = getattr(value, "original_string", None)
        return original if original is not None else str(value)
    if vr in NUMBER_VRS and isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    return str(value)


def dataset_json(dataset: Dataset) -> dict[str, Any]:
    """A sequence item: every attribute by key, at no level (the item belongs to its sequence)."""
    document: dict[str, Any] = {}
    for element in dataset:
        key, value, _vr = convert_element(element)
        if key is not None:
            document[key] = value
    return document


# -- image frames ----------------------------------------------------------------------------


def image_frames(dataset: Dataset, transfer_syntax: str) -> list[dict[str, Any]]:
    """One entry per frame: ID, size, and (when pydicom decodes it) pixel range and checksum."""
    if not any(keyword in dataset for keyword in PIXEL_DATA_KEYWORDS):
        return []
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if not dataset.get(keyword):
            raise P10Rejected(f"DICOM attribute {keyword} does not exist")
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    samples = int(dataset.get("SamplesPerPixel") or 1)
    bits_allocated = int(dataset.BitsAllocated)
    count = _frame_count(dataset)
    frame_bytes = math.ceil(rows * columns * samples * bits_allocated / 8)
    frames = [
        {"ID": uuid.uuid4().hex, "FrameSizeInBytes": frame_bytes} for _ in range(count)
    ]
    if "PixelData" not in dataset:
        return frames
    if not dataset["PixelData"].is_undefined_length:
        # Native pixel data: the verification HealthImaging runs before it imports.
        stored = len(dataset.PixelData)
        # YBR_FULL_422 keeps two chroma samples per pair of pixels: two samples a pixel.
        subsampled = dataset.get("PhotometricInterpretation") == "YBR_FULL_422"
        stored_samples = 2 if subsampled and samples == 3 else samples
        needed = math.ceil(rows * columns * stored_samples * bits_allocated * count / 8)
        if stored < needed:
            raise P10Rejected(
                f"Pixel data holds {stored} bytes, fewer than the {needed} its image attributes need"
            )
    for frame, decoded in zip(
        frames, _decoded_frames(dataset, transfer_syntax), strict=False
    ):
        frame.update(decoded)
    return frames


def _frame_count(dataset: Dataset) -> int:
    value = dataset.get("NumberOfFrames")
    if value is None or value == "":
        return 1
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise P10Rejected(
            "DICOM attribute NumberOfFrames does not hold a number of frames"
        )
    return count


def _decoded_frames(dataset: Dataset, transfer_syntax: str) -> list[dict[str, Any]]:
    """Pixel range and full-resolution checksum per frame, or nothing when pydicom can not decode.

    Only native and RLE pixel data decode without numpy and the image codecs, which the emulator
    does not install; frames of other syntaxes keep their ID and size only.
    """
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        return []
    if not decoder.is_available:
        return []
    results = []
    try:
        for buffer, properties in decoder.iter_buffer(dataset):
            results.append(
                _frame_statistics(dataset, transfer_syntax, bytes(buffer), properties)
            )
    except Exception:
        # A frame pydicom can not decode keeps its ID and size only.
        return []
    return results


def _frame_statistics(
    dataset: Dataset, transfer_syntax: str, data: bytes, properties: dict
) -> dict[str, Any]:
    bits = int(properties["bits_allocated"])
    samples = int(properties.get("samples_per_pixel", 1))
    rows, columns = int(properties["rows"]), int(properties["columns"])
    if bits == 1:
        pixels = rows * columns * samples
        values = [
            (data[i // 8] >> (i % 8)) & 1 for i in range(min(pixels, len(data) * 8))
        ]
        low, high = (min(values), max(values)) if values else (0, 0)
        return _statistics(low, high, columns, rows, data[: math.ceil(pixels / 8)])
    if bits not in (8, 16, 32) or "FloatPixelData" in dataset:
        return {}
    size = rows * columns * samples * bits // 8
    if transfer_syntax == EXPLICIT_VR_BIG_ENDIAN:
        # Big endian OW swaps each 16 bit word, even around 8 bit samples.
        word = max(bits // 8, 2 if dataset["PixelData"].VR == "OW" else 1)
        data = _swapped(data, word)
    data = data[:size]
    if samples > 1 and properties.get("planar_configuration") == 1:
        data = _interleaved(data, samples, bits // 8)
    signed = int(properties.get("pixel_representation", 0)) == 1
    bits_stored = int(properties.get("bits_stored") or bits)
    values = _typed(data, bits // 8, signed)
    if not values:
        return {}
    low, high = min(values), max(values)
    if bits_stored < bits:
        low, high = _stored_range(values, low, high, bits, bits_stored, signed)
    return _statistics(low, high, columns, rows, data)


def _statistics(
    low: int, high: int, width: int, height: int, data: bytes
) -> dict[str, Any]:
    return {
        "MinPixelValue": low,
        "MaxPixelValue": high,
        # Only the full resolution: the emulator keeps no lower resolution levels.
        "PixelDataChecksumFromBaseToFullResolution": [
            {"Width": width, "Height": height, "Checksum": zlib.crc32(data)}
        ],
    }


_TYPECODES = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h"}


def _typecode(size: int, signed: bool) -> str:
    if size in (1, 2):
        return _TYPECODES[(size, signed)]
    return next(
        code
        for code in (("i", "l") if signed else ("I", "L"))
        if array.array(code).itemsize == size
    )


def _typed(data: bytes, size: int, signed: bool) -> array.array:
    values = array.array(_typecode(size, signed))
    values.frombytes(data[: len(data) - len(data) % size])
    if sys.byteorder == "big" and size > 1:
        values.byteswap()
    return values


def _swapped(data: bytes, word: int) -> bytes:
    if word == 1:
        return data
    values = array.array(_typecode(word, False))
    values.frombytes(data[: len(data) - len(data) % word])
    values.byteswap()
    return values.tobytes()


def _interleaved(data: bytes, samples: int, size: int) -> bytes:
    plane = len(data) // samples
    out = bytearray(len(data))
    for sample in range(samples):
        source = data[sample * plane : (sample + 1) * plane]
        for byte in range(size):
            out[sample * size + byte :: samples * size] = source[byte::size]
    return bytes(out)


def _stored_range(
    values: array.array, low: int, high: int, bits: int, bits_stored: int, signed: bool
) -> tuple[int, int]:
    """Pixel range over the stored bits only, as a decoder hands the values over."""
    top = 1 << bits_stored
    if not signed and low >= 0 and high < top:
        return low, high
    if signed and -(top >> 1) <= low and high < (top >> 1):
        return low, high
    mask = top - 1
    stored = [value & mask for value in values]
    if signed:
        stored = [value - top if value & (top >> 1) else value for value in stored]
    return min(stored), max(stored)


# -- image set documents ---------------------------------------------------------------------

SCHEMA_VERSION = "1.1"


def new_image_set_document(
    datastore_id: str, image_set_id: str, instance: P10Instance
) -> dict[str, Any]:
    """The metadata document of a new image set holding `instance`'s series, still empty."""
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "DatastoreID": datastore_id,
        "ImageSetID": image_set_id,
        "Patient": {"DICOM": dict(instance.patient)},
        "Study": {
            "DICOM": dict(instance.study),
            "Series": {
                instance.series_uid: {"DICOM": dict(instance.series), "Instances": {}}
            },
        },
    }


def same_levels(document: dict[str, Any], instance: P10Instance) -> bool:
    """Whether the instance's Patient, Study and Series attributes equal the image set's."""
    series = document.get("Study", {}).get("Series", {}).get(instance.series_uid)
    return (
        series is not None
        and document.get("Patient", {}).get("DICOM") == instance.patient
        and document["Study"].get("DICOM") == instance.study
        and series.get("DICOM") == instance.series
    )


def levels_fingerprint(instance: P10Instance) -> bytes:
    return orjson.dumps(
        [instance.patient, instance.study, instance.series], option=orjson.OPT_SORT_KEYS
    )


def add_instance(document: dict[str, Any], instance: P10Instance) -> None:
    """Put the instance in its series; an instance imported again replaces the older copy."""
    series = document["Study"]["Series"].setdefault(
        instance.series_uid, {"DICOM": dict(instance.series), "Instances": {}}
    )
    series.setdefault("Instances", {})[instance.sop_uid] = instance.instance
