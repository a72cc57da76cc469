"""Where the sampler's own CPU goes, from `perf record` of the 64-frame micro-benchmark.

Explains the per-thread-sample figure: perf samples of the sidecar sampler
thread (named stacksight-smp) while 4 threads run at 64 frames, and its time is
split by what it was inside (inclusive): safe memory reads through
process_vm_readv, thread CPU clock reads, aggregation of stacks
(ss_buffer_add), everything else. Needs Linux `perf` with permission to
record the process; otherwise the section says why it is missing."""
from __future__ import annotations

import collections
import os
import shutil
import subprocess
import tempfile

from profilers import BENCH, Config, REPO
from runner import clean_env

BUCKETS = [("safe reads (process_vm_readv)", ("process_vm_readv",)),
           ("thread CPU clock reads", ("clock_gettime", "posix_cpu_clock_get")),
           ("stack aggregation (ss_buffer_add)", ("ss_buffer_add",)),
           ("thread names", ("ssp_thread_names_get",))]


def run(seconds: float, hz: int, agent_url: str) -> dict:
    if shutil.which("perf") is None:
        return {"error": "perf is not installed"}
    cfg = Config("ss_perf", "", "stacksight",
                 {"STACKSIGHT_SAMPLE_HZ": str(hz), "DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE": "100",
                  "DD_PROFILING_EXCEPTION_ENABLED": "false", "DD_PROFILING_LOCK_ENABLED": "false",
                  "DD_PROFILING_MEMORY_ENABLED": "false", "DD_PROFILING_HEAP_ENABLED": "false"})
    argv, env = cfg.command([os.path.join(BENCH, "sampler_cost_child.py"), str(seconds), "4", "1"], "", agent_url)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        rec = subprocess.run(["perf", "record", "-q", "-F", "4000", "-g", "-o", data, "--"] + argv,
                             env=clean_env(env), cwd=REPO, capture_output=True, text=True, timeout=120 + seconds)
        if rec.returncode != 0 or not os.path.exists(data):
            return {"error": "perf record failed: " + " ".join(rec.stderr.strip().splitlines()[-2:])}
        script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,ip,sym"], capture_output=True, text=True,
                                timeout=300)
    per_tid, stacks, tid, comms = collections.Counter(), collections.defaultdict(list), None, {}
    current = []
    for line in script.stdout.splitlines() + [""]:
        if not line.strip():
            if tid is not None:
                per_tid[tid] += 1
                stacks[tid].append(current)
            tid, current = None, []
            continue
        if tid is None and not line.startswith("\t"):
            head = line.split()
            digits = [i for i, x in enumerate(head) if x.isdigit()]
            if not digits:
                continue
            tid = int(head[digits[-1]])
            comms[tid] = " ".join(head[:digits[-1]])
        else:
            parts = line.split(None, 1)
            current.append(parts[1] if len(parts) > 1 else "")
    if not per_tid:
        return {"error": "perf recorded no samples"}
    named = [t for t in per_tid if comms.get(t, "").startswith("stacksight-smp")]
    if not named:
        return {"error": "no samples of the stacksight-smp thread"}
    sampler_tid = max(named, key=per_tid.get)
    n = per_tid[sampler_tid]
    shares = {}
    rest = n
    for name, needles in BUCKETS:
        hits = sum(1 for st in stacks[sampler_tid] if any(any(x in fr for x in needles) for fr in st))
        shares[name] = hits / n
        rest -= hits
    shares["other (walk, bookkeeping, wake-up)"] = max(0, rest) / n
    return {"samples": n, "shares": shares}
