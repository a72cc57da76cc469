"""HTTP front door: the agent-compatible intake and the explorer's GETs.

Each request runs on its own thread (ThreadingHTTPServer).  Uploads are read
incrementally with the size limit enforced while reading; a rejected upload
gets a 4xx status with the reason as the body and the connection is closed
gracefully (the client may still be sending) so the client does see the
reason, and the server log names it too.  Requests a browser was tricked
into sending are refused first (request_guard.py), and no request ends
without an HTTP answer: an unexpected error is a logged 500.
"""

from __future__ import annotations

import socket
import sys
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .explorer import Response, error_response, json_response
from .http_body import (BodyReader, BodyTooLargeError, MalformedBodyError, RequestTooSlowError,
                        ServerBusyError)
from .intake import PYROSCOPE_CONFIG_ATTACHMENT, IntakeError, prepare_datadog_upload, prepare_pyroscope_upload
from .log_text import escape_for_log
from .response_encoding import encode_for_client
from .multipart import (MultipartError, TooManyPartsError, boundary_from_content_type,
                        parse_multipart)

DATADOG_INTAKE_PATH = "/profiling/v1/input"
PYROSCOPE_INGEST_PATH = "/ingest"
LINGER_SECONDS = 2.0
# What /info tells clients: a recent agent, with the endpoints served here.
AGENT_VERSION = "7.60.0"
INFO_ENDPOINTS = [DATADOG_INTAKE_PATH, "/telemetry/proxy/", "/v0.4/traces", "/v0.5/traces",
                  "/v0.6/stats", "/debugger/v1/input", "/debugger/v2/input",
                  "/debugger/v1/diagnostics"]
# Posted to by clients for features other than profiling: accepted and dropped.
DISCARDED_PREFIXES = ("/telemetry/", "/v0.3/traces", "/v0.4/traces", "/v0.5/traces", "/v0.7/traces",
                      "/v0.6/stats", "/debugger/", "/evp_proxy/", "/v0.1/pipeline_stats")


class ProfileRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stacksight-serve"
    # A stalled client must not hold a thread forever.
    timeout = 120

    @property
    def app(self):
        return self.server.app

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        if not self.app.config.quiet:
            self._log(format % args)

    def _log(self, text: str) -> None:
        sys.stderr.write(f"stacksight serve: {self.address_string()} {escape_for_log(text)}\n")

    def _client_name(self) -> str:
        origin = self.headers.get("DD-EVP-ORIGIN") if self.headers else None
        agent = self.headers.get("User-Agent") if self.headers else None
        return origin or agent or "unknown client"

    def handle_one_request(self):
        """Every request gets an answer: an exception that escapes a verb is
        logged and answered 500 instead of closing the connection mutely."""
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, socket.timeout):
            self.close_connection = True
        except Exception as error:  # noqa: BLE001 - the answer below is the handling
            self._log(f"internal error on {self.command} {self.path}: {error!r}")
            self.close_connection = True
            try:
                self._send(Response(500, "text/plain; charset=utf-8",
                                    f"internal error: {type(error).__name__}\n".encode()), close=True)
            except OSError:
                pass

    # -- responses ---------------------------------------------------------

    def _send(self, response: Response, close: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _reject(self, status: int, reason: str, body_unread: bool) -> None:
        self._log(f"refused {self.command} {self.path} from {self._client_name()}: {status} {reason}")
        self._send(Response(status, "text/plain; charset=utf-8", (reason + "\n").encode("utf-8")),
                   close=body_unread)
        if body_unread:
            self._linger()

    def _linger(self) -> None:
        """Half-close and discard what the client is still sending for a
        moment: closing with unread input makes the kernel send a reset,
        which can destroy our response before the client reads it."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            self.connection.settimeout(0.5)
            while time.monotonic() < deadline:
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass

    # -- request body ------------------------------------------------------

    def _body_reader(self) -> BodyReader:
        limit = self.app.config.max_body_bytes
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        budget = self.server.inflight
        if chunked:
            return BodyReader(self.rfile, None, True, limit, budget)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            raise IntakeError(411, "Content-Length or chunked Transfer-Encoding is required")
        try:
            length = int(raw_length)
        except ValueError as error:
            raise IntakeError(400, "Content-Length is not a number") from error
        if length < 0:
            raise IntakeError(400, "Content-Length is negative")
        if length > limit:
            # Known too large before a byte of the body is read.
            raise IntakeError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes")
        return BodyReader(self.rfile, length, False, limit, budget)

    def _read_whole_body(self, body: BodyReader) -> bytes:
        chunks = []
        while True:
            chunk = body.read(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    # -- verbs -------------------------------------------------------------

    def _guard_host(self, body_unread: bool) -> bool:
        if self.server.guard.host_allowed(self.headers.get("Host")):
            return True
        self._reject(421, f"Host {self.headers.get('Host')!r} does not name this server "
                          "(start it with --allow-host NAME to accept that name)", body_unread)
        return False

    def do_GET(self):  # noqa: N802 - name required by BaseHTTPRequestHandler
        if not self._guard_host(body_unread=False):
            return
        url = urlsplit(self.path)
        if url.path == "/info":
            # Datadog clients probe the agent's /info to discover endpoints.
            self._send(json_response({"version": AGENT_VERSION, "server": "stacksight-serve",
                                      "endpoints": INFO_ENDPOINTS, "feature_flags": [],
                                      "client_drop_p0s": False, "span_meta_structs": False,
                                      "config": {"statsd_port": 0, "receiver_port": self.server.server_port}}))
            return
        try:
            response = self.app.explorer.handle_get(url.path, parse_qs(url.query, keep_blank_values=True))
        except Exception as error:  # a broken stored profile must not kill the page
            self.log_error("explorer error on %s: %r", self.path, error)
            response = error_response(500, f"internal error: {error}")
        self._send(encode_for_client(response, self.headers.get("Accept-Encoding", "")))

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def do_PUT(self):  # noqa: N802 - traces may be PUT by old clients
        self.do_POST()

    def do_POST(self):  # noqa: N802
        if not self._guard_host(body_unread=True):
            return
        cross_site = self.server.guard.cross_site_reason(self.headers)
        if cross_site:
            self._reject(403, cross_site, body_unread=True)
            return
        url = urlsplit(self.path)
        if url.path.startswith(DISCARDED_PREFIXES):
            self._discard()
        elif url.path == DATADOG_INTAKE_PATH:
            self._receive(self._prepare_datadog)
        elif url.path == PYROSCOPE_INGEST_PATH:
            query = parse_qs(url.query, keep_blank_values=True)
            self._receive(lambda body: self._prepare_pyroscope(body, query))
        else:
            self._reject(404, f"no intake at {url.path}; POST profiles to {DATADOG_INTAKE_PATH}",
                         body_unread=True)

    def _discard(self) -> None:
        """Telemetry, traces, stats: read within the limits and drop."""
        body = None
        try:
            body = self._body_reader()
            body.drain()
        except IntakeError as error:
            self._reject(error.status, error.reason, body_unread=True)
            return
        except (BodyTooLargeError, MalformedBodyError, RequestTooSlowError) as error:
            self._reject(413 if isinstance(error, BodyTooLargeError) else 400, str(error), body_unread=True)
            return
        self._send(json_response({}))

    def _receive(self, prepare) -> None:
        body = None
        try:
            body = self._body_reader()
            upload = prepare(body)
            body.drain()
        except IntakeError as error:
            self._reject(error.status, error.reason, body_unread=body is None or not body.finished)
            return
        except BodyTooLargeError as error:
            self._reject(413, str(error), body_unread=True)
            return
        except TooManyPartsError as error:
            self._reject(413, str(error), body_unread=True)
            return
        except ServerBusyError as error:
            self._reject(503, str(error), body_unread=True)
            return
        except RequestTooSlowError as error:
            self._reject(408, str(error), body_unread=True)
            return
        except (MultipartError, MalformedBodyError) as error:
            self._reject(400, f"malformed upload: {error}", body_unread=True)
            return
        finally:
            if body is not None:
                body.release()
        profile_id, duplicate = self.app.store.insert(upload)
        self._send(json_response({"id": profile_id, "duplicate": duplicate}))
        # Retention runs after the answer, so a slow clean-up never makes the
        # client time out and send the same upload again.
        self.app.request_retention()

    def _prepare_datadog(self, body: BodyReader):
        try:
            boundary = boundary_from_content_type(self.headers.get("Content-Type"))
        except MultipartError as error:
            raise IntakeError(415, str(error)) from error
        parts = parse_multipart(body, boundary, self.app.config.max_parts)
        body.drain()
        return prepare_datadog_upload(parts, self.headers, self.app.intake_limits)

    def _prepare_pyroscope(self, body: BodyReader, query):
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            parts = parse_multipart(body, boundary_from_content_type(content_type), self.app.config.max_parts)
            profile_parts = [part for part in parts if part.name == "profile"]
            if not profile_parts:
                raise IntakeError(400, "multipart Pyroscope upload needs a 'profile' field")
            data = bytes(profile_parts[0].data)
            # How the client says its sample types are read (units, aggregation):
            # kept with the upload, as a real Pyroscope would use it.
            extra = [(PYROSCOPE_CONFIG_ATTACHMENT, bytes(part.data)) for part in parts
                     if part.name == "sample_type_config"][:1]
        else:
            data = self._read_whole_body(body)
            extra = []
        body.drain()
        return prepare_pyroscope_upload(query, data, self.headers, self.app.intake_limits,
                                        time.time_ns(), extra)
