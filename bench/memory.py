"""RSS a profiler adds after a long run with many distinct stacks, and one period's export cost.

All configurations run workloads/many_stacks.py at the same time for the same
duration (memory is not a timing figure, so sharing the cores is harmless and
saves the wall-clock time of running them one after another). Each process
reports its own RSS and peak RSS at the end; RSS added is that minus the
unprofiled run's. Each top-level process is also polled, which for py-spy
(out of process) gives py-spy's own RSS. The stacksight runs also report the
last period's encode time, export (compress + upload to a local intake) time
and profile size from stacksight._native.stats()."""
from __future__ import annotations

import json
import os
import subprocess
import time

from profilers import PYTHON_CONFIGS, BENCH, shell_line
from runner import RESULT_PREFIX, clean_env
from profilers import REPO

SUITE = os.path.join(BENCH, "workloads", "python_suite.py")


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(seconds: float, upload_interval: float, agent_url: str, log, progress=print) -> dict:
    script = [SUITE, "--scale", str(seconds), "many_stacks"]
    procs, out = {}, {"seconds": seconds, "upload_interval_s": upload_interval, "configs": {}, "commands": {}}
    for c in PYTHON_CONFIGS:
        ok, why = c.available()
        if not ok:
            out["configs"][c.key] = {"label": c.label, "available": False, "reason": why}
            continue
        argv, env = c.command(script, "", agent_url)
        env["DD_PROFILING_UPLOAD_INTERVAL"] = str(upload_interval)
        out["commands"][c.key] = shell_line(argv, env)
        procs[c.key] = (c, subprocess.Popen(argv, env=clean_env(env), cwd=REPO, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True))
    progress(f"  memory: {len(procs)} runs of {seconds:.0f} s started together")
    top_peak = dict.fromkeys(procs, 0)
    deadline = time.monotonic() + seconds + 180
    while any(p.poll() is None for _, p in procs.values()) and time.monotonic() < deadline:
        for key, (_, p) in procs.items():
            if p.poll() is None:
                top_peak[key] = max(top_peak[key], _rss_kb(p.pid))
        time.sleep(0.5)
    for key, (c, p) in procs.items():
        if p.poll() is None:
            p.kill()
        stdout, stderr = p.communicate()
        log.write(f"memory {key}:\n{stderr[-2000:]}\n")
        entry = {"label": c.label, "available": True, "top_process_peak_rss_kb": top_peak[key]}
        for line in reversed(stdout.splitlines()):
            if line.startswith(RESULT_PREFIX):
                r = json.loads(line[len(RESULT_PREFIX):])["many_stacks"]
                entry.update({"rss_kb": r["extra"]["rss_kb"], "peak_rss_kb": r["extra"]["peak_rss_kb"],
                              "chains": r["extra"]["chains"]})
                st = r.get("stacksight")
                if st:
                    entry["export"] = {k: st[k] for k in ("profiles_exported", "export_failures", "last_encode_ns",
                                                          "last_export_ns", "last_profile_bytes",
                                                          "thread_samples", "samples_dropped")}
                break
        else:
            entry["error"] = f"exit {p.returncode}: " + " | ".join(stderr.strip().splitlines()[-3:])
        out["configs"][key] = entry
    base = out["configs"].get("none", {})
    for key, entry in out["configs"].items():
        if "rss_kb" in entry and "rss_kb" in base:
            entry["rss_added_mb"] = (entry["rss_kb"] - base["rss_kb"]) / 1024
            entry["peak_added_mb"] = (entry["peak_rss_kb"] - base["peak_rss_kb"]) / 1024
    return out
