"""Decode a pprof ``perftools.profiles.Profile`` message in pure Python.

The intake must prove that every uploaded attachment really is a pprof
profile, and the explorer must turn stored profiles into flame graphs, on a
machine where nothing but the standard library can be assumed.  This module is
therefore a minimal protobuf wire-format reader that knows exactly the fields
of the Profile message (field numbers from the pprof ``profile.proto``) and
checks the rules that ``go tool pprof`` enforces, so that anything accepted
here is also readable by the reference tooling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class PprofDecodeError(ValueError):
    """The bytes are not a well-formed pprof Profile message."""


WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LENGTH_DELIMITED = 2
WIRE_FIXED32 = 5

# Upper bounds that stop a hostile message from exhausting memory or time
# before the size limits of the intake would have been reached anyway.
MAX_STRING_TABLE_ENTRIES = 5_000_000
MAX_VALUES_PER_SAMPLE = 64


class PprofTooLargeError(PprofDecodeError):
    """The profile is well-formed so far but exceeds a decoding limit."""


@dataclass
class DecodeLimits:
    """What one upload may cost to decode.  The pure-Python reader spends
    about 4 us per sample, so these keep any accepted upload to about a
    second of CPU; ``cpu_seconds`` is the catch-all for shapes the counts
    do not foresee (checked every few thousand fields, on this thread's CPU
    clock so that concurrent uploads do not eat each other's budget)."""
    max_samples: int = 250_000          # Sample messages
    max_locations: int = 250_000        # Location messages
    max_functions: int = 250_000        # Function messages
    max_strings: int = 500_000          # string_table entries
    max_location_refs: int = 4_000_000  # location ids summed over all samples
    cpu_seconds: float = 2.0


DEFAULT_LIMITS = DecodeLimits()


@dataclass
class ValueType:
    type: str
    unit: str


@dataclass
class Label:
    key: str
    str_value: str
    num: int
    num_unit: str


@dataclass
class Sample:
    location_ids: list[int]  # leaf first, as in the wire format
    values: list[int]
    labels: list[Label]


@dataclass
class Line:
    function_id: int
    line: int


@dataclass
class Location:
    id: int
    mapping_id: int
    address: int
    lines: list[Line]


@dataclass
class Function:
    id: int
    name: str
    system_name: str
    filename: str
    start_line: int


@dataclass
class Mapping:
    id: int
    filename: str
    build_id: str


@dataclass
class Profile:
    sample_types: list[ValueType] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    locations: dict[int, Location] = field(default_factory=dict)
    functions: dict[int, Function] = field(default_factory=dict)
    mappings: dict[int, Mapping] = field(default_factory=dict)
    string_table: list[str] = field(default_factory=list)
    time_nanos: int = 0
    duration_nanos: int = 0
    period_type: ValueType | None = None
    period: int = 0
    comments: list[str] = field(default_factory=list)
    default_sample_type: str = ""

    def sample_type_index(self, type_name: str) -> int | None:
        for index, value_type in enumerate(self.sample_types):
            if value_type.type == type_name:
                return index
        return None

    def total(self, type_name: str) -> int:
        index = self.sample_type_index(type_name)
        if index is None:
            return 0
        return sum(sample.values[index] for sample in self.samples)


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise PprofDecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise PprofDecodeError("varint longer than 10 bytes")


def _to_int64(value: int) -> int:
    # int64 fields carry negative numbers as 64-bit two's complement varints.
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= (1 << 63) else value


def _iter_fields(data: bytes, pos: int, end: int):
    """Yield (field_number, wire_type, value) where value is an int for
    varint/fixed fields and a (start, end) slice for length-delimited ones."""
    while pos < end:
        key, pos = _read_varint(data, pos, end)
        field_number = key >> 3
        wire_type = key & 7
        if field_number == 0:
            raise PprofDecodeError("field number 0")
        if wire_type == WIRE_VARINT:
            value, pos = _read_varint(data, pos, end)
            yield field_number, wire_type, value
        elif wire_type == WIRE_LENGTH_DELIMITED:
            length, pos = _read_varint(data, pos, end)
            if pos + length > end:
                raise PprofDecodeError("length-delimited field runs past its message")
            yield field_number, wire_type, (pos, pos + length)
            pos += length
        elif wire_type == WIRE_FIXED64:
            if pos + 8 > end:
                raise PprofDecodeError("truncated fixed64")
            yield field_number, wire_type, int.from_bytes(data[pos:pos + 8], "little")
            pos += 8
        elif wire_type == WIRE_FIXED32:
            if pos + 4 > end:
                raise PprofDecodeError("truncated fixed32")
            yield field_number, wire_type, int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        else:
            # Wire types 3/4 (groups) never appear in proto3 messages; seeing
            # one means the bytes are something else entirely.
            raise PprofDecodeError(f"unsupported wire type {wire_type}")


def _append_repeated_ints(data: bytes, wire_type: int, value, out: list[int], signed: bool) -> None:
    """Repeated scalars may arrive packed (the proto3 default) or one per tag;
    readers must accept both."""
    if wire_type == WIRE_LENGTH_DELIMITED:
        pos, end = value
        while pos < end:
            item, pos = _read_varint(data, pos, end)
            out.append(_to_int64(item) if signed else item)
    elif wire_type == WIRE_VARINT:
        out.append(_to_int64(value) if signed else value)
    else:
        raise PprofDecodeError("repeated integer with unexpected wire type")


def _expect(wire_type: int, wanted: int, what: str) -> None:
    if wire_type != wanted:
        raise PprofDecodeError(f"{what}: wrong wire type {wire_type}")


def _decode_value_type(data: bytes, start: int, end: int) -> tuple[int, int]:
    type_index = unit_index = 0
    for number, wire_type, value in _iter_fields(data, start, end):
        if number == 1:
            _expect(wire_type, WIRE_VARINT, "ValueType.type")
            type_index = value
        elif number == 2:
            _expect(wire_type, WIRE_VARINT, "ValueType.unit")
            unit_index = value
    return type_index, unit_index


def _decode_label(data: bytes, start: int, end: int) -> tuple[int, int, int, int]:
    key = str_index = num = num_unit = 0
    for number, wire_type, value in _iter_fields(data, start, end):
        if wire_type != WIRE_VARINT:
            continue
        if number == 1:
            key = value
        elif number == 2:
            str_index = value
        elif number == 3:
            num = _to_int64(value)
        elif number == 4:
            num_unit = value
    return key, str_index, num, num_unit


def _decode_sample(data: bytes, start: int, end: int):
    location_ids: list[int] = []
    values: list[int] = []
    raw_labels = []
    for number, wire_type, value in _iter_fields(data, start, end):
        if number == 1:
            _append_repeated_ints(data, wire_type, value, location_ids, signed=False)
        elif number == 2:
            _append_repeated_ints(data, wire_type, value, values, signed=True)
            if len(values) > MAX_VALUES_PER_SAMPLE:
                raise PprofDecodeError("sample has too many values")
        elif number == 3:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Sample.label")
            raw_labels.append(_decode_label(data, *value))
    return location_ids, values, raw_labels


def _decode_location(data: bytes, start: int, end: int):
    location_id = mapping_id = address = 0
    lines: list[tuple[int, int]] = []
    for number, wire_type, value in _iter_fields(data, start, end):
        if number == 1 and wire_type == WIRE_VARINT:
            location_id = value
        elif number == 2 and wire_type == WIRE_VARINT:
            mapping_id = value
        elif number == 3 and wire_type == WIRE_VARINT:
            address = value
        elif number == 4:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Location.line")
            function_id = line_number = 0
            for line_field, line_wire, line_value in _iter_fields(data, *value):
                if line_wire != WIRE_VARINT:
                    continue
                if line_field == 1:
                    function_id = line_value
                elif line_field == 2:
                    line_number = _to_int64(line_value)
            lines.append((function_id, line_number))
    return location_id, mapping_id, address, lines


def _decode_function(data: bytes, start: int, end: int):
    fields = {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    for number, wire_type, value in _iter_fields(data, start, end):
        if number in fields and wire_type == WIRE_VARINT:
            fields[number] = _to_int64(value) if number == 5 else value
    return fields[1], fields[2], fields[3], fields[4], fields[5]


def _decode_mapping(data: bytes, start: int, end: int):
    mapping_id = filename = build_id = 0
    for number, wire_type, value in _iter_fields(data, start, end):
        if wire_type != WIRE_VARINT:
            continue
        if number == 1:
            mapping_id = value
        elif number == 5:
            filename = value
        elif number == 6:
            build_id = value
    return mapping_id, filename, build_id


def _over(what: str, limit) -> PprofTooLargeError:
    return PprofTooLargeError(f"profile has more than {limit} {what}")


def decode_profile(data: bytes, limits: DecodeLimits | None = None) -> Profile:
    """Decode an uncompressed pprof message and check the reader rules.

    Raises PprofDecodeError with a human-readable reason on any problem,
    PprofTooLargeError when the profile exceeds ``limits``.
    """
    limits = limits or DEFAULT_LIMITS
    cpu_deadline = time.thread_time() + limits.cpu_seconds
    location_refs = 0
    fields_seen = 0
    data = bytes(data)
    raw_sample_types = []
    raw_samples = []
    raw_locations = []
    raw_functions = []
    raw_mappings = []
    strings: list[str] = []
    comment_indexes: list[int] = []
    period_type_raw = None
    scalars = {9: 0, 10: 0, 12: 0, 14: 0}

    for number, wire_type, value in _iter_fields(data, 0, len(data)):
        fields_seen += 1
        if not fields_seen & 4095 and time.thread_time() > cpu_deadline:
            raise PprofTooLargeError(f"profile takes more than {limits.cpu_seconds} s of CPU to decode")
        if number == 1:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Profile.sample_type")
            raw_sample_types.append(_decode_value_type(data, *value))
        elif number == 2:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Profile.sample")
            sample = _decode_sample(data, *value)
            raw_samples.append(sample)
            location_refs += len(sample[0])
            if len(raw_samples) > limits.max_samples:
                raise _over("samples", limits.max_samples)
            if location_refs > limits.max_location_refs:
                raise _over("location references in samples", limits.max_location_refs)
        elif number == 3:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Profile.mapping")
            raw_mappings.append(_decode_mapping(data, *value))
        elif number == 4:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Profile.location")
            raw_locations.append(_decode_location(data, *value))
            if len(raw_locations) > limits.max_locations:
                raise _over("locations", limits.max_locations)
        elif number == 5:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Profile.function")
            raw_functions.append(_decode_function(data, *value))
            if len(raw_functions) > limits.max_functions:
                raise _over("functions", limits.max_functions)
        elif number == 6:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Profile.string_table")
            start, end = value
            try:
                strings.append(data[start:end].decode("utf-8"))
            except UnicodeDecodeError as error:
                raise PprofDecodeError("string_table entry is not UTF-8") from error
            if len(strings) > min(MAX_STRING_TABLE_ENTRIES, limits.max_strings):
                raise _over("string_table entries", min(MAX_STRING_TABLE_ENTRIES, limits.max_strings))
        elif number == 11:
            _expect(wire_type, WIRE_LENGTH_DELIMITED, "Profile.period_type")
            period_type_raw = _decode_value_type(data, *value)
        elif number == 13:
            _append_repeated_ints(data, wire_type, value, comment_indexes, signed=True)
        elif number in scalars:
            _expect(wire_type, WIRE_VARINT, f"Profile field {number}")
            scalars[number] = _to_int64(value)
        # Other fields (drop_frames, keep_frames, doc_url, future additions)
        # do not matter for display and are skipped.

    return _resolve(strings, raw_sample_types, raw_samples, raw_locations, raw_functions,
                    raw_mappings, comment_indexes, period_type_raw, scalars)


def _resolve(strings, raw_sample_types, raw_samples, raw_locations, raw_functions,
             raw_mappings, comment_indexes, period_type_raw, scalars) -> Profile:
    if not strings or strings[0] != "":
        raise PprofDecodeError("string_table[0] must be ''")

    def text(index: int) -> str:
        if index < 0 or index >= len(strings):
            raise PprofDecodeError(f"string index {index} out of range")
        return strings[index]

    profile = Profile(string_table=strings)
    profile.sample_types = [ValueType(text(t), text(u)) for t, u in raw_sample_types]
    if period_type_raw is not None:
        profile.period_type = ValueType(text(period_type_raw[0]), text(period_type_raw[1]))
    profile.time_nanos = scalars[9]
    profile.duration_nanos = scalars[10]
    profile.period = scalars[12]
    profile.default_sample_type = text(scalars[14])
    profile.comments = [text(index) for index in comment_indexes]

    for function_id, name, system_name, filename, start_line in raw_functions:
        if function_id == 0 or function_id in profile.functions:
            raise PprofDecodeError(f"function id {function_id} is zero or duplicated")
        profile.functions[function_id] = Function(
            function_id, text(name), text(system_name), text(filename), start_line)

    for mapping_id, filename, build_id in raw_mappings:
        if mapping_id == 0 or mapping_id in profile.mappings:
            raise PprofDecodeError(f"mapping id {mapping_id} is zero or duplicated")
        profile.mappings[mapping_id] = Mapping(mapping_id, text(filename), text(build_id))

    for location_id, mapping_id, address, lines in raw_locations:
        if location_id == 0 or location_id in profile.locations:
            raise PprofDecodeError(f"location id {location_id} is zero or duplicated")
        if mapping_id and mapping_id not in profile.mappings:
            raise PprofDecodeError(f"location {location_id} names unknown mapping {mapping_id}")
        for function_id, _ in lines:
            if function_id and function_id not in profile.functions:
                raise PprofDecodeError(f"location {location_id} names unknown function {function_id}")
        profile.locations[location_id] = Location(
            location_id, mapping_id, address, [Line(f, n) for f, n in lines])

    value_count = len(profile.sample_types)
    for location_ids, values, raw_labels in raw_samples:
        if len(values) != value_count:
            raise PprofDecodeError(
                f"sample has {len(values)} values, expected {value_count} (one per sample_type)")
        for location_id in location_ids:
            if location_id not in profile.locations:
                raise PprofDecodeError(f"sample names unknown location {location_id}")
        labels = [Label(text(k), text(s), num, text(u)) for k, s, num, u in raw_labels]
        profile.samples.append(Sample(location_ids, values, labels))
    return profile
