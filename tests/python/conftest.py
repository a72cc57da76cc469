"""Shared fixtures: run Python snippets under the profiler in a subprocess,
and a real HTTP intake on 127.0.0.1 that records multipart uploads."""
from __future__ import annotations

import email.parser
import email.policy
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


# STACKSIGHT_TEST_INSTALLED=1 (make test-pythons): test the package pip
# installed into the running interpreter's venv, not the checkout's ext/.
INSTALLED = os.environ.get("STACKSIGHT_TEST_INSTALLED") == "1"
PACKAGE_PATH = [] if INSTALLED else [os.path.join(REPO, "ext")]


def shown(qualname):
    """How the function of this qualified name appears in profiles here:
    before 3.11 code objects have no co_qualname, only co_name."""
    return qualname if sys.version_info >= (3, 11) else qualname.rsplit(".", 1)[-1]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "STACKSIGHT_"))}
    env["PYTHONPATH"] = os.pathsep.join(PACKAGE_PATH + [HERE])
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_python(code: str, timeout=120, **env):
    """Run `code` in a fresh interpreter; returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def python_runner():
    return run_python


class Upload:
    def __init__(self, headers, body):
        self.headers = headers
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body)
        self.parts = {}
        self.filenames = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            self.parts[name] = part.get_payload(decode=True)
            self.filenames[name] = part.get_filename()
        self.event = json.loads(self.parts["event"])
        self.tags = dict(t.split(":", 1) for t in self.event["tags_profiler"].split(","))


class Intake:
    """A local agent stand-in. `behaviour(n)` returns (status, delay_s) for the n-th request."""

    def __init__(self, behaviour=None):
        self.uploads: list[Upload] = []
        self.requests = 0
        self.paths = []
        self.behaviour = behaviour or (lambda n: (200, 0))
        intake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                n = intake.requests
                intake.requests += 1
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                status, delay = intake.behaviour(n)
                if delay:
                    time.sleep(delay)
                intake.paths.append(self.path)
                if status == 200:
                    intake.uploads.append(Upload(self.headers, body))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count, timeout=30):
        deadline = time.time() + timeout
        while len(self.uploads) < count and time.time() < deadline:
            time.sleep(0.05)
        return len(self.uploads) >= count

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def intake():
    servers = []

    def make(behaviour=None):
        server = Intake(behaviour)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()
