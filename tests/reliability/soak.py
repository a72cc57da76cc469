"""Soak: a profiled request-serving app under steady load for N minutes.

Peers' users reported profiler memory that grew over days and overhead that
crept up; neither shows in a test that runs for seconds. This starts a small
stdlib http.server app (thread per request, JSON, a lock, a caught exception
per request) with the profiler uploading to a local intake, drives it with a
local load loop, and every interval records the app's RSS and the sampler's
CPU time (stacksight._native.stats()). At the end it prints the RSS slope
(least squares after a warm-up) and the sampler's CPU share over time, and
fails if the slope is above --max-slope (MB per hour).

    python tests/reliability/soak.py --minutes 30 [--rps 200] [--interval 15] [--no-profiler]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fault_intake import FaultIntake  # noqa: E402
from rel_helpers import REPO, clean_env  # noqa: E402

APP = r"""
import json, os, re, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from stacksight import Profiler, _native

cache_lock = threading.Lock()
cache = {}
WORD = re.compile(r"[a-z]+")

def render(n):
    doc = {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(n)]}
    text = json.dumps(doc)
    return len(WORD.findall(text)) + len(json.loads(text)["items"])

def lookup(key):
    with cache_lock:
        if key in cache:
            return cache[key]
    try:
        raise KeyError(key)            # a caught exception per request
    except KeyError:
        value = render(20 + key % 30)
    with cache_lock:
        if len(cache) > 500:
            cache.clear()
        cache[key] = value
    return value

