"""JSON API and pages of the profile explorer.

Maps GET paths to answers: the HTML/JS/CSS of the Search Profiles page from
``static/``, and the JSON endpoints the page (and the tests) use – profile
list, facet counts, one profile's details, its flame graph per sample type,
merged flame graphs across profiles, per-service metrics and the download of
an attachment (downloads.py).  Knows nothing of sockets: it returns ``Response``
objects that the HTTP layer writes out.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field

from .aggregate_cache import AggregateCache
from .aggregate_warmer import AggregateWarmer
from .downloads import DownloadError, default_download, download_form, prepare_download
from .filters import INT64_LIMIT, FilterError, ProfileFilter
from .graph_views import GraphViews
from .lost_samples import lost_samples
from .metrics_series import metrics_answer
from .sample_types import default_type, display_name, sort_key

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_MERGED_PROFILES = 200
MAX_METRIC_POINTS = 5000


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    gzip_body: bytes | None = None  # the body gzipped ahead of time (cached answers)


def json_response(payload, status: int = 200) -> Response:
    return Response(status, "application/json", json.dumps(payload).encode("utf-8"))


def error_response(status: int, reason: str) -> Response:
    return json_response({"error": reason}, status)


def _int_param(query, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [""])[0]
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise FilterError(f"{name} must be an integer") from error
    return max(low, min(high, value))


def _static_file(name: str) -> Response:
    # Only plain file names from the static folder: no path traversal.
    if not re.fullmatch(r"[A-Za-z0-9_-]+\.(html|js|css|svg)", name):
        return error_response(404, "no such file")
    path = os.path.join(STATIC_DIR, name)
    if not os.path.isfile(path):
        return error_response(404, "no such file")
    with open(path, "rb") as handle:
        body = handle.read()
    return Response(200, STATIC_TYPES[os.path.splitext(name)[1]], body, {"Cache-Control": "no-cache"})


def _safe_filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "profile"


class Explorer:
    def __init__(self, store, config_summary: dict | None = None):
        self.store = store
        self.aggregates = AggregateCache(store)
        self.graphs = GraphViews(self.aggregates)
        self._active = 0  # requests being answered: the warmer waits while there are any
        self._active_lock = threading.Lock()
        self.warmer = AggregateWarmer(store, self.aggregates, lambda: self._active > 0)
        self.config_summary = config_summary or {}
        self._lost_by_id: dict[int, dict | None] = {}

    def start_background_work(self) -> None:
        self.warmer.start()

    def stop_background_work(self) -> None:
        self.warmer.stop()

    def handle_get(self, path: str, query: dict[str, list[str]]) -> Response:
        with self._active_lock:
            self._active += 1
        try:
            return self._route(path, query)
        except FilterError as error:
            return error_response(400, str(error))
        finally:
            with self._active_lock:
                self._active -= 1

    def _route(self, path: str, query) -> Response:
        if path in ("/", "/index.html"):
            return _static_file("index.html")
        if re.fullmatch(r"/profiles/\d+", path) or path in ("/merged", "/compare"):
            return _static_file("profile.html")
        if path == "/favicon.ico":
            return _static_file("favicon.svg")
        if path.startswith("/static/"):
            return _static_file(path[len("/static/"):])
        if path == "/api/profiles":
            return self._list(query)
        if path == "/api/facets":
            return json_response({"facets": self.store.facet_counts(ProfileFilter.from_query(query))})
        if path == "/api/merged":
            return self._merged(query)
        if path == "/api/diff":
            return self._diff(query)
        if path == "/api/metrics":
            return self._metrics(query)
        if path == "/api/stats":
            return json_response({"profiles": self.store.count(),
                                  "stored_bytes": self.store.total_stored_bytes(), **self.config_summary})
        match = re.fullmatch(r"/api/profiles/(\d+)(?:/(flamegraph|download))?", path)
        if match:
            profile_id = int(match.group(1))
            if profile_id >= INT64_LIMIT:  # SQLite ids are int64: no such profile
                return error_response(404, f"profile {profile_id} not found")
            action = match.group(2)
            if action == "flamegraph":
                return self._flamegraph(profile_id, query)
            if action == "download":
                return self._download(profile_id, query)
            return self._profile(profile_id)
        return error_response(404, f"no route for {path}")

    def _list(self, query) -> Response:
        profile_filter = ProfileFilter.from_query(query)
        limit = _int_param(query, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        offset = _int_param(query, "offset", 0, 0, 1 << 62)
        rows, total = self.store.list_profiles(profile_filter, limit, offset)
        for row in rows:
            row["lost"] = self._lost(row["id"])
        return json_response({"profiles": rows, "total": total, "limit": limit, "offset": offset})

    def _lost(self, profile_id: int) -> dict | None:
        """Lost-sample figures of a stored profile (kept: profiles never change)."""
        if profile_id not in self._lost_by_id:
            detail = self.store.get_profile(profile_id) or {}
            if len(self._lost_by_id) > 100_000:
                self._lost_by_id.clear()
            self._lost_by_id[profile_id] = lost_samples(detail.get("event") or {})
        return self._lost_by_id[profile_id]

    def _profile(self, profile_id: int) -> Response:
        profile = self.store.get_profile(profile_id)
        if profile is None:
            return error_response(404, f"profile {profile_id} not found")
        for entry in profile["totals"]:
            entry["display"] = display_name(entry["type"], entry["unit"])
        profile["totals"].sort(key=lambda entry: sort_key(entry["type"]))
        declared = ""
        aggregate = self.aggregates.get(profile_id)
        if aggregate is not None:
            declared = aggregate.default_type
            profile["pprof"] = aggregate.meta
        profile["download_default"] = default_download(profile["attachments"])
        profile["lost"] = lost_samples(profile.get("event") or {})
        # Only a type with samples can be the default (an idle process's CPU is
        # empty; its wall time is not).
        profile["default_type"] = default_type([e["type"] for e in profile["totals"] if e["total"]], declared)
        return json_response(profile)

    def _graph_response(self, profile_ids: list[int], query, extra: dict, started: float) -> Response:
        body, packed = self.graphs.answer(profile_ids, query, extra)
        spent_ms = (time.perf_counter() - started) * 1000
        return Response(200, "application/json", body, {"Server-Timing": f"graph;dur={spent_ms:.1f}"},
                        gzip_body=packed)

    def _flamegraph(self, profile_id: int, query) -> Response:
        started = time.perf_counter()
        if self.aggregates.get(profile_id) is None:  # every stored upload has a pprof, so it is gone
            return error_response(404, f"profile {profile_id} not found")
        return self._graph_response([profile_id], query, {}, started)

    def _merged(self, query) -> Response:
        started = time.perf_counter()
        profile_filter = ProfileFilter.from_query(query)
        ids = self.store.matching_ids(profile_filter, MAX_MERGED_PROFILES + 1)
        truncated = len(ids) > MAX_MERGED_PROFILES
        return self._graph_response(ids[:MAX_MERGED_PROFILES], query, {"truncated": truncated}, started)

    def _diff(self, query) -> Response:
        """Side B against side A.  Each side is a filter: keys prefixed ``a.``
        or ``b.`` (``a.ids=3``, ``b.version=1.1``) plus the unprefixed filter
        keys both share (``service=web``)."""
        started = time.perf_counter()
        shared = {key: values for key, values in query.items() if not key.startswith(("a.", "b."))}
        sides = {}
        for side in ("a", "b"):
            own = {key[2:]: values for key, values in query.items() if key.startswith(side + ".")}
            if not own:
                raise FilterError(f"a diff needs side {side.upper()}: {side}.ids=… or {side}.<facet>=…")
            profile_filter = ProfileFilter.from_query({**shared, **own})
            ids = self.store.matching_ids(profile_filter, MAX_MERGED_PROFILES + 1)
            if not ids:
                raise FilterError(f"side {side.upper()} matches no profile")
            sides[side] = {"ids": ids[:MAX_MERGED_PROFILES], "truncated": len(ids) > MAX_MERGED_PROFILES,
                           "filter": {key: values for key, values in own.items()}}
        extra = {"diff": {side: {"filter": sides[side]["filter"], "truncated": sides[side]["truncated"]}
                          for side in sides}}
        body, packed = self.graphs.answer(sides["b"]["ids"], query, extra, base_ids=sides["a"]["ids"])
        spent_ms = (time.perf_counter() - started) * 1000
        return Response(200, "application/json", body, {"Server-Timing": f"graph;dur={spent_ms:.1f}"},
                        gzip_body=packed)

    def _metrics(self, query) -> Response:
        return json_response(metrics_answer(self.store, query, MAX_METRIC_POINTS))

    def _download(self, profile_id: int, query) -> Response:
        name = query.get("attachment", [None])[0]
        try:
            form = download_form(query)
        except DownloadError as error:
            return error_response(400, str(error))
        summary = self.store.get_profile(profile_id) or {}
        if name is None:
            name = default_download(summary.get("attachments") or [])
        attachment = self.store.get_attachment(profile_id, name) if name is not None else None
        if attachment is None:
            return error_response(404, f"profile {profile_id} has no such attachment")
        download = prepare_download(attachment, form)
        filename = _safe_filename(f"{summary.get('service') or 'profile'}-{profile_id}-{attachment['name']}")
        return Response(200, "application/octet-stream", download.data, {
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Stacksight-Encoding": download.encoding})
