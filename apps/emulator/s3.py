"""The emulator's stand-in for Amazon S3: `s3://BUCKET/KEY` is the file `<s3 root>/BUCKET/KEY`.

A bucket is a folder directly under the S3 root (the emulator's `--s3-root`, by default the folder
`s3` beside its state file); an object key is a path inside it, `/` separating folders. A demo
places P10 files with `put_object` (or by copying them into `local_path(...)`) and then calls
`StartDICOMImportJob` with `inputS3Uri="s3://BUCKET/PREFIX/"`, as it would against AWS.
From outside Python (or from portal code, which may not import the emulator), the command
`manage.py s3_upload --state STATE SOURCE... s3://BUCKET/PREFIX/` does the same.
"""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

# The model's S3Uri pattern (StartDICOMImportJob inputS3Uri and outputS3Uri).
_S3_URI = re.compile(r"s3://([a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9])(/.*)?", re.DOTALL)


class UnmappableKey(ValueError):
    """An S3 key that has no place in a local folder (an empty, `.` or `..` path segment)."""


def default_root(state_path: str) -> str:
    """Where the S3 buckets live unless the command line says otherwise: beside the state file."""
    return os.path.join(os.path.dirname(os.path.abspath(state_path)), "s3")


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> (`bucket`, `some/prefix/`); ValueError for anything else."""
    match = _S3_URI.fullmatch(uri)
    if match is None:
        raise ValueError(f"Not an S3 URI: {uri!r}")
    return match.group(1), (match.group(2) or "/")[1:]


def _key_parts(key: str) -> list[str]:
    parts = key.rstrip("/").split("/") if key.rstrip("/") else []
    if any(part in ("", ".", "..") or "\x00" in part for part in parts):
        raise UnmappableKey(f"The S3 key {key!r} can not be stored in a local folder")
    return parts


def bucket_path(root: str | os.PathLike, bucket: str) -> Path:
    return Path(root) / bucket


def local_path(root: str | os.PathLike, uri: str) -> Path:
    """The file or folder that stands for `uri` under the S3 root (it need not exist)."""
    bucket, key = split_uri(uri)
    return bucket_path(root, bucket).joinpath(*_key_parts(key))


def create_bucket(root: str | os.PathLike, bucket: str) -> Path:
    path = bucket_path(root, bucket)
    path.mkdir(parents=True, exist_ok=True)
    return path


def put_object(root: str | os.PathLike, uri: str, body: bytes) -> Path:
    """Write one object, creating its bucket and folders as needed; returns the local file."""
    path = local_path(root, uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def upload_file(root: str | os.PathLike, source: str | os.PathLike, uri: str) -> Path:
    """Copy a local file to `uri` (the demo's way to stage a DICOM file for an import)."""
    path = local_path(root, uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, path)
    return path


def upload_tree(
    root: str | os.PathLike, source: str | os.PathLike, uri: str
) -> list[str]:
    """Copy a file, or a folder with everything under it, below the prefix `uri`.

    A file keeps its name (`s3://b/p/` + `ct.dcm`); a folder's files keep their paths relative
    to it. Returns the keys written, sorted.
    """
    bucket, prefix = split_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    source = Path(source)
    files = (
        [(source, source.name)]
        if source.is_file()
        else [
            (path, path.relative_to(source).as_posix())
            for path in sorted(source.rglob("*"))
            if path.is_file()
        ]
    )
    keys = []
    for path, relative in files:
        upload_file(root, path, f"s3://{bucket}/{prefix}{relative}")
        keys.append(f"{prefix}{relative}")
    return keys


def list_objects(root: str | os.PathLike, bucket: str, prefix: str) -> Iterator[str]:
    """Every key of `bucket` that starts with `prefix`, sorted, as S3's ListObjectsV2 gives them.

    Raises FileNotFoundError when the bucket does not exist.
    """
    base = bucket_path(root, bucket)
    if not base.is_dir():
        raise FileNotFoundError(f"No bucket {bucket}")
    keys = []
    for folder, directories, files in os.walk(base):
        directories.sort()
        relative = Path(folder).relative_to(base)
        for name in files:
            key = (relative / name).as_posix()
            if key.startswith(prefix):
                keys.append(key)
    yield from sorted(keys)
