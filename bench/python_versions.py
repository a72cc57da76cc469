"""Sampler cost per thread-sample on each supported CPython (issue #11).

    python bench/python_versions.py VENV [VENV...]    (make bench-pythons)

For each venv (one per CPython, made by `make test-pythons`: stacksight
pip-installed), runs bench/sampler_cost_child.py under that venv's
stacksight-run at 997 Hz with the overhead cap lifted: 32 threads parked at
64 frames and 4 busy threads whose leaf frame changes all the time. Prints
sampler CPU per thread-sample (sampler_cpu_ns / thread_samples from
stacksight._native.stats()), frames read per thread-sample and torn samples,
one line per version. Standalone on purpose: it needs nothing but the venvs,
so it also runs inside the chroot that holds CPython 3.14/3.15."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "sampler_cost_child.py")
CASES = [("parked", 32, 0), ("busy", 4, 1)]
SECONDS = 3.0
ENV = {"STACKSIGHT_SAMPLE_HZ": "997", "DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE": "100",
       "DD_PROFILING_EXCEPTION_ENABLED": "false", "DD_PROFILING_LOCK_ENABLED": "false",
       "DD_PROFILING_MEMORY_ENABLED": "false", "DD_PROFILING_HEAP_ENABLED": "false",
       "DD_SERVICE": "bench"}


def one(venv, threads, busy):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_", "PYTHON"))}
    env.update(ENV)
    argv = [os.path.join(venv, "bin", "stacksight-run"), os.path.join(venv, "bin", "python"),
            CHILD, str(SECONDS), str(threads), str(busy)]
    with tempfile.TemporaryDirectory(prefix="ss-bench-") as out:
        env["DD_PROFILING_OUTPUT_PPROF"] = os.path.join(out, "p")
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])["stats"]
    raise SystemExit(f"{venv}: no result (exit {proc.returncode}): {proc.stderr[-500:]}")


def main():
    print(f"{'CPython':<10} {'case':<7} {'threads':>7} {'thread-samples':>14} "
          f"{'us/thread-sample':>16} {'frames read':>11} {'torn':>6}")
    for venv in sys.argv[1:]:
        version = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                                  "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        for name, threads, busy in CASES:
            st = one(venv, threads, busy)
            n = max(1, st["thread_samples"])
            print(f"{version:<10} {name:<7} {threads:>7} {st['thread_samples']:>14} "
                  f"{st['sampler_cpu_ns'] / n / 1e3:>16.2f} {st['walker_frames'] / n:>11.1f} "
                  f"{st['torn_samples']:>6}", flush=True)


if __name__ == "__main__":
    main()
