/* big_alloc.h - the profiler's large buffers come straight from mmap.
 *
 * The aggregator's tables and the encoder's per-profile arrays are large
 * (megabytes) and short-lived. Taken from malloc, freeing them raises glibc's
 * dynamic mmap threshold, after which such blocks are carved from the heap
 * and their pages stay resident in the host process for good. Mapping them
 * directly gives every page back to the system when the block is freed,
 * without touching the application's malloc arenas (malloc_trim would lock
 * them). Blocks are zero-filled. */
#ifndef SS_BIG_ALLOC_H
#define SS_BIG_ALLOC_H

#include <stddef.h>

void *ss_big_alloc(size_t bytes);
/* Grow or shrink a block from ss_big_alloc; new bytes are zero. NULL on
 * failure (the old block is left as it was). */
void *ss_big_realloc(void *p, size_t old_bytes, size_t new_bytes);
void ss_big_free(void *p, size_t bytes);

#endif
