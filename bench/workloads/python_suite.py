"""Runs Python workloads in one process and prints their timings as one JSON line.

One process runs several workloads so a profiler's start-up (ddtrace's import
alone takes a second) is paid once per run and stays outside every timed
region. Each workload is timed in-process (wall and process CPU); when
stacksight is profiling this process, the sampler counters it added during
each workload come along, from stacksight._native.stats().

    python bench/workloads/python_suite.py --scale 1 cpu_nbody http_server
"""
import argparse
import importlib
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RESULT_PREFIX = "BENCH_RESULT "


def stacksight_stats():
    """Counters of a running stacksight profiler, or None when it is not profiling us."""
    native = sys.modules.get("stacksight._native")
    if native is None:
        return None
    stats = native.stats()
    return stats if stats.get("ticks") else None


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def delta(after, before):
    if after is None:
        return None
    if before is None:
        before = {}
    return {k: (v - before.get(k, 0) if isinstance(v, int) and k.startswith(
        ("ticks", "thread_samples", "sampler_cpu_ns", "walker_frames", "torn", "stretched")) else v)
        for k, v in after.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("workloads", nargs="+")
    args = ap.parse_args()
    results = {}
    time.sleep(0.3)   # let an in-process profiler finish starting its threads
    for name in args.workloads:
        module = importlib.import_module(f"workloads.{name}")
        s0, c0, t0 = stacksight_stats(), cpu_seconds(), time.perf_counter()
        extra = module.run(args.scale)
        elapsed = time.perf_counter() - t0
        results[name] = {"elapsed_s": elapsed, "cpu_s": cpu_seconds() - c0, "extra": extra,
                         "stacksight": delta(stacksight_stats(), s0)}
    results["_process"] = {"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                           "pid": os.getpid()}
    print(RESULT_PREFIX + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
