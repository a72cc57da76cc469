"""The pure-Python pprof reader and multipart parser agree with the
``protobuf`` package and refuse what ``go tool pprof`` would refuse."""

from __future__ import annotations

import io

import pytest

import pprof_pb
from serve_helpers.uploads import encode_multipart
from stacksight.serve.http_body import BodyReader, BodyTooLargeError
from stacksight.serve.multipart import MultipartError, TooManyPartsError, parse_multipart
from stacksight.serve.pprof_reader import PprofDecodeError, decode_profile


def _sample_message():
    return pprof_pb.build_profile(
        [("alloc-space", "bytes"), ("heap-space", "bytes")],
        [([("main", "app.py", 3), ("alloc", "lib.py", 40)], [4096, -512], {"thread name": "T1", "span id": 7}),
         (["main"], [1, 2])],
        period_type=("alloc-space", "bytes"), period=524288, time_nanos=123, duration_nanos=456,
        default_sample_type="heap-space", comments=["hello"])


def test_reader_matches_protobuf():
    message = _sample_message()
    profile = decode_profile(message.SerializeToString())
    assert [(t.type, t.unit) for t in profile.sample_types] == [("alloc-space", "bytes"), ("heap-space", "bytes")]
    assert profile.samples[0].values == [4096, -512]  # negative int64 survives
    assert profile.samples[0].location_ids == list(message.sample[0].location_id)
    labels = {label.key: (label.str_value, label.num) for label in profile.samples[0].labels}
    assert labels == {"thread name": ("T1", 0), "span id": ("", 7)}
    leaf = profile.locations[profile.samples[0].location_ids[0]]
    function = profile.functions[leaf.lines[0].function_id]
    assert (function.name, function.filename, leaf.lines[0].line) == ("alloc", "lib.py", 40)
    assert (profile.time_nanos, profile.duration_nanos, profile.period) == (123, 456, 524288)
    assert profile.period_type.type == "alloc-space"
    assert profile.default_sample_type == "heap-space"
    assert profile.comments == ["hello"]
    assert profile.total("alloc-space") == 4097


def test_unpacked_repeated_fields_are_accepted():
    # Sample{location_id: 1 (unpacked), value: 5 (unpacked)} written by hand.
    message = _sample_message()
    message.ClearField("sample")
    data = message.SerializeToString() + bytes([0x12, 0x06, 0x08, 0x01, 0x10, 0x05, 0x10, 0x06])
    profile = decode_profile(data)
    assert profile.samples[-1].values == [5, 6] and profile.samples[-1].location_ids == [1]


@pytest.mark.parametrize("mutate, reason", [
    (lambda m: m.string_table.__setitem__(0, "x"), "string_table[0]"),
    (lambda m: m.sample[0].value.append(1), "values"),
    (lambda m: m.sample[0].location_id.append(99), "unknown location"),
    (lambda m: m.location[0].line[0].__setattr__("function_id", 77), "unknown function"),
    (lambda m: m.sample_type[0].__setattr__("type", 999), "out of range"),
    (lambda m: m.location.add(id=m.location[0].id), "duplicated"),
])
def test_reader_refuses_invalid_profiles(mutate, reason):
    message = _sample_message()
    mutate(message)
    with pytest.raises(PprofDecodeError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        decode_profile(message.SerializeToString())


@pytest.mark.parametrize("junk", [b"", b"not a profile", b'{"json": 1}', b"\x0a\xff", b"\x08"])
def test_reader_refuses_junk(junk):
    with pytest.raises(PprofDecodeError):
        decode_profile(junk)


def _body(data: bytes, limit: int = 1 << 30) -> BodyReader:
    return BodyReader(io.BytesIO(data), len(data), False, limit)


class _TrickleReader(io.BytesIO):
    """Return at most 3 bytes per read so boundaries straddle reads."""

    def read(self, size=-1):
        return super().read(min(3, size if size >= 0 else 3))


def test_multipart_parts_survive_any_read_split():
    payload = b"\r\n--not-the-boundary\r\n" + bytes(range(256)) * 20
    body, content_type = encode_multipart([("event", "event.json", "application/json", b'{"a": 1}'),
                                           ("profile.pprof", "profile.pprof", "application/octet-stream", payload)])
    boundary = content_type.split("boundary=")[1]
    for reader in (_body(body), BodyReader(_TrickleReader(body), len(body), False, 1 << 30)):
        parts = parse_multipart(reader, boundary, max_parts=10)
        assert [(p.name, p.filename) for p in parts] == [("event", "event.json"), ("profile.pprof", "profile.pprof")]
        assert bytes(parts[0].data) == b'{"a": 1}' and bytes(parts[1].data) == payload


def test_multipart_limits():
    body, content_type = encode_multipart([(f"p{i}", None, "text/plain", b"x") for i in range(5)])
    boundary = content_type.split("boundary=")[1]
    with pytest.raises(TooManyPartsError):
        parse_multipart(_body(body), boundary, max_parts=4)
    with pytest.raises(BodyTooLargeError):
        parse_multipart(_body(body, limit=50), boundary, max_parts=10)
    with pytest.raises(MultipartError):
        parse_multipart(_body(body[:-10]), boundary, max_parts=10)
