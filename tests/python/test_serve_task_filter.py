"""The explorer's task filter, like its thread filter: a real asyncio program
profiled by stacksight uploads to `stacksight serve`; the flame graph API
lists the `task name` labels with their values and, given ?task=NAME, keeps
only that task's samples."""
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from conftest import clean_env
from serve_helpers.server import serve_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not (3, 11) <= sys.version_info[:2] <= (3, 14),
                                reason="asyncio task sampling is implemented for CPython 3.11 to 3.14")

PROGRAM = """
import asyncio
from stacksight import Profiler
p = Profiler(service="aio-svc", upload_interval=60).start()

async def load_orders():
    await asyncio.sleep(0.3)

async def read_cache():
    await asyncio.sleep(0.1)

async def orders():
    for _ in range(5):
        await load_orders()

async def cache():
    for _ in range(5):
        await read_cache()

async def main():
    await asyncio.gather(asyncio.create_task(orders(), name="orders"),
                         asyncio.create_task(cache(), name="cache"))

asyncio.run(main())
p.stop()
"""


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.load(reply)


def graph(server, profile_id, **params):
    query = urllib.parse.urlencode(dict(type="wall-time", **params))
    return get_json(f"{server.url}/api/profiles/{profile_id}/flamegraph?{query}")


def test_task_names_are_listed_and_filter_the_graph(serve_server):  # noqa: F811
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120,
                          env=clean_env(DD_TRACE_AGENT_URL=serve_server.url))
    assert done.returncode == 0, done.stderr
    deadline, rows = time.time() + 30, []
    while time.time() < deadline and not rows:
        rows = get_json(serve_server.url + "/api/profiles?service=aio-svc")["profiles"]
        time.sleep(0.2)
    assert rows, "the upload was not stored"
    whole = graph(serve_server, rows[0]["id"])
    tasks = {t["name"]: t["value"] for t in whole["tasks"]}
    assert {"orders", "cache"} <= set(tasks), whole["tasks"]
    # orders awaited 1.5 s, cache 0.5 s: about 3 to 1.
    assert 2.0 < tasks["orders"] / tasks["cache"] < 4.5, tasks

    only_orders = graph(serve_server, rows[0]["id"], task="orders")
    assert only_orders["task"] == "orders"
    assert only_orders["total"] == tasks["orders"]
    names = set(only_orders["functions"]["name"])
    assert "load_orders" in names and "read_cache" not in names, sorted(names)
    # The thread filter still lists the loop's thread; an unknown task gives an empty graph.
    assert only_orders["threads"]
    assert graph(serve_server, rows[0]["id"], task="no such task")["total"] == 0
