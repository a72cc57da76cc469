"""Intake of ``stacksight serve``: what a Datadog client sends is stored and
listed; everything malformed is refused with a 4xx and leaves no trace."""

from __future__ import annotations

import gzip
import json
import socket
import threading

import pytest

import flame_answer
import pprof_pb
from serve_helpers.server import serve_server, start_serve  # noqa: F401 - fixture
from serve_helpers.uploads import (SECOND_NS, cpu_profile, datadog_upload, encode_multipart, get_json,
                                   http_request, make_event, post_upload, upload)
from stacksight.serve.compression import zstd_available

TAGS = {"service": "checkout", "env": "prod", "version": "1.2.3", "host": "web-1",
        "runtime": "CPython", "language": "python", "runtime-id": "0d3c5e2a-uuid", "profile_seq": "4"}


def test_upload_is_stored_and_listed_with_facets(serve_server):
    first = upload(serve_server.url, TAGS, start_ns=1_700_000_000 * SECOND_NS)
    second = upload(serve_server.url, {**TAGS, "env": "staging", "host": "web-2"},
                    start_ns=1_700_000_100 * SECOND_NS)
    third = upload(serve_server.url, {**TAGS, "service": "billing", "runtime": "ruby"}, family="ruby",
                   start_ns=1_700_000_200 * SECOND_NS)

    listing = get_json(serve_server.url + "/api/profiles")
    assert listing["total"] == 3
    assert [row["id"] for row in listing["profiles"]] == [third, second, first]  # newest first
    row = listing["profiles"][2]
    assert (row["service"], row["env"], row["version"], row["host"], row["runtime"]) == \
        ("checkout", "prod", "1.2.3", "web-1", "CPython")
    assert row["duration_ns"] == 60 * SECOND_NS
    # cpu_profile(): 10 samples of 1 ms CPU and 4096 allocated bytes over 60 s.
    assert row["cpu_cores"] == pytest.approx(10 * 1e6 / 60e9)
    assert row["alloc_bytes_per_sec"] == pytest.approx(10 * 4096 / 60)

    facets = get_json(serve_server.url + "/api/facets")["facets"]
    assert {f["value"]: f["count"] for f in facets["env"]} == {"prod": 2, "staging": 1}
    assert {f["value"]: f["count"] for f in facets["runtime"]} == {"CPython": 2, "ruby": 1}
    assert {f["value"]: f["count"] for f in facets["service"]} == {"checkout": 2, "billing": 1}

    narrowed = get_json(serve_server.url + "/api/profiles?env=prod&service=checkout")
    assert [row["id"] for row in narrowed["profiles"]] == [first]
    # A facet's own selection does not hide its alternatives.
    facets = get_json(serve_server.url + "/api/facets?env=prod")["facets"]
    assert {f["value"]: f["count"] for f in facets["env"]} == {"prod": 2, "staging": 1}
    assert {f["value"]: f["count"] for f in facets["service"]} == {"checkout": 1, "billing": 1}

    by_time = get_json(serve_server.url + f"/api/profiles?from={1_700_000_150}&to={1_700_000_500}")
    assert [row["id"] for row in by_time["profiles"]] == [third, second]  # overlapping periods
    by_tag = get_json(serve_server.url + "/api/profiles?tag=profile_seq:4&limit=1&offset=1")
    assert by_tag["total"] == 3 and [row["id"] for row in by_tag["profiles"]] == [second]


def test_event_details_and_client_headers_are_kept(serve_server):
    profile_id = upload(serve_server.url, TAGS)
    detail = get_json(f"{serve_server.url}/api/profiles/{profile_id}")
    assert {"key": "runtime-id", "value": "0d3c5e2a-uuid"} in detail["tags"]
    assert detail["event"]["version"] == "4"
    assert detail["event"]["info"] == {"profiler": {"interval_s": 60}}
    assert detail["event"]["internal"] == {"samples_dropped": 0}
    assert detail["request_headers"]["dd-evp-origin"] == "stacksight-tests"
    assert detail["attachments"][0]["name"] == "profile.pprof"
    assert detail["attachments"][0]["encoding"] == "gzip"


@pytest.mark.parametrize("compression", ["gzip", "plain"])
def test_gzip_and_plain_attachments_are_accepted(serve_server, compression):
    raw = pprof_pb.encode_profile(cpu_profile(), compression)
    profile_id = upload(serve_server.url, TAGS, profile_bytes=raw)
    status, _, body = http_request(f"{serve_server.url}/api/profiles/{profile_id}/download")
    assert status == 200 and body == raw


def test_zstd_attachments_are_read_by_a_default_install(serve_server):
    # ddtrace and dd-trace-go v2 compress every attachment with zstd:
    # `zstandard` is a dependency of the package, not an extra.
    assert zstd_available()
    import zstandard
    raw = pprof_pb.encode_profile(cpu_profile(), "plain")
    body, content_type = datadog_upload(TAGS, profile_bytes=zstandard.ZstdCompressor().compress(raw))
    status, _, answer = post_upload(serve_server.url, body, content_type)
    assert status == 200, answer
    assert serve_server.store.count() == 1


