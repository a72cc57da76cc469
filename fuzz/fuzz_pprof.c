/* fuzz_pprof.c - libFuzzer target: random aggregator contents -> pprof -> decode.
 *
 * A profile the backend rejects is a silent total loss, and an encoder bug on
 * odd input (empty stacks, huge lines, interner overflow, rows whose values
 * are all zero) would crash the upload thread of a production process. The
 * input is a little program that interns strings and functions and adds rows
 * to a buffer; the buffer is encoded, gunzipped, unpacked with protobuf-c's
 * generic decoder (independent of the encoder's packing), and checked:
 * string_table[0] == "", ids non-zero and unique, every reference resolves,
 * every sample has one value per sample type, stacks and values round-trip. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "aggregator.h"
#include "interner.h"
#include "log.h"
#include "pprof_encoder.h"
#include "profile.pb-c.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint32_t take(reader *r, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | (r->n ? *r->p : 0);
        if (r->n) {
            r->p++;
            r->n--;
        }
    }
    return v;
}

static int gunzip(const ss_bytes *in, unsigned char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return -1;
    size_t cap = in->len * 4 + 1024, len = 0;
    unsigned char *buf = malloc(cap);
    zs.next_in = in->data;
    zs.avail_in = (uInt)in->len;
    int rc;
    do {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        zs.next_out = buf + len;
        zs.avail_out = (uInt)(cap - len);
        rc = inflate(&zs, Z_NO_FLUSH);
        len = cap - zs.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static ss_aggregator agg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        ss_aggregator_init(&agg, 1);
        ready = 1;
    }
    ss_profile_buffer *buf = agg.active;
    ss_buffer_clear(buf);
    buf->start_ns = 1700000000000000000LL;
    buf->end_ns = buf->start_ns + 60000000000LL;

    reader r = {data, size};
    ss_value_mask mask = (take(&r, 2) & ((1u << SS_VALUE_KINDS) - 1)) | SS_MASK(SS_WALL_TIME);
    uint32_t strings[64] = {0}, functions[64];
    int nstrings = 1, nfunctions = 0;
    int64_t expect[SS_VALUE_KINDS] = {0};
    ss_frame frames[300];

    while (r.n > 0) {
        uint32_t op = take(&r, 1) % 4;
        if (op == 0 && nstrings < 64) {
            uint32_t len = take(&r, 1);
            if (len == 255)
                len = 70000;   /* longer than the interner keeps */
            char *s = malloc(len + 1);
            for (uint32_t i = 0; i < len; i++)
                s[i] = (char)take(&r, 1);
            s[len] = '\0';
            strings[nstrings++] = ss_intern_string(s, len);
            free(s);
        } else if (op == 1 && nfunctions < 64) {
            uint32_t name = strings[take(&r, 1) % (uint32_t)nstrings];
            uint32_t file = strings[take(&r, 1) % (uint32_t)nstrings];
            functions[nfunctions++] = ss_intern_function(name, file, (int32_t)take(&r, 4));
        } else if (op == 2 && nfunctions > 0) {
            uint32_t nf = take(&r, 2) % 300;
            for (uint32_t i = 0; i < nf; i++) {
                frames[i].function = functions[take(&r, 1) % (uint32_t)nfunctions];
                frames[i].line = (int32_t)take(&r, 2) - 100;
            }
            ss_labels labels;
            memset(&labels, 0, sizeof labels);
            uint32_t which = take(&r, 1);
            if (which & 1)
                labels.thread_id = (int64_t)take(&r, 4) - 7;
            if (which & 2)
                labels.native_thread_id = take(&r, 2);
            if (which & 4)
                labels.thread_name = strings[take(&r, 1) % (uint32_t)nstrings];
            if (which & 8)
                labels.exception_type = strings[take(&r, 1) % (uint32_t)nstrings];
            if (which & 16)
                labels.lock_name = strings[take(&r, 1) % (uint32_t)nstrings];
            int64_t values[SS_VALUE_KINDS] = {0};
            uint32_t cols = take(&r, 2);
            for (int k = 0; k < SS_VALUE_KINDS; k++)
                if (cols & (1u << k))
                    values[k] = (int64_t)take(&r, 3) - 1000;
            uint32_t repeat = 1 + take(&r, 1) % 4;
            for (uint32_t i = 0; i < repeat; i++)
                ss_buffer_add(buf, frames, nf, &labels, values);
            for (int k = 0; k < SS_VALUE_KINDS; k++)
                expect[k] += values[k] * repeat;
        } else if (op == 3) {
            /* a function id nobody interned (stale id from a torn read) */
            frames[0].function = 0xfffffff0u;
            frames[0].line = 1;
            int64_t values[SS_VALUE_KINDS] = {0};
            ss_buffer_add(buf, frames, 1, &(ss_labels){0}, values);
        }
    }

    ss_bytes out = {0};
    ss_encode_stats st;
    CHECK(ss_pprof_encode(buf, mask, 10000000, &out, &st) == 0);
    unsigned char *raw;
    size_t rawlen;
    CHECK(gunzip(&out, &raw, &rawlen) == 0);
    CHECK(rawlen == st.raw_bytes);
    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, rawlen, raw);
    CHECK(p != NULL);

    /* string table */
    CHECK(p->n_string_table >= 1 && p->string_table[0][0] == '\0');
