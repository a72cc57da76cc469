"""What the profiler adds to a short Python process: wall time of
`python -c "import stacksight.auto"` against `python -c pass`, with the agent
refusing connections (nothing listens on the port) and with file output.
Median of --runs runs each, interleaved.

  .venv/bin/python bench/exit_cost.py [--runs 15]"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

EXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ext")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # closed again: connections are refused


def wall(code, env):
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return time.monotonic() - t0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
    base["PYTHONPATH"] = EXT
    tmp = tempfile.mkdtemp()
    cases = {
        "no profiler": ("pass", base),
        "agent refusing": ("import stacksight.auto",
                           {**base, "DD_TRACE_AGENT_URL": f"http://127.0.0.1:{free_port()}"}),
        "file output": ("import stacksight.auto", {**base, "DD_PROFILING_OUTPUT_PPROF": tmp + "/p"}),
    }
    times = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (code, env) in cases.items():
            times[name].append(wall(code, env))
    none = statistics.median(times["no profiler"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:<16} {m * 1e3:7.1f} ms wall   (+{(m - none) * 1e3:6.1f} ms)")


if __name__ == "__main__":
    main()
