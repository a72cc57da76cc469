"""Micro-benchmark: stacksight's sampler CPU per thread-sample at a 64-frame stack.

Many threads sit at exactly 64 Python frames (workloads/deep_stacks.py) while
stacksight samples at a high rate with the overhead cap lifted (so the
interval is not stretched); the figure is sampler_cpu_ns / thread_samples
from stacksight._native.stats(), with walker_frames / thread_samples shown to
prove the depth. Two cases: threads parked on an Event (no CPU; the walk
alone) and threads spinning (frames in use, CPU clock read every tick).
The cost per tick (wake-up, clocks, bookkeeping) is spread over the threads;
the single-thread case shows it undivided."""
from __future__ import annotations

import json
import os

from profilers import BENCH, Config, shell_line
from runner import run_json

SCRIPT = os.path.join(BENCH, "sampler_cost_child.py")
CASES = [("parked", 32, False), ("busy", 4, True), ("single-parked", 1, False)]


def run(seconds: float, hz: int, agent_url: str, log, progress=print) -> dict:
    cfg = Config("ss_micro", f"stacksight {hz} Hz", "stacksight",
                 {"STACKSIGHT_SAMPLE_HZ": str(hz), "DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE": "100",
                  "DD_PROFILING_EXCEPTION_ENABLED": "false", "DD_PROFILING_LOCK_ENABLED": "false",
                  "DD_PROFILING_MEMORY_ENABLED": "false", "DD_PROFILING_HEAP_ENABLED": "false"})
    out = {"hz": hz, "seconds": seconds, "cases": {}, "commands": {}}
    for name, threads, busy in CASES:
        args = [SCRIPT, str(seconds), str(threads), "1" if busy else "0"]
        argv, env = cfg.command(args, "", agent_url)
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
            "frames_per_sample": st["walker_frames"] / n,
            "us_per_thread_sample": st["sampler_cpu_ns"] / n / 1e3,
            "us_per_tick": st["sampler_cpu_ns"] / max(1, st["ticks"]) / 1e3,
            "stretched_ticks": st["stretched_ticks"], "torn_samples": st["torn_samples"],
            "achieved_hz": st["ticks"] / res["result"]["seconds"],
        }
        progress(f"  sampler cost: {name}: {json.dumps(out['cases'][name])}")
    return out
