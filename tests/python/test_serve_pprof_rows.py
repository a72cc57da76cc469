"""The explorer's C pprof reader (serve/_pprof_rows) gives the same rows as
the pure-Python reader plus aggregation, on real profiles of the project's
own profiler and on generated ones, never accepts what the Python reader
refuses, and hands anything it doubts to the Python path."""

from __future__ import annotations

import glob
import gzip
import random
import subprocess
import sys

import pytest

import big_profile
import pprof_pb
from stacksight.serve import compression, profile_aggregate
from stacksight.serve.aggregate_cache import STORED_LIMITS
from stacksight.serve.pprof_reader import PprofDecodeError, decode_profile
from stacksight.serve.profile_types import canonicalize

pytestmark = pytest.mark.skipif(profile_aggregate._pprof_rows is None, reason="C reader not built")


def by_frames(aggregate, frames):
    """{((name, file) per frame, labels): {type: value}}: what every view is
    made from, independent of frame ids and row order."""
    out: dict = {}
    for row, (stack, labels) in enumerate(zip(aggregate.stacks, aggregate.label_sets)):
        key = (tuple((frames.names[f], frames.files[f]) for f in stack), labels)
        values = out.setdefault(key, {})
        for type_name, column in aggregate.values.items():
            values[type_name] = values.get(type_name, 0) + column[row]
    return out


def python_aggregate(attachments):
    frames = profile_aggregate.FrameTable()
    profiles = [canonicalize(name, decode_profile(compression.decompress(raw, 1 << 30)[1], STORED_LIMITS))
                for name, raw in attachments]
    return profile_aggregate.aggregate_profiles(7, profiles, frames), frames


def native_aggregate(attachments):
    frames = profile_aggregate.FrameTable()
    return profile_aggregate.aggregate_attachments(7, attachments, frames, STORED_LIMITS, 1 << 30), frames


def assert_same(attachments):
    (py, py_frames), (c, c_frames) = python_aggregate(attachments), native_aggregate(attachments)
    assert by_frames(c, c_frames) == by_frames(py, py_frames)
    assert c.types == py.types and c.totals == py.totals and c.default_type == py.default_type
    assert c.sample_count == py.sample_count and c.meta == py.meta
    assert [c_frames.lines[c_frames.find(n, f)[0]] for n, f in zip(py_frames.names[1:], py_frames.files[1:])] \
        == py_frames.lines[1:]
    return c, c_frames


def test_generated_3000_stack_profile_matches_python():
    rows = big_profile.service_rows(1000, 3000)
    raw = pprof_pb.encode_profile(big_profile.big_profile(rows=rows), "gzip")
    aggregate, frames = assert_same([("auto.pprof", raw)])
    assert aggregate.totals["wall-time"] == big_profile.expected_total(rows, "wall-time")
    # "thread id" names one thread: not a label set; "thread name" is.
    assert {key for labels in aggregate.label_sets for key, _ in labels} == {"thread name"}


def test_real_profiles_of_this_profiler_match_python(tmp_path):
    prefix = str(tmp_path / "real")
    program = f"""
import threading, time
from stacksight import Profiler
p = Profiler(output_pprof={prefix!r}, upload_interval=600).start()
lock = threading.Lock()
def work(n):
    end = time.monotonic() + 0.8
    while time.monotonic() < end:
        with lock:
            sum(range(n))
        try:
            raise KeyError(n)
        except KeyError:
            pass
        bytearray(n * 64)
threads = [threading.Thread(target=work, args=(i * 300,), name=f"w{{i}}") for i in range(1, 4)]
[t.start() for t in threads]
time.sleep(0.3)
[t.join() for t in threads]
p.stop()
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    files = sorted(glob.glob(prefix + "*.pprof"))
    assert files
    for path in files:
        raw = open(path, "rb").read()
        aggregate, _ = assert_same([("auto.pprof", raw)])
        assert aggregate.totals.get("cpu-time", 0) > 0


def test_attachments_with_clashing_location_ids_keep_their_own_stacks():
    # Both attachments number their locations from 1, for different functions.
    cpu = pprof_pb.build_profile([("cpu", "nanoseconds")], [(["main", "compute"], [30]), (["main"], [5])])
    heap = pprof_pb.build_profile([("inuse_space", "bytes")], [(["boot", "load"], [4096]), (["main"], [8])])
    attachments = [("cpu.pprof", pprof_pb.encode_profile(cpu)), ("delta-heap.pprof", pprof_pb.encode_profile(heap))]
    aggregate, frames = assert_same(attachments)
    rows = by_frames(aggregate, frames)
    app = "app.py"
    assert rows[(((("main", app), ("compute", app))), ())] == {"cpu-time": 30, "heap-space": 0}
    assert rows[((("boot", app), ("load", app)), ())] == {"cpu-time": 0, "heap-space": 4096}
    assert rows[((("main", app),), ())] == {"cpu-time": 5, "heap-space": 8}


def test_sum_past_int64_falls_back_to_python():
    big = (1 << 63) - 10
    message = pprof_pb.build_profile([("cpu-time", "nanoseconds")], [(["a"], [big], {"thread name": "t"})])
    message.sample.add(location_id=list(message.sample[0].location_id), value=[big],
                       label=[message.sample[0].label[0]])
    raw = pprof_pb.encode_profile(message)
    assert profile_aggregate._native_rows(gzip.decompress(raw), profile_aggregate.FrameTable(),
                                          STORED_LIMITS) is None
    aggregate, _ = native_aggregate([("auto.pprof", raw)])
    assert aggregate.totals["cpu-time"] == 2 * big


def test_damaged_messages_never_accepted_when_python_refuses():
    message = pprof_pb.build_profile(
        [("cpu-time", "nanoseconds"), ("wall-time", "nanoseconds")],
        [([("main", "app.py", 3), ("work", "lib.py", 40)], [10, 20], {"thread name": "T1", "span id": 7}),
         (["main"], [1, 2], {"exception type": "KeyError"})],
        period_type=("wall-time", "nanoseconds"), period=10, default_sample_type="wall-time", comments=["c"])
    data = message.SerializeToString()
    rng = random.Random(16)
    outcomes = {"both refuse": 0, "same rows": 0, "C doubts, Python accepts": 0}
    for trial in range(1500):
        damaged = bytearray(data)
        if trial % 3 == 0:
            damaged = damaged[:rng.randrange(len(damaged))]
        else:
            for _ in range(rng.randint(1, 3)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        damaged = bytes(damaged)
        frames = profile_aggregate.FrameTable()
        native = profile_aggregate._native_rows(damaged, frames, STORED_LIMITS)
        try:
            profile = decode_profile(damaged, STORED_LIMITS)
        except PprofDecodeError:
            assert native is None, f"C accepted what Python refused (trial {trial})"
            outcomes["both refuse"] += 1
            continue
        if native is None:
            outcomes["C doubts, Python accepts"] += 1
            continue
        py_frames = profile_aggregate.FrameTable()
        expected = by_frames(profile_aggregate.aggregate_profiles(1, [profile], py_frames), py_frames)
        got = by_frames(profile_aggregate._single_attachment(1, "x.pprof", native), frames)
        assert got == expected, f"trial {trial}"
        outcomes["same rows"] += 1
    assert outcomes["both refuse"] > 100 and outcomes["same rows"] > 100, outcomes
