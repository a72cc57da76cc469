"""Helpers for the ``stacksight serve`` tests: start the server, build and
send Datadog-style uploads, drive a headless browser.

Makes ``ext/`` importable when the package is not installed, so the tests
run straight from a checkout with or without ``PYTHONPATH=ext``.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
EXT_DIR = REPO_ROOT / "ext"

try:
    import stacksight.serve  # noqa: F401
except ImportError:
    sys.path.insert(0, str(EXT_DIR))
