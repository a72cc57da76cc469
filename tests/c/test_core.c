/* test_core.c - unit tests of the shared core, without any interpreter.
 *
 * Covers the parsers (config, tags, URLs), the interner, the aggregator's
 * merging and caps, the encoder's pprof invariants, event.json, safe reads
 * of unmapped memory and the per-thread CPU clock. Run by `make test`, and
 * under ASan/UBSan and valgrind by `make test-asan` / `make test-valgrind`. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "aggregator.h"
#include "config.h"
#include "core.h"
#include "exporter.h"
#include "idle_stacks.h"
#include "interner.h"
#include "log.h"
#include "pprof_encoder.h"
#include "profile.pb-c.h"
#include "safe_read.h"
#include "sampling_intervals.h"
#include "thread_clock.h"

static int failures;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static int drain_warnings(const char *must_contain)
{
    char text[512];
    int n = 0, found = must_contain == NULL;
    while (ss_log_pop(text, sizeof text) >= 0) {
        n++;
        if (must_contain && strstr(text, must_contain))
            found = 1;
    }
    CHECK(found);
    return n;
}

static void test_parsers(void)
{
    int b;
    int64_t i;
    double d;
    CHECK(ss_parse_bool("TRUE", &b) == 0 && b == 1);
    CHECK(ss_parse_bool(" off ", &b) == 0 && b == 0);
    CHECK(ss_parse_bool("maybe", &b) != 0);
    CHECK(ss_parse_bool("", &b) != 0);
    CHECK(ss_parse_int64("65535", 1, 65535, &i) == 0 && i == 65535);
    CHECK(ss_parse_int64("99999", 1, 65535, &i) != 0);
    CHECK(ss_parse_int64("12x", 0, 100, &i) != 0);
    CHECK(ss_parse_int64("99999999999999999999999", 0, INT64_MAX, &i) != 0);
    CHECK(ss_parse_double("nan", 0, 1, &d) != 0);
    CHECK(ss_parse_seconds_ns("0.5", &i) == 0 && i == 500000000);
    CHECK(ss_parse_seconds_ns("abc", &i) != 0);
    CHECK(ss_parse_seconds_ns("-1", &i) != 0);

    char url[SS_STR_MAX];
    const char *why;
    CHECK(ss_parse_agent_url("http://agent:8126/", url, sizeof url, &why) == 0 && !strcmp(url, "http://agent:8126"));
    CHECK(ss_parse_agent_url("unix:///var/run/datadog/apm.socket", url, sizeof url, &why) == 0);
    CHECK(ss_parse_agent_url("unix://relative", url, sizeof url, &why) != 0);
    CHECK(ss_parse_agent_url("ftp://x", url, sizeof url, &why) != 0);
    CHECK(ss_parse_agent_url("http://x:0", url, sizeof url, &why) != 0);
    CHECK(ss_parse_agent_url("http://:80", url, sizeof url, &why) != 0);
    CHECK(ss_parse_agent_url("http://[::1]:8126", url, sizeof url, &why) == 0);
}

static void test_tags_and_env(void)
{
    ss_config cfg;
    ss_config_init(&cfg, SS_LANG_PYTHON);
    CHECK(ss_config_parse_tags(&cfg, ",,:x,team:intake, a : b ,novalue", "DD_TAGS") == 2);
    CHECK(cfg.ntags == 2 && !strcmp(cfg.tags[0].key, "team") && !strcmp(cfg.tags[1].value, "b"));
    CHECK(drain_warnings("novalue") == 2);
    CHECK(ss_config_parse_tags(&cfg, "k1:v1 k2:v2", "DD_TAGS") == 2 && cfg.ntags == 4);
    CHECK(ss_config_add_tag(&cfg, "team", "other") == NULL && cfg.ntags == 4);
    CHECK(ss_config_add_tag(&cfg, "", "x") != NULL);
    CHECK(ss_config_add_tag(&cfg, "k", "a,b") != NULL);

    setenv("DD_PROFILING_UPLOAD_INTERVAL", "abc", 1);
    setenv("DD_TRACE_AGENT_PORT", "99999", 1);
    setenv("DD_SERVICE", "svc", 1);
    ss_config_init(&cfg, SS_LANG_PYTHON);
    ss_config_load_env(&cfg);
    CHECK(cfg.upload_period_ns == 60LL * 1000000000);
    CHECK(!strcmp(cfg.agent_url, "http://localhost:8126"));
    CHECK(!strcmp(cfg.service, "svc"));
    CHECK(drain_warnings("DD_PROFILING_UPLOAD_INTERVAL=abc") == 2);
    unsetenv("DD_PROFILING_UPLOAD_INTERVAL");
    unsetenv("DD_TRACE_AGENT_PORT");
    unsetenv("DD_SERVICE");
    setenv("DD_PROFILING_UPLOAD_PERIOD", "2", 1);
    ss_config_init(&cfg, SS_LANG_RUBY);
    ss_config_load_env(&cfg);
    CHECK(cfg.upload_period_ns == 2000000000LL && cfg.max_frames == 400);
    unsetenv("DD_PROFILING_UPLOAD_PERIOD");
}

static void test_interner(void)
{
    uint32_t a = ss_intern_cstr("alpha"), b = ss_intern_cstr("beta");
    CHECK(a != b && a == ss_intern_cstr("alpha"));
    CHECK(ss_intern_cstr("") == SS_STRING_NONE);
    size_t len;
    CHECK(!strcmp(ss_string_at(a, &len), "alpha") && len == 5);
    uint32_t f = ss_intern_function(a, b, 10);
    CHECK(f == ss_intern_function(a, b, 10) && f != ss_intern_function(a, b, 11));
    ss_function_info info = ss_function_at(f);
    CHECK(info.name == a && info.filename == b && info.start_line == 10);
    CHECK(ss_string_at(0xFFFFFFF0u, &len)[0] == '\0');
}

static void test_aggregator(void)
{
    ss_aggregator agg;
    ss_aggregator_init(&agg, 1000);
    ss_frame stack[3] = {{ss_intern_function(ss_intern_cstr("leaf"), 0, 1), 5},
                         {ss_intern_function(ss_intern_cstr("mid"), 0, 1), 6},
                         {ss_intern_function(ss_intern_cstr("root"), 0, 1), 7}};
    ss_labels l = {.thread_id = 1, .native_thread_id = 2, .thread_name = ss_intern_cstr("main")};
    for (int i = 0; i < 10; i++)
        ss_aggregator_add1(&agg, stack, 3, &l, SS_CPU_TIME, 100);
    ss_aggregator_add1(&agg, stack + 1, 2, &l, SS_WALL_TIME, 7);
    ss_labels other = l;
    other.thread_id = 9;
    ss_aggregator_add1(&agg, stack, 3, &other, SS_CPU_TIME, 1);
    ss_profile_buffer *buf = ss_aggregator_swap(&agg, 2000);
    CHECK(buf->nrows == 3 && buf->rows[0].values[SS_CPU_TIME] == 1000);
    CHECK(buf->start_ns == 1000 && buf->end_ns == 2000);
    CHECK(agg.active != buf && agg.active->nrows == 0 && agg.active->start_ns == 2000);

    ss_bytes out = {0};
    ss_encode_stats st;
    CHECK(ss_pprof_encode(buf, SS_MASK_CPU_WALL, 10000000, &out, &st) == 0);
    CHECK(st.samples == 3 && st.locations == 3 && st.functions == 3);
    /* Inflate and unpack with protobuf-c's generic decoder; check invariants. */
    unsigned char *raw = malloc(st.raw_bytes);
    z_stream zs = {0};
    inflateInit2(&zs, 15 + 16);
    zs.next_in = out.data;
    zs.avail_in = (uInt)out.len;
    zs.next_out = raw;
    zs.avail_out = (uInt)st.raw_bytes;
    CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
    inflateEnd(&zs);
    Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, st.raw_bytes, raw);
    CHECK(p != NULL);
    if (p) {
        CHECK(p->n_string_table > 0 && p->string_table[0][0] == '\0');
        CHECK(p->n_sample_type == 4 && p->n_sample == 3);
        CHECK(!strcmp(p->string_table[p->sample_type[1]->type], "cpu-time"));
        CHECK(p->time_nanos == 1000 && p->duration_nanos == 1000 && p->period == 10000000);
        for (size_t i = 0; i < p->n_sample; i++) {
            CHECK(p->sample[i]->n_value == 4);
            for (size_t j = 0; j < p->sample[i]->n_location_id; j++)
                CHECK(p->sample[i]->location_id[j] >= 1 && p->sample[i]->location_id[j] <= p->n_location);
        }
        /* Leaf first: the first location of the first sample is "leaf". */
        uint64_t fid = p->location[p->sample[0]->location_id[0] - 1]->line[0]->function_id;
        CHECK(!strcmp(p->string_table[p->function[fid - 1]->name], "leaf"));
        perftools__profiles__profile__free_unpacked(p, NULL);
    }
    free(raw);
    ss_bytes_free(&out);
    ss_aggregator_release(&agg, buf);

    /* Past the key cap, samples keep their thread and values under one
     * "[other stacks]" row per thread; the table never grows past the cap and
     * the totals stay right. */
    ss_frame f = stack[0];
    const uint32_t extra = 5000, threads = 3;
    int64_t wall_of[4] = {0};
    for (uint32_t i = 0; i < SS_MAX_KEYS_PER_BUFFER + extra; i++) {
        ss_labels t = {.thread_id = 1 + i % threads, .native_thread_id = 100 + i % threads,
                       .exception_type = ss_intern_cstr(i % 2 ? "E1" : "E2")};
        f.line = (int32_t)i;
        ss_aggregator_add1(&agg, &f, 1, &t, SS_WALL_TIME, 1 + (int64_t)(i % 7));
        wall_of[1 + i % threads] += 1 + (int64_t)(i % 7);
    }
    buf = agg.active;
    CHECK(buf->nrows <= SS_MAX_KEYS_PER_BUFFER && buf->dropped == 0);
    CHECK(buf->folded == extra + SS_FOLD_RESERVE_ROWS);
    uint32_t other_rows = 0;
    int64_t got_of[4] = {0};
    for (uint32_t r = 0; r < buf->nrows; r++) {
        const ss_sample_row *row = &buf->rows[r];
        got_of[row->labels.thread_id] += row->values[SS_WALL_TIME];
        ss_function_info fi = ss_function_at(buf->frames[row->frames_offset].function);
        if (!strcmp(ss_string_at(fi.name, NULL), SS_OTHER_STACKS)) {
            other_rows++;
            CHECK(row->nframes == 1 && row->labels.exception_type == 0 && row->labels.native_thread_id >= 100);
        }
    }
    CHECK(other_rows == threads);
    for (uint32_t t = 1; t <= threads; t++)
        CHECK(got_of[t] == wall_of[t]);

    /* More overflowing threads than the reserve holds: one row for all. */
    for (uint32_t i = 0; i < 2 * SS_FOLD_RESERVE_ROWS; i++) {
        ss_labels t = {.thread_id = 1000 + i};
        f.line = -1 - (int32_t)i;
        ss_aggregator_add1(&agg, &f, 1, &t, SS_WALL_TIME, 1);
    }
    CHECK(buf->nrows == SS_MAX_KEYS_PER_BUFFER && buf->dropped == 0);
    int64_t total = 0;
    for (uint32_t r = 0; r < buf->nrows; r++)
        total += buf->rows[r].values[SS_WALL_TIME];
    int64_t want = 2 * SS_FOLD_RESERVE_ROWS;
    for (uint32_t t = 1; t <= threads; t++)
        want += wall_of[t];
    CHECK(total == want);
    ss_aggregator_destroy(&agg);
}

