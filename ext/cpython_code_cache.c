/* cpython_code_cache.c - the code-object cache of the stack walker (see
 * cpython_code_cache.h): free log, eviction, str and line-table decoding. */
#include "cpython_code_cache.h"

#if SSP_SUPPORTED

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/interner.h"

int ssp_direct_read(void *dst, const void *src, size_t len)
{
    if (src == NULL)
        return -1;
    memcpy(dst, src, len);
    return 0;
}

/* ---- code-object free log ----------------------------------------------
 *
 * A cached code entry goes stale only when its code object is freed and the
 * address reused. Re-reading every cached code object on every sample would
 * cost one iovec each (measured ~0.4 us per iovec of process_vm_readv, i.e.
 * ~25 us for a 64-frame stack), so instead PyCode_Type.tp_dealloc is wrapped
 * (once per process, with the GIL, never removed) to append the address of
 * every code object about to be freed to a ring. The sidecar drains the ring
 * after copying a stack and before resolving it, dropping the entries of
 * freed code objects; if it fell more than a ring behind, it drops the whole
 * cache. A frame holds a strong reference to its code object, so a code
 * object referenced by a frame that was live when the stack was copied was
 * either not freed, or its free is in the ring by the time we drain.
 * Writers hold the GIL (one at a time); the reader is lock-free. */
#define SSP_FREE_RING 4096u
static uintptr_t ssp_free_ring[SSP_FREE_RING];   /* addresses, slot = seq % size */
static uint64_t ssp_free_seq;                    /* frees logged so far */
static destructor ssp_code_dealloc_orig;         /* the wrapped tp_dealloc */

static void ssp_code_dealloc_hook(PyObject *op)
{
    uint64_t s = __atomic_load_n(&ssp_free_seq, __ATOMIC_RELAXED);
    __atomic_store_n(&ssp_free_ring[s % SSP_FREE_RING], (uintptr_t)op, __ATOMIC_RELAXED);
    __atomic_store_n(&ssp_free_seq, s + 1, __ATOMIC_RELEASE);
    ssp_code_dealloc_orig(op);
}

uint64_t sspc_free_log_seq(void)
{
    return __atomic_load_n(&ssp_free_seq, __ATOMIC_ACQUIRE);
}

/* With the GIL. Idempotent. */
void sspc_install_free_log(void)
{
    if (PyCode_Type.tp_dealloc == ssp_code_dealloc_hook)
        return;
    ssp_code_dealloc_orig = PyCode_Type.tp_dealloc;
    PyCode_Type.tp_dealloc = ssp_code_dealloc_hook;
}

int sspc_cache_init(ssp_code_cache *c, ssp_read_fn read)
{
    memset(c, 0, sizeof *c);
    c->entries = calloc((size_t)SSP_CACHE_SETS * SSP_CACHE_WAYS, sizeof(ssp_code_entry));
    c->epoch = 1;
    c->read = read;
    return c->entries ? 0 : -1;
}

void sspc_entry_clear(ssp_code_cache *c, ssp_code_entry *e)
{
    if (e->ranges) {
        c->range_bytes -= (size_t)e->nranges * sizeof(ssp_line_range);
        free(e->ranges);
    }
    memset(e, 0, sizeof *e);
}

void sspc_cache_destroy(ssp_code_cache *c)
{
    if (!c->entries)
        return;
    for (size_t i = 0; i < (size_t)SSP_CACHE_SETS * SSP_CACHE_WAYS; i++)
        sspc_entry_clear(c, &c->entries[i]);
    free(c->entries);
    c->entries = NULL;
}

void sspc_cache_flush(ssp_code_cache *c)
{
    for (size_t i = 0; i < (size_t)SSP_CACHE_SETS * SSP_CACHE_WAYS; i++)
        if (c->entries[i].addr)
            sspc_entry_clear(c, &c->entries[i]);
}


