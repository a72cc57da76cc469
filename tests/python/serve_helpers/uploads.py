"""Build and send uploads the way a Datadog profiling client does.

Produces the multipart/form-data body of ``POST /profiling/v1/input``: an
``event`` part (``event.json``) and one part per attachment, with the
attachment compressed inside its part.  Also a plain HTTP client that
returns the status and body even for error answers.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from urllib.parse import urlsplit

import pprof_pb

SECOND_NS = 1_000_000_000


def rfc3339(ns: int) -> str:
    seconds, fraction = divmod(ns, SECOND_NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def make_event(tags: dict[str, str], start_ns: int, end_ns: int, attachments=("profile.pprof",),
               family="python", info=None, internal=None) -> dict:
    return {
        "attachments": list(attachments),
        "tags_profiler": ",".join(f"{k}:{v}" for k, v in tags.items()),
        "start": rfc3339(start_ns),
        "end": rfc3339(end_ns),
        "family": family,
        "version": "4",
        "endpoint_counts": {"GET /": 3},
        "internal": internal if internal is not None else {"samples_dropped": 0},
        "info": info if info is not None else {"profiler": {"interval_s": 60}},
    }


def encode_multipart(parts: list[tuple[str, str | None, str, bytes]], boundary: str | None = None):
    """``parts``: (form name, filename or None, content type, bytes).
    Returns (body, Content-Type header value)."""
    boundary = boundary or f"stacksight-test-{uuid.uuid4().hex}"
    chunks = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                      f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def cpu_profile(cpu_ns_per_sample=1_000_000, samples=10, thread="MainThread", extra_types=True):
    """A small Python-like profile; totals are easy to compute by hand."""
    types = [("cpu-samples", "count"), ("cpu-time", "nanoseconds"), ("wall-time", "nanoseconds")]
    if extra_types:
        types += [("alloc-samples", "count"), ("alloc-space", "bytes"), ("exception-samples", "count")]
    rows = []
    for index in range(samples):
        stack = ["<module>", "main", "handle_request", "compute" if index % 2 else "render"]
        values = [1, cpu_ns_per_sample, 2 * cpu_ns_per_sample]
        if extra_types:
            values += [1, 4096, 0]
        rows.append((stack, values, {"thread name": thread, "thread id": 1}))
    if extra_types:
        rows.append((["<module>", "main", "fail"], [0, 0, 0, 0, 0, 3],
                     {"thread name": "worker", "exception type": "builtins.ValueError"}))
    return pprof_pb.build_profile(types, rows, period_type=("wall-time", "nanoseconds"),
                                  period=10_000_000, duration_nanos=60 * SECOND_NS)


def datadog_upload(tags: dict[str, str], profile_bytes: bytes | None = None, start_ns: int | None = None,
                   duration_s: float = 60.0, family="python"):
    """Return (body, content_type) of a complete, valid upload."""
    if profile_bytes is None:
        profile_bytes = pprof_pb.encode_profile(cpu_profile(), "gzip")
    start_ns = start_ns if start_ns is not None else time.time_ns() - int(duration_s * SECOND_NS)
    event = make_event(tags, start_ns, start_ns + int(duration_s * SECOND_NS), family=family)
    return encode_multipart([
        ("event", "event.json", "application/json", json.dumps(event).encode()),
        ("profile.pprof", "profile.pprof", "application/octet-stream", profile_bytes),
    ])


def http_request(url: str, method: str = "GET", body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 30):
    """Return (status, headers dict, body bytes)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_upload(base_url: str, body: bytes, content_type: str, extra_headers=None):
    headers = {"Content-Type": content_type, "DD-EVP-ORIGIN": "stacksight-tests",
               "DD-EVP-ORIGIN-VERSION": "0"}
    headers.update(extra_headers or {})
    return http_request(base_url + "/profiling/v1/input", "POST", body, headers)


def upload(base_url: str, tags: dict[str, str], **kwargs) -> int:
    """Send a valid upload and return the stored profile id."""
    body, content_type = datadog_upload(tags, **kwargs)
    status, _, answer = post_upload(base_url, body, content_type)
    assert status == 200, answer
    return json.loads(answer)["id"]


def get_json(url: str):
    status, _, body = http_request(url)
    assert status == 200, (url, status, body)
    return json.loads(body)
