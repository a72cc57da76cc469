"""Reads each profiler's own output and says what share of time it gives each function.

Shares are inclusive (a sample counts for a function if the function is
anywhere on its stack) and normalised over the functions asked about, so
they compare directly with the measured truth. Formats:
- pprof (stacksight, ddtrace): decoded with tests/python/pprof_pb.py, which is
  built on the protobuf package and shares no code with stacksight's encoder;
  the `cpu-time` column is used.
- py-spy `--format raw`: folded stacks, `frame;frame;... count` per line,
  each frame `name (file:line)`.
- pyinstrument `-r json`: a call tree whose nodes carry inclusive `time`.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

from profilers import REPO

sys.path.insert(0, os.path.join(REPO, "tests", "python"))


def _normalise(totals: dict) -> dict:
    s = sum(totals.values())
    return {k: (v / s if s else 0.0) for k, v in totals.items()}


def _base_name(name: str) -> str:
    """`Scheduler.step` / `module.func` / `func` -> last dotted part."""
    return name.rsplit(".", 1)[-1]


def _unzstd(data: bytes) -> bytes:
    """ddtrace writes zstd; decompress with the zstd tool when the module is absent."""
    if data[:4] != b"\x28\xb5\x2f\xfd":
        return data
    try:
        import zstandard
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 30)
    except ImportError:
        return subprocess.run(["zstd", "-dcq"], input=data, capture_output=True, check=True).stdout


def pprof_shares(prefix: str, functions, sample_type="cpu-time") -> dict | None:
    import pprof_pb   # noqa: E402 (needs tests/python on sys.path)
    totals = dict.fromkeys(functions, 0)
    files = sorted(p for p in glob.glob(prefix + ".*") if p.endswith(".pprof"))
    if not files:
        return None
    for path in files:
        with open(path, "rb") as f:
            prof = pprof_pb.decode_profile(_unzstd(f.read()))
        strings = prof.string_table
        col = None
        for i, vt in enumerate(prof.sample_type):
            if strings[vt.type] == sample_type:
                col = i
        if col is None:
            continue
        fn_name = {fn.id: _base_name(strings[fn.name]) for fn in prof.function}
        loc_fns = {loc.id: {fn_name.get(line.function_id) for line in loc.line} for loc in prof.location}
        for s in prof.sample:
            value = s.value[col]
            if not value:
                continue
            names = set()
            for lid in s.location_id:
                names |= loc_fns.get(lid, set())
            for fn in functions:
                if fn in names:
                    totals[fn] += value
    return _normalise(totals)


def pyspy_shares(path: str, functions) -> dict | None:
    if not os.path.exists(path):
        return None
    totals = dict.fromkeys(functions, 0)
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            names = {_base_name(frame.split(" (", 1)[0]) for frame in stack.split(";")}
            for fn in functions:
                if fn in names:
                    totals[fn] += int(count)
    return _normalise(totals)


def pyinstrument_shares(path: str, functions) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        tree = json.load(f)
    totals = dict.fromkeys(functions, 0.0)

    def walk(node, inside):
        name = _base_name(node.get("function", ""))
        counted = name in totals and name not in inside
        if counted:
            totals[name] += node.get("time", 0.0)
        inner = inside | {name} if counted else inside
        for child in node.get("children", []):
            walk(child, inner)

    walk(tree["root_frame"], frozenset())
    return _normalise(totals)


def shares_for(kind: str, out_prefix: str, functions) -> dict | None:
    if kind in ("stacksight", "ddtrace"):
        return pprof_shares(out_prefix, functions)
    if kind == "pyspy":
        return pyspy_shares(out_prefix + ".folded", functions)
    if kind == "pyinstrument":
        return pyinstrument_shares(out_prefix + ".json", functions)
    return None
