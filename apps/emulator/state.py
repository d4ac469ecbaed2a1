"""The emulator's state: data stores, image sets and their versions, tags and DICOM import jobs,
in one SQLite file.

Every write runs in a `BEGIN IMMEDIATE` transaction, so concurrent requests serialise and two
simultaneous updates of one image set cannot both be accepted. Asynchronous work (an update, a
copy, a delete, a data store coming up) is recorded with the time it is due and settled lazily
by the next request after that time, so it survives a restart and needs no background thread.
Import jobs are the exception: reading files is slow, so the server's import runner
(`imports.ImportRunner`) works them off in a thread of its own, and a job still running when
the emulator stops is run again when it starts.
"""

import contextlib
import gzip
import os
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from apps.emulator import s3, search, tokens
from apps.emulator.copies import copy_instances
from apps.emulator.documents import dicom_tags, search_keys
from apps.emulator.errors import (
    STALE_VERSION_MESSAGE,
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from apps.emulator.p10 import (
    P10Instance,
    add_instance,
    levels_fingerprint,
    new_image_set_document,
    same_levels,
)
from apps.emulator.seed import SeedImageSet
from apps.emulator.updates import (
    UpdateRejected,
    UpdateRules,
    apply_dicom_updates,
)

ACCOUNT_ID = "123456789012"
MAX_DATASTORES = 100
MAX_TAGS = 50
DEFAULT_PAGE_SIZE = 50
# Developer Guide, "endpoints-quotas": concurrent import jobs per data store.
MAX_RUNNING_IMPORT_JOBS = 100
# The `due_at` of an image set held LOCKED by the hold-locked knob: the clock never reaches it.
_NEVER = float("inf")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datastores (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    pending_status TEXT, due_at REAL,
    kms_key_arn TEXT, lambda_authorizer_arn TEXT, lossless_storage_format TEXT NOT NULL,
    client_token TEXT UNIQUE, created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_sets (
    datastore_id TEXT NOT NULL, id TEXT NOT NULL,
    state TEXT NOT NULL, workflow_status TEXT NOT NULL, latest_version INTEGER NOT NULL,
    summary_version INTEGER NOT NULL,
    due_at REAL, pending_state TEXT, pending_status TEXT, pending_message TEXT,
    pending_apply INTEGER,
    is_primary INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    deleted_at REAL,
    patient_id TEXT, accession_number TEXT, study_id TEXT, study_uid TEXT, series_uid TEXT,
    study_key TEXT, dicom_tags TEXT NOT NULL,
    PRIMARY KEY (datastore_id, id)
);
CREATE INDEX IF NOT EXISTS image_sets_by_updated ON image_sets (datastore_id, updated_at, id);
CREATE INDEX IF NOT EXISTS image_sets_by_created ON image_sets (datastore_id, created_at, id);
CREATE INDEX IF NOT EXISTS image_sets_by_study ON image_sets (datastore_id, study_key, id);
CREATE INDEX IF NOT EXISTS image_sets_by_patient ON image_sets (datastore_id, patient_id, updated_at, id);
CREATE INDEX IF NOT EXISTS image_sets_by_accession
    ON image_sets (datastore_id, accession_number, updated_at, id);
CREATE INDEX IF NOT EXISTS image_sets_by_study_id ON image_sets (datastore_id, study_id, updated_at, id);
CREATE INDEX IF NOT EXISTS image_sets_by_study_uid ON image_sets (datastore_id, study_uid, updated_at, id);
CREATE INDEX IF NOT EXISTS image_sets_by_series_uid
    ON image_sets (datastore_id, series_uid, updated_at, id);
CREATE INDEX IF NOT EXISTS image_sets_due ON image_sets (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS versions (
    datastore_id TEXT NOT NULL, image_set_id TEXT NOT NULL, version INTEGER NOT NULL,
    workflow_status TEXT NOT NULL, message TEXT, forced INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL, metadata BLOB NOT NULL,
    PRIMARY KEY (datastore_id, image_set_id, version)
);
CREATE TABLE IF NOT EXISTS tags (
    resource TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (resource, key)
);
CREATE TABLE IF NOT EXISTS injected_failures (image_set_id TEXT PRIMARY KEY, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS import_jobs (
    datastore_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    client_token TEXT NOT NULL, request TEXT NOT NULL, role_arn TEXT NOT NULL,
    input_uri TEXT NOT NULL, output_uri TEXT NOT NULL, input_owner TEXT,
    delay REAL NOT NULL, submitted_at REAL NOT NULL, started_at REAL, ended_at REAL, message TEXT,
    PRIMARY KEY (datastore_id, id), UNIQUE (datastore_id, client_token)
);
CREATE INDEX IF NOT EXISTS import_jobs_by_submitted
    ON import_jobs (datastore_id, submitted_at, id);
CREATE INDEX IF NOT EXISTS import_jobs_running ON import_jobs (status, submitted_at)
    WHERE status IN ('SUBMITTED', 'IN_PROGRESS');
"""

_SUMMARY_COLUMNS = "id, summary_version, created_at, updated_at, is_primary, dicom_tags"


def _service_message(text: str) -> str:
    # The model limits messages to [\w -:`]{1,2048}; user-supplied keys could break that.
    return re.sub(r"[^\w -:`]", " ", text, flags=re.ASCII)[:2048]


def new_id() -> str:
    return uuid.uuid4().hex


def compress(metadata: dict) -> bytes:
    # mtime=0 keeps the stored bytes a pure function of the document.
    return gzip.compress(orjson.dumps(metadata), mtime=0)


def decompress(blob: bytes) -> dict:
    return orjson.loads(gzip.decompress(blob))


@dataclass(frozen=True)
class UpdateRequest:
    updatable: dict | None = None
    removable: dict | None = None
    revert_to: int | None = None
    force: bool = False
    include_study: bool = False


def import_output_uri(requested: str, datastore_id: str, job_id: str) -> str:
    """Where a job writes its results: the requested prefix plus `<datastoreId>-DicomImport-<jobId>/`,
    as the job's properties report it."""
    return f"{requested.rstrip('/')}/{datastore_id}-DicomImport-{job_id}/"


@dataclass(frozen=True)
class ImportedFile:
    """A file of an import job that became (part of) an image set: a `success.ndjson` line."""

    key: str
    image_set_id: str
    version: int
    is_primary: bool


@dataclass(frozen=True)
class RejectedFile:
    """A file an import job could not import: a `failure.ndjson` line with the reason."""

    key: str
    exception_type: str
    message: str
    server_error: bool = False


@dataclass(frozen=True)
class ImportedSet:
    """An image set an import job created or gave a new version: an `imageSetsSummary` entry."""

    image_set_id: str
    version: int
    is_primary: bool
    instances: int


@dataclass(frozen=True)
class ImportOutcome:
    job: dict
    files: list[ImportedFile]
    rejected: list[RejectedFile]
    image_sets: list[ImportedSet]


@dataclass(eq=False)
class _Target:
    """An image set that imported instances go to: a new one, or the next version of a stored one."""

    image_set_id: str
    document: dict
    is_primary: bool
    base: sqlite3.Row | None = None
    instances: set[str] = field(default_factory=set)
    version: int = 0

    @property
    def locked(self) -> bool:
        return self.base is not None and self.base["state"] == "LOCKED"

    def add(self, instance: P10Instance) -> None:
        add_instance(self.document, instance)
        self.instances.add(instance.sop_uid)


class _Placement:
    """Which image set each instance of one import job goes to.

    Developer Guide, "understanding-image-sets" and "understanding-import-jobs": instances of one
    DICOM series with consistent Patient, Study and Series metadata make one primary image set,
    across import jobs too; an instance imported again replaces the older copy there, and the
    primary image set's version goes up. Data that conflicts with the primary image set of its
    series (or, for a new series, with the primary image sets of its study) is kept in a
    non-primary image set instead, one per distinct Patient, Study and Series metadata.
    "Consistent" is read as equal, the test CopyImageSet applies too (`copies.py`).
    """

    def __init__(
        self, store: "Store", db: sqlite3.Connection, datastore_id: str
    ) -> None:
        self.store = store
        self.db = db
        self.datastore_id = datastore_id
        self._targets: dict[str, _Target] = {}
        self._primary: dict[tuple[str, str], _Target | None] = {}
        self._non_primary: dict[tuple[str, str, bytes], _Target] = {}
        self._study_levels: dict[str, list[tuple[dict, dict]]] = {}

    def target(self, instance: P10Instance) -> _Target:
        pair = (instance.study_uid, instance.series_uid)
        if pair not in self._primary:
            self._primary[pair] = self._stored_primary(*pair)
        primary = self._primary[pair]
        if primary is not None:
            if same_levels(primary.document, instance):
                return primary
        elif self._fits_study(instance):
            primary = self._new(instance, is_primary=True)
            self._primary[pair] = primary
            return primary
        key = (*pair, levels_fingerprint(instance))
        if key not in self._non_primary:
            self._non_primary[key] = self._new(instance, is_primary=False)
        return self._non_primary[key]

    def written(self) -> list[_Target]:
        return [target for target in self._targets.values() if target.instances]

    def _stored_primary(self, study_uid: str, series_uid: str) -> _Target | None:
        row = self.db.execute(
            "SELECT * FROM image_sets WHERE datastore_id = ? AND study_uid = ? "
            "AND series_uid = ? AND is_primary = 1 AND state != 'DELETED' "
            "ORDER BY created_at, id LIMIT 1",
            (self.datastore_id, study_uid, series_uid),
        ).fetchone()
        if row is None:
            return None
        document = self.store._metadata(
            self.db, self.datastore_id, row["id"], row["latest_version"]
        )
        target = _Target(row["id"], document, is_primary=True, base=row)
        self._targets[row["id"]] = target
        return target

    def _fits_study(self, instance: P10Instance) -> bool:
        if instance.study_uid not in self._study_levels:
            rows = self.db.execute(
                "SELECT id, latest_version FROM image_sets WHERE datastore_id = ? "
                "AND study_uid = ? AND is_primary = 1 AND state != 'DELETED'",
                (self.datastore_id, instance.study_uid),
            ).fetchall()
            levels = []
            for row in rows:
                document = self.store._metadata(
                    self.db, self.datastore_id, row["id"], row["latest_version"]
                )
                levels.append(
                    (
                        document.get("Patient", {}).get("DICOM"),
                        document.get("Study", {}).get("DICOM"),
                    )
                )
            self._study_levels[instance.study_uid] = levels
        return all(
            patient == instance.patient and study == instance.study
            for patient, study in self._study_levels[instance.study_uid]
        )

    def _new(self, instance: P10Instance, *, is_primary: bool) -> _Target:
        image_set_id = new_id()
        target = _Target(
            image_set_id,
            new_image_set_document(self.datastore_id, image_set_id, instance),
            is_primary=is_primary,
        )
        self._targets[image_set_id] = target
        if is_primary:
            self._study_levels.setdefault(instance.study_uid, []).append(
                (instance.patient, instance.study)
            )
        return target


class Store:
    def __init__(
        self,
        path: str,
        *,
        update_delay: float = 2.0,
        strict: bool = False,
        clock: Callable[[], float] = time.time,
        s3_root: str | None = None,
        import_delay: float | None = None,
    ) -> None:
        self.path = path
        self.update_delay = update_delay
        self.strict = strict
        self.clock = clock
        # The folder standing in for S3 (see `s3.py`); beside the state file unless given.
        self.s3_root = s3_root or s3.default_root(path)
        # Seconds an import job stays SUBMITTED, then at least IN_PROGRESS; None: the update delay.
        self.import_delay = import_delay
        # Set when a job is submitted, so the import runner need not wait for its next look.
        self.import_wakeup = threading.Event()
        # The hold-locked knob: image set ID -> GetImageSet polls its next update stays
        # LOCKED for (None: for ever), asked for; then the same for an update under way.
        self._holds_lock = threading.Lock()
        self._hold_asked: dict[str, int | None] = {}
        self._held: dict[str, int | None] = {}
        self._local = threading.local()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._db().executescript(_SCHEMA)
        with self._write() as db:
            row = db.execute(
                "SELECT value FROM settings WHERE key = 'token_secret'"
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO settings VALUES ('token_secret', ?)",
                    (secrets.token_hex(32),),
                )
                row = db.execute(
                    "SELECT value FROM settings WHERE key = 'token_secret'"
                ).fetchone()
        self.token_secret = bytes.fromhex(row[0])

    # -- connections and transactions ------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA busy_timeout = 30000")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            self._settle(db)
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _read(self) -> sqlite3.Connection:
        db = self._db()
        now = self.clock()
        due = db.execute(
            "SELECT 1 FROM image_sets WHERE due_at <= ? UNION ALL "
            "SELECT 1 FROM datastores WHERE due_at <= ? LIMIT 1",
            (now, now),
        ).fetchone()
        if due:
            with self._write():
                pass
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _settle(self, db: sqlite3.Connection) -> None:
        """Finish every asynchronous operation whose time has come."""
        now = self.clock()
        db.execute(
            "UPDATE datastores SET status = pending_status, updated_at = due_at, "
            "pending_status = NULL, due_at = NULL WHERE due_at <= ?",
            (now,),
        )
        due = db.execute(
            "SELECT * FROM image_sets WHERE due_at <= ?", (now,)
        ).fetchall()
        for row in due:
            key = (row["datastore_id"], row["id"])
            db.execute(
                "UPDATE versions SET workflow_status = ?, message = ? "
                "WHERE datastore_id = ? AND image_set_id = ? AND version = ?",
                (
                    row["pending_status"],
                    row["pending_message"],
                    *key,
                    row["latest_version"],
                ),
            )
            db.execute(
                "UPDATE image_sets SET state = pending_state, workflow_status = pending_status, "
                "deleted_at = CASE WHEN pending_state = 'DELETED' THEN due_at END, "
                "summary_version = latest_version, due_at = NULL, pending_state = NULL, "
                "pending_status = NULL, pending_message = NULL, pending_apply = NULL "
                "WHERE datastore_id = ? AND id = ?",
                key,
            )
            if row["pending_apply"]:
                metadata = self._metadata(db, *key, row["latest_version"])
                db.execute(
                    "UPDATE image_sets SET dicom_tags = :dicom_tags, patient_id = :patient_id, "
                    "accession_number = :accession_number, study_id = :study_id, "
                    "study_uid = :study_uid, series_uid = :series_uid, study_key = :study_key "
                    "WHERE datastore_id = :datastore_id AND id = :id",
                    {
                        **search_keys(metadata),
                        "dicom_tags": orjson.dumps(dicom_tags(metadata)).decode(),
                        "datastore_id": key[0],
                        "id": key[1],
                    },
                )

    # -- data stores -----------------------------------------------------------------------

    def create_datastore(
        self,
        *,
        name: str | None,
        client_token: str,
        kms_key_arn: str | None = None,
        lambda_authorizer_arn: str | None = None,
        lossless_storage_format: str | None = None,
        status: str = "CREATING",
        datastore_id: str | None = None,
    ) -> dict:
        now = self.clock()
        with self._write() as db:
            existing = db.execute(
                "SELECT * FROM datastores WHERE client_token = ?", (client_token,)
            ).fetchone()
            if existing:
                return dict(existing)
            active = db.execute(
                "SELECT COUNT(*) FROM datastores WHERE status NOT IN ('DELETED', 'CREATE_FAILED')"
            ).fetchone()[0]
            if active >= MAX_DATASTORES:
                raise ServiceQuotaExceededException(
                    f"Maximum number of data stores ({MAX_DATASTORES}) reached"
                )
            datastore_id = datastore_id or new_id()
            ready = status == "CREATING"
            db.execute(
                "INSERT INTO datastores (id, name, status, pending_status, due_at, kms_key_arn, "
                "lambda_authorizer_arn, lossless_storage_format, client_token, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    datastore_id,
                    name or datastore_id,
                    status,
                    "ACTIVE" if ready else None,
                    now + self.update_delay if ready else None,
                    kms_key_arn,
                    lambda_authorizer_arn,
                    lossless_storage_format or "HTJ2K",
                    client_token,
                    now,
                    now,
                ),
            )
            return dict(
                db.execute(
                    "SELECT * FROM datastores WHERE id = ?", (datastore_id,)
                ).fetchone()
            )

    def get_datastore(self, datastore_id: str) -> dict:
        row = (
            self._read()
            .execute("SELECT * FROM datastores WHERE id = ?", (datastore_id,))
            .fetchone()
        )
        if row is None:
            raise ResourceNotFoundException(f"Datastore {datastore_id} does not exist")
        return dict(row)

    def find_datastore(self, name: str) -> dict | None:
        row = (
            self._read()
            .execute(
                "SELECT * FROM datastores WHERE name = ? AND status != 'DELETED' ORDER BY created_at",
                (name,),
            )
            .fetchone()
        )
        return dict(row) if row else None

    def list_datastores(
        self, *, status: str | None, max_results: int | None, next_token: str | None
    ) -> tuple[list[dict], str | None]:
        scope = tokens.scope_hash("ListDatastores", status)
        offset = (
            tokens.redeem(self.token_secret, scope, next_token) if next_token else 0
        )
        limit = max_results or DEFAULT_PAGE_SIZE
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = (
            self._read()
            .execute(
                f"SELECT * FROM datastores {where} ORDER BY created_at, id LIMIT ? OFFSET ?",
                (*params, limit + 1, offset),
            )
            .fetchall()
        )
        more = len(rows) > limit
        token = tokens.issue(self.token_secret, scope, offset + limit) if more else None
        return [dict(row) for row in rows[:limit]], token

    def delete_datastore(self, datastore_id: str) -> dict:
        with self._write() as db:
            row = db.execute(
                "SELECT * FROM datastores WHERE id = ?", (datastore_id,)
            ).fetchone()
            if row is None or row["status"] == "DELETED":
                raise ResourceNotFoundException(
                    f"Datastore {datastore_id} does not exist"
                )
            if row["status"] != "ACTIVE":
                raise ConflictException(
                    f"Datastore {datastore_id} is in {row['status']} status and can not be deleted"
                )
            in_use = db.execute(
                "SELECT 1 FROM image_sets WHERE datastore_id = ? AND state != 'DELETED' LIMIT 1",
                (datastore_id,),
            ).fetchone()
            if in_use:
                raise ConflictException(
                    "Before a data store can be deleted, you must first delete all image sets "
                    "within it"
                )
            importing = db.execute(
                "SELECT 1 FROM import_jobs WHERE datastore_id = ? "
                "AND status IN ('SUBMITTED', 'IN_PROGRESS') LIMIT 1",
                (datastore_id,),
            ).fetchone()
            if importing:
                raise ConflictException(
                    f"Datastore {datastore_id} has import jobs in progress and can not be deleted"
                )
            db.execute(
                "UPDATE datastores SET status = 'DELETING', pending_status = 'DELETED', "
                "due_at = ?, updated_at = ? WHERE id = ?",
                (self.clock() + self.update_delay, self.clock(), datastore_id),
            )
            return {"datastoreId": datastore_id, "datastoreStatus": "DELETING"}

    def _require_active_datastore(
        self, db: sqlite3.Connection, datastore_id: str
    ) -> None:
        row = db.execute(
            "SELECT status FROM datastores WHERE id = ?", (datastore_id,)
        ).fetchone()
        if row is None or row["status"] == "DELETED":
            raise ResourceNotFoundException(f"Datastore {datastore_id} does not exist")
        if row["status"] != "ACTIVE":
            raise ConflictException(
                f"Datastore {datastore_id} is in {row['status']} status"
            )

    # -- image sets: reads -----------------------------------------------------------------

    def _image_set(
        self, db: sqlite3.Connection, datastore_id: str, image_set_id: str
    ) -> sqlite3.Row:
        self._require_active_datastore(db, datastore_id)
        row = db.execute(
            "SELECT * FROM image_sets WHERE datastore_id = ? AND id = ?",
            (datastore_id, image_set_id),
        ).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"ImageSet {image_set_id} does not exist")
        return row

    def _metadata(
        self, db: sqlite3.Connection, datastore_id: str, image_set_id: str, version: int
    ) -> dict:
        return decompress(
            self._version(db, datastore_id, image_set_id, version)["metadata"]
        )

    def _version(
        self, db: sqlite3.Connection, datastore_id: str, image_set_id: str, version: int
    ) -> sqlite3.Row:
        row = db.execute(
            "SELECT * FROM versions WHERE datastore_id = ? AND image_set_id = ? AND version = ?",
            (datastore_id, image_set_id, version),
        ).fetchone()
        if row is None:
            raise ResourceNotFoundException(
                f"Version {version} of ImageSet {image_set_id} does not exist"
            )
        return row

    def get_image_set(
        self, datastore_id: str, image_set_id: str, version: int | None
    ) -> dict:
        self._count_held_poll(datastore_id, image_set_id)
        db = self._read()
        image_set = self._image_set(db, datastore_id, image_set_id)
        return self._properties(db, image_set, version or image_set["latest_version"])

    def _properties(
        self, db: sqlite3.Connection, image_set: sqlite3.Row, version: int
    ) -> dict:
        row = self._version(db, image_set["datastore_id"], image_set["id"], version)
        is_latest = version == image_set["latest_version"]
        return {
            "datastore_id": image_set["datastore_id"],
            "image_set_id": image_set["id"],
            "version": version,
            "state": image_set["state"] if is_latest else "ACTIVE",
            "workflow_status": image_set["workflow_status"]
            if is_latest
            else row["workflow_status"],
            "message": row["message"],
            "forced": bool(row["forced"]),
            "created_at": image_set["created_at"],
            "updated_at": row["updated_at"],
            "deleted_at": image_set["deleted_at"] if is_latest else None,
            "is_primary": bool(image_set["is_primary"]),
        }

    def get_image_set_metadata(
        self, datastore_id: str, image_set_id: str, version: int | None
    ) -> bytes:
        db = self._read()
        image_set = self._image_set(db, datastore_id, image_set_id)
        if image_set["state"] == "DELETED":
            raise ResourceNotFoundException(f"ImageSet {image_set_id} has been deleted")
        return self._version(
            db, datastore_id, image_set_id, version or image_set["latest_version"]
        )["metadata"]

    def list_image_set_versions(
        self,
        datastore_id: str,
        image_set_id: str,
        *,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[dict], str | None]:
        db = self._read()
        image_set = self._image_set(db, datastore_id, image_set_id)
        scope = tokens.scope_hash("ListImageSetVersions", datastore_id, image_set_id)
        start = (
            tokens.redeem(self.token_secret, scope, next_token)
            if next_token
            else image_set["latest_version"]
        )
        limit = max_results or DEFAULT_PAGE_SIZE
        versions = range(start, max(start - limit, 0), -1)
        items = [self._properties(db, image_set, version) for version in versions]
        last = start - limit
        token = tokens.issue(self.token_secret, scope, last) if last >= 1 else None
        return items, token

    def search_image_sets(
        self,
        datastore_id: str,
        criteria: dict,
        *,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[dict], str | None]:
        plan = search.plan_search(criteria)
        scope = tokens.scope_hash("SearchImageSets", datastore_id, criteria)
        after = (
            tokens.redeem(self.token_secret, scope, next_token) if next_token else None
        )
        limit = max_results or DEFAULT_PAGE_SIZE
        db = self._read()
        self._require_active_datastore(db, datastore_id)
        rows: list[sqlite3.Row] = []
        for segment in search.result_segments(plan, after):
            where = [
                "datastore_id = ?",
                "state != 'DELETED'",
                *plan.where,
                *segment.where,
            ]
            rows += db.execute(
                f"SELECT {_SUMMARY_COLUMNS}, {plan.sort_column} AS sort_value FROM image_sets "
                f"WHERE {' AND '.join(where)} ORDER BY {segment.order} LIMIT ?",
                (datastore_id, *plan.params, *segment.params, limit + 1 - len(rows)),
            ).fetchall()
            if len(rows) > limit:
                break
        token = None
        if len(rows) > limit:
            last = rows[limit - 1]
            token = tokens.issue(
                self.token_secret, scope, [last["sort_value"], last["id"]]
            )
        summaries = [
            {
                "image_set_id": row["id"],
                "version": row["summary_version"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                "is_primary": bool(row["is_primary"]),
                "dicom_tags": orjson.loads(row["dicom_tags"]),
            }
            for row in rows[:limit]
        ]
        return summaries, token

    # -- image sets: writes ----------------------------------------------------------------

    def update_image_set_metadata(
        self,
        datastore_id: str,
        image_set_id: str,
        latest_version: int,
        request: UpdateRequest,
    ) -> dict:
        now = self.clock()
        with self._write() as db:
            image_set = self._writable(db, datastore_id, image_set_id, latest_version)
            current = self._metadata(
                db, datastore_id, image_set_id, image_set["latest_version"]
            )
            if request.revert_to is not None:
                target = self._revert_target(db, image_set, request.revert_to)
                outcome: dict | str = self._metadata(
                    db, datastore_id, image_set_id, target
                )
            else:
                rules = UpdateRules(
                    force=request.force,
                    strict=self.strict,
                    is_primary=bool(image_set["is_primary"]),
                )
                try:
                    outcome = apply_dicom_updates(
                        current, request.updatable, request.removable, rules
                    )
                except UpdateRejected as rejection:
                    outcome = f"INVALID_REQUEST: {rejection}"
            injected = db.execute(
                "DELETE FROM injected_failures WHERE image_set_id = ? RETURNING message",
                (image_set_id,),
            ).fetchone()
            if injected:
                outcome = injected["message"]
            self._begin_version(
                db,
                image_set,
                current,
                outcome,
                status="UPDATING",
                forced=request.force,
                now=now,
            )
            self._hold_if_asked(db, image_set)
            if request.include_study and not isinstance(outcome, str):
                self._update_study_siblings(
                    db, image_set, current, outcome, request, now
                )
            return self._properties(
                db,
                self._row(db, datastore_id, image_set_id),
                image_set["latest_version"] + 1,
            )

    def _row(
        self, db: sqlite3.Connection, datastore_id: str, image_set_id: str
    ) -> sqlite3.Row:
        return db.execute(
            "SELECT * FROM image_sets WHERE datastore_id = ? AND id = ?",
            (datastore_id, image_set_id),
        ).fetchone()

    def _writable(
        self,
        db: sqlite3.Connection,
        datastore_id: str,
        image_set_id: str,
        latest_version: int | None,
    ) -> sqlite3.Row:
        image_set = self._image_set(db, datastore_id, image_set_id)
        if image_set["state"] == "DELETED":
            raise ResourceNotFoundException(f"ImageSet {image_set_id} has been deleted")
        if image_set["state"] == "LOCKED":
            raise ConflictException(
                f"ImageSet {image_set_id} is in LOCKED state with workflow status "
                f"{image_set['workflow_status']}"
            )
        if latest_version is not None and latest_version != image_set["latest_version"]:
            raise ResourceNotFoundException(STALE_VERSION_MESSAGE)
        return image_set

    def _revert_target(
        self, db: sqlite3.Connection, image_set: sqlite3.Row, version: int
    ) -> int:
        if not 1 <= version < image_set["latest_version"]:
            raise ValidationException(
                f"revertToVersionId must name an earlier version of the image set, "
                f"between 1 and {image_set['latest_version'] - 1}"
            )
        status = self._version(db, image_set["datastore_id"], image_set["id"], version)[
            "workflow_status"
        ]
        if status.endswith("_FAILED"):
            raise ValidationException(
                f"Version {version} ended in {status} and can not be restored"
            )
        return version

    def _begin_version(
        self,
        db: sqlite3.Connection,
        image_set: sqlite3.Row,
        current: dict,
        outcome: dict | str,
        *,
        status: str,
        forced: bool,
        now: float,
    ) -> None:
        """Start a new version: the set is LOCKED until the delay passes, then settles."""
        failed = isinstance(outcome, str)
        if failed:
            outcome = _service_message(outcome)
        final_status = {
            "UPDATING": "UPDATED",
            "UPDATING_FOR_STUDY_CONSISTENCY": "UPDATED",
        }.get(status, "COPIED")
        failed_status = "COPY_FAILED" if status == "COPYING" else "UPDATE_FAILED"
        version = image_set["latest_version"] + 1
        db.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
            (
                image_set["datastore_id"],
                image_set["id"],
                version,
                status,
                int(forced),
                now,
                compress(current if failed else outcome),
            ),
        )
        db.execute(
            "UPDATE image_sets SET state = 'LOCKED', workflow_status = ?, latest_version = ?, "
            "updated_at = ?, due_at = ?, pending_state = 'ACTIVE', pending_status = ?, "
            "pending_message = ?, pending_apply = ? WHERE datastore_id = ? AND id = ?",
            (
                status,
                version,
                now,
                now + self.update_delay,
                failed_status if failed else final_status,
                outcome if failed else None,
                0 if failed else 1,
                image_set["datastore_id"],
                image_set["id"],
            ),
        )

    def _update_study_siblings(
        self,
        db: sqlite3.Connection,
        image_set: sqlite3.Row,
        before: dict,
        after: dict,
        request: UpdateRequest,
        now: float,
    ) -> None:
        """Carry the Patient and Study level change to every primary set of the same study."""
        siblings = db.execute(
            "SELECT * FROM image_sets WHERE datastore_id = ? AND study_uid = ? AND id != ? "
            "AND is_primary = 1 AND state != 'DELETED'",
            (image_set["datastore_id"], image_set["study_uid"], image_set["id"]),
        ).fetchall()
        for sibling in siblings:
            if sibling["state"] == "LOCKED":
                raise ConflictException(
                    f"ImageSet {sibling['id']} of the same study is in LOCKED state"
                )
            current = self._metadata(
                db, sibling["datastore_id"], sibling["id"], sibling["latest_version"]
            )
            updated = {
                **current,
                "Patient": after.get("Patient", {}),
                "Study": {
                    **current.get("Study", {}),
                    "DICOM": after["Study"].get("DICOM", {}),
                },
            }
            self._begin_version(
                db,
                sibling,
                current,
                updated,
                status="UPDATING_FOR_STUDY_CONSISTENCY",
                forced=request.force,
                now=now,
            )

    def delete_image_set(self, datastore_id: str, image_set_id: str) -> dict:
        now = self.clock()
        with self._write() as db:
            self._writable(db, datastore_id, image_set_id, None)
            db.execute(
                "UPDATE image_sets SET state = 'LOCKED', workflow_status = 'DELETING', due_at = ?, "
                "pending_state = 'DELETED', pending_status = 'DELETED', pending_message = NULL, "
                "pending_apply = 0 WHERE datastore_id = ? AND id = ?",
                (now + self.update_delay, datastore_id, image_set_id),
            )
        return {"state": "LOCKED", "workflow_status": "DELETING"}

    def copy_image_set(
        self,
        datastore_id: str,
        source_id: str,
        *,
        source_version: int,
        copiable: dict | None,
        destination_id: str | None,
        destination_version: int | None,
        force: bool,
        promote_to_primary: bool,
    ) -> tuple[dict, dict]:
        now = self.clock()
        with self._write() as db:
            source = self._writable(db, datastore_id, source_id, source_version)
            source_document = self._metadata(
                db, datastore_id, source_id, source["latest_version"]
            )
            if destination_id is None:
                new_set_id = new_id()
                outcome = copy_instances(source_document, None, copiable, force=force)
                outcome = {**outcome, "ImageSetID": new_set_id}
                self._insert_image_set(
                    db,
                    datastore_id,
                    new_set_id,
                    outcome,
                    created_at=now,
                    is_primary=promote_to_primary,
                    state="LOCKED",
                    status="COPYING",
                )
                db.execute(
                    "UPDATE image_sets SET due_at = ?, pending_state = 'ACTIVE', "
                    "pending_status = 'COPIED', pending_apply = 1 WHERE datastore_id = ? AND id = ?",
                    (now + self.update_delay, datastore_id, new_set_id),
                )
                destination = self._row(db, datastore_id, new_set_id)
            else:
                if destination_id == source_id:
                    raise ValidationException(
                        "The source and destination image sets must differ"
                    )
                destination = self._writable(
                    db, datastore_id, destination_id, destination_version
                )
                current = self._metadata(
                    db, datastore_id, destination_id, destination["latest_version"]
                )
                try:
                    outcome = copy_instances(
                        source_document, current, copiable, force=force
                    )
                except UpdateRejected as rejection:
                    outcome = f"INVALID_REQUEST:  {rejection}"
                self._begin_version(
                    db,
                    destination,
                    current,
                    outcome,
                    status="COPYING",
                    forced=force,
                    now=now,
                )
                destination = self._row(db, datastore_id, destination_id)
            db.execute(
                "UPDATE image_sets SET state = 'LOCKED', "
                "workflow_status = 'COPYING_WITH_READ_ONLY_ACCESS', due_at = ?, "
                "pending_state = 'ACTIVE', pending_status = 'COPIED', pending_apply = 0 "
                "WHERE datastore_id = ? AND id = ?",
                (now + self.update_delay, datastore_id, source_id),
            )
            source = self._row(db, datastore_id, source_id)
            return (
                self._properties(db, source, source["latest_version"]),
                self._properties(db, destination, destination["latest_version"]),
            )

    # -- seeding ---------------------------------------------------------------------------

    def _insert_image_set(
        self,
        db: sqlite3.Connection,
        datastore_id: str,
        image_set_id: str,
        metadata: dict,
        *,
        created_at: float,
        updated_at: float | None = None,
        is_primary: bool,
        state: str = "ACTIVE",
        status: str = "CREATED",
    ) -> None:
        self._insert_image_sets(
            db,
            [
                (
                    datastore_id,
                    image_set_id,
                    metadata,
                    created_at,
                    updated_at or created_at,
                    is_primary,
                )
            ],
            state=state,
            status=status,
        )

    def _insert_image_sets(
        self,
        db: sqlite3.Connection,
        items: Iterable[tuple[str, str, dict, float, float, bool]],
        *,
        state: str = "ACTIVE",
        status: str = "CREATED",
    ) -> int:
        image_set_rows = []
        version_rows = []
        for (
            datastore_id,
            image_set_id,
            metadata,
            created_at,
            updated_at,
            is_primary,
        ) in items:
            keys = search_keys(metadata)
            image_set_rows.append(
                {
                    **keys,
                    "datastore_id": datastore_id,
                    "id": image_set_id,
                    "state": state,
                    "status": status,
                    "is_primary": int(is_primary),
                    "created_at": created_at,
                    "updated_at": updated_at,
                    "dicom_tags": orjson.dumps(dicom_tags(metadata)).decode(),
                }
            )
            version_rows.append(
                (datastore_id, image_set_id, status, updated_at, compress(metadata))
            )
        db.executemany(
            "INSERT INTO image_sets (datastore_id, id, state, workflow_status, latest_version, "
            "summary_version, is_primary, created_at, updated_at, patient_id, accession_number, "
            "study_id, study_uid, series_uid, study_key, dicom_tags) VALUES (:datastore_id, :id, "
            ":state, :status, 1, 1, :is_primary, :created_at, :updated_at, :patient_id, "
            ":accession_number, :study_id, :study_uid, :series_uid, :study_key, :dicom_tags)",
            image_set_rows,
        )
        db.executemany(
            "INSERT INTO versions (datastore_id, image_set_id, version, workflow_status, "
            "updated_at, metadata) VALUES (?, ?, 1, ?, ?, ?)",
            version_rows,
        )
        return len(image_set_rows)

    def add_seed_image_sets(
        self, datastore_id: str, image_sets: Iterable[SeedImageSet]
    ) -> int:
        """Store generated image sets as imported ones (ACTIVE, CREATED, version 1)."""
        with self._write() as db:
            self._require_active_datastore(db, datastore_id)
            added = self._insert_image_sets(
                db,
                (
                    (
                        datastore_id,
                        item.image_set_id,
                        item.metadata,
                        item.created_at,
                        item.updated_at,
                        item.is_primary,
                    )
                    for item in image_sets
                ),
            )
            # Fresh statistics let the planner pick the identifier indexes for EQUAL searches.
            db.execute("ANALYZE")
            return added

    # -- DICOM import jobs -----------------------------------------------------------------

    def _require_datastore(self, db: sqlite3.Connection, datastore_id: str) -> None:
        row = db.execute(
            "SELECT status FROM datastores WHERE id = ?", (datastore_id,)
        ).fetchone()
        if row is None or row["status"] == "DELETED":
            raise ResourceNotFoundException(f"Datastore {datastore_id} does not exist")

    def start_import_job(
        self,
        datastore_id: str,
        *,
        client_token: str,
        name: str | None,
        role_arn: str,
        input_uri: str,
        output_uri: str,
        input_owner: str | None,
    ) -> dict:
        """Submit a job, or return the one this client token already started (idempotency)."""
        request = orjson.dumps(
            [name, role_arn, input_uri, output_uri, input_owner]
        ).decode()
        now = self.clock()
        with self._write() as db:
            self._require_active_datastore(db, datastore_id)
            existing = db.execute(
                "SELECT * FROM import_jobs WHERE datastore_id = ? AND client_token = ?",
                (datastore_id, client_token),
            ).fetchone()
            if existing:
                if existing["request"] != request:
                    raise ConflictException(
                        f"clientToken {client_token} was already used to start job "
                        f"{existing['id']} with other parameters"
                    )
                return dict(existing)
            running = db.execute(
                "SELECT COUNT(*) FROM import_jobs WHERE datastore_id = ? "
                "AND status IN ('SUBMITTED', 'IN_PROGRESS')",
                (datastore_id,),
            ).fetchone()[0]
            if running >= MAX_RUNNING_IMPORT_JOBS:
                raise ServiceQuotaExceededException(
                    f"A data store can run at most {MAX_RUNNING_IMPORT_JOBS} import jobs at once"
                )
            job_id = new_id()
            delay = (
                self.update_delay if self.import_delay is None else self.import_delay
            )
            db.execute(
                "INSERT INTO import_jobs (datastore_id, id, name, status, client_token, request, "
                "role_arn, input_uri, output_uri, input_owner, delay, submitted_at) "
                "VALUES (?, ?, ?, 'SUBMITTED', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    datastore_id,
                    job_id,
                    # jobName is optional in the request but required in the job's properties.
                    name or job_id,
                    client_token,
                    request,
                    role_arn,
                    input_uri,
                    import_output_uri(output_uri, datastore_id, job_id),
                    input_owner,
                    delay,
                    now,
                ),
            )
            row = self._import_job(db, datastore_id, job_id)
        self.import_wakeup.set()
        return row

    def _import_job(
        self, db: sqlite3.Connection, datastore_id: str, job_id: str
    ) -> dict:
        row = db.execute(
            "SELECT * FROM import_jobs WHERE datastore_id = ? AND id = ?",
            (datastore_id, job_id),
        ).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"Import job {job_id} does not exist")
        return dict(row)

    def get_import_job(self, datastore_id: str, job_id: str) -> dict:
        db = self._read()
        self._require_datastore(db, datastore_id)
        return self._import_job(db, datastore_id, job_id)

    def list_import_jobs(
        self,
        datastore_id: str,
        *,
        status: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[dict], str | None]:
        """Newest submitted first, ties broken by job ID; the token holds the last one listed."""
        scope = tokens.scope_hash("ListDICOMImportJobs", datastore_id, status)
        after = (
            tokens.redeem(self.token_secret, scope, next_token) if next_token else None
        )
        limit = max_results or DEFAULT_PAGE_SIZE
        where, params = ["datastore_id = ?"], [datastore_id]
        if status:
            where.append("status = ?")
            params.append(status)
        if after is not None:
            if not (
                isinstance(after, list)
                and len(after) == 2
                and isinstance(after[0], int | float)
                and isinstance(after[1], str)
            ):
                raise ValidationException("Invalid nextToken")
            where.append("(submitted_at < ? OR (submitted_at = ? AND id < ?))")
            params += [after[0], after[0], after[1]]
        db = self._read()
        self._require_datastore(db, datastore_id)
        rows = db.execute(
            f"SELECT * FROM import_jobs WHERE {' AND '.join(where)} "
            "ORDER BY submitted_at DESC, id DESC LIMIT ?",
            (*params, limit + 1),
        ).fetchall()
        token = None
        if len(rows) > limit:
            last = rows[limit - 1]
            token = tokens.issue(
                self.token_secret, scope, [last["submitted_at"], last["id"]]
            )
        return [dict(row) for row in rows[:limit]], token

    def claim_import_job(self) -> tuple[dict | None, float | None]:
        """For the import runner: start every job whose SUBMITTED time is over, and hand back
        one running job (oldest first) with the time the next submitted job becomes due."""
        now = self.clock()
        db = self._db()
        due = db.execute(
            "SELECT MIN(submitted_at + delay) FROM import_jobs WHERE status = 'SUBMITTED'"
        ).fetchone()[0]
        running = db.execute(
            "SELECT 1 FROM import_jobs WHERE status = 'IN_PROGRESS' LIMIT 1"
        ).fetchone()
        if not running and (due is None or due > now):
            return None, due
        with self._write() as db:
            db.execute(
                "UPDATE import_jobs SET status = 'IN_PROGRESS', started_at = ? "
                "WHERE status = 'SUBMITTED' AND submitted_at + delay <= ?",
                (now, now),
            )
            job = db.execute(
                "SELECT * FROM import_jobs WHERE status = 'IN_PROGRESS' "
                "ORDER BY started_at, submitted_at, id LIMIT 1"
            ).fetchone()
            due = db.execute(
                "SELECT MIN(submitted_at + delay) FROM import_jobs WHERE status = 'SUBMITTED'"
            ).fetchone()[0]
            return (dict(job) if job else None), due

    def fail_import_job(self, datastore_id: str, job_id: str, message: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE import_jobs SET status = 'FAILED', ended_at = ?, message = ? "
                "WHERE datastore_id = ? AND id = ? AND status = 'IN_PROGRESS'",
                (self.clock(), _service_message(message), datastore_id, job_id),
            )

    def finish_import_job(
        self,
        datastore_id: str,
        job_id: str,
        imported: list[tuple[str, P10Instance]],
        rejected: list[RejectedFile],
        write_outputs: Callable[[ImportOutcome], None],
    ) -> ImportOutcome | None:
        """Store the imported instances as image sets and complete the job, in one transaction.

        `write_outputs` writes the job's output files before the job shows COMPLETED, so a
        client that sees COMPLETED finds them; if it fails, nothing of the job is kept.
        """
        now = self.clock()
        with self._write() as db:
            job = self._import_job(db, datastore_id, job_id)
            if job["status"] != "IN_PROGRESS":
                return None
            files, conflicts, image_sets = self._place_instances(
                db, datastore_id, imported, now
            )
            outcome = ImportOutcome(job, files, [*rejected, *conflicts], image_sets)
            write_outputs(outcome)
            db.execute(
                "UPDATE import_jobs SET status = 'COMPLETED', ended_at = ?, message = NULL "
                "WHERE datastore_id = ? AND id = ?",
                (now, datastore_id, job_id),
            )
            return outcome

    def _place_instances(
        self,
        db: sqlite3.Connection,
        datastore_id: str,
        imported: list[tuple[str, P10Instance]],
        now: float,
    ) -> tuple[list[ImportedFile], list[RejectedFile], list[ImportedSet]]:
        """Put each instance in its image set (see `_Placement`) and store the sets written:
        new ones at version 1 (CREATED), stored primary ones at their next version (IMPORTED)."""
        placement = _Placement(self, db, datastore_id)
        conflicts: list[RejectedFile] = []
        assigned: list[tuple[str, _Target]] = []
        for key, instance in imported:
            target = placement.target(instance)
            if target.locked:
                conflicts.append(
                    RejectedFile(
                        key,
                        "ConflictException",
                        f"ImageSet {target.image_set_id} is in LOCKED state and can not take "
                        "the instance",
                        server_error=True,
                    )
                )
                continue
            target.add(instance)
            assigned.append((key, target))
        new_rows = []
        image_sets = []
        for target in placement.written():
            if target.base is None:
                target.version = 1
                new_rows.append(
                    (
                        datastore_id,
                        target.image_set_id,
                        target.document,
                        now,
                        now,
                        target.is_primary,
                    )
                )
            else:
                target.version = self._import_version(
                    db, target.base, target.document, now
                )
            image_sets.append(
                ImportedSet(
                    target.image_set_id,
                    target.version,
                    target.is_primary,
                    len(target.instances),
                )
            )
        self._insert_image_sets(db, new_rows)
        files = [
            ImportedFile(key, target.image_set_id, target.version, target.is_primary)
            for key, target in assigned
        ]
        return files, conflicts, image_sets

    def _import_version(
        self, db: sqlite3.Connection, base: sqlite3.Row, document: dict, now: float
    ) -> int:
        """New instances of an existing primary image set: its next version, IMPORTED."""
        version = base["latest_version"] + 1
        db.execute(
            "INSERT INTO versions (datastore_id, image_set_id, version, workflow_status, "
            "updated_at, metadata) VALUES (?, ?, ?, 'IMPORTED', ?, ?)",
            (base["datastore_id"], base["id"], version, now, compress(document)),
        )
        db.execute(
            "UPDATE image_sets SET workflow_status = 'IMPORTED', latest_version = :version, "
            "summary_version = :version, updated_at = :now, dicom_tags = :dicom_tags, "
            "patient_id = :patient_id, accession_number = :accession_number, "
            "study_id = :study_id, study_uid = :study_uid, series_uid = :series_uid, "
            "study_key = :study_key WHERE datastore_id = :datastore_id AND id = :id",
            {
                **search_keys(document),
                "version": version,
                "now": now,
                "dicom_tags": orjson.dumps(dicom_tags(document)).decode(),
                "datastore_id": base["datastore_id"],
                "id": base["id"],
            },
        )
        return version

    # -- tags ------------------------------------------------------------------------------

    def _require_resource(
        self, db: sqlite3.Connection, datastore_id: str, image_set_id: str | None
    ) -> None:
        if image_set_id is None:
            row = db.execute(
                "SELECT 1 FROM datastores WHERE id = ? AND status != 'DELETED'",
                (datastore_id,),
            ).fetchone()
        else:
            row = db.execute(
                "SELECT 1 FROM image_sets WHERE datastore_id = ? AND id = ? AND state != 'DELETED'",
                (datastore_id, image_set_id),
            ).fetchone()
        if row is None:
            raise ResourceNotFoundException("Resource does not exist")

    def tag_resource(
        self, datastore_id: str, image_set_id: str | None, tags: dict[str, str]
    ) -> None:
        resource = f"{datastore_id}/{image_set_id or ''}"
        with self._write() as db:
            self._require_resource(db, datastore_id, image_set_id)
            db.executemany(
                "INSERT INTO tags VALUES (?, ?, ?) "
                "ON CONFLICT (resource, key) DO UPDATE SET value = excluded.value",
                [(resource, key, value) for key, value in tags.items()],
            )
            count = db.execute(
                "SELECT COUNT(*) FROM tags WHERE resource = ?", (resource,)
            ).fetchone()[0]
            if count > MAX_TAGS:
                raise ValidationException(
                    f"A resource can have at most {MAX_TAGS} tags"
                )

    def untag_resource(
        self, datastore_id: str, image_set_id: str | None, keys: list[str]
    ) -> None:
        resource = f"{datastore_id}/{image_set_id or ''}"
        with self._write() as db:
            self._require_resource(db, datastore_id, image_set_id)
            db.executemany(
                "DELETE FROM tags WHERE resource = ? AND key = ?",
                [(resource, key) for key in keys],
            )

    def list_tags(self, datastore_id: str, image_set_id: str | None) -> dict[str, str]:
        resource = f"{datastore_id}/{image_set_id or ''}"
        db = self._read()
        self._require_resource(db, datastore_id, image_set_id)
        rows = db.execute(
            "SELECT key, value FROM tags WHERE resource = ?", (resource,)
        ).fetchall()
        return {row["key"]: row["value"] for row in rows}

    # -- test knobs ------------------------------------------------------------------------

    def is_locked(self, datastore_id: str, image_set_id: str) -> bool:
        """Whether an update of the image set is still under way (it is LOCKED)."""
        row = (
            self._read()
            .execute(
                "SELECT state FROM image_sets WHERE datastore_id = ? AND id = ?",
                (datastore_id, image_set_id),
            )
            .fetchone()
        )
        return row is not None and row["state"] == "LOCKED"

    def hold_next_update_locked(self, image_set_id: str, polls: int | None) -> None:
        """Keep the image set LOCKED after its next update until `polls` GetImageSet calls
        have seen it so (None: for ever); the next one after them sees it settled."""
        with self._holds_lock:
            self._hold_asked[image_set_id] = polls

    def _hold_if_asked(self, db: sqlite3.Connection, image_set: sqlite3.Row) -> None:
        with self._holds_lock:
            if image_set["id"] not in self._hold_asked:
                return
            self._held[image_set["id"]] = self._hold_asked.pop(image_set["id"])
        # Settled by `_count_held_poll`, never by the clock.
        db.execute(
            "UPDATE image_sets SET due_at = ? WHERE datastore_id = ? AND id = ?",
            (_NEVER, image_set["datastore_id"], image_set["id"]),
        )

    def _count_held_poll(self, datastore_id: str, image_set_id: str) -> None:
        with self._holds_lock:
            remaining = self._held.get(image_set_id)
            if remaining is None:  # not held, or held for ever
                return
            if remaining > 0:
                self._held[image_set_id] -= 1
                return
            del self._held[image_set_id]
        with self._write() as db:
            db.execute(
                "UPDATE image_sets SET due_at = ? "
                "WHERE datastore_id = ? AND id = ? AND due_at = ?",
                (self.clock(), datastore_id, image_set_id, _NEVER),
            )

    def fail_next_update(self, image_set_id: str, message: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO injected_failures VALUES (?, ?) "
                "ON CONFLICT (image_set_id) DO UPDATE SET message = excluded.message",
                (image_set_id, message),
            )
