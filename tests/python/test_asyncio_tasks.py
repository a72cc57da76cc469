"""Wall time of suspended asyncio tasks, charged to the coroutines they await.

The child programs measure, around every await, how long each task really
waited in each kind of coroutine; the profile (decoded independently) must
charge the tasks' wall time to the same coroutines in the same proportions."""
import json
import sys

import pytest

from conftest import run_python
from profile_view import load, profile_files

pytestmark = pytest.mark.skipif(not (3, 11) <= sys.version_info[:2] <= (3, 14),
                                reason="asyncio task sampling is implemented for CPython 3.11 to 3.14")

KNOWN_TRUTH = """
import asyncio, json, sys, time
IMPORT_LATE = sys.argv[2] == "late"
if not IMPORT_LATE:
    import asyncio
from stacksight import Profiler, _native
p = Profiler(output_pprof=sys.argv[1], upload_interval=60).start()
import asyncio   # after start: the finder attaches then
TASKS = sys.argv[4]
waited = {"db_query": 0.0, "slow_cache": 0.0}

async def db_query(i):
    await asyncio.sleep(0.12 + 0.0013 * (i % 50))

async def slow_cache(i):
    await asyncio.sleep(0.04 + 0.0007 * (i % 50))

async def timed(name, coro):
    t0 = time.monotonic()
    await coro
    waited[name] += time.monotonic() - t0

async def load_order(i):
    await timed("db_query", db_query(i))
    await timed("slow_cache", slow_cache(i))

async def handler(i):
    await asyncio.sleep(0.0037 * (i % 50))   # out of step with each other and with the ticks
    for _ in range(8):
        await load_order(i)

async def main():
    if sys.argv[3] == "taskgroup":
        async with asyncio.TaskGroup() as group:
            for i in range(TASKS):
                group.create_task(handler(i), name=f"handler-{i}")
    else:
        await asyncio.gather(*(asyncio.create_task(handler(i), name=f"handler-{i}") for i in range(TASKS)))

asyncio.run(main())
counts = _native.event_counts()
p.stop()
print(json.dumps({"waited": waited, "counts": counts,
                  "probe_left": any("stacksight" in t.get_name() for t in asyncio.all_tasks(asyncio.new_event_loop()))}))
"""


def run_known_truth(tmp_path, when, how, tasks=20):
    prefix = str(tmp_path / "aio")
    result = run_python(KNOWN_TRUTH.replace("sys.argv[1]", repr(prefix))
                        .replace("sys.argv[2]", repr(when)).replace("sys.argv[3]", repr(how))
                        .replace("sys.argv[4]", str(tasks)))
    assert result.returncode == 0, result.stderr
    assert "stacksight" not in result.stderr, result.stderr    # no warning
    res = json.loads(result.stdout.strip().splitlines()[-1])
    assert res["counts"]["asyncio_attached"] is True
    views = [load(f) for f in profile_files(prefix)]
    return res, views


def check_split(res, views, tasks=20):
    waited = res["waited"]
    charged = {"db_query": 0, "slow_cache": 0}
    names = set()
    for view in views:
        for smp in view.samples:
            task = smp.labels.get("task name")
            if not (isinstance(task, str) and task.startswith("handler-")):
                continue
            names.add(task)
            # the thread that runs the task's loop
            assert smp.labels.get("thread name") == "MainThread", smp.labels
            for fn in charged:
                if fn in smp.stack:
                    charged[fn] += smp.values["wall-time"]
                    # leaf first: what the coroutine awaits, then who awaits it
                    assert smp.stack == ["sleep", fn, "timed", "load_order", "handler"], smp.stack
    if tasks <= 256:                 # every task read on every tick
        assert names == {f"handler-{i}" for i in range(tasks)}
    else:                            # a rotating window of them, weighted
        assert len(names) >= 0.9 * tasks
    truth = waited["db_query"] / (waited["db_query"] + waited["slow_cache"])
    got = charged["db_query"] / (charged["db_query"] + charged["slow_cache"])
    print(f"\ndb_query share: truth {truth:.3f}, profile {got:.3f}; awaited wall "
          f"{sum(waited.values()):.2f} s, charged {sum(charged.values()) / 1e9:.2f} s")
    assert abs(got - truth) <= 0.05
    covered = sum(charged.values()) / 1e9 / sum(waited.values())
    assert 0.90 <= covered <= 1.10, covered


def test_gathered_tasks_charge_their_await_chain(tmp_path):
    res, views = run_known_truth(tmp_path, "early", "gather")
    check_split(res, views)
    assert res["probe_left"] is False


