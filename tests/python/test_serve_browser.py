"""The explorer in a real browser (headless Chromium over the DevTools
protocol): the list shows rows, a facet narrows them, a click opens the flame
graph, switching the profile type changes it, search/zoom/tooltip/thread
filter work, the tabs render, downloading gives bytes ``go tool pprof``
reads, and selected rows merge into one graph."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

import pprof_pb
from serve_helpers.cdp import Chromium, find_chromium
from serve_helpers.server import serve_server  # noqa: F401 - fixture
from serve_helpers.uploads import cpu_profile, http_request, upload

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="chromium is not installed (apt-get install chromium)")

TAGS = {"service": "checkout", "env": "prod", "version": "3", "host": "web-1", "runtime": "CPython",
        "runtime-id": "5b3f-runtime"}
GO = shutil.which("go") or "/usr/local/go/bin/go"


def _js(value) -> str:
    return json.dumps(value)


def test_explorer_end_to_end(serve_server, tmp_path):
    raw = pprof_pb.encode_profile(cpu_profile(), "gzip")
    prod_id = upload(serve_server.url, TAGS, profile_bytes=raw)
    staging_id = upload(serve_server.url, {**TAGS, "env": "staging"}, profile_bytes=raw)
    billing_id = upload(serve_server.url, {**TAGS, "service": "billing"}, profile_bytes=raw)

    with Chromium() as browser:
        page = browser.page
        page.navigate(serve_server.url + "/")
        page.wait_for("document.body && document.body.dataset.loaded")
        assert page.evaluate("document.querySelectorAll('tr.profile-row').length") == 3
        assert page.evaluate("document.getElementById('result-count').textContent") == "3 profiles"

        # A facet narrows the list and lands in the URL.
        page.click("input[data-facet=env][data-value=staging]")
        page.wait_for("document.querySelectorAll('tr.profile-row').length === 1")
        assert page.evaluate("document.querySelector('tr.profile-row').dataset.id") == str(staging_id)
        assert "env=staging" in page.evaluate("location.search")

        # Clicking the row opens the profile with its CPU flame graph.
        page.click("tr.profile-row")
        page.wait_for("location.pathname === '/profiles/%d'" % staging_id)
        page.wait_for("document.body && document.body.dataset.graphLoaded")
        graph = "document.getElementById('flamegraph')"
        frames = "stacksightGraphs.main.framesNamed"
        assert page.evaluate(f"{graph}.dataset.type") == "cpu-time"
        assert page.evaluate(f"{graph}.dataset.total") == str(10_000_000)
        assert page.evaluate(f"{frames}('compute').length") == 1
        assert page.evaluate("document.getElementById('profile-title').textContent") == "checkout"
        buttons = page.evaluate("[...document.querySelectorAll('#type-switch button')].map(b => b.textContent)")
        assert buttons[:5] == ["CPU", "Wall Time", "Allocated Memory", "Allocations", "Thrown Exceptions"]

        # Switching the profile type changes the graph.
        page.click("#type-switch button[data-type=wall-time]")
        page.wait_for(f"{graph}.dataset.type === 'wall-time'")
        assert page.evaluate(f"{graph}.dataset.total") == str(20_000_000)
        assert "Wall Time" in page.evaluate("document.getElementById('flame-total').textContent")

        # Search highlights, click zooms, hovering shows value and share.
        page.evaluate("(() => { const s = document.getElementById('flame-search'); s.value = 'compute';"
                      " s.dispatchEvent(new Event('input')); })()")
        assert "50%" in page.evaluate("document.getElementById('flame-status').textContent")
        assert page.evaluate("new URLSearchParams(location.search).get('q')") == "compute"
        assert page.evaluate("stacksightGraphs.main.drawn.filter(e => stacksightGraphs.main.matches(e.node))"
                             ".map(e => stacksightGraphs.main.name(e.node))") == ["compute"]
        point = page.evaluate(f"stacksightGraphs.main.clientPoint({frames}('handle_request')[0])")
        page.mouse_click(point["x"], point["y"])
        assert "Zoomed into handle_request" in page.evaluate("document.getElementById('flame-status').textContent")
        zoomed = page.evaluate(f"{frames}('handle_request').map(e => e.width)")
        assert max(zoomed) == page.evaluate(f"{graph}.clientWidth")
        assert page.evaluate("new URLSearchParams(location.search).get('zoom')")
        render = page.evaluate(f"stacksightGraphs.main.clientPoint({frames}('render')[0])")
        page.mouse_move(render["x"], render["y"])
        tooltip = page.evaluate("document.getElementById('tooltip').textContent")
        assert "render" in tooltip and "10 ms" in tooltip and "50%" in tooltip
        # Esc undoes the zoom.
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.key("Escape")
        assert "Zoomed" not in page.evaluate("document.getElementById('flame-status').textContent")
        assert not page.evaluate("new URLSearchParams(location.search).get('zoom')")

        # Thread filter on the exceptions profile.
        page.click("#type-switch button[data-type=exception-samples]")
        page.wait_for(f"{graph}.dataset.type === 'exception-samples'")
        assert page.evaluate("[...document.querySelectorAll('#thread-filter option')].map(o => o.value)") == ["", "worker"]
        page.evaluate("(() => { const s = document.getElementById('thread-filter'); s.value = 'worker';"
                      " s.dispatchEvent(new Event('change')); })()")
        page.wait_for("new URLSearchParams(location.search).get('thread') === 'worker'"
                      " && document.getElementById('flame-total').textContent.includes('worker')")
        assert page.evaluate(f"{graph}.dataset.total") == "3"

        # Full screen toggles.
        page.click("#fullscreen-button")
        assert page.evaluate("document.getElementById('flame-panel').classList.contains('fullscreen')")
        page.click("#fullscreen-button")

        # Metrics and Runtime Info tabs.
        page.click("#tabs button[data-tab=metrics]")
        page.wait_for("document.body.dataset.metricsLoaded")
        assert page.evaluate("document.querySelectorAll('#chart-cpu circle.point').length") == 1
        assert page.evaluate("document.querySelectorAll('#chart-alloc circle.point.current').length") == 1
        page.click("#tabs button[data-tab=runtime]")
        runtime_text = page.evaluate("document.getElementById('tab-runtime').innerText")
        assert "5b3f-runtime" in runtime_text and "samples_dropped" in runtime_text

        # Download gives the original bytes, readable by go tool pprof.
        href = page.evaluate("document.getElementById('download-link').href")
        status, _, body = http_request(href)
        assert status == 200 and body == raw
        if os.path.exists(GO):
            path = tmp_path / "from-browser.pprof"
            path.write_bytes(body)
            result = subprocess.run([GO, "tool", "pprof", "-raw", str(path)], capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0 and "compute" in result.stdout, result.stderr

        # Select two rows in the list and merge them.
        page.navigate(serve_server.url + "/")
        page.wait_for("document.body && document.body.dataset.loaded"
                      " && document.querySelectorAll('tr.profile-row').length === 3")
        for profile_id in (prod_id, billing_id):
            page.click(f"input.row-select[data-id='{profile_id}']")
        assert page.evaluate("document.getElementById('merge-selected').textContent") == "Merge selected (2)"
        page.click("#merge-selected")
        page.wait_for("location.pathname === '/merged'")
        page.wait_for("document.body && document.body.dataset.graphLoaded")
        assert page.evaluate("document.getElementById('profile-title').textContent") == \
            "Merged flame graph of 2 profiles"
        assert page.evaluate(f"{graph}.dataset.total") == str(20_000_000)

        assert page.exceptions() == []
