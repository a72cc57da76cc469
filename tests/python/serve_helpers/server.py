"""Start ``stacksight serve`` for a test, in-process or as a subprocess.

``serve_server`` is the fixture most tests want: a server on a free port in a
background thread with its own database, yielding an object with ``url``,
``db_path`` and ``store``.  Tests that upload real profiles from a profiled
Python or Ruby process can use it as is: point ``DD_TRACE_AGENT_URL`` at
``server.url`` and then query ``server.url + "/api/profiles"``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from . import EXT_DIR
from stacksight.serve.app import ServeApp
from stacksight.serve.config import ServeConfig


@dataclass
class RunningServe:
    url: str
    db_path: str
    app: ServeApp

    @property
    def store(self):
        return self.app.store

    def stop(self) -> None:
        self.app.shutdown()


def start_serve(db_path: str, **overrides) -> RunningServe:
    config = ServeConfig(host="127.0.0.1", port=0, db_path=str(db_path), quiet=True, **overrides)
    app = ServeApp(config)
    app.start_background()
    return RunningServe(url=app.url, db_path=str(db_path), app=app)


@pytest.fixture
def serve_server(tmp_path):
    server = start_serve(tmp_path / "profiles.db")
    try:
        yield server
    finally:
        server.stop()


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXT_DIR), env.get("PYTHONPATH")]))
    return env


def start_serve_process(args: list[str]) -> tuple[subprocess.Popen, str]:
    """Run ``python -m stacksight.serve ARGS`` and return it with its URL,
    read from the "listening on" line it prints."""
    process = subprocess.Popen([sys.executable, "-m", "stacksight.serve", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=subprocess_env())
    line = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        process.kill()
        raise AssertionError(f"server did not start: {line!r} {process.stderr.read()!r}")
    return process, match.group(1)
