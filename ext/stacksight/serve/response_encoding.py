"""Compress explorer answers for browsers that accept gzip.

Flame graph answers of big profiles are megabytes of JSON that compress ten
to one; on a remote tunnel that is the difference between a snappy page and
a stall.  Answers that come with a ready gzip body (cached ones) use it;
other text answers of some size are compressed here.
"""

from __future__ import annotations

import gzip

MIN_COMPRESS_BYTES = 1024
COMPRESSIBLE_PREFIXES = ("application/json", "text/")


def accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def encode_for_client(response, accept_encoding: str):
    """The response to send: gzip-encoded when that helps and is accepted."""
    if response.status != 200 or not response.content_type.startswith(COMPRESSIBLE_PREFIXES):
        return response
    response.headers.setdefault("Vary", "Accept-Encoding")
    if not accepts_gzip(accept_encoding or ""):
        return response
    body = response.gzip_body
    if body is None:
        if len(response.body) < MIN_COMPRESS_BYTES:
            return response
        body = gzip.compress(response.body, 5, mtime=0)
    response.body = body
    response.gzip_body = None
    response.headers["Content-Encoding"] = "gzip"
    return response
