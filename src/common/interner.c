/* interner.c - append-only string and function tables (see interner.h).
 *
 * Entries live in fixed-size blocks that never move once allocated, so a
 * reader that saw an id below the published count can read the entry without
 * the lock. Lookups for insertion go through an open-addressing index that is
 * only touched under the lock. */
#include "interner.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_BITS 12
#define BLOCK_SIZE (1u << BLOCK_BITS)
#define STRING_MAX_BYTES 4096u   /* longer strings are truncated when interned */

typedef struct string_entry {
    const char *bytes;   /* NUL terminated copy, owned */
    uint32_t len;
} string_entry;

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;

/* Strings: block table, published count, index (slot = id + 1, 0 = empty). */
static string_entry *string_blocks[SS_MAX_STRINGS / BLOCK_SIZE];
static _Atomic uint32_t string_count;
static uint32_t *string_index;
static uint32_t string_index_size;     /* power of two, >= 2 * SS_MAX_STRINGS */

static ss_function_info *function_blocks[SS_MAX_FUNCTIONS / BLOCK_SIZE];
static _Atomic uint32_t function_count;
static uint32_t *function_index;
static uint32_t function_index_size;

static _Atomic uint64_t overflows;
static uint32_t label_strings_added;   /* new strings ss_intern_label added (under intern_lock) */
static uint32_t full_string_id;        /* "[interner full]", set at first overflow */
static uint32_t full_function_id;

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_function(uint32_t name, uint32_t filename, int32_t line)
{
    uint64_t h = ((uint64_t)name << 32 | filename) * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uint32_t)line * 0xC2B2AE3D27D4EB4Full;
    return h ^ (h >> 29);
}

static string_entry *string_entry_at(uint32_t id)
{
    return &string_blocks[id >> BLOCK_BITS][id & (BLOCK_SIZE - 1)];
}

static ss_function_info *function_entry_at(uint32_t id)
{
    return &function_blocks[id >> BLOCK_BITS][id & (BLOCK_SIZE - 1)];
}

static int ensure_indexes_locked(void)
{
    if (string_index)
        return 0;
    string_index_size = SS_MAX_STRINGS * 2;
    function_index_size = SS_MAX_FUNCTIONS * 2;
    string_index = calloc(string_index_size, sizeof *string_index);
    function_index = calloc(function_index_size, sizeof *function_index);
    if (!string_index || !function_index) {
        free(string_index);
        free(function_index);
        string_index = function_index = NULL;
        return -1;
    }
    return 0;
}

