/* thread_names.c - ident -> interned thread name (see thread_names.h).
 *
 * Open addressing keyed by ident. A thread that ended keeps its entry (its
 * last samples may be resolved after it exits) until the table fills up and
 * is rebuilt without ended threads. Thread idents are pthread_t values, which the C
 * library reuses, so the table stays small in practice. */
#include "thread_names.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "../src/common/interner.h"

#define NAME_SLOTS 8192          /* power of two */
#define NAME_MAX_USED (NAME_SLOTS * 3 / 4)

typedef struct name_slot {
    unsigned long ident;  /* threading.get_ident(); 0 = never used */
    uint32_t name;        /* interned string id */
    int ended;            /* the thread finished; dropped at the next rebuild */
    unsigned long native_id; /* OS thread id (threading.get_native_id()); 0 = unknown */
} name_slot;

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static name_slot slots[NAME_SLOTS];
static unsigned used;             /* slots with ident != 0 */

static unsigned slot_of(unsigned long ident)
{
    uint64_t h = (uint64_t)ident * 0x9E3779B97F4A7C15ull;
    return (unsigned)(h >> 40) & (NAME_SLOTS - 1);
}

static name_slot *probe_locked(unsigned long ident)
{
    for (unsigned i = slot_of(ident), n = 0; n < NAME_SLOTS; i = (i + 1) & (NAME_SLOTS - 1), n++)
        if (slots[i].ident == ident || slots[i].ident == 0)
            return &slots[i];
    return NULL;
}

static void rebuild_locked(void)
{
    static name_slot keep[NAME_SLOTS];
    unsigned n = 0;
    for (unsigned i = 0; i < NAME_SLOTS; i++)
        if (slots[i].ident && !slots[i].ended)
            keep[n++] = slots[i];
    memset(slots, 0, sizeof slots);
    used = 0;
    for (unsigned i = 0; i < n && used < NAME_MAX_USED; i++) {
        *probe_locked(keep[i].ident) = keep[i];
        used++;
    }
}

void ssp_thread_names_set(unsigned long ident, const char *name, size_t len)
{
    if (!ident)
        return;
    uint32_t id = ss_intern_label(name, len);   /* the interner has its own lock */
    pthread_mutex_lock(&names_lock);
    name_slot *s = probe_locked(ident);
    if (s && s->ident == 0) {
        if (used >= NAME_MAX_USED) {
            rebuild_locked();
            s = probe_locked(ident);
        }
        if (s && s->ident == 0 && used < NAME_MAX_USED)
            used++;
        else if (s && s->ident != ident)
            s = NULL;
    }
    if (s) {
        if (s->ident != ident)
            s->native_id = 0;
        s->ident = ident;
        s->name = id;
        s->ended = 0;
    }
    pthread_mutex_unlock(&names_lock);
}

void ssp_thread_names_set_native(unsigned long ident, unsigned long native_id)
{
    if (!ident)
        return;
    pthread_mutex_lock(&names_lock);
    name_slot *s = probe_locked(ident);
    if (s && s->ident == ident)
        s->native_id = native_id;   /* the name is set first: the slot exists */
    pthread_mutex_unlock(&names_lock);
}

unsigned long ssp_thread_native_id(unsigned long ident)
{
    unsigned long id = 0;
    if (!ident)
        return 0;
    pthread_mutex_lock(&names_lock);
    name_slot *s = probe_locked(ident);
    if (s && s->ident == ident)
        id = s->native_id;
    pthread_mutex_unlock(&names_lock);
    return id;
}

void ssp_thread_names_forget(unsigned long ident)
{
    if (!ident)
        return;
    pthread_mutex_lock(&names_lock);
    name_slot *s = probe_locked(ident);
    if (s && s->ident == ident)
        s->ended = 1;   /* keep the name for samples taken while it exits */
    pthread_mutex_unlock(&names_lock);
}

uint32_t ssp_thread_names_get(unsigned long ident)
{
    uint32_t id = 0;
    if (!ident)
        return 0;
    pthread_mutex_lock(&names_lock);
    name_slot *s = probe_locked(ident);
    if (s && s->ident == ident)
        id = s->name;
    pthread_mutex_unlock(&names_lock);
    return id;
}

static void lock_names(void) { pthread_mutex_lock(&names_lock); }
static void unlock_names(void) { pthread_mutex_unlock(&names_lock); }
static void reset_names(void) { pthread_mutex_init(&names_lock, NULL); }

static void register_atfork(void)
{
    pthread_atfork(lock_names, unlock_names, reset_names);
}

void ssp_thread_names_init_fork_safety(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_atfork);
}
