"""Interpret the ``event.json`` part of a Datadog profile upload.

The event carries everything about an upload except the profile itself:
the tags (``tags_profiler``: comma-joined ``key:value``), the start and end
of the profiled period as RFC 3339 timestamps with nanoseconds, the runtime
family and the profiler's own settings and statistics.  This module turns it
into plain Python values and says precisely what is wrong when it cannot.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field


class EventError(ValueError):
    pass


# 2024-05-01T12:00:00.123456789Z, 2024-05-01T12:00:00Z or with a +hh:mm offset.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))$")


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the Unix epoch, keeping every digit the client sent."""
    match = _RFC3339.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise EventError(f"timestamp {text!r} is not RFC 3339")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = (match.group(7) or "").ljust(9, "0")
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError) as error:
        raise EventError(f"timestamp {text!r} is out of range") from error
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second <= 60):
        raise EventError(f"timestamp {text!r} has an invalid field")
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == "+" else -offset
    ns = seconds * 1_000_000_000 + int(fraction)
    if not -(2 ** 63) <= ns < 2 ** 63:
        raise EventError(f"timestamp {text!r} is outside the int64 nanosecond range (years 1678-2262)")
    return ns


def format_rfc3339_ns(ns: int) -> str:
    import time
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def parse_tags(tags: str | list) -> list[tuple[str, str]]:
    """``"service:web,env:prod"`` → [("service", "web"), ("env", "prod")].

    Values may contain colons (split on the first one only); a list of
    ``key:value`` strings is accepted too because older clients send that.
    """
    if isinstance(tags, str):
        items = tags.split(",")
    elif isinstance(tags, list):
        items = tags
    else:
        raise EventError("tags_profiler must be a string of key:value pairs")
    pairs = []
    for item in items:
        if not isinstance(item, str):
            raise EventError("tags_profiler must be a string of key:value pairs")
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition(":")
        pairs.append((key.strip(), value.strip()))
    return pairs


@dataclass
class UploadEvent:
    raw: dict
    attachments: list[str]
    tags: list[tuple[str, str]]
    start_ns: int
    end_ns: int
    family: str
    info: dict = field(default_factory=dict)
    internal: dict = field(default_factory=dict)
    endpoint_counts: dict = field(default_factory=dict)

    def tag(self, key: str, default: str = "") -> str:
        for tag_key, value in self.tags:
            if tag_key == key:
                return value
        return default


def parse_event(data: bytes) -> UploadEvent:
    try:
        raw = json.loads(bytes(data).decode("utf-8"))
    except RecursionError as error:
        raise EventError("event.json is nested too deeply") from error
    except (UnicodeDecodeError, ValueError) as error:
        raise EventError(f"event.json does not parse: {error}") from error
    if not isinstance(raw, dict):
        raise EventError("event.json must be a JSON object")

    attachments = raw.get("attachments")
    if not isinstance(attachments, list) or not attachments \
            or not all(isinstance(name, str) and name for name in attachments):
        raise EventError("event.json 'attachments' must be a non-empty list of file names")
    if len(set(attachments)) != len(attachments):
        raise EventError("event.json 'attachments' lists a file twice")

    for key in ("start", "end"):
        if not isinstance(raw.get(key), str):
            raise EventError(f"event.json needs '{key}' as an RFC 3339 string")
    start_ns = parse_rfc3339_ns(raw["start"])
    end_ns = parse_rfc3339_ns(raw["end"])
    if end_ns < start_ns:
        raise EventError("event.json 'end' is before 'start'")

    tags = parse_tags(raw.get("tags_profiler") or "")
    family = raw.get("family", "")
    if not isinstance(family, str):
        raise EventError("event.json 'family' must be a string")

    def optional_object(key: str) -> dict:
        value = raw.get(key)
        return value if isinstance(value, dict) else {}

    return UploadEvent(raw=raw, attachments=attachments, tags=tags, start_ns=start_ns,
                       end_ns=end_ns, family=family, info=optional_object("info"),
                       internal=optional_object("internal"),
                       endpoint_counts=optional_object("endpoint_counts"))
