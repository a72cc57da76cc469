"""What a new user meets first: the build on a fresh machine, `pip install .`
output, arguments the core cannot hold, warnings that quote the environment,
and subinterpreters."""
import os
import re
import subprocess
import sys

import pytest

from conftest import clean_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "Makefile")),
                    reason="a copy of the tests without the Makefile (the sanitizer build)")
def test_makefile_reads_pkg_config_only_when_a_recipe_runs():
    # On a fresh machine `deps` installs the libraries; flags computed while
    # the Makefile is parsed would be empty and the first link would fail.
    out = subprocess.run(["make", "-p", "-n", "-q", "-C", ROOT, ".PHONY"], capture_output=True,
                         text=True).stdout
    using = [line for line in out.splitlines() if "pkg-config --" in line and
             re.match(r"^[A-Za-z_][A-Za-z0-9_]* :?= ", line)]
    assert using, "no variable of the Makefile calls pkg-config"
    for line in using:
        assert re.match(r"^[A-Za-z_][A-Za-z0-9_]* = .*\$\(shell pkg-config", line), \
            f"evaluated when the Makefile is parsed: {line}"


def test_building_the_metadata_prints_no_deprecation(tmp_path):
    code = ("import warnings; warnings.simplefilter('always');"
            "from setuptools.build_meta import prepare_metadata_for_build_wheel as p;"
            f"p({str(tmp_path)!r})")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Deprecat" not in done.stderr, done.stderr
    metadata = next(tmp_path.glob("*.dist-info")) / "METADATA"
    assert "License-Expression: Apache-2.0" in metadata.read_text()


@pytest.mark.parametrize("kwargs, named", [
    ({"env": "prod\0uction"}, "'env' contains a NUL"),
    ({"service": "a\0b"}, "'service' contains a NUL"),
    ({"env": "\udcff"}, "'env' is not valid text"),
    ({"version": "1.\ud800"}, "'version' is not valid text"),
    ({"tags": {"team": "a\0b"}}, "'tags' value of 'team' contains a NUL"),
    ({"tags": {"te\0am": "x"}}, "'tags' key 'te\\x00am' contains a NUL"),
    ({"tags": {"team": "\udcff"}}, "'tags' value of 'team' is not valid text"),
])
def test_arguments_the_core_cannot_hold_are_refused_by_name(kwargs, named):
    from stacksight import Profiler
    with pytest.raises(ValueError) as info:
        Profiler(**kwargs)
    assert named in str(info.value)


def test_control_characters_in_the_environment_are_escaped_in_warnings(tmp_path):
    code = "import stacksight.auto, time; time.sleep(0.2); stacksight.auto.profiler.stop()"
    env = clean_env(DD_PROFILING_UPLOAD_PERIOD="\x1b[2J\rfake\nline",
                    DD_PROFILING_OUTPUT_PPROF=str(tmp_path / "p"))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if "DD_PROFILING_UPLOAD_PERIOD" in line]
    assert len(warning) == 1, done.stderr
    assert "\\x1b[2J\\x0dfake\\x0aline" in warning[0]
    assert "\x1b" not in done.stderr and "\r" not in done.stderr


SUBINTERPRETERS = """
try:
    import _xxsubinterpreters as interpreters       # up to 3.12
    create, run_string = interpreters.create, interpreters.run_string
except ImportError:
    import _interpreters as interpreters            # 3.13+: failures are returned
    def create():                                   # shares the GIL and extensions
        return interpreters.create("legacy")
    def run_string(sub, code):
        failure = interpreters.run_string(sub, code)
        assert failure is None, failure
import stacksight.auto
for _ in range(3):
    sub = create()
    run_string(sub, "import stacksight.auto; assert stacksight.auto.profiler is None")
    interpreters.destroy(sub)
sub = create()
run_string(sub, '''
from stacksight import Profiler, ProfilerError
try:
    Profiler().start()
except ProfilerError as exc:
    assert "subinterpreter" in str(exc), exc
else:
    raise AssertionError("started in a subinterpreter")
''')
assert stacksight.auto.profiler.running
stacksight.auto.profiler.stop()
print("ok")
"""


def test_subinterpreters_say_nothing(tmp_path):
    env = clean_env(DD_PROFILING_OUTPUT_PPROF=str(tmp_path / "p"))
    done = subprocess.run([sys.executable, "-c", SUBINTERPRETERS], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert "stacksight" not in done.stderr, done.stderr
