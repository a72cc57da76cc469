"""Runs the benchmarks other parts of the project keep in bench/ and keeps their output.

bench/python_profile_types.py (cost of the exception, lock and memory
profiles) and bench/ruby_*.rb (the Ruby gem's own benchmarks) are written
alongside the gem and the profile types; this runs whichever of them exist
and hands their printed output to RESULTS.md verbatim, or says they are not
there yet."""
from __future__ import annotations

import glob
import os
import subprocess
import time

from profilers import BENCH, PROJECT_PY, REPO

# Arguments for a quick and a full run of the scripts whose options are known.
KNOWN_ARGS = {
    "python_profile_types.py": (["--repeat", "1"], ["--repeat", "5"]),
    "ruby_overhead.rb": (["1"], ["5"]),
    "ruby_profile_types.rb": (["0.3"], ["1.0"]),
}


def _command(path: str, quick: bool) -> list[str]:
    name = os.path.basename(path)
    args = KNOWN_ARGS.get(name, ([], []))[0 if quick else 1]
    if name.endswith(".py"):
        return [PROJECT_PY, os.path.relpath(path, REPO)] + args
    return ["ruby", "-I", "gem/lib", os.path.relpath(path, REPO)] + args


def run(quick: bool, progress=print) -> list[dict]:
    scripts = sorted(glob.glob(os.path.join(BENCH, "python_profile_types.py")) +
                     glob.glob(os.path.join(BENCH, "ruby_*.rb")) + glob.glob(os.path.join(BENCH, "ruby_*.py")))
    results = []
    for path in scripts:
        argv = _command(path, quick)
        t0 = time.perf_counter()
        try:
            out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=150 if quick else 900)
            text, status = out.stdout.strip(), ("ok" if out.returncode == 0 else
                                                f"exit {out.returncode}: " + out.stderr.strip()[-500:])
        except subprocess.TimeoutExpired as exc:
            text, status = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
                else (exc.stdout or ""), "timed out"
        results.append({"script": os.path.relpath(path, REPO), "command": " ".join(argv), "status": status,
                        "seconds": time.perf_counter() - t0, "output": text})
        progress(f"  extra: {os.path.relpath(path, REPO)}: {status} ({time.perf_counter() - t0:.0f} s)")
    expected = ["bench/python_profile_types.py", "bench/ruby_*.rb"]
    for pattern in expected:
        if not glob.glob(os.path.join(REPO, pattern)):
            results.append({"script": pattern, "status": "not written yet", "output": "", "command": ""})
    return results
