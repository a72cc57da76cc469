"""SQLite storage of received profiles.

One file holds every upload: a ``profiles`` row with the facets and the
measures the list shows, the tags in ``profile_tags`` (so any tag can be
filtered on) and each attachment's bytes exactly as received in
``attachments``.  All writes go through a single connection behind a lock,
each upload in one transaction, so concurrent uploaders never interleave or
leave half an upload behind; readers use their own short-lived connections,
which WAL mode lets run alongside the writer.  Retention (by age and by the
real size of the database: pages in use plus the WAL file, so tags, indexes
and journal count) is enforced here as well.  A client that retries an
upload it already sent (same ``runtime-id`` and ``profile_seq``, or the
very same bytes) gets the stored profile's id back; nothing is stored twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager

from .filters import FACET_COLUMNS, ProfileFilter
from .intake import KIND_PPROF, PreparedUpload

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at_ns INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    duration_ns INTEGER NOT NULL,
    service TEXT NOT NULL,
    env TEXT NOT NULL,
    version TEXT NOT NULL,
    host TEXT NOT NULL,
    runtime TEXT NOT NULL,
    family TEXT NOT NULL,
    source TEXT NOT NULL,
    event_json TEXT NOT NULL,
    request_headers_json TEXT NOT NULL,
    totals_json TEXT NOT NULL,
    cpu_cores REAL,
    alloc_bytes_per_sec REAL,
    stored_bytes INTEGER NOT NULL,
    dedupe_key TEXT
);
CREATE INDEX IF NOT EXISTS profiles_by_start ON profiles(start_ns);
CREATE INDEX IF NOT EXISTS profiles_by_received ON profiles(received_at_ns);
CREATE INDEX IF NOT EXISTS profiles_by_service ON profiles(service, start_ns);
CREATE INDEX IF NOT EXISTS profiles_by_dedupe_key ON profiles(dedupe_key);
CREATE TABLE IF NOT EXISTS profile_tags (
    profile_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_tags_by_profile ON profile_tags(profile_id);
CREATE INDEX IF NOT EXISTS profile_tags_by_key ON profile_tags(key, value);
CREATE TABLE IF NOT EXISTS attachments (
    profile_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    encoding TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (profile_id, name)
);
"""

LIST_COLUMNS = ("id, received_at_ns, start_ns, end_ns, duration_ns, service, env, version, host, "
                "runtime, family, source, totals_json, cpu_cores, alloc_bytes_per_sec, stored_bytes")


def _row_to_summary(row: sqlite3.Row) -> dict:
    summary = {key: row[key] for key in row.keys() if key != "totals_json"}
    summary["totals"] = json.loads(row["totals_json"])
    summary["sample_types"] = [entry["type"] for entry in summary["totals"]]
    return summary


# WAL kept small: it counts against --max-db-mb.
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024


def dedupe_key(upload: PreparedUpload) -> str:
    """Identity of an upload across client retries."""
    runtime_id = upload.event.tag("runtime-id") or upload.event.tag("runtime_id")
    sequence = upload.event.tag("profile_seq")
    if runtime_id and sequence:
        return (f"seq:{upload.service}:{runtime_id}:{sequence}:"
                f"{upload.event.start_ns}:{upload.event.end_ns}")
    digest = hashlib.sha256(upload.event_json.encode("utf-8"))
    for attachment in upload.attachments:
        digest.update(attachment.name.encode("utf-8") + b"\0" + attachment.data)
    return "sha256:" + digest.hexdigest()


def row_bytes(upload: PreparedUpload) -> int:
    """Bytes an upload's rows take, in UTF-8 (the text columns and tags
    too), before SQLite's own overhead."""
    text = upload.event_json + json.dumps(upload.request_headers) + json.dumps(upload.totals)
    tags = sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) + 16 for k, v in upload.event.tags)
    return len(text.encode("utf-8")) + tags + sum(
        len(a.data) + len(a.name.encode("utf-8")) + 32 for a in upload.attachments) + 200


