"""Slowdown of each Python workload under each profiler, as a ratio to the unprofiled run.

The machine is shared, so runs are interleaved: each round runs every
configuration once (the order rotated per round, so no configuration always
follows the same neighbour), and each round's ratio is taken against that
same round's unprofiled run. The median ratio over rounds is the figure, the
min-max its spread. stacksight runs also give the sampler's own CPU, per
thread-sample and per second, from stacksight._native.stats()."""
from __future__ import annotations

import os
import statistics

from profilers import PYTHON_CONFIGS, BENCH, shell_line
from runner import run_json

WORKLOADS = ["cpu_nbody", "cpu_raytrace", "cpu_richards", "threads_mixed", "http_server"]
SUITE = os.path.join(BENCH, "workloads", "python_suite.py")


def _summary(values):
    values = sorted(values)
    if not values:
        return None
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "n": len(values)}


def interleaved_runs(entries, rounds, timeout, log, progress, tag):
    """entries: [(key, argv, env)]. Returns {key: [result or None per round]}."""
    raw = {key: [] for key, _, _ in entries}
    for r in range(rounds):
        k = r % len(entries)
        for key, argv, env in entries[k:] + entries[:k]:
            res = run_json(argv, env, timeout=timeout, log=log)
            raw[key].append(res["result"] if res["ok"] else None)
            if not res["ok"]:
                progress(f"  {tag}: {key} round {r + 1} failed: {res['error']}")
        progress(f"  {tag}: round {r + 1}/{rounds} done")
    return raw


def ratio_tables(raw, keys, workloads, base_key="none"):
    """Wall and CPU ratios per key and workload, plus server metrics, against base_key per round."""
    base = raw[base_key]
    slowdown, cpu_ratio, elapsed, server = {}, {}, {}, {}
    for key in keys:
        slowdown[key], cpu_ratio[key], elapsed[key] = {}, {}, {}
        for w in workloads:
            pairs = [(x[w], b[w]) for x, b in zip(raw[key], base) if x and b]
            slowdown[key][w] = _summary([x["elapsed_s"] / b["elapsed_s"] for x, b in pairs])
            cpu_ratio[key][w] = _summary([x["cpu_s"] / b["cpu_s"] for x, b in pairs if b["cpu_s"] > 0])
            elapsed[key][w] = _summary([x[w]["elapsed_s"] for x in raw[key] if x])
        pairs = [(x["http_server"]["extra"], b["http_server"]["extra"]) for x, b in zip(raw[key], base)
                 if x and b and "http_server" in x]
        server[key] = {
            "throughput_ratio": _summary([x["throughput_rps"] / b["throughput_rps"] for x, b in pairs]),
            "p50_ratio": _summary([x["p50_ms"] / b["p50_ms"] for x, b in pairs]),
            "p99_ratio": _summary([x["p99_ms"] / b["p99_ms"] for x, b in pairs]),
            "throughput_rps": _summary([x["throughput_rps"] for x, _ in pairs]),
            "p50_ms": _summary([x["p50_ms"] for x, _ in pairs]),
            "p99_ms": _summary([x["p99_ms"] for x, _ in pairs]),
        }
    return slowdown, cpu_ratio, elapsed, server


def run(scale: float, rounds: int, agent_url: str, log, progress=print) -> dict:
    configs = [(c, *c.available()) for c in PYTHON_CONFIGS]
    usable = [c for c, ok, _ in configs if ok]
    script = [SUITE, "--scale", str(scale)] + WORKLOADS
    entries = [(c.key, *c.command(script, "", agent_url)) for c in usable]
    raw = interleaved_runs(entries, rounds, 120 + 60 * scale * len(WORKLOADS), log, progress, "overhead")

    slowdown, cpu_ratio, elapsed, server = ratio_tables(raw, [c.key for c in usable], WORKLOADS)
    sampler = {}
    for c in usable:
        if c.kind == "stacksight":
            sampler[c.key] = {}
            for w in WORKLOADS:
                per_sample, per_second, threads_per_tick = [], [], []
                for x in raw[c.key]:
                    st = x and x[w].get("stacksight")
                    if st and st["thread_samples"]:
                        per_sample.append(st["sampler_cpu_ns"] / st["thread_samples"] / 1e3)
                        per_second.append(st["sampler_cpu_ns"] / 1e6 / x[w]["elapsed_s"])
                        threads_per_tick.append(st["thread_samples"] / max(1, st["ticks"]))
                sampler[c.key][w] = {"us_per_thread_sample": _summary(per_sample),
                                     "ms_cpu_per_second": _summary(per_second),
                                     "threads_per_tick": _summary(threads_per_tick)}
    return {
        "workloads": WORKLOADS, "scale": scale, "rounds": rounds,
        "configs": [{"key": c.key, "label": c.label, "available": ok, "reason": why,
                     "command": shell_line(*c.command(script, "", "http://127.0.0.1:PORT"))}
                    for c, ok, why in configs],
        "slowdown": slowdown, "cpu_ratio": cpu_ratio, "elapsed": elapsed, "server": server, "sampler": sampler,
    }