static void test_event_json(void)
{
    ss_config cfg;
    ss_config_init(&cfg, SS_LANG_PYTHON);
    snprintf(cfg.service, sizeof cfg.service, "svc\"quoted");
    ss_config_add_tag(&cfg, "team", "intake");
    ss_bytes gz = {0};
    ss_upload up = {.pprof_gz = &gz, .start_unix_ns = 1700000000123456789LL, .end_unix_ns = 1700000060000000000LL,
                    .seq = 3, .runtime_id = "rid", .pid = 42, .family = "python", .runtime = "CPython",
                    .runtime_version = "3.11.7"};
    char *json = ss_build_event_json(&cfg, &up);
    CHECK(json && strstr(json, "\"start\":\"2023-11-14T22:13:20.123456789Z\""));
    CHECK(json && strstr(json, "service:svc\\\"quoted"));
    CHECK(json && strstr(json, "process_id:42") && strstr(json, "profile_seq:3") && strstr(json, "team:intake"));
    CHECK(json && strstr(json, "\"version\":\"4\"") && strstr(json, "\"family\":\"python\""));
    free(json);
}

static void test_safe_read(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(m, 'x', (size_t)page * 2);
    munmap(m + page, (size_t)page);
    char buf[64];
    CHECK(ss_safe_read(buf, m, sizeof buf) == 0 && buf[0] == 'x');
    CHECK(ss_safe_read(buf, m + page, sizeof buf) != 0);          /* unmapped: an error, not a crash */
    CHECK(ss_safe_read(buf, NULL, sizeof buf) != 0);
    char *big = malloc((size_t)page * 2);
    CHECK(ss_safe_read_partial(big, m + page - 100, (size_t)page) == 100);
    free(big);
    munmap(m, (size_t)page);
    CHECK(ss_safe_read_available());
}

