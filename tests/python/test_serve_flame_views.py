"""The flame graph API's views on real uploads: nothing lost on a 14k-stack
profile (the hot leaf is there, cut frames are summed and load on focus),
bottom-up and sandwich trees, snapshot types merged per process, label
grouping, and gzip answers.  Expected figures come from the generated rows,
not from the explorer."""

from __future__ import annotations

import gzip
import json

import pytest

import big_profile
import pprof_pb
from flame_answer import child, functions, path, tree, walk
from serve_helpers.server import serve_server  # noqa: F401 - fixture
from serve_helpers.uploads import cpu_profile, get_json, http_request, upload

TAGS = {"service": "checkout", "env": "prod", "version": "7", "host": "web-1", "runtime": "CPython"}


@pytest.fixture(scope="module")
def big_rows():
    return big_profile.big_rows()


def _upload_big(server, rows):
    raw = pprof_pb.encode_profile(big_profile.big_profile(rows=rows), "gzip")
    return upload(server.url, {**TAGS, "service": "big"}, profile_bytes=raw)


def _assert_totals_hold(root):
    """Every node's value is its self value plus its children's: what was
    cut is still counted, in the "other" nodes."""
    for node in walk(root):
        if node["c"]:
            assert node["v"] == node["s"] + sum(c["v"] for c in node["c"]), node["n"]


def test_big_profile_keeps_the_hot_leaf_and_accounts_for_cuts(serve_server, big_rows):
    profile_id = _upload_big(serve_server, big_rows)
    base = f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?type=wall-time"
    answer = get_json(base)
    total = big_profile.expected_total(big_rows, "wall-time")
    assert answer["total"] == total
    root = tree(answer)
    hot = [n for n in walk(root) if n["n"] == big_profile.HOT_LEAF]
    assert len(hot) == 1 and hot[0]["s"] == big_profile.expected_self(big_rows, "wall-time", big_profile.HOT_LEAF)
    assert hot[0]["s"] / total == pytest.approx(big_profile.HOT_WALL_SHARE, abs=1e-6)
    _assert_totals_hold(root)
    table = functions(answer)
    assert table[big_profile.HOT_LEAF]["self"] == hot[0]["s"]
    assert table[big_profile.HOT_LEAF]["file"] == "selectors.py" and table[big_profile.HOT_LEAF]["line"] == 468
    assert len(answer["functions"]["name"]) == len({f[0] for r in big_rows for f in r[0] if r[1][2]})

    # A small budget: the biggest nodes are sent, the rest summed per parent.
    small = get_json(base + "&max_nodes=300")
    assert len(small["nodes"]["frame"]) <= 300 + small["cut"]["places"]
    assert small["cut"]["nodes"] > 0 and small["total"] == total
    small_root = tree(small)
    _assert_totals_hold(small_root)
    assert any(n["n"] == big_profile.HOT_LEAF for n in walk(small_root))
    others = [n for n in walk(small_root) if n["n"] == "<other>"]
    assert others and sum(n["hidden"] for n in others) == small["cut"]["nodes"]
    assert sum(n["v"] for n in others) == small["cut"]["value"]
    # Asking for the subtree under an "other" node brings its frames.
    biggest = max(others, key=lambda n: n["v"])
    focused = get_json(base + f"&max_nodes=100000&focus={biggest['id']}")
    focus_root = tree(focused)
    assert focused["cut"]["nodes"] == 0 and focused["ancestors"][0]["value"] == total
    parent = [n for n in walk(small_root) if n["id"] == biggest["id"] and n["n"] != "<other>"][0]
    assert focus_root["v"] == parent["v"] and focus_root["n"] == parent["n"]
    assert len(list(walk(focus_root))) - 1 > len(parent["c"]) - 1
    status, _, body = http_request(base + "&focus=99999999")
    assert status == 400 and b"not a node" in body


