"""Generators shared by the multipart fuzzers (pytest and atheris).

`stacksight serve` parses multipart bodies straight off the network, from
any process that can reach its port. These helpers build valid uploads with
awkward content (boundary look-alikes, non-ASCII names, empty parts) and
mutate them, and feed a body to the parser in random-sized reads the way a
slow socket would."""
from __future__ import annotations

import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ext"))

from stacksight.serve import multipart  # noqa: E402

NAME_CHARS = "abcXYZ09_-.é日本🙂 ;=\"\\"


class ChunkedBody:
    """A body whose read(n) returns between 1 and n bytes, chosen by `rng`."""

    def __init__(self, data: bytes, rng: random.Random):
        self.data = data
        self.pos = 0
        self.rng = rng

    def read(self, n):
        if self.pos >= len(self.data):
            return b""
        k = self.rng.randint(1, max(1, min(n, 3 * len(self.data) // 2 + 1)))
        if self.rng.random() < 0.3:
            k = min(k, self.rng.randint(1, 8))
        out = self.data[self.pos:self.pos + k]
        self.pos += len(out)
        return out


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def random_name(rng):
    return "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 12)))


def random_payload(rng, boundary: bytes):
    kind = rng.random()
    if kind < 0.2:
        return b""
    data = bytearray(os.urandom(rng.randint(0, 3000)) if kind < 0.6 else b"x" * rng.randint(1, 200000))
    # boundary look-alikes that are not the delimiter
    for _ in range(rng.randint(0, 3)):
        at = rng.randint(0, len(data))
        cut = rng.randint(0, len(boundary) - 1)
        data[at:at] = rng.choice([b"\r\n--" + boundary[:cut], b"--" + boundary, b"\r\n-", b"\r\n\r\n"])
    return bytes(data)


def build_upload(rng, nparts=None):
    """(content_type, body, expected [(name, filename, content_type, data)])."""
    boundary = "".join(rng.choice("abcdefABCDEF0123456789'()+_,-./:=?") for _ in range(rng.randint(1, 70)))
    b = boundary.encode()
    parts = []
    for _ in range(rng.randint(1, 6) if nparts is None else nparts):
        name = random_name(rng)
        filename = random_name(rng) if rng.random() < 0.5 else None
        ctype = rng.choice([None, "application/json", "application/octet-stream"])
        data = random_payload(rng, b)
        while (b"\r\n--" + b) in (b"\r\n" + data if not parts else data) or data.endswith(b"\r\n--" + b[:1]):
            data = data.replace(b"--", b"__")
        parts.append((name, filename, ctype, data))
    out = bytearray()
    if rng.random() < 0.3:
        out += b"preamble text\r\n"
    for name, filename, ctype, data in parts:
        out += b"--" + b + b"\r\n"
        disp = "form-data; name=" + quote(name)
        if filename is not None:
            disp += "; filename=" + quote(filename)
        out += ("Content-Disposition: " + disp + "\r\n").encode()
        if ctype:
            out += ("Content-Type: " + ctype + "\r\n").encode()
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + b + b"--\r\n"
    if rng.random() < 0.3:
        out += b"epilogue"
    ctype = "multipart/form-data; boundary=" + (quote(boundary) if rng.random() < 0.5 else boundary)
    return ctype, bytes(out), parts


def mutate(rng, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(7)
        if not data:
            data += os.urandom(rng.randint(1, 64))
            continue
        i = rng.randrange(len(data))
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            del data[i:i + rng.randint(1, 64)]
        elif op == 2:
            j = rng.randrange(len(data))
            data[i:i] = data[j:j + rng.randint(1, 256)]
        elif op == 3:
            data[i:i] = rng.choice([b"\r\n", b"--", b"\r\n\r\n", b"\"", b";", b"=", b"\\", b"\x00", b"\xff"])
        elif op == 4:
            del data[i:]
        elif op == 5:
            data[i:i] = b"A" * rng.choice([100, 17000, 70000])
        else:
            data[i:i] = b"\r\nContent-Disposition: form-data; name=x\r\n\r\n"
    return bytes(data)


def parse(content_type: str, body: bytes, rng, max_parts=16):
    """Parse like the intake does; return parts or raise MultipartError."""
    boundary = multipart.boundary_from_content_type(content_type)
    return multipart.parse_multipart(ChunkedBody(body, rng), boundary, max_parts)
