"""Thread churn at 1 kHz: 20 000 threads created and ended while sampling.

Peers crashed in Thread.new/thread exit (a thread state freed under the
sampler) and leaked per-thread bookkeeping. Here every thread runs a few
frames deep and gets a unique name (so the name table and interner see
20 000 entries); afterwards the process must be alive, the sampler must have
seen the threads, and RSS must be back within 5 MB of where it was before."""
import glob
import json

from rel_helpers import SANITIZED, ProfileView, ci_size, crashed, run_python

THREADS = ci_size("threads", 20000, 20000)

CHILD = """
import gc, json, os, sys, threading, time
from stacksight import Profiler, _native

def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

def leaf(n):
    return sum(range(n))

def middle(depth, n):
    return middle(depth - 1, n) if depth else leaf(n)

def body():
    middle(6, 3000)

BATCH = 50
def churn(count, start):
    made = 0
    while made < count:
        threads = [threading.Thread(target=body, name=f"worker-{start + made + i}") for i in range(BATCH)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        made += BATCH
    return made

p = Profiler(service="churn", output_pprof=sys.argv[1], upload_interval=2.0).start()
churn(500, 10_000_000)          # warm-up: thread stacks cached, tables touched
gc.collect(); time.sleep(0.3)
base = rss_kb()
t0 = time.monotonic()
made = churn(int(sys.argv[2]), 0)
elapsed = time.monotonic() - t0
gc.collect(); time.sleep(0.5)   # a few hundred sampler ticks with the threads gone
after = rss_kb()
stats = _native.stats()
p.stop()
print(json.dumps({"base": base, "after": after, "made": made, "elapsed": elapsed,
                  "alive": threading.active_count(), "stats": stats}))
"""


def test_twenty_thousand_threads_at_1khz(tmp_path, record_property):
    prefix = str(tmp_path / "churn")
    result = run_python(CHILD.replace("sys.argv[1]", repr(prefix)).replace("sys.argv[2]", str(THREADS)),
                        timeout=600, STACKSIGHT_SAMPLE_HZ=1000)
    assert not crashed(result) and result.returncode == 0, result.stderr[-3000:]
    res = json.loads(result.stdout.strip().splitlines()[-1])
    grew_kb = res["after"] - res["base"]
    record_property("rss_growth_kb", grew_kb)
    print(f"\n{res['made']} threads in {res['elapsed']:.1f} s; RSS {res['base']} -> {res['after']} kB "
          f"({grew_kb:+d} kB); ticks {res['stats']['ticks']}, thread samples "
          f"{res['stats']['thread_samples']}, torn {res['stats']['torn_samples']}")
    assert res["made"] >= THREADS and res["alive"] == 1
    if not SANITIZED:
        assert grew_kb < 5 * 1024, res
    assert res["stats"]["ticks"] > res["elapsed"] * 20   # kept running (the overhead cap may stretch 1 kHz)
    # The churned threads were sampled and named in the profiles.
    names = set()
    for path in glob.glob(prefix + ".*.pprof"):
        view = ProfileView(open(path, "rb").read())
        names |= {s.labels.get("thread name") for s in view.samples}
    workers = {n for n in names if n and n.startswith("worker-")}
    assert len(workers) > 100, sorted(names)[:20]
