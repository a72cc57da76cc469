"""HTTP front door: the agent-compatible intake and the explorer's GETs.

Each request runs on its own thread (ThreadingHTTPServer).  Uploads are read
incrementally with the size limit enforced while reading; a rejected upload
gets a 4xx status with the reason as the body and the connection is closed
gracefully (the client may still be sending) so the client does see the
reason.
"""

from __future__ import annotations

import socket
import sys
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .explorer import Response, error_response, json_response
from .http_body import BodyReader, BodyTooLargeError, MalformedBodyError
from .intake import IntakeError, prepare_datadog_upload, prepare_pyroscope_upload
from .response_encoding import encode_for_client
from .multipart import (MultipartError, TooManyPartsError, boundary_from_content_type,
                        parse_multipart)

DATADOG_INTAKE_PATH = "/profiling/v1/input"
PYROSCOPE_INGEST_PATH = "/ingest"
LINGER_SECONDS = 2.0



_CONTROL = {c: f"\\x{c:02x}" for c in list(range(0x20)) + [0x7f]}


def printable(text: str) -> str:
    """`text` with control characters as \\xNN: request lines and reasons come
    from the network and must not reach a terminal raw."""
    return text.translate(_CONTROL)

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
            sys.stderr.write(f"stacksight serve: {self.address_string()} {printable(format % args)}\n")

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
        # A refused client may not show the answer to anyone: the server says
        # why, even when --quiet silences the access log.
        sys.stderr.write(f"stacksight serve: refused {printable(self.command or '')} "
                         f"{printable(self.path or '')} from {self.address_string()}: "
                         f"{status} {printable(reason)}\n")
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
        if chunked:
            return BodyReader(self.rfile, None, True, limit)
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
        return BodyReader(self.rfile, length, False, limit)

    def _read_whole_body(self, body: BodyReader) -> bytes:
        chunks = []
        while True:
            chunk = body.read(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    # -- verbs -------------------------------------------------------------

    def do_GET(self):  # noqa: N802 - name required by BaseHTTPRequestHandler
        url = urlsplit(self.path)
        if url.path == "/info":
            # Datadog clients probe the agent's /info to discover endpoints.
            self._send(json_response({"version": "stacksight-serve", "endpoints": [DATADOG_INTAKE_PATH]}))
            return
        try:
            response = self.app.explorer.handle_get(url.path, parse_qs(url.query, keep_blank_values=True))
        except Exception as error:  # a broken stored profile must not kill the page
            self.log_error("explorer error on %s: %r", self.path, error)
            response = error_response(500, f"internal error: {error}")
        self._send(encode_for_client(response, self.headers.get("Accept-Encoding", "")))

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def do_POST(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path == DATADOG_INTAKE_PATH:
            self._receive(self._prepare_datadog)
        elif url.path == PYROSCOPE_INGEST_PATH:
            query = parse_qs(url.query, keep_blank_values=True)
            self._receive(lambda body: self._prepare_pyroscope(body, query))
        else:
            self._reject(404, f"no intake at {url.path}; POST profiles to {DATADOG_INTAKE_PATH}",
                         body_unread=True)

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
        except (MultipartError, MalformedBodyError) as error:
            self._reject(400, f"malformed upload: {error}", body_unread=True)
            return
        profile_id = self.app.store.insert(upload)
        self._send(json_response({"id": profile_id}))

    def _prepare_datadog(self, body: BodyReader):
        try:
            boundary = boundary_from_content_type(self.headers.get("Content-Type"))
        except MultipartError as error:
            raise IntakeError(415, str(error)) from error
        parts = parse_multipart(body, boundary, self.app.config.max_parts)
        body.drain()
        return prepare_datadog_upload(parts, self.headers, self.app.config.max_decompressed_bytes)

    def _prepare_pyroscope(self, body: BodyReader, query):
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            parts = parse_multipart(body, boundary_from_content_type(content_type), self.app.config.max_parts)
            profile_parts = [part for part in parts if part.name == "profile"]
            if not profile_parts:
                raise IntakeError(400, "multipart Pyroscope upload needs a 'profile' field")
            data = bytes(profile_parts[0].data)
        else:
            data = self._read_whole_body(body)
        body.drain()
        return prepare_pyroscope_upload(query, data, self.headers, self.app.config.max_decompressed_bytes,
                                        time.time_ns())