static void test_thread_clock(void)
{
    int64_t before = ss_thread_cpu_ns(ss_gettid());
    volatile double x = 0;
    for (int i = 0; i < 5000000; i++)
        x += i * 0.5;
    CHECK(ss_thread_cpu_ns(ss_gettid()) > before);
    CHECK(ss_thread_cpu_ns(999999999) == -1);
    static ss_cpu_tracker t;
    ss_cpu_tracker_reset(&t);
    ss_cpu_tracker_begin_tick(&t);
    CHECK(ss_cpu_tracker_delta(&t, ss_gettid()) == 0);   /* first sighting */
    for (int i = 0; i < 5000000; i++)
        x += i * 0.5;
    ss_cpu_tracker_end_tick(&t);
    ss_cpu_tracker_begin_tick(&t);
    CHECK(ss_cpu_tracker_delta(&t, ss_gettid()) > 0);
    ss_cpu_tracker_end_tick(&t);
}

static volatile int sleeper_stop;
static volatile pid_t sleeper_tid;

static void *sleeper(void *arg)
{
    (void)arg;
    sleeper_tid = ss_gettid();
    while (!sleeper_stop)
        usleep(200000);
    return NULL;
}

static void test_idle_stacks(void)
{
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    while (!sleeper_tid)
        usleep(1000);
    usleep(20000);   /* let it reach its sleep */
    ss_idle_stacks *c = ss_idle_stacks_new(4);
    ss_frame stack[2] = {{1, 10}, {2, 20}};
    const ss_frame *got;
    CHECK(ss_idle_stacks_unchanged(c, sleeper_tid) == 0);   /* nothing stored yet */
    ss_idle_stacks_store(c, sleeper_tid, stack, 2);
    CHECK(ss_idle_stacks_unchanged(c, sleeper_tid) == 1);   /* it did not run since */
    CHECK(ss_idle_stacks_get(c, sleeper_tid, &got) == 2 && got[1].line == 20);
    /* A thread that runs is read again. */
    CHECK(ss_idle_stacks_unchanged(c, ss_gettid()) == 0);
    ss_idle_stacks_store(c, ss_gettid(), stack, 1);
    volatile double x = 0;
    for (int i = 0; i < 1000000; i++)
        x += i;
    CHECK(ss_idle_stacks_unchanged(c, ss_gettid()) == 0);
    /* Wall charged to an unchanged thread is held back, then sent as one
     * row with the exact totals: every SS_IDLE_FLUSH_TICKS charges, when it
     * is forgotten, and on flush. */
    ss_aggregator agg;
    ss_aggregator_init(&agg, 1000);
    ss_labels lab;
    memset(&lab, 0, sizeof lab);
    lab.native_thread_id = sleeper_tid;
    for (int i = 0; i < SS_IDLE_FLUSH_TICKS - 1; i++)
        CHECK(ss_idle_stacks_charge(c, sleeper_tid, &lab, 10, &agg) == 0);
    CHECK(agg.active->nrows == 0);                          /* held back */
    CHECK(ss_idle_stacks_charge(c, sleeper_tid, &lab, 10, &agg) == 0);
    CHECK(agg.active->nrows == 1 && agg.active->rows[0].values[SS_WALL_SAMPLES] == SS_IDLE_FLUSH_TICKS &&
          agg.active->rows[0].values[SS_WALL_TIME] == 10 * SS_IDLE_FLUSH_TICKS);
    CHECK(ss_idle_stacks_charge(c, sleeper_tid, &lab, 7, &agg) == 0);
    lab.thread_name = 5;                                     /* renamed: new row, old one sent */
    CHECK(ss_idle_stacks_charge(c, sleeper_tid, &lab, 3, &agg) == 0);
    CHECK(agg.active->rows[0].values[SS_WALL_SAMPLES] == SS_IDLE_FLUSH_TICKS + 1 &&
          agg.active->rows[0].values[SS_WALL_TIME] == 10 * SS_IDLE_FLUSH_TICKS + 7);
    ss_idle_stacks_flush(c);
    CHECK(agg.active->nrows == 2 && agg.active->rows[1].values[SS_WALL_TIME] == 3);
    CHECK(ss_idle_stacks_charge(c, 999999, &lab, 3, &agg) == -1);   /* no stored stack */
    CHECK(ss_idle_stacks_charge(c, sleeper_tid, &lab, 4, &agg) == 0);
    ss_idle_stacks_forget(c, sleeper_tid);
    CHECK(agg.active->rows[1].values[SS_WALL_TIME] == 7);
    CHECK(ss_idle_stacks_get(c, sleeper_tid, &got) == 0);
    ss_aggregator_destroy(&agg);
    ss_idle_stacks_free(c);
    sleeper_stop = 1;
    pthread_join(t, NULL);
}

