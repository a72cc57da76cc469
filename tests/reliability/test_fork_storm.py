"""Fork storms: 500 forks of a profiled process, five ways.

The bug peers' users hit most after segfaults was a child that hung after
fork (a lock held by a profiler thread that does not exist in the child,
ProcessPoolExecutor workers never starting), then children that never
uploaded or uploaded as their parent. Every child here is waited for with a
deadline and killed if it overstays (a hang fails the test); every child that
lives longer than one upload period must upload a profile under its own pid
and its own runtime-id.

  plain fork          200 (50 of them exit at once)
  multiprocessing     100 Process(fork)
  ProcessPoolExecutor 100 workers (25 pools of 4)
  fork during upload   50 (the intake answers slowly: an upload is in flight)
  fork then exec       50 (os.execv and subprocess)"""
import json

import pytest

from rel_helpers import ci_size, crashed, run_python

PERIOD = 0.2
COMMON = """
import json, os, sys, time, threading
from stacksight import Profiler, _native

def work(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(3000))
        time.sleep(0.01)

def exported_or_deadline(limit=10.0):
    # A child that leaves by os._exit relies on periodic uploads; on a busy
    # machine the first one may still be on its way after 4 periods. Wait
    # for it (bounded): the test is that it comes, not how fast.
    deadline = time.monotonic() + limit
    while _native.stats()["profiles_exported"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)

def reap(pids, limit=20.0):
    # Wait for every child with a deadline; a child still there is killed
    # and reported as hung.
    deadline = time.monotonic() + limit
    status, hung = {}, []
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status[pid] = os.waitstatus_to_exitcode(st)
                pending.discard(pid)
        time.sleep(0.01)
    for pid in pending:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        hung.append(pid)
    return status, hung

p = Profiler(service="forks", url=URL, upload_interval=PERIOD).start()
parent_rid = _native.stats()["runtime_id"]
work(0.3)
"""

PLAIN = COMMON + """
N = int(sys.argv[1]) if len(sys.argv) > 1 else COUNT
long_lived, status, hung = [], {}, []
for start in range(0, N, 20):
    pids = []
    for i in range(start, min(N, start + 20)):
        pid = os.fork()
        if pid == 0:
            if i % 4 == 0:
                os._exit(0)          # gone before any upload: must not hang
            work(4 * PERIOD)
            if i % 4 == 1:
                p.stop()             # flush explicitly, then the usual exit
                os._exit(0)
            exported_or_deadline()
            os._exit(0)              # skips atexit: periodic uploads are all it gets
        pids.append(pid)
        if i % 4:
            long_lived.append(pid)
    s, h = reap(pids)
    status.update(s); hung += h
work(PERIOD)
p.stop()
print(json.dumps({"parent": os.getpid(), "parent_rid": parent_rid, "expect": long_lived,
                  "all": list(status) + hung, "status": status, "hung": hung}))
"""

MULTIPROCESSING = COMMON + """
import multiprocessing as mp
ctx = mp.get_context("fork")
N = COUNT
procs, status, hung = [], {}, []
for start in range(0, N, 20):
    batch = [ctx.Process(target=work, args=(4 * PERIOD,)) for _ in range(start, min(N, start + 20))]
    for pr in batch:
        pr.start()
    deadline = time.monotonic() + 20
    for pr in batch:
        pr.join(max(0.1, deadline - time.monotonic()))
        if pr.is_alive():
            pr.kill(); pr.join(); hung.append(pr.pid)
        else:
            status[pr.pid] = pr.exitcode
    procs += [pr.pid for pr in batch]
p.stop()
print(json.dumps({"parent": os.getpid(), "parent_rid": parent_rid, "expect": procs,
                  "all": procs, "status": status, "hung": hung}))
"""

POOL = COMMON + """
import concurrent.futures as cf, multiprocessing as mp

def task(seconds):
    work(seconds)
    return os.getpid()

N = COUNT
workers, hung, status = set(), [], {}
for start in range(0, N, 20):           # 5 pools of 4 at a time
    pools = [cf.ProcessPoolExecutor(4, mp_context=mp.get_context("fork")) for _ in range(start, min(N, start + 20), 4)]
    futures = [(pool, pool.submit(task, 0.25)) for pool in pools for _ in range(8)]
    for pool, fut in futures:
        try:
            workers.add(fut.result(timeout=30))
        except Exception as exc:
            hung.append(repr(exc))
    for pool in pools:
        procs = list(pool._processes.values())
        pool.shutdown(wait=True, cancel_futures=True)
        for pr in procs:
            status[pr.pid] = pr.exitcode
            workers.add(pr.pid)
p.stop()
print(json.dumps({"parent": os.getpid(), "parent_rid": parent_rid, "expect": sorted(workers),
                  "all": sorted(workers), "status": status, "hung": hung}))
"""

