"""The JSON API behind the explorer: profile details, flame graphs per sample
type and thread, merged graphs, per-service metrics and the download."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import pprof_pb
from flame_answer import child, functions, tree
from serve_helpers.server import serve_server  # noqa: F401 - fixture
from serve_helpers.uploads import SECOND_NS, cpu_profile, get_json, http_request, upload

TAGS = {"service": "checkout", "env": "prod", "version": "7", "host": "web-1", "runtime": "CPython"}
GO = shutil.which("go") or "/usr/local/go/bin/go"


def test_flamegraph_tree_and_top_functions(serve_server):
    profile_id = upload(serve_server.url, TAGS)
    graph = get_json(f"{serve_server.url}/api/profiles/{profile_id}/flamegraph")
    assert graph["type"] == "cpu-time" and graph["display"] == "CPU" and graph["unit"] == "nanoseconds"
    assert graph["total"] == 10 * 1_000_000
    root = tree(graph)
    assert root["n"] == "all" and root["v"] == graph["total"]
    handle = child(child(child(root, "<module>"), "main"), "handle_request")
    assert child(handle, "compute")["v"] == 5 * 1_000_000
    assert child(handle, "render")["s"] == 5 * 1_000_000
    top = functions(graph)
    assert top["compute"]["self"] == 5_000_000 and top["compute"]["total"] == 5_000_000
    assert top["main"]["self"] == 0 and top["main"]["total"] == 10_000_000
    assert [t["type"] for t in graph["sample_types"]] == [
        "cpu-time", "wall-time", "alloc-space", "alloc-samples", "exception-samples", "cpu-samples"]
    assert {t["type"]: t["display"] for t in graph["sample_types"]}["exception-samples"] == "Thrown Exceptions"


def test_switching_type_and_thread_filter(serve_server):
    profile_id = upload(serve_server.url, TAGS)
    base = f"{serve_server.url}/api/profiles/{profile_id}/flamegraph"
    wall = get_json(base + "?type=wall-time")
    assert wall["total"] == 20 * 1_000_000 and wall["display"] == "Wall Time"
    exceptions = get_json(base + "?type=exception-samples")
    assert exceptions["total"] == 3
    assert [t["name"] for t in exceptions["threads"]] == ["worker"]
    assert child(child(tree(exceptions), "<module>"), "main")["c"][0]["n"] == "fail"
    only_worker = get_json(base + "?type=cpu-time&thread=worker")
    assert only_worker["total"] == 0 and only_worker["thread"] == "worker"
    main_thread = get_json(base + "?type=cpu-time&thread=MainThread")
    assert main_thread["total"] == 10 * 1_000_000
    # An unknown type falls back to the default one and says so.
    fallback = get_json(base + "?type=heap-space")
    assert fallback["type"] == "cpu-time" and fallback["total"] == 10 * 1_000_000
    assert "heap-space" in fallback["type_notice"]


def test_profile_detail_and_missing_profile(serve_server):
    profile_id = upload(serve_server.url, TAGS)
    detail = get_json(f"{serve_server.url}/api/profiles/{profile_id}")
    assert detail["default_type"] == "cpu-time"
    assert {t["type"]: t["total"] for t in detail["totals"]}["alloc-space"] == 10 * 4096
    assert detail["pprof"][0]["period"] == 10_000_000
    for path in ("", "/flamegraph", "/download"):
        status, _, _ = http_request(f"{serve_server.url}/api/profiles/999{path}")
        assert status == 404


def test_merged_flamegraph_by_ids_and_by_filter(serve_server):
    first = upload(serve_server.url, TAGS)
    second = upload(serve_server.url, {**TAGS, "host": "web-2"})
    upload(serve_server.url, {**TAGS, "env": "staging"})
    by_ids = get_json(f"{serve_server.url}/api/merged?ids={first},{second}&type=cpu-time")
    assert sorted(by_ids["profile_ids"]) == sorted([first, second])
    assert by_ids["total"] == 2 * 10 * 1_000_000
    assert by_ids["truncated"] is False
    by_filter = get_json(f"{serve_server.url}/api/merged?env=prod&type=wall-time")
    assert sorted(by_filter["profile_ids"]) == sorted([first, second])
    assert by_filter["total"] == 2 * 20 * 1_000_000
    everything = get_json(f"{serve_server.url}/api/merged")
    assert len(everything["profile_ids"]) == 3 and everything["type"] == "cpu-time"


def test_metrics_of_a_service_over_time(serve_server):
    start = 1_700_000_000 * SECOND_NS
    heavy = pprof_pb.encode_profile(cpu_profile(cpu_ns_per_sample=6_000_000_000))  # 60 s CPU in 60 s
    ids = [upload(serve_server.url, TAGS, start_ns=start + i * 60 * SECOND_NS,
                  profile_bytes=heavy if i == 1 else None) for i in range(3)]
    upload(serve_server.url, {**TAGS, "service": "other"})
    metrics = get_json(f"{serve_server.url}/api/metrics?service=checkout")
    assert [p["id"] for p in metrics["points"]] == ids  # oldest first, for a chart
    assert metrics["points"][1]["cpu_cores"] == pytest.approx(1.0)
    assert metrics["points"][0]["alloc_bytes_per_sec"] == pytest.approx(10 * 4096 / 60)
    status, _, _ = http_request(f"{serve_server.url}/api/metrics")
    assert status == 400


def test_metrics_series_per_host_rates_and_time_range(serve_server):
    start = 1_700_000_000 * SECOND_NS
    types = [("cpu-time", "nanoseconds"), ("wall-time", "nanoseconds"), ("exception-samples", "count")]
    for minute, host in [(0, "web-1"), (1, "web-1"), (2, "web-1"), (0, "web-2"), (5, "web-2")]:
        rows = [(["main"], [30 * SECOND_NS, 120 * SECOND_NS, 6 * (minute + 1)])]
        upload(serve_server.url, {**TAGS, "service": "rated", "host": host}, start_ns=start + minute * 60 * SECOND_NS,
               profile_bytes=pprof_pb.encode_profile(pprof_pb.build_profile(types, rows)))
    # No wall or exception types: those measures have no point (a gap), not 0.
    cpu_only = pprof_pb.build_profile([("cpu-time", "nanoseconds")], [(["main"], [SECOND_NS])])
    upload(serve_server.url, {**TAGS, "service": "rated", "host": "web-1"}, start_ns=start + 3 * 60 * SECOND_NS,
           profile_bytes=pprof_pb.encode_profile(cpu_only))
    metrics = get_json(f"{serve_server.url}/api/metrics?service=rated")
    assert [s["name"] for s in metrics["series"]] == ["web-1", "web-2"]
    web1 = metrics["series"][0]["points"]
    assert [p["start_ns"] for p in web1] == [start + m * 60 * SECOND_NS for m in (0, 1, 2, 3)]
    assert web1[0]["values"]["cpu"] == pytest.approx(0.5)      # 30 s of CPU in 60 s
    assert web1[0]["values"]["wall"] == pytest.approx(2.0)     # two threads' wall time
    assert web1[1]["values"]["exceptions"] == pytest.approx(12 / 60)
    assert web1[3]["values"]["wall"] is None and web1[3]["values"]["exceptions"] is None
    assert web1[0]["values"]["lock_wait"] is None
    by_version = get_json(f"{serve_server.url}/api/metrics?service=rated&group=version")
    assert [s["name"] for s in by_version["series"]] == ["7"] and len(by_version["series"][0]["points"]) == 6
    ranged = get_json(f"{serve_server.url}/api/metrics?service=rated&from={start // SECOND_NS + 150}"
                      f"&to={start // SECOND_NS + 250}")
    assert sorted(p["start_ns"] for p in ranged["points"]) == [start + 120 * SECOND_NS, start + 180 * SECOND_NS]
    assert ranged["from_ns"] == start + 150 * SECOND_NS
    status, _, body = http_request(f"{serve_server.url}/api/metrics?service=rated&group=pid")
    assert status == 400 and b"group must be one of" in body


def test_download_returns_original_bytes_readable_by_go_pprof(serve_server, tmp_path):
    raw = pprof_pb.encode_profile(cpu_profile(), "gzip")
    profile_id = upload(serve_server.url, TAGS, profile_bytes=raw)
    status, headers, body = http_request(f"{serve_server.url}/api/profiles/{profile_id}/download")
    assert status == 200 and body == raw
    assert "attachment" in headers["Content-Disposition"]
    assert pprof_pb.decode_profile(body).sample[0].value[1] == 1_000_000
    if not shutil.which(GO) and not shutil.os.path.exists(GO):
        pytest.skip("go is not installed: cannot cross-check with go tool pprof")
    path = tmp_path / "downloaded.pprof"
    path.write_bytes(body)
    result = subprocess.run([GO, "tool", "pprof", "-raw", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "handle_request" in result.stdout and "cpu-time/nanoseconds" in result.stdout


def test_pages_and_static_files_are_served(serve_server):
    for path, marker in (("/", b"Search Profiles"), ("/profiles/1", b"flamegraph"),
                         ("/merged?env=prod", b"flamegraph"), ("/static/flamegraph.js", b"class FlameGraph")):
        status, _, body = http_request(serve_server.url + path)
        assert status == 200 and marker in body, path
    for path in ("/static/../store.py", "/static/nope.js", "/api/nothing"):
        status, _, _ = http_request(serve_server.url + path)
        assert status == 404, path


def test_bad_filter_parameters_are_400(serve_server):
    for query in ("ids=a,b", "from=yesterday", "tag=novalue", "limit=x"):
        status, _, body = http_request(f"{serve_server.url}/api/profiles?{query}")
        assert status == 400, (query, body)


def test_lost_samples_are_flagged_in_the_list_and_the_profile(serve_server):
    from serve_helpers.uploads import encode_multipart, make_event, post_upload
    start = 1_700_000_000 * SECOND_NS
    event = make_event(TAGS, start, start + 60 * SECOND_NS, internal={
        "samples_dropped": 460, "samples_folded": 40, "sampler": {"thread_samples": 1000}})
    body, content_type = encode_multipart([
        ("event", "event.json", "application/json", json.dumps(event).encode()),
        ("profile.pprof", "profile.pprof", "application/octet-stream", pprof_pb.encode_profile(cpu_profile()))])
    status, _, answer = post_upload(serve_server.url, body, content_type)
    assert status == 200, answer
    lossy = json.loads(answer)["id"]
    clean = upload(serve_server.url, TAGS)
    rows = {row["id"]: row for row in get_json(f"{serve_server.url}/api/profiles")["profiles"]}
    assert rows[clean]["lost"] is None
    lost = rows[lossy]["lost"]
    assert lost["dropped"] == 460 and lost["folded"] == 40 and lost["taken"] == 1000
    assert lost["dropped_share"] == pytest.approx(0.46) and lost["warn"] is True
    assert get_json(f"{serve_server.url}/api/profiles/{lossy}")["lost"] == lost
