"""Both packages install a `stacksight` command; either one handles every
subcommand, handing over to the other package when it is installed."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, clean_env
from profile_view import load, profile_files

RUBY = shutil.which("ruby")
GEM_LIB = os.path.join(REPO, "gem", "lib")
GEM_EXE = os.path.join(REPO, "gem", "exe", "stacksight")
needs_gem = pytest.mark.skipif(
    RUBY is None or not os.path.exists(os.path.join(GEM_LIB, "stacksight", "cli.rb")),
    reason="ruby or the gem sources are missing")


def native_gem_built():
    return RUBY and subprocess.run([RUBY, "-I", GEM_LIB, "-e", 'require "stacksight"; exit(Stacksight.native? ? 0 : 1)'],
                                   capture_output=True).returncode == 0


@needs_gem
def test_python_command_hands_ruby_programs_to_the_gem(tmp_path):
    if not native_gem_built():
        pytest.skip("the gem's native extension is not built (rake compile)")
    app = tmp_path / "app.rb"
    app.write_text("t = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 0.5\n"
                   "x = 0\nx += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) < t\n")
    prefix = str(tmp_path / "rb")
    env = clean_env(DD_PROFILING_OUTPUT_PPROF=prefix, DD_PROFILING_ENABLED="true", RUBYLIB=GEM_LIB)
    result = subprocess.run([sys.executable, "-m", "stacksight", "exec", RUBY, str(app)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    files = profile_files(prefix)
    assert files and load(files[0]).total("wall-time") > 0


def test_python_command_says_what_to_install_without_the_gem(tmp_path):
    if RUBY is None:
        pytest.skip("ruby is not installed")
    env = clean_env()
    env.pop("RUBYLIB", None)
    env["GEM_HOME"] = str(tmp_path)   # an empty gem home: the gem is not installed
    env["GEM_PATH"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "stacksight", "exec", RUBY, "-e", "1"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "gem build stacksight.gemspec && gem install" in result.stderr


@needs_gem
def test_gem_command_hands_python_programs_and_serve_to_the_python_package(tmp_path):
    prefix = str(tmp_path / "py")
    app = tmp_path / "app.py"
    app.write_text("import time\nend = time.monotonic() + 0.5\nwhile time.monotonic() < end:\n    pass\n")
    env = clean_env(DD_PROFILING_OUTPUT_PPROF=prefix, STACKSIGHT_PYTHON=sys.executable)
    result = subprocess.run([RUBY, "-I", GEM_LIB, GEM_EXE, "exec", sys.executable, str(app)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(profile_files(prefix)) == 1
    version = subprocess.run([RUBY, "-I", GEM_LIB, GEM_EXE, "serve", "--help"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "--port" in version.stdout + version.stderr


@needs_gem
def test_gem_command_says_what_to_install_without_the_python_package(tmp_path):
    env = clean_env(STACKSIGHT_PYTHON="/usr/bin/env")   # a "python" that cannot import stacksight
    env["PYTHONPATH"] = ""
    result = subprocess.run([RUBY, "-I", GEM_LIB, GEM_EXE, "serve"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "pip install" in result.stderr