/* Drop the entries of code objects freed since the last drain. Must run when
 * no entry is pinned by a stack being resolved. */
void sspc_drain_free_log(ssp_code_cache *c)
{
    uint64_t end = __atomic_load_n(&ssp_free_seq, __ATOMIC_ACQUIRE);
    if (end == c->free_seen)
        return;
    if (end - c->free_seen <= SSP_FREE_RING) {
        for (uint64_t s = c->free_seen; s < end; s++) {
            uintptr_t a = __atomic_load_n(&ssp_free_ring[s % SSP_FREE_RING], __ATOMIC_RELAXED);
            ssp_code_entry *e = sspc_cache_find(c, a);
            if (e)
                sspc_entry_clear(c, e);
        }
        /* slots read above may have been overwritten meanwhile */
        uint64_t now = __atomic_load_n(&ssp_free_seq, __ATOMIC_ACQUIRE);
        if (now - c->free_seen <= SSP_FREE_RING) {
            c->free_seen = end;
            return;
        }
        end = now;
    }
    sspc_cache_flush(c);                      /* fell behind: forget everything */
    c->free_seen = end;
}

static inline ssp_code_entry *cache_set(ssp_code_cache *c, uintptr_t addr)
{
    uint64_t h = ((uint64_t)addr >> 4) * 0x9E3779B97F4A7C15ull;
    return &c->entries[(size_t)(h >> 52) % SSP_CACHE_SETS * SSP_CACHE_WAYS];
}

ssp_code_entry *sspc_cache_find(ssp_code_cache *c, uintptr_t addr)
{
    ssp_code_entry *set = cache_set(c, addr);
    for (unsigned i = 0; i < SSP_CACHE_WAYS; i++)
        if (set[i].addr == addr)
            return &set[i];
    return NULL;
}

/* Free unpinned entries until `need` more range bytes fit the budget.
 * Bounded by one sweep over all sets. */
static void cache_make_room(ssp_code_cache *c, size_t need)
{
    for (uint32_t n = 0; n < SSP_CACHE_SETS && c->range_bytes + need > SSP_RANGE_BUDGET; n++) {
        ssp_code_entry *set = &c->entries[(size_t)c->evict_cursor * SSP_CACHE_WAYS];
        c->evict_cursor = (c->evict_cursor + 1) % SSP_CACHE_SETS;
        for (unsigned i = 0; i < SSP_CACHE_WAYS; i++)
            if (set[i].addr && set[i].epoch != c->epoch)
                sspc_entry_clear(c, &set[i]);
    }
}

/* Move a freshly decoded entry into the cache. Never evicts an entry pinned
 * by the current epoch. Returns the cache slot, or NULL when none could be
 * freed (the caller then uses `tmp` once and clears it). */
ssp_code_entry *sspc_cache_insert(ssp_code_cache *c, ssp_code_entry *tmp)
{
    size_t need = (size_t)tmp->nranges * sizeof(ssp_line_range);
    if (c->range_bytes + need > SSP_RANGE_BUDGET)
        cache_make_room(c, need);
    if (c->range_bytes + need > SSP_RANGE_BUDGET)
        return NULL;
    ssp_code_entry *set = cache_set(c, tmp->addr), *victim = NULL;
    for (unsigned i = 0; i < SSP_CACHE_WAYS; i++) {
        ssp_code_entry *e = &set[i];
        if (e->addr == tmp->addr) { victim = e; break; }
        if (e->addr == 0) { if (!victim || victim->addr) victim = e; continue; }
        if (e->epoch == c->epoch)
            continue;
        if (!victim || (victim->addr && e->last_used < victim->last_used))
            victim = e;
    }
    if (!victim)
        return NULL;
    sspc_entry_clear(c, victim);
    *victim = *tmp;
    c->range_bytes += need;
    memset(tmp, 0, sizeof *tmp);
    return victim;
}

