"""Datadog's own profilers upload to a real ``stacksight serve``.

ddtrace (PyPI) profiles tests/interop/python/ddtrace_app.py; dd-trace-go v1
and v2 (Go module proxy) profile tests/interop/go/*.  `make interop-clients`
installs them under build/interop; a client that could not be installed
skips its test with the reason the build recorded.

Each test runs the client for a few short profiling periods against
``python -m stacksight.serve`` in its own process, then checks what a user
would: every upload answered 200 and nothing refused in the server's log,
each profile listed with the service/env/version/runtime/host facets, the
profile types under the names the Search Profiles page gives them, the
program's own hot function on top of the CPU flame graph, the attachments
the explorer cannot read (go.trace) kept byte for byte and downloadable, and
the downloaded profile readable by ``go tool pprof``.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
import zstandard

import flame_answer
from conftest import REPO
from serve_helpers.server import subprocess_env
from serve_helpers.uploads import get_json, http_request

INTEROP = os.path.join(REPO, "build", "interop")
DDTRACE_PYTHON = os.path.join(INTEROP, "ddtrace-venv", "bin", "python")
DDTRACE_RUN = os.path.join(INTEROP, "ddtrace-venv", "bin", "ddtrace-run")
DDTRACE_APP = os.path.join(REPO, "tests", "interop", "python", "ddtrace_app.py")
GO = shutil.which("go") or "/usr/local/go/bin/go"
HOSTNAME = socket.gethostname()
INTAKE_LINE = re.compile(r'"POST /profiling/v1/input HTTP/1\.\d" (\d+)')

# What the Search Profiles page calls each runtime's profile types.
PYTHON_TYPE_NAMES = {"CPU", "Wall Time", "Heap Live Size", "Allocated Memory", "Allocations",
                     "Thrown Exceptions", "Lock Wait Time", "Locked Time", "Lock Acquires", "Lock Releases"}
GO_TYPE_NAMES = {"CPU", "Heap Live Size", "Allocated Memory", "Allocations", "Mutex", "Block", "Goroutines"}
GO_HOT_FUNCTION = "stacksight.test/workload.StacksightHotLoop"


def client_or_skip(path: str, name: str, marker: str) -> str:
    if os.path.exists(path):
        return path
    reason_file = os.path.join(INTEROP, marker + ".unavailable")
    if not os.path.exists(reason_file):
        pytest.skip(f"{name} is not built in {INTEROP} (run `make interop-clients`)")
    with open(reason_file, encoding="utf-8", errors="replace") as handle:
        reason = handle.read().strip() or "install failed"
    pytest.skip(f"{name} could not be installed here: {reason}")


class ServeProcess:
    """``python -m stacksight.serve`` on a free port, its log in a file."""

    def __init__(self, tmp_path):
        self.log_path = tmp_path / "serve.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stacksight.serve", "--port", "0", "--db", str(tmp_path / "profiles.db")],
            stdout=subprocess.PIPE, stderr=self._log, text=True, env=subprocess_env())
        line = self.process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise AssertionError(f"serve did not start: {line!r} {self.log()}")
        self.url = match.group(1)
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def serve_process(tmp_path):
    server = ServeProcess(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def profiles_of(server: ServeProcess, service: str) -> list[dict]:
    return get_json(f"{server.url}/api/profiles?service={service}&limit=500")["profiles"]


def check_every_upload_accepted(server: ServeProcess, stored: int) -> None:
    log = server.log()
    statuses = INTAKE_LINE.findall(log)
    assert "refused" not in log, log
    assert statuses and set(statuses) == {"200"}, log
    assert len(statuses) == stored, (len(statuses), stored, log)


def check_facets(server: ServeProcess, rows: list[dict], service: str, env: str, version: str,
                 runtime: str) -> None:
    for row in rows:
        assert (row["service"], row["env"], row["version"], row["runtime"], row["host"]) == \
            (service, env, version, runtime, HOSTNAME), row
    facets = get_json(f"{server.url}/api/facets")["facets"]
    for facet, value in (("service", service), ("env", env), ("version", version), ("runtime", runtime),
                         ("host", HOSTNAME)):
        counts = {entry["value"]: entry["count"] for entry in facets[facet]}
        assert counts.get(value) == len(rows), (facet, facets[facet])


def type_names(server: ServeProcess, profile_id: int) -> dict[str, int]:
    detail = get_json(f"{server.url}/api/profiles/{profile_id}")
    return {entry["display"]: entry["total"] for entry in detail["totals"]}


def merged_graph(server: ServeProcess, service: str, type_name: str) -> dict:
    return get_json(f"{server.url}/api/merged?service={service}&type={type_name}")


def top_self(answer: dict) -> tuple[str, float]:
    functions = flame_answer.functions(answer)
    name, figures = max(functions.items(), key=lambda item: item[1]["self"])
    return name, figures["self"] / answer["total"]


def go_pprof_top(tmp_path, data: bytes, sample_index: str) -> str:
    if not os.path.exists(GO):
        return ""
    path = tmp_path / f"downloaded-{sample_index}.pprof"
    path.write_bytes(data)
    result = subprocess.run([GO, "tool", "pprof", "-top", f"-sample_index={sample_index}", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def first_flat_function(pprof_top: str) -> str:
    """The function of the first row of ``go tool pprof -top`` (highest flat)."""
    for line in pprof_top.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1].endswith("%") and fields[4].endswith("%"):
            return fields[5]
    raise AssertionError(pprof_top)


def test_ddtrace_uploads_are_stored_listed_and_drawn(serve_process, tmp_path):
    client_or_skip(DDTRACE_RUN, "ddtrace 4.16.0", "ddtrace")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DD_TRACE_AGENT_URL": serve_process.url, "DD_PROFILING_ENABLED": "true",
           "DD_SERVICE": "ddtrace-app", "DD_ENV": "interop", "DD_VERSION": "4.16.0",
           "DD_PROFILING_UPLOAD_INTERVAL": "1", "DD_PROFILING_EXCEPTION_ENABLED": "true"}
    run = subprocess.run([DDTRACE_RUN, DDTRACE_PYTHON, DDTRACE_APP, "4"], env=env, capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "Unsupported Datadog agent" not in run.stderr, run.stderr
    time.sleep(0.5)  # the exit upload may still be being stored
    rows = profiles_of(serve_process, "ddtrace-app")
    assert len(rows) >= 2, (rows, serve_process.log())
    check_every_upload_accepted(serve_process, len(rows))
    check_facets(serve_process, rows, "ddtrace-app", "interop", "4.16.0", "CPython")
    assert max(row["cpu_cores"] for row in rows) > 0.3

    # The busiest period: ddtrace's last upload, sent while it stops, can be
    # a ~0.2 s profile with no CPU samples, which opens on another type and
    # offers only the types it has samples of.
    busiest = max(rows, key=lambda row: row["cpu_cores"])
    detail = get_json(f"{serve_process.url}/api/profiles/{busiest['id']}")
    assert detail["request_headers"]["dd-evp-origin"] == "dd-trace-py"
    assert detail["default_type"] == "cpu-time"
    names = type_names(serve_process, busiest["id"])
    assert PYTHON_TYPE_NAMES <= set(names), names

    cpu = merged_graph(serve_process, "ddtrace-app", "cpu-time")
    hot, share = top_self(cpu)
    assert hot == "stacksight_hot_loop" and share > 0.5, (hot, share)
    for type_name, expected in (("wall-time", "lock_holder"), ("alloc-space", "allocate_and_raise"),
                                ("heap-space", "allocate_and_raise")):
        graph = merged_graph(serve_process, "ddtrace-app", type_name)
        assert graph["type"] == type_name and graph["total"] > 0, type_name
        assert expected in flame_answer.functions(graph), (type_name, list(flame_answer.functions(graph)))

    # ddtrace compresses with zstd, which go tool pprof cannot open: the
    # download is gzip pprof; the bytes as received stay available. (The
    # newest upload may be the last, ~0.2 s one ddtrace sends while it stops:
    # the busiest period is the one whose top function is known.)
    newest = max(rows, key=lambda row: row["cpu_cores"])
    status, headers, body = http_request(f"{serve_process.url}/api/profiles/{newest['id']}/download")
    assert status == 200 and body[:2] == b"\x1f\x8b", headers
    status, _, received = http_request(
        f"{serve_process.url}/api/profiles/{newest['id']}/download?attachment=profile.pprof&as=received")
    assert status == 200 and received[:4] == b"\x28\xb5\x2f\xfd"
    assert zstandard.ZstdDecompressor().decompressobj().decompress(received) == gzip.decompress(body)
    top = go_pprof_top(tmp_path, body, "cpu-time")
    if top:
        assert first_flat_function(top) == "stacksight_hot_loop", top


@pytest.mark.parametrize("client, version", [("v1", "v1.74.8"), ("v2", "v2.12.0")])
def test_dd_trace_go_uploads_are_stored_listed_and_drawn(serve_process, tmp_path, client, version):
    binary = client_or_skip(os.path.join(INTEROP, f"ddgo-{client}"), f"dd-trace-go {version}", f"ddgo-{client}")
    service = f"ddgo-{client}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DD_AGENT_HOST": "127.0.0.1", "DD_TRACE_AGENT_PORT": str(serve_process.port)}
    run = subprocess.run([binary, "-seconds", "4.5", "-period", "1"], env=env, capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "Unsupported" not in run.stderr and "failed" not in run.stderr.lower(), run.stderr
    time.sleep(0.5)
    rows = profiles_of(serve_process, service)
    assert len(rows) >= 3, (rows, run.stderr, serve_process.log())
    check_every_upload_accepted(serve_process, len(rows))
    check_facets(serve_process, rows, service, "interop", version, "go")
    assert max(row["cpu_cores"] for row in rows) > 0.3

    # The first upload of a process carries its execution trace: not pprof,
    # kept as received and offered for download.
    first = get_json(f"{serve_process.url}/api/profiles/{rows[-1]['id']}")
    assert f"profiler_version:{version}" in first["event"]["tags_profiler"].split(",")
    if client == "v2":  # v1 sends no origin header
        assert first["request_headers"]["dd-evp-origin"] == "dd-trace-go"
    kinds = {a["name"]: a["kind"] for a in first["attachments"]}
    assert kinds.get("go.trace") == "opaque", kinds
    assert {name for name, kind in kinds.items() if kind == "pprof"} >= {"cpu.pprof", "delta-heap.pprof",
                                                                        "delta-mutex.pprof", "delta-block.pprof"}
    status, _, trace = http_request(f"{serve_process.url}/api/profiles/{first['id']}/download?attachment=go.trace")
    assert status == 200
    size = {a["name"]: a["size"] for a in first["attachments"]}["go.trace"]
    assert len(trace) == size
    raw_trace = zstandard.ZstdDecompressor().decompressobj().decompress(trace) \
        if trace[:4] == b"\x28\xb5\x2f\xfd" else trace
    assert re.match(rb"go 1\.\d+ trace\0", raw_trace), raw_trace[:16]

    newest = rows[0]
    names = type_names(serve_process, newest["id"])
    assert GO_TYPE_NAMES <= set(names), names
    detail = get_json(f"{serve_process.url}/api/profiles/{newest['id']}")
    assert detail["default_type"] == "cpu-time"

    # CPU: the workload's hot function on top, in each profile and merged.
    for row in rows:
        answer = get_json(f"{serve_process.url}/api/profiles/{row['id']}/flamegraph?type=cpu-time")
        hot, share = top_self(answer)
        assert hot == GO_HOT_FUNCTION and share > 0.5, (row["id"], hot, share)
    hot, share = top_self(merged_graph(serve_process, service, "cpu-time"))
    assert hot == GO_HOT_FUNCTION and share > 0.7, (hot, share)

    # Mutex and Block are different profiles of the same program, never summed.
    mutex = merged_graph(serve_process, service, "mutex-delay")
    block = merged_graph(serve_process, service, "block-delay")
    assert mutex["display"] == "Mutex" and block["display"] == "Block"
    assert mutex["total"] > 0 and block["total"] > 0 and mutex["total"] != block["total"]
    assert top_self(mutex)[0] == "sync.(*Mutex).Unlock", flame_answer.functions(mutex)
    assert any(name.startswith("runtime.chan") or name.startswith("runtime.select")
               for name in flame_answer.functions(block)), list(flame_answer.functions(block))
    assert "stacksight.test/workload.contend.func2" in flame_answer.functions(mutex)
    heap = merged_graph(serve_process, service, "heap-space")
    assert heap["total"] > 0 and "stacksight.test/workload.Run" in flame_answer.functions(heap)

    # The CPU profile downloads as gzip pprof (zstd on the wire) for go tool pprof.
    status, _, body = http_request(f"{serve_process.url}/api/profiles/{newest['id']}/download?attachment=cpu.pprof")
    assert status == 200 and body[:2] == b"\x1f\x8b"
    top = go_pprof_top(tmp_path, body, "cpu")
    if top:
        assert first_flat_function(top) == GO_HOT_FUNCTION, top
