"""Attachment decoding (magic-byte detection, gzip and zstd limits, member
cap) and the display names of sample types."""

from __future__ import annotations

import gzip

import pytest

import serve_helpers  # noqa: F401 - makes ext/ importable
from stacksight.serve import compression
from stacksight.serve.sample_types import default_type, display_name


def test_detection_by_magic_bytes():
    assert compression.detect_encoding(gzip.compress(b"x")) == "gzip"
    assert compression.detect_encoding(b"\x28\xb5\x2f\xfd....") == "zstd"
    assert compression.detect_encoding(b"\x0a\x02") == "plain"


def test_gzip_members_and_limits():
    data = gzip.compress(b"a" * 10) + gzip.compress(b"b" * 5)
    assert compression.decompress(data, 100) == ("gzip", b"a" * 10 + b"b" * 5)
    with pytest.raises(compression.DecompressedTooLargeError):
        compression.decompress(gzip.compress(b"\0" * 1_000_000), 1000)  # a small bomb
    with pytest.raises(compression.DecompressionError):
        compression.decompress(gzip.compress(b"abc" * 100)[:-9], 1000)
    with pytest.raises(compression.DecompressionError):
        compression.decompress(gzip.compress(b"abc") + b"junk", 1000)


def test_zstd_is_read_by_a_default_install():
    import zstandard
    data = zstandard.ZstdCompressor().compress(b"pprof" * 1000)
    assert compression.decompress(data, 10_000) == ("zstd", b"pprof" * 1000)
    with pytest.raises(compression.DecompressedTooLargeError):
        compression.decompress(zstandard.ZstdCompressor().compress(b"\0" * 1_000_000), 1000)


def test_many_members_are_refused_in_linear_time():
    import time
    empty = gzip.compress(b"")
    started = time.process_time()
    with pytest.raises(compression.DecompressionError, match="concatenated gzip members"):
        compression.decompress(empty * 160_000, 1 << 20)
    assert time.process_time() - started < 1.0
    # Up to the cap they decode.
    assert compression.decompress(empty * compression.MAX_MEMBERS, 10) == ("gzip", b"")


def test_seed_display_names_for_every_datadog_sample_type():
    expected = {
        "cpu-time": "CPU", "wall-time": "Wall Time", "heap-space": "Heap Live Size",
        "alloc-space": "Allocated Memory", "alloc-samples": "Allocations",
        "exception-samples": "Thrown Exceptions", "lock-acquire-wait": "Lock Wait Time",
        "lock-release-hold": "Locked Time", "lock-acquire": "Lock Acquires", "lock-release": "Lock Releases",
        "cpu-samples": "CPU Samples", "wall-samples": "Wall Samples", "heap-live-samples": "Heap Live Objects",
    }
    assert {name: display_name(name) for name in expected} == expected
    assert display_name("goroutines", "count") == "Goroutines"
    assert display_name("threads", "count") == "threads (count)"
    assert default_type(["wall-time", "cpu-time"]) == "cpu-time"
    assert default_type(["wall-time", "cpu-time"], "wall-time") == "wall-time"
    assert default_type(["lock-acquire"]) == "lock-acquire"
    assert default_type([]) is None
