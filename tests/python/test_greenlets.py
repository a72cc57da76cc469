"""gevent: greenlets are not sampled one by one (greenlet keeps a suspended
greenlet's frames in a private C++ structure with no published layout), and
the profiler says so once instead of reading what it cannot read safely."""
import pytest

from conftest import run_python
from profile_view import load, profile_files

pytest.importorskip("gevent")

PROGRAM = """
import sys
{before}
from stacksight import Profiler
p = Profiler(output_pprof={prefix!r}, upload_interval=60).start()
import gevent, gevent.monkey
gevent.monkey.patch_all()
import time

def burn(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(300))

def worker(n):
    for _ in range(3):
        burn(0.05)
        gevent.sleep(0.05)

gevent.joinall([gevent.spawn(worker, n) for n in range(4)])
p.stop()
"""


@pytest.mark.parametrize("before", ["", "import gevent"])
def test_one_warning_and_cpu_still_right(tmp_path, before):
    prefix = str(tmp_path / "g")
    result = run_python(PROGRAM.format(before=before, prefix=prefix))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("greenlets are not sampled one by one") == 1, result.stderr
    burn = total = 0
    for view in (load(f) for f in profile_files(prefix)):
        total += view.total("cpu-time")
        burn += view.total_by_function("cpu-time").get("burn", 0)
    # 4 greenlets x 3 x 50 ms of burning: CPU goes to the greenlet that ran
    # (the rest of the total is imports and gevent's start-up)
    assert 0.8 * 0.6e9 <= burn <= 1.2 * 0.6e9 and burn <= total, (burn, total)
