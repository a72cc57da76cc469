"""Recognise and undo the compression of an uploaded attachment.

Datadog clients compress each attachment inside its multipart part without
any header saying how, so the intake (like the real one) tells gzip, zstd and
plain protobuf apart by their magic bytes.  Python 3.11 has no zstd in the
standard library: the optional ``zstandard`` module is used when installed.
Output size is capped so a small "zip bomb" cannot exhaust memory.
"""

from __future__ import annotations

import zlib

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

ENCODING_GZIP = "gzip"
ENCODING_ZSTD = "zstd"
ENCODING_PLAIN = "plain"


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
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def _gunzip(data: bytes, max_output: int) -> bytes:
    output = bytearray()
    remaining = data
    # Concatenated gzip members are legal; decode them all.
    while remaining:
        decoder = zlib.decompressobj(wbits=31)
        try:
            chunk = decoder.decompress(remaining, max_output + 1 - len(output))
        except zlib.error as error:
            raise DecompressionError(f"gzip data does not decode: {error}") from error
        output += chunk
        if len(output) > max_output or decoder.unconsumed_tail:
            raise DecompressedTooLargeError(
                f"attachment decompresses to more than {max_output} bytes")
        if not decoder.eof:
            raise DecompressionError("gzip data is truncated")
        remaining = decoder.unused_data
        if remaining and not remaining.startswith(GZIP_MAGIC):
            raise DecompressionError("trailing bytes after gzip data")
    return bytes(output)


def _unzstd(data: bytes, max_output: int) -> bytes:
    try:
        import zstandard
    except ImportError as error:
        raise UnsupportedEncodingError(
            "attachment is zstd-compressed; this server cannot read zstd without the "
            "'zstandard' module (pip install zstandard), send gzip instead") from error
    output = bytearray()
    remaining = memoryview(data)
    try:
        while remaining:
            decoder = zstandard.ZstdDecompressor().decompressobj()
            # Feed small pieces of input so the output limit is checked before a
            # highly compressed frame can expand far beyond it.
            position = 0
            while position < len(remaining) and not decoder.eof:
                output += decoder.decompress(remaining[position:position + 4096])
                position += 4096
                if len(output) > max_output:
                    raise DecompressedTooLargeError(
                        f"attachment decompresses to more than {max_output} bytes")
            if not decoder.eof:
                raise DecompressionError("zstd data is truncated")
            # Concatenated frames are legal, like gzip members.
            remaining = memoryview(decoder.unused_data + bytes(remaining[position:]))
    except zstandard.ZstdError as error:
        raise DecompressionError(f"zstd data does not decode: {error}") from error
    if len(output) > max_output:
        raise DecompressedTooLargeError(f"attachment decompresses to more than {max_output} bytes")
    return bytes(output)


def decompress(data: bytes, max_output: int) -> tuple[str, bytes]:
    """Return (encoding, decoded bytes)."""
    encoding = detect_encoding(data)
    if encoding == ENCODING_GZIP:
        return encoding, _gunzip(data, max_output)
    if encoding == ENCODING_ZSTD:
        return encoding, _unzstd(data, max_output)
    return encoding, bytes(data)
