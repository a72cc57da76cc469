/* self_cost.c - counters of the profiler's CPU outside the sidecar (see self_cost.h). */
#include "self_cost.h"

#include <stdatomic.h>

static _Atomic long long upload_ns;
static _Atomic long long signal_ns;

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the signal handler needs lock-free 64-bit atomics");

void ss_self_cost_add_upload(int64_t ns)
{
    if (ns > 0)
        atomic_fetch_add_explicit(&upload_ns, ns, memory_order_relaxed);
}

void ss_self_cost_add_signal(int64_t ns)
{
    if (ns > 0)
        atomic_fetch_add_explicit(&signal_ns, ns, memory_order_relaxed);
}

void ss_self_cost_get(ss_self_cost *out)
{
    out->upload_ns = atomic_load_explicit(&upload_ns, memory_order_relaxed);
    out->signal_ns = atomic_load_explicit(&signal_ns, memory_order_relaxed);
}
