"""Main thread burns CPU in three functions in a 50/30/20 split; a second
thread sleeps the whole run; a third sits in one long GIL-holding C call."""
import sys
import threading
import time

from stacksight import Profiler


def burn(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


# Each call lasts several sampling periods: calls much shorter than a period,
# repeated in a fixed cycle, alias with the kernel's timer tick and the split
# then depends on their phase rather than on the profiler.
def fifty():
    return burn(500_000)


def thirty():
    return burn(300_000)


def twenty():
    return burn(200_000)


def sleeper(stop):
    stop.wait()


def in_c_call(stop):
    # sum() over a range runs in C and never releases the GIL or enters the eval loop.
    while not stop.is_set():
        sum(range(30_000_000))


def main():
    prefix, seconds = sys.argv[1], float(sys.argv[2])
    with_c_thread = len(sys.argv) > 3 and sys.argv[3] == "c"
    stop = threading.Event()
    threading.Thread(target=sleeper, args=(stop,), name="sleeper").start()
    if with_c_thread:
        threading.Thread(target=in_c_call, args=(stop,), name="c-caller").start()
    profiler = Profiler(service="cpu-split", env="test", output_pprof=prefix, upload_interval=3600)
    profiler.start()
    # `seconds` of this thread's CPU, not of wall time: a loaded or
    # sanitized run still gets the same number of CPU slices.
    cpu_end = time.thread_time() + seconds
    wall_end = time.monotonic() + 10 * seconds
    while time.thread_time() < cpu_end and time.monotonic() < wall_end:
        fifty()
        thirty()
        twenty()
    stop.set()
    profiler.stop()


if __name__ == "__main__":
    main()
