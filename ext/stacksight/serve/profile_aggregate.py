"""One stored profile boiled down to what the explorer's views need.

A decoded pprof is large (every sample, location and function as Python
objects) and has its own id space.  Every view – flame graph per type, thread
filter, group-by label, inverted, sandwich, merge, diff – only needs the
distinct (stack, labels) rows with one value per sample type, and frames
identified by function name and file so that profiles merge.  This module
makes that once per profile; ``aggregate_cache`` keeps the results.

Frames are interned in a ``FrameTable`` shared by all aggregates, so a stack
is a tuple of small ints (root first) and merging profiles is adding values
of equal tuples.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .pprof_reader import Profile

# Label keys that identify one thing (a thread, a span) rather than a group
# worth looking at: keeping them would make every row distinct.
UNGROUPED_LABEL_SUFFIXES = (" id", "-id", "_id")
FRAME_KIND_PYTHON = "python"
FRAME_KIND_RUBY = "ruby"
FRAME_KIND_NATIVE = "native"
FRAME_KIND_PROFILER = "profiler"  # frames the profiler adds: [other stacks], [interner full], ...
FRAME_KIND_OTHER = "other"


def frame_kind(name: str, filename: str) -> str:
    if name.startswith("[") and name.endswith("]"):
        return FRAME_KIND_PROFILER
    lower = filename.lower()
    if lower.endswith((".py", ".pyx", ".pyw")) or lower.startswith("<frozen"):
        return FRAME_KIND_PYTHON
    if lower.endswith(".rb") or lower.startswith("<internal:"):
        return FRAME_KIND_RUBY
    if (name.startswith("0x") or not filename or lower.endswith((".so", ".c", ".h", ".cc", ".cpp"))
            or ".so." in lower or lower in ("<native>", "<cfunc>", "<c function>")):
        return FRAME_KIND_NATIVE
    return FRAME_KIND_OTHER


class FrameTable:
    """Interned frames: id -> (name, file, line, kind).  Id 0 is the root."""

    def __init__(self):
        self.names: list[str] = ["all"]
        self.files: list[str] = [""]
        self.lines: list[int] = [0]       # first line seen (function start or sample line)
        self.kinds: list[str] = [FRAME_KIND_OTHER]
        self._ids: dict[tuple[str, str], int] = {}
        self._stacks: dict[tuple[int, ...], tuple[int, ...]] = {}  # one tuple object per distinct stack
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.names)

    def intern(self, name: str, filename: str, line: int) -> int:
        key = (name, filename)
        frame_id = self._ids.get(key)
        if frame_id is not None:
            return frame_id
        with self._lock:
            frame_id = self._ids.get(key)
            if frame_id is None:
                frame_id = len(self.names)
                self.names.append(name)
                self.files.append(filename)
                self.lines.append(line)
                self.kinds.append(frame_kind(name, filename))
                self._ids[key] = frame_id
        return frame_id

    def stack(self, frame_ids: tuple[int, ...]) -> tuple[int, ...]:
        """The shared tuple for this stack: successive profiles of a service
        repeat most stacks, and each then costs one pointer per row."""
        return self._stacks.setdefault(frame_ids, frame_ids)

    def stack_count(self) -> int:
        return len(self._stacks)

    def find(self, name: str, filename: str | None = None) -> list[int]:
        """Ids of frames with this name (and file, when given)."""
        if filename is not None:
            frame_id = self._ids.get((name, filename))
            return [frame_id] if frame_id is not None else []
        return [frame_id for (frame_name, _), frame_id in self._ids.items() if frame_name == name]


@dataclass
class ProfileAggregate:
    """Distinct rows of one stored profile (all its pprof attachments)."""
    profile_id: int
    types: list[tuple[str, str]]                   # (type, unit) in first-seen order
    stacks: list[tuple[int, ...]]                  # frame ids, root first
    label_sets: list[tuple[tuple[str, str], ...]]  # sorted (key, value) pairs per row
    values: dict[str, list[int]]                   # type -> value per row
    totals: dict[str, int]                         # type -> sum of values
    meta: list[dict] = field(default_factory=list)  # per attachment: time, duration, period, ...
    default_type: str = ""
    sample_count: int = 0
    process: str = ""    # which process made it (runtime-id tag): snapshots merge per process
    start_ns: int = 0

    def row_count(self) -> int:
        return len(self.stacks)


def _location_frames(profile: Profile, frames: FrameTable, location_id: int) -> tuple[int, ...]:
    """Frame ids of one location, caller first.  pprof lists inlined
    functions callee first, the last line being the real caller."""
    location = profile.locations[location_id]
    ids = []
    for line in reversed(location.lines):
        function = profile.functions.get(line.function_id)
        if function is None:
            continue
        ids.append(frames.intern(function.name or function.system_name or "<unknown>", function.filename,
                                 function.start_line or line.line))
    if not ids:
        mapping = profile.mappings.get(location.mapping_id)
        where = mapping.filename if mapping and mapping.filename else "<unknown>"
        ids.append(frames.intern(f"0x{location.address:x}", where, 0))
    return tuple(ids)


def _label_set(sample) -> tuple[tuple[str, str], ...]:
    pairs = [(label.key, label.str_value) for label in sample.labels
             if label.str_value and not label.key.endswith(UNGROUPED_LABEL_SUFFIXES)]
    if not pairs:
        return ()
    pairs.sort()
    return tuple(pairs)


def aggregate_profiles(profile_id: int, profiles: list[Profile], frames: FrameTable) -> ProfileAggregate:
    types: list[tuple[str, str]] = []
    for profile in profiles:
        for value_type in profile.sample_types:
            if value_type.type not in (t for t, _ in types):
                types.append((value_type.type, value_type.unit))
    type_names = [name for name, _ in types]
    # Rows are keyed by frame stack and labels: location ids are only unique
    # within one attachment (a Go upload's cpu.pprof and goroutines.pprof
    # both number theirs from 1), so they key a per-attachment cache only.
    row_index: dict[tuple, int] = {}
    stacks: list[tuple[int, ...]] = []
    label_sets: list[tuple] = []
    columns: list[list[int]] = [[] for _ in types]
    meta = []
    sample_count = 0
    for profile in profiles:
        # Where each of this attachment's values goes among all the types.
        targets = [type_names.index(value_type.type) for value_type in profile.sample_types]
        location_cache: dict[int, tuple[int, ...]] = {}
        label_cache: dict[tuple, tuple] = {}
        row_of_locations: dict[tuple, int] = {}  # (location ids, labels) -> row, this attachment only
        for sample in profile.samples:
            sample_count += 1
            labels = _label_set(sample) if sample.labels else ()
            labels = label_cache.setdefault(labels, labels)
            key = (tuple(sample.location_ids), labels)
            index = row_of_locations.get(key)
            if index is None:
                stack: list[int] = []
                for location_id in reversed(sample.location_ids):  # root first
                    part = location_cache.get(location_id)
                    if part is None:
                        part = location_cache[location_id] = _location_frames(profile, frames, location_id)
                    stack.extend(part)
                interned = frames.stack(tuple(stack))
                index = row_index.get((interned, labels))
                if index is None:
                    index = row_index[(interned, labels)] = len(stacks)
                    stacks.append(interned)
                    label_sets.append(labels)
                    for column in columns:
                        column.append(0)
                row_of_locations[key] = index
            for target, value in zip(targets, sample.values):
                if value:
                    columns[target][index] += value
        meta.append({"time_nanos": profile.time_nanos, "duration_nanos": profile.duration_nanos,
                     "period": profile.period, "comments": profile.comments,
                     "period_type": profile.period_type.__dict__ if profile.period_type else None,
                     "samples": len(profile.samples)})
    values = {name: column for name, column in zip(type_names, columns)}
    return ProfileAggregate(
        profile_id=profile_id, types=types, stacks=stacks, label_sets=label_sets, values=values,
        totals={name: sum(column) for name, column in values.items()}, meta=meta,
        default_type=profiles[0].default_sample_type if profiles else "", sample_count=sample_count)