#define STR_OK(i) ((i) >= 0 && (size_t)(i) < p->n_string_table)
    size_t ncols = 0;
    int cols[SS_VALUE_KINDS];
    for (int k = 0; k < SS_VALUE_KINDS; k++)
        if (mask & SS_MASK(k))
            cols[ncols++] = k;
    CHECK(p->n_sample_type == ncols);
    for (size_t c = 0; c < ncols; c++) {
        CHECK(STR_OK(p->sample_type[c]->type) && STR_OK(p->sample_type[c]->unit));
        CHECK(!strcmp(p->string_table[p->sample_type[c]->type], ss_value_type_name(cols[c])));
    }
    CHECK(p->period_type && STR_OK(p->period_type->type));
    CHECK(STR_OK(p->default_sample_type));

    /* ids: non-zero, unique (dense 1..n as the encoder promises) */
    for (size_t i = 0; i < p->n_function; i++) {
        CHECK(p->function[i]->id == i + 1);
        CHECK(STR_OK(p->function[i]->name) && STR_OK(p->function[i]->filename) &&
              STR_OK(p->function[i]->system_name));
    }
    for (size_t i = 0; i < p->n_location; i++) {
        Perftools__Profiles__Location *loc = p->location[i];
        CHECK(loc->id == i + 1);
        CHECK(loc->n_line == 1);
        CHECK(loc->line[0]->function_id >= 1 && loc->line[0]->function_id <= p->n_function);
    }

    /* samples: one value per type, resolvable locations and labels, and the
     * same rows in the same order as the buffer (rows whose selected values
     * are all zero are skipped) */
    int64_t total[SS_VALUE_KINDS] = {0};
    size_t s = 0;
    for (uint32_t row = 0; row < buf->nrows; row++) {
        const ss_sample_row *rw = &buf->rows[row];
        int any = 0;
        for (size_t c = 0; c < ncols; c++)
            any |= rw->values[cols[c]] != 0;
        if (!any)
            continue;
        CHECK(s < p->n_sample);
        Perftools__Profiles__Sample *sm = p->sample[s++];
        CHECK(sm->n_value == ncols);
        for (size_t c = 0; c < ncols; c++) {
            CHECK(sm->value[c] == rw->values[cols[c]]);
            total[cols[c]] += sm->value[c];
        }
        uint32_t known = 0;
        for (uint32_t f = 0; f < rw->nframes; f++) {
            ss_frame fr = buf->frames[rw->frames_offset + f];
            if (fr.function >= ss_function_count())
                continue;   /* unknown ids are left out of the stack */
            CHECK(known < sm->n_location_id);
            uint64_t lid = sm->location_id[known++];
            CHECK(lid >= 1 && lid <= p->n_location);
            Perftools__Profiles__Line *ln = p->location[lid - 1]->line[0];
            CHECK(ln->line == fr.line);
            ss_function_info info = ss_function_at(fr.function);
            const char *want = ss_string_at(info.name, NULL);
            CHECK(!strcmp(p->string_table[p->function[ln->function_id - 1]->name], want));
        }
        CHECK(known == sm->n_location_id);
        for (size_t l = 0; l < sm->n_label; l++) {
            Perftools__Profiles__Label *lab = sm->label[l];
            CHECK(STR_OK(lab->key) && lab->key != 0 && STR_OK(lab->str));
            CHECK(!(lab->str && lab->num));
        }
    }
    CHECK(s == p->n_sample);
    if (buf->dropped == 0)
        for (size_t c = 0; c < ncols; c++)
            CHECK(total[cols[c]] == expect[cols[c]]);

    perftools__profiles__profile__free_unpacked(p, NULL);
    free(raw);
    ss_bytes_free(&out);
    char text[512];
    while (ss_log_pop(text, sizeof text) >= 0)
        ;
    return 0;
}
