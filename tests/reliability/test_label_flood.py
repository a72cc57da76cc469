"""Label values minted without bound must not crowd out function names.

A server that names each request thread "Thread-N (process_request_thread)"
creates a new thread name per request, forever. Interned strings are
permanent, so before ss_intern_label those names filled the interner after
~130 000 threads and every function defined later was reported as
"[interner full]". The flood here is renames (fast), the check is that code
first seen after the flood keeps its own name."""
import glob
import json

from rel_helpers import ProfileView, crashed, run_python

CHILD = """
import json, sys, threading, time
from stacksight import Profiler
p = Profiler(service="flood", output_pprof=PREFIX, upload_interval=60).start()
t = threading.current_thread()
for i in range(200_000):
    t.name = f"Thread-{i} (process_request_thread)"
exec("def defined_after_the_flood():\\n"
     "    end = time.monotonic() + 0.6\\n"
     "    while time.monotonic() < end:\\n"
     "        pass\\n")
defined_after_the_flood()
p.stop()
"""


def test_thread_name_flood_keeps_function_names(tmp_path):
    prefix = str(tmp_path / "flood")
    result = run_python(CHILD.replace("PREFIX", repr(prefix)), timeout=300)
    assert not crashed(result) and result.returncode == 0, result.stderr[-3000:]
    views = [ProfileView(open(p, "rb").read()) for p in glob.glob(prefix + ".*.pprof")]
    cpu = {}
    for v in views:
        for name, ns in v.self_by_function("cpu-time").items():
            cpu[name] = cpu.get(name, 0) + ns
    assert cpu.get("defined_after_the_flood", 0) > 0, sorted(cpu.items(), key=lambda kv: -kv[1])[:5]
    assert "[interner full]" not in cpu, cpu
