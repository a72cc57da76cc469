"""What hostile uploads cost a real `stacksight serve` (issue #13).

Each case starts a fresh `python -m stacksight.serve` (so its peak RSS is the
case's own), sends one request and prints the answer's status, the wall time
until the answer, the CPU the server process spent on it (from
/proc/PID/stat) and the server's peak RSS (VmHWM).  The goal for every case
inside the size limits: answered within about two seconds of CPU, memory
bounded (the decoder holds at most the per-upload limits).

    make bench-serve-hostile        (or: .venv/bin/python bench/serve_hostile.py)

Figures before the fixes, from the issue and the commit messages: a 175 KB
gzip of 10 M samples took 109 s of CPU and 6.5 GB; 30 attachments of 240 k
samples each took 17.5 s of CPU and 794 MB; 160 000 empty gzip members took
seconds (quadratic).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "python"))
sys.path.insert(0, os.path.join(REPO, "ext"))

from serve_helpers.uploads import (datadog_upload, encode_multipart, http_request, make_event,  # noqa: E402
                                   post_upload)

TICKS = os.sysconf("SC_CLK_TCK")
TAGS = {"service": "hostile-bench", "env": "bench"}


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _field(number: int, payload) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


HEAD = (_field(6, b"") + _field(6, b"cpu-time") + _field(6, b"nanoseconds") + _field(6, b"main")
        + _field(1, _field(1, 1) + _field(2, 2)) + _field(5, _field(1, 1) + _field(2, 3))
        + _field(4, _field(1, 1) + _field(4, _field(1, 1))))
SAMPLE = _field(2, _field(1, 1) + _field(2, 1))


def samples_bomb(count: int) -> bytes:
    return gzip.compress(HEAD + SAMPLE * count, 9)


def deep_stack_profile(depth: int) -> bytes:
    body = bytearray(_field(6, b"") + _field(6, b"cpu-time") + _field(6, b"nanoseconds")
                     + _field(1, _field(1, 1) + _field(2, 2)))
    for index in range(depth):
        body += _field(6, f"frame_{index}".encode())
        body += _field(5, _field(1, index + 1) + _field(2, index + 3))
        body += _field(4, _field(1, index + 1) + _field(4, _field(1, index + 1)))
    ids = b"".join(_varint(depth - i) for i in range(depth))  # leaf first
    body += _field(2, _field(1, ids) + _field(2, 5))
    return gzip.compress(bytes(body))


def many_attachments(count: int, per_attachment: int):
    attachment = samples_bomb(per_attachment)
    names = [f"p{i}.pprof" for i in range(count)]
    event = make_event(TAGS, time.time_ns() - 60 * 10**9, time.time_ns(), attachments=names)
    return encode_multipart([("event", "event.json", "application/json", json.dumps(event).encode())]
                            + [(name, name, "application/octet-stream", attachment) for name in names])


def nested_event():
    event = b'{"attachments":["profile.pprof"],"x":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    return encode_multipart([("event", "event.json", "application/json", event),
                             ("profile.pprof", "profile.pprof", "application/octet-stream", samples_bomb(1))])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        match = re.search(r"VmHWM:\s+(\d+) kB", handle.read())
    return int(match.group(1)) / 1024 if match else float("nan")


def run_case(name: str, send) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "ext"))
        process = subprocess.Popen([sys.executable, "-m", "stacksight.serve", "--port", "0", "--quiet",
                                    "--db", os.path.join(tmp, "p.db")], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            url = re.search(r"listening on (http://\S+)", process.stdout.readline()).group(1)
            idle_rss = _peak_rss_mb(process.pid)
            cpu_before = _cpu_seconds(process.pid)
            started = time.perf_counter()
            status, answer = send(url)
            wall = time.perf_counter() - started
            cpu = _cpu_seconds(process.pid) - cpu_before
            peak = _peak_rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(20)
    reason = answer.decode("utf-8", "replace").strip().splitlines()[0][:90] if answer else ""
    return {"case": name, "status": status, "wall_s": wall, "server_cpu_s": cpu, "peak_rss_mb": peak,
            "idle_rss_mb": idle_rss, "answer": reason}


def _upload(body_and_type):
    def send(url):
        status, _, answer = post_upload(url, *body_and_type)
        return status, answer
    return send


def _deep_then_graph(url, depth=10_000):
    status, _, answer = post_upload(url, *datadog_upload(TAGS, profile_bytes=deep_stack_profile(depth)))
    if status != 200:
        return status, answer
    profile_id = json.loads(answer)["id"]
    status, _, answer = http_request(f"{url}/api/profiles/{profile_id}/flamegraph?type=cpu-time")
    return status, (f"flame graph of {len(answer)} bytes" if status == 200 else answer.decode()).encode()


def cases():
    yield "10 M samples in 87 kB of gzip", _upload(datadog_upload(TAGS, profile_bytes=samples_bomb(10_000_000)))
    yield "3 M samples", _upload(datadog_upload(TAGS, profile_bytes=samples_bomb(3_000_000)))
    yield "200 k samples (accepted)", _upload(datadog_upload(TAGS, profile_bytes=samples_bomb(200_000)))
    yield "30 attachments x 240 k samples", _upload(many_attachments(30, 240_000))
    yield "160 000 empty gzip members", _upload(datadog_upload(TAGS, profile_bytes=gzip.compress(b"") * 160_000))
    yield "200 000-deep nested event.json", _upload(nested_event())
    yield "10 000-frame stack: upload + flame graph", _deep_then_graph
    yield "100 000-frame stack: upload + flame graph", lambda url: _deep_then_graph(url, 100_000)


def main() -> int:
    rows = [run_case(name, send) for name, send in cases()]
    print(f"{'case':44} {'status':>6} {'wall s':>7} {'CPU s':>6} {'peak MB':>8}  answer")
    for row in rows:
        print(f"{row['case']:44} {row['status']:>6} {row['wall_s']:7.2f} {row['server_cpu_s']:6.2f} "
              f"{row['peak_rss_mb']:8.0f}  {row['answer']}")
    print(f"idle server RSS: {min(row['idle_rss_mb'] for row in rows):.0f} MB")
    worst = max(row["server_cpu_s"] for row in rows)
    print(f"most server CPU for one request: {worst:.2f} s (goal: about 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
