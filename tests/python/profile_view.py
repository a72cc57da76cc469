"""Readable view of a decoded pprof for assertions: stacks by name, labels, totals.

Decoding is done by pprof_pb (the protobuf package with a hand-written
descriptor), never by stacksight's own code."""
from __future__ import annotations

import glob
import os
from collections import defaultdict
from dataclasses import dataclass, field

from pprof_pb import decode_profile


@dataclass
class Sample:
    stack: list[str]                 # function names, leaf first
    lines: list[int]
    files: list[str]
    values: dict[str, int]
    labels: dict[str, object] = field(default_factory=dict)


class ProfileView:
    def __init__(self, data: bytes):
        self.message = decode_profile(data)
        p = self.message
        s = p.string_table
        assert s[0] == "", "string_table[0] must be empty"
        self.sample_types = [s[vt.type] for vt in p.sample_type]
        self.units = {s[vt.type]: s[vt.unit] for vt in p.sample_type}
        functions = {f.id: f for f in p.function}
        locations = {loc.id: loc for loc in p.location}
        assert len(functions) == len(p.function) and 0 not in functions
        assert len(locations) == len(p.location) and 0 not in locations
        self.time_nanos = p.time_nanos
        self.duration_nanos = p.duration_nanos
        self.period = p.period
        self.samples: list[Sample] = []
        for sample in p.sample:
            assert len(sample.value) == len(self.sample_types)
            names, lines, files = [], [], []
            for loc_id in sample.location_id:
                loc = locations[loc_id]
                for line in loc.line:
                    fn = functions[line.function_id]
                    names.append(s[fn.name])
                    files.append(s[fn.filename])
                    lines.append(line.line)
            labels = {}
            for label in sample.label:
                labels[s[label.key]] = s[label.str] if label.str else label.num
            self.samples.append(Sample(names, lines, files, dict(zip(self.sample_types, sample.value)), labels))

    def total(self, sample_type: str, where=None) -> int:
        return sum(smp.values.get(sample_type, 0) for smp in self.samples if where is None or where(smp))

    def self_by_function(self, sample_type: str) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for smp in self.samples:
            if smp.stack:
                out[smp.stack[0]] += smp.values.get(sample_type, 0)
        return dict(out)

    def total_by_function(self, sample_type: str) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for smp in self.samples:
            for name in set(smp.stack):
                out[name] += smp.values.get(sample_type, 0)
        return dict(out)

    def by_label(self, key: str, sample_type: str) -> dict[object, int]:
        out: dict[object, int] = defaultdict(int)
        for smp in self.samples:
            out[smp.labels.get(key)] += smp.values.get(sample_type, 0)
        return dict(out)


def load(path: str) -> ProfileView:
    with open(path, "rb") as f:
        return ProfileView(f.read())


def merged(paths) -> list[ProfileView]:
    return [load(p) for p in sorted(paths)]


def profile_files(prefix: str) -> list[str]:
    """Files written for DD_PROFILING_OUTPUT_PPROF=prefix, in (pid, seq) order."""
    def key(path):
        parts = os.path.basename(path).split(".")
        return int(parts[-3]), int(parts[-2])
    return sorted(glob.glob(prefix + ".*.*.pprof"), key=key)
