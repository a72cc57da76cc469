"""Independent pprof encoder/decoder for tests, built on the ``protobuf`` package.

Tests must not trust the project's own encoders or decoders to check
themselves, so this builds the ``perftools.profiles.Profile`` message class
at run time from a hand-written descriptor (field numbers from pprof's
profile.proto) in a private descriptor pool, and offers:

* ``decode_profile(data)``: gunzip if needed and parse into a Profile message;
* ``build_profile(sample_types, samples, ...)``: make a Profile message from
  readable stacks (function names, root first);
* ``encode_profile(message, compression)``: serialise, gzip or not.
"""

from __future__ import annotations

import gzip

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "perftools.profiles"

# (message, [(field name, number, type, label, message type name or None)])
_MESSAGES = [
    ("Profile", [
        ("sample_type", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "ValueType"),
        ("sample", 2, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Sample"),
        ("mapping", 3, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Mapping"),
        ("location", 4, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Location"),
        ("function", 5, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Function"),
        ("string_table", 6, _F.TYPE_STRING, _F.LABEL_REPEATED, None),
        ("drop_frames", 7, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("keep_frames", 8, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("time_nanos", 9, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("duration_nanos", 10, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("period_type", 11, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "ValueType"),
        ("period", 12, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("comment", 13, _F.TYPE_INT64, _F.LABEL_REPEATED, None),
        ("default_sample_type", 14, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("doc_url", 15, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
    ]),
    ("ValueType", [
        ("type", 1, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("unit", 2, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
    ]),
    ("Sample", [
        ("location_id", 1, _F.TYPE_UINT64, _F.LABEL_REPEATED, None),
        ("value", 2, _F.TYPE_INT64, _F.LABEL_REPEATED, None),
        ("label", 3, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Label"),
    ]),
    ("Label", [
        ("key", 1, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("str", 2, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("num", 3, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("num_unit", 4, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
    ]),
    ("Mapping", [
        ("id", 1, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("memory_start", 2, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("memory_limit", 3, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("file_offset", 4, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("filename", 5, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("build_id", 6, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("has_functions", 7, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, None),
        ("has_filenames", 8, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, None),
        ("has_line_numbers", 9, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, None),
        ("has_inline_frames", 10, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, None),
    ]),
    ("Location", [
        ("id", 1, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("mapping_id", 2, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("address", 3, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("line", 4, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Line"),
        ("is_folded", 5, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, None),
    ]),
    ("Line", [
        ("function_id", 1, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("line", 2, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("column", 3, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
    ]),
    ("Function", [
        ("id", 1, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None),
        ("name", 2, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("system_name", 3, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("filename", 4, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
        ("start_line", 5, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None),
    ]),
]


def _build_classes():
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="stacksight_tests/profile.proto", package=_PACKAGE, syntax="proto3")
    for message_name, fields in _MESSAGES:
        message = file_proto.message_type.add(name=message_name)
        for field_name, number, field_type, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=field_type, label=label)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"
    # A private pool: other tests may describe the same messages too.
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
            for name, _ in _MESSAGES}


_CLASSES = _build_classes()
Profile = _CLASSES["Profile"]


def decode_profile(data: bytes):
    """Parse pprof bytes (gzip, zstd if ``zstandard`` is installed, or plain)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard
        data = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 30)
    profile = Profile()
    profile.ParseFromString(data)
    return profile


class _Strings:
    def __init__(self, profile):
        self.profile = profile
        self.index: dict[str, int] = {}
        self("")

    def __call__(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.profile.string_table)
            self.profile.string_table.append(text)
        return self.index[text]


def build_profile(sample_types, samples, *, period_type=None, period=0, time_nanos=0,
                  duration_nanos=0, default_sample_type=None, comments=()):
    """Build a Profile message.

    ``sample_types``: [("cpu-time", "nanoseconds"), ...].
    ``samples``: [(stack, values, labels)] where ``stack`` lists frames root
    first, each a function name or (name, filename, line); ``labels`` is a
    dict of str or int values (may be omitted: 2-tuples are fine).
    """
    profile = Profile()
    strings = _Strings(profile)
    for type_name, unit in sample_types:
        profile.sample_type.add(type=strings(type_name), unit=strings(unit))
    functions: dict[tuple[str, str], int] = {}
    locations: dict[tuple[str, str, int], int] = {}
    for entry in samples:
        stack, values = entry[0], entry[1]
        labels = entry[2] if len(entry) > 2 else {}
        location_ids = []
        for frame in stack:
            name, filename, line = (frame, "app.py", 1) if isinstance(frame, str) else frame
            if (name, filename) not in functions:
                functions[(name, filename)] = len(functions) + 1
                profile.function.add(id=functions[(name, filename)], name=strings(name),
                                     system_name=strings(name), filename=strings(filename))
            if (name, filename, line) not in locations:
                locations[(name, filename, line)] = len(locations) + 1
                location = profile.location.add(id=locations[(name, filename, line)])
                location.line.add(function_id=functions[(name, filename)], line=line)
            location_ids.append(locations[(name, filename, line)])
        sample = profile.sample.add(location_id=list(reversed(location_ids)), value=list(values))
        for key, value in labels.items():
            if isinstance(value, int):
                sample.label.add(key=strings(key), num=value)
            else:
                sample.label.add(key=strings(key), str=strings(value))
    if period_type:
        profile.period_type.type = strings(period_type[0])
        profile.period_type.unit = strings(period_type[1])
    profile.period = period
    profile.time_nanos = time_nanos
    profile.duration_nanos = duration_nanos
    if default_sample_type:
        profile.default_sample_type = strings(default_sample_type)
    for comment in comments:
        profile.comment.append(strings(comment))
    return profile


def encode_profile(profile, compression: str = "gzip") -> bytes:
    data = profile.SerializeToString()
    if compression == "gzip":
        return gzip.compress(data)
    if compression == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    if compression == "plain":
        return data
    raise ValueError(f"unknown compression {compression!r}")