static void test_sampling_intervals(void)
{
    /* Means of many draws match the requested means (unbiased weights). */
    double g = 0, e = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        g += (double)ss_geometric_interval(20.0);
        e += (double)ss_exponential_interval(1000.0);
    }
    CHECK(g / n > 19.5 && g / n < 20.5);
    CHECK(e / n > 985.0 && e / n < 1015.0);
    CHECK(ss_geometric_interval(1.0) == 1 && ss_geometric_interval(0.5) == 1);
    double u = ss_random_unit();
    CHECK(u > 0.0 && u <= 1.0);
}

/* Both compressors (libdeflate when built with it, and the zlib fallback)
 * write a gzip stream zlib inflates back to the input, appended after what
 * the output buffer already holds. */
static void test_gzip(void)
{
    size_t n = 300000;
    unsigned char *in = malloc(n), *back = malloc(n);
    uint32_t x = 1;
    for (size_t i = 0; i < n; i++) {   /* compressible but not constant */
        x = x * 1103515245u + 12345u;
        in[i] = (unsigned char)("pprof"[i % 5] + ((x >> 16) & 3));
    }
    int (*const gz[2])(const void *, size_t, ss_bytes *) = {ss_gzip, ss_gzip_zlib};
    for (int k = 0; k < 2; k++) {
        ss_bytes out = {0};
        CHECK(ss_bytes_append(&out, "ab", 2) == 0);
        CHECK(gz[k](in, n, &out) == 0);
        CHECK(out.len > 2 && out.len < n / 2 && out.data[2] == 0x1f && out.data[3] == 0x8b);
        z_stream zs = {0};
        inflateInit2(&zs, 15 + 16);
        zs.next_in = out.data + 2;
        zs.avail_in = (uInt)(out.len - 2);
        zs.next_out = back;
        zs.avail_out = (uInt)n;
        CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END && zs.total_out == n);
        inflateEnd(&zs);
        CHECK(memcmp(in, back, n) == 0 && memcmp(out.data, "ab", 2) == 0);
        ss_bytes_free(&out);
    }
    free(in);
    free(back);
}

int main(void)
{
    test_parsers();
    test_tags_and_env();
    test_interner();
    test_aggregator();
    test_gzip();
    test_event_json();
    test_safe_read();
    test_thread_clock();
    test_idle_stacks();
    test_sampling_intervals();
    drain_warnings(NULL);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("core tests passed\n");
    return 0;
}
