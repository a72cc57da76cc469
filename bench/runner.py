"""Runs one benchmark process and returns the JSON line its workload printed.

Every workload script prints `BENCH_RESULT {json}` as its last result line;
profilers may print their own chatter around it (py-spy, ddtrace), which is
kept for the log but not parsed. A run that fails or prints no result is
reported with its stderr tail instead of stopping the whole benchmark."""
from __future__ import annotations

import json
import os
import subprocess
import time

from profilers import REPO

RESULT_PREFIX = "BENCH_RESULT "
CLEAN_PREFIXES = ("DD_", "STACKSIGHT_", "PYTHONPATH")


def clean_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_PREFIXES)}
    env.update(extra)
    return env


def run_json(argv: list[str], extra_env: dict, timeout: float, log=None) -> dict:
    """{"ok": bool, "result": {...}, "wall_s": float, "error": str}."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, env=clean_env(extra_env), cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s", "wall_s": timeout}
    wall = time.perf_counter() - t0
    if log is not None:
        log.write(f"$ {' '.join(argv)}\n{proc.stderr[-2000:]}\n")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return {"ok": proc.returncode == 0, "result": json.loads(line[len(RESULT_PREFIX):]),
                    "wall_s": wall, "error": "" if proc.returncode == 0 else f"exit {proc.returncode}"}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"ok": False, "error": f"exit {proc.returncode}: " + " | ".join(tail), "wall_s": wall}
