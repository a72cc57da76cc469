"""Wire the store, the explorer and the HTTP server into one running service.

``ServeApp`` is what both the command line and the tests start: the tests run
it on a free port in a background thread, the command runs it in the
foreground until interrupted.  A background thread applies retention: every
``retention_check_seconds`` and right after each stored upload (so that
clean-up never delays an answer).  The HTTP server caps the connections it
serves at once; one more is answered 503 and closed at once.
"""

from __future__ import annotations

import socket
import sys
import threading
from http.server import ThreadingHTTPServer

from .config import ServeConfig
from .explorer import Explorer
from .http_body import InflightBudget
from .http_handler import ProfileRequestHandler
from .intake import IntakeLimits
from .request_guard import RequestGuard
from .store import ProfileStore

BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                 b"Retry-After: 5\r\nConnection: close\r\nContent-Length: 36\r\n\r\n"
                 b"too many connections; retry shortly\n")


class ProfileHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Many profiled processes may upload at the same minute boundary.
    request_queue_size = 128

    def __init__(self, address, handler, max_connections: int):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused_connections = 0
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self.refused_connections += 1
            try:
                request.sendall(BUSY_RESPONSE)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class ServeApp:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.store = ProfileStore(config.db_path, retention_hours=config.retention_hours,
                                  max_total_bytes=config.max_db_bytes)
        self.explorer = Explorer(self.store, {
            "retention_hours": config.retention_hours, "max_db_mb": config.max_db_mb,
            "max_body_mb": config.max_body_mb, "db_path": config.db_path})
        self.intake_limits = IntakeLimits(max_decoded_bytes=config.max_decompressed_bytes)
        try:
            self.httpd = ProfileHTTPServer((config.host, config.port), ProfileRequestHandler,
                                           config.max_connections)
        except BaseException:
            self.store.close()
            raise
        self.httpd.app = self
        self.httpd.inflight = InflightBudget(config.max_inflight_bytes)
        self.httpd.guard = RequestGuard(config.host, self.httpd.server_address[0], config.allow_hosts)
        self._stop = threading.Event()
        self._retention_due = threading.Event()
        self._retention_thread = threading.Thread(target=self._retention_loop, name="stacksight-retention",
                                                  daemon=True)

    @property
    def url(self) -> str:
        """The address really bound (0.0.0.0 / :: shown as loopback, which reaches it)."""
        host, port = self.httpd.server_address[:2]
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}"

    def request_retention(self) -> None:
        self._retention_due.set()

    def _retention_loop(self) -> None:
        while not self._stop.is_set():
            self._retention_due.wait(self.config.retention_check_seconds)
            self._retention_due.clear()
            if self._stop.is_set():
                return
            try:
                self.store.enforce_retention()
            except Exception as error:  # keep serving; try again next round
                sys.stderr.write(f"stacksight serve: retention failed: {error!r}\n")

    def start_background(self) -> threading.Thread:
        self._retention_thread.start()
        self.explorer.start_background_work()
        # A short poll interval makes shutdown() return quickly (tests start many servers).
        thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="stacksight-serve", daemon=True)
        thread.start()
        return thread

    def serve_forever(self) -> None:
        self._retention_thread.start()
        self.explorer.start_background_work()
        self.httpd.serve_forever()

    def close(self) -> None:
        """Release the socket and the database once serving has stopped."""
        self._stop.set()
        self.explorer.stop_background_work()
        self._retention_due.set()
        if self._retention_thread.is_alive():
            self._retention_thread.join(timeout=5)
        self.httpd.server_close()
        self.store.close()

    def shutdown(self) -> None:
        """Stop a server started with start_background()."""
        self.httpd.shutdown()
        self.close()
