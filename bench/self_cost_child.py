"""Child process of self_cost.py: runs a workload under the profiler and compares
what the profiler says it cost with the kernel's CPU clocks of its threads.

The profiler's own threads are found by name (stacksight-smp, the sidecar;
stacksight-upl, the upload thread) in /proc/self/task and read through their
per-thread CPU clocks, the same clocks the kernel charges them with; the
window excludes start-up (threads settle first) and stop.

    self_cost_child.py SECONDS PARKED_THREADS BUSY_THREADS OUT_PREFIX [UPLOAD_INTERVAL_S]
"""
import json
import os
import sys
import threading
import time

COUNTERS = ("ticks", "thread_samples", "sampler_cpu_ns", "self_cpu_ns", "upload_cpu_ns",
            "signal_cpu_ns", "stretched_ticks")


def thread_clock_ns(tid: int) -> int:
    """CPU time of thread `tid` (Linux per-thread CPU clock: ~tid << 3 | 6)."""
    return time.clock_gettime_ns((~tid << 3) | 6)


def profiler_tids() -> dict:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith("stacksight-"):
            out[name] = int(tid)
    return out


def spin(stop: threading.Event):
    x = 0
    while not stop.is_set():
        for i in range(2000):
            x += i * i


def main():
    seconds, parked, busy, prefix = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    upload_s = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
    from stacksight import Profiler, _native
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(parked)]
    threads += [threading.Thread(target=spin, args=(stop,), daemon=True) for _ in range(busy)]
    for t in threads:
        t.start()
    prof = Profiler(service="self-cost", output_pprof=prefix, upload_interval=upload_s).start()
    time.sleep(1.0)
    tids = profiler_tids()
    a = _native.stats()
    clocks_a = {n: thread_clock_ns(t) for n, t in tids.items()}
    proc_a = time.process_time_ns()
    t0 = time.perf_counter()
    time.sleep(seconds)        # the main thread is idle while it waits
    elapsed = time.perf_counter() - t0
    clocks_b = {n: thread_clock_ns(t) for n, t in tids.items()}
    proc_b = time.process_time_ns()
    b = _native.stats()
    stop.set()
    prof.stop(flush=False)
    window = {k: b.get(k, 0) - a.get(k, 0) for k in COUNTERS}
    print("BENCH_RESULT " + json.dumps({
        "seconds": elapsed,
        "stats": window,
        "interval_ns": b["interval_ns"],
        "thread_clock_ns": {n: clocks_b[n] - clocks_a[n] for n in clocks_a},
        "process_cpu_ns": proc_b - proc_a,
    }), flush=True)


if __name__ == "__main__":
    main()
