/* pprof_encoder.c - aggregator buffer -> perftools.profiles.Profile -> gzip.
 *
 * The interner's ids are process-wide and sparse for one period, so every
 * profile gets its own dense tables: string index, function id and location
 * id are assigned on first use while walking the rows. A location is one
 * (function, line) pair; the pprof format lets a location carry an address
 * too, which interpreted code does not have.
 *
 * The message is written in protobuf wire format in one pass over the rows
 * (pprof_wire.h), samples first and the string table last (field order is
 * free in protobuf), then gzipped (gzip.c). */
#include "pprof_encoder.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "big_alloc.h"
#include "interner.h"
#include "log.h"
#include "pprof_wire.h"
#include "thread_clock.h"

/* Field numbers of perftools.profiles messages (proto/profile.proto). */
enum {
    PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_LOCATION = 4, PROFILE_FUNCTION = 5,
    PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9, PROFILE_DURATION_NANOS = 10,
    PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12, PROFILE_DEFAULT_SAMPLE_TYPE = 14,
    VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
    LABEL_KEY = 1, LABEL_STR = 2, LABEL_NUM = 3,
    LOCATION_ID = 1, LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1, LINE_LINE = 2,
    FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_FILENAME = 4, FUNCTION_START_LINE = 5,
};

static const char *const value_types[SS_VALUE_KINDS][2] = {
    [SS_CPU_SAMPLES] = {"cpu-samples", "count"},
    [SS_CPU_TIME] = {"cpu-time", "nanoseconds"},
    [SS_WALL_SAMPLES] = {"wall-samples", "count"},
    [SS_WALL_TIME] = {"wall-time", "nanoseconds"},
    [SS_EXCEPTION_SAMPLES] = {"exception-samples", "count"},
    [SS_LOCK_ACQUIRE] = {"lock-acquire", "count"},
    [SS_LOCK_ACQUIRE_WAIT] = {"lock-acquire-wait", "nanoseconds"},
    [SS_LOCK_RELEASE] = {"lock-release", "count"},
    [SS_LOCK_RELEASE_HOLD] = {"lock-release-hold", "nanoseconds"},
    [SS_ALLOC_SAMPLES] = {"alloc-samples", "count"},
    [SS_ALLOC_SPACE] = {"alloc-space", "bytes"},
    [SS_HEAP_LIVE_SAMPLES] = {"heap-live-samples", "count"},
    [SS_HEAP_SPACE] = {"heap-space", "bytes"},
};

const char *ss_value_type_name(ss_value_kind kind) { return value_types[kind][0]; }
const char *ss_value_unit_name(ss_value_kind kind) { return value_types[kind][1]; }

