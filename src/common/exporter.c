/* exporter.c - deliver one profile: agent intake, Pyroscope, files (see exporter.h).
 *
 * Where profiles go: files when DD_PROFILING_OUTPUT_PPROF is set, Pyroscope
 * when STACKSIGHT_PYROSCOPE_URL is set, and the agent unless one of those was
 * chosen without naming an agent explicitly. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "exporter.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "curl_loader.h"
#include "log.h"
#include "pyroscope_types.h"
#include "thread_clock.h"

#define MAX_ATTEMPTS 3            /* first try + two retries, as dd-trace-go */
#define REPLY_MAX 4096            /* reply bytes kept for the warning text */

/* libcurl's functions once loaded (curl_loader.h); set by
 * ss_exporter_global_init before any upload uses them. */
static const ss_curl_api *cu;
static const char *curl_missing;    /* why libcurl is unavailable, for the warning */

int ss_exporter_global_init(void)
{
    cu = ss_curl(&curl_missing);
    return cu ? 0 : -1;
}

typedef struct reply_buffer {
    char text[REPLY_MAX];
    size_t len;
} reply_buffer;

static size_t keep_reply(char *data, size_t size, size_t n, void *arg)
{
    reply_buffer *r = arg;
    size_t bytes = size * n;
    size_t room = sizeof r->text - 1 - r->len;
    size_t take = bytes < room ? bytes : room;
    memcpy(r->text + r->len, data, take);
    r->len += take;
    r->text[r->len] = '\0';
    return bytes;   /* accept (and drop) the rest: a huge reply costs nothing */
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Outcome of one HTTP attempt, for retry decisions and warnings. */
typedef enum attempt_result { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FATAL } attempt_result;

static attempt_result classify(CURLcode rc, long status, const char *what, const char *url,
                               const reply_buffer *reply)
{
    if (rc != CURLE_OK) {
        const char *kind = rc == CURLE_OPERATION_TIMEDOUT ? "upload-timeout" : "upload-network";
        ss_log_once(SS_LOG_WARNING, kind, "stacksight: cannot upload profiles to %s %s: %s "
                    "(profiles are dropped until it answers; the application is not affected)",
                    what, url, cu->easy_strerror(rc));
        return ATTEMPT_RETRY;
    }
    if (status >= 200 && status < 300)
        return ATTEMPT_OK;
    if (status >= 500) {
        ss_log_once(SS_LOG_WARNING, "upload-5xx", "stacksight: %s %s answered HTTP %ld: %.200s",
                    what, url, status, reply->text);
        return ATTEMPT_RETRY;
    }
    if (status == 404)
        ss_log_once(SS_LOG_WARNING, "upload-404", "stacksight: %s %s answered 404: it does not accept "
                    "profiles (a Datadog agent older than 7.20, or not an agent)", what, url);
    else
        ss_log_once(SS_LOG_WARNING, "upload-4xx", "stacksight: %s %s rejected the profile with HTTP %ld: %.200s",
                    what, url, status, reply->text);
    return ATTEMPT_FATAL;
}

static void clear_upload_warnings(const char *what, const char *url)
{
    int had = 0;
    had |= ss_log_clear_kind("upload-timeout");
    had |= ss_log_clear_kind("upload-network");
    had |= ss_log_clear_kind("upload-5xx");
    had |= ss_log_clear_kind("upload-404");
    had |= ss_log_clear_kind("upload-4xx");
    if (had)
        ss_log(SS_LOG_INFO, "stacksight: uploads to %s %s resumed", what, url);
}

/* Run `easy` with retries inside the time budget. Returns 0 on 2xx. */
static int perform_with_retries(CURL *easy, const ss_config *cfg, int final, const char *what,
                                const char *url, ss_export_stats *stats)
{
    int64_t budget_ms = cfg->api_timeout_ms;
    if (final && budget_ms > SS_FINAL_BUDGET_MS)
        budget_ms = SS_FINAL_BUDGET_MS;
    int64_t started = ss_monotonic_ns();
    int attempts = final ? 1 : MAX_ATTEMPTS;
    for (int attempt = 0; attempt < attempts; attempt++) {
        int64_t left = budget_ms - (ss_monotonic_ns() - started) / 1000000;
        if (left <= 0)
            break;
        reply_buffer reply = {.len = 0};
        reply.text[0] = '\0';
        cu->easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_reply);
        cu->easy_setopt(easy, CURLOPT_WRITEDATA, &reply);
        cu->easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)left);
        cu->easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
        CURLcode rc = cu->easy_perform(easy);
        long status = 0;
        cu->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (stats)
            stats->last_http_status = status;
        attempt_result r = classify(rc, status, what, url, &reply);
        if (r == ATTEMPT_OK) {
            clear_upload_warnings(what, url);
            return 0;
        }
        if (r == ATTEMPT_FATAL || rc == CURLE_OPERATION_TIMEDOUT || attempt + 1 == attempts)
            break;   /* a stalled intake has used the whole budget already */
        /* Random wait before retrying so a fleet does not retry in step. */
        long wait = 100 + (long)(ss_monotonic_ns() % 300);
        if ((ss_monotonic_ns() - started) / 1000000 + wait >= budget_ms)
            break;
        sleep_ms(wait);
    }
    return -1;
}

