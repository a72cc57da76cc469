"""A local agent stand-in that misbehaves on demand.

Peer profilers hurt their hosts when the agent misbehaved: uploads that
blocked application threads, unbounded queues while the agent was away, a
warning per minute. This server answers POSTs the way a broken agent or
network would, selected by `mode` and switchable while a profiled child runs:

  ok       200, and the upload is decoded and kept
  slow     200 after `delay` seconds (uploads in flight for a while)
  500/404  that status
  stall    reads the request and says nothing for `stall` seconds (30)
  reset    starts a reply, then resets the connection mid-body
  garbage  replies with bytes that are not HTTP
  refused  nothing listens on the port (the port is kept and re-bound later)

It speaks HTTP by hand (no http.server) so that it can send broken replies."""
from __future__ import annotations

import email.parser
import email.policy
import json
import os
import socket
import socketserver
import struct
import threading
import time

MODES = ("ok", "slow", "500", "404", "stall", "reset", "garbage", "refused")


class Upload:
    def __init__(self, headers: dict, body: bytes):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + headers.get("content-type", "").encode() + b"\r\n\r\n" + body)
        self.parts = {}
        for part in msg.iter_parts():
            self.parts[part.get_param("name", header="content-disposition")] = part.get_payload(decode=True)
        self.event = json.loads(self.parts["event"])
        self.tags = dict(t.split(":", 1) for t in self.event["tags_profiler"].split(","))
        self.pid = int(self.tags["process_id"])
        self.runtime_id = self.tags["runtime-id"]
        self.pprof = self.parts.get("profile.pprof")
        self.received = time.time()


def _read_request(sock: socket.socket):
    """Read one HTTP request; returns (headers, body) or None on EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        buf = rest
        while True:
            while b"\r\n" not in buf:
                buf += sock.recv(65536)
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                more = sock.recv(65536)
                if not more:
                    return headers, body
                buf += more
            body += buf[:size]
            buf = buf[size + 2:]
            if size == 0:
                return headers, body
    length = int(headers.get("content-length", 0))
    body = rest
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return headers, body


class FaultIntake:
    def __init__(self, mode="ok", stall=30.0, delay=0.5):
        assert mode in MODES, mode
        self.mode = mode
        self.stall = stall
        self.delay = delay
        self.uploads: list[Upload] = []
        self.requests = {m: 0 for m in MODES}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None
        if mode != "refused":
            self._listen()

    # -- listening ------------------------------------------------------------
    def _listen(self):
        intake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                intake._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            block_on_close = False
            request_queue_size = 128

        for _ in range(100):   # the port may linger briefly after a close
            try:
                self.server = Server(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"cannot re-bind port {self.port}")
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def _unlisten(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def set_mode(self, mode):
        assert mode in MODES, mode
        if mode == "refused":
            self.mode = mode
            self._unlisten()
        else:
            if self.server is None:
                self._listen()
            self.mode = mode

    def close(self):
        self.closing.set()
        self._unlisten()

    # -- one connection -------------------------------------------------------
    def _reply(self, sock, status, text=b""):
        reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[status]
        sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (status, reason.encode(), len(text), text))

    def _handle(self, sock):
        try:
            req = _read_request(sock)
        except (OSError, ValueError):
            return
        if req is None:
            return
        headers, body = req
        mode = self.mode
        with self.lock:
            self.requests[mode] = self.requests.get(mode, 0) + 1
        try:
            if mode in ("ok", "slow"):
                if mode == "slow":
                    self.closing.wait(self.delay)
                try:
                    up = Upload(headers, body)
                except Exception:   # a malformed upload is a test failure, kept visible
                    up = None
                with self.lock:
                    if up is not None:
                        self.uploads.append(up)
                    else:
                        self.requests["malformed"] = self.requests.get("malformed", 0) + 1
                self._reply(sock, 200)
            elif mode in ("500", "404"):
                self._reply(sock, int(mode), b"{\"error\":\"injected\"}")
            elif mode == "stall":
                self.closing.wait(self.stall)
            elif mode == "reset":
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif mode == "garbage":
                sock.sendall(os.urandom(512) + b"\r\n\r\n" + os.urandom(512))
        except OSError:
            pass

    # -- queries --------------------------------------------------------------
    def uploads_by_pid(self):
        with self.lock:
            out = {}
            for up in self.uploads:
                out.setdefault(up.pid, []).append(up)
            return out

    def wait_for(self, pred, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return True
            time.sleep(0.05)
        return pred()
