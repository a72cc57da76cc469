"""CPython's own regression tests, run with and without the profiler: any
test whose result differs is a program that behaves differently profiled.

  .venv/bin/python tests/compat/run_cpython_tests.py [MODULE ...]

Both runs use `python -m test --junit-xml` on the interpreter running this
script; the profiled one runs under `stacksight-run` (every profile type on,
nothing uploaded: files in a temporary directory). A difference is checked
again, that test alone, twice each way, so that a timing-flaky test does not
count; what still differs is printed and the exit status is 1."""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

MODULES = ["test_threading", "test_thread", "test_subprocess", "test_signal", "test_os", "test_fork1",
           "test_queue", "test_exceptions", "test_sys", "test_logging", "test_selectors",
           "test_concurrent_futures"]
HERE = os.path.dirname(os.path.abspath(__file__))
EXT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "ext")


def available(module):
    import importlib.util
    try:
        return importlib.util.find_spec(f"test.{module}") is not None
    except ImportError:
        return False


def env(tmp):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
    e["PYTHONPATH"] = EXT
    e["DD_PROFILING_OUTPUT_PPROF"] = os.path.join(tmp, "p")
    e["DD_PROFILING_UPLOAD_PERIOD"] = "5"
    return e


def run(profiled, args, tmp, xml):
    command = [sys.executable, "-m", "test", "--junit-xml", xml, *args]
    if profiled:
        command = [sys.executable, "-m", "stacksight.run", *command]
    done = subprocess.run(command, env=env(tmp), capture_output=True, text=True, timeout=1800)
    return done


def results(xml):
    """{test id: "ok" | "failure" | "error" | "skipped"}"""
    out = {}
    if not os.path.exists(xml):
        return out
    for case in ET.parse(xml).iter("testcase"):
        key = f"{case.get('classname')}.{case.get('name')}"
        status = "ok"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = child.tag
        out[key] = status
    return out


def main():
    modules = sys.argv[1:] or [m for m in MODULES if available(m)]
    print(f"CPython {sys.version.split()[0]}: {' '.join(modules)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for profiled in (False, True):
            xml = os.path.join(tmp, f"{int(profiled)}.xml")
            done = run(profiled, ["-j2", *modules], tmp, xml)
            runs[profiled] = results(xml)
            label = "profiled" if profiled else "plain"
            tail = done.stdout.strip().splitlines()[-1:] or [""]
            print(f"  {label:<9} {len(runs[profiled])} tests, exit {done.returncode}: {tail[0]}", flush=True)
            if profiled:
                pids = {f.split(".")[1] for f in os.listdir(tmp) if f.startswith("p.") and f.endswith(".pprof")}
                print(f"  profiles written by {len(pids)} processes", flush=True)
                if len(pids) < 2:   # the runner and its workers
                    print("  the profiled run was not profiled")
                    return 1
            if "Fatal Python error" in done.stderr + done.stdout:
                print(done.stdout[-3000:] + done.stderr[-3000:])
                return 1
        differ = sorted(k for k in runs[False].keys() | runs[True].keys()
                        if runs[False].get(k) != runs[True].get(k))
        persistent = []
        for key in differ:
            # module.Class.test -> rerun that test alone, both ways, twice.
            module = key.split(".")[1] if key.startswith("test.") else key.split(".")[0]
            name = key.rsplit(".", 1)[-1]
            seen = {False: set(), True: set()}
            for attempt in range(2):
                for profiled in (False, True):
                    xml = os.path.join(tmp, f"re{attempt}{int(profiled)}.xml")
                    run(profiled, [module, "-m", name], tmp, xml)
                    seen[profiled].add(results(xml).get(key, "missing"))
            if seen[False] != seen[True]:
                persistent.append((key, sorted(seen[False]), sorted(seen[True])))
        print(f"  {len(differ)} differed in the first runs; {len(persistent)} differ when rerun")
        for key, plain, profiled in persistent:
            print(f"  DIFFERS {key}: plain {plain}, profiled {profiled}")
        return 1 if persistent else 0


if __name__ == "__main__":
    sys.exit(main())
