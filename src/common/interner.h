/* interner.h - process-wide tables of strings and functions.
 *
 * Samples refer to functions and label strings by small integer ids so that a
 * stack is a short array of integers, cheap to hash and compare. The tables
 * are append-only: an id, once handed out, names the same entry for the life
 * of the process (until fork resets nothing - ids stay valid in the child),
 * which lets the encoder read entries without a lock while others append.
 * Both tables are bounded; past the bound every new entry maps to a single
 * "[interner full]" id and the overflow is counted, so memory cannot grow
 * without limit in a process that generates code forever. */
#ifndef SS_INTERNER_H
#define SS_INTERNER_H

#include <stdint.h>
#include <stddef.h>

#define SS_MAX_STRINGS   (1u << 17)
#define SS_MAX_FUNCTIONS (1u << 16)
#define SS_STRING_NONE 0u   /* id of "" */

typedef struct ss_function_info {
    uint32_t name;        /* string id of the qualified name */
    uint32_t filename;    /* string id */
    int32_t start_line;   /* first line of the definition, 0 if unknown */
} ss_function_info;

/* Intern `len` bytes (need not be NUL terminated). Thread-safe; takes a
 * mutex, so not for signal handlers. Never returns an invalid id. */
uint32_t ss_intern_string(const char *s, size_t len);
uint32_t ss_intern_cstr(const char *s);

/* For label values an application can mint without bound (thread names
 * with a counter, one per request): a string already interned gets its id,
 * a new one is added only while fewer than SS_MAX_LABEL_STRINGS label values
 * were added (and the table is under half full); past that every new label
 * value maps to SS_LABELS_FULL. Labels can thus neither crowd out the
 * function names later code needs nor grow memory for the life of a server
 * that names a thread per request (about 1 MB at the limit). Thread-safe. */
#define SS_LABEL_STRINGS_LIMIT (SS_MAX_STRINGS / 2)
#define SS_MAX_LABEL_STRINGS 8192u
#define SS_LABELS_FULL "[too many distinct names]"
uint32_t ss_intern_label(const char *s, size_t len);

/* Id of a function given its parts. Thread-safe. */
uint32_t ss_intern_function(uint32_t name, uint32_t filename, int32_t start_line);

/* Lock-free reads of published entries; ids beyond the published count return
 * "" / a zeroed function. */
const char *ss_string_at(uint32_t id, size_t *len);
ss_function_info ss_function_at(uint32_t id);
uint32_t ss_string_count(void);
uint32_t ss_function_count(void);
uint64_t ss_interner_overflows(void);

/* fork support: see fork_guard.h */
void ss_interner_lock_for_fork(void);
void ss_interner_unlock_after_fork(int in_child);

#endif
