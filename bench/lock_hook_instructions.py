"""Instructions the lock profile adds to an uncontended lock operation,
counted by callgrind (deterministic: the same on a busy machine).

For each operation, CPython runs a loop of N and of 2N iterations, with the
profiler off and on (lock profile at its default 1 % capture; the memory and
heap profiles off so that only the lock hooks differ); the difference
between the two loop lengths cancels start-up, and the on/off difference is
the hooks' cost: sampled operations included, at their real rate.

  .venv/bin/python bench/lock_hook_instructions.py [--n 100000]"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

EXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ext")

SNIPPET = r"""
import sys, tempfile, threading
op, n = sys.argv[1], int(sys.argv[2])
if sys.argv[3] == "on":
    from stacksight import Profiler
    Profiler(output_pprof=tempfile.mkdtemp() + "/p", upload_interval=600).start()
lock = threading.RLock() if op.startswith("rlock") else threading.Lock()
def with_lock(n):
    l = lock
    for _ in range(n):
        with l:
            pass
def acquire_release(n):
    acquire, release = lock.acquire, lock.release
    for _ in range(n):
        acquire()
        release()
(with_lock if op.endswith("with") else acquire_release)(n)
"""

OPERATIONS = {"lock-with": "`with lock:` (Lock)", "lock-pair": "acquire()+release() (Lock)",
              "rlock-with": "`with rlock:` (RLock)"}


def instructions(op, n, mode):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))},
               "PYTHONPATH": EXT, "DD_PROFILING_MEMORY_ENABLED": "false",
               "DD_PROFILING_HEAP_ENABLED": "false", "STACKSIGHT_SAMPLE_HZ": "1"}
        run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                              sys.executable, "-c", SNIPPET, op, str(n), mode],
                             env=env, capture_output=True, text=True, check=True)
        m = re.search(r"Collected : (\d+)", run.stderr)
        return int(m.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    print(f"instructions per operation (callgrind, loops of {args.n} and {2 * args.n})")
    for op, title in OPERATIONS.items():
        per = {}
        for mode in ("off", "on"):
            per[mode] = (instructions(op, 2 * args.n, mode) - instructions(op, args.n, mode)) / args.n
        added = per["on"] - per["off"]
        print(f"  {title:<28} off {per['off']:7.0f}  on {per['on']:7.0f}  "
              f"+{added:5.0f} ({per['on'] / per['off']:.3f}x)")


if __name__ == "__main__":
    main()
