/* exporter.h - getting one encoded profile out of the process.
 *
 * Destinations: the Datadog-agent-compatible intake (multipart POST to
 * /profiling/v1/input over http:// or unix://, or agentless https with an API
 * key), Grafana Pyroscope (/ingest) and files. Runs on the upload thread
 * only; every network call is bounded by cfg->api_timeout_ms including
 * retries, so a dead or slow intake costs that thread time and nothing else.
 * Nothing is queued: a profile that cannot be delivered is dropped and
 * counted, which bounds memory however long the intake is away. */
#ifndef SS_EXPORTER_H
#define SS_EXPORTER_H

#include <stdint.h>
#include "config.h"
#include "pprof_encoder.h"

/* What the exporter needs to know about the process and the period. */
typedef struct ss_upload {
    const ss_bytes *pprof_gz;      /* gzip-compressed pprof */
    int64_t start_unix_ns, end_unix_ns;
    uint64_t seq;                  /* profile_seq, 0 for the first */
    const char *runtime_id;        /* UUID, new after fork */
    long pid;
    const char *family;            /* "python" / "ruby" */
    const char *runtime;           /* "CPython" / "ruby" */
    const char *runtime_version;
    const char *internal_json;     /* profiler's own stats, a JSON object */
    const char *info_json;         /* settings, a JSON object */
    int final;                     /* last profile of a stopping process: one
                                      attempt within SS_FINAL_BUDGET_MS, so an
                                      absent agent does not delay the exit */
} ss_upload;

#define SS_FINAL_BUDGET_MS 1000

typedef struct ss_export_stats {
    uint64_t sent, failed, files_written;
    int64_t last_upload_ns;        /* duration of the last network export */
    long last_http_status;
} ss_export_stats;

int ss_exporter_global_init(void);   /* curl_global_init once per process */

/* Deliver to every configured destination. Returns 0 if all succeeded. */
int ss_export(const ss_config *cfg, const ss_upload *up, ss_export_stats *stats);

/* Pieces exposed for tests. */
/* Comma-joined key:value tags for tags_profiler (standard tags then user). */
int ss_build_tags(const ss_config *cfg, const ss_upload *up, char *out, size_t outlen);
/* The event.json document. Caller frees. */
char *ss_build_event_json(const ss_config *cfg, const ss_upload *up);
/* RFC 3339 UTC with nanoseconds. */
void ss_format_rfc3339(int64_t unix_ns, char *out, size_t outlen);

#endif