/* ---- decoding ---------------------------------------------------------- */

/* Append the UTF-8 form of code point `cp` to buf; returns bytes written. */
static size_t utf8_put(char *buf, uint32_t cp)
{
    if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 0xFFFD;                       /* lone surrogate: not valid UTF-8 */
    if (cp < 0x80) { buf[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF)
        return utf8_put(buf, 0xFFFD);
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Read the str object at `addr` and intern its UTF-8 form, truncated to
 * SSP_MAX_STR_BYTES with "…". Handles compact ASCII, compact UCS1/2/4 and
 * ready legacy strings. Returns 0 and the id in *id, -1 if unreadable. */
int sspc_read_string_as(ssp_code_cache *c, uintptr_t addr, uint32_t *id,
                       uint32_t (*intern)(const char *, size_t))
{
    PyCompactUnicodeObject hdr;
    if (addr == 0 || (addr & 7) || c->read(&hdr, (const void *)addr, sizeof(PyASCIIObject)))
        return -1;
    const PyASCIIObject *a = &hdr._base;
    if (a->ob_base.ob_type != &PyUnicode_Type || !SSPL_STR_READY(a) || a->length < 0)
        return -1;
    unsigned kind = a->state.kind;
    if (kind != 1 && kind != 2 && kind != 4)
        return -1;
    uintptr_t data;
    if (a->state.ascii && a->state.compact) {
        data = addr + sizeof(PyASCIIObject);
    } else if (a->state.compact) {
        data = addr + sizeof(PyCompactUnicodeObject);
    } else {
        void *any;   /* legacy string: PyUnicodeObject.data.any */
        if (c->read(&any, (const char *)addr + offsetof(PyUnicodeObject, data), sizeof any) ||
            any == NULL)
            return -1;
        data = (uintptr_t)any;
    }
    /* At most SSP_MAX_STR_BYTES code points can contribute to the output. */
    size_t n = (size_t)a->length < SSP_MAX_STR_BYTES ? (size_t)a->length : SSP_MAX_STR_BYTES;
    int truncated = (size_t)a->length > n;
    unsigned char raw[SSP_MAX_STR_BYTES * 4];
    if (n && c->read(raw, (const void *)data, n * kind))
        return -1;
    char out[SSP_MAX_STR_BYTES * 4 + 4];
    size_t len = 0, keep = 0;   /* keep: last code point boundary within budget */
    for (size_t i = 0; i < n; i++) {
        uint32_t cp;
        if (kind == 1) cp = raw[i];
        else if (kind == 2) { uint16_t v; memcpy(&v, raw + 2 * i, 2); cp = v; }
        else { uint32_t v; memcpy(&v, raw + 4 * i, 4); cp = v; }
        len += utf8_put(out + len, cp);
        if (len <= SSP_MAX_STR_BYTES - 3)
            keep = len;
    }
    if (truncated || len > SSP_MAX_STR_BYTES) {
        memcpy(out + keep, "\xE2\x80\xA6", 3);   /* U+2026 HORIZONTAL ELLIPSIS */
        len = keep + 3;
    }
    *id = intern(out, len);
    return 0;
}

static int read_string(ssp_code_cache *c, uintptr_t addr, uint32_t *id)
{
    return sspc_read_string_as(c, addr, id, ss_intern_string);
}

/* Unsigned varint of the location table: 6-bit groups, bit 6 = more. */
static int lt_varint(const uint8_t *p, size_t n, size_t *i, uint32_t *val)
{
    uint32_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (*i >= n || shift > 30)
            return -1;
        uint8_t b = p[(*i)++];
        v |= (uint32_t)(b & 63) << shift;
        shift += 6;
        if (!(b & 64))
            break;
    }
    *val = v;
    return 0;
}

static int lt_svarint(const uint8_t *p, size_t n, size_t *i, int32_t *val)
{
    uint32_t u;
    if (lt_varint(p, n, i, &u))
        return -1;
    *val = (u & 1) ? -(int32_t)(u >> 1) : (int32_t)(u >> 1);
    return 0;
}

/* Decode a 3.11 co_linetable (Objects/locations.md) into line ranges.
 * Each entry starts with a byte 1cccclll: l+1 code units, code c:
 *   15 no location; 14 long form (svarint line delta, then end line and
 *   columns); 13 no columns (svarint line delta); 10-12 one line with delta
 *   c-10 (two column bytes); 0-9 short form, same line (one column byte).
 * Only the line is kept. Consecutive ranges with equal lines are merged.
 * Returns NULL with *nr = 0 for an empty or malformed table. */
static ssp_line_range *decode_linetable(const uint8_t *p, size_t n, int32_t firstlineno,
                                        uint32_t *nr)
{
    *nr = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += (p[i] & 0x80) != 0;
    if (count == 0 || !(p[0] & 0x80))
        return NULL;
    ssp_line_range *r = malloc(count * sizeof *r);
    if (!r)
        return NULL;
    uint32_t k = 0, unit = 0;
    int64_t line = firstlineno;
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i++];
        if (!(b & 0x80))
            goto bad;
        unsigned code = (b >> 3) & 15;
        uint32_t len = (uint32_t)(b & 7) + 1;
        int32_t delta = 0;
        int no_line = 0;
        if (code == 15) {
            no_line = 1;
        } else if (code == 14 || code == 13) {
            if (lt_svarint(p, n, &i, &delta))
                goto bad;
        } else if (code >= 10) {
            delta = (int32_t)code - 10;
        }
        line += delta;
        if (line < INT32_MIN || line > INT32_MAX)
            goto bad;
        int32_t l = no_line ? -1 : (int32_t)line;
        /* skip the rest of the entry (varints, column bytes) */
        while (i < n && !(p[i] & 0x80))
            i++;
        if (unit > UINT32_MAX - len)
            goto bad;
        unit += len;
        if (k && r[k - 1].line == l)
            r[k - 1].end = unit;
        else
            r[k++] = (ssp_line_range){unit, l};
    }
    *nr = k;
    return r;