static CURL *new_easy(const ss_config *cfg)
{
    CURL *easy = cu->easy_init();
    if (!easy)
        return NULL;
    cu->easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);   /* never SIGALRM in a host process */
    cu->easy_setopt(easy, CURLOPT_USERAGENT, "stacksight/" SS_PROFILER_VERSION);
    cu->easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    (void)cfg;
    return easy;
}

static int export_agent(const ss_config *cfg, const ss_upload *up, ss_export_stats *stats)
{
    char url[SS_STR_MAX + 64];
    const char *shown = cfg->agent_url;
    CURL *easy = new_easy(cfg);
    if (!easy)
        return -1;
    struct curl_slist *headers = NULL;
    char header[SS_STR_MAX + 32];
    if (cfg->agentless) {
        snprintf(url, sizeof url, "https://intake.profile.%s/api/v2/profile", cfg->site);
        snprintf(header, sizeof header, "DD-API-KEY: %s", cfg->api_key);
        headers = cu->slist_append(headers, header);
        shown = url;
    } else if (!strncmp(cfg->agent_url, "unix://", 7)) {
        cu->easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, cfg->agent_url + 7);
        snprintf(url, sizeof url, "http://localhost/profiling/v1/input");
    } else {
        snprintf(url, sizeof url, "%s/profiling/v1/input", cfg->agent_url);
    }
    snprintf(header, sizeof header, "DD-EVP-ORIGIN: stacksight-%s", up->family);
    headers = cu->slist_append(headers, header);
    headers = cu->slist_append(headers, "DD-EVP-ORIGIN-VERSION: " SS_PROFILER_VERSION);
    headers = cu->slist_append(headers, "Expect:");   /* no 100-continue round trip */

    char *event = ss_build_event_json(cfg, up);
    curl_mime *mime = cu->mime_init(easy);
    curl_mimepart *part = cu->mime_addpart(mime);
    cu->mime_name(part, "event");
    cu->mime_filename(part, "event.json");
    cu->mime_type(part, "application/json");
    cu->mime_data(part, event ? event : "{}", CURL_ZERO_TERMINATED);
    part = cu->mime_addpart(mime);
    cu->mime_name(part, "profile.pprof");
    cu->mime_filename(part, "profile.pprof");
    cu->mime_type(part, "application/octet-stream");
    cu->mime_data(part, (const char *)up->pprof_gz->data, up->pprof_gz->len);

    cu->easy_setopt(easy, CURLOPT_URL, url);
    cu->easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    cu->easy_setopt(easy, CURLOPT_MIMEPOST, mime);
    int64_t t0 = ss_monotonic_ns();
    int rc = perform_with_retries(easy, cfg, up->final, "the agent at", shown, stats);
    if (stats)
        stats->last_upload_ns = ss_monotonic_ns() - t0;
    cu->mime_free(mime);
    cu->slist_free_all(headers);
    cu->easy_cleanup(easy);
    free(event);
    return rc;
}

