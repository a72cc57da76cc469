"""Accuracy: the share of CPU each profiler reports per function versus the truth.

The workload (workloads/accuracy_split.py) measures each function's own CPU
time with time.thread_time(); the unprofiled run's figures are the truth.
Every profiler then runs the same program and its output file is read back
(profile_shares.py). The error is reported share minus true share, in
percentage points; the largest absolute error per profiler is the headline.
With ~100 samples a second, a share's own sampling error is about
sqrt(p(1-p)/n): RESULTS.md prints n so the two can be told apart."""
from __future__ import annotations

import glob
import os

from profilers import PYTHON_CONFIGS, BENCH, shell_line
from profile_shares import shares_for
from runner import run_json
from workloads.accuracy_split import FUNCTIONS

SUITE = os.path.join(BENCH, "workloads", "python_suite.py")


def run(scale: float, out_dir: str, agent_url: str, log, progress=print) -> dict:
    script = [SUITE, "--scale", str(scale), "accuracy_split"]
    os.makedirs(out_dir, exist_ok=True)
    truth, results, commands = None, {}, {}
    for c in PYTHON_CONFIGS:
        ok, why = c.available()
        if not ok:
            results[c.key] = {"label": c.label, "available": False, "reason": why}
            continue
        prefix = os.path.join(out_dir, f"accuracy_{c.key}")
        for old in glob.glob(prefix + "*"):
            os.remove(old)
        argv, env = c.command(script, prefix, agent_url)
        commands[c.key] = shell_line(argv, env)
        res = run_json(argv, env, timeout=300 + 60 * scale, log=log)
        if not res["ok"]:
            results[c.key] = {"label": c.label, "available": True, "error": res["error"]}
            progress(f"  accuracy: {c.key} failed: {res['error']}")
            continue
        extra = res["result"]["accuracy_split"]["extra"]
        entry = {"label": c.label, "available": True, "own_run_truth": extra["truth_share"],
                 "cpu_s": res["result"]["accuracy_split"]["cpu_s"]}
        if c.kind == "none":
            truth = extra["truth_share"]
        else:
            shares = shares_for(c.kind, prefix, FUNCTIONS)
            entry["shares"] = shares
            if shares is None:
                entry["error"] = "no profile output found"
        results[c.key] = entry
        progress(f"  accuracy: {c.key} done")
    for key, entry in results.items():
        shares = entry.get("shares")
        if truth and shares:
            errors = {f: 100.0 * (shares[f] - truth[f]) for f in FUNCTIONS}
            entry["error_points"] = errors
            worst = max(FUNCTIONS, key=lambda f: abs(errors[f]))
            entry["max_abs_error_points"] = abs(errors[worst])
            entry["worst_function"] = worst
    return {"functions": list(FUNCTIONS), "truth": truth, "profilers": results,
            "scale": scale, "commands": commands}