void ss_bytes_free(ss_bytes *b)
{
    ss_big_free(b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
}

int ss_bytes_reserve(ss_bytes *b, size_t extra)
{
    if (b->len + extra > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + extra)
            cap *= 2;
        unsigned char *p = ss_big_realloc(b->data, b->cap, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    return 0;
}

int ss_bytes_append(ss_bytes *b, const void *data, size_t len)
{
    if (ss_bytes_reserve(b, len))
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

#define LABEL_KEYS 8   /* label kinds of ss_labels */

/* Per-profile dense numbering of interner ids. Functions and locations are
 * collected as compact keys in growable arrays (a profile has far fewer
 * distinct locations than stored frames) and written once the samples are. */
typedef struct encoder_tables {
    uint32_t *string_index;     /* interner string id -> pprof index + 1, 0 = unassigned */
    uint32_t nstrings_interned;
    const char **strings;       /* pprof string_table, by pprof index */
    size_t nstrings, strings_cap;

    uint32_t *function_index;   /* interner function id -> pprof id (1-based), 0 = unassigned */
    uint32_t nfunctions_interned;
    uint32_t *function_ids;     /* pprof id - 1 -> interner function id */
    size_t nfunctions, functions_cap;

    /* (pprof function id << 32 | line) -> location id, open addressing, key 0 = empty */
    uint64_t *location_keys;
    uint32_t *location_ids;
    size_t location_slots;      /* power of two, kept at most half full */
    uint64_t *location_list;    /* location id - 1 -> key */
    size_t nlocations, locations_cap;
} encoder_tables;

static int grow(void *array_ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need)
        n *= 2;
    void *p = ss_big_realloc(*(void **)array_ptr, *cap * elem, n * elem);
    if (!p)
        return -1;
    *(void **)array_ptr = p;
    *cap = n;
    return 0;
}

static int64_t add_literal(encoder_tables *t, const char *s)
{
    if (grow(&t->strings, &t->strings_cap, t->nstrings + 1, sizeof *t->strings))
        return -1;
    t->strings[t->nstrings] = s;
    return (int64_t)t->nstrings++;
}

static int64_t string_ref(encoder_tables *t, uint32_t id)
{
    if (id == SS_STRING_NONE || id >= t->nstrings_interned)
        return 0;
    if (!t->string_index[id]) {
        int64_t idx = add_literal(t, ss_string_at(id, NULL));
        if (idx < 0)
            return 0;
        t->string_index[id] = (uint32_t)idx + 1;
    }
    return t->string_index[id] - 1;
}

static uint64_t function_ref(encoder_tables *t, uint32_t id)
{
    if (id >= t->nfunctions_interned)
        return 0;
    if (!t->function_index[id]) {
        if (grow(&t->function_ids, &t->functions_cap, t->nfunctions + 1, sizeof *t->function_ids))
            return 0;
        t->function_ids[t->nfunctions] = id;
        t->function_index[id] = (uint32_t)++t->nfunctions;
    }
    return t->function_index[id];
}

static uint32_t *location_slot(encoder_tables *t, uint64_t key, uint64_t **key_slot)
{
    size_t mask = t->location_slots - 1;
    /* splitmix64's finaliser: every key bit reaches the low bits used here
     * (the function id sits in the high half of the key). */
    uint64_t h = key;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    size_t i = (size_t)h & mask;
    while (t->location_keys[i] && t->location_keys[i] != key)
        i = (i + 1) & mask;
    *key_slot = &t->location_keys[i];
    return &t->location_ids[i];
}

static int rehash_locations(encoder_tables *t)
{
    size_t slots = t->location_slots ? t->location_slots * 2 : 1024;
    uint64_t *keys = ss_big_alloc(slots * sizeof *keys);
    uint32_t *ids = ss_big_alloc(slots * sizeof *ids);
    if (!keys || !ids) {
        ss_big_free(keys, slots * sizeof *keys);
        ss_big_free(ids, slots * sizeof *ids);
        return -1;
    }
    ss_big_free(t->location_keys, t->location_slots * sizeof *t->location_keys);
    ss_big_free(t->location_ids, t->location_slots * sizeof *t->location_ids);
    t->location_keys = keys;
    t->location_ids = ids;
    t->location_slots = slots;
    for (size_t n = 0; n < t->nlocations; n++) {
        uint64_t *k;
        uint32_t *id = location_slot(t, t->location_list[n], &k);
        *k = t->location_list[n];
        *id = (uint32_t)(n + 1);
    }
    return 0;
}

static uint64_t location_ref(encoder_tables *t, ss_frame frame)
{
    uint64_t fid = function_ref(t, frame.function);
    if (!fid)
        return 0;
    uint64_t key = (fid << 32) | (uint32_t)frame.line;
    if ((t->nlocations + 1) * 2 > t->location_slots && rehash_locations(t))
        return 0;
    uint64_t *k;
    uint32_t *id = location_slot(t, key, &k);
    if (*k)
        return *id;
    if (grow(&t->location_list, &t->locations_cap, t->nlocations + 1, sizeof *t->location_list))
        return 0;
    t->location_list[t->nlocations++] = key;
    *k = key;
    *id = (uint32_t)t->nlocations;
    return t->nlocations;
}

static void tables_free(encoder_tables *t)
{
    ss_big_free(t->string_index, (t->nstrings_interned + 1) * sizeof *t->string_index);
    ss_big_free(t->strings, t->strings_cap * sizeof *t->strings);
    ss_big_free(t->function_index, (t->nfunctions_interned + 1) * sizeof *t->function_index);
    ss_big_free(t->function_ids, t->functions_cap * sizeof *t->function_ids);
    ss_big_free(t->location_keys, t->location_slots * sizeof *t->location_keys);
    ss_big_free(t->location_ids, t->location_slots * sizeof *t->location_ids);
    ss_big_free(t->location_list, t->locations_cap * sizeof *t->location_list);
}

static int tables_init(encoder_tables *t)
{
    memset(t, 0, sizeof *t);
    t->nstrings_interned = ss_string_count();
    t->nfunctions_interned = ss_function_count();
    t->string_index = ss_big_alloc((t->nstrings_interned + 1) * sizeof *t->string_index);
    t->function_index = ss_big_alloc((t->nfunctions_interned + 1) * sizeof *t->function_index);
    if (!t->string_index || !t->function_index || rehash_locations(t))
        return -1;
    return add_literal(t, "") == 0 ? 0 : -1;
}


/* One label of a row: key string index and either a number or a string index. */
typedef struct row_label {
    int64_t key;
    uint32_t field;             /* LABEL_NUM or LABEL_STR */
    uint64_t value;             /* the number, or the string index */
} row_label;

/* Labels of one row; returns how many were written into `out` (max LABEL_KEYS). */
static size_t row_labels(encoder_tables *t, const ss_labels *l, const int64_t keys[LABEL_KEYS],
                         row_label out[LABEL_KEYS])
{
    size_t n = 0;
#define NUM_LABEL(field_, k) \
    if (l->field_) out[n++] = (row_label){keys[k], LABEL_NUM, (uint64_t)l->field_};
#define STR_LABEL(field_, k) \
    if (l->field_) out[n++] = (row_label){keys[k], LABEL_STR, (uint64_t)string_ref(t, l->field_)};
    NUM_LABEL(thread_id, 0)
    NUM_LABEL(native_thread_id, 1)
    STR_LABEL(thread_name, 2)
    STR_LABEL(exception_type, 3)
    STR_LABEL(lock_name, 4)
    STR_LABEL(class_name, 5)
    STR_LABEL(task_name, 6)
    STR_LABEL(exception_message, 7)
#undef NUM_LABEL
#undef STR_LABEL
    return n;
}

static size_t label_body_size(const row_label *l)
{
    return ss_uint_field_size((uint64_t)l->key) + ss_uint_field_size(l->value);
}

/* A ValueType message {type, unit} as `field` of Profile. */
static int put_value_type(ss_bytes *raw, uint32_t field, int64_t type, int64_t unit)
{
    if (ss_bytes_reserve(raw, 32))
        return -1;
    size_t body = ss_uint_field_size((uint64_t)type) + ss_uint_field_size((uint64_t)unit);
    unsigned char *p = ss_put_len_header(raw->data + raw->len, field, body);
    p = ss_put_uint_field(p, VALUE_TYPE_TYPE, (uint64_t)type);
    p = ss_put_uint_field(p, VALUE_TYPE_UNIT, (uint64_t)unit);
    raw->len = (size_t)(p - raw->data);
    return 0;
}

/* One Sample message: packed location ids, packed values, labels. */
static int put_sample(ss_bytes *raw, const uint64_t *loc_ids, size_t nlocs, const int64_t *values,
                      size_t ncols, const row_label *labels, size_t nlabels)
{
    size_t locs_size = 0, values_size = 0, body = 0;
    for (size_t i = 0; i < nlocs; i++)
        locs_size += ss_varint_size(loc_ids[i]);
    for (size_t c = 0; c < ncols; c++)
        values_size += ss_varint_size((uint64_t)values[c]);
    if (nlocs)
        body += 1 + ss_varint_size(locs_size) + locs_size;
    body += 1 + ss_varint_size(values_size) + values_size;
    for (size_t i = 0; i < nlabels; i++) {
        size_t lb = label_body_size(&labels[i]);
        body += 1 + ss_varint_size(lb) + lb;
    }
    if (ss_bytes_reserve(raw, 1 + 10 + body))
        return -1;
    unsigned char *p = ss_put_len_header(raw->data + raw->len, PROFILE_SAMPLE, body);
    if (nlocs) {
        p = ss_put_len_header(p, SAMPLE_LOCATION_ID, locs_size);
        for (size_t i = 0; i < nlocs; i++)
            p = ss_put_varint(p, loc_ids[i]);
    }
    p = ss_put_len_header(p, SAMPLE_VALUE, values_size);
    for (size_t c = 0; c < ncols; c++)
        p = ss_put_varint(p, (uint64_t)values[c]);
    for (size_t i = 0; i < nlabels; i++) {
        p = ss_put_len_header(p, SAMPLE_LABEL, label_body_size(&labels[i]));
        p = ss_put_uint_field(p, LABEL_KEY, (uint64_t)labels[i].key);
        p = ss_put_uint_field(p, labels[i].field, labels[i].value);
    }
    raw->len = (size_t)(p - raw->data);
    return 0;
}

/* Every Location {id, line {function_id, line}}, by id. */
static int put_locations(ss_bytes *raw, const encoder_tables *t)
{
    for (size_t i = 0; i < t->nlocations; i++) {
        if (ss_bytes_reserve(raw, 64))
            return -1;
        uint64_t fid = t->location_list[i] >> 32;
        /* Lines are int32 in the stack and int64 in pprof: sign-extend. */
        uint64_t line = (uint64_t)(int64_t)(int32_t)(uint32_t)t->location_list[i];
        size_t line_body = ss_uint_field_size(fid) + ss_uint_field_size(line);
        size_t body = ss_uint_field_size(i + 1) + 1 + ss_varint_size(line_body) + line_body;
        unsigned char *p = ss_put_len_header(raw->data + raw->len, PROFILE_LOCATION, body);
        p = ss_put_uint_field(p, LOCATION_ID, i + 1);
        p = ss_put_len_header(p, LOCATION_LINE, line_body);
        p = ss_put_uint_field(p, LINE_FUNCTION_ID, fid);
        p = ss_put_uint_field(p, LINE_LINE, line);
        raw->len = (size_t)(p - raw->data);
    }
    return 0;
}

/* Every Function {id, name, filename, start_line}, by id. No system_name:
 * pprof demangles it and names `<module>`, `<main>` and "block (2 levels)
 * in <main>" all `<unknown>` (then merges them). */
static int put_functions(ss_bytes *raw, encoder_tables *t)
{
    for (size_t i = 0; i < t->nfunctions; i++) {
        if (ss_bytes_reserve(raw, 64))
            return -1;
        ss_function_info info = ss_function_at(t->function_ids[i]);
        uint64_t name = (uint64_t)string_ref(t, info.name);
        uint64_t filename = (uint64_t)string_ref(t, info.filename);
        uint64_t start = (uint64_t)(int64_t)info.start_line;
        size_t body = ss_uint_field_size(i + 1) + ss_uint_field_size(name) +
                      ss_uint_field_size(filename) + ss_uint_field_size(start);
        unsigned char *p = ss_put_len_header(raw->data + raw->len, PROFILE_FUNCTION, body);
        p = ss_put_uint_field(p, FUNCTION_ID, i + 1);
        p = ss_put_uint_field(p, FUNCTION_NAME, name);
        p = ss_put_uint_field(p, FUNCTION_FILENAME, filename);
        p = ss_put_uint_field(p, FUNCTION_START_LINE, start);
        raw->len = (size_t)(p - raw->data);
    }
    return 0;
}

static int put_strings(ss_bytes *raw, const encoder_tables *t)
{
    for (size_t i = 0; i < t->nstrings; i++) {
        size_t len = strlen(t->strings[i]);
        if (ss_bytes_reserve(raw, 11 + len))
            return -1;
        unsigned char *p = ss_put_len_header(raw->data + raw->len, PROFILE_STRING_TABLE, len);
        memcpy(p, t->strings[i], len);
        raw->len = (size_t)(p + len - raw->data);
    }
    return 0;
}

/* The Profile's scalar fields. */
static int put_scalars(ss_bytes *raw, uint64_t time_nanos, uint64_t duration_nanos, uint64_t period,
                       uint64_t default_sample_type)
{
    if (ss_bytes_reserve(raw, 4 * 11))
        return -1;
    unsigned char *p = raw->data + raw->len;
    p = ss_put_uint_field(p, PROFILE_TIME_NANOS, time_nanos);
    p = ss_put_uint_field(p, PROFILE_DURATION_NANOS, duration_nanos);
    p = ss_put_uint_field(p, PROFILE_PERIOD, period);
    p = ss_put_uint_field(p, PROFILE_DEFAULT_SAMPLE_TYPE, default_sample_type);
    raw->len = (size_t)(p - raw->data);
    return 0;
}

int ss_pprof_encode(const ss_profile_buffer *buf, ss_value_mask mask, int64_t period_ns,
                    ss_bytes *out, ss_encode_stats *stats)
{
    int64_t t0 = ss_self_cpu_ns();
    int rc = -1;
    encoder_tables t;
    ss_bytes raw = {0};
    uint64_t *loc_ids = NULL;
    size_t loc_ids_bytes = 0, nsamples = 0;

    if (tables_init(&t) != 0)
        goto done;
    /* Rough size: ~130 bytes a row at 17 frames; reserved up front so the
     * buffer grows by doubling a few times at most. */
    if (ss_bytes_reserve(&raw, 4096 + (size_t)buf->nrows * 64 + (size_t)buf->nframes * 2))
        goto done;

    size_t ncols = 0;
    int cols[SS_VALUE_KINDS];
    for (int k = 0; k < SS_VALUE_KINDS; k++) {
        if (!(mask & SS_MASK(k)))
            continue;
        int64_t type = add_literal(&t, value_types[k][0]), unit = add_literal(&t, value_types[k][1]);
        if (type < 0 || unit < 0 || put_value_type(&raw, PROFILE_SAMPLE_TYPE, type, unit))
            goto done;
        cols[ncols++] = k;
    }
    int64_t label_keys[LABEL_KEYS] = {
        add_literal(&t, "thread id"), add_literal(&t, "thread native id"),
        add_literal(&t, "thread name"), add_literal(&t, "exception type"),
        add_literal(&t, "lock name"), add_literal(&t, "class name"),
        add_literal(&t, "task name"), add_literal(&t, "exception message"),
    };

    uint32_t max_frames = 1;
    for (size_t r = 0; r < buf->nrows; r++)
        if (buf->rows[r].nframes > max_frames)
            max_frames = buf->rows[r].nframes;
    loc_ids_bytes = (size_t)max_frames * sizeof *loc_ids;
    loc_ids = ss_big_alloc(loc_ids_bytes);
    if (!loc_ids)
        goto done;

    for (size_t r = 0; r < buf->nrows; r++) {
        const ss_sample_row *row = &buf->rows[r];
        int64_t values[SS_VALUE_KINDS];
        int any = 0;
        for (size_t c = 0; c < ncols; c++) {
            values[c] = row->values[cols[c]];
            any |= values[c] != 0;
        }
        if (!any)
            continue;
        size_t nlocs = 0;
        for (uint32_t f = 0; f < row->nframes; f++) {
            uint64_t id = location_ref(&t, buf->frames[row->frames_offset + f]);
            if (id)
                loc_ids[nlocs++] = id;
        }
        row_label labels[LABEL_KEYS];
        size_t nlabels = row_labels(&t, &row->labels, label_keys, labels);
        if (put_sample(&raw, loc_ids, nlocs, values, ncols, labels, nlabels))
            goto done;
        nsamples++;
    }

    int64_t period_type = add_literal(&t, "wall-time"), period_unit = add_literal(&t, "nanoseconds");
    int64_t default_type = (mask & SS_MASK(SS_CPU_TIME)) ? add_literal(&t, "cpu-time") : 0;
    uint64_t duration = buf->end_ns > buf->start_ns ? (uint64_t)(buf->end_ns - buf->start_ns) : 0;
    if (period_type < 0 || period_unit < 0 || default_type < 0 || put_locations(&raw, &t) ||
        put_functions(&raw, &t) ||
        put_value_type(&raw, PROFILE_PERIOD_TYPE, period_type, period_unit) ||
        put_scalars(&raw, (uint64_t)buf->start_ns, duration, (uint64_t)period_ns, (uint64_t)default_type) ||
        put_strings(&raw, &t))   /* last: put_functions adds the function names */
        goto done;

    out->len = 0;
    if (ss_gzip(raw.data, raw.len, out) != 0)
        goto done;
    if (stats) {
        stats->samples = (uint32_t)nsamples;
        stats->locations = (uint32_t)t.nlocations;
        stats->functions = (uint32_t)t.nfunctions;
        stats->strings = (uint32_t)t.nstrings;
        stats->raw_bytes = raw.len;
        stats->gzip_bytes = out->len;
    }
    rc = 0;
done:
    if (rc != 0)
        ss_log_once(SS_LOG_WARNING, "encode", "stacksight: could not encode a profile (out of memory); this period is lost");
    ss_bytes_free(&raw);
    ss_big_free(loc_ids, loc_ids_bytes);
    tables_free(&t);
    if (stats)
        stats->encode_ns = ss_self_cpu_ns() - t0;
    return rc;
}
