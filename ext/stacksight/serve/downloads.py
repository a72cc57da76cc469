"""What ``GET /api/profiles/ID/download`` sends back for a stored attachment.

Attachments are stored as received.  ddtrace and dd-trace-go v2 compress
theirs with zstd, which ``go tool pprof`` (and most pprof readers) cannot
open, so a zstd pprof attachment is sent as gzip pprof unless the bytes as
received are asked for (``?as=received``).  Attachments serve does not read
(go.trace, JSON) always go out as received.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from .compression import ENCODING_GZIP, ENCODING_ZSTD, DecompressionError, decompress
from .intake import KIND_PPROF

# Stored attachments passed the intake's decoded-size limit; this only
# guards against a database written by something else.
MAX_DOWNLOAD_DECODED_BYTES = 1 << 30
DOWNLOAD_FORMS = ("pprof", "received")


class DownloadError(ValueError):
    """The request names a form that does not exist (an HTTP 400)."""


@dataclass
class Download:
    data: bytes      # the bytes to send
    encoding: str    # their compression (gzip, zstd, plain)
    converted: bool  # True when they were re-compressed from what was received


def default_download(attachments: list[dict]) -> str | None:
    """The attachment a Download without ``?attachment=`` gives: the CPU
    profile of a multi-profile upload (Go's ``cpu.pprof``), else the first
    pprof, else the first attachment.  ``attachments`` in upload order."""
    profiles = [a for a in attachments if a["kind"] == KIND_PPROF]
    for attachment in profiles:
        if attachment["name"].lower().startswith("cpu"):
            return attachment["name"]
    chosen = profiles or attachments
    return chosen[0]["name"] if chosen else None


def download_form(query: dict[str, list[str]]) -> str:
    form = query.get("as", ["pprof"])[0]
    if form not in DOWNLOAD_FORMS:
        raise DownloadError(f"?as= must be one of {', '.join(DOWNLOAD_FORMS)}, not {form!r}")
    return form


def prepare_download(attachment: dict, form: str) -> Download:
    data = bytes(attachment["data"])
    encoding = attachment["encoding"]
    if form == "pprof" and attachment["kind"] == KIND_PPROF and encoding == ENCODING_ZSTD:
        try:
            _, plain = decompress(data, MAX_DOWNLOAD_DECODED_BYTES)
        except (DecompressionError, ValueError):
            return Download(data, encoding, False)  # send what is stored rather than nothing
        return Download(gzip.compress(plain, compresslevel=6), ENCODING_GZIP, True)
    return Download(data, encoding, False)
