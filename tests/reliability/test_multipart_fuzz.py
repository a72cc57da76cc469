"""Seeded fuzzing of the `stacksight serve` multipart parser.

The intake reads bodies from the network; a parser that raises anything but
MultipartError turns into a 500 and a traceback per request, one that loops
or buffers without bound is a denial of service. Valid uploads built with
awkward content must round-trip exactly whatever the read sizes; mutated
ones must be parsed or rejected with MultipartError, quickly. The seed is
printed so a failure can be replayed (RELIABILITY_FUZZ_SEED); `make fuzz`
runs the coverage-guided version (fuzz/fuzz_multipart.py, atheris)."""
import os
import random
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fuzz"))

import multipart_cases as mc  # noqa: E402
from stacksight.serve.multipart import MultipartError, TooManyPartsError  # noqa: E402

from rel_helpers import ci_size  # noqa: E402

SEED = int(os.environ.get("RELIABILITY_FUZZ_SEED", random.randrange(1 << 30)))
ROUNDS = ci_size("fuzz_rounds", 3000, 1500)


def test_valid_uploads_round_trip():
    rng = random.Random(SEED)
    print("seed", SEED)
    for i in range(ROUNDS // 3):
        ctype, body, expected = mc.build_upload(rng)
        parts = mc.parse(ctype, body, rng)
        got = [(p.name, p.filename, p.content_type, bytes(p.data)) for p in parts]
        assert got == expected, (SEED, i)


def test_mutated_uploads_are_parsed_or_rejected():
    rng = random.Random(SEED + 1)
    print("seed", SEED)
    slowest = 0.0
    for i in range(ROUNDS):
        ctype, body, _ = mc.build_upload(rng)
        if rng.random() < 0.2:
            ctype = mc.mutate(rng, ctype.encode()).decode("latin-1")
        body = mc.mutate(rng, body)
        t0 = time.perf_counter()
        try:
            parts = mc.parse(ctype, body, rng)
        except MultipartError:
            pass
        else:
            assert len(parts) <= 16
            assert sum(len(p.data) for p in parts) <= len(body)
        slowest = max(slowest, time.perf_counter() - t0)
    print(f"slowest parse {slowest*1e3:.1f} ms")
    assert slowest < 2.0, (SEED, slowest)


def test_too_many_parts_is_refused_before_the_end():
    rng = random.Random(SEED + 2)
    ctype, body, _ = mc.build_upload(rng, nparts=40)
    with pytest.raises(TooManyPartsError):
        mc.parse(ctype, body, rng, max_parts=16)


@pytest.mark.parametrize("body", [b"", b"--", b"\r\n" * 50000, b"-" * 100000, b"--b\r\n" + b"H" * 100000])
def test_pathological_bodies(body):
    t0 = time.perf_counter()
    with pytest.raises(MultipartError):
        mc.parse("multipart/form-data; boundary=b", body, random.Random(SEED))
    assert time.perf_counter() - t0 < 2.0
