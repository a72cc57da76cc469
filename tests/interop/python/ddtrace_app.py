"""The program ddtrace profiles in tests/python/test_serve_datadog_clients.py.

Run under ``ddtrace-run`` with DD_PROFILING_ENABLED=true: mostly CPU in
``stacksight_hot_loop`` (the test expects it on top of the CPU flame graph),
plus a contended lock, allocations kept alive and caught exceptions so that
every profile type ddtrace sends has something in it.
"""
import sys
import threading
import time

LOCK = threading.Lock()
KEPT = []


def stacksight_hot_loop(seconds):
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        for i in range(2000):
            total += i * i
    return total


def lock_holder(stop):
    while not stop.is_set():
        with LOCK:
            time.sleep(0.002)
        time.sleep(0.001)


def allocate_and_raise():
    KEPT.append(bytearray(256 * 1024))
    del KEPT[:-32]
    try:
        raise ValueError("expected by the test")
    except ValueError:
        pass


def main(seconds):
    stop = threading.Event()
    holder = threading.Thread(target=lock_holder, args=(stop,), name="lock-holder")
    holder.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        stacksight_hot_loop(0.05)
        with LOCK:
            allocate_and_raise()
    stop.set()
    holder.join()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
