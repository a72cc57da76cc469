"""Give every runtime's sample types the names of the seed's measures.

stacksight and ddtrace name values ``cpu-time/nanoseconds``; the Go runtime
writes ``cpu/nanoseconds``, ``alloc_space/bytes``, ``inuse_space/bytes`` and,
for both its mutex and its block profile, ``contentions/count`` and
``delay/nanoseconds``; Java's profilers use yet other names.  The explorer,
the list and the metrics only know one vocabulary, so each decoded
attachment's sample types are renamed here.  The attachment's file name
decides between look-alikes: ``delay`` in ``delta-mutex.pprof`` is Mutex
wait, in ``delta-block.pprof`` it is Block wait, and the two are never
summed.
"""

from __future__ import annotations

from .pprof_reader import Profile, ValueType

# (type, unit) -> canonical type, for any attachment.
_COMMON = {
    ("samples", "count"): "cpu-samples",
    ("cpu", "nanoseconds"): "cpu-time",
    ("alloc_objects", "count"): "alloc-samples",
    ("alloc_space", "bytes"): "alloc-space",
    ("inuse_objects", "count"): "heap-live-samples",
    ("inuse_space", "bytes"): "heap-space",
    ("goroutine", "count"): "goroutines",
    ("goroutines", "count"): "goroutines",
    # Java (dd-trace-java / JFR conversions) and older ddtrace names.
    ("cpu", "count"): "cpu-samples",
    ("wall", "nanoseconds"): "wall-time",
    ("wall", "count"): "wall-samples",
    ("exception", "count"): "exception-samples",
    ("alloc", "bytes"): "alloc-space",
    ("alloc", "count"): "alloc-samples",
    ("heap", "bytes"): "heap-space",
    ("lock", "nanoseconds"): "lock-acquire-wait",
    ("lock", "count"): "lock-acquire",
}

# Types whose meaning depends on which profile they came from.
_CONTENTION = {("contentions", "count"): "contentions", ("delay", "nanoseconds"): "delay"}


def _contention_kind(attachment_name: str) -> str:
    name = attachment_name.lower()
    if "mutex" in name:
        return "mutex"
    if "block" in name:
        return "block"
    return "contention"


def canonical_type(attachment_name: str, type_name: str, unit: str) -> str:
    key = (type_name, unit)
    if key in _CONTENTION:
        return f"{_contention_kind(attachment_name)}-{_CONTENTION[key]}"
    return _COMMON.get(key, type_name)


def canonicalize(attachment_name: str, profile: Profile) -> Profile:
    """Rename ``profile``'s sample types in place (and its declared default)."""
    renamed = {}
    for index, value_type in enumerate(profile.sample_types):
        new_name = canonical_type(attachment_name, value_type.type, value_type.unit)
        renamed[value_type.type] = new_name
        profile.sample_types[index] = ValueType(new_name, value_type.unit)
    if profile.default_sample_type in renamed:
        profile.default_sample_type = renamed[profile.default_sample_type]
    return profile