def test_asyncio_imported_after_start_and_task_group(tmp_path):
    res, views = run_known_truth(tmp_path, "late", "taskgroup")
    check_split(res, views)


# A known shortfall, not a tolerance: 3.14's task lists are read 64 tasks per
# tick in rotation, and with 1,000 tasks 79-91 % of the awaited wall was
# charged in the runs measured (84 % in a CI run), under the 90 % goal; the
# split stays right. README "What does not work yet" says so.
@pytest.mark.xfail(sys.version_info[:2] == (3, 14), strict=False,
                   reason="3.14: 1,000 tasks read in rotation cover 79-91 % of the awaited wall, goal 90 %")
def test_a_thousand_tasks_are_weighted_right(tmp_path):
    # More live tasks than are read per tick: each tick reads a window of
    # them, each standing for (live / read); totals and split stay right.
    res, views = run_known_truth(tmp_path, "early", "gather", tasks=1000)
    check_split(res, views, tasks=1000)


def test_program_without_asyncio_does_not_import_it(tmp_path):
    result = run_python(f"""
import sys
from stacksight import Profiler, _native
p = Profiler(output_pprof={str(tmp_path / "p")!r}).start()
sum(range(10**6))
print("asyncio" in sys.modules, _native.event_counts()["asyncio_attached"])
p.stop()
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


CHURN = """
import asyncio, gc, json, os, sys, time
from stacksight import Profiler, _native

def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

async def leaf(i):
    await asyncio.sleep(0.001 * (i % 3))

async def middle(i):
    await leaf(i)

async def churn(n):
    done = 0
    while done < n:
        await asyncio.gather(*(asyncio.create_task(middle(i), name=f"short-{done + i}") for i in range(200)))
        done += 200
    return done

p = Profiler(output_pprof=sys.argv[1], upload_interval=1).start()
asyncio.run(churn(1000))
gc.collect()
base = rss_kb()
t0 = time.monotonic()
made = asyncio.run(churn(10000))
elapsed = time.monotonic() - t0
gc.collect()
after = rss_kb()
counts = _native.event_counts()
p.stop()
print(json.dumps({"made": made, "base": base, "after": after, "counts": counts, "elapsed": elapsed}))
"""


def test_ten_thousand_short_tasks_at_1khz(tmp_path):
    prefix = str(tmp_path / "churn")
    result = run_python(CHURN.replace("sys.argv[1]", repr(prefix)), timeout=300, STACKSIGHT_SAMPLE_HZ=1000)
    assert result.returncode == 0, result.stderr[-3000:]
    res = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n{res['made']} tasks in {res['elapsed']:.1f} s, task samples {res['counts']['task_samples']}, "
          f"torn {res['counts']['task_torn']}, RSS {res['base']} -> {res['after']} kB")
    assert res["made"] == 10000 and res["counts"]["task_samples"] > 0
    assert res["after"] - res["base"] < 5 * 1024
    charged = 0
    for view in (load(f) for f in profile_files(prefix)):
        charged += view.total("wall-time", lambda s: str(s.labels.get("task name", "")).startswith("short-")
                              and s.stack[:2] == ["sleep", "leaf"])
    assert charged > 0


def test_tasks_carry_the_labels_of_their_loops_thread(tmp_path):
    prefix = str(tmp_path / "loops")
    result = run_python(f"""
import asyncio, threading
from stacksight import Profiler
p = Profiler(output_pprof={prefix!r}, upload_interval=60).start()

async def wait_here(label):
    await asyncio.sleep(0.6)

async def main(label):
    await asyncio.gather(*(asyncio.create_task(wait_here(label), name=f"{{label}}-{{i}}") for i in range(5)))

threads = [threading.Thread(target=asyncio.run, args=(main(f"in-{{n}}"),), name=f"loop-{{n}}") for n in range(2)]
for t in threads:
    t.start()
asyncio.run(main("in-main"))
for t in threads:
    t.join()
p.stop()
""")
    assert result.returncode == 0, result.stderr
    seen = {}
    for view in (load(f) for f in profile_files(prefix)):
        for smp in view.samples:
            task = smp.labels.get("task name")
            if isinstance(task, str) and smp.stack[:2] == ["sleep", "wait_here"]:
                seen.setdefault(task.rsplit("-", 1)[0], set()).add(smp.labels.get("thread name"))
    assert seen == {"in-main": {"MainThread"}, "in-0": {"loop-0"}, "in-1": {"loop-1"}}, seen
