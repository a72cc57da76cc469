"""`make demo`: profile the bundled sample apps against a local `stacksight serve`.

Starts the intake and explorer in the background (port 8126, or the next free
one), runs tests/apps/sample_app.py under stacksight-run (and sample_app.rb
under the gem's `stacksight exec` when the gem is built), prints the top
functions by CPU and by wall time from the uploaded profiles, and leaves the
explorer running at the printed URL (`make demo-stop` stops it)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "build", "demo")
SECONDS = float(os.environ.get("DEMO_SECONDS", "20"))


def free_port(preferred=8126):
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise SystemExit("no free port")


def start_serve():
    port = free_port()
    pid_file = os.path.join(OUT, "serve.pid")
    log = open(os.path.join(OUT, "serve.log"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "stacksight", "serve", "--port", str(port),
                             "--db", os.path.join(OUT, "profiles.db")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    with open(pid_file, "w") as f:
        f.write(str(proc.pid))
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/api/stats", timeout=1).read()
            return url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("stacksight serve did not start; see build/demo/serve.log")


def profiled_env(url, service, prefix):
    env = dict(os.environ)
    env.update({
        "DD_PROFILING_ENABLED": "true",
        "DD_SERVICE": service,
        "DD_ENV": "demo",
        "DD_VERSION": "1.0.0",
        "DD_TRACE_AGENT_URL": url,
        "DD_PROFILING_OUTPUT_PPROF": os.path.join(OUT, prefix),
        "DD_PROFILING_UPLOAD_INTERVAL": "5",
        "DD_PROFILING_UPLOAD_PERIOD": "5",
    })
    return env


def run_python_app(url):
    print(f"profiling the Python sample app for {SECONDS:.0f} s ...", flush=True)
    cmd = [sys.executable, "-m", "stacksight.run", sys.executable,
           os.path.join(HERE, "sample_app.py"), str(SECONDS)]
    subprocess.run(cmd, env=profiled_env(url, "demo-orders-python", "python"), check=True)


def ruby_command():
    ruby = shutil.which("ruby")
    exe = os.path.join(REPO, "gem", "exe", "stacksight")
    lib = os.path.join(REPO, "gem", "lib")
    if ruby is None or not os.path.exists(exe):
        return None
    probe = subprocess.run([ruby, "-I", lib, "-e", 'require "stacksight"; exit(Stacksight.native? ? 0 : 1)'],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return [ruby, "-I", lib, exe, "exec", ruby, os.path.join(HERE, "sample_app.rb"), str(SECONDS)]


def run_ruby_app(url):
    cmd = ruby_command()
    if cmd is None:
        print("Ruby: the stacksight gem is not built (run `rake compile`); skipping the Ruby sample app")
        return False
    print(f"profiling the Ruby sample app for {SECONDS:.0f} s ...", flush=True)
    env = profiled_env(url, "demo-orders-ruby", "ruby")
    env["RUBYLIB"] = os.path.join(REPO, "gem", "lib") + os.pathsep + env.get("RUBYLIB", "")
    subprocess.run(cmd, env=env, check=True)
    return True


def print_top(url, service, type_name, title, unit_scale, unit):
    query = f"/api/merged?service={service}&type={type_name}"
    data = json.load(urllib.request.urlopen(url + query, timeout=30))
    total = data.get("total") or 0
    print(f"\n  {title} ({service}, {total / unit_scale:.2f} {unit} in all)")
    if not total:
        print("    (no samples)")
        return
    functions = data["functions"]  # columnar: one list per field
    for i in range(min(8, len(functions["name"]))):
        share = 100.0 * functions["self"][i] / total
        print(f"    {share:5.1f}%  self {functions['self'][i] / unit_scale:8.3f} {unit}  "
              f"total {functions['total'][i] / unit_scale:8.3f} {unit}  {functions['name'][i]}  "
              f"({os.path.basename(functions['file'][i])})")


def wait_for_uploads(url, services):
    for _ in range(100):
        facets = json.load(urllib.request.urlopen(url + "/api/facets", timeout=10))["facets"]
        seen = {v["value"] for v in facets.get("service", [])}
        if all(s in seen for s in services):
            return
        time.sleep(0.2)


def stop():
    pid_file = os.path.join(OUT, "serve.pid")
    try:
        with open(pid_file) as f:
            pid = int(f.read())
        os.kill(pid, 15)
        print(f"stopped stacksight serve (pid {pid})")
    except (OSError, ValueError):
        print("stacksight serve was not running")
    if os.path.exists(pid_file):
        os.unlink(pid_file)


def main():
    if sys.argv[1:] == ["--stop"]:
        stop()
        return
    os.makedirs(OUT, exist_ok=True)
    # Each demo shows its own run: stop an earlier explorer, start from an
    # empty store and no old profile files.
    if os.path.exists(os.path.join(OUT, "serve.pid")):
        stop()
    for name in os.listdir(OUT):
        if name.startswith("profiles.db") or name.endswith(".pprof"):
            os.unlink(os.path.join(OUT, name))
    url = start_serve()
    print(f"stacksight serve is receiving profiles at {url}")
    run_python_app(url)
    services = ["demo-orders-python"]
    if run_ruby_app(url):
        services.append("demo-orders-ruby")
    wait_for_uploads(url, services)
    for service in services:
        print_top(url, service, "cpu-time", "top functions by CPU", 1e9, "s")
        print_top(url, service, "wall-time", "top functions by wall time", 1e9, "s")
    print(f"\nprofiles written to {OUT}/*.pprof (read them with `go tool pprof -top FILE`)")
    print(f"\nopen the explorer: {url}/   (stop it with `make demo-stop`)")


if __name__ == "__main__":
    main()