bad:
    free(r);
    return NULL;
}

/* Append range [.., end_bytes) with `line` (merged with an equal previous
 * one); ranges are kept in code units. -1 when the table is malformed. */
static int add_byte_range(ssp_line_range *r, uint32_t *k, uint64_t end_bytes, int32_t line)
{
    uint64_t end = (end_bytes + 1) / 2;
    if (end > UINT32_MAX)
        return -1;
    if (*k && r[*k - 1].line == line)
        r[*k - 1].end = (uint32_t)end;
    else
        r[(*k)++] = (ssp_line_range){(uint32_t)end, line};
    return 0;
}

/* Decode a 3.9 co_lnotab (Objects/lnotab_notes.txt): pairs of (bytecode
 * byte increment, signed line increment); an offset has the line reached
 * before the first pair whose address passes it. */
static ssp_line_range *decode_lnotab(const uint8_t *p, size_t n, int32_t firstlineno, uint32_t *nr)
{
    *nr = 0;
    ssp_line_range *r = malloc((n / 2 + 1) * sizeof *r);
    if (!r)
        return NULL;
    uint32_t k = 0;
    uint64_t addr = 0;
    int64_t line = firstlineno;
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (p[i]) {
            addr += p[i];
            if (add_byte_range(r, &k, addr, (int32_t)line))
                goto bad;
        }
        line += (int8_t)p[i + 1];
        if (line < 0 || line > INT32_MAX)
            goto bad;
    }
    if (add_byte_range(r, &k, (uint64_t)UINT32_MAX * 2, (int32_t)line))
        goto bad;
    *nr = k;
    return r;
bad:
    free(r);
    return NULL;
}

