#!/usr/bin/env bash
# One CPython's run of the Python profile tests against the package as users
# get it: `pip install .` of this checkout into a venv of that interpreter,
# then the version-sensitive part of tests/python with
# STACKSIGHT_TEST_INSTALLED=1 (conftest then imports the installed package,
# not ext/). Used by mk/pythons.mk, on the host and inside the chroot.
#
#   tests/python_versions/run.sh PYTHON VENV          run the tests
#   tests/python_versions/run.sh --refuses PYTHON VENV  an unsupported CPython
#       (none installed today): `pip install .` must refuse it by the package's
#       requires-python. A later CPython installs and start() refuses; that
#       path is tests/python/test_unsupported_python.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

refuses=0
if [ "${1:-}" = "--refuses" ]; then refuses=1; shift; fi
python="$1" venv="$2"
version=$("$python" -c 'import platform; print(platform.python_version())')
started=$SECONDS

if [ ! -x "$venv/bin/python" ] || [ "$("$venv/bin/python" -c 'import platform; print(platform.python_version())')" != "$version" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q "setuptools>=77" wheel
[ "$refuses" = 1 ] || "$venv/bin/python" -m pip install -q pytest protobuf
# trio and gevent only as wheels: a Python they have none for skips their
# compatibility tests (pytest reports the skips) instead of compiling them.
if [ "$refuses" = 0 ] && ! "$venv/bin/python" -m pip install -q --only-binary :all: trio==0.35.0 gevent==26.9.0 2>/dev/null; then
  echo "python $version: no trio/gevent wheels; tests/python/test_locks_compat.py skips them"
fi
if [ "$refuses" = 1 ]; then
  if out=$("$venv/bin/python" -m pip install --no-build-isolation . 2>&1); then
    echo "python $version: pip installed stacksight, which does not support it"; exit 1
  fi
  grep -q "requires a different Python" <<<"$out" || { echo "$out"; exit 1; }
  echo "python $version: pip refuses: $(grep -m1 'requires a different Python' <<<"$out")"
else
  "$venv/bin/python" -m pip install -q --no-build-isolation .
  tests=(
    tests/python/test_walker.py                     # stacks vs sys._current_frames
    tests/python/test_profiler_cpu_wall.py          # CPU/wall split, GIL-holding C call
    tests/python/test_profiler_threads_fork.py      # threads, fork, exec
    tests/python/test_generator_stacks.py
    tests/python/test_python_exceptions.py
    tests/python/test_python_locks.py
    tests/python/test_locks_compat.py
    tests/python/test_python_memory.py
    tests/python/test_profiler_run_and_config.py    # stacksight-run, auto-start, config
    tests/python/test_profiler_upload.py
    tests/python/test_first_contact.py
    tests/python/test_signal_takeover.py
    tests/python/test_descriptors.py
    tests/python/test_cli_delegation.py
    tests/python/test_asyncio_tasks.py              # task await chains (3.11-3.14; skips elsewhere)
    tests/python/test_greenlets.py                  # gevent fallback warning
    tests/python/test_self_accounting.py            # cap budget = thread CPU clocks
  )
  STACKSIGHT_TEST_INSTALLED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider "${tests[@]}"
fi
echo "python $version: ok in $((SECONDS - started)) s"
