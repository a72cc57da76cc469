"""Slowdown of the Ruby workloads under stackprof (100 Hz, 1 kHz) and stacksight-ruby.

Same method as overhead.py (each profiled run paired with an unprofiled run
started at the same moment, rounds in rotated order, median and min-max). stacksight-ruby is included when the gem
in gem/ loads (its native extension is built); otherwise the row says it is
pending, with the gem's own reason."""
from __future__ import annotations

import os
import shutil
import subprocess

from overhead import paired_runs, ratio_tables
from profilers import BENCH, REPO, peer_status, shell_line

WORKLOADS = ["cpu_nbody", "threads_mixed", "http_server"]
SUITE = os.path.join(BENCH, "workloads", "rb_suite.rb")


def _stacksight_ruby_status() -> tuple[bool, str]:
    probe = ('$LOAD_PATH.unshift(File.join(ARGV[0], "gem/lib")); require "stacksight"; '
             'r = Stacksight.unsupported_reason; puts(r ? "NO " + r : "OK")')
    try:
        out = subprocess.run(["ruby", "-e", probe, REPO], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"stacksight-ruby pending: {exc}"
    line = (out.stdout.strip().splitlines() or [""])[-1]
    if line == "OK":
        return True, ""
    reason = line[3:] if line.startswith("NO ") else (out.stderr.strip().splitlines() or ["gem does not load"])[-1]
    return False, f"stacksight-ruby pending: {reason}"


def configs(agent_url: str):
    """[(key, label, env, available, reason)]."""
    base = {"DD_TRACE_AGENT_URL": agent_url, "DD_SERVICE": "bench-ruby"}
    sp = peer_status().get("ruby-stackprof", {})
    sp_ok = bool(sp.get("ok")) or shutil.which("ruby") is not None and subprocess.run(
        ["ruby", "-e", "require 'stackprof'"], capture_output=True).returncode == 0
    sp_why = "" if sp_ok else "ruby-stackprof could not be installed: " + " ".join(sp.get("error", []))
    ss_ok, ss_why = _stacksight_ruby_status()
    return [
        ("none", "unprofiled", dict(base, BENCH_RB_PROFILER="none"), True, ""),
        ("stackprof_100", "stackprof :cpu 100 Hz",
         dict(base, BENCH_RB_PROFILER="stackprof", BENCH_STACKPROF_INTERVAL_US="10000"), sp_ok, sp_why),
        ("stackprof_1k", "stackprof :cpu 1 kHz",
         dict(base, BENCH_RB_PROFILER="stackprof", BENCH_STACKPROF_INTERVAL_US="1000"), sp_ok, sp_why),
        ("stacksight_rb", "stacksight-ruby 100 Hz",
         dict(base, BENCH_RB_PROFILER="stacksight", STACKSIGHT_SAMPLE_HZ="100"), ss_ok, ss_why),
    ]


def run(scale: float, rounds: int, agent_url: str, log, progress=print) -> dict:
    if shutil.which("ruby") is None:
        return {"error": "ruby is not installed"}
    cfgs = configs(agent_url)
    argv = ["ruby", SUITE, str(scale)] + WORKLOADS
    entries = [(key, argv, env) for key, _, env, ok, _ in cfgs if ok]
    raw = paired_runs(entries, rounds, 120 + 60 * scale * len(WORKLOADS), log, progress, "ruby overhead")
    slowdown, cpu_ratio, elapsed, server, best = ratio_tables(raw, [e[0] for e in entries], WORKLOADS)
    return {
        "workloads": WORKLOADS, "scale": scale, "rounds": rounds,
        "configs": [{"key": key, "label": label, "available": ok, "reason": why,
                     "command": shell_line(argv, {k: v for k, v in env.items() if k != "DD_TRACE_AGENT_URL"})}
                    for key, label, env, ok, why in cfgs],
        "slowdown": slowdown, "best_ratio": best, "cpu_ratio": cpu_ratio, "elapsed": elapsed, "server": server,
    }