def test_every_refusal_is_logged_with_its_reason(serve_server, capfd):
    body, content_type = datadog_upload(TAGS, profile_bytes=b"\x28\xb5\x2f\xfd" + b"\x00" * 16)
    status, _, answer = post_upload(serve_server.url, body, content_type)
    assert 400 <= status < 500
    # http.client refuses control characters in a URL; a hostile client does not.
    host, port = serve_server.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"POST /profiling/v1/input?\x1b[2J HTTP/1.1\r\nHost: " + host.encode() +
                    b"\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx")
        assert raw.recv(100).split(b" ")[1].startswith(b"4")
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "refused POST /profiling/v1/input" in line]
    assert len(lines) == 2, err
    assert f" {status} " in lines[0] and answer.decode().strip()[:40] in lines[0]
    assert "\\x1b[2J" in lines[1] and "\x1b" not in err


def test_info_endpoint_advertises_the_intake(serve_server):
    info = get_json(serve_server.url + "/info")
    assert "/profiling/v1/input" in info["endpoints"]


def _valid_event(**overrides) -> bytes:
    event = make_event(TAGS, 1_700_000_000 * SECOND_NS, 1_700_000_060 * SECOND_NS)
    event.update(overrides)
    return json.dumps(event).encode()


GOOD_PPROF = pprof_pb.encode_profile(cpu_profile(), "gzip")


