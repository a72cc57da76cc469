"""Bad input must never crash or hang the host process.

The profiler starts inside applications whose environment, code and thread
names we do not choose: every documented variable set to junk, empty, 1 MB
or negative; 10 000-frame recursion; functions, files and thread names that
are non-ASCII, 100 kB long or not even valid UTF-8; the API called from a
signal handler or another thread; and an interpreter that shuts down while
the sampler is reading it (atexit, daemon threads still running, os._exit)."""
import glob
import json
import os
import re

import pytest

from rel_helpers import REPO, ProfileView, crashed, run_python

CONFIG_C = os.path.join(REPO, "src", "common", "config.c")


def documented_env_vars():
    text = open(CONFIG_C).read()
    return sorted(set(re.findall(r'"((?:DD|STACKSIGHT)_[A-Z_]+)"', text)))


# Parsed (not free-text) variables: junk in them must be reported by name.
STRINGS = {"DD_SERVICE", "DD_ENV", "DD_VERSION", "DD_API_KEY", "DD_SITE", "DD_PROFILING_OUTPUT_PPROF"}

VALUES = {
    "junk": "\x01%s%n{}é😀 ;,:=\t\\x'\"",
    "empty": "",
    "huge": "9" * (1 << 20),
    "negative": "-1",
}

ENV_CHILD = """
import json, logging, os, sys, time
records = []
class Keep(logging.Handler):
    def emit(self, r):
        records.append(r.getMessage())
log = logging.getLogger("stacksight"); log.addHandler(Keep()); log.propagate = False
names = json.loads(sys.argv[1]); value = sys.argv[2]
value = {"HUGE": "9" * (1 << 20)}.get(value, value)
from stacksight import Profiler, _native
# One at a time through the parser...
for name in names:
    os.environ[name] = value
    cfg = _native.config()
    assert 1 <= cfg["sample_hz"] <= 10000 and 1 <= cfg["max_frames"] <= 10000, cfg
    assert cfg["upload_interval"] >= 0.01 and cfg["api_timeout_ms"] >= 1, cfg
    del os.environ[name]
    _native.drain_log()
# ...then all at once, profiling for real.
for name in names:
    os.environ[name] = value
os.environ["DD_PROFILING_API_TIMEOUT_MS"] = "300"     # do not wait on an agent that is not there
os.environ.pop("DD_PROFILING_ENABLED", None)
try:
    p = Profiler(upload_interval=0.2).start()
except Exception as exc:
    print("start refused:", type(exc).__name__, exc, file=sys.stderr)
    p = None
end = time.monotonic() + 0.6
while time.monotonic() < end:
    sum(range(1000))
if p:
    p.stop()
_native.drain_log()
print(json.dumps({"records": records, "started": p is not None}))
"""


@pytest.mark.parametrize("kind", list(VALUES))
def test_every_env_var_with_bad_values(kind, tmp_path):
    names = documented_env_vars()
    assert len(names) >= 25, names
    value = "HUGE" if kind == "huge" else VALUES[kind]   # 1 MB does not fit execve's argv
    result = run_python(ENV_CHILD.replace("sys.argv[1]", repr(json.dumps(names))).replace(
        "sys.argv[2]", repr(value)), cwd=str(tmp_path), timeout=180)
    assert not crashed(result) and result.returncode == 0, result.stderr[-3000:]
    res = json.loads(result.stdout.strip().splitlines()[-1])
    assert res["started"], result.stderr[-2000:]
    # Warnings are short even for a 1 MB value, and bounded in number.
    assert all(len(m) < 2000 for m in res["records"]), max(map(len, res["records"]))
    mentioned = {n for n in names for m in res["records"] if n + "=" in m or n + ":" in m or n + " " in m}
    if kind in ("junk", "negative"):
        parsed = set(names) - STRINGS
        assert len(mentioned & parsed) >= len(parsed) // 2, sorted(parsed - mentioned)
    if kind == "huge":
        assert len(mentioned) >= len(names) // 2, sorted(set(names) - mentioned)


DEEP = """
import sys, time
from stacksight import Profiler
sys.setrecursionlimit(20000)
def spin_at_the_bottom():
    end = time.monotonic() + 0.8
    while time.monotonic() < end:
        pass
def down(n):
    return down(n - 1) if n else spin_at_the_bottom()
p = Profiler(service="deep", output_pprof=PREFIX, upload_interval=60).start()
down(10000)
p.stop()
"""


@pytest.mark.parametrize("max_frames", [None, "10000"])
def test_ten_thousand_frames(tmp_path, max_frames):
    prefix = str(tmp_path / "deep")
    env = {"STACKSIGHT_SAMPLE_HZ": 1000}
    if max_frames:
        env["DD_PROFILING_MAX_FRAMES"] = max_frames
    result = run_python(DEEP.replace("PREFIX", repr(prefix)), **env)
    assert not crashed(result) and result.returncode == 0, result.stderr[-3000:]
    views = [ProfileView(open(p, "rb").read()) for p in glob.glob(prefix + ".*.pprof")]
    samples = [s for v in views for s in v.samples if "spin_at_the_bottom" in s.stack]
    assert samples
    limit = int(max_frames or 64)
    deepest = max(len(s.stack) for s in samples)
    assert deepest <= limit, deepest
    assert all(s.stack[0] == "spin_at_the_bottom" for s in samples)   # leaf first, kept
    if not max_frames:
        assert any("frames omitted" in n for s in samples for n in s.stack)


