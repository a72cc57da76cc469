"""Read a request body incrementally while enforcing a size limit.

Uploads can be large and clients can lie, so the body is never slurped
whole: callers pull it in chunks through ``BodyReader`` which stops as soon as
more than ``limit`` bytes have arrived.  Both ``Content-Length`` and
``Transfer-Encoding: chunked`` bodies are supported because HTTP client
libraries that stream multipart bodies (libcurl's mime API for one) may use
either.
"""

from __future__ import annotations

import threading
import time


class BodyTooLargeError(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body exceeds the limit of {limit} bytes")
        self.limit = limit


class MalformedBodyError(Exception):
    """The body ended early or its chunked framing is broken."""


class ServerBusyError(Exception):
    """All connections together already hold as many body bytes as allowed."""


class RequestTooSlowError(Exception):
    """The client took longer than the whole-request deadline to send its body."""


class InflightBudget:
    """Bytes of request bodies held by all connections together, so that many
    slow uploads at once cannot hold unbounded memory."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def charge(self, size: int) -> None:
        with self._lock:
            if self.used + size > self.limit:
                raise ServerBusyError(f"server busy: uploads in progress hold {self.used} bytes "
                                      f"(limit {self.limit}); retry later")
            self.used += size

    def release(self, size: int) -> None:
        with self._lock:
            self.used -= size


MAX_CHUNK_LINE = 1024


class BodyReader:
    def __init__(self, rfile, content_length: int | None, chunked: bool, limit: int,
                 budget: InflightBudget | None = None, deadline_seconds: float = 300.0):
        self._rfile = rfile
        self._chunked = chunked
        self._remaining = content_length if not chunked else None
        self._limit = limit
        self._chunk_left = 0
        self._finished = False
        self.bytes_read = 0
        self._budget = budget
        self.charged = 0  # bytes charged to the budget; the handler releases them
        self._deadline = time.monotonic() + deadline_seconds

    @property
    def finished(self) -> bool:
        return self._finished

    def _account(self, data: bytes) -> bytes:
        self.bytes_read += len(data)
        if self.bytes_read > self._limit:
            raise BodyTooLargeError(self._limit)
        if self._budget is not None and data:
            self._budget.charge(len(data))
            self.charged += len(data)
        if time.monotonic() > self._deadline:
            raise RequestTooSlowError("request body arrived too slowly")
        return data

    def release(self) -> None:
        if self._budget is not None and self.charged:
            self._budget.release(self.charged)
            self.charged = 0

    def read(self, size: int) -> bytes:
        """Return up to ``size`` bytes; b"" means the body has ended."""
        if self._finished:
            return b""
        if self._chunked:
            return self._account(self._read_chunked(size))
        if self._remaining <= 0:
            self._finished = True
            return b""
        data = self._rfile.read(min(size, self._remaining))
        if not data:
            raise MalformedBodyError("connection closed before Content-Length bytes arrived")
        self._remaining -= len(data)
        return self._account(data)

    def _read_line(self) -> bytes:
        line = self._rfile.readline(MAX_CHUNK_LINE + 1)
        if len(line) > MAX_CHUNK_LINE or not line.endswith(b"\n"):
            raise MalformedBodyError("bad chunked encoding line")
        return line.rstrip(b"\r\n")

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            size_field = self._read_line().split(b";", 1)[0].strip()
            try:
                self._chunk_left = int(size_field, 16)
            except ValueError as error:
                raise MalformedBodyError("bad chunk size") from error
            if self._chunk_left < 0:
                raise MalformedBodyError("bad chunk size")
            if self._chunk_left == 0:
                # Trailer section: header lines up to an empty line.
                while self._read_line():
                    pass
                self._finished = True
                return b""
            if self.bytes_read + self._chunk_left > self._limit:
                raise BodyTooLargeError(self._limit)
        data = self._rfile.read(min(size, self._chunk_left))
        if not data:
            raise MalformedBodyError("connection closed inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and self._read_line() != b"":
            raise MalformedBodyError("chunk not followed by CRLF")
        return data

    def drain(self) -> None:
        """Consume the rest of the body so the connection can be reused
        (drained bytes are not kept, so they are not charged)."""
        budget, self._budget = self._budget, None
        try:
            while self.read(65536):
                pass
        finally:
            self._budget = budget
