"""A request-serving app: stdlib http.server answering a loop of local requests.

Stands for a web service: a ThreadingHTTPServer renders a small JSON page
(some Python work per request) while client threads in the same process send
keep-alive requests over loopback with plain sockets (no patched client
library, so tracing peers cannot add their own cost to the client). run(scale)
sends a fixed number of requests and reports throughput and p50/p99 latency."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENTS = 4


def _render(path):
    items = [{"id": i, "name": f"item-{i}", "score": (i * 7919) % 101} for i in range(60)]
    items.sort(key=lambda it: (-it["score"], it["id"]))
    return json.dumps({"path": path, "top": items[:20]}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = _render(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _read_response(f):
    length = 0
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("server closed")
        if line in (b"\r\n", b"\n"):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    f.read(length)


def _client(port, n, latencies):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = sock.makefile("rb")
    for i in range(n):
        t0 = time.perf_counter()
        sock.sendall(b"GET /items/%d HTTP/1.1\r\nHost: bench\r\n\r\n" % i)
        _read_response(f)
        latencies.append(time.perf_counter() - t0)
    sock.close()


def run(scale):
    per_client = int(700 * scale)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    st = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                          name="http-server", daemon=True)
    st.start()
    port = server.server_address[1]
    latencies = []
    t0 = time.perf_counter()
    clients = [threading.Thread(target=_client, args=(port, per_client, latencies), name=f"client-{i}")
               for i in range(CLIENTS)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    elapsed = time.perf_counter() - t0
    server.shutdown()
    server.server_close()
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "throughput_rps": n / elapsed,
            "p50_ms": latencies[n // 2] * 1e3, "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3}
