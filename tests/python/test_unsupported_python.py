"""On a build the stack walker has no layout part for, the extension still
builds, start() explains itself, and auto-start warns once and lets the app run.

Every installed CPython (3.9-3.15) has a layout part now, and none is a
free-threaded build; so the extension is built straight with the C compiler
for CPython 3.10 (pyenv) with Py_GIL_DISABLED defined, as a free-threaded
build's pyconfig.h defines it: that selects the refusing stub (cpython_layout.h
refuses every Py_GIL_DISABLED build). A CPython outside 3.9-3.15 is refused
earlier, by pip (requires-python >= 3.9).
Skipped if no CPython 3.10 is installed."""
import glob
import os
import shutil
import subprocess
import sysconfig

import pytest

from conftest import REPO


def other_python():
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10")))
    candidates += [shutil.which("python3.10")]
    for path in candidates:
        # pyenv shims exist for versions that are not selected: try each.
        if path and subprocess.run([path, "-c", "pass"], capture_output=True).returncode == 0:
            return path
    return None


@pytest.fixture(scope="module")
def built_for_other_python(tmp_path_factory):
    python = other_python()
    if python is None:
        pytest.skip("no CPython 3.10 is installed")
    info = subprocess.run([python, "-c", "import sysconfig as s; print(s.get_paths()['include']); "
                           "print(s.get_config_var('EXT_SUFFIX'))"], capture_output=True, text=True, check=True)
    include, suffix = info.stdout.split()
    root = tmp_path_factory.mktemp("other-python")
    shutil.copytree(os.path.join(REPO, "ext", "stacksight"), root / "stacksight",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    gen = os.path.join(REPO, "build", "gen")
    if not os.path.exists(os.path.join(gen, "profile.pb-c.c")):
        os.makedirs(gen, exist_ok=True)
        subprocess.run(["protoc-c", f"--c_out={gen}", "--proto_path=proto", "profile.proto"], cwd=REPO, check=True)
    sources = sorted(glob.glob(os.path.join(REPO, "ext", "*.c")) + glob.glob(os.path.join(REPO, "src", "common", "*.c")))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl", "libprotobuf-c", "zlib"],
                           capture_output=True, text=True, check=True).stdout.split()
    cc = sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") else "gcc"
    subprocess.run([cc, "-shared", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-Werror",
                    "-Wno-missing-field-initializers", "-O1", "-DPy_GIL_DISABLED", f"-I{include}", f"-I{gen}",
                    f"-I{os.path.join(REPO, 'src', 'common')}", *sources, os.path.join(gen, "profile.pb-c.c"),
                    "-o", str(root / "stacksight" / f"_native{suffix}"), *flags], check=True)
    return python, str(root)


def run(python, root, code):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "PYTHON"))}
    env["PYTHONPATH"] = root
    return subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_manual_start_raises_a_clear_error(built_for_other_python):
    python, root = built_for_other_python
    result = run(python, root, """
from stacksight import Profiler, ProfilerError
try:
    Profiler(service="x").start()
except ProfilerError as e:
    print(e)
""")
    assert result.returncode == 0, result.stderr
    assert "supports CPython 3.9 to 3.15 (GIL builds)" in result.stdout, result.stdout
    assert "this is CPython 3.10 free-threaded (Py_GIL_DISABLED) build" in result.stdout


def test_auto_start_warns_once_and_the_app_runs(built_for_other_python):
    python, root = built_for_other_python
    result = run(python, root, "import stacksight.auto\nprint('app ran')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "app ran"
    assert result.stderr.count("profiling is off") == 1, result.stderr