def _bad_cases():
    event_part = ("event", "event.json", "application/json", _valid_event())
    pprof_part = ("profile.pprof", "profile.pprof", "application/octet-stream", GOOD_PPROF)
    return {
        "not multipart": (b'{"hello": 1}', "application/json", 415, "multipart"),
        "no boundary": (b"x", "multipart/form-data", 415, "boundary"),
        "garbage body": (b"just some bytes", "multipart/form-data; boundary=abc", 400, "boundary"),
        "no event part": (*encode_multipart([pprof_part]), 400, "event"),
        "event not json": (*encode_multipart([("event", "event.json", "application/json", b"{nope"),
                                              pprof_part]), 400, "does not parse"),
        "event without start": (*encode_multipart([("event", "event.json", "application/json",
                                                    _valid_event(start=None)), pprof_part]), 400, "start"),
        "bad timestamp": (*encode_multipart([("event", "event.json", "application/json",
                                              _valid_event(end="yesterday")), pprof_part]), 400, "RFC 3339"),
        "listed attachment missing": (*encode_multipart([event_part]), 400, "not uploaded"),
        "attachment not pprof": (*encode_multipart([event_part, ("profile.pprof", "profile.pprof",
                                                                 "application/octet-stream",
                                                                 b"this is not a profile")]),
                                 400, "not a pprof"),
        "gzip of not pprof": (*encode_multipart([event_part, ("profile.pprof", "profile.pprof",
                                                              "application/octet-stream",
                                                              gzip.compress(b'{"json": true}'))]),
                              400, "not a pprof"),
        "truncated gzip": (*encode_multipart([event_part, ("profile.pprof", "profile.pprof",
                                                           "application/octet-stream", GOOD_PPROF[:-20])]),
                           400, "gzip"),
        "wrong value count": (*encode_multipart([event_part, (
            "profile.pprof", "profile.pprof", "application/octet-stream",
            pprof_pb.encode_profile(pprof_pb.build_profile([("cpu-time", "nanoseconds")],
                                                           [(["main"], [1, 2])])))]),
                              400, "values"),
        "unterminated multipart": (encode_multipart([event_part, pprof_part])[0][:-40],
                                   encode_multipart([event_part, pprof_part], boundary="b1")[1]
                                   .replace("b1", "unused"), 400, "boundary"),
        "too many parts": (*encode_multipart([event_part, pprof_part] +
                                             [(f"extra{i}", None, "text/plain", b"x") for i in range(40)]),
                           413, "parts"),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_bad_upload_is_rejected_and_not_stored(serve_server, case):
    upload(serve_server.url, TAGS)  # the store is not empty: nothing may change either way
    before = serve_server.store.count()
    body, content_type, expected_status, reason_word = _bad_cases()[case]
    status, _, answer = post_upload(serve_server.url, body, content_type)
    assert status == expected_status, answer
    assert reason_word.lower().encode() in answer.lower()
    assert serve_server.store.count() == before
    # The server still works after the rejection.
    upload(serve_server.url, TAGS)
    assert serve_server.store.count() == before + 1


def _raw_exchange(url: str, request: bytes, then_send: bytes = b"") -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        try:
            sock.sendall(then_send)
        except OSError:
            pass  # the server may already have answered and stopped reading
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk


def test_body_over_limit_is_refused_from_content_length(tmp_path):
    server = start_serve(tmp_path / "p.db", max_body_mb=1)
    try:
        request = (b"POST /profiling/v1/input HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type: multipart/form-data; boundary=abc\r\n"
                   b"Content-Length: 2000000\r\n\r\n")
        answer = _raw_exchange(server.url, request, b"--abc\r\n" + b"x" * 1000)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"exceeds the limit" in answer
        assert server.store.count() == 0
    finally:
        server.stop()


def test_body_over_limit_is_refused_while_streaming_chunked(tmp_path):
    server = start_serve(tmp_path / "p.db", max_body_mb=1)
    try:
        body, content_type = datadog_upload(TAGS, profile_bytes=b"\x00" * (2 * 1024 * 1024))
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                           for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
        request = (b"POST /profiling/v1/input HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                   b"Content-Type: " + content_type.encode() + b"\r\n\r\n")
        answer = _raw_exchange(server.url, request, chunked)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert server.store.count() == 0
    finally:
        server.stop()


def test_chunked_upload_within_limit_is_accepted(serve_server):
    body, content_type = datadog_upload(TAGS)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100])
                       for i in range(0, len(body), 100)) + b"0\r\n\r\n"
    request = (b"POST /profiling/v1/input HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               b"Transfer-Encoding: chunked\r\nContent-Type: " + content_type.encode() + b"\r\n\r\n")
    answer = _raw_exchange(serve_server.url, request + chunked)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert serve_server.store.count() == 1


def test_twenty_concurrent_uploaders_lose_nothing(serve_server):
    uploads_per_client = 5
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def client(index: int) -> None:
        tags = {**TAGS, "host": f"host-{index}", "runtime-id": f"runtime-{index}"}
        bodies = [datadog_upload(tags, start_ns=(1_700_000_000 + 60 * n) * SECOND_NS)
                  for n in range(uploads_per_client)]
        barrier.wait()
        for body, content_type in bodies:
            status, _, answer = post_upload(serve_server.url, body, content_type)
            with lock:
                results.append((status, answer))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [status for status, _ in results] == [200] * 100
    ids = {json.loads(answer)["id"] for _, answer in results}
    assert len(ids) == 100
    assert serve_server.store.count() == 100
    hosts = get_json(serve_server.url + "/api/facets")["facets"]["host"]
    assert sorted(entry["count"] for entry in hosts) == [uploads_per_client] * 20


def test_pyroscope_ingest(serve_server):
    raw = pprof_pb.encode_profile(cpu_profile(), "gzip")
    status, _, answer = http_request(
        serve_server.url + "/ingest?name=inventory%7Benv%3Dqa%2Chost%3Dbox%7D&from=1700000000"
        "&until=1700000010&format=pprof&spyName=pyspy", "POST", raw,
        {"Content-Type": "application/octet-stream"})
    assert status == 200, answer
    row = get_json(serve_server.url + "/api/profiles")["profiles"][0]
    assert (row["service"], row["env"], row["host"]) == ("inventory", "qa", "box")
    assert row["start_ns"] == 1_700_000_000 * SECOND_NS and row["duration_ns"] == 10 * SECOND_NS
    status, _, answer = http_request(serve_server.url + "/ingest?name=x", "POST", b"nonsense",
                                     {"Content-Type": "application/octet-stream"})
    assert status == 400 and serve_server.store.count() == 1


def test_attachments_numbering_locations_alike_keep_their_own_stacks(serve_server):
    # Every Go upload has this shape: cpu.pprof and goroutines.pprof both
    # number their locations from 1, so the same ids mean different frames.
    goroutines = pprof_pb.build_profile([("goroutine", "count")], [(["runtime.main", "runtime.gopark"], [3])])
    cpu = pprof_pb.build_profile([("samples", "count"), ("cpu", "nanoseconds")],
                                 [(["main.main", "main.hot"], [9, 90_000_000]), (["main.main", "main.cold"], [1, 10_000_000])])
    names = ["goroutines.pprof", "cpu.pprof"]
    event = make_event(TAGS, 1_700_000_000 * SECOND_NS, 1_700_000_060 * SECOND_NS, attachments=names, family="go")
    body, content_type = encode_multipart(
        [("event", "event.json", "application/json", json.dumps(event).encode())]
        + [(name, name, "application/octet-stream", pprof_pb.encode_profile(profile, "gzip"))
           for name, profile in zip(names, (goroutines, cpu))])
    status, _, answer = post_upload(serve_server.url, body, content_type)
    assert status == 200, answer
    profile_id = json.loads(answer)["id"]
    functions = flame_answer.functions(get_json(f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?type=cpu-time"))
    assert functions["main.hot"]["self"] == 90_000_000 and functions["main.cold"]["self"] == 10_000_000
    assert "runtime.gopark" not in functions and "runtime.main" not in functions
    functions = flame_answer.functions(get_json(f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?type=goroutines"))
    assert functions["runtime.gopark"]["self"] == 3 and "main.hot" not in functions
