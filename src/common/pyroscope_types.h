/* pyroscope_types.h - the sample_type_config stacksight sends to Grafana
 * Pyroscope's /ingest with each profile.
 *
 * Pyroscope reads a pprof's sample types through a map keyed by type name
 * (units, aggregation, cumulative, sampled, display-name). Without one in
 * the upload it applies its built-in map, which only knows the Go runtime's
 * names (samples, cpu, alloc_space, inuse_space, contentions, delay, ...):
 * the legacy ingest path then drops every stacksight type (cpu-time,
 * wall-time, alloc-space, lock-acquire-wait, ...), and the current one names
 * the whole push from the configured display names (a name containing "cpu"
 * makes it process_cpu, "alloc_"/"inuse_" memory, "mutex_" mutex). So every
 * type the encoder can write gets an entry here. */
#ifndef SS_PYROSCOPE_TYPES_H
#define SS_PYROSCOPE_TYPES_H

/* The JSON object for the sample_type_config form field: one entry per
 * sample type of the pprof encoder. Built once; never freed. */
const char *ss_pyroscope_sample_type_config(void);

#endif