static uint32_t append_string_locked(const char *s, size_t len, uint32_t *slot)
{
    uint32_t id = atomic_load_explicit(&string_count, memory_order_relaxed);
    if (id >= SS_MAX_STRINGS)
        return UINT32_MAX;
    uint32_t block = id >> BLOCK_BITS;
    if (!string_blocks[block]) {
        string_blocks[block] = calloc(BLOCK_SIZE, sizeof(string_entry));
        if (!string_blocks[block])
            return UINT32_MAX;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return UINT32_MAX;
    memcpy(copy, s, len);
    copy[len] = '\0';
    string_entry *e = string_entry_at(id);
    e->bytes = copy;
    e->len = (uint32_t)len;
    if (slot)
        *slot = id + 1;
    atomic_store_explicit(&string_count, id + 1, memory_order_release);
    return id;
}

static uint32_t intern_string_locked(const char *s, size_t len);

static uint32_t string_overflow_locked(void)
{
    atomic_fetch_add(&overflows, 1);
    return full_string_id;
}

static uint32_t intern_string_locked(const char *s, size_t len)
{
    if (ensure_indexes_locked() != 0)
        return SS_STRING_NONE;
    if (atomic_load_explicit(&string_count, memory_order_relaxed) == 0) {
        /* id 0 is always "" and the last id is reserved for overflow. */
        append_string_locked("", 0, NULL);
        string_index[hash_bytes("", 0) & (string_index_size - 1)] = 1;
    }
    if (len > STRING_MAX_BYTES)
        len = STRING_MAX_BYTES;
    uint32_t mask = string_index_size - 1;
    for (uint64_t h = hash_bytes(s, len), probe = 0;; probe++) {
        uint32_t *slot = &string_index[(h + probe) & mask];
        if (*slot == 0) {
            if (atomic_load_explicit(&string_count, memory_order_relaxed) >= SS_MAX_STRINGS - 1) {
                if (!full_string_id) {
                    uint32_t id = append_string_locked("[interner full]", 15, NULL);
                    full_string_id = id == UINT32_MAX ? SS_STRING_NONE : id;
                }
                return string_overflow_locked();
            }
            uint32_t id = append_string_locked(s, len, slot);
            return id == UINT32_MAX ? SS_STRING_NONE : id;
        }
        string_entry *e = string_entry_at(*slot - 1);
        if (e->len == len && memcmp(e->bytes, s, len) == 0)
            return *slot - 1;
    }
}

uint32_t ss_intern_string(const char *s, size_t len)
{
    if (!s)
        return SS_STRING_NONE;
    pthread_mutex_lock(&intern_lock);
    uint32_t id = intern_string_locked(s, len);
    pthread_mutex_unlock(&intern_lock);
    return id;
}

uint32_t ss_intern_cstr(const char *s)
{
    return ss_intern_string(s, s ? strlen(s) : 0);
}

/* Id of an already interned string, or UINT32_MAX. */
static uint32_t lookup_string_locked(const char *s, size_t len)
{
    if (!string_index)
        return UINT32_MAX;
    if (len > STRING_MAX_BYTES)
        len = STRING_MAX_BYTES;
    uint32_t mask = string_index_size - 1;
    for (uint64_t h = hash_bytes(s, len), probe = 0;; probe++) {
        uint32_t slot = string_index[(h + probe) & mask];
        if (slot == 0)
            return UINT32_MAX;
        string_entry *e = string_entry_at(slot - 1);
        if (e->len == len && memcmp(e->bytes, s, len) == 0)
            return slot - 1;
    }
}

uint32_t ss_intern_label(const char *s, size_t len)
{
    if (!s)
        return SS_STRING_NONE;
    pthread_mutex_lock(&intern_lock);
    uint32_t id = lookup_string_locked(s, len);
    if (id == UINT32_MAX) {
        if (label_strings_added < SS_MAX_LABEL_STRINGS &&
            atomic_load_explicit(&string_count, memory_order_relaxed) < SS_LABEL_STRINGS_LIMIT) {
            id = intern_string_locked(s, len);
            label_strings_added++;
        } else {
            atomic_fetch_add(&overflows, 1);
            id = intern_string_locked(SS_LABELS_FULL, sizeof SS_LABELS_FULL - 1);
        }
    }
    pthread_mutex_unlock(&intern_lock);
    return id;
}

static uint32_t append_function_locked(uint32_t name, uint32_t filename, int32_t line)
{
    uint32_t id = atomic_load_explicit(&function_count, memory_order_relaxed);
    uint32_t block = id >> BLOCK_BITS;
    if (!function_blocks[block]) {
        function_blocks[block] = calloc(BLOCK_SIZE, sizeof(ss_function_info));
        if (!function_blocks[block])
            return UINT32_MAX;
    }
    ss_function_info *f = function_entry_at(id);
    f->name = name;
    f->filename = filename;
    f->start_line = line;
    atomic_store_explicit(&function_count, id + 1, memory_order_release);
    return id;
}

uint32_t ss_intern_function(uint32_t name, uint32_t filename, int32_t start_line)
{
    pthread_mutex_lock(&intern_lock);
    uint32_t result = 0;
    if (ensure_indexes_locked() != 0)
        goto out;
    uint32_t mask = function_index_size - 1;
    for (uint64_t h = hash_function(name, filename, start_line), probe = 0;; probe++) {
        uint32_t *slot = &function_index[(h + probe) & mask];
        if (*slot == 0) {
            if (atomic_load_explicit(&function_count, memory_order_relaxed) >= SS_MAX_FUNCTIONS - 1) {
                if (!full_function_id) {
                    uint32_t nm = intern_string_locked("[interner full]", 15);
                    uint32_t id = append_function_locked(nm, SS_STRING_NONE, 0);
                    full_function_id = id == UINT32_MAX ? 0 : id;
                }
                atomic_fetch_add(&overflows, 1);
                result = full_function_id;
                goto out;
            }
            uint32_t id = append_function_locked(name, filename, start_line);
            if (id != UINT32_MAX)
                *slot = id + 1;
            result = id == UINT32_MAX ? 0 : id;
            goto out;
        }
        ss_function_info *f = function_entry_at(*slot - 1);
        if (f->name == name && f->filename == filename && f->start_line == start_line) {
            result = *slot - 1;
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&intern_lock);
    return result;
}

const char *ss_string_at(uint32_t id, size_t *len)
{
    if (id >= atomic_load_explicit(&string_count, memory_order_acquire)) {
        if (len)
            *len = 0;
        return "";
    }
    string_entry *e = string_entry_at(id);
    if (len)
        *len = e->len;
    return e->bytes;
}

ss_function_info ss_function_at(uint32_t id)
{
    ss_function_info none = {0, 0, 0};
    if (id >= atomic_load_explicit(&function_count, memory_order_acquire))
        return none;
    return *function_entry_at(id);
}

uint32_t ss_string_count(void)
{
    return atomic_load_explicit(&string_count, memory_order_acquire);
}

uint32_t ss_function_count(void)
{
    return atomic_load_explicit(&function_count, memory_order_acquire);
}

uint64_t ss_interner_overflows(void)
{
    return atomic_load(&overflows);
}

void ss_interner_lock_for_fork(void)
{
    pthread_mutex_lock(&intern_lock);
}

void ss_interner_unlock_after_fork(int in_child)
{
    if (in_child)
        pthread_mutex_init(&intern_lock, NULL);
    else
        pthread_mutex_unlock(&intern_lock);
}
