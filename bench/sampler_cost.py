"""Micro-benchmark: stacksight's sampler CPU per thread-sample at a 64-frame stack.

Threads sit at exactly 64 Python frames (workloads/deep_stacks.py) while
stacksight samples at a high rate with the overhead cap lifted (so the
interval is not stretched); the figure is sampler_cpu_ns / thread_samples
from stacksight._native.stats(). The depth is proved from the profile the
run writes (median frames per sample of the deep threads, decoded with the
independent tests/python/pprof_pb.py); walker_frames / thread_samples shows
how many frames were really read (a thread whose stack did not change since
the last tick is not re-read). Cases: threads parked on an Event (stack
never changes) and busy threads whose leaf frame changes all the time, each
with many threads and with one; the difference between the two, per added
thread-sample, is the marginal cost of one 64-frame thread-sample without
the fixed per-tick cost (wake-up, clocks, bookkeeping)."""
from __future__ import annotations

import glob
import json
import os

from profilers import BENCH, Config, shell_line
import profile_shares  # noqa: F401 (puts tests/python, home of pprof_pb, on sys.path)
from runner import run_json

SCRIPT = os.path.join(BENCH, "sampler_cost_child.py")
CASES = [("parked", 32, False), ("parked-1", 1, False), ("busy", 4, True), ("busy-1", 1, True)]


def reported_depth(prefix: str) -> float | None:
    """Median number of frames in the written profile's samples of the deep threads."""
    import glob
    import statistics
    from profile_shares import _unzstd
    import pprof_pb
    depths = []
    for path in glob.glob(prefix + ".*.pprof"):
        with open(path, "rb") as f:
            prof = pprof_pb.decode_profile(_unzstd(f.read()))
        strings = prof.string_table
        fn = {x.id: strings[x.name] for x in prof.function}
        loc = {x.id: [fn.get(line.function_id, "") for line in x.line] for x in prof.location}
        for s in prof.sample:
            names = [n for lid in s.location_id for n in loc.get(lid, [])]
            if any(n.endswith("_descend") for n in names):
                depths.append(len(names))
    return statistics.median(depths) if depths else None


def marginal(cases, many, one):
    """Added per-tick cost of the extra threads divided by the added thread-samples."""
    a, b = cases.get(many), cases.get(one)
    if not a or not b or "us_per_tick" not in a or "us_per_tick" not in b:
        return None
    extra = a["thread_samples"] / max(1, a["ticks"]) - b["thread_samples"] / max(1, b["ticks"])
    return (a["us_per_tick"] - b["us_per_tick"]) / extra if extra > 0 else None


def run(seconds: float, hz: int, agent_url: str, log, out_dir: str, progress=print) -> dict:
    cfg = Config("ss_micro", f"stacksight {hz} Hz", "stacksight",
                 {"STACKSIGHT_SAMPLE_HZ": str(hz), "DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE": "100",
                  "DD_PROFILING_EXCEPTION_ENABLED": "false", "DD_PROFILING_LOCK_ENABLED": "false",
                  "DD_PROFILING_MEMORY_ENABLED": "false", "DD_PROFILING_HEAP_ENABLED": "false"})
    out = {"hz": hz, "seconds": seconds, "cases": {}, "commands": {}}
    for name, threads, busy in CASES:
        args = [SCRIPT, str(seconds), str(threads), "1" if busy else "0"]
        prefix = os.path.join(out_dir, f"deep_{name}")
        for old in glob.glob(prefix + ".*"):
            os.remove(old)
        argv, env = cfg.command(args, prefix, agent_url)
        out["commands"][name] = shell_line(argv, env)
        res = run_json(argv, env, timeout=60 + 3 * seconds, log=log)
        if not res["ok"]:
            out["cases"][name] = {"error": res["error"]}
            progress(f"  sampler cost: {name} failed: {res['error']}")
            continue
        st = res["result"]["stats"]
        n = max(1, st["thread_samples"])
        out["cases"][name] = {
            "threads": threads, "busy": busy, "ticks": st["ticks"], "thread_samples": st["thread_samples"],
            "frames_walked_per_sample": st["walker_frames"] / n,
            "frames_reported": reported_depth(prefix),
            "us_per_thread_sample": st["sampler_cpu_ns"] / n / 1e3,
            "us_per_tick": st["sampler_cpu_ns"] / max(1, st["ticks"]) / 1e3,
            "stretched_ticks": st["stretched_ticks"], "torn_samples": st["torn_samples"],
            "achieved_hz": st["ticks"] / res["result"]["seconds"],
        }
        progress(f"  sampler cost: {name}: {json.dumps(out['cases'][name])}")
    out["marginal_parked"] = marginal(out["cases"], "parked", "parked-1")
    out["marginal_busy"] = marginal(out["cases"], "busy", "busy-1")
    return out