class ProfileStore:
    def __init__(self, path: str, retention_hours: float | None = None,
                 max_total_bytes: int | None = None):
        self.path = path
        self.retention_hours = retention_hours
        self.max_total_bytes = max_total_bytes
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._write_lock = threading.Lock()
        self._writer = sqlite3.connect(path, timeout=30, check_same_thread=False,
                                       isolation_level=None)
        # auto_vacuum only takes effect before the first table exists; it lets
        # retention hand freed pages back to the file system.
        self._writer.execute("PRAGMA auto_vacuum = INCREMENTAL")
        self._writer.execute("PRAGMA journal_mode = WAL")
        self._writer.execute("PRAGMA synchronous = NORMAL")
        self._writer.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        self._migrate()
        self._writer.executescript(SCHEMA)

    def _migrate(self) -> None:
        """Databases written before de-duplication lack its column."""
        columns = [row[1] for row in self._writer.execute("PRAGMA table_info(profiles)")]
        if columns and "dedupe_key" not in columns:
            self._writer.execute("ALTER TABLE profiles ADD COLUMN dedupe_key TEXT")

    def database_bytes(self) -> int:
        """What the database really takes on disk: pages in use plus the WAL."""
        page_size = self._writer.execute("PRAGMA page_size").fetchone()[0]
        pages = self._writer.execute("PRAGMA page_count").fetchone()[0]
        free = self._writer.execute("PRAGMA freelist_count").fetchone()[0]
        try:
            wal = os.path.getsize(self.path + "-wal")
        except OSError:
            wal = 0
        return (pages - free) * page_size + wal

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()

    @contextmanager
    def _reader(self):
        connection = sqlite3.connect(self.path, timeout=30)
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        finally:
            connection.close()

    # -- writing -----------------------------------------------------------

    def insert(self, upload: PreparedUpload, received_at_ns: int | None = None) -> tuple[int, bool]:
        """Store an upload; returns (id, whether it was already stored).
        Retention is the caller's to run afterwards (after answering)."""
        received_at_ns = received_at_ns or time.time_ns()
        key = dedupe_key(upload)
        with self._write_lock:
            cursor = self._writer.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                existing = cursor.execute("SELECT id FROM profiles WHERE dedupe_key = ?", (key,)).fetchone()
                if existing is not None:
                    cursor.execute("COMMIT")
                    return existing[0], True
                cursor.execute(
                    "INSERT INTO profiles (received_at_ns, start_ns, end_ns, duration_ns, service, env,"
                    " version, host, runtime, family, source, event_json, request_headers_json,"
                    " totals_json, cpu_cores, alloc_bytes_per_sec, stored_bytes, dedupe_key)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (received_at_ns, upload.event.start_ns, upload.event.end_ns, upload.duration_ns,
                     upload.service, upload.env, upload.version, upload.host, upload.runtime,
                     upload.event.family, upload.source, upload.event_json,
                     json.dumps(upload.request_headers), json.dumps(upload.totals),
                     upload.cpu_cores, upload.alloc_bytes_per_sec, row_bytes(upload), key))
                profile_id = cursor.lastrowid
                cursor.executemany(
                    "INSERT INTO profile_tags (profile_id, position, key, value) VALUES (?,?,?,?)",
                    [(profile_id, i, k, v) for i, (k, v) in enumerate(upload.event.tags)])
                cursor.executemany(
                    "INSERT INTO attachments (profile_id, position, name, kind, encoding, data)"
                    " VALUES (?,?,?,?,?,?)",
                    [(profile_id, i, a.name, a.kind, a.encoding, a.data)
                     for i, a in enumerate(upload.attachments)])
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return profile_id, False

    def _delete_ids(self, cursor, ids: list[int]) -> None:
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            marks = ",".join("?" * len(batch))
            for table, column in (("attachments", "profile_id"), ("profile_tags", "profile_id"),
                                  ("profiles", "id")):
                cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", batch)

    def enforce_retention(self, now_ns: int | None = None) -> int:
        """Delete profiles older than the retention age, then the oldest ones
        until the stored bytes fit the size limit.  Returns how many went."""
        now_ns = now_ns or time.time_ns()
        with self._write_lock:
            cursor = self._writer.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                doomed: list[int] = []
                if self.retention_hours is not None:
                    cutoff = now_ns - int(self.retention_hours * 3600e9)
                    doomed += [row[0] for row in cursor.execute(
                        "SELECT id FROM profiles WHERE received_at_ns < ?", (cutoff,))]
                if self.max_total_bytes is not None:
                    total = cursor.execute("SELECT COALESCE(SUM(stored_bytes), 0) FROM profiles"
                                           ).fetchone()[0]
                    # Scale the rows' own bytes by the database's real overhead
                    # (indexes, page slack, WAL) so that the file fits the limit.
                    real = self.database_bytes()
                    overhead = max(1.0, real / total) if total else 1.0
                    total = int(total * overhead)
                    already = set(doomed)
                    for profile_id, size in cursor.execute(
                            "SELECT id, stored_bytes FROM profiles ORDER BY received_at_ns, id").fetchall():
                        if total <= self.max_total_bytes:
                            break
                        total -= int(size * overhead)
                        if profile_id not in already:
                            doomed.append(profile_id)
                self._delete_ids(cursor, doomed)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            if doomed:
                self._writer.execute("PRAGMA incremental_vacuum")
            if doomed or self.max_total_bytes is not None:
                # Fold the WAL back into the file and truncate it: its bytes count.
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(doomed)

    # -- reading -----------------------------------------------------------

    def count(self) -> int:
        with self._reader() as db:
            return db.execute("SELECT COUNT(*) FROM profiles").fetchone()[0]

    def total_stored_bytes(self) -> int:
        with self._reader() as db:
            return db.execute("SELECT COALESCE(SUM(stored_bytes), 0) FROM profiles").fetchone()[0]

    def list_profiles(self, profile_filter: ProfileFilter, limit: int, offset: int) -> tuple[list[dict], int]:
        where, params = profile_filter.sql_where()
        with self._reader() as db:
            total = db.execute(f"SELECT COUNT(*) FROM profiles p WHERE {where}", params).fetchone()[0]
            rows = db.execute(
                f"SELECT {LIST_COLUMNS} FROM profiles p WHERE {where}"
                " ORDER BY p.start_ns DESC, p.id DESC LIMIT ? OFFSET ?", params + [limit, offset]).fetchall()
        return [_row_to_summary(row) for row in rows], total

    def matching_ids(self, profile_filter: ProfileFilter, limit: int) -> list[int]:
        where, params = profile_filter.sql_where()
        with self._reader() as db:
            return [row[0] for row in db.execute(
                f"SELECT id FROM profiles p WHERE {where} ORDER BY p.start_ns DESC, p.id DESC LIMIT ?",
                params + [limit])]

    def facet_counts(self, profile_filter: ProfileFilter) -> dict[str, list[dict]]:
        """Counts per facet value.  Each facet is counted under every other
        selected filter but not its own, so picking one value still shows
        the alternatives to add."""
        result = {}
        with self._reader() as db:
            for facet, column in FACET_COLUMNS.items():
                where, params = profile_filter.without_facet(facet).sql_where()
                rows = db.execute(
                    f"SELECT p.{column} AS value, COUNT(*) AS count FROM profiles p WHERE {where}"
                    f" GROUP BY p.{column} ORDER BY count DESC, value", params).fetchall()
                result[facet] = [{"value": row["value"], "count": row["count"]} for row in rows]
        return result

    def get_profile(self, profile_id: int) -> dict | None:
        with self._reader() as db:
            row = db.execute(f"SELECT {LIST_COLUMNS}, event_json, request_headers_json FROM profiles"
                             " WHERE id = ?", (profile_id,)).fetchone()
            if row is None:
                return None
            tags = db.execute("SELECT key, value FROM profile_tags WHERE profile_id = ? ORDER BY position",
                              (profile_id,)).fetchall()
            attachments = db.execute(
                "SELECT name, kind, encoding, LENGTH(data) AS size FROM attachments"
                " WHERE profile_id = ? ORDER BY position", (profile_id,)).fetchall()
        profile = _row_to_summary(row)
        profile.pop("event_json")
        profile.pop("request_headers_json")
        profile["event"] = json.loads(row["event_json"])
        profile["request_headers"] = json.loads(row["request_headers_json"])
        profile["tags"] = [{"key": t["key"], "value": t["value"]} for t in tags]
        profile["attachments"] = [dict(a) for a in attachments]
        return profile

    def get_attachment(self, profile_id: int, name: str) -> dict | None:
        """One attachment with its bytes (downloads.default_download names the
        one a Download without a name gives)."""
        with self._reader() as db:
            row = db.execute("SELECT name, kind, encoding, data FROM attachments WHERE profile_id = ?"
                             " AND name = ?", (profile_id, name)).fetchone()
        return dict(row) if row else None

    def pprof_attachments(self, profile_id: int) -> list[tuple[str, bytes]]:
        """(name, bytes as received) of each pprof attachment, in upload order."""
        with self._reader() as db:
            return [(row[0], row[1]) for row in db.execute(
                "SELECT name, data FROM attachments WHERE profile_id = ? AND kind = ? ORDER BY position",
                (profile_id, KIND_PPROF))]

    def service_metrics(self, service: str, profile_filter: ProfileFilter, limit: int) -> list[dict]:
        where, params = profile_filter.sql_where()
        with self._reader() as db:
            rows = db.execute(
                "SELECT * FROM (SELECT id, start_ns, end_ns, duration_ns, env, host, runtime, cpu_cores,"
                f" alloc_bytes_per_sec FROM profiles p WHERE p.service = ? AND {where}"
                " ORDER BY p.start_ns DESC LIMIT ?) ORDER BY start_ns", [service] + params + [limit]).fetchall()
        return [dict(row) for row in rows]
