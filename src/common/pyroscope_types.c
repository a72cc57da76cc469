/* pyroscope_types.c - how Pyroscope should read each stacksight sample type
 * (see pyroscope_types.h). */
#include "pyroscope_types.h"

#include <pthread.h>
#include <stdio.h>

#include "aggregator.h"
#include "pprof_encoder.h"

/* One entry of Pyroscope's SampleTypeConfig. */
typedef struct pyroscope_type {
    const char *units;        /* Pyroscope's unit names: samples, objects, bytes,
                                 lock_samples, lock_nanoseconds; nanoseconds for
                                 CPU and wall time */
    const char *aggregation;  /* "sum" over time for events, "average" for
                                 snapshots (live heap) */
    const char *display_name; /* Pyroscope's vocabulary, so its metric name
                                 comes out right (see the header) */
    int sampled;              /* values are a sample of the events */
} pyroscope_type;

/* Every profile stacksight sends holds the period's events (a delta), never
 * a running total, so nothing is cumulative. */
static const pyroscope_type types[SS_VALUE_KINDS] = {
    [SS_CPU_SAMPLES] = {"samples", "sum", "cpu_samples", 1},
    [SS_CPU_TIME] = {"nanoseconds", "sum", "cpu_time", 1},
    [SS_WALL_SAMPLES] = {"samples", "sum", "wall_samples", 1},
    [SS_WALL_TIME] = {"nanoseconds", "sum", "wall_time", 1},
    [SS_EXCEPTION_SAMPLES] = {"samples", "sum", "exception_samples", 1},
    [SS_LOCK_ACQUIRE] = {"lock_samples", "sum", "mutex_acquire_count", 1},
    [SS_LOCK_ACQUIRE_WAIT] = {"lock_nanoseconds", "sum", "mutex_acquire_wait", 1},
    [SS_LOCK_RELEASE] = {"lock_samples", "sum", "mutex_release_count", 1},
    [SS_LOCK_RELEASE_HOLD] = {"lock_nanoseconds", "sum", "mutex_release_hold", 1},
    [SS_ALLOC_SAMPLES] = {"objects", "sum", "alloc_objects", 1},
    [SS_ALLOC_SPACE] = {"bytes", "sum", "alloc_space", 1},
    [SS_HEAP_LIVE_SAMPLES] = {"objects", "average", "inuse_objects", 1},
    [SS_HEAP_SPACE] = {"bytes", "average", "inuse_space", 1},
};

/* 13 entries of at most ~130 bytes each. */
static char config_json[4096];
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void build_config(void)
{
    size_t len = 0;
    len += (size_t)snprintf(config_json + len, sizeof config_json - len, "{");
    for (int kind = 0; kind < SS_VALUE_KINDS && len < sizeof config_json; kind++) {
        const pyroscope_type *t = &types[kind];
        len += (size_t)snprintf(config_json + len, sizeof config_json - len,
                                "%s\"%s\":{\"units\":\"%s\",\"aggregation\":\"%s\",\"display-name\":\"%s\","
                                "\"sampled\":%s,\"cumulative\":false}",
                                kind ? "," : "", ss_value_type_name((ss_value_kind)kind), t->units,
                                t->aggregation, t->display_name, t->sampled ? "true" : "false");
    }
    if (len < sizeof config_json)
        snprintf(config_json + len, sizeof config_json - len, "}");
}

const char *ss_pyroscope_sample_type_config(void)
{
    pthread_once(&config_once, build_config);
    return config_json;
}