NAMES = """
import threading, time
from stacksight import Profiler
LONG_FUNC = "ƒ_" + "名" * 50000
LONG_FILE = "/nowhere/ファイル_" + "x" * 100000 + ".py"
src = f"def {LONG_FUNC}(seconds):\\n    end = time.monotonic() + seconds\\n    while time.monotonic() < end:\\n        pass\\n"
ns = {"time": time}
exec(compile(src, LONG_FILE, "exec"), ns)
spin = ns[LONG_FUNC]
p = Profiler(service="names", output_pprof=PREFIX, upload_interval=60).start()
ran = []
def body():
    spin(0.4)
    ran.append(threading.current_thread().name)
names = ["スレッド-" + "y" * 100000, "bad\\udc80surrogate", "emoji-😀", ""]
threads = [threading.Thread(target=body, name=n) for n in names]
for t in threads:
    t.start()
threading.current_thread().name = "main\\udcff-renamed"
for t in threads:
    t.join(10)
spin(0.2)
p.stop()
assert len(ran) == len(names), ran
print("ok")
"""


def test_non_ascii_huge_and_invalid_names(tmp_path):
    prefix = str(tmp_path / "names")
    result = run_python(NAMES.replace("PREFIX", repr(prefix)), timeout=60, STACKSIGHT_SAMPLE_HZ=500)
    assert not crashed(result) and result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
    # The protobuf decoder rejects invalid UTF-8 in string fields, so decoding
    # at all shows the strings are valid; long ones are truncated.
    views = [ProfileView(open(p, "rb").read()) for p in glob.glob(prefix + ".*.pprof")]
    funcs = {n for v in views for s in v.samples for n in s.stack}
    long_funcs = [n for n in funcs if n.startswith("ƒ_名")]
    assert long_funcs and all(len(n.encode()) <= 4096 for n in long_funcs)
    thread_names = {s.labels.get("thread name") for v in views for s in v.samples}
    assert any(n and n.startswith("スレッド-y") for n in thread_names), thread_names


SIGNAL_STOP = """
import os, signal, threading, time
from stacksight import Profiler, _native
p = Profiler(service="sig", upload_interval=60, output_pprof=PREFIX)
signal.signal(signal.SIGUSR1, lambda *a: p.stop())
for i in range(20):
    p.start()
    end = time.monotonic() + 0.02
    while time.monotonic() < end:
        pass
    os.kill(os.getpid(), signal.SIGUSR1)      # stop() runs in the handler
    time.sleep(0.01)
    assert not _native.is_running()
# A signal storm while the main thread itself starts and stops.
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
signal.signal(signal.SIGALRM, lambda *a: p.stop())
for i in range(200):
    try:
        p.start()
    except Exception:
        pass
    p.stop()
signal.setitimer(signal.ITIMER_REAL, 0)
print("ok")
"""


def test_stop_from_a_signal_handler(tmp_path):
    result = run_python(SIGNAL_STOP.replace("PREFIX", repr(str(tmp_path / "sig"))), timeout=60)
    assert not crashed(result) and result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


START_IN_THREAD = """
import threading, time
from stacksight import Profiler, _native
p = Profiler(service="t", upload_interval=60, output_pprof=PREFIX)
t = threading.Thread(target=p.start); t.start(); t.join()
assert _native.is_running()
end = time.monotonic() + 0.3
while time.monotonic() < end:
    pass
threading.Thread(target=p.stop).start()
time.sleep(0.5)
assert not _native.is_running()
print("ok")
"""


def test_start_in_a_thread_stop_in_another(tmp_path):
    result = run_python(START_IN_THREAD.replace("PREFIX", repr(str(tmp_path / "t"))), timeout=60)
    assert not crashed(result) and result.returncode == 0, result.stderr[-3000:]
    assert glob.glob(str(tmp_path / "t") + ".*.pprof")


SHUTDOWN = {
    # exit with the profiler running: atexit flushes while daemon threads run
    "atexit": """
import threading, time, sys
from stacksight import Profiler
Profiler(service="x", upload_interval=0.05, output_pprof=PREFIX).start()
def deep(n):
    return deep(n - 1) if n else [sum(range(100)) for _ in iter(int, 1)]
for i in range(8):
    threading.Thread(target=deep, args=(200,), daemon=True).start()
time.sleep(0.05)
sys.exit(0)
""",
    # daemon threads keep running Python code through finalisation
    "daemon": """
import threading, time
from stacksight import Profiler
p = Profiler(service="x", upload_interval=0.05, output_pprof=PREFIX).start()
def churn():
    while True:
        threading.Thread(target=lambda: sum(range(1000))).start()
for i in range(4):
    threading.Thread(target=churn, daemon=True).start()
time.sleep(0.05)
""",
    # os._exit while sampling: no atexit, no flush, no hang
    "os_exit": """
import os, threading, time
from stacksight import Profiler
Profiler(service="x", upload_interval=0.05, output_pprof=PREFIX).start()
threading.Thread(target=lambda: [sum(range(100)) for _ in iter(int, 1)], daemon=True).start()
time.sleep(0.03)
os._exit(0)
""",
    # exit from a non-main thread's exception and from the main thread during an upload
    "stop_at_exit_with_slow_stop": """
import threading, time, atexit
from stacksight import Profiler, _native
p = Profiler(service="x", upload_interval=0.05, output_pprof=PREFIX).start()
atexit.register(lambda: _native.request_flush())
threading.Thread(target=lambda: [sum(range(100)) for _ in iter(int, 1)], daemon=True).start()
time.sleep(0.02)
""",
}


@pytest.mark.parametrize("case", list(SHUTDOWN))
def test_interpreter_shutdown_while_sampling(case, tmp_path):
    for i in range(8):    # races: several tries each
        result = run_python(SHUTDOWN[case].replace("PREFIX", repr(str(tmp_path / f"x{i}"))), timeout=60,
                            STACKSIGHT_SAMPLE_HZ=1000)
        assert not crashed(result) and result.returncode == 0, (i, result.returncode, result.stderr[-3000:])
