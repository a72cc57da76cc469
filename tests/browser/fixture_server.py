"""A filled ``stacksight serve`` for the browser tests and the screenshots.

Starts the server on a free loopback port with a fresh database and fills it
with: real uploads from the project's own Python profiler (a short profiled
program with CPU, wall, exceptions and a lock; and from the Ruby gem when its
extension is built), the generated 14,000-stack profile, a Go-style upload of
several attachments, an upload whose
profiler dropped 46 % of its samples, heap snapshots of two processes to
merge, a small profile with exception and lock labels, two versions of one
service to compare, and a service profiled on two hosts over ten minutes
(one host pausing) for the Metrics tab.  Prints one JSON
line ({"url", "ids": {...}}) and serves until its standard input closes.

    .venv/bin/python tests/browser/fixture_server.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(REPO, "tests", "python"), os.path.join(REPO, "ext")]

import big_profile  # noqa: E402
import pprof_pb  # noqa: E402
from serve_helpers.server import start_serve  # noqa: E402
from serve_helpers.uploads import (SECOND_NS, cpu_profile, encode_multipart, make_event,  # noqa: E402
                                   post_upload, upload)

PROFILED_PROGRAM = r"""
import threading, time
from stacksight import Profiler
p = Profiler(service="shop-py").start()
lock = threading.Lock()

def parse_order(n):
    return sum(i * i for i in range(n))

def render_page():
    return "".join(str(i) for i in range(3000))

def validate(x):
    if x % 3 == 0:
        raise ValueError("bad order")

def worker():
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        with lock:
            parse_order(20000)
        time.sleep(0.002)

t = threading.Thread(target=worker, name="order-worker")
t.start()
end = time.monotonic() + 2.5
i = 0
while time.monotonic() < end:
    render_page()
    with lock:
        pass
    try:
        validate(i)
    except ValueError:
        pass
    i += 1
t.join()
p.stop()
"""

# Two asyncio tasks awaiting different coroutines (3 to 1): the task filter.
ASYNCIO_PROGRAM = r"""
import asyncio
from stacksight import Profiler
p = Profiler(service="shop-aio", upload_interval=60).start()

async def load_orders():
    await asyncio.sleep(0.3)

async def read_cache():
    await asyncio.sleep(0.1)

async def orders():
    for _ in range(4):
        await load_orders()

async def cache():
    for _ in range(4):
        await read_cache()

async def main():
    await asyncio.gather(asyncio.create_task(orders(), name="orders"), asyncio.create_task(cache(), name="cache"))

