/* events.c - sampling draws, stack naming and labels for the event profiles
 * (see events.h for why they share this).
 *
 * Everything here runs with the GVL, which serialises the callers; the name
 * cache and the scratch buffers are therefore plain globals. Frame objects
 * are pinned while they wait to be named and while they are cache keys (a GC
 * root marks them), so neither collection nor compaction can change what an
 * address names. */
#define _GNU_SOURCE
#include "events.h"
#include "rb_stacksight.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <ruby/debug.h>

#include "interner.h"
#include "log.h"

#define NAME_SLOTS 8192u                /* power of two; emptied at 3/4 full */

typedef struct name_entry {
    VALUE frame;                        /* key: iseq or method entry; 0 = empty */
    uint32_t function;                  /* ss_intern_function id */
} name_entry;

static name_entry names[NAME_SLOTS];    /* frame -> function cache */
static uint32_t names_used;             /* filled entries */
static VALUE *scratch_frames;           /* frames of the stack being named (pinned) */
static int *scratch_lines;              /* their lines */
static int scratch_n;                   /* frames in scratch_frames to mark */
static int max_frames;                  /* capacity of the scratch buffers */
static _Thread_local pid_t cached_tid;  /* gettid() of this thread, 0 = unknown */
static _Thread_local char tname[64];    /* last thread name seen on this thread */
static _Thread_local size_t tname_len;  /* its length */
static _Thread_local uint32_t tname_id; /* its interned id; 0 = none cached */
static ID id_name;
static int root_data = 1;            /* Ruby calls dmark only for a non-NULL pointer */

int64_t ev_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

pid_t ev_tid(void)
{
    if (!cached_tid)
        cached_tid = (pid_t)syscall(SYS_gettid);
    return cached_tid;
}

static void root_mark(void *p)
{
    (void)p;
    for (uint32_t i = 0; i < NAME_SLOTS; i++)
        if (names[i].frame)
            rb_gc_mark(names[i].frame);
    for (int i = 0; i < scratch_n; i++)
        rb_gc_mark(scratch_frames[i]);
}

static const rb_data_type_t root_type = {
    .wrap_struct_name = "stacksight_event_root",
    .function = {.dmark = root_mark, .dfree = NULL, .dsize = NULL},
    .flags = 0,
};

int ev_prepare(int frames)
{
    static int root_made;
    if (!root_made) {
        VALUE root = TypedData_Wrap_Struct(rb_cObject, &root_type, &root_data);
        rb_gc_register_mark_object(root);
        id_name = rb_intern("name");
        root_made = 1;
    }
    if (frames <= max_frames)
        return 0;
    VALUE *f = calloc((size_t)frames, sizeof *f);
    int *l = calloc((size_t)frames, sizeof *l);
    if (!f || !l) {
        free(f);
        free(l);
        return -1;
    }
    /* The old buffers may be marked by nothing now (scratch_n is 0 outside a
     * capture), so they can go. */
    free(scratch_frames);
    free(scratch_lines);
    scratch_frames = f;
    scratch_lines = l;
    max_frames = frames;
    return 0;
}

int ev_max_frames(void) { return max_frames; }

void ev_fail(const char *what, const char *why)
{
    ss_log_once(SS_LOG_WARNING, what, "stacksight: the %s profile is switched off: %s", what, why);
}

static uint32_t intern_value(VALUE s)
{
    return RB_TYPE_P(s, T_STRING) ? ss_intern_string(RSTRING_PTR(s), (size_t)RSTRING_LEN(s)) : SS_STRING_NONE;
}

static uint32_t hash_frame(VALUE frame) { return (uint32_t)((frame >> 3) * 2654435761u) & (NAME_SLOTS - 1); }

static uint32_t function_of(VALUE frame)
{
    uint32_t h = hash_frame(frame);
    for (; names[h].frame; h = (h + 1) & (NAME_SLOTS - 1))
        if (names[h].frame == frame)
            return names[h].function;
    VALUE label = rb_profile_frame_full_label(frame);
    uint32_t fn = RT_OWN_FUNCTION;
    if (!rt_is_own_label(label)) {
        uint32_t name = intern_value(label);
        uint32_t file = intern_value(rb_profile_frame_path(frame));
        VALUE first = rb_profile_frame_first_lineno(frame);
        int32_t line = RB_INTEGER_TYPE_P(first) ? (int32_t)NUM2INT(first) : 0;
        fn = ss_intern_function(name ? name : ss_intern_cstr("(unnamed)"), file, line);
    }
    if (names_used >= NAME_SLOTS / 4 * 3) {
        memset(names, 0, sizeof names);   /* lets unloaded code be collected */
        names_used = 0;
    }
    for (h = hash_frame(frame); names[h].frame; h = (h + 1) & (NAME_SLOTS - 1))
        ;
    names[h].frame = frame;
    names[h].function = fn;
    names_used++;
    return fn;
}

uint32_t ev_name_frames(const VALUE *frames, const int *lines, int n, ss_frame *out)
{
    uint32_t kept = 0;
    for (int i = 0; i < n; i++) {
        out[kept].function = function_of(frames[i]);
        out[kept].line = lines[i];
        kept += out[kept].function != RT_OWN_FUNCTION;   /* the profiler's own frames are left out */
    }
    return kept;
}

uint32_t ev_capture_current(int skip, ss_frame *out)
{
    if (!max_frames)
        return 0;
    int n = rb_profile_frames(skip, max_frames, scratch_frames, scratch_lines);
    scratch_n = n;   /* pinned while names (which may allocate and GC) are made */
    uint32_t r = ev_name_frames(scratch_frames, scratch_lines, n, out);
    scratch_n = 0;
    return r;
}

void ev_thread_labels(VALUE thread, pid_t tid, ss_labels *out)
{
    memset(out, 0, sizeof *out);
    out->thread_id = NUM2LL(rb_obj_id(thread));
    out->native_thread_id = tid;
    VALUE name = rb_funcall(thread, id_name, 0);
    const char *s = "main";
    size_t len = 4;
    if (RB_TYPE_P(name, T_STRING)) {
        s = RSTRING_PTR(name);
        len = (size_t)RSTRING_LEN(name);
    } else if (thread != rb_thread_main()) {
        return;
    }
    if (len < sizeof tname && tname_id && len == tname_len && memcmp(s, tname, len) == 0) {
        out->thread_name = tname_id;
        return;
    }
    out->thread_name = ss_intern_label(s, len);
    if (len < sizeof tname) {
        memcpy(tname, s, len);
        tname_len = len;
        tname_id = out->thread_name;
    }
}

uint32_t ev_class_label(VALUE klass)
{
    if (!klass || !(RB_TYPE_P(klass, T_CLASS) || RB_TYPE_P(klass, T_MODULE)))
        return ss_intern_cstr("(internal)");
    VALUE k = rb_class_real(klass);
    int anonymous = 0;
    while (k && RB_TYPE_P(k, T_CLASS)) {
        VALUE name = rb_mod_name(k);
        if (RB_TYPE_P(name, T_STRING)) {
            if (!anonymous)
                return ss_intern_label(RSTRING_PTR(name), (size_t)RSTRING_LEN(name));
            char buf[256];
            int len = snprintf(buf, sizeof buf, "%.*s (anonymous)", (int)(RSTRING_LEN(name) > 200 ? 200 : RSTRING_LEN(name)),
                               RSTRING_PTR(name));
            return ss_intern_label(buf, (size_t)len);
        }
        anonymous = 1;
        k = rb_class_superclass(k);
        k = NIL_P(k) ? 0 : k;
    }
    return ss_intern_cstr("(anonymous)");
}
