"""Streaming ``multipart/form-data`` parser for profile uploads.

The standard library's ``cgi`` module is deprecated and ``email`` parses
whole messages in memory, so this reads the body chunk by chunk from a
``BodyReader`` and splits it on the boundary as the bytes arrive.  Limits on
the number of parts and on header size are checked while parsing, so a
hostile request is turned away before it has been read completely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

READ_CHUNK = 64 * 1024
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_PREAMBLE_BYTES = 64 * 1024


class MultipartError(ValueError):
    """The body is not valid multipart/form-data."""


class TooManyPartsError(MultipartError):
    pass


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    headers: dict[str, str]
    data: bytearray = field(default_factory=bytearray)


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``main; key=value; key="quoted value"`` into (main, params)."""
    params: dict[str, str] = {}
    main, _, rest = value.partition(";")
    pos = 0
    while pos < len(rest):
        while pos < len(rest) and rest[pos] in " \t;":
            pos += 1
        eq = rest.find("=", pos)
        if eq < 0:
            break
        key = rest[pos:eq].strip().lower()
        pos = eq + 1
        if pos < len(rest) and rest[pos] == '"':
            pos += 1
            chars = []
            while pos < len(rest) and rest[pos] != '"':
                if rest[pos] == "\\" and pos + 1 < len(rest):
                    pos += 1
                chars.append(rest[pos])
                pos += 1
            pos += 1
            params[key] = "".join(chars)
        else:
            end = rest.find(";", pos)
            end = len(rest) if end < 0 else end
            params[key] = rest[pos:end].strip()
            pos = end
    return main.strip().lower(), params


def boundary_from_content_type(content_type: str | None) -> str:
    if not content_type:
        raise MultipartError("missing Content-Type, expected multipart/form-data")
    media_type, params = parse_header_params(content_type)
    if media_type != "multipart/form-data":
        raise MultipartError(f"Content-Type is {media_type!r}, expected multipart/form-data")
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 200:
        raise MultipartError("multipart/form-data without a usable boundary parameter")
    return boundary


def _parse_part_headers(block: bytes) -> Part:
    headers: dict[str, str] = {}
    for raw_line in block.split(b"\r\n"):
        if not raw_line:
            continue
        name, sep, value = raw_line.decode("utf-8", "replace").partition(":")
        if not sep:
            raise MultipartError("malformed part header line")
        headers[name.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultipartError("part without Content-Disposition")
    kind, params = parse_header_params(disposition)
    if kind != "form-data" or "name" not in params:
        raise MultipartError("part Content-Disposition must be form-data with a name")
    return Part(name=params["name"], filename=params.get("filename"),
                content_type=headers.get("content-type"), headers=headers)


def parse_multipart(body, boundary: str, max_parts: int) -> list[Part]:
    """Parse the whole body from ``body.read(n)``; return its parts in order."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    keep = len(delimiter) + 4  # bytes that may hold a delimiter split across reads
    # Prepending CRLF lets the first boundary match the same pattern as later ones.
    buffer = bytearray(b"\r\n")
    parts: list[Part] = []
    state = "preamble"
    current: Part | None = None
    eof = False
    preamble_seen = 0

    def fill() -> bool:
        nonlocal eof
        if eof:
            return False
        chunk = body.read(READ_CHUNK)
        if not chunk:
            eof = True
            return False
        buffer.extend(chunk)
        return True

    while True:
        if state == "preamble":
            index = buffer.find(delimiter)
            if index >= 0:
                del buffer[:index + len(delimiter)]
                state = "after_delimiter"
                continue
            preamble_seen += max(0, len(buffer) - keep)
            if preamble_seen > MAX_PREAMBLE_BYTES:
                raise MultipartError("no multipart boundary found at the start of the body")
            del buffer[:max(0, len(buffer) - keep)]
            if not fill():
                raise MultipartError("no multipart boundary found in the body")
        elif state == "after_delimiter":
            if len(buffer) < 2 and fill():
                continue
            if buffer[:2] == b"--":
                break  # closing delimiter: anything after it is epilogue
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                if len(buffer) > 256 or not fill():
                    raise MultipartError("malformed boundary line")
                continue
            if buffer[:line_end].strip(b" \t"):
                raise MultipartError("garbage after boundary")
            del buffer[:line_end + 2]
            state = "headers"
        elif state == "headers":
            if buffer.startswith(b"\r\n"):
                end, skip = 0, 2
            else:
                end, skip = buffer.find(b"\r\n\r\n"), 4
            if end < 0:
                if len(buffer) > MAX_PART_HEADER_BYTES:
                    raise MultipartError("part headers too large")
                if not fill():
                    raise MultipartError("body ended inside part headers")
                continue
            if len(parts) >= max_parts:
                raise TooManyPartsError(f"more than {max_parts} parts in the upload")
            current = _parse_part_headers(bytes(buffer[:end]))
            parts.append(current)
            del buffer[:end + skip]
            state = "content"
        elif state == "content":
            index = buffer.find(delimiter)
            if index >= 0:
                current.data += buffer[:index]
                del buffer[:index + len(delimiter)]
                state = "after_delimiter"
                continue
            flushable = len(buffer) - keep
            if flushable > 0:
                current.data += buffer[:flushable]
                del buffer[:flushable]
            if not fill():
                raise MultipartError("body ended before the closing multipart boundary")
    return parts
