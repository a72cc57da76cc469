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

``aggregate_attachments`` reads the stored bytes with the C reader in
``_pprof_rows`` (~14x faster than decoding in Python, which made a cold merge
of 200 profiles take 25 s) and falls back to ``pprof_reader`` when the C
module is missing or has any doubt about a message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from . import compression
from .pprof_reader import DecodeLimits, Profile, decode_profile
from .profile_types import canonical_type, canonicalize

try:
    from . import _pprof_rows
except ImportError:  # built without the extension: pure Python, slower
    _pprof_rows = None

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
        self._label_sets: dict[tuple, tuple] = {}  # one tuple object per distinct label set
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

    def label_set(self, pairs: tuple) -> tuple:
        return self._label_sets.setdefault(pairs, pairs)

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
    row_index: dict[tuple, int] = {}  # (stack, labels) -> row, across attachments
    stacks: list[tuple[int, ...]] = []
    label_sets: list[tuple] = []
    columns: list[list[int]] = [[] for _ in types]
    meta = []
    sample_count = 0
    for profile in profiles:
        # Where each of this attachment's values goes among all the types.
        targets = [type_names.index(value_type.type) for value_type in profile.sample_types]
        location_cache: dict[int, tuple[int, ...]] = {}
        # Location ids mean something only within their attachment.
        rows_by_locations: dict[tuple, int] = {}
        for sample in profile.samples:
            sample_count += 1
            labels = _label_set(sample) if sample.labels else ()
            labels = frames.label_set(labels)
            key = (tuple(sample.location_ids), labels)
            index = rows_by_locations.get(key)
            if index is None:
                stack: list[int] = []
                for location_id in reversed(sample.location_ids):  # root first
                    part = location_cache.get(location_id)
                    if part is None:
                        part = location_cache[location_id] = _location_frames(profile, frames, location_id)
                    stack.extend(part)
                shared = frames.stack(tuple(stack))
                index = row_index.get((shared, labels))
                if index is None:
                    index = row_index[(shared, labels)] = len(stacks)
                    stacks.append(shared)
                    label_sets.append(labels)
                    for column in columns:
                        column.append(0)
                rows_by_locations[key] = index
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


def _native_rows(data: bytes, frames: FrameTable, limits: DecodeLimits):
    """(header, stacks, label_sets, columns) of one pprof message from the C
    reader, or None when it has any doubt (then pure Python decides)."""
    if _pprof_rows is None:
        return None
    try:
        return _pprof_rows.aggregate(
            data, (limits.max_samples, limits.max_locations, limits.max_functions, limits.max_strings,
                   limits.max_location_refs),
            frames._ids, frames.intern, frames._stacks, frames._label_sets, UNGROUPED_LABEL_SUFFIXES)
    except (ValueError, OverflowError):
        return None


def aggregate_attachments(profile_id: int, attachments: list[tuple[str, bytes]], frames: FrameTable,
                          limits: DecodeLimits, max_decompressed: int) -> ProfileAggregate:
    """The aggregate of one stored profile from its compressed pprof
    attachments ``[(file name, bytes)]``, sample types renamed as the intake
    does (``profile_types``)."""
    decoded = []
    for name, raw in attachments:
        data = compression.decompress(raw, max_decompressed)[1]
        rows = _native_rows(data, frames, limits)
        if rows is None:
            decoded.append(("profile", canonicalize(name, decode_profile(data, limits))))
        else:
            decoded.append(("rows", (name, rows)))
    if all(kind == "profile" for kind, _ in decoded):
        return aggregate_profiles(profile_id, [item for _, item in decoded], frames)
    if len(decoded) == 1:
        return _single_attachment(profile_id, *decoded[0][1])
    # Several attachments (Go: cpu, heap, mutex...): rows merged by (stack,
    # labels); a Python-decoded one first goes through aggregate_profiles.
    parts = [_single_attachment(profile_id, *item) if kind == "rows"
             else aggregate_profiles(profile_id, [item], frames) for kind, item in decoded]
    return merge_parts(profile_id, parts)


def _single_attachment(profile_id: int, name: str, rows) -> ProfileAggregate:
    header, stacks, label_sets, columns = rows
    types: list[tuple[str, str]] = []
    values: dict[str, list[int]] = {}
    for (type_name, unit), column in zip(header["sample_types"], columns):
        canonical = canonical_type(name, type_name, unit)
        if canonical in values:  # the same type twice: its values add up
            values[canonical] = [a + b for a, b in zip(values[canonical], column)]
        else:
            types.append((canonical, unit))
            values[canonical] = column
    default = header["default_sample_type"]
    for type_name, unit in header["sample_types"]:
        if type_name == default:
            default = canonical_type(name, type_name, unit)
            break
    meta = {key: header[key] for key in ("time_nanos", "duration_nanos", "period", "comments", "samples")}
    period_type = header["period_type"]
    meta["period_type"] = {"type": period_type[0], "unit": period_type[1]} if period_type else None
    return ProfileAggregate(
        profile_id=profile_id, types=types, stacks=stacks, label_sets=label_sets, values=values,
        totals={type_name: sum(column) for type_name, column in values.items()}, meta=[meta],
        default_type=default, sample_count=header["samples"])


def merge_parts(profile_id: int, parts: list[ProfileAggregate]) -> ProfileAggregate:
    """One aggregate from several (of one profile's attachments)."""
    types: list[tuple[str, str]] = []
    for part in parts:
        types.extend(entry for entry in part.types if entry[0] not in (t for t, _ in types))
    row_index: dict[tuple, int] = {}
    stacks: list[tuple[int, ...]] = []
    label_sets: list[tuple] = []
    values: dict[str, list[int]] = {type_name: [] for type_name, _ in types}
    for part in parts:
        for row, key in enumerate(zip(part.stacks, part.label_sets)):
            index = row_index.get(key)
            if index is None:
                index = row_index[key] = len(stacks)
                stacks.append(key[0])
                label_sets.append(key[1])
                for column in values.values():
                    column.append(0)
            for type_name, column in part.values.items():
                values[type_name][index] += column[row]
    return ProfileAggregate(
        profile_id=profile_id, types=types, stacks=stacks, label_sets=label_sets, values=values,
        totals={name: sum(column) for name, column in values.items()},
        meta=[entry for part in parts for entry in part.meta],
        default_type=parts[0].default_type if parts else "", sample_count=sum(p.sample_count for p in parts))
