"""What the profiler costs, from the kernel's per-thread CPU clocks, against what it reports.

Each case runs bench/self_cost_child.py under the profiler at 100 Hz with the
default overhead cap (1 % of a core) and prints, over a measured window:
  - sidecar us/tick: the sidecar thread's CPU clock / wall ticks taken
  - % core: the profiler's threads (sidecar + upload) and the CPU-timer signal
    handlers, as a share of one core over the window
  - wake floor: CPU of a bare 10 ms sleep-and-wake in a plain Python thread,
    measured just before the case: what one wake-up per tick costs on this
    machine at that moment (a shared, loaded host makes it vary 2x)
  - Hz: the sampling rate the cap allowed (100 unless stretched)
  - reported / clock: the `sampler_cpu_ns` counter (what the cap budgets and
    `internal` reports) over the sidecar's CPU clock, and the same for the
    upload thread; 1.00 is honest.
Cases: idle (only the main thread, sleeping), busy threads, and many parked
threads with a few busy ones. When idle, parked-500 and busy-5 all ran, the
per-tick cost is split as fixed (idle) + per parked thread ((parked-500 -
idle) / 500) + per running thread ((busy-5 - idle) / 5; a running thread's
CPU-slice events are included, as the cap counts them).

    .venv/bin/python bench/self_cost.py [--seconds S] [--cases idle,busy-1,...] [--repeat N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(BENCH, "self_cost_child.py")
# name: (parked threads, busy threads, upload interval s)
CASES = {
    "idle": (0, 0, 60.0),
    "idle-upload-1s": (0, 0, 1.0),
    "busy-1": (0, 1, 60.0),
    "busy-5": (0, 5, 60.0),
    "parked-500": (500, 0, 60.0),
    "parked-500+busy-10": (500, 10, 60.0),
}


FLOOR = """
import time
t0 = time.thread_time_ns()
for _ in range(200):
    time.sleep(0.01)
print((time.thread_time_ns() - t0) / 200 / 1e3)
"""


def wake_floor_us() -> float:
    out = subprocess.run([sys.executable, "-c", FLOOR], capture_output=True, text=True, timeout=60)
    return float(out.stdout.strip())


def run_case(name: str, seconds: float) -> dict:
    floor = wake_floor_us()
    parked, busy, upload = CASES[name]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, STACKSIGHT_SAMPLE_HZ="100")
        for k in ("DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE", "DD_PROFILING_MEMORY_ENABLED",
                  "DD_PROFILING_HEAP_ENABLED", "DD_PROFILING_LOCK_ENABLED", "DD_PROFILING_EXCEPTION_ENABLED"):
            env.pop(k, None)
        out = subprocess.run([sys.executable, CHILD, str(seconds), str(parked), str(busy),
                              os.path.join(tmp, "p"), str(upload)],
                             env=env, capture_output=True, text=True, timeout=120 + seconds)
    line = [x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")]
    if not line:
        raise RuntimeError(f"{name}: child failed: {out.stderr[-2000:]}")
    r = json.loads(line[0].split(" ", 1)[1])
    st, clk, secs = r["stats"], r["thread_clock_ns"], r["seconds"]
    smp, upl = clk.get("stacksight-smp", 0), clk.get("stacksight-upl", 0)
    ticks = max(1, st["ticks"])
    total = smp + upl + st.get("signal_cpu_ns", 0)
    return {
        "sidecar_us_per_tick": smp / ticks / 1e3,
        "wake_floor_us": floor,
        "pct_core": total / 1e9 / secs * 100,
        "sidecar_pct_core": smp / 1e9 / secs * 100,
        "hz": st["ticks"] / secs,
        "reported_over_clock": st["sampler_cpu_ns"] / smp if smp else None,
        "upload_reported_over_clock": st.get("upload_cpu_ns", 0) / upl if upl else None,
        "signal_ms": st.get("signal_cpu_ns", 0) / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the median is printed")
    args = ap.parse_args()
    print(f"{'case':22} {'sidecar us/tick':>15} {'wake floor us':>13} {'% core':>7} {'sidecar %':>9} {'Hz':>6} "
          f"{'reported/clock':>14} {'upload rep/clock':>16} {'signal ms':>9}")
    results = {}
    for name in args.cases.split(","):
        runs = [run_case(name, args.seconds) for _ in range(args.repeat)]

        def med(k):
            vals = [x[k] for x in runs if x[k] is not None]
            return statistics.median(vals) if vals else None
        row = {k: med(k) for k in runs[0]}
        results[name] = row

        def fmt(v, spec):
            return format(v, spec) if v is not None else "-"
        print(f"{name:22} {fmt(row['sidecar_us_per_tick'], '15.1f')} {fmt(row['wake_floor_us'], '13.1f')} "
              f"{fmt(row['pct_core'], '7.3f')} "
              f"{fmt(row['sidecar_pct_core'], '9.3f')} {fmt(row['hz'], '6.1f')} "
              f"{fmt(row['reported_over_clock'], '14.2f')} {fmt(row['upload_reported_over_clock'], '16.2f')} "
              f"{fmt(row['signal_ms'], '9.1f')}", flush=True)
    if all(k in results for k in ("idle", "parked-500", "busy-5")):
        fixed = results["idle"]["sidecar_us_per_tick"]
        parked = (results["parked-500"]["sidecar_us_per_tick"] - fixed) / 500
        running = (results["busy-5"]["sidecar_us_per_tick"] - fixed) / 5
        results["per_tick_us"] = {"fixed": fixed, "per_parked": parked, "per_running": running}
        print(f"per tick: {fixed:.1f} us fixed + {parked:.2f} us per parked thread + "
              f"{running:.1f} us per running thread")
    print("BENCH_JSON " + json.dumps(results))


if __name__ == "__main__":
    main()
