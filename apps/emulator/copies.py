"""How CopyImageSet builds the destination document from the source's instances.

A new destination is the source (or the chosen instances of it); an existing destination gains
the source's instances, and Patient, Study and Series must agree unless `force` is set, in which
case the destination keeps its own.
"""

import copy

import orjson

from apps.emulator.errors import ServiceQuotaExceededException, ValidationException
from apps.emulator.updates import UpdateRejected

MAX_COPIED_FRAMES = 1000


def parse_copiable_attributes(text: str) -> dict:
    """The `{"Study": {"Series": {uid: {"Instances": {uid: {}}}}}}` selection of instances."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ValidationException("copiableAttributes is not valid JSON") from error
    study = document.get("Study") if isinstance(document, dict) else None
    series = study.get("Series") if isinstance(study, dict) else None
    if not isinstance(series, dict) or not all(
        isinstance(item, dict) and isinstance(item.get("Instances", {}), dict)
        for item in series.values()
    ):
        raise ValidationException(
            "copiableAttributes must have the form "
            '{"SchemaVersion": "1.1", "Study": {"Series": {"<uid>": {"Instances": {"<uid>": {}}}}}}'
        )
    return series


def copy_instances(
    source: dict, destination: dict | None, copiable: dict | None, *, force: bool
) -> dict:
    selected = _selected_series(source, copiable)
    frames = sum(
        len(instance.get("ImageFrames", []))
        for series in selected.values()
        for instance in series.get("Instances", {}).values()
    )
    if frames > MAX_COPIED_FRAMES:
        raise ServiceQuotaExceededException(
            f"CopyImageSet can copy at most {MAX_COPIED_FRAMES} image frames per request"
        )
    if destination is None:
        document = copy.deepcopy(source)
        document["Study"]["Series"] = selected
        return document
    document = copy.deepcopy(destination)
    if not force:
        for level in ("Patient", "Study"):
            if source.get(level, {}).get("DICOM") != destination.get(level, {}).get(
                "DICOM"
            ):
                raise UpdateRejected(
                    f"{level} of SourceImageSet and DestinationImageSet don't match."
                )
    target_series = document.setdefault("Study", {}).setdefault("Series", {})
    for series_uid, series in selected.items():
        target = target_series.get(series_uid)
        if target is None:
            if target_series and not force:
                raise UpdateRejected(
                    "Series of SourceImageSet and DestinationImageSet don't match."
                )
            target_series[series_uid] = series
            continue
        if not force and target.get("DICOM") != series.get("DICOM"):
            raise UpdateRejected(
                "Series of SourceImageSet and DestinationImageSet don't match."
            )
        for instance_uid, instance in series.get("Instances", {}).items():
            if instance_uid in target.setdefault("Instances", {}) and not force:
                raise UpdateRejected(
                    "CopyImageSet requires SOP Instance UIDs be unique within an image set"
                )
            target["Instances"][instance_uid] = instance
    return document


def _selected_series(source: dict, copiable: dict | None) -> dict:
    all_series = source.get("Study", {}).get("Series", {})
    if copiable is None:
        return copy.deepcopy(all_series)
    selected = {}
    for series_uid, wanted in copiable.items():
        if series_uid not in all_series:
            raise ValidationException(
                f"Series {series_uid} is not in the source image set"
            )
        series = copy.deepcopy(all_series[series_uid])
        wanted_instances = wanted.get("Instances") or {}
        if wanted_instances:
            missing = set(wanted_instances) - set(series.get("Instances", {}))
            if missing:
                raise ValidationException(
                    "copiableAttributes names instances not in the source"
                )
            series["Instances"] = {
                uid: instance
                for uid, instance in series.get("Instances", {}).items()
                if uid in wanted_instances
            }
        selected[series_uid] = series
    return selected
