"""Threads parked (or spinning) at a 64-frame Python stack, for the per-sample cost micro-benchmark.

Each thread recurses until its Python stack is exactly DEPTH frames deep
(counting threading's own bootstrap frames) and then either waits on an
Event (parked: no CPU, so the sampler's cost per thread-sample is the walk
alone) or spins in a loop (busy: frames in use, CPU clock read each tick).
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
            for i in range(2000):
                x += i
        return x
    release.wait()
    return 0


def _thread_main(ready, release, busy):
    depth_here = 0
    f = sys._getframe()
    while f is not None:
        depth_here += 1
        f = f.f_back
    # depth_here counts this frame; _descend adds one frame per level.
    _descend(DEPTH - depth_here, ready, release, busy)


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
