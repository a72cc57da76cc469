"""Turn a received upload into a validated record ready to be stored.

Everything that can be wrong with an upload is found here, before anything
touches the database, so that a rejected upload leaves no trace: the event is
parsed, every listed attachment must be present, every profile attachment
must decompress (gzip, zstd or plain) and decode as a pprof Profile, and the
totals the list page shows (CPU in cores, allocation rate) are computed once.
Failures raise ``IntakeError`` carrying the HTTP status and a reason for the
client.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import socket
import time
from dataclasses import dataclass, field

from . import compression
from .event import EventError, UploadEvent, format_rfc3339_ns, parse_event, parse_tags
from .multipart import Part
from .pprof_reader import DecodeLimits, PprofDecodeError, PprofTooLargeError, Profile, decode_profile
from .profile_types import canonicalize

# Request headers worth keeping: they identify the client that sent the upload.
KEPT_HEADERS = ("dd-evp-origin", "dd-evp-origin-version", "datadog-container-id", "user-agent")

KIND_PPROF = "pprof"
KIND_JSON = "json"
KIND_OPAQUE = "opaque"
# The Pyroscope form's sample_type_config field, stored as this attachment.
PYROSCOPE_CONFIG_ATTACHMENT = "sample_type_config.json"

AGENT_HOSTNAME = socket.gethostname()


class IntakeError(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class PreparedAttachment:
    name: str
    kind: str
    encoding: str
    data: bytes  # exactly as received


@dataclass
class PreparedUpload:
    source: str
    event: UploadEvent
    event_json: str
    attachments: list[PreparedAttachment]
    request_headers: dict[str, str]
    service: str
    env: str
    version: str
    host: str
    runtime: str
    duration_ns: int
    totals: list[dict] = field(default_factory=list)
    cpu_cores: float | None = None
    alloc_bytes_per_sec: float | None = None
    profiles: list[Profile] = field(default_factory=list)

    @property
    def stored_bytes(self) -> int:
        return len(self.event_json) + sum(len(a.data) for a in self.attachments)


def _is_pprof_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith((".pprof", ".pb", ".pb.gz", ".prof")) or lowered in ("profile", "pprof")


class _DecodeBudget:
    """What is left for the attachments of one upload: decoded bytes, and the
    pprof decoder's limits (samples, locations, functions, strings, location
    references, CPU seconds).  The limits hold for the upload as a whole, not
    per attachment: an upload of 30 attachments of 240k samples each took
    17 s of CPU and 0.8 GB when each attachment had the full limits."""

    def __init__(self, max_bytes: int, limits: DecodeLimits):
        self.max_bytes = max_bytes
        self.left = max_bytes
        self.limits = limits
        self.used = {"max_samples": 0, "max_locations": 0, "max_functions": 0, "max_strings": 0,
                     "max_location_refs": 0}
        self.cpu_start = time.thread_time()

    def take(self, decoded: bytes) -> None:
        self.left -= len(decoded)

    def shared(self) -> bool:
        """True once an earlier attachment has used part of the limits."""
        return any(self.used.values())

    def remaining_limits(self) -> DecodeLimits:
        spent = time.thread_time() - self.cpu_start
        left = {name: max(getattr(self.limits, name) - used, 0) for name, used in self.used.items()}
        return dataclasses.replace(self.limits, cpu_seconds=max(self.limits.cpu_seconds - spent, 0.0), **left)

    def take_profile(self, profile: Profile) -> None:
        self.used["max_samples"] += len(profile.samples)
        self.used["max_locations"] += len(profile.locations)
        self.used["max_functions"] += len(profile.functions)
        self.used["max_strings"] += len(profile.string_table)
        self.used["max_location_refs"] += sum(len(sample.location_ids) for sample in profile.samples)


def _decode_attachment(name: str, data: bytes, budget: _DecodeBudget) -> tuple[str, str, Profile | None]:
    """(kind, encoding, decoded profile or None).  Attachments that are not
    pprof or JSON by name (dd-trace-go's ``go.trace``, future formats) are
    kept as opaque files without being decoded."""
    if not (name.lower().endswith(".json") or _is_pprof_name(name)):
        return KIND_OPAQUE, compression.detect_encoding(data), None
    try:
        encoding, decoded = compression.decompress(data, max(budget.left, 0))
    except compression.UnsupportedEncodingError as error:
        raise IntakeError(415, f"attachment {name!r}: {error}") from error
    except compression.DecompressedTooLargeError as error:
        raise IntakeError(413, f"attachment {name!r}: decoded attachments exceed the limit of "
                               f"{budget.max_bytes} bytes per upload") from error
    except compression.DecompressionError as error:
        raise IntakeError(400, f"attachment {name!r}: {error}") from error
    budget.take(decoded)
    if name.lower().endswith(".json"):
        try:
            json.loads(decoded.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise IntakeError(400, f"attachment {name!r} is not JSON: {error}") from error
        return KIND_JSON, encoding, None
    shared = budget.shared()
    try:
        profile = decode_profile(decoded, budget.remaining_limits())
    except PprofTooLargeError as error:
        note = " (what the upload's earlier attachments left of its limits)" if shared else ""
        raise IntakeError(413, f"attachment {name!r}: {error}{note}") from error
    except PprofDecodeError as error:
        raise IntakeError(400, f"attachment {name!r} is not a pprof profile ({encoding}): {error}") from error
    budget.take_profile(profile)
    return KIND_PPROF, encoding, canonicalize(name, profile)


def _runtime_of(event: UploadEvent) -> str:
    runtime = event.tag("runtime")
    if runtime:
        return runtime
    family = event.family or event.tag("language")
    return {"python": "CPython", "ruby": "ruby", "go": "go"}.get(family, family)


def _complete(upload: PreparedUpload) -> PreparedUpload:
    """Compute the per-type totals and the two list measures."""
    totals: dict[str, dict] = {}
    for profile in upload.profiles:
        for index, value_type in enumerate(profile.sample_types):
            entry = totals.setdefault(value_type.type, {"type": value_type.type,
                                                         "unit": value_type.unit, "total": 0})
            entry["total"] += sum(sample.values[index] for sample in profile.samples)
    upload.totals = list(totals.values())
    duration_ns = upload.event.end_ns - upload.event.start_ns
    if duration_ns <= 0:
        duration_ns = max((p.duration_nanos for p in upload.profiles), default=0)
    upload.duration_ns = max(duration_ns, 0)
    if upload.duration_ns > 0:
        if "cpu-time" in totals:
            upload.cpu_cores = totals["cpu-time"]["total"] / upload.duration_ns
        if "alloc-space" in totals:
            upload.alloc_bytes_per_sec = totals["alloc-space"]["total"] / (upload.duration_ns / 1e9)
    return upload


@dataclass
class IntakeLimits:
    """What one upload may cost: decoded bytes and the pprof decoder's
    limits, both over all its attachments together."""
    max_decoded_bytes: int = 64 * 1024 * 1024
    decode: DecodeLimits = field(default_factory=DecodeLimits)


def _build_upload(source: str, event: UploadEvent, event_json: str, named_data: list[tuple[str, bytes]],
                  headers, limits: IntakeLimits) -> PreparedUpload:
    attachments = []
    profiles = []
    budget = _DecodeBudget(limits.max_decoded_bytes, limits.decode)
    for name, data in named_data:
        kind, encoding, profile = _decode_attachment(name, data, budget)
        attachments.append(PreparedAttachment(name, kind, encoding, bytes(data)))
        if profile is not None:
            profiles.append(profile)
    if not profiles:
        raise IntakeError(400, "upload has no pprof attachment")
    kept_headers = {key: headers.get(key) for key in KEPT_HEADERS if headers.get(key)}
    upload = PreparedUpload(
        source=source, event=event, event_json=event_json, attachments=attachments,
        request_headers=kept_headers, service=event.tag("service"), env=event.tag("env"),
        version=event.tag("version"),
        # A real agent adds its own hostname to what it forwards; so does serve.
        host=event.tag("host") or event.tag("hostname") or AGENT_HOSTNAME,
        runtime=_runtime_of(event), duration_ns=0, profiles=profiles)
    return _complete(upload)


def prepare_datadog_upload(parts: list[Part], headers, limits: IntakeLimits) -> PreparedUpload:
    by_name: dict[str, Part] = {}
    for part in parts:
        if part.name in by_name:
            raise IntakeError(400, f"part {part.name!r} appears twice")
        by_name[part.name] = part
    event_part = by_name.get("event")
    if event_part is None:
        raise IntakeError(400, "upload has no 'event' part (event.json)")
    try:
        event = parse_event(event_part.data)
    except EventError as error:
        raise IntakeError(400, str(error)) from error
    named_data = []
    for name in event.attachments:
        part = by_name.get(name)
        if part is None:
            raise IntakeError(400, f"attachment {name!r} is listed in event.json but not uploaded")
        named_data.append((name, part.data))
    event_json = bytes(event_part.data).decode("utf-8")
    return _build_upload("datadog", event, event_json, named_data, headers, limits)


_PYROSCOPE_NAME = re.compile(r"^([^{}]*)(?:\{(.*)\})?$")
_SPY_FAMILIES = {"pyspy": "python", "rbspy": "ruby", "pyroscope-python": "python",
                 "stacksight-python": "python", "stacksight-ruby": "ruby"}
INT64_LIMIT = 2 ** 63


def _unix_to_ns(text: str | None, fallback_ns: int) -> int:
    if not text:
        return fallback_ns
    try:
        value = float(text)
    except ValueError as error:
        raise IntakeError(400, f"'from'/'until' must be Unix seconds, got {text!r}") from error
    if not math.isfinite(value) or abs(value) >= 1e19:
        raise IntakeError(400, f"'from'/'until' must be a finite Unix time, got {text!r}")
    # Pyroscope documents seconds; accept milli/micro/nanoseconds by magnitude.
    scaled = value
    for limit, scale in ((1e11, 1e9), (1e14, 1e6), (1e17, 1e3)):
        if abs(value) < limit:
            scaled = value * scale
            break
    if abs(scaled) >= INT64_LIMIT:
        raise IntakeError(400, f"'from'/'until' {text!r} is outside the int64 nanosecond range")
    return int(scaled)


def prepare_pyroscope_upload(query: dict[str, list[str]], profile_bytes: bytes, headers,
                             limits: IntakeLimits, now_ns: int,
                             extra_attachments: list[tuple[str, bytes]] = ()) -> PreparedUpload:
    """``extra_attachments``: (name, bytes) kept beside the profile, such as
    the multipart form's sample_type_config (as PYROSCOPE_CONFIG_ATTACHMENT)."""
    name = (query.get("name") or [""])[0]
    match = _PYROSCOPE_NAME.match(name)
    if not name or not match:
        raise IntakeError(400, "Pyroscope ingest needs ?name=APP or ?name=APP{key=value,...}")
    fmt = (query.get("format") or ["pprof"])[0]
    if fmt != "pprof":
        raise IntakeError(415, f"only format=pprof is accepted, got {fmt!r}")
    tags = [("service", match.group(1).strip())]
    for item in (match.group(2) or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            tags.append((key.strip(), value.strip()))
    start_ns = _unix_to_ns((query.get("from") or [None])[0], now_ns)
    end_ns = _unix_to_ns((query.get("until") or [None])[0], now_ns)
    if end_ns < start_ns:
        raise IntakeError(400, "'until' is before 'from'")
    spy = (query.get("spyName") or [""])[0]
    attachment_names = ["profile.pprof"] + [name for name, _ in extra_attachments]
    raw_event = {
        "attachments": attachment_names,
        "tags_profiler": ",".join(f"{k}:{v}" for k, v in tags),
        "start": format_rfc3339_ns(start_ns), "end": format_rfc3339_ns(end_ns),
        "family": _SPY_FAMILIES.get(spy, "") or dict(tags).get("language", ""), "version": "pyroscope",
        "info": {"pyroscope": {k: v[0] for k, v in query.items()}},
    }
    event = UploadEvent(raw=raw_event, attachments=attachment_names, tags=parse_tags(raw_event["tags_profiler"]),
                        start_ns=start_ns, end_ns=end_ns, family=raw_event["family"],
                        info=raw_event["info"])
    return _build_upload("pyroscope", event, json.dumps(raw_event),
                         [("profile.pprof", profile_bytes), *extra_attachments], headers, limits)
