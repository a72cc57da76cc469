/* cpu_snapshots.c - the slot pool behind CPU-slice snapshots (see cpu_snapshots.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* siginfo_t in cpu_timer.h; the value pyconfig.h gives it */
#endif
#include "cpu_snapshots.h"

#include <stdatomic.h>
#include <stddef.h>

#include "../src/common/cpu_timer.h"

/* Events arrive at most at (cores x sample rate) per second and the sidecar
 * drains them within a tick, so a few slots suffice; when all are busy the
 * event falls back to the sidecar reading the stack. The array lives in BSS:
 * only slots actually written cost resident memory. */
#define SNAPSHOT_SLOTS 16
_Static_assert(SNAPSHOT_SLOTS >= 2 * SS_CPU_DEFER_EVENTS, "deferred CPU events could use up the slots");

static ssp_snapshot snapshots[SNAPSHOT_SLOTS];
static atomic_int slot_busy[SNAPSHOT_SLOTS];   /* 0 free, 1 claimed */

int ssp_cpu_snapshot_take(pid_t tid)
{
    for (int i = 0; i < SNAPSHOT_SLOTS; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&slot_busy[i], &expected, 1))
            continue;
        if (ssp_snapshot_capture(&snapshots[i], tid) == 0)
            return i;
        atomic_store(&slot_busy[i], 0);
        return -1;
    }
    return -1;
}

const ssp_snapshot *ssp_cpu_snapshot_get(int token)
{
    if (token < 0 || token >= SNAPSHOT_SLOTS || !atomic_load(&slot_busy[token]))
        return NULL;
    return &snapshots[token];
}

void ssp_cpu_snapshot_release(int token)
{
    if (token >= 0 && token < SNAPSHOT_SLOTS)
        atomic_store(&slot_busy[token], 0);
}

void ssp_cpu_snapshots_reset(void)
{
    for (int i = 0; i < SNAPSHOT_SLOTS; i++)
        atomic_store(&slot_busy[i], 0);
}
