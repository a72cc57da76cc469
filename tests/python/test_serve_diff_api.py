"""The diff (compare) API: side B against side A, each one profile or a
merged set chosen by ids or facets, as one tree over the stacks of both with
both sides' values per node; cut frames keep both sides' sums.  Expected
figures are the uploaded values."""

from __future__ import annotations

import pprof_pb
import big_profile
from flame_answer import functions, path, tree, walk
from serve_helpers.server import serve_server  # noqa: F401 - fixture
from serve_helpers.uploads import get_json, http_request, upload

TYPES = [("cpu-time", "nanoseconds"), ("wall-time", "nanoseconds")]


def _upload(server, version, rows, host="web-1"):
    raw = pprof_pb.encode_profile(pprof_pb.build_profile(TYPES, rows))
    return upload(server.url, {"service": "shop", "env": "prod", "version": version, "host": host},
                  profile_bytes=raw)


def _both_sides_add_up(root):
    for node in walk(root):
        if node["c"]:
            assert node["v"] == node["s"] + sum(c["v"] for c in node["c"]), node["n"]
            assert node["b"] == node["bs"] + sum(c["b"] for c in node["c"]), node["n"]


def test_diff_of_two_profiles_by_ids(serve_server):
    a = _upload(serve_server, "1", [(["main", "compute"], [60, 61]), (["main", "io"], [40, 41]),
                                    (["main", "legacy"], [10, 11])])
    b = _upload(serve_server, "2", [(["main", "compute"], [20, 21]), (["main", "io"], [40, 41]),
                                    (["main", "fresh"], [40, 41])])
    answer = get_json(f"{serve_server.url}/api/diff?a.ids={a}&b.ids={b}&type=cpu-time")
    assert answer["profile_ids"] == [b] and answer["base_profile_ids"] == [a]
    assert answer["total"] == 100 and answer["base_total"] == 110
    root = tree(answer)
    _both_sides_add_up(root)
    assert (path(root, "main", "compute")["v"], path(root, "main", "compute")["b"]) == (20, 60)
    assert (path(root, "main", "fresh")["v"], path(root, "main", "fresh")["b"]) == (40, 0)
    assert (path(root, "main", "legacy")["v"], path(root, "main", "legacy")["b"]) == (0, 10)
    table = functions(answer)
    assert table["compute"]["self"] == 20 and table["compute"]["base_self"] == 60
    assert table["legacy"]["self"] == 0 and table["legacy"]["base_total"] == 10
    assert answer["functions"]["base_whole"] == 110
    # Bottom-up: the leaves by self, on both sides.
    inverted = tree(get_json(f"{serve_server.url}/api/diff?a.ids={a}&b.ids={b}&type=wall-time&view=inverted"))
    assert {c["n"]: (c["v"], c["b"]) for c in inverted["c"]} == {
        "compute": (21, 61), "io": (41, 41), "fresh": (41, 0), "legacy": (0, 11)}
    # Sandwich (callers of compute), on both sides.
    callers = tree(get_json(f"{serve_server.url}/api/diff?a.ids={a}&b.ids={b}&type=cpu-time&view=callers"
                            "&function=compute"))
    assert [(c["n"], c["v"], c["b"]) for c in callers["c"]] == [("compute", 20, 60)]
    assert [(c["n"], c["v"], c["b"]) for c in callers["c"][0]["c"]] == [("main", 20, 60)]


def test_diff_of_merged_versions_by_facet(serve_server):
    for host in ("web-1", "web-2"):
        _upload(serve_server, "1", [(["main", "compute"], [50, 0])], host)
    _upload(serve_server, "2", [(["main", "compute"], [30, 0]), (["main", "cache"], [5, 0])])
    answer = get_json(f"{serve_server.url}/api/diff?service=shop&a.version=1&b.version=2&type=cpu-time")
    assert len(answer["base_profile_ids"]) == 2 and len(answer["profile_ids"]) == 1
    assert answer["base_total"] == 100 and answer["total"] == 35
    assert answer["diff"]["a"]["filter"] == {"version": ["1"]}
    root = tree(answer)
    assert (path(root, "main", "compute")["v"], path(root, "main", "compute")["b"]) == (30, 100)


def test_diff_cut_to_a_budget_keeps_both_sides(serve_server):
    rows_a = big_profile.service_rows(1, 3000)
    rows_b = big_profile.service_rows(2, 3000)
    ids = []
    for version, rows in (("1", rows_a), ("2", rows_b)):
        raw = pprof_pb.encode_profile(big_profile.big_profile(rows=rows))
        ids.append(upload(serve_server.url, {"service": "big", "version": version}, profile_bytes=raw))
    answer = get_json(f"{serve_server.url}/api/diff?a.ids={ids[0]}&b.ids={ids[1]}&type=cpu-time&max_nodes=400")
    assert answer["base_total"] == big_profile.expected_total(rows_a, "cpu-time")
    assert answer["total"] == big_profile.expected_total(rows_b, "cpu-time")
    assert answer["cut"]["nodes"] > 0
    root = tree(answer)
    _both_sides_add_up(root)
    others = [n for n in walk(root) if n["n"] == "<other>"]
    assert others and sum(n["b"] for n in others) > 0


def test_diff_needs_two_sides_that_match(serve_server):
    a = _upload(serve_server, "1", [(["main"], [1, 1])])
    status, _, body = http_request(f"{serve_server.url}/api/diff?a.ids={a}")
    assert status == 400 and b"side B" in body
    status, _, body = http_request(f"{serve_server.url}/api/diff?a.ids={a}&b.version=nope")
    assert status == 400 and b"matches no profile" in body
