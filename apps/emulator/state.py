"""The emulator's state: data stores, image sets and their versions, tags, in one SQLite file.

Every write runs in a `BEGIN IMMEDIATE` transaction, so concurrent requests serialise and two
simultaneous updates of one image set cannot both be accepted. Asynchronous work (an update, a
copy, a delete, a data store coming up) is recorded with the time it is due and settled lazily
by the next request after that time, so it survives a restart and needs no background thread.
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
from dataclasses import dataclass

import orjson

from apps.emulator import search, tokens
from apps.emulator.copies import copy_instances
from apps.emulator.documents import dicom_tags, search_keys
from apps.emulator.errors import (
    STALE_VERSION_MESSAGE,
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
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


class Store:
    def __init__(
        self,
        path: str,
        *,
        update_delay: float = 2.0,
        strict: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.update_delay = update_delay
        self.strict = strict
        self.clock = clock
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

    def fail_next_update(self, image_set_id: str, message: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO injected_failures VALUES (?, ?) "
                "ON CONFLICT (image_set_id) DO UPDATE SET message = excluded.message",
                (image_set_id, message),
            )
