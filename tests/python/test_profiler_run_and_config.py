"""stacksight-run, import stacksight.auto, configuration and bad input."""
import os
import subprocess
import sys

import pytest

from conftest import PACKAGE_PATH, REPO, clean_env, run_python
from profile_view import load, profile_files

APP = """
import sys, time, subprocess
def work():
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        sum(range(1000))
work()
if len(sys.argv) > 1 and sys.argv[1] == "spawn":
    subprocess.run([sys.executable, __file__], check=True)
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""


def stacksight_run(tmp_path, *args, **env):
    app = tmp_path / "app.py"
    app.write_text(APP)
    run = [sys.executable, "-m", "stacksight.run", sys.executable, str(app), *args]
    return subprocess.run(run, env=clean_env(**env), capture_output=True, text=True, timeout=120)


def go_pprof():
    for go in ("go", "/usr/local/go/bin/go"):
        if subprocess.run(["sh", "-c", f"command -v {go}"], capture_output=True).returncode == 0:
            return go
    pytest.skip("go is not installed")


def test_stacksight_run_profiles_the_app_and_its_python_children(tmp_path):
    prefix = str(tmp_path / "out")
    result = stacksight_run(tmp_path, "spawn", "3", DD_PROFILING_ENABLED="true", DD_SERVICE="my-web-app",
                            DD_PROFILING_OUTPUT_PPROF=prefix)
    assert result.returncode == 3, result.stderr   # exit code preserved
    files = profile_files(prefix)
    pids = {os.path.basename(f).split(".")[1] for f in files}
    assert len(pids) == 2, files   # the app and its Python child
    for path in files:
        out = subprocess.run([go_pprof(), "tool", "pprof", "-top", "-sample_index=cpu-time", path],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "work" in out.stdout
    assert "work" in load(files[0]).total_by_function("cpu-time")


def test_stacksight_run_module_form_and_disabled(tmp_path):
    prefix = str(tmp_path / "out")
    (tmp_path / "mymod").mkdir()
    (tmp_path / "mymod" / "__main__.py").write_text(APP)
    env = clean_env(DD_PROFILING_OUTPUT_PPROF=prefix)
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)
    run = [sys.executable, "-m", "stacksight.run", sys.executable, "-m", "mymod"]
    assert subprocess.run(run, env=env, timeout=120).returncode == 0
    assert len(profile_files(prefix)) == 1
    env["DD_PROFILING_ENABLED"] = "false"
    env["DD_PROFILING_OUTPUT_PPROF"] = prefix + "-off"
    assert subprocess.run(run, env=env, timeout=120).returncode == 0
    assert profile_files(prefix + "-off") == []


def test_import_auto(tmp_path):
    prefix = str(tmp_path / "auto")
    result = run_python("""
        import stacksight.auto
        import time
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            sum(range(1000))
        """, DD_PROFILING_OUTPUT_PPROF=prefix, DD_SERVICE="auto-svc")
    assert result.returncode == 0, result.stderr
    assert len(profile_files(prefix)) == 1


@pytest.mark.parametrize("name,value,fragment,key,default", [
    ("DD_PROFILING_UPLOAD_INTERVAL", "abc", "DD_PROFILING_UPLOAD_INTERVAL=abc", "upload_interval", 60.0),
    ("DD_PROFILING_UPLOAD_INTERVAL", "-5", "DD_PROFILING_UPLOAD_INTERVAL=-5", "upload_interval", 60.0),
    ("DD_TRACE_AGENT_PORT", "99999", "DD_TRACE_AGENT_PORT=99999", "agent_url", "http://localhost:8126"),
    ("DD_TRACE_AGENT_URL", "ftp://agent:8126", "scheme", "agent_url", "http://localhost:8126"),
    ("DD_TRACE_AGENT_URL", "http://:8126", "no host", "agent_url", "http://localhost:8126"),
    ("DD_PROFILING_API_TIMEOUT_MS", "soon", "DD_PROFILING_API_TIMEOUT_MS", "api_timeout_ms", 10000),
    ("DD_PROFILING_MAX_FRAMES", "0", "DD_PROFILING_MAX_FRAMES", "max_frames", 64),
    ("DD_PROFILING_ENABLED", "maybe", "DD_PROFILING_ENABLED", "enabled", False),
    ("STACKSIGHT_SAMPLE_HZ", "1e9", "STACKSIGHT_SAMPLE_HZ", "sample_hz", 100),
])
def test_bad_environment_values_warn_once_and_use_the_default(name, value, fragment, key, default):
    result = run_python("""
        import logging, json
        logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
        from stacksight import _native
        cfg = _native.config()
        _native.drain_log()
        print(json.dumps(cfg))
        """, **{name: value})
    assert result.returncode == 0, result.stderr
    import json
    cfg = json.loads(result.stdout)
    assert cfg[key] == default
    warnings = [line for line in result.stderr.splitlines() if line.startswith("stacksight WARNING")]
    assert len(warnings) == 1, result.stderr
    assert fragment in warnings[0]


def test_malformed_tags_warn_and_keep_the_good_ones():
    result = run_python("""
        import logging, json
        logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
        from stacksight import _native
        cfg = _native.config()
        _native.drain_log()
        print(json.dumps(cfg["tags"]))
        """, DD_TAGS=",,:x,good:1,novalue, spaced : ok ")
    import json
    assert json.loads(result.stdout) == {"good": "1", "spaced": "ok"}
    warnings = [line for line in result.stderr.splitlines() if "DD_TAGS" in line]
    assert len(warnings) == 2, result.stderr   # ":x" and "novalue"
    assert any("':x'" in w for w in warnings) and any("'novalue'" in w for w in warnings)


def test_environment_values_are_used():
    result = run_python("""
        import json
        from stacksight import _native
        print(json.dumps(_native.config(service="from-kwarg")))
        """, DD_SERVICE="from-env", DD_ENV="staging", DD_VERSION="2.0", DD_AGENT_HOST="agent.local",
        DD_TRACE_AGENT_PORT="9126", DD_PROFILING_UPLOAD_INTERVAL="0.5", DD_PROFILING_MAX_FRAMES="128")
    import json
    cfg = json.loads(result.stdout)
    assert cfg["service"] == "from-kwarg" and cfg["env"] == "staging" and cfg["version"] == "2.0"
    assert cfg["agent_url"] == "http://agent.local:9126"
    assert cfg["upload_interval"] == 0.5 and cfg["max_frames"] == 128


def test_wrong_keyword_arguments_raise():
    sys.path[:0] = PACKAGE_PATH
    from stacksight import Profiler
    with pytest.raises(TypeError, match="'service'"):
        Profiler(service=42)
    with pytest.raises(TypeError, match="'tags'"):
        Profiler(tags=["team:x"])
    with pytest.raises(TypeError, match="'tags'"):
        Profiler(tags={"team": 1})
    with pytest.raises(ValueError, match="'tags'"):
        Profiler(tags={"bad key": "x"})
    with pytest.raises(TypeError, match="'upload_interval'"):
        Profiler(upload_interval="60")
    with pytest.raises(ValueError, match="'upload_interval'"):
        Profiler(upload_interval=0)
    with pytest.raises(TypeError):
        Profiler(unknown=1)


def test_start_twice_stop_twice_and_never_started(tmp_path):
    result = run_python(f"""
        from stacksight import Profiler, ProfilerError
        never = Profiler()
        never.stop()            # no-op
        p = Profiler(output_pprof={str(tmp_path / 'x')!r})
        p.start()
        try:
            p.start()
        except ProfilerError as e:
            print("again:", e)
        try:
            Profiler().start()
        except ProfilerError as e:
            print("second:", e)
        p.stop()
        p.stop()                # no-op
        with Profiler(output_pprof={str(tmp_path / 'y')!r}) as q:
            assert q.running
        assert not q.running
        p.start(); p.stop()     # restartable
        print("ok")
        """)
    assert result.returncode == 0, result.stderr
    assert "again: this profiler is already running" in result.stdout
    assert "second: another stacksight Profiler is already running" in result.stdout
    assert result.stdout.strip().endswith("ok")
    assert len(profile_files(str(tmp_path / "x"))) == 2
    assert len(profile_files(str(tmp_path / "y"))) == 1


def test_deep_recursion_keeps_leaf_frames_and_an_omitted_marker(tmp_path):
    prefix = str(tmp_path / "deep")
    result = run_python(f"""
        import sys, time
        sys.setrecursionlimit(20000)
        from stacksight import Profiler
        def down(n):
            if n == 0:
                end = time.monotonic() + 0.5
                while time.monotonic() < end:
                    sum(range(1000))
                return 0
            return down(n - 1) + 1
        p = Profiler(output_pprof={prefix!r}).start()
        down(5000)
        p.stop()
        """)
    assert result.returncode == 0, result.stderr
    view = load(profile_files(prefix)[0])
    deep = [s for s in view.samples if len(s.stack) >= 60]
    assert deep
    for smp in deep:
        assert len(smp.stack) == 64
        assert smp.stack[-1].startswith("<") and "frames omitted>" in smp.stack[-1]
        assert smp.stack[0] in ("down", "<genexpr>") or smp.stack[1] == "down"
