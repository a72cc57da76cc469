"""Hostile input to ``stacksight serve`` (issue #13): every case gets an HTTP
answer, malformed input a 4xx naming the problem, nothing is stored twice or
at all when refused, and no upload inside the size limits costs more than its
bounded decoding work.

Cases: foreign Host (DNS rebinding), cross-site POSTs, decode bombs (one
attachment of 10 M samples, many attachments that each fit the per-profile
limits), malformed event fields and Pyroscope times, explorer parameters out
of range, deep stacks (10 000 frames), invalid numeric flags, retried
uploads, control characters reaching the log, IPv6 loopback, slow clients
holding connections.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time

import pytest

import flame_answer
import pprof_pb
from serve_helpers.server import serve_server, start_serve, subprocess_env  # noqa: F401
from serve_helpers.uploads import (datadog_upload, encode_multipart, get_json, http_request, make_event,
                                   post_upload, upload)
from stacksight.serve.app import ServeApp
from stacksight.serve.config import ServeConfig

TAGS = {"service": "hostile", "env": "test", "runtime-id": "a1b2", "profile_seq": "1"}


# -- raw pprof bytes (the bombs are built on the wire: protobuf would take minutes) --

def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


# One function "main", one location, sample type cpu-time/nanoseconds.
PPROF_HEAD = (_field(6, b"") + _field(6, b"cpu-time") + _field(6, b"nanoseconds") + _field(6, b"main")
              + _field(1, _field(1, 1) + _field(2, 2))
              + _field(5, _field(1, 1) + _field(2, 3))
              + _field(4, _field(1, 1) + _field(4, _field(1, 1))))
ONE_SAMPLE = _field(2, _field(1, 1) + _field(2, 1))


def _many_samples(count: int) -> bytes:
    return gzip.compress(PPROF_HEAD + ONE_SAMPLE * count, 9)


def _raw_exchange(url: str, request: bytes, timeout: float = 20) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk


# -- DNS rebinding and cross-site requests -----------------------------------

@pytest.mark.parametrize("host, status", [("evil.example", 421), ("evil.example:8126", 421),
                                          ("127.0.0.1.evil.example", 421), ("localhost", 200),
                                          ("LOCALHOST.", 200), ("127.0.0.1:1", 200), ("[::1]:8126", 200),
                                          ("127.0.0.2", 200)])
def test_only_host_names_of_the_served_address_are_answered(serve_server, host, status):
    upload(serve_server.url, TAGS)
    code, _, body = http_request(serve_server.url + "/api/profiles", headers={"Host": host})
    assert code == status, body
    if status == 421:
        assert b"host" in body.lower() and b'"profiles"' not in body
        body_, content_type = datadog_upload(TAGS, start_ns=1_000_000_000)
        code, _, _ = post_upload(serve_server.url, body_, content_type, {"Host": host})
        assert code == 421 and serve_server.store.count() == 1


def test_allow_host_adds_a_name(tmp_path):
    server = start_serve(tmp_path / "p.db", allow_hosts=["box.lan"])
    try:
        assert http_request(server.url + "/api/profiles", headers={"Host": "box.lan:8126"})[0] == 200
        assert http_request(server.url + "/api/profiles", headers={"Host": "other.lan"})[0] == 421
    finally:
        server.stop()


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "http://localhost.evil.example:8126"}])
def test_cross_site_uploads_are_refused(serve_server, headers):
    body, content_type = datadog_upload(TAGS)
    status, _, answer = post_upload(serve_server.url, body, content_type, headers)
    assert status == 403 and b"refused" in answer, answer
    assert serve_server.store.count() == 0
    status, _, answer = http_request(serve_server.url + "/ingest?name=app", "POST",
                                     pprof_pb.encode_profile(pprof_pb.build_profile(
                                         [("cpu-time", "nanoseconds")], [(["main"], [1])])), headers)
    assert status == 403 and serve_server.store.count() == 0


def test_same_origin_page_and_real_clients_still_upload(serve_server):
    body, content_type = datadog_upload(TAGS)
    status, _, _ = post_upload(serve_server.url, body, content_type,
                               {"Origin": serve_server.url, "Sec-Fetch-Site": "same-origin"})
    assert status == 200 and serve_server.store.count() == 1


# -- decoding cost --------------------------------------------------------------

def test_ten_million_sample_bomb_is_refused_naming_the_limit(serve_server):
    bomb = _many_samples(10_000_000)  # ~87 kB of gzip, 60 MB of pprof
    assert len(bomb) < 200_000
    status, _, answer = post_upload(serve_server.url, *datadog_upload(TAGS, profile_bytes=bomb))
    assert status == 413 and b"samples" in answer, answer
    assert serve_server.store.count() == 0


def test_attachments_share_the_decoding_limits_of_their_upload(serve_server):
    # Each attachment fits the per-profile sample limit; together they are
    # 30x over it.  Before the limits were per upload this cost 17 s of CPU
    # and 0.8 GB to refuse at the 8th attachment (the CPU deadline).
    attachment = _many_samples(240_000)
    names = [f"p{i}.pprof" for i in range(30)]
    event = make_event(TAGS, time.time_ns() - 60 * 10**9, time.time_ns(), attachments=names)
    body, content_type = encode_multipart(
        [("event", "event.json", "application/json", json.dumps(event).encode())]
        + [(name, name, "application/octet-stream", attachment) for name in names])
    status, _, answer = post_upload(serve_server.url, body, content_type)
    assert status == 413, answer
    assert b"'p1.pprof'" in answer and b"samples" in answer and b"earlier attachments" in answer, answer
    assert serve_server.store.count() == 0
    # One such attachment alone is fine.
    status, _, answer = post_upload(serve_server.url, *datadog_upload(TAGS, profile_bytes=attachment))
    assert status == 200, answer


# -- malformed fields: an answer naming the problem, never a dropped connection --

def _event_bytes(**fields) -> bytes:
    event = make_event(TAGS, time.time_ns() - 60 * 10**9, time.time_ns())
    event.update(fields)
    return json.dumps(event).encode()


GOOD_PPROF = pprof_pb.encode_profile(pprof_pb.build_profile([("cpu-time", "nanoseconds")], [(["main"], [5])]),
                                     "gzip")
MALFORMED_EVENTS = {
    "tags_profiler a number": (_event_bytes(tags_profiler=5), "tags_profiler"),
    "tags_profiler a dict": (_event_bytes(tags_profiler={"a": "b"}), "tags_profiler"),
    "start after int64 ns": (_event_bytes(start="2300-01-01T00:00:00Z"), "int64"),
    "start before int64 ns": (_event_bytes(start="1500-01-01T00:00:00Z"), "int64"),
    "end with a 5-digit year": (_event_bytes(end="99999-01-01T00:00:00Z"), "RFC 3339"),
    "end before start": (_event_bytes(start="2024-01-01T00:01:00Z", end="2024-01-01T00:00:00Z"), "before"),
    "deeply nested JSON": (b'{"attachments":["profile.pprof"],"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                           "nested"),
    "a 5000-digit number": (b'{"attachments":["profile.pprof"],"x":' + b"9" * 5000 + b"}", "digits"),
    "attachments a number": (_event_bytes(attachments=3), "attachments"),
    "event an array": (b"[1, 2]", "object"),
    "start a number": (_event_bytes(start=12), "start"),
    "family a number": (_event_bytes(family=3), "family"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_EVENTS))
def test_malformed_event_fields_get_a_400_naming_them(serve_server, case):
    event, word = MALFORMED_EVENTS[case]
    body, content_type = encode_multipart([("event", "event.json", "application/json", event),
                                           ("profile.pprof", "profile.pprof", "application/octet-stream",
                                            GOOD_PPROF)])
    status, _, answer = post_upload(serve_server.url, body, content_type)
    assert status == 400 and word.lower().encode() in answer.lower(), answer
    assert serve_server.store.count() == 0


@pytest.mark.parametrize("query", ["from=nan", "from=inf", "until=-inf", "from=1e30", "from=-1e30",
                                   "from=abc", "until=1e400"])
def test_pyroscope_times_out_of_range_get_a_400(serve_server, query):
    status, _, answer = http_request(f"{serve_server.url}/ingest?name=app&{query}", "POST", GOOD_PPROF,
                                     {"Content-Type": "application/octet-stream"})
    assert status == 400 and b"'from'/'until'" in answer, answer
    assert serve_server.store.count() == 0


@pytest.mark.parametrize("path, status", [
    ("/api/profiles?from=1e400", 400), ("/api/profiles?from=nan", 400), ("/api/profiles?to=-inf", 400),
    ("/api/profiles?from=1e10", 400), ("/api/metrics?service=x&from=inf", 400),
    ("/api/merged?ids=99999999999999999999999", 400), ("/api/merged?ids=-1", 400),
    ("/api/profiles/99999999999999999999999999", 404),
    ("/api/profiles/99999999999999999999999999/flamegraph", 404),
    ("/api/profiles/99999999999999999999999999/download", 404),
    ("/api/profiles?limit=nan", 400), ("/api/profiles/1/download?as=zip", 400)])
def test_explorer_parameters_out_of_range_are_refused_not_500(serve_server, path, status):
    upload(serve_server.url, TAGS)
    code, _, answer = http_request(serve_server.url + path)
    assert code == status, answer
    assert "error" in json.loads(answer)


# -- deep stacks ------------------------------------------------------------------

def test_ten_thousand_frame_stacks_are_drawn_in_every_view(serve_server):
    deep = [f"frame_{i}" for i in range(10_000)]
    rows = [(deep, [7, 70]), (deep[:5_000] + ["side_leaf"], [3, 30])]
    profile = pprof_pb.build_profile([("cpu-samples", "count"), ("cpu-time", "nanoseconds")], rows)
    profile_id = upload(serve_server.url, TAGS, profile_bytes=pprof_pb.encode_profile(profile, "gzip"))
    base = f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?type=cpu-time"
    answer = get_json(base)
    assert answer["total"] == 100
    tree = flame_answer.tree(answer)
    depth, node = 0, tree
    while node["c"]:
        node = max(node["c"], key=lambda c: c["v"])
        depth += 1
    assert depth == 10_000 and node["n"] == "frame_9999" and node["s"] == 70
    functions = flame_answer.functions(answer)
    assert functions["side_leaf"]["self"] == 30 and functions["frame_0"]["total"] == 100
    inverted = flame_answer.tree(get_json(base + "&view=inverted"))
    assert {c["n"]: c["v"] for c in inverted["c"]} == {"frame_9999": 70, "side_leaf": 30}
    for view in ("callers", "callees"):
        assert get_json(base + f"&view={view}&function=frame_4999")["total"] == 100
    merged = get_json(f"{serve_server.url}/api/merged?service=hostile&type=cpu-time")
    assert merged["total"] == 100


# -- flags, retries, log, IPv6, connections ---------------------------------------

@pytest.mark.parametrize("flags", [["--retention-hours", "inf"], ["--retention-hours", "nan"],
                                   ["--retention-hours", "1e9"], ["--max-db-mb", "inf"], ["--max-db-mb", "nan"],
                                   ["--max-db-mb", "-1"], ["--max-connections", "0"], ["--port", "70000"]])
def test_invalid_numeric_flags_exit_2_naming_the_flag(tmp_path, flags):
    result = subprocess.run([sys.executable, "-m", "stacksight.serve", "--db", str(tmp_path / "p.db"), *flags],
                            capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert result.returncode == 2, result
    assert flags[0] in result.stderr, result.stderr


def test_a_retried_upload_is_stored_once(serve_server):
    body, content_type = datadog_upload(TAGS)
    answers = [json.loads(post_upload(serve_server.url, body, content_type)[2]) for _ in range(3)]
    assert len({answer["id"] for answer in answers}) == 1
    assert [answer["duplicate"] for answer in answers] == [False, True, True]
    assert serve_server.store.count() == 1


def _serve_in_process(tmp_path, **config):
    """A server in this process (shutdown is the test's own, not a signal's)."""
    app = ServeApp(ServeConfig(port=0, db_path=str(tmp_path / "p.db"), **config))
    app.start_background()
    return app


def test_control_characters_reach_the_log_escaped(tmp_path, capfd):
    app = _serve_in_process(tmp_path, host="127.0.0.1", quiet=False)  # every request logged
    try:
        answer = _raw_exchange(app.url, b"GET /no/\x1b[2J\x1b]0;pwned\x07/here HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        b"Connection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 404")
        tags = {"service": "svc\x1b[31mred", "env": "e\r\nfake log line"}
        status, _, _ = post_upload(app.url, *datadog_upload(tags, profile_bytes=b"not a profile"))
        assert status == 400
    finally:
        app.shutdown()
    log = capfd.readouterr().err
    assert "/no/" in log and "refused POST" in log, log
    assert "\x1b" not in log and "\x07" not in log and "\r" not in log, repr(log)
    assert "\\x1b[2J" in log


def test_ipv6_loopback_is_served_at_the_printed_address(tmp_path):
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError as error:
        pytest.skip(f"::1 cannot be bound here: {error}")
    app = _serve_in_process(tmp_path, host="::1", quiet=True)
    try:
        url = app.url  # what the command prints
        assert url.startswith("http://[::1]:")
        profile_id = upload(url, TAGS)
        status, _, _ = http_request(url + "/api/profiles", headers={"Host": url.removeprefix("http://")})
        assert status == 200 and get_json(f"{url}/api/profiles/{profile_id}")["service"] == "hostile"
    finally:
        app.shutdown()


def test_slow_clients_cannot_hold_more_than_the_connection_cap(tmp_path):
    server = start_serve(tmp_path / "p.db", max_connections=3)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    trickling = []
    try:
        for _ in range(3):  # each sends half a request and waits
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"POST /profiling/v1/input HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n")
            trickling.append(sock)
        time.sleep(0.3)
        answer = _raw_exchange(server.url, b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After" in answer, answer
        assert server.app.httpd.refused_connections >= 1
    finally:
        for sock in trickling:
            sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the slots come back once they hang up
        if http_request(server.url + "/api/stats")[0] == 200:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("server did not recover after the slow clients left")
    server.stop()
