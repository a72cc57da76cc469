"""Keeps producing many distinct stacks for a set time, for the memory benchmark.

A profiler's memory grows with the number of distinct stacks, function names
and files it has to remember in one period. This builds 400 functions
(compiled at start, with distinct names and line numbers) and walks random
call chains through them, 4-30 deep, so a profile period sees tens of
thousands of distinct stacks. run(seconds) runs for that long and returns the
process's RSS and peak RSS (from /proc/self/status) at the end."""
import random
import time

N_FUNCS = 400


def _make_functions():
    src = []
    for i in range(N_FUNCS):
        src.append(
            f"def stack_fn_{i:03d}(rng, depth, funcs):\n"
            f"    if depth <= 0:\n"
            f"        x = 0\n"
            f"        for j in range(300):\n"
            f"            x += j * {i}\n"
            f"        return x\n"
            f"    return funcs[rng.randrange({N_FUNCS})](rng, depth - 1, funcs) + {i}\n")
    namespace = {}
    exec(compile("\n".join(src), "many_stacks_generated.py", "exec"), namespace)
    return [namespace[f"stack_fn_{i:03d}"] for i in range(N_FUNCS)]


def rss_kb():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def run(seconds):
    funcs = _make_functions()
    rng = random.Random(11)
    deadline = time.monotonic() + seconds
    chains = 0
    while time.monotonic() < deadline:
        for _ in range(50):
            funcs[rng.randrange(N_FUNCS)](rng, rng.randint(4, 30), funcs)
            chains += 1
    mem = rss_kb()
    return {"chains": chains, "rss_kb": mem.get("VmRSS"), "peak_rss_kb": mem.get("VmHWM")}
