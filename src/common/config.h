/* config.h - everything a user can set, parsed once, shared by both bindings.
 *
 * The DD_* names are the ones users of Datadog's profilers already know (see
 * README "Configuration"). Parsing never fails: a value that does not parse is
 * reported through ss_log with the variable's name and the default is kept.
 * Bindings then apply keyword arguments on top with the ss_config_set_* calls,
 * which do fail (returning an error message) because a wrong argument in code
 * is a programming error the caller should see. */
#ifndef SS_CONFIG_H
#define SS_CONFIG_H

#include <stdint.h>
#include <stddef.h>

#define SS_MAX_TAGS 64          /* user tags kept; more are reported and dropped */
#define SS_TAG_KEY_MAX 200      /* Datadog tag limit is 200 chars for key:value */
#define SS_TAG_VALUE_MAX 200
#define SS_STR_MAX 512          /* service, env, version, URLs, prefixes */

typedef struct ss_tag {
    char key[SS_TAG_KEY_MAX + 1];
    char value[SS_TAG_VALUE_MAX + 1];
} ss_tag;

typedef enum ss_language { SS_LANG_PYTHON, SS_LANG_RUBY } ss_language;

typedef struct ss_config {
    ss_language language;
    int enabled;                    /* DD_PROFILING_ENABLED: auto-start wanted */
    char service[SS_STR_MAX];       /* DD_SERVICE; default: program name */
    char env[SS_STR_MAX];           /* DD_ENV; "" = not set */
    char version[SS_STR_MAX];       /* DD_VERSION; "" = not set */
    ss_tag tags[SS_MAX_TAGS];       /* DD_TAGS then DD_PROFILING_TAGS, later wins */
    int ntags;

    /* Where profiles go. */
    char agent_url[SS_STR_MAX];     /* http://host:port or unix:///path, never "" */
    int agent_explicit;             /* user named an agent (URL/host/port) */
    int agentless;                  /* DD_PROFILING_AGENTLESS with DD_API_KEY */
    char api_key[SS_STR_MAX];       /* DD_API_KEY; only used when agentless */
    char site[SS_STR_MAX];          /* DD_SITE, default datadoghq.com */
    char output_pprof[SS_STR_MAX];  /* DD_PROFILING_OUTPUT_PPROF file prefix, "" = off */
    char pyroscope_url[SS_STR_MAX]; /* STACKSIGHT_PYROSCOPE_URL, "" = off */
    int64_t upload_period_ns;       /* DD_PROFILING_UPLOAD_INTERVAL / _PERIOD, 60 s */
    int64_t api_timeout_ms;         /* DD_PROFILING_API_TIMEOUT_MS, 10000 */

    /* Sampling. */
    int sample_hz;                  /* STACKSIGHT_SAMPLE_HZ, 100 */
    int max_frames;                 /* DD_PROFILING_MAX_FRAMES: Python 64, Ruby 400 */
    double overhead_pct;            /* DD_PROFILING_OVERHEAD_TARGET_PERCENTAGE, 1 % of one core */

    /* Profile types. CPU and wall are always on while profiling. */
    int exception_enabled;          /* DD_PROFILING_EXCEPTION_ENABLED, on */
    int lock_enabled;               /* DD_PROFILING_LOCK_ENABLED, on */
    int memory_enabled;             /* DD_PROFILING_MEMORY_ENABLED (Python) / _ALLOCATION_ (Ruby) */
    int heap_enabled;               /* DD_PROFILING_HEAP_ENABLED */
    double capture_pct;             /* DD_PROFILING_CAPTURE_PCT, 1 % of lock operations */
    int64_t heap_sample_bytes;      /* DD_PROFILING_HEAP_SAMPLE_SIZE, mean bytes between samples */
    int collect_exception_message;  /* STACKSIGHT_EXCEPTION_MESSAGES, off */
    double exception_sample_interval; /* STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL: mean
                                       * exceptions per sample, 20 (1 = all) */
} ss_config;

/* Defaults for `language`, then the environment on top. Warnings for every
 * variable that does not parse. */
void ss_config_init(ss_config *cfg, ss_language language);
void ss_config_load_env(ss_config *cfg);

/* Keyword-argument overrides. Return NULL on success or a static message
 * naming what is wrong. */
const char *ss_config_set_string(ss_config *cfg, const char *name, const char *value);
const char *ss_config_add_tag(ss_config *cfg, const char *key, const char *value);

/* Parse "k:v,k:v" (also space separated, as DD_TAGS allows) into cfg->tags.
 * `origin` names the source in warnings (e.g. "DD_TAGS"). Returns the number
 * of tags added. Malformed items are warned about one by one. */
int ss_config_parse_tags(ss_config *cfg, const char *text, const char *origin);

/* Parsers exposed for tests and fuzzing. Each returns 0 on success. */
int ss_parse_bool(const char *text, int *out);
int ss_parse_seconds_ns(const char *text, int64_t *out);     /* "60", "0.5" */
int ss_parse_int64(const char *text, int64_t min, int64_t max, int64_t *out);
int ss_parse_double(const char *text, double min, double max, double *out);
/* Validate and normalise an agent URL (http://host[:port][/], unix:///path).
 * Returns 0 and writes the normalised URL, or -1 with a reason in `why`. */
int ss_parse_agent_url(const char *text, char *out, size_t outlen, const char **why);

#endif
