"""Two workers alternate 1 ms of computing and 2 ms of sleeping: nearly all
their CPU is spent in `compute`, although they are usually seen sleeping."""
import sys
import threading
import time

from stacksight import Profiler


def compute(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def wait(seconds):
    time.sleep(seconds)


def worker(stop):
    while not stop.is_set():
        compute(0.001)
        wait(0.002)


def main():
    prefix, seconds = sys.argv[1], float(sys.argv[2])
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(stop,), name=f"worker-{i}") for i in range(2)]
    profiler = Profiler(output_pprof=prefix, upload_interval=3600).start()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    profiler.stop()


if __name__ == "__main__":
    main()
