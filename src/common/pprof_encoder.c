/* pprof_encoder.c - aggregator buffer -> perftools.profiles.Profile -> gzip.
 *
 * The interner's ids are process-wide and sparse for one period, so every
 * profile gets its own dense tables: string index, function id and location
 * id are assigned on first use while walking the rows. A location is one
 * (function, line) pair; the pprof format lets a location carry an address
 * too, which interpreted code does not have. */
#include "pprof_encoder.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "big_alloc.h"
#include "interner.h"
#include "log.h"
#include "profile.pb-c.h"
#include "thread_clock.h"

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Label Label;
typedef Perftools__Profiles__ValueType ValueType;

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

int ss_bytes_append(ss_bytes *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *p = ss_big_realloc(b->data, b->cap, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int ss_gzip(const void *data, size_t len, ss_bytes *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* Level 1: the encode budget is 20 ms per period on the upload thread;
     * level 6 costs ~3x the CPU for ~15 % smaller uploads. */
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t bound = deflateBound(&zs, (uLong)len);
    if (out->cap - out->len < bound) {
        unsigned char *p = ss_big_realloc(out->data, out->cap, out->len + bound);
        if (!p) {
            deflateEnd(&zs);
            return -1;
        }
        out->data = p;
        out->cap = out->len + bound;
    }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)(out->cap - out->len);
    int rc = deflate(&zs, Z_FINISH);
    if (rc == Z_STREAM_END)
        out->len += zs.total_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? 0 : -1;
}

#define LABEL_KEYS 8   /* label kinds of ss_labels */

/* Per-profile dense numbering of interner ids. Functions and locations are
 * first collected as compact keys in growable arrays (a profile has far fewer
 * distinct locations than stored frames) and turned into protobuf-c structs
 * of the exact count once the samples are done (finish_tables). */
typedef struct encoder_tables {
    uint32_t *string_index;     /* interner string id -> pprof index + 1, 0 = unassigned */
    uint32_t nstrings_interned;
    char **strings;             /* pprof string_table */
    size_t nstrings, strings_cap;

    uint32_t *function_index;   /* interner function id -> pprof id (1-based), 0 = unassigned */
    uint32_t nfunctions_interned;
    uint32_t *function_ids;     /* pprof id - 1 -> interner function id */
    size_t nfunctions, functions_cap;
    Function *functions;        /* built by finish_tables */
    Function **function_ptrs;

    /* (pprof function id << 32 | line) -> location id, open addressing, key 0 = empty */
    uint64_t *location_keys;
    uint32_t *location_ids;
    size_t location_slots;      /* power of two, kept at most half full */
    uint64_t *location_list;    /* location id - 1 -> key */
    size_t nlocations, locations_cap;
    Location *locations;        /* built by finish_tables */
    Location **location_ptrs;
    Line *lines;
    Line **line_ptrs;
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
    t->strings[t->nstrings] = (char *)s;
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

/* Build the Function, Location and Line messages, exactly as many as used. */
static int finish_tables(encoder_tables *t)
{
    size_t nf = t->nfunctions + 1, nl = t->nlocations + 1;
    t->functions = ss_big_alloc(nf * sizeof *t->functions);
    t->function_ptrs = ss_big_alloc(nf * sizeof *t->function_ptrs);
    t->locations = ss_big_alloc(nl * sizeof *t->locations);
    t->location_ptrs = ss_big_alloc(nl * sizeof *t->location_ptrs);
    t->lines = ss_big_alloc(nl * sizeof *t->lines);
    t->line_ptrs = ss_big_alloc(nl * sizeof *t->line_ptrs);
    if (!t->functions || !t->function_ptrs || !t->locations || !t->location_ptrs || !t->lines ||
        !t->line_ptrs)
        return -1;
    for (size_t i = 0; i < t->nfunctions; i++) {
        ss_function_info info = ss_function_at(t->function_ids[i]);
        Function *f = &t->functions[i];
        perftools__profiles__function__init(f);
        f->id = i + 1;
        f->name = string_ref(t, info.name);
        /* No system_name: pprof demangles it and names `<module>`, `<main>`
         * and "block (2 levels) in <main>" all `<unknown>` (then merges them). */
        f->filename = string_ref(t, info.filename);
        f->start_line = info.start_line;
        t->function_ptrs[i] = f;
    }
    for (size_t i = 0; i < t->nlocations; i++) {
        Line *line = &t->lines[i];
        perftools__profiles__line__init(line);
        line->function_id = t->location_list[i] >> 32;
        line->line = (int32_t)(uint32_t)t->location_list[i];
        t->line_ptrs[i] = line;
        Location *loc = &t->locations[i];
        perftools__profiles__location__init(loc);
        loc->id = i + 1;
        loc->n_line = 1;
        loc->line = &t->line_ptrs[i];
        t->location_ptrs[i] = loc;
    }
    return 0;
}

static void tables_free(encoder_tables *t)
{
    size_t nf = t->nfunctions + 1, nl = t->nlocations + 1;
    ss_big_free(t->string_index, (t->nstrings_interned + 1) * sizeof *t->string_index);
    ss_big_free(t->strings, t->strings_cap * sizeof *t->strings);
    ss_big_free(t->function_index, (t->nfunctions_interned + 1) * sizeof *t->function_index);
    ss_big_free(t->function_ids, t->functions_cap * sizeof *t->function_ids);
    ss_big_free(t->functions, nf * sizeof *t->functions);
    ss_big_free(t->function_ptrs, nf * sizeof *t->function_ptrs);
    ss_big_free(t->location_keys, t->location_slots * sizeof *t->location_keys);
    ss_big_free(t->location_ids, t->location_slots * sizeof *t->location_ids);
    ss_big_free(t->location_list, t->locations_cap * sizeof *t->location_list);
    ss_big_free(t->locations, nl * sizeof *t->locations);
    ss_big_free(t->location_ptrs, nl * sizeof *t->location_ptrs);
    ss_big_free(t->lines, nl * sizeof *t->lines);
    ss_big_free(t->line_ptrs, nl * sizeof *t->line_ptrs);
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

/* Number of labels build_labels writes for `l`. */
static size_t count_labels(const ss_labels *l)
{
    return (l->thread_id != 0) + (l->native_thread_id != 0) + (l->thread_name != 0) +
           (l->exception_type != 0) + (l->lock_name != 0) + (l->class_name != 0) +
           (l->task_name != 0) + (l->exception_message != 0);
}

/* Labels of one row; returns how many were written into `out` (max LABEL_KEYS). */
static size_t build_labels(encoder_tables *t, const ss_labels *l, Label *out, int64_t keys[LABEL_KEYS])
{
    size_t n = 0;
#define NUM_LABEL(field, k) \
    if (l->field) { perftools__profiles__label__init(&out[n]); out[n].key = k; out[n].num = l->field; n++; }
#define STR_LABEL(field, k) \
    if (l->field) { perftools__profiles__label__init(&out[n]); out[n].key = k; out[n].str = string_ref(t, l->field); n++; }
    NUM_LABEL(thread_id, keys[0])
    NUM_LABEL(native_thread_id, keys[1])
    STR_LABEL(thread_name, keys[2])
    STR_LABEL(exception_type, keys[3])
    STR_LABEL(lock_name, keys[4])
    STR_LABEL(class_name, keys[5])
    STR_LABEL(task_name, keys[6])
    STR_LABEL(exception_message, keys[7])
#undef NUM_LABEL
#undef STR_LABEL
    return n;
}

int ss_pprof_encode(const ss_profile_buffer *buf, ss_value_mask mask, int64_t period_ns,
                    ss_bytes *out, ss_encode_stats *stats)
{
    int64_t t0 = ss_self_cpu_ns();
    int rc = -1;
    encoder_tables t;
    Sample *samples = NULL;
    Sample **sample_ptrs = NULL;
    uint64_t *location_ids = NULL;
    int64_t *values = NULL;
    Label *labels = NULL;
    Label **label_ptrs = NULL;
    ValueType vtypes[SS_VALUE_KINDS];
    ValueType *vtype_ptrs[SS_VALUE_KINDS];
    ValueType period_type;
    uint8_t *packed = NULL;
    size_t samples_bytes = 0, sample_ptrs_bytes = 0, location_ids_bytes = 0, values_bytes = 0,
           labels_bytes = 0, label_ptrs_bytes = 0, packed_bytes = 0;

    if (tables_init(&t) != 0)
        goto done;

    size_t ncols = 0;
    int cols[SS_VALUE_KINDS];
    for (int k = 0; k < SS_VALUE_KINDS; k++) {
        if (!(mask & SS_MASK(k)))
            continue;
        perftools__profiles__value_type__init(&vtypes[ncols]);
        vtypes[ncols].type = add_literal(&t, value_types[k][0]);
        vtypes[ncols].unit = add_literal(&t, value_types[k][1]);
        vtype_ptrs[ncols] = &vtypes[ncols];
        cols[ncols++] = k;
    }
    int64_t label_keys[LABEL_KEYS] = {
        add_literal(&t, "thread id"), add_literal(&t, "thread native id"),
        add_literal(&t, "thread name"), add_literal(&t, "exception type"),
        add_literal(&t, "lock name"), add_literal(&t, "class name"),
        add_literal(&t, "task name"), add_literal(&t, "exception message"),
    };

    size_t nrows = buf->nrows;
    samples_bytes = (nrows + 1) * sizeof *samples;
    sample_ptrs_bytes = (nrows + 1) * sizeof *sample_ptrs;
    location_ids_bytes = ((size_t)buf->nframes + 1) * sizeof *location_ids;
    values_bytes = (nrows + 1) * (ncols + 1) * sizeof *values;
    /* Labels: exactly as many as the rows carry (most carry three). */
    size_t nlabels_total = 1;
    for (size_t r = 0; r < nrows; r++)
        nlabels_total += count_labels(&buf->rows[r].labels);
    labels_bytes = nlabels_total * sizeof *labels;
    label_ptrs_bytes = nlabels_total * sizeof *label_ptrs;
    samples = ss_big_alloc(samples_bytes);
    sample_ptrs = ss_big_alloc(sample_ptrs_bytes);
    location_ids = ss_big_alloc(location_ids_bytes);
    values = ss_big_alloc(values_bytes);
    labels = ss_big_alloc(labels_bytes);
    label_ptrs = ss_big_alloc(label_ptrs_bytes);
    if (!samples || !sample_ptrs || !location_ids || !values || !labels || !label_ptrs)
        goto done;

    size_t nsamples = 0, nlocs_used = 0, nlabels_used = 0;
    for (size_t r = 0; r < nrows; r++) {
        const ss_sample_row *row = &buf->rows[r];
        int any = 0;
        for (size_t c = 0; c < ncols; c++)
            any |= row->values[cols[c]] != 0;
        if (!any)
            continue;
        Sample *s = &samples[nsamples];
        perftools__profiles__sample__init(s);
        s->location_id = &location_ids[nlocs_used];
        for (uint32_t f = 0; f < row->nframes; f++) {
            uint64_t id = location_ref(&t, buf->frames[row->frames_offset + f]);
            if (id)
                location_ids[nlocs_used + s->n_location_id++] = id;
        }
        nlocs_used += s->n_location_id;
        s->value = &values[nsamples * ncols];
        s->n_value = ncols;
        for (size_t c = 0; c < ncols; c++)
            s->value[c] = row->values[cols[c]];
        Label *lab = &labels[nlabels_used];
        s->n_label = build_labels(&t, &row->labels, lab, label_keys);
        s->label = &label_ptrs[nlabels_used];
        for (size_t i = 0; i < s->n_label; i++)
            s->label[i] = &lab[i];
        nlabels_used += s->n_label;
        sample_ptrs[nsamples++] = s;
    }

    if (finish_tables(&t) != 0)
        goto done;
    Profile profile;
    perftools__profiles__profile__init(&profile);
    profile.n_sample_type = ncols;
    profile.sample_type = vtype_ptrs;
    profile.n_sample = nsamples;
    profile.sample = sample_ptrs;
    profile.n_location = t.nlocations;
    profile.location = t.location_ptrs;
    profile.n_function = t.nfunctions;
    profile.function = t.function_ptrs;
    profile.time_nanos = buf->start_ns;
    profile.duration_nanos = buf->end_ns > buf->start_ns ? buf->end_ns - buf->start_ns : 0;
    perftools__profiles__value_type__init(&period_type);
    period_type.type = add_literal(&t, "wall-time");
    period_type.unit = add_literal(&t, "nanoseconds");
    profile.period_type = &period_type;
    profile.period = period_ns;
    if (mask & SS_MASK(SS_CPU_TIME))
        profile.default_sample_type = add_literal(&t, "cpu-time");
    profile.n_string_table = t.nstrings;
    profile.string_table = t.strings;

    size_t raw = perftools__profiles__profile__get_packed_size(&profile);
    packed_bytes = raw ? raw : 1;
    packed = ss_big_alloc(packed_bytes);
    if (!packed)
        goto done;
    perftools__profiles__profile__pack(&profile, packed);
    out->len = 0;
    if (ss_gzip(packed, raw, out) != 0)
        goto done;
    if (stats) {
        stats->samples = (uint32_t)nsamples;
        stats->locations = (uint32_t)t.nlocations;
        stats->functions = (uint32_t)t.nfunctions;
        stats->strings = (uint32_t)t.nstrings;
        stats->raw_bytes = raw;
        stats->gzip_bytes = out->len;
    }
    rc = 0;
done:
    if (rc != 0)
        ss_log_once(SS_LOG_WARNING, "encode", "stacksight: could not encode a profile (out of memory); this period is lost");
    ss_big_free(packed, packed_bytes);
    ss_big_free(samples, samples_bytes);
    ss_big_free(sample_ptrs, sample_ptrs_bytes);
    ss_big_free(location_ids, location_ids_bytes);
    ss_big_free(values, values_bytes);
    ss_big_free(labels, labels_bytes);
    ss_big_free(label_ptrs, label_ptrs_bytes);
    tables_free(&t);
    if (stats)
        stats->encode_ns = ss_self_cpu_ns() - t0;
    return rc;
}
