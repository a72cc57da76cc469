/* big_alloc.c - mmap-backed large blocks (see big_alloc.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "big_alloc.h"

#include <sys/mman.h>
#include <unistd.h>

static size_t round_to_pages(size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return bytes ? (bytes + page - 1) / page * page : page;
}

void *ss_big_alloc(size_t bytes)
{
    void *p = mmap(NULL, round_to_pages(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *ss_big_realloc(void *p, size_t old_bytes, size_t new_bytes)
{
    if (!p)
        return ss_big_alloc(new_bytes);
    void *q = mremap(p, round_to_pages(old_bytes), round_to_pages(new_bytes), MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
}

void ss_big_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, round_to_pages(bytes));
}
