/* log.h - warnings from the core to the host language's logger.
 *
 * The core runs on threads that must never call into the interpreter, so a
 * warning cannot be handed to Python's `logging` or Ruby's `Logger` directly.
 * Messages go into a small fixed ring instead; the binding is told one is
 * waiting (ss_log_set_notify) and drains the ring from an interpreter thread.
 * Each kind of failure is reported once until ss_log_clear_kind() re-arms it,
 * so a dead agent produces one line, not one per minute. */
#ifndef SS_LOG_H
#define SS_LOG_H

#include <stddef.h>

typedef enum ss_log_level { SS_LOG_DEBUG, SS_LOG_INFO, SS_LOG_WARNING } ss_log_level;

/* Called (from any thread, possibly a core thread) after a message was queued.
 * Must be cheap and thread-safe; it must not call interpreter code directly. */
typedef void (*ss_log_notify_fn)(void);

void ss_log_set_notify(ss_log_notify_fn fn);

/* Queue a message unconditionally. */
void ss_log(ss_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Queue a message unless a message of the same `kind` was queued since the
 * kind was last cleared. `kind` is a short static identifier. */
void ss_log_once(ss_log_level level, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Re-arm `kind`; returns 1 when the kind had fired (so the caller can say
 * "recovered"). */
int ss_log_clear_kind(const char *kind);

/* Pop the oldest queued message into `buf`. Returns its level, or -1 when the
 * ring is empty. Never blocks for long. */
int ss_log_pop(char *buf, size_t buflen);

/* Messages lost because the ring was full since the last pop that saw it. */
unsigned ss_log_dropped(void);

/* fork support: see fork_guard.h */
void ss_log_lock_for_fork(void);
void ss_log_unlock_after_fork(int in_child);

#endif
