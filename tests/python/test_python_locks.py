"""Lock profiles: wait and hold time, acquires and releases, lock names; the
profiled locks behave like the real locks (semantics checked in a profiled process,
in the spirit of CPython's Lib/test/lock_tests.py)."""
import sys

from event_helpers import line_of, profile_run

CONTENTION = """
def worker(lock, rounds, waits, holds):
    for _ in range(rounds):
        t0 = time.monotonic()
        lock.acquire()
        t1 = time.monotonic()
        time.sleep(0.05)
        t2 = time.monotonic()
        lock.release()
        waits.append(t1 - t0)
        holds.append(t2 - t1)

def contend():
    shared_lock = threading.Lock()
    waits, holds = [], []
    threads = [threading.Thread(target=worker, args=(shared_lock, 6, waits, holds)) for _ in range(2)]
    for t in threads: t.start()
    for t in threads: t.join()
    return sum(waits), sum(holds)

prof.start()
wait, hold = contend()
prof.stop()
print(f"TRUTH {wait * 1e9:.0f} {hold * 1e9:.0f}")
"""


def _truth(out):
    line = next(l for l in out.splitlines() if l.startswith("TRUTH"))
    _, wait, hold = line.split()
    return float(wait), float(hold)


def test_wait_and_hold_time_of_a_contended_lock(tmp_path):
    view, out = profile_run(tmp_path, CONTENTION, DD_PROFILING_CAPTURE_PCT="100")
    wait, hold = _truth(out)
    name = f"<string>:{line_of(CONTENTION, 'shared_lock = threading.Lock()')}:shared_lock"
    mine = lambda s: s.labels.get("lock name") == name
    assert view.total("lock-acquire", mine) == 12, view.by_label("lock name", "lock-acquire")
    assert view.total("lock-release", mine) == 12
    got_wait = view.total("lock-acquire-wait", mine)
    got_hold = view.total("lock-release-hold", mine)
    assert wait > 0.2e9, wait   # the two threads did contend
    assert abs(got_wait - wait) <= 0.15 * wait, (got_wait, wait)
    assert abs(got_hold - hold) <= 0.15 * hold, (got_hold, hold)
    # Acquires are charged to the acquiring stack, releases to the releasing one.
    acq = [s for s in view.samples if mine(s) and s.values.get("lock-acquire")]
    assert all(s.stack[0] == "worker" for s in acq), {tuple(s.stack) for s in acq}


SAMPLED = """
def hot(lock, n, holds):
    for _ in range(n):
        with lock:
            t0 = time.monotonic()
            time.sleep(0.0003)
            holds.append(time.monotonic() - t0)

prof.start()
hot_lock = threading.Lock()
holds = []
hot(hot_lock, 2000, holds)
prof.stop()
print(f"TRUTH 0 {sum(holds) * 1e9:.0f}")
"""


def test_sampled_lock_events_are_scaled_to_totals(tmp_path):
    # 25 % capture: about 500 sampled acquires; +-30 % leaves room for the
    # long tail of sleep() on a loaded machine, which a sample can miss.
    view, out = profile_run(tmp_path, SAMPLED, DD_PROFILING_CAPTURE_PCT="25")
    _, hold = _truth(out)
    mine = lambda s: str(s.labels.get("lock name", "")).endswith(":hot_lock")
    acquires = view.total("lock-acquire", mine)
    assert abs(acquires - 2000) <= 600, acquires
    assert abs(view.total("lock-release", mine) - 2000) <= 600
    got_hold = view.total("lock-release-hold", mine)
    assert abs(got_hold - hold) <= 0.30 * hold, (got_hold, hold)


def test_lock_profile_switched_off(tmp_path):
    view, out = profile_run(tmp_path, CONTENTION + "print(threading.Lock)\n",
                            DD_PROFILING_LOCK_ENABLED="0", DD_PROFILING_CAPTURE_PCT="100")
    assert view.total("lock-acquire") == 0 and view.total("lock-release-hold") == 0
    assert "lock-acquire" not in view.sample_types
    # 3.13 made threading.Lock the lock type itself.
    assert ("<built-in function allocate_lock>" if sys.version_info < (3, 13)
            else "<class '_thread.lock'>") in out


