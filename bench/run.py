"""`make bench` / `make bench-quick`: runs every benchmark and writes bench/RESULTS.md.

Order: peer setup (bench/setup_peers.py), then Python overhead, the 64-frame
sampler-cost micro-benchmark, accuracy, memory (+ export cost), Ruby
overhead, the other suites kept in bench/, charts and the report. A local
intake on 127.0.0.1 receives every profiler's uploads. Raw results go to
bench/out/results-<mode>.json; the quick mode finishes in under 3 minutes.

    .venv/bin/python bench/run.py [--quick] [--only overhead,accuracy,...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import accuracy  # noqa: E402
import extra_suites  # noqa: E402
import machine  # noqa: E402
import memory  # noqa: E402
import overhead  # noqa: E402
import rb_overhead  # noqa: E402
import report  # noqa: E402
import sampler_breakdown  # noqa: E402
import sampler_cost  # noqa: E402
from local_intake import LocalIntake  # noqa: E402
from profilers import PEER_PY, peer_status  # noqa: E402

# (quick, full) settings for each part.
SETTINGS = {
    "overhead_scale": (0.3, 4.0), "overhead_rounds": (2, 4),
    "accuracy_scale": (0.4, 5.0),
    "sampler_seconds": (1.0, 6.0), "sampler_hz": (1000, 1000),
    "memory_seconds": (8.0, 300.0), "memory_upload_interval": (5.0, 60.0),
    "ruby_scale": (0.3, 4.0), "ruby_rounds": (2, 4),
}
PARTS = ["overhead", "sampler", "accuracy", "memory", "ruby", "extra"]


def log_progress(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(PARTS))
    ap.add_argument("--skip-setup", action="store_true")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    cfg = {k: v[0 if args.quick else 1] for k, v in SETTINGS.items()}
    parts = [p for p in args.only.split(",") if p]
    out_dir = os.path.join(HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    t_start = time.perf_counter()

    if not args.skip_setup:
        log_progress("setting up peers (bench/setup_peers.py)")
        subprocess.run([sys.executable, os.path.join(HERE, "setup_peers.py")], check=False)
    res = {"mode": mode, "settings": cfg, "machine": machine.describe(), "load_start": machine.load_average(),
           "peers": peer_status()}
    with open(os.path.join(out_dir, f"log-{mode}.txt"), "w") as log, LocalIntake() as intake:
        if "overhead" in parts:
            log_progress("Python overhead")
            res["python_overhead"] = overhead.run(cfg["overhead_scale"], cfg["overhead_rounds"], intake.url, log,
                                                  log_progress)
        if "sampler" in parts:
            log_progress("sampler cost at 64 frames")
            res["sampler_cost"] = sampler_cost.run(cfg["sampler_seconds"], cfg["sampler_hz"], intake.url, log,
                                                   os.path.join(out_dir, "profiles"), log_progress)
            if not args.quick:
                res["sampler_breakdown"] = sampler_breakdown.run(cfg["sampler_seconds"], cfg["sampler_hz"],
                                                                 intake.url)
                log_progress(f"  sampler breakdown: {res['sampler_breakdown']}")
        if "accuracy" in parts:
            log_progress("accuracy")
            res["accuracy"] = accuracy.run(cfg["accuracy_scale"], os.path.join(out_dir, "profiles"), intake.url,
                                           log, log_progress)
        if "memory" in parts:
            log_progress(f"memory ({cfg['memory_seconds']:.0f} s)")
            res["memory"] = memory.run(cfg["memory_seconds"], cfg["memory_upload_interval"], intake.url, log,
                                       log_progress)
        if "ruby" in parts:
            log_progress("Ruby overhead")
            res["ruby_overhead"] = rb_overhead.run(cfg["ruby_scale"], cfg["ruby_rounds"], intake.url, log,
                                                   log_progress)
        if "extra" in parts:
            log_progress("other suites in bench/")
            res["extra_suites"] = extra_suites.run(args.quick, log_progress)
        res["intake_uploads"] = intake.requests
    res["load_end"] = machine.load_average()
    res["total_seconds"] = time.perf_counter() - t_start

    results_json = os.path.join(out_dir, f"results-{mode}.json")
    with open(results_json, "w") as f:
        json.dump(res, f, indent=1)
    charts = []
    if os.path.exists(PEER_PY):
        out = subprocess.run([PEER_PY, os.path.join(HERE, "charts.py"), results_json, HERE],
                             capture_output=True, text=True)
        if out.returncode == 0:
            charts = json.loads(out.stdout.strip().splitlines()[-1])
        else:
            res["chart_error"] = out.stderr.strip().splitlines()[-1:]
    else:
        res["chart_error"] = "matplotlib not installed (bench/.venv missing)"
    report.write(os.path.join(HERE, "RESULTS.md"), res, charts)
    log_progress(f"wrote bench/RESULTS.md ({res['total_seconds']:.0f} s)")
    for row in report.headline(res):
        print(f"  {row['figure']}: {row['value']}  [target {row['target']}: {row['status']}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
