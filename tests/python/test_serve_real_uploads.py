"""Real uploads from a profiled Python process and a profiled Ruby process
reach `stacksight serve` and are listed with the right facets."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

import pprof_pb

from conftest import REPO, clean_env
from serve_helpers.server import serve_server  # noqa: F401  (fixture)

RUBY = shutil.which("ruby")
GEM_LIB = os.path.join(REPO, "gem", "lib")


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)


def wait_for_service(server, service, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = get_json(server.url + f"/api/profiles?service={service}")["profiles"]
        if rows:
            return rows
        time.sleep(0.2)
    return []


def test_python_and_ruby_uploads_are_listed_with_their_facets(serve_server, tmp_path):  # noqa: F811
    env = clean_env(DD_TRACE_AGENT_URL=serve_server.url, DD_ENV="staging", DD_VERSION="2.1",
                    DD_PROFILING_UPLOAD_INTERVAL="0.5")
    py = subprocess.run([sys.executable, "-c", """
import time
from stacksight import Profiler
p = Profiler(service="py-svc").start()
end = time.monotonic() + 1.2
while time.monotonic() < end:
    sum(range(1000))
p.stop()
"""], env=env, capture_output=True, text=True, timeout=120)
    assert py.returncode == 0, py.stderr
    rows = wait_for_service(serve_server, "py-svc")
    assert len(rows) >= 2
    row = rows[0]
    assert row["env"] == "staging" and row["version"] == "2.1" and row["runtime"] == "CPython"
    assert row["cpu_cores"] > 0.3

    ruby_ready = RUBY and subprocess.run(
        [RUBY, "-I", GEM_LIB, "-e", 'require "stacksight"; exit(Stacksight.native? ? 0 : 1)'],
        capture_output=True).returncode == 0
    if ruby_ready:
        env_rb = dict(env, DD_PROFILING_UPLOAD_PERIOD="0.5", DD_SERVICE="rb-svc", DD_PROFILING_ENABLED="true",
                      RUBYLIB=GEM_LIB)
        rb = subprocess.run([RUBY, "-rstacksight/preload", "-e", """
t = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 1.2
x = 0
x += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) < t
"""], env=env_rb, capture_output=True, text=True, timeout=120)
        assert rb.returncode == 0, rb.stderr
        rb_rows = wait_for_service(serve_server, "rb-svc")
        assert rb_rows and rb_rows[0]["runtime"] == "ruby" and rb_rows[0]["env"] == "staging"

    facets = get_json(serve_server.url + "/api/facets")["facets"]
    services = {v["value"]: v["count"] for v in facets["service"]}
    assert services.get("py-svc", 0) >= 2
    runtimes = {v["value"] for v in facets["runtime"]}
    assert "CPython" in runtimes and (not ruby_ready or "ruby" in runtimes)
    graph = get_json(serve_server.url + f"/api/profiles/{row['id']}/flamegraph?type=cpu-time")
    assert graph["total"] > 0
    if not ruby_ready:
        pytest.skip("the gem's native extension is not built: Ruby uploads not checked")


# Units Grafana Pyroscope knows, plus nanoseconds for CPU and wall time.
PYROSCOPE_UNITS = {"samples", "objects", "goroutines", "bytes", "lock_nanoseconds", "lock_samples", "nanoseconds"}


def test_pyroscope_push_carries_a_sample_type_config_for_every_type(serve_server, tmp_path):  # noqa: F811
    # Push only to Pyroscope's /ingest (no agent), every profile type on.
    env = clean_env(STACKSIGHT_PYROSCOPE_URL=serve_server.url, DD_ENV="staging", DD_VERSION="3.0",
                    DD_PROFILING_UPLOAD_INTERVAL="0.5", DD_PROFILING_LOCK_ENABLED="true",
                    DD_PROFILING_MEMORY_ENABLED="true", DD_PROFILING_HEAP_ENABLED="true",
                    DD_PROFILING_EXCEPTION_ENABLED="true")
    py = subprocess.run([sys.executable, "-c", """
import threading, time
from stacksight import Profiler
p = Profiler(service="pyro-svc").start()
lock = threading.Lock()
kept = []
end = time.monotonic() + 1.2
while time.monotonic() < end:
    with lock:
        kept.append(bytearray(4096)); del kept[:-100]
    try:
        raise KeyError(1)
    except KeyError:
        pass
    sum(range(1000))
p.stop()
"""], env=env, capture_output=True, text=True, timeout=120)
    assert py.returncode == 0, py.stderr
    rows = wait_for_service(serve_server, "pyro-svc")
    assert rows, py.stderr
    row = rows[0]
    assert row["source"] == "pyroscope" and row["runtime"] == "CPython" and row["host"]
    assert row["env"] == "staging" and row["version"] == "3.0"
    detail = get_json(serve_server.url + f"/api/profiles/{row['id']}")
    kinds = {a["name"]: a["kind"] for a in detail["attachments"]}
    assert kinds == {"profile.pprof": "pprof", "sample_type_config.json": "json"}, kinds
    with urllib.request.urlopen(serve_server.url + f"/api/profiles/{row['id']}/download"
                                "?attachment=sample_type_config.json", timeout=10) as reply:
        config = json.load(reply)
    sent_types = {entry["type"]: entry["unit"] for entry in detail["totals"]}
    assert {"cpu-time", "wall-time", "alloc-space", "heap-space", "lock-acquire-wait",
            "exception-samples"} <= set(sent_types), sent_types
    for type_name, unit in sent_types.items():
        entry = config[type_name]  # every type the profile holds is described
        assert entry["units"] in PYROSCOPE_UNITS, entry
        expected_units = {"bytes": {"bytes"}, "nanoseconds": {"nanoseconds", "lock_nanoseconds"},
                          "count": {"samples", "objects", "lock_samples"}}[unit]
        assert entry["units"] in expected_units, (type_name, entry)
        assert entry["cumulative"] is False  # each profile is one period's delta
        assert entry["aggregation"] == ("average" if type_name.startswith("heap-") else "sum"), entry
    # Pyroscope names the push from its first type's display name: process_cpu
    # when that contains "cpu".
    with urllib.request.urlopen(serve_server.url + f"/api/profiles/{row['id']}/download", timeout=10) as reply:
        pprof = pprof_pb.decode_profile(reply.read())
    first_type = pprof.string_table[pprof.sample_type[0].type]
    assert "cpu" in config[first_type]["display-name"], (first_type, config[first_type])
    assert config["alloc-space"]["display-name"].startswith("alloc_")
    assert config["heap-space"]["display-name"].startswith("inuse_")
    assert config["lock-acquire-wait"]["display-name"].startswith("mutex_")
    graph = get_json(serve_server.url + f"/api/profiles/{row['id']}/flamegraph?type=cpu-time")
    assert graph["total"] > 0