/* Decode a 3.10 co_linetable (Objects/lnotab_notes.txt of 3.10): pairs of
 * (byte length of the range, signed line delta, -128 = no line). */
static ssp_line_range *decode_linetable310(const uint8_t *p, size_t n, int32_t firstlineno,
                                           uint32_t *nr)
{
    *nr = 0;
    ssp_line_range *r = malloc((n / 2 + 1) * sizeof *r);
    if (!r)
        return NULL;
    uint32_t k = 0;
    uint64_t addr = 0;
    int64_t line = firstlineno;
    for (size_t i = 0; i + 1 < n; i += 2) {
        int8_t delta = (int8_t)p[i + 1];
        if (delta != -128)
            line += delta;
        if (line < 0 || line > INT32_MAX)
            goto bad;
        if (p[i]) {
            addr += p[i];
            if (add_byte_range(r, &k, addr, delta == -128 ? -1 : (int32_t)line))
                goto bad;
        }
    }
    *nr = k;
    return r;
bad:
    free(r);
    return NULL;
}

/* The line table of this interpreter's format, decoded into line ranges. */
static ssp_line_range *decode_lines(const uint8_t *p, size_t n, int32_t firstlineno, uint32_t *nr)
{
    switch (SSPL_LINETABLE_FORMAT) {
    case 309: return decode_lnotab(p, n, firstlineno, nr);
    case 310: return decode_linetable310(p, n, firstlineno, nr);
    default:  return decode_linetable(p, n, firstlineno, nr);
    }
}

/* Line of code unit `unit` (PyCode_Addr2Line(code, unit * 2)); negative unit
 * (frame not started) maps to co_firstlineno, unknown to 0. */
int32_t sspc_entry_line(ssp_code_entry *e, int64_t unit)
{
    if (unit < 0)
        return e->firstlineno;
    if (unit >= UINT32_MAX || !e->ranges)
        return 0;
    uint32_t u = (uint32_t)unit;
    if (u == e->memo_unit)
        return e->memo_line;
    uint32_t lo = 0, hi = e->nranges;     /* first range with end > u */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (e->ranges[mid].end > u) hi = mid; else lo = mid + 1;
    }
    int32_t line = lo < e->nranges ? e->ranges[lo].line : -1;
    if (line < 0)
        line = 0;
    e->memo_unit = u;
    e->memo_line = line;
    return line;
}

/* 1 if the copied header `co` plausibly is a live code object. */
static int code_hdr_sane(const PyCodeObject *co)
{
    uintptr_t q = (uintptr_t)SSPL_CODE_NAME(co), f = (uintptr_t)co->co_filename,
              t = (uintptr_t)SSPL_CODE_LINETABLE(co);
    return ((const PyObject *)co)->ob_type == &PyCode_Type &&
           SSPL_CODE_FIRSTTRACEABLE(co) >= -1 &&
           q && !(q & 7) && f && !(f & 7) && t && !(t & 7);
}

/* Number of code units of the code object whose header is `co`: its
 * ob_size from 3.11 (the bytecode is inside it), else the length of its
 * co_code bytes object. -1 if unreadable or insane. */
static Py_ssize_t code_units(ssp_code_cache *c, const PyCodeObject *co)
{
    const int inline_code = SSPL_CODE_START != 0;
    Py_ssize_t n;
    if (inline_code) {
        n = ((const PyVarObject *)co)->ob_size;
    } else {
        PyBytesObject bh;
        uintptr_t b = SSPL_CODE_BYTES(co);
        if (!b || (b & 7) || c->read(&bh, (const void *)b, SSP_BYTES_HDR) ||
            bh.ob_base.ob_base.ob_type != &PyBytes_Type)
            return -1;
        n = bh.ob_base.ob_size / 2;
    }
    if (n <= 0 || n > SSP_MAX_CODE_UNITS || SSPL_CODE_FIRSTTRACEABLE(co) > n)
        return -1;
    return n;
}

