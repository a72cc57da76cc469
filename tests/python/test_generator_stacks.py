"""Generator frames keep their callers: a generator's frame lives in the
generator object, and its link to the frame that resumed it is cleared at
each yield, so a stack captured while it runs must be read at once (CPU
slices) and a live read that sees the link gone is a torn sample, not a stack
cut at the generator."""
import subprocess
import sys

from conftest import clean_env, shown
from profile_view import load, profile_files

PROGRAM = r"""
import time
from stacksight import Profiler

def compute_invoice_total(items):
    return sum(x * 1.1 for x in items)

def gen_items():
    for i in range(200_000):
        yield i

def consume():
    t = 0
    for v in gen_items():
        t += v
    return t

def drive(coro):
    try:
        while True:
            coro.send(None)
    except StopIteration:
        pass

class Tick:
    def __await__(self):
        yield

async def coroutine_work():
    t = 0
    for i in range(100_000):
        t += i
        if i % 1000 == 0:
            await Tick()
    return t

p = Profiler(output_pprof=__import__("sys").argv[1], upload_interval=3600).start()
end = time.thread_time() + 3
while time.thread_time() < end:
    compute_invoice_total(range(100_000))
    consume()
    drive(coroutine_work())
p.stop()
"""

CALLERS = {shown("compute_invoice_total.<locals>.<genexpr>"): "compute_invoice_total",
           "gen_items": "consume", "coroutine_work": "drive"}


def test_generator_and_coroutine_frames_sit_under_their_callers(tmp_path):
    prefix = str(tmp_path / "p")
    done = subprocess.run([sys.executable, "-c", PROGRAM, prefix], env=clean_env(STACKSIGHT_SAMPLE_HZ=200),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = {name: {"under caller": 0, "orphan": 0} for name in CALLERS}
    for path in profile_files(prefix):
        for smp in load(path).samples:
            value = smp.values.get("cpu-time", 0) + smp.values.get("wall-time", 0)
            for name, caller in CALLERS.items():
                if name in smp.stack:
                    i = smp.stack.index(name)
                    ok = i + 1 < len(smp.stack) and smp.stack[i + 1] == caller
                    seen[name]["under caller" if ok else "orphan"] += value
    for name, v in seen.items():
        assert v["under caller"] > 0.1e9, seen
        assert v["orphan"] == 0, seen
