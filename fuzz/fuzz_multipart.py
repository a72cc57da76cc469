"""Coverage-guided fuzzing of the `stacksight serve` multipart parser (atheris).

Run by `make fuzz` / `make fuzz-smoke` with atheris installed into
build/fuzz/pylib. The input's first byte picks the boundary length, the rest
is the body, read back in chunk sizes drawn from the input. Anything but a
list of parts or MultipartError is a crash; so is a parse that takes more
than a second (libFuzzer's -timeout)."""
import os
import random
import sys

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

with atheris.instrument_imports():
    import multipart_cases as mc
    from stacksight.serve import multipart


def one_input(data: bytes):
    if len(data) < 2:
        return
    blen = 1 + data[0] % 70
    boundary = "".join(chr(0x61 + b % 26) for b in data[1:1 + blen]) or "b"
    body = data[1 + blen:]
    rng = random.Random(data[1])
    try:
        parts = multipart.parse_multipart(mc.ChunkedBody(body, rng), boundary, 16)
    except multipart.MultipartError:
        return
    assert len(parts) <= 16
    assert sum(len(p.data) for p in parts) <= len(body)


def main():
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
