"""Time the explorer's flame graph answers against issue #16's goals.

Goals: any single profile's view <= 300 ms server time, a merge of 200
profiles <= 3 s, answers compressed.  A local ``stacksight serve`` (in this
process, on 127.0.0.1) gets real uploads through its intake:

* one generated 14,000-stack profile (tests/python/big_profile.py), viewed
  cold (decode + aggregate + tree), per type, per thread, bottom-up, again;
* 200 generated profiles of one service (5 processes, each with 3,000 of
  the service's 14,000 stacks),
  merged cold, then per type switch, then again; then the diff of the
  profiles of two hosts against those of two others (80 vs 80).

First, the cost of reading one stored profile (decompress, decode, rows) with
the C reader and with the pure-Python reader, median of 5 runs each.

"server" is the time the explorer spent on the answer (its Server-Timing
header); "wall" adds HTTP and JSON transfer on loopback.  CPU time of this
process is printed too (the server runs here), since the machine is shared.

    .venv/bin/python bench/explorer_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests", "python"), os.path.join(ROOT, "ext")]

import big_profile  # noqa: E402
import pprof_pb  # noqa: E402
from serve_helpers.server import start_serve  # noqa: E402
from serve_helpers.uploads import http_request, upload  # noqa: E402

SINGLE_GOAL_MS = 300
MERGED_GOAL_MS = 3000


def timed_get(url: str) -> dict:
    cpu = time.process_time()
    started = time.perf_counter()
    status, headers, body = http_request(url, headers={"Accept-Encoding": "gzip"}, timeout=300)
    wall_ms = (time.perf_counter() - started) * 1000
    assert status == 200, (url, status, body[:300])
    match = re.search(r"graph;dur=([\d.]+)", headers.get("Server-Timing", ""))
    return {"server_ms": float(match.group(1)) if match else float("nan"), "wall_ms": wall_ms,
            "cpu_ms": (time.process_time() - cpu) * 1000, "bytes": len(body),
            "encoding": headers.get("Content-Encoding", "identity")}


def report(label: str, result: dict, goal_ms: float | None) -> bool:
    verdict = ""
    ok = True
    if goal_ms is not None:
        ok = result["server_ms"] <= goal_ms
        verdict = f"goal <= {goal_ms:.0f} ms: {'met' if ok else 'MISSED'}"
    print(f"  {label:<46} server {result['server_ms']:8.1f} ms  wall {result['wall_ms']:8.1f} ms  "
          f"cpu {result['cpu_ms']:8.1f} ms  {result['bytes'] / 1024:8.1f} KiB {result['encoding']:<8} {verdict}")
    return ok


def upload_profiles(url: str, count: int, stacks: int) -> None:
    raw = pprof_pb.encode_profile(big_profile.big_profile(), "gzip")
    upload(url, {"service": "big", "env": "bench", "runtime-id": "big-1"}, profile_bytes=raw)
    started = time.perf_counter()
    for index in range(count):
        rows = big_profile.service_rows(1000 + index, stacks)
        raw = pprof_pb.encode_profile(big_profile.big_profile(rows=rows), "gzip")
        upload(url, {"service": "merged", "env": "bench", "host": f"web-{index % 5}",
                     "runtime-id": f"process-{index % 5}"}, profile_bytes=raw,
               start_ns=1_700_000_000_000_000_000 + index * 60_000_000_000)
    print(f"(1 profile of 14,000 stacks and {count} of {stacks:,} made and uploaded in "
          f"{time.perf_counter() - started:.1f} s)")


def single_profile(url: str) -> list[bool]:
    profile_id = 1
    base = f"{url}/api/profiles/{profile_id}/flamegraph"
    outcomes = [report("Wall Time, first view", timed_get(base + "?type=wall-time"), SINGLE_GOAL_MS)]
    for type_name in ("cpu-time", "alloc-space", "heap-space"):
        outcomes.append(report(f"switch to {type_name}", timed_get(f"{base}?type={type_name}"), SINGLE_GOAL_MS))
    outcomes.append(report("thread worker-1 (cpu-time)", timed_get(base + "?type=cpu-time&thread=worker-1"),
                           SINGLE_GOAL_MS))
    outcomes.append(report("bottom-up (wall-time)", timed_get(base + "?type=wall-time&view=inverted"),
                           SINGLE_GOAL_MS))
    outcomes.append(report("sandwich callers of the hot leaf",
                           timed_get(f"{base}?type=wall-time&view=callers&function={big_profile.HOT_LEAF}"),
                           SINGLE_GOAL_MS))
    outcomes.append(report("group by thread name (cpu-time)",
                           timed_get(base + "?type=cpu-time&group=thread+name"), SINGLE_GOAL_MS))
    outcomes.append(report("Wall Time again (cached answer)", timed_get(base + "?type=wall-time"), SINGLE_GOAL_MS))
    plain = http_request(base + "?type=alloc-space", timeout=300)[2]
    print(f"  Allocated Memory answer: {len(plain) / 1024:.0f} KiB JSON, "
          f"{timed_get(base + '?type=alloc-space')['bytes'] / 1024:.0f} KiB gzip")
    return outcomes


def merged_profiles(url: str, count: int) -> list[bool]:
    """Merged views, then diffs of two hosts against two others (their
    profiles' aggregates already read by the merge)."""
    base = f"{url}/api/merged?service=merged"
    outcomes = [report(f"merged {count}, first view", timed_get(base + "&type=cpu-time"), MERGED_GOAL_MS)]
    for type_name in ("wall-time", "alloc-space", "heap-space"):
        outcomes.append(report(f"merged, switch to {type_name}", timed_get(f"{base}&type={type_name}"),
                               MERGED_GOAL_MS))
    outcomes.append(report("merged, thread worker-2", timed_get(base + "&type=cpu-time&thread=worker-2"),
                           MERGED_GOAL_MS))
    outcomes.append(report("merged, back to cpu-time (cached)", timed_get(base + "&type=cpu-time"), MERGED_GOAL_MS))
    # Compare: the profiles of two hosts against those of two others.
    diff = (f"{url}/api/diff?service=merged&a.host=web-0&a.host=web-1&b.host=web-2&b.host=web-3")
    sides = count * 2 // 5
    outcomes.append(report(f"diff {sides} vs {sides} profiles (cpu-time)", timed_get(diff + "&type=cpu-time"),
                           MERGED_GOAL_MS))
    outcomes.append(report("diff, switch to wall-time", timed_get(diff + "&type=wall-time"), MERGED_GOAL_MS))
    return outcomes


def wait_warm(server, count: int, timeout: float) -> float:
    started = time.perf_counter()
    while server.app.explorer.warmer.warmed < count and time.perf_counter() - started < timeout:
        time.sleep(0.2)
    return time.perf_counter() - started


def reader_costs() -> None:
    from stacksight.serve import compression, profile_aggregate
    from stacksight.serve.aggregate_cache import STORED_LIMITS
    from stacksight.serve.pprof_reader import decode_profile
    from stacksight.serve.profile_types import canonicalize

    def median_ms(work) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            work()
            runs.append((time.perf_counter() - started) * 1000)
        return sorted(runs)[2]

    print("Reading one stored profile (decompress + decode + rows, median of 5):")
    for label, rows in (("3,000 stacks", big_profile.service_rows(1000, 3000)), ("14,000 stacks", None)):
        raw = pprof_pb.encode_profile(big_profile.big_profile(rows=rows), "gzip")
        frames = profile_aggregate.FrameTable()
        native = median_ms(lambda: profile_aggregate.aggregate_attachments(
            1, [("auto.pprof", raw)], frames, STORED_LIMITS, 1 << 30))
        python = median_ms(lambda: profile_aggregate.aggregate_profiles(1, [canonicalize(
            "auto.pprof", decode_profile(compression.decompress(raw, 1 << 30)[1], STORED_LIMITS))], frames))
        which = "C reader" if profile_aggregate._pprof_rows is not None else "C reader NOT BUILT, Python"
        print(f"  {label:<14} {which}: {native:6.1f} ms   pure Python: {python:6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="merge 40 profiles instead of 200")
    args = parser.parse_args()
    count = 40 if args.quick else 200
    reader_costs()
    with tempfile.TemporaryDirectory(prefix="stacksight-explorer-bench-") as tmp:
        db_path = os.path.join(tmp, "profiles.db")
        server = start_serve(db_path, max_body_mb=64)
        server.app.explorer.warmer.stop()  # cold: every first view decodes
        try:
            upload_profiles(server.url, count, 3000)
            print("Cold cache (server just started, nothing read yet; the background reader off):")
            print(" One profile, 14,000 distinct stacks:")
            outcomes = single_profile(server.url)
            print(f" Merge of {count} profiles of one service (3,000 of its 14,000 stacks each, 5 processes):")
            outcomes += merged_profiles(server.url, count)
        finally:
            server.stop()
        server = start_serve(db_path, max_body_mb=64)
        try:
            spent = wait_warm(server, count + 1, 600)
            print(f"Warm cache (a restarted server; its background reader took {spent:.1f} s to read "
                  f"all {count + 1} profiles, as it does while they arrive):")
            print(" One profile, 14,000 distinct stacks:")
            outcomes += single_profile(server.url)
            print(f" Merge of {count} profiles:")
            outcomes += merged_profiles(server.url, count)
        finally:
            server.stop()
    missed = outcomes.count(False)
    print(f"{len(outcomes) - missed} of {len(outcomes)} timings within their goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
