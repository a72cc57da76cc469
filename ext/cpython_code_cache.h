/* cpython_code_cache.h - decoded CPython code objects, shared by the sidecar
 * walk and the GIL-holding capture (see cpython_walker.h).
 *
 * Why this file exists: resolving a frame to (function, line) needs the code
 * object's qualified name, file and line table, all read from interpreter
 * memory. Decoding them costs several reads, so each code object is decoded
 * once into a bounded set-associative cache keyed by address, kept exact by a
 * log of freed code objects (a wrapper of PyCode_Type.tp_dealloc). This part
 * is the same for every supported version; field names come from the
 * interpreter's headers and version differences from cpython_layout.h. One
 * cache per reader thread: not locked. Only compiled when SSP_SUPPORTED. */
#ifndef SSP_CPYTHON_CODE_CACHE_H
#define SSP_CPYTHON_CODE_CACHE_H

#include "cpython_layout.h"

#if SSP_SUPPORTED
#include <stddef.h>
#include <stdint.h>
#include "../src/common/aggregator.h"

#define SSP_MAX_CODE_UNITS    ((Py_ssize_t)1 << 26) /* sanity bound on co_code length */
#define SSP_MAX_LINETABLE     ((Py_ssize_t)1 << 20) /* longer line tables: no line numbers */
#define SSP_MAX_STR_BYTES     1024u            /* UTF-8 bytes kept of a name, "…" included */
#define SSP_CACHE_WAYS        4u
#define SSP_CACHE_SETS        4096u            /* 16384 entries per cache */
#define SSP_RANGE_BUDGET      ((size_t)64 << 20) /* line-range bytes per cache */
#define SSP_MARKER_SLOTS      64u
#define SSP_CODE_HDR          SSPL_CODE_HDR
#define SSP_CODE_START        SSPL_CODE_START
#define SSP_BYTES_HDR         offsetof(PyBytesObject, ob_sval)

/* Copies len bytes; 0 on success. The sidecar uses ss_safe_read, the
 * GIL-holding capture path plain memcpy. */
typedef int (*ssp_read_fn)(void *dst, const void *src, size_t len);


/* One address range of a code object's instructions with a single line.
 * Ranges are sorted and contiguous from code unit 0. */
typedef struct ssp_line_range {
    uint32_t end;     /* first code unit after the range */
    int32_t line;     /* line number, -1 for "no location" */
} ssp_line_range;

/* A decoded code object. Invariant: addr == 0 means the slot is empty and
 * owns no memory; otherwise `ranges` (may be NULL) belongs to the entry. */
typedef struct ssp_code_entry {
    uintptr_t addr;          /* address of the PyCodeObject; the key */
    /* Fields compared on every use to detect that `addr` now holds another
     * code object (the old one was freed and the memory reused). */
    uintptr_t qualname;      /* SSPL_CODE_NAME pointer (co_qualname, co_name before 3.11) */
    uintptr_t filename;      /* co_filename pointer */
    uintptr_t linetable;     /* SSPL_CODE_LINETABLE pointer */
    uintptr_t codebytes;     /* SSPL_CODE_BYTES: ob_size (3.11+), co_code pointer before */
    Py_ssize_t ncodeunits;   /* number of _Py_CODEUNITs */
    int32_t firstlineno;     /* co_firstlineno */
    int32_t firsttraceable;  /* _co_firsttraceable (incomplete-frame test); -1 before 3.11 */
    uint32_t function;       /* interner function id */
    uint32_t nranges;        /* entries in ranges */
    ssp_line_range *ranges;  /* decoded co_linetable, NULL if unavailable */
    uint32_t memo_unit;      /* last looked-up code unit ... */
    int32_t memo_line;       /* ... and its line; memo_unit == UINT32_MAX: none */
    uint64_t last_used;      /* cache clock at last use, for LRU eviction */
    uint64_t epoch;          /* stack (sidecar) or frame (capture) that last
                              * validated it; entries of the current epoch are
                              * pinned: never evicted while in use */
} ssp_code_entry;

/* A bounded set-associative cache of code objects plus the interned
 * "<N frames omitted>" functions. One per reader thread: not locked. */
typedef struct ssp_code_cache {
    ssp_code_entry *entries;          /* SSP_CACHE_SETS * SSP_CACHE_WAYS slots */
    uint64_t clock;                   /* bumped on every use */
    uint64_t epoch;                   /* see ssp_code_entry.epoch; starts at 1 */
    size_t range_bytes;               /* bytes held by all entries' ranges */
    uint32_t evict_cursor;            /* next set examined by the budget sweep */
    ssp_read_fn read;                 /* how this cache's owner copies memory */
    struct {
        uint64_t n;                   /* omitted count, 0 = empty */
        uint32_t function;            /* its interned marker function */
    } markers[SSP_MARKER_SLOTS];      /* direct-mapped by n */
    uint64_t hits, misses;            /* not yet published to the walker stats */
    uint64_t free_seen;               /* free-log sequence processed so far */
} ssp_code_cache;

/* memcpy with a NULL check: the capture path, which holds the GIL. */
int ssp_direct_read(void *dst, const void *src, size_t len);

/* With the GIL, once per process (idempotent): start logging freed code
 * objects. */
void sspc_install_free_log(void);
/* Frees logged so far (the value a fresh cache starts from). */
uint64_t sspc_free_log_seq(void);

int sspc_cache_init(ssp_code_cache *c, ssp_read_fn read);     /* 0, -1 out of memory */
void sspc_cache_destroy(ssp_code_cache *c);
void sspc_cache_flush(ssp_code_cache *c);                     /* drop every entry */
void sspc_entry_clear(ssp_code_cache *c, ssp_code_entry *e);  /* empty one slot */
/* The entry cached for `addr`, or NULL. */
ssp_code_entry *sspc_cache_find(ssp_code_cache *c, uintptr_t addr);
/* Drop the entries of code objects freed since the last drain. */
void sspc_drain_free_log(ssp_code_cache *c);
/* Move decoded `tmp` into the cache; NULL if every way of its set is pinned
 * by the current epoch (tmp then still owns its memory). */
ssp_code_entry *sspc_cache_insert(ssp_code_cache *c, ssp_code_entry *tmp);

/* Line of code unit `unit`; negative (frame not started) -> co_firstlineno,
 * unknown -> 0. */
int32_t sspc_entry_line(ssp_code_entry *e, int64_t unit);
/* 1 if the copied header `co` is the code object `e` was decoded from. */
int sspc_code_hdr_matches(const ssp_code_entry *e, const PyCodeObject *co);
/* Decode the code object at `addr` into `e` (not in the cache yet). `hdr` is
 * an already copied header or NULL. 0, or -1 if unreadable. */
int sspc_code_build(ssp_code_cache *c, uintptr_t addr, const PyCodeObject *hdr, ssp_code_entry *e);
/* The function "<N frames omitted>" (file "", line 0). */
uint32_t sspc_marker_function(ssp_code_cache *c, uint64_t n);
/* The str object at `addr` as UTF-8 (truncated to SSP_MAX_STR_BYTES with
 * "…"), interned with `intern` (ss_intern_string for names, ss_intern_label
 * for label values). 0 and the id in *id, -1 if unreadable. */
int sspc_read_string_as(ssp_code_cache *c, uintptr_t addr, uint32_t *id,
                        uint32_t (*intern)(const char *, size_t));

#endif
#endif
