"""The profiler holds no file descriptor a program could see, count, pass on
or close: daemons close every fd above 2, and CPython's test_subprocess
checks exactly which fds a child has."""
import subprocess
import sys

from conftest import clean_env
from profile_view import load, profile_files

PROGRAM = r"""
import os, time
before = set(os.listdir("/proc/self/fd"))
import stacksight.auto
time.sleep(0.3)
assert set(os.listdir("/proc/self/fd")) == before, (before, os.listdir("/proc/self/fd"))
os.closerange(3, 65536)   # what a daemon does; the profiler must go on

def after_closerange():
    end = time.thread_time() + 0.5
    while time.thread_time() < end:
        pass

after_closerange()
stacksight.auto.profiler.stop()
"""


def test_no_descriptor_of_ours_and_closing_all_fds_does_not_stop_profiling(tmp_path):
    prefix = str(tmp_path / "p")
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60,
                          env=clean_env(DD_PROFILING_OUTPUT_PPROF=prefix, DD_PROFILING_UPLOAD_PERIOD=3600))
    assert done.returncode == 0, done.stderr
    cpu = sum(s.values.get("cpu-time", 0) for f in profile_files(prefix) for s in load(f).samples
              if "after_closerange" in s.stack)
    assert 0.3e9 <= cpu <= 0.7e9, cpu
