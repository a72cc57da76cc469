"""Helpers of the reliability suite: run profiled snippets, read RSS, decode pprof.

The suite lives apart from tests/python (its own conftest), so the few things
it shares with those tests are re-implemented or imported by path here: the
pprof decoder in tests/python/profile_view.py is independent of the encoder
and is reused as is."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PY_TESTS = os.path.join(REPO, "tests", "python")
if PY_TESTS not in sys.path:
    sys.path.append(PY_TESTS)

from profile_view import ProfileView  # noqa: E402  (tests/python, decoder independent of the encoder)

__all__ = ["ProfileView", "clean_env", "run_python", "rss_kb", "ci_size", "REPO", "HERE", "SANITIZED"]

# Under `make test-asan` the interpreter runs with libasan preloaded: its
# quarantine and fake stacks make RSS meaningless, so RSS bounds are only
# reported there, not asserted.
SANITIZED = "libasan" in os.environ.get("LD_PRELOAD", "")


def clean_env(**extra):
    """The environment of a profiled child: no DD_/STACKSIGHT_ leaking in from
    the developer's shell, the source tree's package first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "ext"), HERE, PY_TESTS])
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_python(code: str, timeout=120, cwd=None, **env):
    """Run `code` in a fresh interpreter; CompletedProcess with text output.
    A child that hangs is killed and reported as a failure by the caller
    (subprocess.TimeoutExpired propagates)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def rss_kb(pid="self"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ci_size(name, full, ci):
    """Size of a stress loop: the full size unless RELIABILITY_CI=1 asks for
    the CI size; an explicit RELIABILITY_<NAME> wins over both."""
    explicit = os.environ.get("RELIABILITY_" + name.upper())
    if explicit:
        return int(explicit)
    return ci if os.environ.get("RELIABILITY_CI") == "1" else full


def crashed(result):
    """True when a child died of a signal or a sanitizer report."""
    text = (result.stderr or "") + (result.stdout or "")
    return (result.returncode < 0 or "Segmentation fault" in text or "Fatal Python error" in text
            or "AddressSanitizer" in text or "runtime error:" in text)
