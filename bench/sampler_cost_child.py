"""Child process of sampler_cost.py: holds threads at 64 frames and prints the sampler's counters.

Run under stacksight-run; the counters are the difference across the
measured window only (thread start-up and exit excluded).

    sampler_cost_child.py SECONDS THREADS BUSY(0|1)
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import deep_stacks  # noqa: E402

COUNTERS = ("ticks", "thread_samples", "sampler_cpu_ns", "walker_frames", "stretched_ticks", "torn_samples")


def main():
    seconds, threads, busy = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    from stacksight import _native
    window = {}

    def measure():
        time.sleep(0.5)           # threads reach depth 64 first
        a = _native.stats()
        t0 = time.perf_counter()
        time.sleep(seconds)
        b = _native.stats()
        window["seconds"] = time.perf_counter() - t0
        window["stats"] = {k: b[k] - a[k] for k in COUNTERS}

    m = threading.Thread(target=measure)
    m.start()
    deep_stacks.run(seconds + 0.8, threads=threads, busy=busy)
    m.join()
    print("BENCH_RESULT " + json.dumps(window), flush=True)


if __name__ == "__main__":
    main()
