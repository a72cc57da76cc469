/* event_json.c - the tags and the event.json document that go with a profile.
 *
 * Shared by every destination: the agent multipart upload carries event.json,
 * Pyroscope gets the same tags as labels, and tests read both. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "exporter.h"

void ss_format_rfc3339(int64_t unix_ns, char *out, size_t outlen)
{
    time_t secs = (time_t)(unix_ns / 1000000000);
    long nanos = (long)(unix_ns % 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%09ldZ", base, nanos);
}

/* Tag values cannot carry the separator; replace it rather than lose the tag. */
static void append_tag(char *out, size_t outlen, size_t *len, const char *key, const char *value)
{
    if (!value || !value[0])
        return;
    int n = snprintf(out + *len, outlen - *len, "%s%s:", *len ? "," : "", key);
    if (n < 0 || (size_t)n >= outlen - *len)
        return;
    *len += (size_t)n;
    for (const char *p = value; *p && *len + 1 < outlen; p++)
        out[(*len)++] = *p == ',' ? '_' : *p;
    out[*len] = '\0';
}

int ss_build_tags(const ss_config *cfg, const ss_upload *up, char *out, size_t outlen)
{
    size_t len = 0;
    char host[256] = "";
    char num[32];
    out[0] = '\0';
    gethostname(host, sizeof host - 1);
    append_tag(out, outlen, &len, "service", cfg->service);
    append_tag(out, outlen, &len, "env", cfg->env);
    append_tag(out, outlen, &len, "version", cfg->version);
    append_tag(out, outlen, &len, "host", host);
    append_tag(out, outlen, &len, "language", up->family);
    append_tag(out, outlen, &len, "runtime", up->runtime);
    append_tag(out, outlen, &len, "runtime_version", up->runtime_version);
    append_tag(out, outlen, &len, "runtime-id", up->runtime_id);
    snprintf(num, sizeof num, "%ld", up->pid);
    append_tag(out, outlen, &len, "process_id", num);
    append_tag(out, outlen, &len, "profiler_version", SS_PROFILER_VERSION);
    snprintf(num, sizeof num, "%llu", (unsigned long long)up->seq);
    append_tag(out, outlen, &len, "profile_seq", num);
    for (int i = 0; i < cfg->ntags; i++)
        append_tag(out, outlen, &len, cfg->tags[i].key, cfg->tags[i].value);
    return (int)len;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

char *ss_build_event_json(const ss_config *cfg, const ss_upload *up)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    char tags[8192], start[64], end[64];
    ss_build_tags(cfg, up, tags, sizeof tags);
    ss_format_rfc3339(up->start_unix_ns, start, sizeof start);
    ss_format_rfc3339(up->end_unix_ns, end, sizeof end);
    fputs("{\"attachments\":[\"profile.pprof\"],\"tags_profiler\":", f);
    json_string(f, tags);
    fputs(",\"start\":", f);
    json_string(f, start);
    fputs(",\"end\":", f);
    json_string(f, end);
    fputs(",\"family\":", f);
    json_string(f, up->family);
    fputs(",\"version\":\"4\",\"endpoint_counts\":{},\"internal\":", f);
    fputs(up->internal_json ? up->internal_json : "{}", f);
    fputs(",\"info\":", f);
    fputs(up->info_json ? up->info_json : "{}", f);
    fputs("}", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