static int export_pyroscope(const ss_config *cfg, const ss_upload *up, ss_export_stats *stats)
{
    CURL *easy = new_easy(cfg);
    if (!easy)
        return -1;
    /* name=service{k=v,...}: Pyroscope's application name with labels. */
    char name[4096];
    size_t len = (size_t)snprintf(name, sizeof name, "%s{", cfg->service[0] ? cfg->service : "unknown");
    const char *std[][2] = {{"env", cfg->env}, {"version", cfg->version}, {"language", up->family},
                            {"runtime_id", up->runtime_id}};
    int first = 1;
    for (size_t i = 0; i < sizeof std / sizeof std[0] && len < sizeof name; i++)
        if (std[i][1] && std[i][1][0]) {
            len += (size_t)snprintf(name + len, sizeof name - len, "%s%s=%s", first ? "" : ",", std[i][0], std[i][1]);
            first = 0;
        }
    for (int i = 0; i < cfg->ntags && len < sizeof name; i++) {
        len += (size_t)snprintf(name + len, sizeof name - len, "%s%s=%s", first ? "" : ",", cfg->tags[i].key,
                                cfg->tags[i].value);
        first = 0;
    }
    if (len < sizeof name - 1)
        snprintf(name + len, sizeof name - len, "}");
    char *escaped = cu->easy_escape(easy, name, 0);
    char url[SS_STR_MAX + sizeof name * 3 + 128];
    snprintf(url, sizeof url, "%s/ingest?name=%s&from=%lld&until=%lld&format=pprof&spyName=stacksight-%s",
             cfg->pyroscope_url, escaped ? escaped : "unknown", (long long)(up->start_unix_ns / 1000000000),
             (long long)(up->end_unix_ns / 1000000000), up->family);
    cu->free(escaped);
    /* Multipart, as Pyroscope's own clients send it: the profile, and how to
     * read its sample types (pyroscope_types.h). Both are file parts: the
     * server reads these fields from the form's files. */
    curl_mime *mime = cu->mime_init(easy);
    curl_mimepart *part = cu->mime_addpart(mime);
    cu->mime_name(part, "profile");
    cu->mime_filename(part, "profile.pprof");
    cu->mime_type(part, "application/octet-stream");
    cu->mime_data(part, (const char *)up->pprof_gz->data, up->pprof_gz->len);
    part = cu->mime_addpart(mime);
    cu->mime_name(part, "sample_type_config");
    cu->mime_filename(part, "sample_type_config.json");
    cu->mime_type(part, "application/json");
    cu->mime_data(part, ss_pyroscope_sample_type_config(), CURL_ZERO_TERMINATED);
    struct curl_slist *headers = cu->slist_append(NULL, "Expect:");
    cu->easy_setopt(easy, CURLOPT_URL, url);
    cu->easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    cu->easy_setopt(easy, CURLOPT_MIMEPOST, mime);
    int rc = perform_with_retries(easy, cfg, up->final, "Pyroscope at", cfg->pyroscope_url, stats);
    cu->mime_free(mime);
    cu->slist_free_all(headers);
    cu->easy_cleanup(easy);
    return rc;
}

static int export_file(const ss_config *cfg, const ss_upload *up, ss_export_stats *stats)
{
    char path[SS_STR_MAX + 64], tmp[SS_STR_MAX + 80];
    snprintf(path, sizeof path, "%s.%ld.%llu.pprof", cfg->output_pprof, up->pid, (unsigned long long)up->seq);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* Write then rename, so a reader never sees half a profile. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t done = 0;
    while (fd >= 0 && done < up->pprof_gz->len) {
        ssize_t n = write(fd, up->pprof_gz->data + done, up->pprof_gz->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int ok = fd >= 0 && done == up->pprof_gz->len;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        ss_log_once(SS_LOG_WARNING, "file-write", "stacksight: cannot write profile %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    ss_log_clear_kind("file-write");
    if (stats)
        stats->files_written++;
    return 0;
}

int ss_export(const ss_config *cfg, const ss_upload *up, ss_export_stats *stats)
{
    int failures = 0;
    int to_files = cfg->output_pprof[0] != '\0';
    int to_pyroscope = cfg->pyroscope_url[0] != '\0';
    int to_agent = cfg->agentless || cfg->agent_explicit || (!to_files && !to_pyroscope);
    if (to_files)
        failures += export_file(cfg, up, stats) != 0;
    if ((to_agent || to_pyroscope) && ss_exporter_global_init() != 0) {
        ss_log_once(SS_LOG_WARNING, "curl-init", "stacksight: uploads are off: %s",
                    curl_missing ? curl_missing : "libcurl failed to initialise");
        return -1;
    }
    if (to_agent)
        failures += export_agent(cfg, up, stats) != 0;
    if (to_pyroscope)
        failures += export_pyroscope(cfg, up, stats) != 0;
    if (stats) {
        if (failures)
            stats->failed++;
        else
            stats->sent++;
    }
    return failures ? -1 : 0;
}