asyncio.run(main())
p.stop()
"""

RUBY_PROGRAM = """
t = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 2.0
def checkout_total(n) = (1..n).sum { |i| i * i }
x = 0
x += checkout_total(2000) while Process.clock_gettime(Process::CLOCK_MONOTONIC) < t
"""


GO_TRACE_BYTES = b"go 1.23 trace\x00\x00\x00" + bytes(range(256))


def _env(url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
    env["PYTHONPATH"] = os.path.join(REPO, "ext")
    env.update({"DD_TRACE_AGENT_URL": url, "DD_ENV": "prod", "DD_VERSION": "1.4",
                "DD_PROFILING_UPLOAD_INTERVAL": "1"}, **extra)
    return env


def _wait_for(url: str, service: str, timeout: float = 30) -> list[int]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(f"{url}/api/profiles?service={service}", timeout=10) as reply:
            rows = json.load(reply)["profiles"]
        if rows:
            return [row["id"] for row in rows]
        time.sleep(0.2)
    return []


def real_uploads(url: str) -> dict:
    ids = {}
    python = subprocess.run([sys.executable, "-c", PROFILED_PROGRAM], env=_env(url), capture_output=True,
                            text=True, timeout=120)
    if python.returncode == 0:
        ids["python"] = _wait_for(url, "shop-py")
    else:
        sys.stderr.write(f"fixture: the profiled Python program failed: {python.stderr[-2000:]}\n")
    if (3, 11) <= sys.version_info[:2] <= (3, 14):   # where asyncio tasks are sampled
        tasks = subprocess.run([sys.executable, "-c", ASYNCIO_PROGRAM], env=_env(url), capture_output=True,
                               text=True, timeout=120)
        if tasks.returncode == 0:
            ids["asyncio"] = _wait_for(url, "shop-aio")
        else:
            sys.stderr.write(f"fixture: the asyncio program failed: {tasks.stderr[-2000:]}\n")
    ruby = shutil.which("ruby")
    gem_lib = os.path.join(REPO, "gem", "lib")
    if ruby and subprocess.run([ruby, "-I", gem_lib, "-e", 'require "stacksight"; exit(Stacksight.native? ? 0 : 1)'],
                               capture_output=True).returncode == 0:
        env = _env(url, DD_SERVICE="shop-rb", DD_PROFILING_ENABLED="true", DD_PROFILING_UPLOAD_PERIOD="1",
                   RUBYLIB=gem_lib)
        result = subprocess.run([ruby, "-rstacksight/preload", "-e", RUBY_PROGRAM], env=env, capture_output=True,
                                text=True, timeout=120)
        if result.returncode == 0:
            ids["ruby"] = _wait_for(url, "shop-rb")
    return ids


def generated_uploads(url: str) -> dict:
    start = time.time_ns() - 3600 * SECOND_NS
    ids = {}
    raw = pprof_pb.encode_profile(big_profile.big_profile(), "gzip")
    ids["big"] = upload(url, {"service": "big-py", "env": "prod", "version": "2", "host": "web-9",
                              "runtime": "CPython", "runtime-id": "big-1"}, profile_bytes=raw, start_ns=start)
    event = make_event({"service": "lossy", "env": "prod", "runtime": "CPython"}, start, start + 60 * SECOND_NS,
                       internal={"samples_dropped": 460, "samples_folded": 0, "sampler": {"thread_samples": 1000}})
    body, content_type = encode_multipart([
        ("event", "event.json", "application/json", json.dumps(event).encode()),
        ("profile.pprof", "profile.pprof", "application/octet-stream", pprof_pb.encode_profile(cpu_profile()))])
    status, _, answer = post_upload(url, body, content_type)
    assert status == 200, answer
    ids["lossy"] = json.loads(answer)["id"]
    # A Go-style upload: several profiles (zstd, Go's type names) and an
    # execution trace serve does not read.
    go_cpu = pprof_pb.build_profile([("samples", "count"), ("cpu", "nanoseconds")],
                                    [(["main.main", "main.hot"], [90, 900_000_000])])
    go_mutex = pprof_pb.build_profile([("contentions", "count"), ("delay", "nanoseconds")],
                                      [(["main.main", "sync.(*Mutex).Lock"], [3, 5_000_000])])
    parts = [("delta-mutex.pprof", pprof_pb.encode_profile(go_mutex, "zstd")),
             ("cpu.pprof", pprof_pb.encode_profile(go_cpu, "zstd")), ("go.trace", GO_TRACE_BYTES)]
    event = make_event({"service": "go-svc", "env": "prod", "runtime": "go"}, start, start + 60 * SECOND_NS,
                       attachments=[name for name, _ in parts])
    body, content_type = encode_multipart(
        [("event", "event.json", "application/json", json.dumps(event).encode())] +
        [(name, name, "application/octet-stream", data) for name, data in parts])
    status, _, answer = post_upload(url, body, content_type)
    assert status == 200, answer
    ids["go"] = json.loads(answer)["id"]
    heap_types = [("alloc-space", "bytes"), ("heap-space", "bytes")]
    ids["heap"] = []
    for index, (process, live_mib) in enumerate([("a", 100), ("a", 150), ("a", 167), ("b", 60), ("b", 50)]):
        profile = pprof_pb.build_profile(heap_types, [(["main", "load_cache"], [10 << 20, live_mib << 20]),
                                                      (["main", "session_store"], [1 << 20, 4 << 20])])
        ids["heap"].append(upload(url, {"service": "heapy", "env": "prod", "runtime": "CPython",
                                        "runtime-id": f"process-{process}"},
                                  profile_bytes=pprof_pb.encode_profile(profile), start_ns=start + index * 60 * SECOND_NS))
    labelled = pprof_pb.build_profile([("exception-samples", "count"), ("lock-acquire-wait", "nanoseconds")], [
        (["main", "handle", "validate"], [5, 0], {"exception type": "builtins.ValueError", "thread name": "w1"}),
        (["main", "handle", "lookup"], [2, 0], {"exception type": "builtins.KeyError", "thread name": "w2"}),
        (["main", "handle", "cache_get"], [0, 7_000_000], {"lock name": "cache.py:12:cache_lock", "thread name": "w1"}),
        (["main", "flush"], [0, 3_000_000], {"lock name": "log.py:40:log_lock", "thread name": "w2"})])
    ids["labels"] = upload(url, {"service": "labelled", "env": "prod", "runtime": "CPython"},
                           profile_bytes=pprof_pb.encode_profile(labelled), start_ns=start)
    # Version 2 of "compare-py" spends less in parse, more in a new render_v2
    # and nothing in legacy_format.
    cpu = [("cpu-time", "nanoseconds"), ("wall-time", "nanoseconds")]
    versions = {"1": [(["main", "handle", "parse"], [600, 600]), (["main", "handle", "legacy_format"], [200, 200]),
                      (["main", "io_wait"], [200, 900])],
                "2": [(["main", "handle", "parse"], [200, 200]), (["main", "handle", "render_v2"], [600, 600]),
                      (["main", "io_wait"], [200, 900])]}
    ids["compare"] = {}
    for version, rows in versions.items():
        ids["compare"][version] = upload(url, {"service": "compare-py", "env": "prod", "version": version,
                                               "runtime": "CPython"},
                                         profile_bytes=pprof_pb.encode_profile(pprof_pb.build_profile(cpu, rows)),
                                         start_ns=start + int(version) * 60 * SECOND_NS)
    # "metered": web-1 every minute for 10 minutes, web-2 minutes 0-2 and 7-9.
    metered = [("cpu-time", "nanoseconds"), ("wall-time", "nanoseconds"), ("exception-samples", "count"),
               ("lock-acquire-wait", "nanoseconds")]
    ids["metered"] = []
    for host, minutes in (("web-1", range(10)), ("web-2", [0, 1, 2, 7, 8, 9])):
        for minute in minutes:
            busy = 20 + minute if host == "web-1" else 8 + 2 * minute
            rows = [(["main", "serve"], [busy * SECOND_NS, 60 * SECOND_NS, 30 + busy, busy * SECOND_NS // 4])]
            ids["metered"].append(upload(
                url, {"service": "metered", "env": "prod", "host": host, "runtime": "CPython"},
                profile_bytes=pprof_pb.encode_profile(pprof_pb.build_profile(metered, rows)),
                start_ns=start + minute * 60 * SECOND_NS))
    ids["metered_range"] = [(start - 60 * SECOND_NS) / SECOND_NS, (start + 11 * 60 * SECOND_NS) / SECOND_NS]
    return ids


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="stacksight-browser-")
    server = start_serve(os.path.join(tmp, "profiles.db"))
    try:
        ids = generated_uploads(server.url)
        ids.update(real_uploads(server.url))
        print(json.dumps({"url": server.url, "ids": ids}), flush=True)
        sys.stdin.read()  # serve until the test closes our input
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
