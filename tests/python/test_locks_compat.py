"""Programs that inspect or replace threading's locks behave exactly as they
do unprofiled: trio (which checks the lock's module), gevent's monkey-patched
RLock (which must exclude greenlets), and CPython's own threading tests that
look at the lock types."""
import os
import subprocess
import sys

import pytest

from conftest import clean_env
from profile_view import load, profile_files


def stacksight_run(tmp_path, *command, timeout=180):
    prefix = str(tmp_path / "p")
    env = clean_env(DD_PROFILING_OUTPUT_PPROF=prefix, DD_PROFILING_CAPTURE_PCT=100,
                    DD_PROFILING_UPLOAD_PERIOD=3600)
    done = subprocess.run([sys.executable, "-m", "stacksight.run", sys.executable, *command],
                          env=env, capture_output=True, text=True, timeout=timeout)
    return done, prefix


TRIO = r"""
import threading, time, trio

shared = threading.Lock()

def blocking_work():
    with shared:
        time.sleep(0.01)
    return 1

async def main():
    lock = trio.Lock()
    total = 0
    async with trio.open_nursery() as nursery:
        async def one():
            nonlocal total
            async with lock:
                total += await trio.to_thread.run_sync(blocking_work)
        for _ in range(20):
            nursery.start_soon(one)
    return total

assert trio.run(main) == 20
print("trio ok")
"""


def test_trio_runs_under_the_profiler_and_its_threads_locks_are_profiled(tmp_path):
    pytest.importorskip("trio")
    app = tmp_path / "app.py"
    app.write_text(TRIO)
    done, prefix = stacksight_run(tmp_path, str(app))
    assert done.returncode == 0, done.stderr
    assert "trio ok" in done.stdout
    acquires = sum(s.values.get("lock-acquire", 0) for f in profile_files(prefix)
                   for s in load(f).samples if str(s.labels.get("lock name", "")).endswith(":shared"))
    assert acquires >= 20


GEVENT = r"""
from gevent import monkey
monkey.patch_all()
import threading, gevent

lock = threading.RLock()
inside = overlaps = 0

def work():
    global inside, overlaps
    for _ in range(30):
        with lock:
            inside += 1
            overlaps += inside > 1
            gevent.sleep(0.001)
            inside -= 1

gevent.joinall([gevent.spawn(work) for _ in range(8)])
print("overlaps", overlaps)
"""


def test_gevent_rlock_still_excludes_greenlets_when_the_profiler_started_first(tmp_path):
    pytest.importorskip("gevent")
    app = tmp_path / "app.py"
    app.write_text(GEVENT)
    done, _ = stacksight_run(tmp_path, str(app))
    assert done.returncode == 0, done.stderr
    assert "overlaps 0" in done.stdout, done.stdout


def test_cpython_threading_tests_pass_profiled(tmp_path):
    # test__all__, test_disallow_instantiation, the lock/RLock/Condition
    # suites, and subinterpreters that share the lock types.
    done, _ = stacksight_run(tmp_path, "-m", "test", "test_threading", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Fatal Python error" not in done.stderr, done.stderr[-3000:]
    assert "Tests result: SUCCESS" in done.stdout, done.stdout[-3000:]
