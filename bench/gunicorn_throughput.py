"""Requests per second of a Flask app under gunicorn, with and without the
profiler, and with ddtrace's profiler in the same run.

One sync worker (so the figure is per-core throughput) serves
bench/workloads/flask_app.py; two client threads in this process keep it
busy with fresh connections (a sync worker closes each one). Each
configuration gets its own gunicorn, started under `stacksight-run` the way
users start it (the master starts the profiler, the forked worker restarts
it), a warm-up, then a timed window. Configurations are interleaved in
rotated order over --rounds rounds; the median of each is reported, with its
ratio to "no profiler", and the worker process's CPU time per request (all
its threads, the profiler's included; read from schedstat, so less disturbed
by a busy machine than the throughput). Profiles go to files in a temporary directory, so no
agent is involved.

  .venv/bin/python bench/gunicorn_throughput.py [--rounds 3] [--seconds 5]

Needs gunicorn and flask in bench/.venv (`make bench-setup`)."""
import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXT = os.path.join(ROOT, "ext")
BOOTSTRAP = os.path.join(EXT, "stacksight", "bootstrap")
PEER_BIN = os.path.join(HERE, ".venv", "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configurations(tmp):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
    base["PYTHONPATH"] = HERE   # workloads.flask_app
    profiled = {**base, "PYTHONPATH": os.pathsep.join([BOOTSTRAP, EXT, HERE]),
                "DD_PROFILING_ENABLED": "true", "DD_PROFILING_OUTPUT_PPROF": os.path.join(tmp, "st"), "DD_PROFILING_UPLOAD_INTERVAL": "60"}
    off = {"DD_PROFILING_MEMORY_ENABLED": "false", "DD_PROFILING_HEAP_ENABLED": "false"}
    configs = {
        "no profiler": ([], base),
        "stacksight, defaults": ([], profiled),
        "stacksight, memory off": ([], {**profiled, **off}),
        "stacksight, locks off": ([], {**profiled, "DD_PROFILING_LOCK_ENABLED": "false"}),
        "stacksight, CPU+wall": ([], {**profiled, **off, "DD_PROFILING_LOCK_ENABLED": "false",
                                      "DD_PROFILING_EXCEPTION_ENABLED": "false"}),
    }
    ddtrace_run = os.path.join(PEER_BIN, "ddtrace-run")
    if os.path.exists(ddtrace_run):
        configs["ddtrace profiler"] = ([ddtrace_run], {
            **base, "DD_PROFILING_ENABLED": "true", "DD_TRACE_ENABLED": "false",
            "DD_PROFILING_OUTPUT_PPROF": os.path.join(tmp, "dd"), "DD_PROFILING_UPLOAD_INTERVAL": "60", "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false"})
    return configs


def wait_ready(port, proc, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            if request(port) == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("gunicorn did not answer")


def request(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def load(port, seconds, clients=2):
    """Requests completed in `seconds` by `clients` threads."""
    done = [0] * clients
    errors = [0]
    stop = time.monotonic() + seconds

    def client(k):
        while time.monotonic() < stop:
            try:
                if request(port) == 200:
                    done[k] += 1
                else:
                    errors[0] += 1
            except OSError:
                errors[0] += 1
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors[0]:
        raise RuntimeError(f"{errors[0]} failed requests")
    return sum(done) / seconds


def worker_pid(master):
    with open(f"/proc/{master}/task/{master}/children") as f:
        kids = f.read().split()
    if len(kids) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {kids}")
    return int(kids[0])


def process_cpu_ns(pid):
    """CPU time of every thread of pid (the profiler's own threads included)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def measure(prefix, env, seconds, warmup):
    port = free_port()
    cmd = prefix + [os.path.join(PEER_BIN, "gunicorn"), "-w", "1", "-k", "sync", "--bind",
                    f"127.0.0.1:{port}", "--log-level", "warning", "workloads.flask_app:app"]
    proc = subprocess.Popen(cmd, env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(port, proc)
        load(port, warmup)
        worker = worker_pid(proc.pid)
        cpu0 = process_cpu_ns(worker)
        rate = load(port, seconds)
        cpu = process_cpu_ns(worker) - cpu0
        return rate, cpu / 1e3 / (rate * seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(PEER_BIN, "gunicorn")):
        sys.exit("bench/.venv has no gunicorn: run `make bench-setup` first")
    with tempfile.TemporaryDirectory() as tmp:
        configs = configurations(tmp)
        names = list(configs)
        rates = {name: [] for name in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                prefix, env = configs[name]
                rates[name].append(measure(prefix, env, args.seconds, args.warmup))
        # The profilers really ran in the workers: their files are there.
        written = os.listdir(tmp)
        st = sum(f.startswith("st.") for f in written)
        dd = sum(f.startswith("dd.") for f in written)
        if st == 0:
            sys.exit("stacksight wrote no profile: the measurement is void")
        base = statistics.median(r for r, _ in rates["no profiler"])
        base_cpu = statistics.median(c for _, c in rates["no profiler"])
        print(f"gunicorn sync worker, Flask app, {args.rounds} rounds of {args.seconds:g} s "
              f"(load average {os.getloadavg()[0]:.1f})")
        print(f"  {'':<24} {'req/s':>7}  {'ratio':>6}   {'worker CPU/request':>18}  ratio")
        for name in names:
            m = statistics.median(r for r, _ in rates[name])
            c = statistics.median(c for _, c in rates[name])
            spread = ", ".join(f"{x:.0f}" for x, _ in rates[name])
            print(f"  {name:<24} {m:7.0f}  {m / base:6.3f}x  {c:15.0f} us  {c / base_cpu:6.3f}x  ({spread})")
        print(f"  profile files written: stacksight {st}, ddtrace {dd}")


if __name__ == "__main__":
    main()