DURING_UPLOAD = COMMON + """
N = COUNT
pids, status, hung = [], {}, []
for start in range(0, N, 10):
    batch = []
    for i in range(start, min(N, start + 10)):
        _native.request_flush()
        time.sleep(0.05)           # the upload thread is now inside a slow POST
        pid = os.fork()
        if pid == 0:
            work(6 * PERIOD)       # a slow upload (0.5 s) has to finish here too
            exported_or_deadline()
            os._exit(0)
        batch.append(pid)
    s, h = reap(batch)
    status.update(s); hung += h
    pids += batch
time.sleep(1.0)
p.stop()
print(json.dumps({"parent": os.getpid(), "parent_rid": parent_rid, "expect": pids,
                  "all": pids, "status": status, "hung": hung}))
"""

EXEC = COMMON + """
import subprocess
N = COUNT
pids, status, hung = [], {}, []
for start in range(0, N, 10):
    batch = []
    for i in range(start, min(N, start + 10)):
        if i % 2:
            pid = os.fork()
            if pid == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(0.3)"])
            batch.append(pid)
        else:
            r = subprocess.run([sys.executable, "-c", "import time; time.sleep(0.1)"], timeout=20)
            status[-i] = r.returncode
    s, h = reap(batch)
    status.update(s); hung += h
    pids += batch
p.stop()
print(json.dumps({"parent": os.getpid(), "parent_rid": parent_rid, "expect": [],
                  "all": pids, "status": status, "hung": hung}))
"""

CASES = {
    "plain": (PLAIN, ci_size("forks_plain", 200, 200)),
    "multiprocessing": (MULTIPROCESSING, ci_size("forks_mp", 100, 100)),
    "pool": (POOL, ci_size("forks_pool", 100, 100)),
    "during_upload": (DURING_UPLOAD, ci_size("forks_upload", 50, 50)),
    "exec": (EXEC, ci_size("forks_exec", 50, 50)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fork_storm(case, fault_intake, record_property):
    code, count = CASES[case]
    server = fault_intake("slow" if case == "during_upload" else "ok", delay=0.5)
    code = code.replace("URL", repr(server.url)).replace("PERIOD", repr(PERIOD)).replace("COUNT", str(count))
    result = run_python(code, timeout=600)
    assert not crashed(result) and result.returncode == 0, result.stderr[-3000:]
    res = json.loads(result.stdout.strip().splitlines()[-1])
    # Uploads still on their way from children that exited last.
    server.wait_for(lambda: set(res["expect"]) <= set(server.uploads_by_pid()), timeout=10)
    by_pid = server.uploads_by_pid()

    assert res["hung"] == [], res["hung"]
    bad_exit = {pid: code for pid, code in res["status"].items() if code != 0}
    assert not bad_exit, bad_exit
    missing = [pid for pid in res["expect"] if pid not in by_pid]
    children = len(res["status"]) + len(res["hung"])
    record_property("children", children)
    record_property("missing_uploads", len(missing))
    print(f"\n{case}: {children} children, {len(res['expect'])} expected to upload, "
          f"{len(missing)} did not; {sum(len(v) for v in by_pid.values())} uploads from {len(by_pid)} pids")
    assert not missing, (len(missing), missing[:10])
    # Each child speaks for itself: its own runtime-id, never the parent's.
    rids = {}
    for pid in res["expect"]:
        ids = {u.runtime_id for u in by_pid[pid]}
        assert len(ids) == 1 and res["parent_rid"] not in ids, (pid, ids)
        rids[pid] = ids.pop()
    assert len(set(rids.values())) == len(rids)
    assert server.requests.get("malformed", 0) == 0
    # The parent kept profiling through the storm.
    assert res["parent"] in by_pid
    if case == "exec":
        # An exec'd program is not profiled and must not inherit anything.
        assert set(by_pid) == {res["parent"]}, sorted(by_pid)