SEMANTICS = """
import _thread, pickle, copy, weakref, os, sys

before = threading.Lock()
prof.start()
assert type(before) is _thread.LockType            # created before start: untouched

def in_thread(fn, *args):
    result = []
    t = threading.Thread(target=lambda: result.append(fn(*args)))
    t.start(); t.join()
    return result[0]

def check_lock(lock):
    assert not lock.locked()
    assert lock.acquire() is True
    assert lock.locked()
    assert "<locked _thread.lock object" in repr(lock)
    assert lock.acquire(False) is False
    assert lock.acquire(blocking=False) is False
    t0 = time.monotonic()
    assert lock.acquire(timeout=0.05) is False
    assert time.monotonic() - t0 >= 0.04
    assert in_thread(lock.acquire, False) is False
    lock.release()
    assert "<unlocked _thread.lock object" in repr(lock)
    try:
        lock.release()
    except RuntimeError:
        pass
    else:
        raise AssertionError("release of an unlocked lock must raise")
    try:
        lock.acquire(False, 1)
    except ValueError:
        pass
    else:
        raise AssertionError("non-blocking acquire with a timeout must raise")
    with lock:
        assert lock.locked()
    assert not lock.locked()
    # A Lock may be released by another thread.
    lock.acquire()
    in_thread(lock.release)
    assert not lock.locked()
    assert lock.acquire_lock() and lock.locked_lock()
    lock.release_lock()
    for fn in (pickle.dumps, copy.copy, copy.deepcopy):
        try:
            fn(lock)
        except TypeError as e:
            assert "_thread.lock" in str(e), e
        else:
            raise AssertionError("locks cannot be pickled or copied")
    r = weakref.ref(lock)
    assert r() is lock
    lock.acquire()
    lock._at_fork_reinit()
    assert not lock.locked()
    try:
        lock.release(1)
    except TypeError:
        pass
    else:
        raise AssertionError("release() takes no arguments")

def check_rlock(rlock):
    assert rlock.acquire() and rlock.acquire()
    assert rlock._is_owned()
    assert "count=2" in repr(rlock)
    try:
        in_thread(rlock.release)
    except Exception:
        pass
    assert in_thread(lambda: _try_release(rlock)) == "RuntimeError"
    assert in_thread(rlock.acquire, False) is False
    rlock.release(); rlock.release()
    assert not rlock._is_owned()
    try:
        rlock.release()
    except RuntimeError:
        pass
    else:
        raise AssertionError("over-release must raise")
    with rlock:
        with rlock:
            if hasattr(rlock, "_recursion_count"):   # 3.11+
                assert rlock._recursion_count() == 2
            else:
                assert "count=2" in repr(rlock)
    assert in_thread(rlock.acquire, False) is True   # other thread may take it now (and leaks it)

def _try_release(lock):
    try:
        lock.release()
    except RuntimeError:
        return "RuntimeError"
    return "released"

check_lock(threading.Lock())
check_rlock(threading.RLock())

# Condition on an RLock (default) and on a Lock.
for cond in (threading.Condition(), threading.Condition(threading.Lock())):
    with cond:
        t0 = time.monotonic()
        assert cond.wait(0.05) is False
        assert time.monotonic() - t0 >= 0.04
    box = []
    def producer():
        time.sleep(0.02)
        with cond:
            box.append(1)
            cond.notify_all()
    t = threading.Thread(target=producer); t.start()
    with cond:
        assert cond.wait_for(lambda: box, timeout=5)
    t.join()
    woken = []
    def waiter():
        with cond:
            cond.wait(5)
            woken.append(1)
    ws = [threading.Thread(target=waiter) for _ in range(3)]
    for w in ws: w.start()
    time.sleep(0.05)
    with cond:
        cond.notify(1)
    time.sleep(0.05)
    assert len(woken) == 1, woken
    with cond:
        cond.notify_all()
    for w in ws: w.join()
    assert len(woken) == 3

# RLock held recursively across Condition.wait is fully released and restored.
rl = threading.RLock()
cond = threading.Condition(rl)
def poke():
    with cond:
        cond.notify()
with rl, rl:
    t = threading.Thread(target=poke); t.start()
    assert cond.wait(5)
    assert rl._recursion_count() == 2 if hasattr(rl, "_recursion_count") else "count=2" in repr(rl)   # 3.11+
t.join()

sem = threading.Semaphore(2)
assert sem.acquire() and sem.acquire() and not sem.acquire(False)
assert sem.acquire(timeout=0.02) is False
sem.release(2)
bsem = threading.BoundedSemaphore(1)
bsem.acquire(); bsem.release()
try:
    bsem.release()
except ValueError:
    pass
else:
    raise AssertionError("BoundedSemaphore over-release must raise")

ev = threading.Event()
threading.Timer(0.02, ev.set).start()
assert ev.wait(5)
barrier = threading.Barrier(3)
ts = [threading.Thread(target=barrier.wait, args=(5,)) for _ in range(2)]
for t in ts: t.start()
barrier.wait(5)
for t in ts: t.join()

during = threading.Lock()
during_r = threading.RLock()
# The program keeps the interpreter's own lock types while profiled.
assert type(during) is _thread.LockType and type(during_r) is _thread.RLock
assert isinstance(during, _thread.LockType) and type(during).__module__ == "_thread"
if sys.version_info < (3, 13):
    assert threading.Lock is _thread.allocate_lock
    try:
        type(during)()
    except TypeError:
        pass
    else:
        raise AssertionError("_thread.lock must stay non-instantiable")
else:
    # 3.13+: threading.Lock is the type; instances and isinstance work.
    assert threading.Lock is _thread.LockType and isinstance(during, threading.Lock)
    assert type(type(during)()) is _thread.LockType

pid = os.fork()
if pid == 0:
    ok = during.acquire(timeout=1)
    during.release()
    os._exit(0 if ok else 3)
assert os.waitpid(pid, 0)[1] == 0

prof.stop()
assert threading.Lock is (_thread.allocate_lock if sys.version_info < (3, 13) else _thread.LockType)
assert type(threading.Lock()) is _thread.LockType
check_lock(during)          # locks made while profiled keep working after stop
check_rlock(during_r)
print("semantics ok")
"""


def test_profiled_locks_behave_like_real_locks(tmp_path):
    view, out = profile_run(tmp_path, SEMANTICS, DD_PROFILING_CAPTURE_PCT="100")
    assert "semantics ok" in out
    # Condition.wait's release/re-acquire of the RLock is recorded too.
    assert view.total("lock-acquire") > 0 and view.total("lock-release") > 0