def test_inverted_view_roots_are_leaves_by_self(serve_server, big_rows):
    profile_id = _upload_big(serve_server, big_rows)
    base = f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?type=cpu-time&view=inverted"
    answer = get_json(base + "&max_nodes=500000")
    assert answer["view"] == "inverted" and answer["cut"]["nodes"] == 0
    expected: dict[str, int] = {}
    for stack, values, _ in big_rows:
        if values[1]:
            expected[stack[-1][0]] = expected.get(stack[-1][0], 0) + values[1]
    root = tree(answer)
    got: dict[str, int] = {}
    for node in root["c"]:
        got[node["n"]] = got.get(node["n"], 0) + node["v"]
    assert got == expected
    # Below a leaf come its callers.
    leaf = max(root["c"], key=lambda n: n["v"])
    callers = {c["n"] for c in leaf["c"]}
    assert callers <= {s[-2][0] for s, v, _ in big_rows if s[-1][0] == leaf["n"] and v[1]}
    # Within the default budget the smallest leaves are summed, not dropped.
    budgeted = tree(get_json(base))
    shown = {c["n"]: c["v"] for c in budgeted["c"]}
    assert sum(shown.values()) == sum(expected.values())
    assert all(expected[name] == value for name, value in shown.items() if name != "<other>")


