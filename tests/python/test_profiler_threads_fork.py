"""Thread churn, thread names and fork, with profiles decoded independently."""
import os
import sys

import pytest

from conftest import run_python
from profile_view import load, profile_files


# An open defect, not a tolerance: on Debian's CPython 3.15 a run now and then
# has fewer than 40 of the 50 short-lived workers in the profile (cause not
# found; README "What does not work yet").
@pytest.mark.xfail(sys.version_info[:2] == (3, 15), strict=False,
                   reason="3.15: some runs miss more than 10 of 50 short-lived worker threads (open defect)")
def test_fifty_threads_started_and_stopped_while_sampling(tmp_path):
    prefix = str(tmp_path / "prof")
    result = run_python(f"""
        import threading, time
        from stacksight import Profiler
        def work(n):
            end = time.monotonic() + 0.05
            while time.monotonic() < end:
                sum(i for i in range(1000))
        p = Profiler(output_pprof={prefix!r}, upload_interval=3600).start()
        for wave in range(5):
            threads = [threading.Thread(target=work, args=(i,), name=f"worker-{{wave}}-{{i}}") for i in range(10)]
            for t in threads: t.start()
            for t in threads: t.join()
        renamed = threading.Thread(target=work, args=(0,), name="before-rename")
        renamed.start(); renamed.name = "after-rename"; renamed.join()
        p.stop()
        """, STACKSIGHT_SAMPLE_HZ=1000)
    assert result.returncode == 0, result.stderr
    view = load(profile_files(prefix)[0])
    names = {s.labels.get("thread name") for s in view.samples}
    workers = {n for n in names if n and n.startswith("worker-")}
    assert len(workers) >= 40, sorted(names)
    assert names <= {f"worker-{w}-{i}" for w in range(5) for i in range(10)} | {
        "MainThread", "before-rename", "after-rename"}, names
    assert "after-rename" in names
    for smp in view.samples:
        assert smp.labels["thread id"] > 0 and smp.labels["thread native id"] > 0


def test_fork_child_and_parent_both_profile_with_own_identity(tmp_path, intake):
    server = intake()
    result = run_python(f"""
        import os, time
        from stacksight import Profiler
        def spin(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                sum(range(1000))
        p = Profiler(service="forky", url={server.url!r}, upload_interval=0.5).start()
        spin(0.3)
        pid = os.fork()
        if pid == 0:
            spin(1.5)
            p.stop()
            os._exit(0)
        spin(1.5)
        os.waitpid(pid, 0)
        p.stop()
        print(os.getpid(), pid)
        """)
    assert result.returncode == 0, result.stderr
    parent_pid, child_pid = result.stdout.split()
    assert server.wait_for(4)
    by_pid = {}
    for up in server.uploads:
        by_pid.setdefault(up.tags["process_id"], set()).add(up.tags["runtime-id"])
    assert parent_pid in by_pid and child_pid in by_pid, by_pid
    assert len(by_pid[parent_pid]) == 1 and len(by_pid[child_pid]) == 1
    assert by_pid[parent_pid] != by_pid[child_pid]


def test_multiprocessing_and_process_pool_children_do_not_hang(tmp_path):
    prefix = str(tmp_path / "prof")
    result = run_python(f"""
        import multiprocessing as mp, time
        from concurrent.futures import ProcessPoolExecutor
        from stacksight import Profiler
        def work(n):
            end = time.monotonic() + 0.4
            while time.monotonic() < end:
                sum(range(1000))
            return n
        if __name__ == "__main__":
            mp.set_start_method("fork")
            p = Profiler(output_pprof={prefix!r}, upload_interval=0.2).start()
            with ProcessPoolExecutor(4) as pool:
                assert sorted(pool.map(work, range(8))) == list(range(8))
            procs = [mp.Process(target=work, args=(i,)) for i in range(4)]
            for q in procs: q.start()
            for q in procs: q.join(30); assert q.exitcode == 0
            p.stop()
        """, timeout=90)
    assert result.returncode == 0, result.stderr
    pids = {os.path.basename(f).split(".")[1] for f in profile_files(prefix)}
    assert len(pids) >= 3, pids


def test_exec_while_profiling_flushes_and_leaves_no_signal_behind(tmp_path):
    prefix = str(tmp_path / "prof")
    # The exec'ed program burns CPU with no SIGPROF handler: a leftover
    # CPU-timer signal would kill it ("Profiling timer expired").
    result = run_python(f"""
        import os, sys, time
        from stacksight import Profiler
        Profiler(output_pprof={prefix!r}, upload_interval=3600).start()
        end = time.monotonic() + 1.2   # more than a second: flushed before exec
        while time.monotonic() < end:
            sum(range(1000))
        os.execv(sys.executable, [sys.executable, "-c",
                 "import time\\nend = time.monotonic() + 0.5\\nwhile time.monotonic() < end: pass\\nprint('exec ok')"])
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exec ok"
    assert len(profile_files(prefix)) == 1   # flushed before exec
