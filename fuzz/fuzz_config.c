/* fuzz_config.c - libFuzzer target for everything that parses user text.
 *
 * DD_TAGS, agent URLs and the numeric/boolean variables come from the
 * environment of production processes we do not control; a parser bug there
 * would crash the host at import time. The input is split at NUL bytes into
 * strings that are fed to every parser, to the keyword setters and, through
 * setenv, to ss_config_load_env; the results are checked against what the
 * parsers promise (ranges, tag rules, URL shape). */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static void drain(void)
{
    char text[512];
    while (ss_log_pop(text, sizeof text) >= 0)
        CHECK(memchr(text, '\0', sizeof text) != NULL);
}

static void check_tags(const ss_config *cfg)
{
    CHECK(cfg->ntags >= 0 && cfg->ntags <= SS_MAX_TAGS);
    for (int i = 0; i < cfg->ntags; i++) {
        const char *k = cfg->tags[i].key, *v = cfg->tags[i].value;
        CHECK(k[0] != '\0');
        CHECK(strlen(k) <= SS_TAG_KEY_MAX && strlen(v) <= SS_TAG_VALUE_MAX);
        CHECK(strchr(v, ',') == NULL);
        for (const char *p = k; *p; p++)
            CHECK(*p != ',' && !isspace((unsigned char)*p));
        for (int j = 0; j < i; j++)
            CHECK(strcmp(cfg->tags[j].key, k) != 0);
    }
}

static void check_url(const char *url)
{
    CHECK(strlen(url) < SS_STR_MAX);
    CHECK(!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8) || !strncmp(url, "unix:///", 8));
}

static void parse_all(const char *s)
{
    int b = -1;
    int64_t i;
    double d;
    if (ss_parse_bool(s, &b) == 0)
        CHECK(b == 0 || b == 1);
    if (ss_parse_int64(s, 1, 65535, &i) == 0)
        CHECK(i >= 1 && i <= 65535);
    if (ss_parse_int64(s, INT64_MIN, INT64_MAX, &i) == 0)
        (void)i;
    if (ss_parse_double(s, 0.01, 100.0, &d) == 0)
        CHECK(isfinite(d) && d >= 0.01 && d <= 100.0);
    if (ss_parse_seconds_ns(s, &i) == 0)
        CHECK(i >= 10000000 - 1 && i <= 86400LL * 1000000000);
    char url[SS_STR_MAX];
    const char *why = NULL;
    if (ss_parse_agent_url(s, url, sizeof url, &why) == 0)
        check_url(url);
    else
        CHECK(why != NULL);
    char small[16];   /* output shorter than the input: must truncate, not overflow */
    why = NULL;
    if (ss_parse_agent_url(s, small, sizeof small, &why) == 0)
        CHECK(strlen(small) < sizeof small);
}

static const char *const env_names[] = {
    "DD_TAGS", "DD_PROFILING_TAGS", "DD_AGENT_HOST", "DD_TRACE_AGENT_PORT", "DD_TRACE_AGENT_URL",
    "DD_PROFILING_UPLOAD_INTERVAL", "STACKSIGHT_SAMPLE_HZ", "DD_PROFILING_MAX_FRAMES",
    "DD_PROFILING_API_TIMEOUT_MS", "STACKSIGHT_PYROSCOPE_URL", "DD_SERVICE",
    "DD_PROFILING_CAPTURE_PCT", "DD_PROFILING_HEAP_SAMPLE_SIZE", "DD_PROFILING_ENABLED",
    "DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE", "DD_TRACE_AGENT_HOSTNAME",
};
#define NENV (sizeof env_names / sizeof env_names[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Up to 8 NUL-separated strings; the copy adds the final NUL. */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *parts[8];
    int n = 0;
    for (char *p = buf; n < 8 && p <= buf + size; p += strlen(p) + 1)
        parts[n++] = p;

    for (int k = 0; k < n; k++)
        parse_all(parts[k]);

    ss_config cfg;
    ss_config_init(&cfg, SS_LANG_PYTHON);
    int added = ss_config_parse_tags(&cfg, parts[0], "DD_TAGS");
    CHECK(added >= 0);   /* a repeated key replaces the value and still counts */
    if (n > 1)
        ss_config_parse_tags(&cfg, parts[1], "DD_PROFILING_TAGS");
    if (n > 2)
        (void)ss_config_add_tag(&cfg, parts[1], parts[2]);
    check_tags(&cfg);
    static const char *const names[] = {"service", "env", "version", "url", "output_pprof", "bogus"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const char *why = ss_config_set_string(&cfg, names[k], parts[k % (size_t)n]);
        (void)why;
    }
    check_url(cfg.agent_url);

    /* The same strings through the environment, as a deployment would set them. */
    uint8_t sel = size ? data[0] : 0;
    for (size_t k = 0; k < NENV; k++)
        if ((sel >> (k % 8)) & 1)
            setenv(env_names[k], parts[k % (size_t)n], 1);
    ss_config_init(&cfg, (sel & 0x80) ? SS_LANG_RUBY : SS_LANG_PYTHON);
    ss_config_load_env(&cfg);
    for (size_t k = 0; k < NENV; k++)
        unsetenv(env_names[k]);
    check_tags(&cfg);
    check_url(cfg.agent_url);
    CHECK(cfg.sample_hz >= 1 && cfg.sample_hz <= 10000);
    CHECK(cfg.max_frames >= 1 && cfg.max_frames <= 10000);
    CHECK(cfg.api_timeout_ms >= 1 && cfg.api_timeout_ms <= 600000);
    CHECK(cfg.upload_period_ns >= 9999999);
    CHECK(cfg.overhead_pct > 0 && cfg.overhead_pct <= 100);
    CHECK(memchr(cfg.service, '\0', sizeof cfg.service) != NULL);
    if (cfg.pyroscope_url[0])
        check_url(cfg.pyroscope_url);
    drain();
    free(buf);
    return 0;
}