def test_sandwich_callers_and_callees(serve_server):
    rows = [(["main", "a", "target", "x"], [10], {}), (["main", "b", "target"], [5], {}),
            (["main", "b", "c"], [7], {}), (["main", "target", "target", "y"], [3], {})]
    raw = pprof_pb.encode_profile(pprof_pb.build_profile([("cpu-time", "nanoseconds")], rows))
    profile_id = upload(serve_server.url, TAGS, profile_bytes=raw)
    base = f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?type=cpu-time&function=target"
    callees = tree(get_json(base + "&view=callees"))
    target = child(callees, "target")
    assert [c["n"] for c in callees["c"]] == ["target"] and target["v"] == 18  # recursion counted once
    assert child(target, "x")["v"] == 10 and path(target, "target", "y")["v"] == 3 and target["s"] == 5
    callers = tree(get_json(base + "&view=callers"))
    target = child(callers, "target")
    assert target["v"] == 18
    assert path(target, "a", "main")["v"] == 10 and path(target, "b", "main")["v"] == 5
    assert child(target, "main")["v"] == 3
    status, _, body = http_request(f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?view=callers")
    assert status == 400 and b"function" in body
    status, _, _ = http_request(f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?view=sideways")
    assert status == 400


def _heap_profile(live_bytes: int, allocated: int):
    types = [("alloc-space", "bytes"), ("heap-space", "bytes")]
    return pprof_pb.encode_profile(pprof_pb.build_profile(types, [(["main", "cache_fill"], [allocated, live_bytes])]))


def test_snapshot_types_merge_latest_per_process_not_sum(serve_server):
    start = 1_700_000_000 * 1_000_000_000
    minute = 60 * 1_000_000_000
    # Process A: three snapshots (growing), process B: two.
    for index, live in enumerate((100, 150, 170)):
        upload(serve_server.url, {**TAGS, "runtime-id": "process-a"}, profile_bytes=_heap_profile(live << 20, 10),
               start_ns=start + index * minute)
    for index, live in enumerate((60, 50)):
        upload(serve_server.url, {**TAGS, "runtime-id": "process-b"}, profile_bytes=_heap_profile(live << 20, 10),
               start_ns=start + index * minute)
    heap = get_json(f"{serve_server.url}/api/merged?service=checkout&type=heap-space")
    assert heap["total"] == (170 + 50) << 20
    assert heap["snapshot"]["policy"] == "latest per process"
    assert heap["snapshot"]["processes"] == 2 and heap["snapshot"]["profiles"] == 5
    by_type = {entry["type"]: entry for entry in heap["sample_types"]}
    assert by_type["heap-space"]["snapshot"] and by_type["heap-space"]["total"] == (170 + 50) << 20
    allocated = get_json(f"{serve_server.url}/api/merged?service=checkout&type=alloc-space")
    assert allocated["total"] == 5 * 10 and allocated["snapshot"] is None


def test_group_by_label_adds_a_first_level(serve_server):
    rows = [(["main", "fail"], [2], {"exception type": "builtins.ValueError", "thread name": "w1"}),
            (["main", "fail"], [1], {"exception type": "builtins.KeyError", "thread name": "w1"}),
            (["main", "parse"], [4], {"exception type": "builtins.ValueError", "thread name": "w2"}),
            (["main", "other"], [5], {"thread name": "w2"})]
    raw = pprof_pb.encode_profile(pprof_pb.build_profile([("exception-samples", "count")], rows))
    profile_id = upload(serve_server.url, TAGS, profile_bytes=raw)
    base = f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?type=exception-samples"
    answer = get_json(base + "&group=exception+type")
    assert "exception type" in answer["label_keys"] and "thread name" in answer["label_keys"]
    root = tree(answer)
    groups = {c["n"]: c["v"] for c in root["c"]}
    assert groups == {"exception type: builtins.ValueError": 6, "exception type: builtins.KeyError": 1,
                      "exception type: (none)": 5}
    assert path(root, "exception type: builtins.ValueError", "main", "parse")["v"] == 4
    # The function table is not grouped.
    assert "exception type: builtins.ValueError" not in functions(answer)
    assert functions(answer)["fail"]["total"] == 3
    one_thread = tree(get_json(base + "&group=exception+type&thread=w1"))
    assert {c["n"]: c["v"] for c in one_thread["c"]} == {"exception type: builtins.ValueError": 2,
                                                          "exception type: builtins.KeyError": 1}


def test_answers_are_gzip_compressed_when_accepted(serve_server):
    profile_id = upload(serve_server.url, TAGS, profile_bytes=pprof_pb.encode_profile(cpu_profile()))
    url = f"{serve_server.url}/api/profiles/{profile_id}/flamegraph?type=wall-time"
    status, headers, packed = http_request(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in headers["Vary"]
    _, plain_headers, plain = http_request(url)
    assert "Content-Encoding" not in plain_headers
    assert json.loads(gzip.decompress(packed)) == json.loads(plain)
    status, headers, _ = http_request(f"{serve_server.url}/static/flamegraph.js", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip"
    status, headers, _ = http_request(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in headers


def test_types_zero_everywhere_are_not_offered(serve_server):
    """ddtrace declares gpu-* types it never fills: the type switch offers
    only types with samples, and the default is never an empty type."""
    types = [("cpu-time", "nanoseconds"), ("wall-time", "nanoseconds"), ("gpu-time", "nanoseconds"),
             ("gpu-space", "bytes")]
    idle = pprof_pb.build_profile(types, [(["main", "sleep"], [0, 9_000, 0, 0])], default_sample_type="cpu-time")
    idle_id = upload(serve_server.url, {**TAGS, "service": "gpu-free"}, profile_bytes=pprof_pb.encode_profile(idle))
    base = f"{serve_server.url}/api/profiles/{idle_id}/flamegraph"
    answer = get_json(base)
    assert [entry["type"] for entry in answer["sample_types"]] == ["wall-time"]
    assert answer["type"] == "wall-time" and answer["total"] == 9_000
    assert get_json(f"{serve_server.url}/api/profiles/{idle_id}")["default_type"] == "wall-time"
    asked = get_json(base + "?type=gpu-time")
    assert asked["type"] == "wall-time" and "no 'gpu-time' samples" in asked["type_notice"]
    # A type with samples in one merged profile is offered for the merge.
    busy = pprof_pb.build_profile(types, [(["main", "train"], [5_000, 6_000, 7_000, 0])])
    upload(serve_server.url, {**TAGS, "service": "gpu-free"}, profile_bytes=pprof_pb.encode_profile(busy))
    merged = get_json(f"{serve_server.url}/api/merged?service=gpu-free&type=gpu-time")
    assert [entry["type"] for entry in merged["sample_types"]] == ["cpu-time", "wall-time", "gpu-time"]
    assert merged["type"] == "gpu-time" and merged["total"] == 7_000
