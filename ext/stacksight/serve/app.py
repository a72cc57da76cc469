"""Wire the store, the explorer and the HTTP server into one running service.

``ServeApp`` is what both the command line and the tests start: the tests run
it on a free port in a background thread, the command runs it in the
foreground until interrupted.  A background thread applies age-based
retention even when no uploads arrive.
"""

from __future__ import annotations

import sys
import threading
from http.server import ThreadingHTTPServer

from .config import ServeConfig
from .explorer import Explorer
from .http_handler import ProfileRequestHandler
from .store import ProfileStore


class ProfileHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Many profiled processes may upload at the same minute boundary.
    request_queue_size = 128


class ServeApp:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.store = ProfileStore(config.db_path, retention_hours=config.retention_hours,
                                  max_total_bytes=config.max_db_bytes)
        self.explorer = Explorer(self.store, {
            "retention_hours": config.retention_hours, "max_db_mb": config.max_db_mb,
            "max_body_mb": config.max_body_mb, "db_path": config.db_path})
        self.httpd = ProfileHTTPServer((config.host, config.port), ProfileRequestHandler)
        self.httpd.app = self
        self._stop = threading.Event()
        self._retention_thread = threading.Thread(target=self._retention_loop, name="stacksight-retention",
                                                  daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}"

    def _retention_loop(self) -> None:
        while not self._stop.wait(self.config.retention_check_seconds):
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
        self.httpd.server_close()
        self.store.close()

    def shutdown(self) -> None:
        """Stop a server started with start_background()."""
        self.httpd.shutdown()
        self.close()
