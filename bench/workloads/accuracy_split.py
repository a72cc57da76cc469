"""A single-threaded program with a known CPU split, for checking profilers' accuracy.

Four functions share the CPU in interleaved chunks of a few milliseconds, in
a seeded random order (so a fixed-rate sampler cannot alias with the order):
pure Python arithmetic, many small Python calls, string and dict work, and
`sum(range(N))` — one long C call that holds the GIL, where a profiler that
samples only at bytecode boundaries or needs the GIL misattributes time.
Each call's own CPU time is measured with time.thread_time(); run unprofiled,
these totals are the truth the profilers' reported shares are compared to.
Single-threaded and CPU-only, so a wall-clock profiler's shares are
comparable too."""
import random
import time

FUNCTIONS = ("acc_arith_loop", "acc_small_calls", "acc_strings_dicts", "acc_c_sum_range")
WEIGHTS = (0.35, 0.15, 0.20, 0.30)   # rough intended split; the truth is measured


def acc_arith_loop(n):
    x = 0
    for i in range(n):
        x = (x + i * i) % 65_521
    return x


def _leaf(a, b):
    return a ^ b


def _mid(a):
    return _leaf(a, a >> 1) + _leaf(a, 3)


def acc_small_calls(n):
    t = 0
    for i in range(n):
        t += _mid(i)
    return t


def acc_strings_dicts(n):
    d = {}
    for i in range(n):
        key = "k" + str(i % 500)
        d[key] = d.get(key, "") [:20] + chr(97 + i % 26)
    return len(d)


def acc_c_sum_range(n):
    return sum(range(n))


# Units per call giving chunks of roughly 5-8 ms on a 2.5 GHz core.
UNITS = {"acc_arith_loop": 40_000, "acc_small_calls": 20_000,
         "acc_strings_dicts": 8_000, "acc_c_sum_range": 200_000}


def run(scale):
    funcs = {name: globals()[name] for name in FUNCTIONS}
    truth = dict.fromkeys(FUNCTIONS, 0.0)
    rng = random.Random(7)
    calls = int(500 * scale)
    for _ in range(calls):
        name = rng.choices(FUNCTIONS, WEIGHTS)[0]
        t0 = time.thread_time()
        funcs[name](UNITS[name])
        truth[name] += time.thread_time() - t0
    total = sum(truth.values())
    return {"truth_cpu_s": truth, "truth_share": {k: v / total for k, v in truth.items()}}