def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path == "/stats":
            body = json.dumps({"rss_kb": rss_kb(), "stats": _native.stats(),
                               "threads": threading.active_count()}).encode()
        else:
            body = str(lookup(int(self.path.rsplit("/", 1)[-1] or 0))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if sys.argv[2] == "1":
    Profiler(service="soak-app", env="soak", url=sys.argv[1]).start()
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def get(port, path, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def load_loop(port, rps, stop, counters):
    """Closed loop at about `rps` requests per second from this thread."""
    period = 1.0 / rps
    nxt = time.monotonic()
    i = 0
    while not stop.is_set():
        try:
            status, _ = get(port, f"/item/{i % 997}")
            counters["ok" if status == 200 else "bad"] += 1
        except OSError:
            counters["bad"] += 1
        i += 1
        nxt += period
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.monotonic()


def slope_per_hour(points):
    """Least-squares slope of (t seconds, y) in y units per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mt) * (y - my) for t, y in points) / var * 3600


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 30)))
    ap.add_argument("--rps", type=float, default=200, help="total request rate of the load loop")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--interval", type=float, default=15, help="seconds between measurements")
    ap.add_argument("--upload-interval", type=float, default=10, help="profile period of the app")
    ap.add_argument("--sample-hz", type=int, default=100)
    ap.add_argument("--max-slope", type=float, default=10.0, help="fail above this RSS slope, MB/hour")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "soak"))
    ap.add_argument("--no-profiler", action="store_true",
                    help="control run: the same app and load without profiling")
    args = ap.parse_args()

    intake = FaultIntake("ok")
    env = clean_env(DD_PROFILING_UPLOAD_INTERVAL=args.upload_interval, STACKSIGHT_SAMPLE_HZ=args.sample_hz)
    app = subprocess.Popen([sys.executable, "-c", textwrap.dedent(APP), intake.url,
                            "0" if args.no_profiler else "1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = app.stdout.readline()
    if not line.strip().isdigit():
        app.wait(10)
        print("SOAK FAILED: the app did not start:", app.stderr.read()[-3000:])
        return 1
    port = int(line)
    stop = threading.Event()
    counters = {"ok": 0, "bad": 0}
    clients = [threading.Thread(target=load_loop, args=(port, args.rps / args.clients, stop, counters),
                                daemon=True) for _ in range(args.clients)]
    for c in clients:
        c.start()

    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    rows = []
    print(f"soak: {args.minutes:g} min at ~{args.rps:g} req/s, sampling {args.sample_hz} Hz, "
          f"profiles every {args.upload_interval:g} s")
    print(f"{'min':>6} {'RSS MB':>8} {'sampler CPU %':>14} {'ticks':>8} {'requests':>9} "
          f"{'profiles':>8} {'threads':>7}")
    failed = None
    while True:
        if app.poll() is not None:
            failed = f"the app exited with {app.returncode}: {app.stderr.read()[-2000:]}"
            break
        now = time.monotonic()
        try:
            _, body = get(port, "/stats")
        except OSError as exc:
            failed = f"the app did not answer /stats: {exc}"
            break
        s = json.loads(body)
        row = {"t": now - t0, "rss_kb": s["rss_kb"], "sampler_cpu_ns": s["stats"]["sampler_cpu_ns"],
               "ticks": s["stats"]["ticks"], "requests": counters["ok"], "bad": counters["bad"],
               "exported": s["stats"]["profiles_exported"], "failures": s["stats"]["export_failures"],
               "threads": s["threads"]}
        cpu_pct = 0.0
        if rows:
            dt = row["t"] - rows[-1]["t"]
            cpu_pct = (row["sampler_cpu_ns"] - rows[-1]["sampler_cpu_ns"]) / 1e9 / dt * 100 if dt else 0.0
        row["sampler_cpu_pct"] = cpu_pct
        rows.append(row)
        print(f"{row['t']/60:6.1f} {row['rss_kb']/1024:8.1f} {cpu_pct:14.3f} {row['ticks']:8d} "
              f"{row['requests']:9d} {row['exported']:8d} {row['threads']:7d}", flush=True)
        if now >= end:
            break
        time.sleep(min(args.interval, max(0.0, end - time.monotonic())))

    stop.set()
    for c in clients:
        c.join(15)
    app.terminate()
    try:
        app.wait(15)
    except subprocess.TimeoutExpired:
        app.kill()
    intake.close()

    warm = [r for r in rows if r["t"] >= min(120.0, rows[-1]["t"] * 0.2)] if rows else []
    slope = slope_per_hour([(r["t"], r["rss_kb"] / 1024) for r in warm]) if len(warm) >= 2 else 0.0
    total_t = rows[-1]["t"] - rows[0]["t"] if len(rows) > 1 else 0
    cpu_total = ((rows[-1]["sampler_cpu_ns"] - rows[0]["sampler_cpu_ns"]) / 1e9 / total_t * 100
                 if total_t else 0.0)
    summary = {
        "minutes": args.minutes, "rps_target": args.rps,
        "requests": counters["ok"], "request_errors": counters["bad"],
        "rss_start_mb": rows[0]["rss_kb"] / 1024 if rows else None,
        "rss_end_mb": rows[-1]["rss_kb"] / 1024 if rows else None,
        "rss_slope_mb_per_hour": slope,
        "sampler_cpu_pct_of_one_core": cpu_total,
        "sampler_cpu_pct_max_interval": max((r["sampler_cpu_pct"] for r in rows[1:]), default=0.0),
        "profiles_exported": rows[-1]["exported"] if rows else 0,
        "export_failures": rows[-1]["failures"] if rows else 0,
        "uploads_received": len(intake.uploads),
        "failed": failed,
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, time.strftime("soak-%Y%m%d-%H%M%S.json"))
    with open(path, "w") as f:
        json.dump({"summary": summary, "rows": rows}, f, indent=1)
    print(json.dumps(summary, indent=1))
    print("written", path)
    if failed:
        print("SOAK FAILED:", failed)
        return 1
    if slope > args.max_slope:
        print(f"SOAK FAILED: RSS grows {slope:.1f} MB/hour (limit {args.max_slope:g})")
        return 1
    if counters["ok"] == 0 or (summary["profiles_exported"] == 0 and not args.no_profiler):
        print("SOAK FAILED: no requests served or no profiles exported")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
