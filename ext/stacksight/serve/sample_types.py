"""Names the explorer shows for pprof sample types.

Profiles name their values ``type/unit`` (``cpu-time/nanoseconds``); users
know them by the names of the Search Profiles page (``CPU``, ``Lock Wait
Time``).  The order here is the order of the profile-type switch.
"""

from __future__ import annotations

DISPLAY_NAMES = {
    "cpu-time": "CPU",
    "wall-time": "Wall Time",
    "heap-space": "Heap Live Size",
    "alloc-space": "Allocated Memory",
    "alloc-samples": "Allocations",
    "exception-samples": "Thrown Exceptions",
    "lock-acquire-wait": "Lock Wait Time",
    "lock-release-hold": "Locked Time",
    "lock-acquire": "Lock Acquires",
    "lock-release": "Lock Releases",
    "heap-live-samples": "Heap Live Objects",
    "cpu-samples": "CPU Samples",
    "wall-samples": "Wall Samples",
    # Go runtime profiles (renamed by profile_types.py).
    "mutex-delay": "Mutex",
    "mutex-contentions": "Mutex Contentions",
    "block-delay": "Block",
    "block-contentions": "Block Contentions",
    "contention-delay": "Contention",
    "contention-contentions": "Contentions",
    "goroutines": "Goroutines",
}

# Types that measure a state at one moment (what is live now), not events
# over the profile's period: merging adds processes, never snapshots in time.
SNAPSHOT_TYPES = frozenset({"heap-space", "heap-live-samples", "inuse_space", "inuse_objects", "goroutine",
                            "goroutines"})

PREFERRED_DEFAULTS = ("cpu-time", "wall-time", "alloc-space", "heap-space")


def display_name(type_name: str, unit: str = "") -> str:
    if type_name in DISPLAY_NAMES:
        return DISPLAY_NAMES[type_name]
    return f"{type_name} ({unit})" if unit else type_name


def sort_key(type_name: str) -> tuple[int, str]:
    order = list(DISPLAY_NAMES)
    return (order.index(type_name) if type_name in order else len(order), type_name)


def default_type(available: list[str], declared_default: str = "") -> str | None:
    if declared_default in available:
        return declared_default
    for candidate in PREFERRED_DEFAULTS:
        if candidate in available:
            return candidate
    return sorted(available, key=sort_key)[0] if available else None
