/* pprof_wire.c - decoding of a pprof message's tables (see pprof_wire.h).
 *
 * The rules are those of serve/pprof_reader.py (itself those of go tool
 * pprof): string_table[0] is "", ids are non-zero and unique, every
 * reference names something that exists, wire types are the expected ones.
 * Hand-written rather than protobuf-c's unpack, which cuts strings at a NUL.
 */
#include "pprof_wire.h"

#include <stdlib.h>
#include <string.h>

int fail(const char *message)
{
    PyErr_SetString(PyExc_ValueError, message);
    return -1;
}

int read_varint(const uint8_t *data, size_t *pos, size_t end, uint64_t *out)
{
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= end)
            return fail("truncated varint");
        uint8_t byte = data[(*pos)++];
        if (shift == 63 && (byte & 0x7e))
            return fail("varint past 64 bits");
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = result;
            return 0;
        }
    }
    return fail("varint longer than 10 bytes");
}


int next_field(const uint8_t *data, size_t *pos, size_t end, field_t *field)
{
    if (*pos >= end)
        return 0;
    uint64_t key;
    if (read_varint(data, pos, end, &key) < 0)
        return -1;
    if ((key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return fail("bad field number");
    field->number = (uint32_t)(key >> 3);
    field->wire = (int)(key & 7);
    switch (field->wire) {
    case WIRE_VARINT:
        return read_varint(data, pos, end, &field->value) < 0 ? -1 : 1;
    case WIRE_LEN: {
        uint64_t length;
        if (read_varint(data, pos, end, &length) < 0)
            return -1;
        if (length > end - *pos)
            return fail("length-delimited field runs past its message");
        field->span.start = *pos;
        field->span.end = *pos + (size_t)length;
        *pos += (size_t)length;
        return 1;
    }
    case WIRE_FIXED64:
        if (end - *pos < 8)
            return fail("truncated fixed64");
        *pos += 8;
        return 1;
    case WIRE_FIXED32:
        if (end - *pos < 4)
            return fail("truncated fixed32");
        *pos += 4;
        return 1;
    default:
        return fail("unsupported wire type");
    }
}

static int spans_push(spans_t *spans, span_t span, long long limit)
{
    if (limit >= 0 && (long long)spans->count >= limit)
        return fail("over a decoding limit");
    if (spans->count == spans->capacity) {
        size_t capacity = spans->capacity ? spans->capacity * 2 : 64;
        span_t *items = realloc(spans->items, capacity * sizeof *items);
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        spans->items = items;
        spans->capacity = capacity;
    }
    spans->items[spans->count++] = span;
    return 0;
}

static int id_map_init(id_map_t *map, size_t count)
{
    size_t size = 16;
    while (size < count * 2)
        size <<= 1;
    map->keys = calloc(size, sizeof *map->keys);
    map->values = calloc(size, sizeof *map->values);
    map->mask = size - 1;
    if (map->keys == NULL || map->values == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static size_t id_slot(const id_map_t *map, uint64_t id)
{
    size_t slot = (size_t)((id * 0x9E3779B97F4A7C15ULL) >> 17) & map->mask;
    while (map->values[slot] && map->keys[slot] != id)
        slot = (slot + 1) & map->mask;
    return slot;
}

long id_find(const id_map_t *map, uint64_t id)
{
    size_t slot = id_slot(map, id);
    return map->values[slot] ? (long)map->values[slot] - 1 : -1;
}

static int id_insert(id_map_t *map, uint64_t id, uint32_t index)
{
    if (id == 0)
        return fail("id is zero");
    size_t slot = id_slot(map, id);
    if (map->values[slot])
        return fail("id is duplicated");
    map->keys[slot] = id;
    map->values[slot] = index + 1;
    return 0;
}

void decoder_free(decoder_t *d)
{
    spans_t *all[] = {&d->sample_types, &d->samples, &d->mappings, &d->locations,
                      &d->functions, &d->strings, &d->comments};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->items);
    if (d->location_items != NULL)
        for (size_t i = 0; i < d->locations.count; i++)
            Py_XDECREF(d->location_items[i].frames);
    Py_XDECREF(d->string_objects);
    free(d->function_items);
    free(d->mapping_items);
    free(d->location_items);
    id_map_t *maps[] = {&d->function_ids, &d->mapping_ids, &d->location_ids};
    for (size_t i = 0; i < 3; i++) {
        free(maps[i]->keys);
        free(maps[i]->values);
    }
    free(d->label_key_skipped);
}

int expect_wire(const field_t *field, int wanted)
{
    return field->wire == wanted ? 0 : fail("wrong wire type");
}


int repeated_ints(const decoder_t *d, const field_t *field, int_visit_t visit, void *context)
{
    if (field->wire == WIRE_VARINT)
        return visit(context, field->value);
    if (field->wire != WIRE_LEN)
        return fail("repeated integer with unexpected wire type");
    size_t pos = field->span.start;
    while (pos < field->span.end) {
        uint64_t value;
        if (read_varint(d->data, &pos, field->span.end, &value) < 0 || visit(context, value) < 0)
            return -1;
    }
    return 0;
}

static int push_comment(void *context, uint64_t value)
{
    span_t as_span = {(size_t)value, 0}; /* a string index kept in a span's start */
    return spans_push(context, as_span, -1);
}

/* Pass 1: where every top-level field is, plus the scalars. */
int scan_top_level(decoder_t *d, const limits_t *limits)
{
    size_t pos = 0;
    field_t field;
    int got;
    long long string_limit = limits->max_strings < 5000000 ? limits->max_strings : 5000000;
    while ((got = next_field(d->data, &pos, d->size, &field)) == 1) {
        switch (field.number) {
        case 1: case 2: case 3: case 4: case 5: case 6: case 11: {
            if (expect_wire(&field, WIRE_LEN) < 0)
                return -1;
            spans_t *target = field.number == 1 ? &d->sample_types : field.number == 2 ? &d->samples
                            : field.number == 3 ? &d->mappings : field.number == 4 ? &d->locations
                            : field.number == 5 ? &d->functions : &d->strings;
            long long limit = field.number == 2 ? limits->max_samples : field.number == 4 ? limits->max_locations
                            : field.number == 5 ? limits->max_functions : field.number == 6 ? string_limit : -1;
            if (field.number == 11) {
                d->period_type = field.span;
                d->has_period_type = 1;
            } else if (spans_push(target, field.span, limit) < 0) {
                return -1;
            }
            break;
        }
        case 13:
            if (repeated_ints(d, &field, push_comment, &d->comments) < 0)
                return -1;
            break;
        case 9: case 10: case 12: case 14:
            if (expect_wire(&field, WIRE_VARINT) < 0)
                return -1;
            int64_t value = (int64_t)field.value;
            if (field.number == 9)
                d->time_nanos = value;
            else if (field.number == 10)
                d->duration_nanos = value;
            else if (field.number == 12)
                d->period = value;
            else
                d->default_sample_type = value;
            break;
        default:
            break; /* drop_frames, keep_frames, doc_url, later additions */
        }
    }
    return got;
}

PyObject *text(const decoder_t *d, uint64_t index)
{
    if (index >= (uint64_t)PyList_GET_SIZE(d->string_objects)) {
        fail("string index out of range");
        return NULL;
    }
    return PyList_GET_ITEM(d->string_objects, (Py_ssize_t)index); /* borrowed */
}

int decode_strings(decoder_t *d)
{
    d->string_objects = PyList_New((Py_ssize_t)d->strings.count);
    if (d->string_objects == NULL)
        return -1;
    for (size_t i = 0; i < d->strings.count; i++) {
        span_t span = d->strings.items[i];
        PyObject *s = PyUnicode_DecodeUTF8((const char *)d->data + span.start,
                                           (Py_ssize_t)(span.end - span.start), NULL);
        if (s == NULL)
            return -1;
        PyList_SET_ITEM(d->string_objects, (Py_ssize_t)i, s);
    }
    if (d->strings.count == 0 || PyUnicode_GET_LENGTH(PyList_GET_ITEM(d->string_objects, 0)) != 0)
        return fail("string_table[0] must be ''");
    return 0;
}

int decode_functions(decoder_t *d)
{
    size_t count = d->functions.count;
    d->function_items = calloc(count ? count : 1, sizeof *d->function_items);
    if (d->function_items == NULL)
        return PyErr_NoMemory(), -1;
    if (id_map_init(&d->function_ids, count) < 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        function_t *function = &d->function_items[i];
        size_t pos = d->functions.items[i].start;
        field_t field;
        int got;
        while ((got = next_field(d->data, &pos, d->functions.items[i].end, &field)) == 1) {
            if (field.wire != WIRE_VARINT)
                continue;
            switch (field.number) {
            case 1: function->id = field.value; break;
            case 2: function->name = field.value; break;
            case 3: function->system_name = field.value; break;
            case 4: function->filename = field.value; break;
            case 5: function->start_line = (int64_t)field.value; break;
            default: break;
            }
        }
        if (got < 0 || id_insert(&d->function_ids, function->id, (uint32_t)i) < 0)
            return -1;
        if (!text(d, function->name) || !text(d, function->system_name) || !text(d, function->filename))
            return -1;
    }
    return 0;
}

int decode_mappings(decoder_t *d)
{
    size_t count = d->mappings.count;
    d->mapping_items = calloc(count ? count : 1, sizeof *d->mapping_items);
    if (d->mapping_items == NULL)
        return PyErr_NoMemory(), -1;
    if (id_map_init(&d->mapping_ids, count) < 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        mapping_t *mapping = &d->mapping_items[i];
        uint64_t build_id = 0;
        size_t pos = d->mappings.items[i].start;
        field_t field;
        int got;
        while ((got = next_field(d->data, &pos, d->mappings.items[i].end, &field)) == 1) {
            if (field.wire != WIRE_VARINT)
                continue;
            if (field.number == 1)
                mapping->id = field.value;
            else if (field.number == 5)
                mapping->filename = field.value;
            else if (field.number == 6)
                build_id = field.value;
        }
        if (got < 0 || id_insert(&d->mapping_ids, mapping->id, (uint32_t)i) < 0)
            return -1;
        if (!text(d, mapping->filename) || !text(d, build_id))
            return -1;
    }
    return 0;
}


int location_lines(const decoder_t *d, const location_t *location, line_visit_t visit, void *context)
{
    size_t pos = location->message.start;
    field_t field;
    int got;
    while ((got = next_field(d->data, &pos, location->message.end, &field)) == 1) {
        if (field.number != 4)
            continue;
        if (expect_wire(&field, WIRE_LEN) < 0)
            return -1;
        uint64_t function_id = 0;
        int64_t line = 0;
        size_t line_pos = field.span.start;
        field_t line_field;
        int line_got;
        while ((line_got = next_field(d->data, &line_pos, field.span.end, &line_field)) == 1) {
            if (line_field.wire != WIRE_VARINT)
                continue;
            if (line_field.number == 1)
                function_id = line_field.value;
            else if (line_field.number == 2)
                line = (int64_t)line_field.value;
        }
        if (line_got < 0 || visit(context, function_id, line) < 0)
            return -1;
    }
    return got;
}

static int check_line(void *context, uint64_t function_id, int64_t line)
{
    (void)line;
    if (function_id && id_find(&((decoder_t *)context)->function_ids, function_id) < 0)
        return fail("location names an unknown function");
    return 0;
}

int decode_locations(decoder_t *d)
{
    size_t count = d->locations.count;
    d->location_items = calloc(count ? count : 1, sizeof *d->location_items);
    if (d->location_items == NULL)
        return PyErr_NoMemory(), -1;
    if (id_map_init(&d->location_ids, count) < 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        location_t *location = &d->location_items[i];
        location->message = d->locations.items[i];
        size_t pos = location->message.start;
        field_t field;
        int got;
        while ((got = next_field(d->data, &pos, location->message.end, &field)) == 1) {
            if (field.wire != WIRE_VARINT)
                continue;
            if (field.number == 1)
                location->id = field.value;
            else if (field.number == 2)
                location->mapping_id = field.value;
            else if (field.number == 3)
                location->address = field.value;
        }
        if (got < 0 || id_insert(&d->location_ids, location->id, (uint32_t)i) < 0)
            return -1;
        if (location->mapping_id && id_find(&d->mapping_ids, location->mapping_id) < 0)
            return fail("location names an unknown mapping");
        if (location_lines(d, location, check_line, d) < 0)
            return -1;
    }
    return 0;
}
