/* log.c - bounded warning ring handed to the binding's logger (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define RING_SLOTS 32        /* messages waiting for the binding */
#define MESSAGE_MAX 512      /* longer messages are truncated */
#define KINDS_MAX 64         /* distinct ss_log_once kinds remembered */

typedef struct log_message {
    int level;
    char text[MESSAGE_MAX];
} log_message;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_message ring[RING_SLOTS];
static unsigned ring_head, ring_count;   /* oldest at ring_head */
static unsigned ring_dropped;
static const char *fired_kinds[KINDS_MAX];  /* kinds that fired, static strings */
static ss_log_notify_fn notify_fn;

void ss_log_set_notify(ss_log_notify_fn fn)
{
    pthread_mutex_lock(&log_lock);
    notify_fn = fn;
    pthread_mutex_unlock(&log_lock);
}

/* Copy `in` to `out` with control characters written as \xNN: warnings quote
 * values the user set (environment, tags), and an ESC, CR or LF in one must
 * not reach a terminal or a log line raw. */
static void copy_escaped(char *out, size_t cap, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        if (c < 0x20 || c == 0x7f) {
            if (o + 4 >= cap)
                break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static void push_locked(int level, const char *fmt, va_list ap)
{
    if (ring_count == RING_SLOTS) {
        ring_dropped++;
        return;
    }
    log_message *m = &ring[(ring_head + ring_count) % RING_SLOTS];
    char raw[MESSAGE_MAX];
    m->level = level;
    vsnprintf(raw, sizeof raw, fmt, ap);
    copy_escaped(m->text, sizeof m->text, raw);
    ring_count++;
}

static int kind_index_locked(const char *kind)
{
    for (int i = 0; i < KINDS_MAX; i++)
        if (fired_kinds[i] && strcmp(fired_kinds[i], kind) == 0)
            return i;
    return -1;
}

void ss_log(ss_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_lock);
    push_locked((int)level, fmt, ap);
    ss_log_notify_fn fn = notify_fn;
    pthread_mutex_unlock(&log_lock);
    va_end(ap);
    if (fn)
        fn();
}

void ss_log_once(ss_log_level level, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_lock);
    if (kind_index_locked(kind) >= 0) {
        pthread_mutex_unlock(&log_lock);
        va_end(ap);
        return;
    }
    for (int i = 0; i < KINDS_MAX; i++) {
        if (!fired_kinds[i]) {
            fired_kinds[i] = kind;
            break;
        }
    }
    push_locked((int)level, fmt, ap);
    ss_log_notify_fn fn = notify_fn;
    pthread_mutex_unlock(&log_lock);
    va_end(ap);
    if (fn)
        fn();
}

int ss_log_clear_kind(const char *kind)
{
    pthread_mutex_lock(&log_lock);
    int i = kind_index_locked(kind);
    if (i >= 0)
        fired_kinds[i] = NULL;
    pthread_mutex_unlock(&log_lock);
    return i >= 0;
}

int ss_log_pop(char *buf, size_t buflen)
{
    int level = -1;
    pthread_mutex_lock(&log_lock);
    if (ring_count > 0) {
        log_message *m = &ring[ring_head];
        level = m->level;
        if (buflen) {
            strncpy(buf, m->text, buflen - 1);
            buf[buflen - 1] = '\0';
        }
        ring_head = (ring_head + 1) % RING_SLOTS;
        ring_count--;
    }
    pthread_mutex_unlock(&log_lock);
    return level;
}

unsigned ss_log_dropped(void)
{
    pthread_mutex_lock(&log_lock);
    unsigned n = ring_dropped;
    ring_dropped = 0;
    pthread_mutex_unlock(&log_lock);
    return n;
}

void ss_log_lock_for_fork(void)
{
    pthread_mutex_lock(&log_lock);
}

void ss_log_unlock_after_fork(int in_child)
{
    if (in_child)
        pthread_mutex_init(&log_lock, NULL);
    else
        pthread_mutex_unlock(&log_lock);
}
