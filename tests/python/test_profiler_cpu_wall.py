"""CPU and wall profiles of real workloads, decoded independently."""
import os
import subprocess
import sys

from conftest import HERE, clean_env
from profile_view import load, profile_files

WORKLOAD = os.path.join(HERE, "workloads", "cpu_split.py")


def run_split(tmp_path, seconds=4, extra=()):
    prefix = str(tmp_path / "prof")
    # 200 Hz: each CPU slice is one random draw, so twice the slices halve
    # the variance of the shares the tolerances below are about.
    subprocess.run([sys.executable, WORKLOAD, prefix, str(seconds), *extra],
                   env=clean_env(STACKSIGHT_SAMPLE_HZ=200), check=True, timeout=120)
    files = profile_files(prefix)
    assert len(files) == 1, files
    return load(files[0])


def test_cpu_split_50_30_20_on_main_thread(tmp_path):
    view = run_split(tmp_path)
    assert {"cpu-samples", "cpu-time", "wall-samples", "wall-time"} <= set(view.sample_types)
    main = view.by_label("thread name", "cpu-time")
    assert main.get("MainThread", 0) > 0
    cpu = {}
    for smp in view.samples:
        if smp.labels.get("thread name") == "MainThread" and smp.stack:
            # `burn` is the leaf; its caller tells which share it belongs to.
            caller = smp.stack[1] if smp.stack[0] == "burn" and len(smp.stack) > 1 else smp.stack[0]
            cpu[caller] = cpu.get(caller, 0) + smp.values["cpu-time"]
    split = {name: cpu.get(name, 0) for name in ("fifty", "thirty", "twenty")}
    total = sum(split.values())
    assert total > 0.5 * sum(cpu.values()), cpu
    shares = {name: 100.0 * value / total for name, value in split.items()}
    assert abs(shares["fifty"] - 50) <= 5, shares
    assert abs(shares["thirty"] - 30) <= 5, shares
    assert abs(shares["twenty"] - 20) <= 5, shares
    # Files, lines and qualified names are resolved.
    burn = next(s for s in view.samples if s.stack and s.stack[0] == "burn")
    assert burn.files[0].endswith("cpu_split.py")
    assert 12 <= burn.lines[0] <= 16
    assert burn.stack[-1] == "<module>"


def test_sleeping_thread_gets_wall_and_no_cpu(tmp_path):
    view = run_split(tmp_path, seconds=3)
    sleeper = [s for s in view.samples if s.labels.get("thread name") == "sleeper"]
    assert sleeper, "the sleeping thread was not sampled"
    wall = sum(s.values["wall-time"] for s in sleeper)
    cpu = sum(s.values["cpu-time"] for s in sleeper)
    duration = view.duration_nanos
    assert wall >= 0.8 * duration, (wall, duration)
    assert cpu <= 0.01 * wall, (cpu, wall)
    # The wall time is at the blocking call: Event.wait -> Condition.wait.
    assert any("wait" in s.stack[0] for s in sleeper), {tuple(s.stack[:3]) for s in sleeper}
    # Wall time of every thread sums to about threads x duration.
    main_wall = view.total("wall-time", lambda s: s.labels.get("thread name") == "MainThread")
    assert 0.8 * duration <= main_wall <= 1.1 * duration


def test_long_gil_holding_c_call_is_charged_to_its_python_caller(tmp_path):
    view = run_split(tmp_path, seconds=4, extra=("c",))
    c_thread = [s for s in view.samples if s.labels.get("thread name") == "c-caller"]
    cpu = sum(s.values["cpu-time"] for s in c_thread)
    assert cpu > 0.2 * view.duration_nanos, cpu
    in_c = sum(s.values["cpu-time"] for s in c_thread if s.stack[0] == "in_c_call")
    assert in_c >= 0.95 * cpu, {tuple(s.stack[:2]): s.values["cpu-time"] for s in c_thread}


def test_go_pprof_reads_the_profile(tmp_path):
    run_split(tmp_path, seconds=1)
    path = profile_files(str(tmp_path / "prof"))[0]
    go = os.environ.get("GO", "go")
    if subprocess.run(["which", go], capture_output=True).returncode != 0:
        go = "/usr/local/go/bin/go"
    out = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=cpu-time", path],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fifty" in out.stdout and "Type: cpu-time" in out.stdout
    # Module-level code keeps its name (pprof demangles a system_name, and
    # "<module>" would come out "<unknown>").
    assert "<module>" in out.stdout and "<unknown>" not in out.stdout, out.stdout


def test_cpu_of_threads_that_alternate_computing_and_waiting_lands_on_the_computing_code(tmp_path):
    # Charging CPU deltas at wall ticks would put most of it on `wait`, where
    # the workers usually are when the tick comes; CPU-slice events capture
    # the stack while the CPU is being used.
    prefix = str(tmp_path / "mix")
    workload = os.path.join(HERE, "workloads", "compute_then_wait.py")
    subprocess.run([sys.executable, workload, prefix, "3"], env=clean_env(), check=True, timeout=120)
    view = load(profile_files(prefix)[0])
    by_leaf = {}
    for smp in view.samples:
        if str(smp.labels.get("thread name", "")).startswith("worker-"):
            by_leaf[smp.stack[0]] = by_leaf.get(smp.stack[0], 0) + smp.values["cpu-time"]
    total = sum(by_leaf.values())
    assert total > 0.5e9, by_leaf   # ~2 x 1/3 of 3 s
    assert by_leaf.get("compute", 0) / total >= 0.9, by_leaf
