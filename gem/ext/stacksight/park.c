/* park.c - the helper thread's deadlock-friendly sleep.
 *
 * Why this file exists: Ruby declares a deadlock ("No live threads left.
 * Deadlock?", fatal in the main thread) only when every thread of the
 * process sleeps forever in a Mutex, Queue, ConditionVariable or join wait.
 * A helper waiting on its pipe with a timeout is a live thread, so under the
 * profiler such a program used to hang instead of failing. So the helper,
 * once it has had nothing to do for a while, parks: it pops an empty
 * Thread::Queue, which Ruby counts as sleeping forever, and Ruby's own
 * detector decides exactly as it would without us.
 *
 * Waking a parked helper needs a Ruby thread holding the GVL (the sidecar
 * has neither). Work for the helper only appears when an application thread
 * is signalled and records its stack, so the SIGPROF handler, on that thread,
 * triggers a postponed job (async-signal-safe), and the job pushes to the
 * queue at the thread's next safe point. A thread that sleeps forever never
 * reaches one, which is right: the job's interrupt is not one the deadlock
 * detector counts (it looks at pending exceptions and traps only). The
 * profiler's own warnings queued meanwhile wait for the next wake-up (or the
 * stop at exit). */
#include "rb_stacksight.h"

#include <ruby/debug.h>

static _Atomic int parked;              /* the helper sleeps in park_queue.pop */
static VALUE park_queue = Qnil;         /* its queue (GC root) */
static ID id_push;
#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
static rb_postponed_job_handle_t wake_job = POSTPONED_JOB_HANDLE_INVALID;
#endif

static VALUE push_wake(VALUE q)
{
    return rb_funcall(q, id_push, 1, Qtrue);
}

/* Postponed job, on an application thread with the GVL. */
static void wake_parked(void *data)
{
    (void)data;
    if (!atomic_exchange(&parked, 0) || NIL_P(park_queue))
        return;
    int state = 0;
    rb_protect(push_wake, park_queue, &state);
    if (state)
        rb_set_errinfo(Qnil);   /* queue closed: the helper is gone */
}

void rt_park_wake_from_handler(void)
{
    if (!atomic_load_explicit(&parked, memory_order_relaxed) || !ruby_native_thread_p())
        return;
#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
    if (wake_job != POSTPONED_JOB_HANDLE_INVALID)
        rb_postponed_job_trigger(wake_job);
#else
    rb_postponed_job_register_one(0, wake_parked, NULL);
#endif
}

static int captures_waiting(void)
{
    rt_pool *pool = atomic_load(&rt_current_pool);
    for (int i = 0; pool && i < pool->nslots; i++) {
        int st = atomic_load(&pool->slots[i].state);
        if (st == RT_CAPTURED || st == RT_READY || st == RT_WRITING)
            return 1;
    }
    return 0;
}

/* Stacksight::Native.park(queue) -> true: pop `queue` now (a capture will
 * push to it); false: work is waiting, do not park. */
static VALUE native_park(VALUE self, VALUE queue)
{
    (void)self;
    park_queue = queue;
    atomic_store(&parked, 1);   /* before the check: a capture after it sees the flag */
    if (captures_waiting()) {
        atomic_store(&parked, 0);
        return Qfalse;
    }
    return Qtrue;
}

/* Stacksight::Native.unpark - woken (or stopping): captures need not wake it. */
static VALUE native_unpark(VALUE self)
{
    (void)self;
    atomic_store(&parked, 0);
    return Qnil;
}

void rt_park_init(VALUE mNative)
{
    id_push = rb_intern("push");
    rb_gc_register_address(&park_queue);
#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
    wake_job = rb_postponed_job_preregister(0, wake_parked, NULL);
#endif
    rb_define_singleton_method(mNative, "park", native_park, 1);
    rb_define_singleton_method(mNative, "unpark", native_unpark, 0);
}
