/* config.c - defaults, DD_* environment variables and keyword overrides (see config.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static const char *trimmed(const char *s, char *buf, size_t cap)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    snprintf(buf, cap, "%s", s);
    size_t n = strlen(buf);
    while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    return buf;
}

/* Copy `text` trimmed into `buf`; -1 if absent, too long or empty. Every
 * number and flag parser starts here. */
static int trimmed_value(const char *text, char *buf, size_t cap)
{
    if (!text || strlen(text) >= cap)
        return -1;
    trimmed(text, buf, cap);
    return buf[0] ? 0 : -1;
}

int ss_parse_bool(const char *text, int *out)
{
    char b[16];
    if (trimmed_value(text, b, sizeof b))
        return -1;
    if (!strcasecmp(b, "1") || !strcasecmp(b, "true") || !strcasecmp(b, "yes") || !strcasecmp(b, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(b, "0") || !strcasecmp(b, "false") || !strcasecmp(b, "no") || !strcasecmp(b, "off")) {
        *out = 0;
        return 0;
    }
    return -1;
}

int ss_parse_double(const char *text, double min, double max, double *out)
{
    char b[64];
    if (trimmed_value(text, b, sizeof b))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(b, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int ss_parse_int64(const char *text, int64_t min, int64_t max, int64_t *out)
{
    char b[64];
    if (trimmed_value(text, b, sizeof b))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(b, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int ss_parse_seconds_ns(const char *text, int64_t *out)
{
    double s;
    /* At least 10 ms (tests use fractions), at most a day. */
    if (ss_parse_double(text, 0.01, 86400.0, &s) != 0)
        return -1;
    *out = (int64_t)(s * 1e9);
    return 0;
}

int ss_parse_agent_url(const char *text, char *out, size_t outlen, const char **why)
{
    char b[SS_STR_MAX];
    if (!text || strlen(text) >= sizeof b) {
        *why = "too long";
        return -1;
    }
    trimmed(text, b, sizeof b);
    if (!strncmp(b, "unix://", 7)) {
        if (b[7] != '/') {
            *why = "a unix:// URL needs an absolute socket path (unix:///var/run/datadog/apm.socket)";
            return -1;
        }
        copy_str(out, outlen, b);
        return 0;
    }
    const char *rest;
    if (!strncmp(b, "http://", 7))
        rest = b + 7;
    else if (!strncmp(b, "https://", 8))
        rest = b + 8;
    else {
        *why = "the scheme must be http://, https:// or unix://";
        return -1;
    }
    /* host[:port][/path]: check the host is present and the port is a port. */
    const char *slash = strchr(rest, '/');
    size_t hostport_len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (hostport_len == 0) {
        *why = "no host";
        return -1;
    }
    char hostport[SS_STR_MAX];
    memcpy(hostport, rest, hostport_len);
    hostport[hostport_len] = '\0';
    char *colon = strrchr(hostport, ':');
    char *bracket = strrchr(hostport, ']');
    if (colon && (!bracket || colon > bracket)) {
        int64_t port;
        if (ss_parse_int64(colon + 1, 1, 65535, &port) != 0) {
            *why = "the port must be a number from 1 to 65535";
            return -1;
        }
        if (colon == hostport) {
            *why = "no host";
            return -1;
        }
    }
    for (const char *p = hostport; *p; p++)
        if (isspace((unsigned char)*p) || *p == '@') {
            *why = "the host contains a space or '@'";
            return -1;
        }
    copy_str(out, outlen, b);
    /* Drop a trailing slash so paths can be appended. */
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/' && strncmp(out, "unix://", 7) != 0)
        out[--n] = '\0';
    return 0;
}

static int tag_key_valid(const char *k)
{
    if (!*k)
        return 0;
    for (const char *p = k; *p; p++)
        if (*p == ',' || isspace((unsigned char)*p))
            return 0;
    return 1;
}

const char *ss_config_add_tag(ss_config *cfg, const char *key, const char *value)
{
    if (!key || !tag_key_valid(key))
        return "tag keys must be non-empty and contain no comma or space";
    if (!value)
        value = "";
    if (strlen(key) > SS_TAG_KEY_MAX || strlen(value) > SS_TAG_VALUE_MAX)
        return "tag key and value are limited to 200 characters each";
    if (strchr(value, ','))
        return "tag values cannot contain a comma (tags are sent comma-joined)";
    for (int i = 0; i < cfg->ntags; i++)
        if (!strcmp(cfg->tags[i].key, key)) {
            copy_str(cfg->tags[i].value, sizeof cfg->tags[i].value, value);
            return NULL;
        }
    if (cfg->ntags >= SS_MAX_TAGS)
        return "too many tags (at most 64)";
    copy_str(cfg->tags[cfg->ntags].key, sizeof cfg->tags[cfg->ntags].key, key);
    copy_str(cfg->tags[cfg->ntags].value, sizeof cfg->tags[cfg->ntags].value, value);
    cfg->ntags++;
    return NULL;
}

int ss_config_parse_tags(ss_config *cfg, const char *text, const char *origin)
{
    if (!text)
        return 0;
    /* DD_TAGS separates items by commas, or by spaces when there is no comma. */
    int sep = strchr(text, ',') ? ',' : ' ';
    int added = 0;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[SS_TAG_KEY_MAX + SS_TAG_VALUE_MAX + 8];
        if (len >= sizeof item) {
            ss_log(SS_LOG_WARNING, "stacksight: %s: a tag of %zu characters is too long; ignored",
                   origin, len);
        } else {
            memcpy(item, p, len);
            item[len] = '\0';
            char t[sizeof item];
            trimmed(item, t, sizeof t);
            if (t[0]) {
                char *colon = strchr(t, ':');
                const char *why = NULL;
                if (!colon)
                    why = "is not key:value";
                else {
                    *colon = '\0';
                    char k[sizeof item], v[sizeof item];
                    trimmed(t, k, sizeof k);
                    trimmed(colon + 1, v, sizeof v);
                    why = ss_config_add_tag(cfg, k, v);
                    *colon = ':';
                }
                if (why)
                    ss_log(SS_LOG_WARNING, "stacksight: %s: tag '%s' %s; ignored", origin, t,
                           strncmp(why, "is not", 6) == 0 ? why : "is invalid");
                else
                    added++;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return added;
}

void ss_config_init(ss_config *cfg, ss_language language)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->language = language;
    copy_str(cfg->agent_url, sizeof cfg->agent_url, "http://localhost:8126");
    copy_str(cfg->site, sizeof cfg->site, "datadoghq.com");
    cfg->upload_period_ns = 60LL * 1000000000;
    cfg->api_timeout_ms = 10000;
    cfg->sample_hz = 100;
    cfg->max_frames = language == SS_LANG_PYTHON ? 64 : 400;
    cfg->overhead_pct = 1.0;
    cfg->exception_enabled = 1;
    cfg->lock_enabled = 1;
    /* Ruby's allocation hook runs on every object allocation (Ruby has no
     * sampled allocation event), which costs ~0.2 µs each: off by default
     * there, as in Datadog's Ruby profiler. Python samples by bytes. */
    cfg->memory_enabled = language == SS_LANG_PYTHON;
    cfg->heap_enabled = language == SS_LANG_PYTHON;
    cfg->capture_pct = 1.0;
    cfg->heap_sample_bytes = 1024 * 1024;
    cfg->exception_sample_interval = 20.0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v;
}

static void warn_default(const char *name, const char *value, const char *expected, const char *dflt)
{
    char shown[64];
    snprintf(shown, sizeof shown, "%s", value);
    ss_log(SS_LOG_WARNING, "stacksight: %s=%s%s is not %s; using the default (%s)", name, shown,
           strlen(value) >= sizeof shown - 1 ? "..." : "", expected, dflt);
}

static void load_bool(const char *name, int *field)
{
    const char *v = env(name);
    int b;
    if (!v)
        return;
    if (ss_parse_bool(v, &b) == 0)
        *field = b;
    else
        warn_default(name, v, "a boolean (true/false/1/0)", *field ? "true" : "false");
}

static void load_string(const char *name, char *field, size_t cap)
{
    const char *v = env(name);
    if (!v)
        return;
    if (strlen(v) >= cap) {
        ss_log(SS_LOG_WARNING, "stacksight: %s is longer than %zu characters; truncated", name, cap - 1);
    }
    copy_str(field, cap, v);
}

void ss_config_load_env(ss_config *cfg)
{
    char dflt[64];
    load_bool("DD_PROFILING_ENABLED", &cfg->enabled);
    load_string("DD_SERVICE", cfg->service, sizeof cfg->service);
    load_string("DD_ENV", cfg->env, sizeof cfg->env);
    load_string("DD_VERSION", cfg->version, sizeof cfg->version);
    if (env("DD_TAGS"))
        ss_config_parse_tags(cfg, env("DD_TAGS"), "DD_TAGS");
    if (env("DD_PROFILING_TAGS"))
        ss_config_parse_tags(cfg, env("DD_PROFILING_TAGS"), "DD_PROFILING_TAGS");

    /* Agent: URL wins over host/port, as in Datadog's tracers. */
    const char *host = env("DD_AGENT_HOST") ? env("DD_AGENT_HOST") : env("DD_TRACE_AGENT_HOSTNAME");
    const char *port_name = env("DD_TRACE_AGENT_PORT") ? "DD_TRACE_AGENT_PORT" : "DD_AGENT_PORT";
    const char *port_text = env(port_name);
    int64_t port = 8126;
    if (port_text && ss_parse_int64(port_text, 1, 65535, &port) != 0) {
        warn_default(port_name, port_text, "a port number from 1 to 65535", "8126");
        port = 8126;
    }
    if (host && (!host[0] || strpbrk(host, " /@"))) {
        warn_default(env("DD_AGENT_HOST") ? "DD_AGENT_HOST" : "DD_TRACE_AGENT_HOSTNAME", host,
                     "a host name", "localhost");
        host = NULL;
    }
    if (host || port_text) {
        cfg->agent_explicit = 1;
        snprintf(cfg->agent_url, sizeof cfg->agent_url, strchr(host ? host : "", ':') ? "http://[%s]:%lld" : "http://%s:%lld",
                 host ? host : "localhost", (long long)port);
    }
    const char *url = env("DD_TRACE_AGENT_URL");
    if (url) {
        const char *why = NULL;
        char norm[SS_STR_MAX];
        if (ss_parse_agent_url(url, norm, sizeof norm, &why) == 0) {
            copy_str(cfg->agent_url, sizeof cfg->agent_url, norm);
            cfg->agent_explicit = 1;
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "a valid agent URL (%s)", why);
            warn_default("DD_TRACE_AGENT_URL", url, msg, cfg->agent_url);
        }
    }
    load_bool("DD_PROFILING_AGENTLESS", &cfg->agentless);
    load_string("DD_API_KEY", cfg->api_key, sizeof cfg->api_key);
    load_string("DD_SITE", cfg->site, sizeof cfg->site);
    if (cfg->agentless && !cfg->api_key[0]) {
        ss_log(SS_LOG_WARNING, "stacksight: DD_PROFILING_AGENTLESS is set but DD_API_KEY is empty; "
                               "sending to the agent instead");
        cfg->agentless = 0;
    }
    load_string("DD_PROFILING_OUTPUT_PPROF", cfg->output_pprof, sizeof cfg->output_pprof);
    const char *pyro = env("STACKSIGHT_PYROSCOPE_URL");
    if (pyro && pyro[0]) {
        const char *why = NULL;
        if (ss_parse_agent_url(pyro, cfg->pyroscope_url, sizeof cfg->pyroscope_url, &why) != 0 ||
            !strncmp(pyro, "unix://", 7)) {
            char msg[160];
            snprintf(msg, sizeof msg, "an http(s) URL (%s)", why ? why : "unix sockets are not supported here");
            warn_default("STACKSIGHT_PYROSCOPE_URL", pyro, msg, "off");
            cfg->pyroscope_url[0] = '\0';
        }
    }

    /* Python's name first, Ruby's as an alias (and the other way round). */
    const char *period_names[2] = {"DD_PROFILING_UPLOAD_INTERVAL", "DD_PROFILING_UPLOAD_PERIOD"};
    if (cfg->language == SS_LANG_RUBY) {
        period_names[0] = "DD_PROFILING_UPLOAD_PERIOD";
        period_names[1] = "DD_PROFILING_UPLOAD_INTERVAL";
    }
    for (int i = 0; i < 2; i++) {
        const char *v = env(period_names[i]);
        if (!v)
            continue;
        int64_t ns;
        if (ss_parse_seconds_ns(v, &ns) == 0)
            cfg->upload_period_ns = ns;
        else
            warn_default(period_names[i], v, "a number of seconds between 0.01 and 86400", "60");
        break;
    }
    const char *v;
    if ((v = env("DD_PROFILING_API_TIMEOUT_MS"))) {
        int64_t ms;
        if (ss_parse_int64(v, 1, 600000, &ms) == 0)
            cfg->api_timeout_ms = ms;
        else
            warn_default("DD_PROFILING_API_TIMEOUT_MS", v, "milliseconds from 1 to 600000", "10000");
    }
    if ((v = env("STACKSIGHT_SAMPLE_HZ"))) {
        int64_t hz;
        if (ss_parse_int64(v, 1, 10000, &hz) == 0)
            cfg->sample_hz = (int)hz;
        else
            warn_default("STACKSIGHT_SAMPLE_HZ", v, "a rate from 1 to 10000", "100");
    }
    if ((v = env("DD_PROFILING_MAX_FRAMES"))) {
        int64_t n;
        snprintf(dflt, sizeof dflt, "%d", cfg->max_frames);
        if (ss_parse_int64(v, 1, 10000, &n) == 0)
            cfg->max_frames = (int)n;
        else
            warn_default("DD_PROFILING_MAX_FRAMES", v, "a frame count from 1 to 10000", dflt);
    }
    if ((v = env("DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE"))) {
        double pct;
        if (ss_parse_double(v, 0.01, 100.0, &pct) == 0)
            cfg->overhead_pct = pct;
        else
            warn_default("DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE", v, "a percentage above 0 and at most 100", "1");
    }
    load_bool("DD_PROFILING_EXCEPTION_ENABLED", &cfg->exception_enabled);
    load_bool("DD_PROFILING_LOCK_ENABLED", &cfg->lock_enabled);
    load_bool(cfg->language == SS_LANG_RUBY ? "DD_PROFILING_ALLOCATION_ENABLED" : "DD_PROFILING_MEMORY_ENABLED",
              &cfg->memory_enabled);
    load_bool("DD_PROFILING_HEAP_ENABLED", &cfg->heap_enabled);
    if ((v = env("DD_PROFILING_CAPTURE_PCT"))) {
        double pct;
        if (ss_parse_double(v, 0.0, 100.0, &pct) == 0)
            cfg->capture_pct = pct;
        else
            warn_default("DD_PROFILING_CAPTURE_PCT", v, "a percentage from 0 to 100", "1");
    }
    if ((v = env("DD_PROFILING_HEAP_SAMPLE_SIZE"))) {
        int64_t n;
        if (ss_parse_int64(v, 1, (int64_t)1 << 40, &n) == 0)
            cfg->heap_sample_bytes = n;
        else
            warn_default("DD_PROFILING_HEAP_SAMPLE_SIZE", v, "a positive number of bytes", "1048576");
    }
    load_bool("STACKSIGHT_EXCEPTION_MESSAGES", &cfg->collect_exception_message);
    if ((v = env("STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL"))) {
        double n;
        if (ss_parse_double(v, 1.0, 1e9, &n) == 0)
            cfg->exception_sample_interval = n;
        else
            warn_default("STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL", v, "a number of exceptions >= 1", "20");
    }
}

const char *ss_config_set_string(ss_config *cfg, const char *name, const char *value)
{
    char *field = NULL;
    if (!strcmp(name, "service"))
        field = cfg->service;
    else if (!strcmp(name, "env"))
        field = cfg->env;
    else if (!strcmp(name, "version"))
        field = cfg->version;
    else if (!strcmp(name, "output_pprof"))
        field = cfg->output_pprof;
    else if (!strcmp(name, "url")) {
        const char *why = NULL;
        if (ss_parse_agent_url(value, cfg->agent_url, sizeof cfg->agent_url, &why) != 0)
            return why;
        cfg->agent_explicit = 1;
        return NULL;
    } else
        return "unknown setting";
    if (strlen(value) >= SS_STR_MAX)
        return "longer than 511 characters";
    if (strchr(value, ',') && field != cfg->output_pprof)
        return "must not contain a comma (it is sent as a tag)";
    copy_str(field, SS_STR_MAX, value);
    return NULL;
}
