"""Recognise and undo the compression of an uploaded attachment.

Datadog clients compress each attachment inside its multipart part without
any header saying how, so the intake (like the real one) tells gzip, zstd and
plain protobuf apart by their magic bytes.  ddtrace and dd-trace-go v2 send
zstd, so ``zstandard`` is a dependency of the package.

Decoding is bounded three ways, so that a small hostile upload costs little:
the output size (a "zip bomb" stops as soon as it passes the limit, decoded
in slices), the number of concatenated gzip members / zstd frames, and the
work per member (the input is walked with an offset, never copied per member,
so many tiny members cost linear time).
"""

from __future__ import annotations

import zlib

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

ENCODING_GZIP = "gzip"
ENCODING_ZSTD = "zstd"
ENCODING_PLAIN = "plain"

# Real clients write one member/frame; concatenation is legal but rare.
MAX_MEMBERS = 64
# Output produced per decompressor call: the limit is checked between slices.
OUTPUT_SLICE = 1 << 20


class DecompressionError(ValueError):
    """The attachment claims a compression it does not decode with."""


class UnsupportedEncodingError(ValueError):
    """The attachment uses a compression this process cannot decode."""


class DecompressedTooLargeError(ValueError):
    """Decoding would exceed the configured output limit."""


def detect_encoding(data: bytes) -> str:
    if data.startswith(GZIP_MAGIC):
        return ENCODING_GZIP
    if data.startswith(ZSTD_MAGIC):
        return ENCODING_ZSTD
    return ENCODING_PLAIN


def zstd_available() -> bool:
    return True


def _too_large(max_output: int) -> DecompressedTooLargeError:
    return DecompressedTooLargeError(f"attachment decompresses to more than {max_output} bytes")


def _too_many_members(kind: str) -> DecompressionError:
    return DecompressionError(f"more than {MAX_MEMBERS} concatenated {kind} in one attachment")


def _gunzip(data: bytes, max_output: int) -> bytes:
    output = bytearray()
    view = memoryview(data)
    position = 0
    members = 0
    # Concatenated gzip members are legal; decode them all.
    while position < len(view):
        members += 1
        if members > MAX_MEMBERS:
            raise _too_many_members("gzip members")
        if bytes(view[position:position + 2]) != GZIP_MAGIC:
            raise DecompressionError("trailing bytes after gzip data")
        decoder = zlib.decompressobj(wbits=31)
        pending = view[position:]
        try:
            while True:
                chunk = decoder.decompress(pending, OUTPUT_SLICE)
                output += chunk
                if len(output) > max_output:
                    raise _too_large(max_output)
                if decoder.eof:
                    break
                tail = decoder.unconsumed_tail
                if not tail and not chunk:
                    raise DecompressionError("gzip data is truncated")
                pending = tail
        except zlib.error as error:
            raise DecompressionError(f"gzip data does not decode: {error}") from error
        # unused_data is what follows this member; only its length is needed.
        position = len(view) - len(decoder.unused_data)
    return bytes(output)


def _unzstd(data: bytes, max_output: int) -> bytes:
    output = bytearray()
    view = memoryview(data)
    position = 0
    frames = 0
    try:
        while position < len(view):
            frames += 1
            if frames > MAX_MEMBERS:
                raise _too_many_members("zstd frames")
            decoder = zstandard.ZstdDecompressor().decompressobj()
            # Feed small pieces of input so the output limit is checked before a
            # highly compressed frame can expand far beyond it.
            start = position
            while position < len(view) and not decoder.eof:
                piece = view[position:position + 4096]
                output += decoder.decompress(piece)
                position += len(piece)
                if len(output) > max_output:
                    raise _too_large(max_output)
            if not decoder.eof:
                raise DecompressionError("zstd data is truncated")
            # The decoder kept the bytes after its frame: step back over them.
            position -= len(decoder.unused_data)
            if position <= start:
                raise DecompressionError("zstd frame consumed no input")
    except zstandard.ZstdError as error:
        raise DecompressionError(f"zstd data does not decode: {error}") from error
    return bytes(output)


def decompress(data: bytes, max_output: int) -> tuple[str, bytes]:
    """Return (encoding, decoded bytes)."""
    encoding = detect_encoding(data)
    if encoding == ENCODING_GZIP:
        return encoding, _gunzip(data, max_output)
    if encoding == ENCODING_ZSTD:
        return encoding, _unzstd(data, max_output)
    if len(data) > max_output:
        raise _too_large(max_output)
    return encoding, bytes(data)
