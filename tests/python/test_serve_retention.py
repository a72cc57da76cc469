"""Retention: profiles older than --retention-hours and the oldest beyond
--max-db-mb are deleted while the server runs."""

from __future__ import annotations

import sqlite3
import time

import pprof_pb
from serve_helpers.server import start_serve
from serve_helpers.uploads import cpu_profile, get_json, upload

TAGS = {"service": "svc", "env": "prod", "host": "h", "runtime": "CPython"}
HOUR_NS = 3600 * 1_000_000_000


def test_age_retention_deletes_old_profiles(tmp_path):
    server = start_serve(tmp_path / "p.db", retention_hours=2)
    try:
        ids = [upload(server.url, TAGS, start_ns=(1_700_000_000 + 60 * i) * 10**9) for i in range(3)]
        store = server.store
        assert store.enforce_retention(now_ns=time.time_ns() + HOUR_NS) == 0
        assert store.enforce_retention(now_ns=time.time_ns() + 3 * HOUR_NS) == 3
        assert get_json(server.url + "/api/profiles")["total"] == 0
        # Tags and attachments went with their profiles.
        with sqlite3.connect(server.db_path) as db:
            assert db.execute("SELECT COUNT(*) FROM profile_tags").fetchone()[0] == 0
            assert db.execute("SELECT COUNT(*) FROM attachments").fetchone()[0] == 0
        assert ids
    finally:
        server.stop()


def test_age_retention_runs_in_the_background(tmp_path):
    # 0.5 s retention, checked every 0.1 s.
    server = start_serve(tmp_path / "p.db", retention_hours=0.5 / 3600, retention_check_seconds=0.1)
    try:
        upload(server.url, TAGS)
        deadline = time.monotonic() + 10
        while server.store.count() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.store.count() == 0
    finally:
        server.stop()


def test_size_retention_keeps_the_newest_within_the_limit(tmp_path):
    profile_bytes = pprof_pb.encode_profile(cpu_profile(samples=4000), "plain")
    upload_size = len(profile_bytes)
    # Room for three uploads plus SQLite's own pages (schema, indexes).
    limit_mb = (upload_size * 3.5 + 96 * 1024) / (1024 * 1024)
    server = start_serve(tmp_path / "p.db", max_db_mb=limit_mb)
    try:
        # Distinct periods: identical uploads would be one (retries are de-duplicated).
        ids = [upload(server.url, TAGS, profile_bytes=profile_bytes, start_ns=(1_700_000_000 + 60 * i) * 10**9)
               for i in range(6)]
        server.store.enforce_retention()  # also runs in the background after each upload
        remaining = [row["id"] for row in get_json(server.url + "/api/profiles")["profiles"]]
        # The newest survive (index and page overhead may cost the third).
        assert 2 <= len(remaining) <= 3 and remaining == ids[::-1][:len(remaining)]
        # The real size counts: pages in use plus the WAL.
        assert server.store.database_bytes() <= limit_mb * 1024 * 1024
        assert get_json(server.url + "/api/stats")["profiles"] == len(remaining)
    finally:
        server.stop()


def test_database_uses_wal_and_survives_restart(tmp_path):
    server = start_serve(tmp_path / "p.db")
    profile_id = upload(server.url, TAGS)
    server.stop()
    with sqlite3.connect(tmp_path / "p.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    server = start_serve(tmp_path / "p.db")
    try:
        assert get_json(f"{server.url}/api/profiles/{profile_id}")["service"] == "svc"
    finally:
        server.stop()
