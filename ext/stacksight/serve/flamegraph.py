"""Aggregate pprof samples into a flame graph tree and a top-functions table.

The browser only draws; all aggregation happens here so the page stays small
and the JSON API can be tested directly.  Frames are identified by function
name and file (not by pprof ids), which is what lets samples from several
profiles – each with its own id space – merge into one graph.
"""

from __future__ import annotations

from collections import defaultdict

from .pprof_reader import Profile
from .sample_types import display_name

THREAD_NAME_LABEL = "thread name"
ROOT_NAME = "all"
# Nodes thinner than this share of the total cannot be seen or clicked in
# the graph; dropping them keeps the JSON small for deep, wide profiles.
DEFAULT_MIN_FRACTION = 0.0001
TOP_FUNCTIONS_LIMIT = 300


def _location_frames(profile: Profile, location_id: int) -> list[tuple[str, str]]:
    """Frames of one location, caller first.  pprof lists inlined functions
    callee first, the last line being the real caller."""
    location = profile.locations[location_id]
    frames = []
    for line in reversed(location.lines):
        function = profile.functions.get(line.function_id)
        if function is None:
            continue
        frames.append((function.name or function.system_name or "<unknown>", function.filename))
    if not frames:
        mapping = profile.mappings.get(location.mapping_id)
        where = mapping.filename if mapping and mapping.filename else "<unknown>"
        frames.append((f"0x{location.address:x}", where))
    return frames


def _thread_name(sample) -> str | None:
    for label in sample.labels:
        if label.key == THREAD_NAME_LABEL and label.str_value:
            return label.str_value
    return None


class _Node:
    __slots__ = ("value", "self_value", "children")

    def __init__(self):
        self.value = 0
        self.self_value = 0
        self.children: dict[tuple[str, str], _Node] = {}


def _to_json(frame: tuple[str, str], node: _Node, threshold: float) -> dict:
    children = [(key, child) for key, child in node.children.items() if abs(child.value) >= threshold]
    children.sort(key=lambda item: (-item[1].value, item[0]))
    return {"n": frame[0], "f": frame[1], "v": node.value, "s": node.self_value,
            "c": [_to_json(key, child, threshold) for key, child in children]}


def available_types(profiles: list[Profile]) -> list[dict]:
    seen: dict[str, dict] = {}
    for profile in profiles:
        for index, value_type in enumerate(profile.sample_types):
            entry = seen.setdefault(value_type.type, {
                "type": value_type.type, "unit": value_type.unit,
                "display": display_name(value_type.type, value_type.unit), "total": 0})
            entry["total"] += sum(sample.values[index] for sample in profile.samples)
    return list(seen.values())


def build_flamegraph(profiles: list[Profile], type_name: str, thread: str | None = None,
                     min_fraction: float = DEFAULT_MIN_FRACTION) -> dict:
    root = _Node()
    self_by_function: dict[tuple[str, str], int] = defaultdict(int)
    total_by_function: dict[tuple[str, str], int] = defaultdict(int)
    thread_values: dict[str, int] = defaultdict(int)
    unit = ""

    for profile in profiles:
        index = profile.sample_type_index(type_name)
        if index is None:
            continue
        unit = profile.sample_types[index].unit
        # Identical stacks are common: sum them before walking the tree.
        stacks: dict[tuple[int, ...], int] = defaultdict(int)
        for sample in profile.samples:
            value = sample.values[index]
            if not value:
                continue
            name = _thread_name(sample)
            if name is not None:
                thread_values[name] += value
            if thread is not None and name != thread:
                continue
            stacks[tuple(sample.location_ids)] += value
        frame_cache: dict[int, list[tuple[str, str]]] = {}
        for location_ids, value in stacks.items():
            frames: list[tuple[str, str]] = []
            for location_id in reversed(location_ids):  # root first
                if location_id not in frame_cache:
                    frame_cache[location_id] = _location_frames(profile, location_id)
                frames.extend(frame_cache[location_id])
            node = root
            node.value += value
            for frame in frames:
                child = node.children.get(frame)
                if child is None:
                    child = node.children[frame] = _Node()
                child.value += value
                node = child
            node.self_value += value
            if frames:
                self_by_function[frames[-1]] += value
                for frame in set(frames):  # recursion counts once per sample
                    total_by_function[frame] += value

    threshold = abs(root.value) * min_fraction
    top = sorted(total_by_function, key=lambda key: (-self_by_function.get(key, 0), -total_by_function[key], key))
    return {
        "type": type_name,
        "unit": unit,
        "display": display_name(type_name, unit),
        "total": root.value,
        "thread": thread,
        "threads": [{"name": name, "value": value}
                    for name, value in sorted(thread_values.items(), key=lambda item: (-item[1], item[0]))],
        "root": _to_json((ROOT_NAME, ""), root, threshold),
        "top_functions": [{"name": key[0], "file": key[1], "self": self_by_function.get(key, 0),
                           "total": total_by_function[key]} for key in top[:TOP_FUNCTIONS_LIMIT]],
    }
