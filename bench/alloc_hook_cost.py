"""Instructions the memory profiler's allocator hook adds per object allocate+free pair (callgrind).

A child allocates and frees N objects (`object()` in a loop; the loop's ints
are allocated too) under the running profiler, once with the memory and heap
profiles on and once with them off, each for two values of N. Callgrind
counts the main thread's instructions (deterministic: the sidecar and upload
threads are counted apart, sampling runs at 1 Hz so CPU-timer signals are
few); the difference between the two N cancels start-up, the difference
between on and off is the hook. Pairs are counted from the calls callgrind
records into the hook's free function (mem_free), so the figure is
instructions per pair, sampled allocations included (default 1 MiB mean).

    .venv/bin/python bench/alloc_hook_cost.py
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

N1, N2 = 50_000, 250_000
CHILD = """
import sys
from stacksight import Profiler
p = Profiler(service="alloc-hook", output_pprof=sys.argv[2]).start()
def work(n):
    for _ in range(n):
        object()
work(int(sys.argv[1]))
p.stop(flush=False)
"""


def main_thread_cost(out_dir: str) -> tuple[int, int]:
    """(instructions of thread 1, calls into mem_free from thread 1)."""
    files = [f for f in glob.glob(os.path.join(out_dir, "cg.out*")) if f.endswith("-01")]
    if not files:
        raise RuntimeError("callgrind wrote no per-thread output")
    names, total, frees, want_calls = {}, 0, 0, False
    with open(files[0]) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2).strip()
                want_calls = line.startswith("cfn=") and names.get(m.group(1)) == "mem_free"
                continue
            if want_calls and line.startswith("calls="):
                frees += int(line[6:].split()[0])
                want_calls = False
    return total, frees


def run(n: int, memory: bool, tmp: str) -> tuple[int, int]:
    out_dir = tempfile.mkdtemp(dir=tmp)
    flag = "true" if memory else "false"
    env = dict(os.environ, STACKSIGHT_SAMPLE_HZ="1", DD_PROFILING_MEMORY_ENABLED=flag,
               DD_PROFILING_HEAP_ENABLED=flag, DD_PROFILING_LOCK_ENABLED="false",
               DD_PROFILING_EXCEPTION_ENABLED="false")
    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
           f"--callgrind-out-file={out_dir}/cg.out", sys.executable, "-c", CHILD, str(n),
           os.path.join(out_dir, "p")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return main_thread_cost(out_dir)


def main() -> None:
    if shutil.which("valgrind") is None:
        print("alloc hook: valgrind is not installed (apt-get install valgrind)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        on1, f1 = run(N1, True, tmp)
        on2, f2 = run(N2, True, tmp)
        off1, _ = run(N1, False, tmp)
        off2, _ = run(N2, False, tmp)
    pairs = f2 - f1
    if pairs <= 0:
        print("alloc hook: no calls into mem_free were recorded (hook not installed?)")
        return
    per_pair = ((on2 - on1) - (off2 - off1)) / pairs
    print(f"alloc hook: {pairs} allocate+free pairs, +{per_pair:.1f} instructions per pair "
          f"(memory+heap on vs off, callgrind, main thread; goal <= 8)")
    print(f"BENCH_JSON {{\"alloc_hook_instructions_per_pair\": {per_pair:.2f}, \"pairs\": {pairs}}}")


if __name__ == "__main__":
    main()
