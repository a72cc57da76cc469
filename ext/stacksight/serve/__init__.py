"""``stacksight serve``: a local, Datadog-agent-compatible profile intake and
a "Search Profiles" explorer in the browser.

The ``stacksight`` command calls ``main(argv)`` with the arguments after
``serve``; ``python -m stacksight.serve`` does the same.
"""

from __future__ import annotations

import signal
import sys

from .app import ServeApp
from .config import ServeConfig, parse_args

__all__ = ["main", "ServeApp", "ServeConfig"]


def main(argv: list[str] | None = None) -> int:
    config = parse_args(list(sys.argv[1:] if argv is None else argv))
    if not config.is_loopback():
        print(f"stacksight serve: WARNING: listening on {config.host}: anyone who can reach this "
              "port can upload profiles and read every stored profile (no authentication).",
              file=sys.stderr, flush=True)
    try:
        app = ServeApp(config)
    except OSError as error:
        print(f"stacksight serve: cannot listen on {config.host}:{config.port}: {error}", file=sys.stderr)
        return 1
    # SIGTERM (service managers, docker stop) shuts down like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"stacksight serve: listening on {app.url} (intake POST {app.url}/profiling/v1/input, "
          f"explorer {app.url}/), db {config.db_path}", flush=True)
    try:
        app.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt
