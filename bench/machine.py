"""What the benchmark ran on: CPU, cores, memory, load, versions, date.

The machine is shared with other engineers' test runs, so the load average
is recorded at the start and the end of the run; RESULTS.md prints both
next to the figures."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess

from profilers import PEER_PY, PROJECT_PY, REPO, peer_status


def _first(cmd) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=REPO)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unavailable"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe() -> dict:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {
        "python (project .venv)": _first([PROJECT_PY, "--version"]),
        "python (peers' bench/.venv)": _first([PEER_PY, "--version"]),
        "ruby": _first(["ruby", "--version"]),
        "stacksight": _first(["git", "describe", "--always", "--dirty"]) + " (git)",
        "kernel": platform.release(),
    }
    for name, st in sorted(peer_status().items()):
        versions[name] = st["version"] if st.get("ok") else "not installed"
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(mem_gb, 1),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "versions": versions}
