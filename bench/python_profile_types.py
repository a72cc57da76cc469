"""Overhead of the exception, lock and memory profiles (CPython).

Each measurement runs in a fresh interpreter, profiler off and then on with
every profile type at its defaults (CPU, wall, exceptions 1 in 20, locks 1 %,
memory every 1 MB on average, heap), nothing uploaded (an output file
prefix in a temporary directory). Reported: ns per operation and the on/off
ratio, best of --repeat runs of thread CPU time (the machine is shared; the
minimum is the least disturbed figure).

  .venv/bin/python bench/python_profile_types.py [--repeat 5] [--json out.json]

Micro benchmarks: uncontended `with lock:` and acquire()/release() pairs on a
Lock and an RLock (hooked by the lock profile against unprofiled), raise/catch of a
ValueError, allocation of small objects. Macro: a mixed workload (dict and
string work, a few exceptions, locks and allocations) timed as a whole."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXT = os.path.join(os.path.dirname(HERE), "ext")

SNIPPET = r"""
import _thread, sys, threading, time, timeit, json
on = sys.argv[1] == "on"
if on:
    from stacksight import Profiler
    prof = Profiler(output_pprof=sys.argv[2] + "/prof", upload_interval=600).start()
lock = threading.Lock()
rlock = threading.RLock()
assert type(lock) is _thread.LockType   # the program's own lock type, profiled or not

def with_lock(n=200_000):
    l = lock
    for _ in range(n):
        with l:
            pass

def acquire_release(n=200_000):
    l = lock
    for _ in range(n):
        l.acquire()
        l.release()

def with_rlock(n=200_000):
    l = rlock
    for _ in range(n):
        with l:
            pass

def raise_catch(n=100_000):
    for _ in range(n):
        try:
            raise ValueError("x")
        except ValueError:
            pass

def allocate(n=300_000):
    for _ in range(n):
        (1, 2, object())

def empty_loop(n=200_000):
    for _ in range(n):
        pass

def mixed(n=20_000):
    d = {}
    total = 0
    for i in range(n):
        key = "k%d" % (i % 500)
        with lock:
            d[key] = d.get(key, 0) + i
        s = ",".join(str(j) for j in range(8))
        total += len(s.split(","))
        if i % 50 == 0:
            try:
                int("not a number")
            except ValueError:
                total += 1
    return total

ops = {"with_lock": 200_000, "acquire_release": 200_000, "with_rlock": 200_000,
       "raise_catch": 100_000, "allocate": 300_000, "empty_loop": 200_000, "mixed": 20_000}
out = {}
for name, n in ops.items():
    fn = globals()[name]
    fn(n // 10)
    best = min(timeit.repeat(lambda: fn(n), number=1, repeat=3, timer=time.thread_time))
    out[name] = best / n * 1e9
if on:
    prof.stop()
print(json.dumps(out))
"""


LOCK_MICRO = r"""
import _thread, json, sys, tempfile, time, timeit
if sys.argv[1] == "hooked":
    from stacksight import Profiler
    Profiler(output_pprof=tempfile.mkdtemp() + "/p", upload_interval=600).start()
locks = {"Lock": _thread.allocate_lock(), "RLock": _thread.RLock()}
def with_(l, k):
    for _ in range(k):
        with l:
            pass
def pair(l, k):
    for _ in range(k):
        l.acquire()
        l.release()
best = {}
for _ in range(5):
    for kind, l in locks.items():
        for op, fn in (("with", with_), ("acquire+release", pair)):
            t = min(timeit.repeat(lambda: fn(l, 50_000), number=1, repeat=1,
                                  timer=time.thread_time)) / 50_000 * 1e9
            best[(kind, op)] = min(t, best.get((kind, op), t))
print(json.dumps([[*k, v] for k, v in best.items()]))
"""


def lock_micro():
    """Lock operations unprofiled against hooked by the lock profile (every
    profile type on, DD_PROFILING_CAPTURE_PCT=0.001 so that almost no
    operation is sampled: what every unsampled operation pays). Processes
    alternate, so load from elsewhere hits both alike; best of each."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
    env["PYTHONPATH"] = EXT
    env["DD_PROFILING_CAPTURE_PCT"] = "0.001"
    rows = {}
    for _ in range(3):
        for label in ("bare", "hooked"):
            proc = subprocess.run([sys.executable, "-c", LOCK_MICRO, label], env=env,
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            for kind, op, ns in json.loads(proc.stdout):
                cell = rows.setdefault((kind, op), {})
                cell[label] = min(ns, cell.get(label, ns))
    print(f"{'lock micro':<24}{'bare ns':>10}{'hooked ns':>10}{'ratio':>8}")
    out = []
    for (kind, op), v in rows.items():
        print(f"{kind + ' ' + op:<24}{v['bare']:>10.1f}{v['hooked']:>10.1f}{v['hooked'] / v['bare']:>8.2f}")
        out.append({"lock": kind, "op": op, "bare_ns": v["bare"], "hooked_ns": v["hooked"],
                    "ratio": v["hooked"] / v["bare"]})
    return out


def run_once(mode):
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
        env["PYTHONPATH"] = EXT
        proc = subprocess.run([sys.executable, "-c", SNIPPET, mode, tmp], env=env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    best = {"off": {}, "on": {}}
    for _ in range(args.repeat):
        for mode in ("off", "on"):
            for name, ns in run_once(mode).items():
                best[mode][name] = min(ns, best[mode].get(name, float("inf")))
    loop = {m: best[m]["empty_loop"] for m in best}
    rows = []
    print(f"{'operation':<18}{'off ns/op':>12}{'on ns/op':>12}{'ratio':>8}{'ratio (loop subtracted)':>26}")
    for name in best["off"]:
        off, on = best["off"][name], best["on"][name]
        net = ""
        if name not in ("empty_loop", "mixed"):
            net_off, net_on = off - loop["off"], on - loop["on"]
            net = f"{net_on / net_off:.2f}" if net_off > 0 else ""
        rows.append({"operation": name, "off_ns": off, "on_ns": on, "ratio": on / off,
                     "net_ratio": float(net) if net else None})
        print(f"{name:<18}{off:>12.1f}{on:>12.1f}{on / off:>8.2f}{net:>26}")
    print()
    micro = lock_micro()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"profiler_off_on": rows, "lock_micro": micro}, f, indent=2)


if __name__ == "__main__":
    main()