/* 1 if the copied header `co` is the code object `e` was decoded from. */
int sspc_code_hdr_matches(const ssp_code_entry *e, const PyCodeObject *co)
{
    return ((const PyObject *)co)->ob_type == &PyCode_Type &&
           SSPL_CODE_BYTES(co) == e->codebytes &&
           (uintptr_t)SSPL_CODE_NAME(co) == e->qualname &&
           (uintptr_t)co->co_filename == e->filename &&
           (uintptr_t)SSPL_CODE_LINETABLE(co) == e->linetable &&
           co->co_firstlineno == e->firstlineno &&
           SSPL_CODE_FIRSTTRACEABLE(co) == e->firsttraceable;
}

/* Decode the code object at `addr` into `e` (not in the cache yet). `hdr`
 * is an already copied header or NULL. Returns 0, or -1 if unreadable. */
int sspc_code_build(ssp_code_cache *c, uintptr_t addr, const PyCodeObject *hdr,
                      ssp_code_entry *e)
{
    PyCodeObject co;
    memset(e, 0, sizeof *e);
    if (!hdr) {
        if (c->read(&co, (const void *)addr, SSP_CODE_HDR))
            return -1;
        hdr = &co;
    }
    Py_ssize_t units;
    if (!code_hdr_sane(hdr) || (units = code_units(c, hdr)) < 0)
        return -1;
    uint32_t name, file;
    if (read_string(c, (uintptr_t)SSPL_CODE_NAME(hdr), &name) ||
        read_string(c, (uintptr_t)hdr->co_filename, &file))
        return -1;
    PyBytesObject bh;
    if (c->read(&bh, SSPL_CODE_LINETABLE(hdr), SSP_BYTES_HDR) ||
        bh.ob_base.ob_base.ob_type != &PyBytes_Type || bh.ob_base.ob_size < 0)
        return -1;
    /* An empty 3.9 co_lnotab means every instruction is on co_firstlineno:
     * empty tables are decoded too. */
    if (bh.ob_base.ob_size <= SSP_MAX_LINETABLE) {
        size_t n = (size_t)bh.ob_base.ob_size;
        uint8_t *tab = malloc(n ? n : 1);
        if (tab) {
            if (n == 0 || c->read(tab, (const char *)SSPL_CODE_LINETABLE(hdr) + SSP_BYTES_HDR, n) == 0)
                e->ranges = decode_lines(tab, n, hdr->co_firstlineno, &e->nranges);
            free(tab);
        }
    }
    e->addr = addr;
    e->qualname = (uintptr_t)SSPL_CODE_NAME(hdr);
    e->filename = (uintptr_t)hdr->co_filename;
    e->linetable = (uintptr_t)SSPL_CODE_LINETABLE(hdr);
    e->codebytes = SSPL_CODE_BYTES(hdr);
    e->ncodeunits = units;
    e->firstlineno = hdr->co_firstlineno;
    e->firsttraceable = SSPL_CODE_FIRSTTRACEABLE(hdr);
    e->function = ss_intern_function(name, file, hdr->co_firstlineno);
    e->memo_unit = UINT32_MAX;
    e->epoch = c->epoch;
    c->misses++;
    return 0;
}

/* The function "<N frames omitted>" (file "", line 0). */
uint32_t sspc_marker_function(ssp_code_cache *c, uint64_t n)
{
    unsigned slot = (unsigned)(n % SSP_MARKER_SLOTS);
    if (c->markers[slot].n == n && n)
        return c->markers[slot].function;
    char buf[64];
    int len = snprintf(buf, sizeof buf, "<%llu frames omitted>", (unsigned long long)n);
    uint32_t f = ss_intern_function(ss_intern_string(buf, (size_t)len),
                                    ss_intern_string("", 0), 0);
    c->markers[slot].n = n;
    c->markers[slot].function = f;
    return f;
}

#endif
