"""RSS and private dirty memory stacksight adds to a process with ~10 000 distinct stacks.

Why this file exists: bench/memory.py measures every peer profiler at once as
part of the full benchmark; this is the quick, stacksight-only form of the
memory goal (issue #14: <= 8 MB RSS, <= 5 MB private dirty added), runnable
on its own. Three copies of workloads/many_stacks.py (400 generated
functions, random call chains 4-30 deep: more than 10 000 distinct stacks a
period) run at the same time for the same duration: unprofiled, profiled
with uploads to a local stand-in agent (libcurl loaded), and profiled with
file output (libcurl never loaded). Each one's /proc/PID/smaps_rollup is
read every second; the figures are the median and the maximum of the
readings of the run's second half (a period's buffers fill, are swapped,
encoded and given back, so a single reading depends on where in the period
it falls), minus the unprofiled run's median. The file-output profiles give
the number of distinct stacks of each period.

    .venv/bin/python bench/memory_added.py [--seconds 300] [--upload-interval 60]
"""
from __future__ import annotations

import argparse
import glob
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(REPO, "tests", "python"))
from local_intake import LocalIntake  # noqa: E402
from pprof_pb import decode_profile  # noqa: E402

SUITE = os.path.join(BENCH, "workloads", "python_suite.py")
RUN = os.path.join(os.path.dirname(sys.executable), "stacksight-run")


def rollup(pid: int) -> dict | None:
    """Rss and Private_Dirty (kB) of a live process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            # The first line is the address range ("00400000-... [rollup]").
            fields = dict(line.split(":", 1) for line in f if line[:1].isalpha())
    except OSError:
        return None
    try:
        return {k: int(fields[k].split()[0]) for k in ("Rss", "Private_Dirty")}
    except (KeyError, ValueError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--upload-interval", type=float, default=60.0)
    args = ap.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
    with tempfile.TemporaryDirectory() as tmp, LocalIntake() as intake:
        profiled = {"DD_SERVICE": "bench", "DD_PROFILING_UPLOAD_INTERVAL": str(args.upload_interval)}
        configs = {
            "unprofiled": ([sys.executable], {}),
            "agent upload": ([RUN, sys.executable], {**profiled, "DD_TRACE_AGENT_URL": intake.url}),
            "file output": ([RUN, sys.executable],
                            {**profiled, "DD_PROFILING_OUTPUT_PPROF": os.path.join(tmp, "p")}),
        }
        procs = {}
        for name, (prefix, env) in configs.items():
            procs[name] = subprocess.Popen(prefix + [SUITE, "--scale", str(args.seconds), "many_stacks"],
                                           env={**base_env, **env}, cwd=REPO, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, text=True)
        readings = {name: [] for name in procs}
        started = time.monotonic()
        deadline = started + args.seconds + 180
        while any(p.poll() is None for p in procs.values()) and time.monotonic() < deadline:
            for name, p in procs.items():
                r = rollup(p.pid) if p.poll() is None else None
                if r and time.monotonic() - started > args.seconds / 2:
                    readings[name].append(r)
            time.sleep(1.0)
        for name, p in procs.items():
            if p.poll() is None:
                p.kill()
            _, err = p.communicate()
            if p.returncode != 0:
                sys.exit(f"{name}: exit {p.returncode}: {err[-1000:]}")
        files = sorted(glob.glob(os.path.join(tmp, "p*")), key=os.path.getmtime)
        stacks = [len(decode_profile(gzip.decompress(open(f, "rb").read())).sample) for f in files]
        uploads = intake.requests
    def mb(name, key, pick):
        return pick([r[key] for r in readings[name]]) / 1024

    print(f"memory added in the second half of {args.seconds:.0f} s of workloads/many_stacks.py "
          f"({args.upload_interval:.0f} s periods; distinct stacks per file-output period: "
          f"{', '.join(map(str, stacks)) or 'none'}; {uploads} agent uploads)")
    print(f"{'config':<14} {'RSS MB':>8} {'added median':>13} {'max':>7} "
          f"{'private dirty MB':>17} {'added median':>13} {'max':>7}")
    for name in readings:
        if not readings[name]:
            sys.exit(f"{name}: no reading in the second half of the run")
        line = f"{name:<14}"
        for key, width in (("Rss", 8), ("Private_Dirty", 17)):
            base = mb("unprofiled", key, statistics.median)
            line += (f" {mb(name, key, statistics.median):{width}.1f}"
                     f" {mb(name, key, statistics.median) - base:+13.1f} {mb(name, key, max) - base:+7.1f}")
        print(line)
    print("goal: <= 8 MB RSS and <= 5 MB private dirty added")


if __name__ == "__main__":
    main()
