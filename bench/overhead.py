"""Slowdown of each Python workload under each profiler, as a ratio to the unprofiled run.

The machine is shared with other engineers' jobs whose load comes and goes
within seconds, so every profiled run is paired with an unprofiled run
started at the same moment (both see the same outside load); each round
pairs every configuration once, in a rotated order, and the ratio is taken
within the pair. The median ratio over rounds is the figure, the min-max its
spread. stacksight runs also give the sampler's own CPU, per
thread-sample and per second, from stacksight._native.stats()."""
from __future__ import annotations

import json
import os
import statistics
import subprocess

from profilers import PYTHON_CONFIGS, BENCH, REPO, shell_line
from runner import RESULT_PREFIX, clean_env

WORKLOADS = ["cpu_nbody", "cpu_raytrace", "cpu_richards", "threads_mixed", "http_server"]
SUITE = os.path.join(BENCH, "workloads", "python_suite.py")


def _summary(values):
    values = sorted(values)
    if not values:
        return None
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "n": len(values)}


def _start(argv, env):
    return subprocess.Popen(argv, env=clean_env(env), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout, log):
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, f"timed out after {timeout:.0f} s"
    log.write(f"$ {' '.join(proc.args)}\n{stderr[-1500:]}\n")
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):]), ""
    return None, f"exit {proc.returncode}: " + " | ".join(stderr.strip().splitlines()[-3:])


def paired_runs(entries, rounds, timeout, log, progress, tag):
    """entries: [(key, argv, env)], the first being the unprofiled baseline.

    Each round pairs every profiled configuration with a baseline run started
    at the same moment, so both see the same load from the rest of the
    machine; configurations take turns in a rotated order. Returns
    {key: [(result or None, baseline result or None) per round]}."""
    (base_key, base_argv, base_env), others = entries[0], entries[1:]
    raw = {key: [] for key, _, _ in entries}
    for r in range(rounds):
        k = r % max(1, len(others))
        for key, argv, env in others[k:] + others[:k]:
            pb, pc = _start(base_argv, base_env), _start(argv, env)
            rc, err_c = _finish(pc, timeout, log)
            rb, err_b = _finish(pb, timeout, log)
            raw[key].append((rc, rb))
            raw[base_key].append((rb, rb))
            for what, err in ((key, err_c), (base_key, err_b)):
                if err:
                    progress(f"  {tag}: {what} round {r + 1} failed: {err}")
        progress(f"  {tag}: round {r + 1}/{rounds} done")
    return raw


def ratio_tables(raw, keys, workloads):
    """Wall and CPU ratios per key and workload, plus server metrics, each against its paired baseline run."""
    slowdown, cpu_ratio, elapsed, server, best = {}, {}, {}, {}, {}
    for key in keys:
        slowdown[key], cpu_ratio[key], elapsed[key], best[key] = {}, {}, {}, {}
        for w in workloads:
            pairs = [(x[w], b[w]) for x, b in raw[key] if x and b]
            if pairs:
                best[key][w] = min(x["elapsed_s"] for x, _ in pairs) / min(b["elapsed_s"] for _, b in pairs)
            slowdown[key][w] = _summary([x["elapsed_s"] / b["elapsed_s"] for x, b in pairs])
            cpu_ratio[key][w] = _summary([x["cpu_s"] / b["cpu_s"] for x, b in pairs if b["cpu_s"] > 0])
            elapsed[key][w] = _summary([x[w]["elapsed_s"] for x, _ in raw[key] if x])
        pairs = [(x["http_server"]["extra"], b["http_server"]["extra"]) for x, b in raw[key]
                 if x and b and "http_server" in x]
        server[key] = {
            "throughput_ratio": _summary([x["throughput_rps"] / b["throughput_rps"] for x, b in pairs]),
            "p50_ratio": _summary([x["p50_ms"] / b["p50_ms"] for x, b in pairs]),
            "p99_ratio": _summary([x["p99_ms"] / b["p99_ms"] for x, b in pairs]),
            "throughput_rps": _summary([x["throughput_rps"] for x, _ in pairs]),
            "p50_ms": _summary([x["p50_ms"] for x, _ in pairs]),
            "p99_ms": _summary([x["p99_ms"] for x, _ in pairs]),
        }
    return slowdown, cpu_ratio, elapsed, server, best


def run(scale: float, rounds: int, agent_url: str, log, progress=print) -> dict:
    configs = [(c, *c.available()) for c in PYTHON_CONFIGS]
    usable = [c for c, ok, _ in configs if ok]
    script = [SUITE, "--scale", str(scale)] + WORKLOADS
    entries = [(c.key, *c.command(script, "", agent_url)) for c in usable]
    raw = paired_runs(entries, rounds, 120 + 60 * scale * len(WORKLOADS), log, progress, "overhead")

    slowdown, cpu_ratio, elapsed, server, best = ratio_tables(raw, [c.key for c in usable], WORKLOADS)
    sampler = {}
    for c in usable:
        if c.kind == "stacksight":
            sampler[c.key] = {}
            for w in WORKLOADS:
                per_sample, per_second, threads_per_tick, share = [], [], [], []
                for x, _ in raw[c.key]:
                    st = x and x[w].get("stacksight")
                    if st and st["thread_samples"]:
                        per_sample.append(st["sampler_cpu_ns"] / st["thread_samples"] / 1e3)
                        per_second.append(st["sampler_cpu_ns"] / 1e6 / x[w]["elapsed_s"])
                        threads_per_tick.append(st["thread_samples"] / max(1, st["ticks"]))
                        if x[w]["cpu_s"] > 0:
                            share.append(st["sampler_cpu_ns"] / 1e9 / x[w]["cpu_s"])
                sampler[c.key][w] = {"us_per_thread_sample": _summary(per_sample),
                                     "ms_cpu_per_second": _summary(per_second),
                                     "threads_per_tick": _summary(threads_per_tick),
                                     "sampler_cpu_share": _summary(share)}
    return {
        "workloads": WORKLOADS, "scale": scale, "rounds": rounds,
        "configs": [{"key": c.key, "label": c.label, "available": ok, "reason": why,
                     "command": shell_line(*c.command(script, "", "http://127.0.0.1:PORT"))}
                    for c, ok, why in configs],
        "slowdown": slowdown, "best_ratio": best, "cpu_ratio": cpu_ratio, "elapsed": elapsed, "server": server, "sampler": sampler,
    }
