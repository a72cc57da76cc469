"""A stand-in for the Datadog agent on 127.0.0.1, so profilers upload as in production.

Uploads cost the profiled process real work (compression, HTTP), so the
benchmark gives every profiler somewhere to send its profiles instead of a
refused connection. It reads each request body fully, counts it and answers
200; nothing is stored."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalIntake:
    def __init__(self):
        self.requests = 0
        self.bytes = 0
        intake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                intake.requests += 1
                intake.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_PUT = _answer

            def do_GET(self):
                self._answer()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="intake")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
