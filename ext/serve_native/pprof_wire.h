/* pprof_wire.h - the protobuf wire format of a pprof Profile, read in C.
 *
 * The tables of one message (strings, functions, mappings, locations) are
 * decoded with exactly the checks of serve/pprof_reader.py; samples are left
 * as byte ranges for pprof_rows.c, which turns them into explorer rows.
 * Every function returns -1 / NULL with a Python ValueError set on any
 * problem.
 */
#ifndef STACKSIGHT_PPROF_WIRE_H
#define STACKSIGHT_PPROF_WIRE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };
enum { MAX_VALUES_PER_SAMPLE = 64, MAX_LABELS_PER_SAMPLE = 256 };

/* A byte range of the message: [start, end). */
typedef struct {
    size_t start;
    size_t end;
} span_t;

/* A growable array of spans: where each repeated top-level field lies. */
typedef struct {
    span_t *items;
    size_t count;
    size_t capacity;
} spans_t;

/* Decoding limits, as serve.pprof_reader.DecodeLimits (counts only). */
typedef struct {
    long long max_samples;
    long long max_locations;
    long long max_functions;
    long long max_strings;
    long long max_location_refs;
} limits_t;

typedef struct {
    uint64_t id;
    uint64_t name, system_name, filename; /* string indexes */
    int64_t start_line;
} function_t;

typedef struct {
    uint64_t id;
    uint64_t filename;
} mapping_t;

typedef struct {
    uint64_t id;
    uint64_t mapping_id;
    uint64_t address;
    span_t message;   /* the Location message, re-read for its lines */
    PyObject *frames; /* tuple of frame ids, caller first; NULL until first use */
} location_t;

/* id -> dense index + 1 (0 = empty slot), open addressing. */
typedef struct {
    uint64_t *keys;
    uint32_t *values;
    size_t mask;
} id_map_t;

/* Everything one decode owns; freed by decoder_free on every path. */
typedef struct {
    const uint8_t *data;
    size_t size;
    spans_t sample_types, samples, mappings, locations, functions, strings, comments;
    span_t period_type;
    int has_period_type;
    int64_t time_nanos, duration_nanos, period, default_sample_type;
    PyObject *string_objects; /* list[str] */
    function_t *function_items;
    mapping_t *mapping_items;
    location_t *location_items;
    id_map_t function_ids, mapping_ids, location_ids;
    signed char *label_key_skipped; /* per string index: -1 unknown, 0 kept, 1 skipped */
} decoder_t;

/* One field: its number, wire type, and either an integer or a span. */
/* One field: its number, wire type, and either an integer or a span. */
typedef struct {
    uint32_t number;
    int wire;
    uint64_t value;
    span_t span;
} field_t;

int fail(const char *message);
int read_varint(const uint8_t *data, size_t *pos, size_t end, uint64_t *out);
/* Next field of [*pos, end); 1 = got one, 0 = end, -1 = error (set). */
int next_field(const uint8_t *data, size_t *pos, size_t end, field_t *field);
int expect_wire(const field_t *field, int wanted);
/* Repeated integers arrive packed or one per tag: visit is called for each. */
typedef int (*int_visit_t)(void *context, uint64_t value);
int repeated_ints(const decoder_t *d, const field_t *field, int_visit_t visit, void *context);
/* Dense index of id, or -1 when unknown. */
long id_find(const id_map_t *map, uint64_t id);
/* The string at index (borrowed), or NULL with ValueError when out of range. */
PyObject *text(const decoder_t *d, uint64_t index);
/* Pass 1 over the message, then each table checked as pprof_reader.py does. */
int scan_top_level(decoder_t *d, const limits_t *limits);
int decode_strings(decoder_t *d);
int decode_functions(decoder_t *d);
int decode_mappings(decoder_t *d);
int decode_locations(decoder_t *d);
/* Calls visit(function_id, line) for each Line of a location, in wire order. */
typedef int (*line_visit_t)(void *context, uint64_t function_id, int64_t line);
int location_lines(const decoder_t *d, const location_t *location, line_visit_t visit, void *context);
void decoder_free(decoder_t *d);

#endif
