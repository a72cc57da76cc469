"""Threads parked (or busy) at a 64-frame Python stack, for the per-sample cost micro-benchmark.

Each thread recurses until its Python stack is DEPTH-1 frames deep (counting
threading's own bootstrap frames) and then either waits on an Event
(parked: no CPU and a stack that never changes) or keeps calling two
different leaf functions in turn (busy: the 64th frame changes all the
time, so the sampler must really walk, and the thread's CPU clock moves).
run(seconds, threads, busy) holds them there for `seconds`."""
import sys
import threading
import time

DEPTH = 64


def _descend(remaining, ready, release, busy):
    if remaining > 1:
        return _descend(remaining - 1, ready, release, busy)
    ready.release()
    if busy:
        x = 0
        while not release.is_set():
            x += _leaf_a(x) + _leaf_b(x)
        return x
    release.wait()
    return 0


def _leaf_a(x):
    for i in range(300):
        x ^= i
    return x & 1


def _leaf_b(x):
    for i in range(300):
        x += i
    return x & 1


def _thread_main(ready, release, busy):
    depth_here = 0
    f = sys._getframe()
    while f is not None:
        depth_here += 1
        f = f.f_back
    # depth_here counts this frame; _descend adds one frame per level. A
    # parked thread's Event.wait adds two Python frames (Event.wait,
    # Condition.wait), a busy one's leaf call one: DEPTH frames in both.
    _descend(DEPTH - depth_here - (1 if busy else 2), ready, release, busy)


def run(seconds, threads=16, busy=False):
    ready = threading.Semaphore(0)
    release = threading.Event()
    ts = [threading.Thread(target=_thread_main, args=(ready, release, busy), name=f"deep-{i}")
          for i in range(threads)]
    for t in ts:
        t.start()
    for _ in ts:
        ready.acquire()
    time.sleep(seconds)
    release.set()
    for t in ts:
        t.join()
    return {"threads": threads, "depth": DEPTH, "busy": busy}
