/* exceptions.c - the Thrown Exceptions profile (exception-samples).
 *
 * Why this file exists: Ruby reports every raise (from Ruby `raise` and from
 * C, e.g. Integer("x")) to :raise TracePoints; enabling one does not change
 * how bytecode runs (it is not an instruction event). The hook counts down to
 * its next sampled raise (geometric draw, mean STACKSIGHT_EXCEPTION_SAMPLE_
 * INTERVAL, default 20), so an unsampled raise costs the
 * hook call and a decrement. A sampled one takes the raising thread's stack
 * (leaf first: the raising method, e.g. Kernel#raise, then its caller at the
 * raise line) and adds one row weighing the mean interval, with label
 * `exception type` = the exception's class name. The sum of exception-samples
 * estimates the number of raises; a re-raise (`raise e`) counts again, as it
 * is a raise. Everything runs with the GVL, which serialises the countdown. */
#include "events.h"

#include <stdlib.h>
#include <ruby/debug.h>

#include "core.h"
#include "interner.h"

static VALUE raise_hook = Qnil;     /* the :raise TracePoint */
static int exc_on;                  /* recording (between start and pause) */
static double exc_mean;             /* mean raises between two samples, >= 1 */
static int64_t exc_countdown;       /* raises until the next sampled one */
static ss_frame *exc_frames;        /* named stack of the sample being recorded */
static int exc_messages;            /* STACKSIGHT_EXCEPTION_MESSAGES: message label */
static ID id_mesg;                  /* the exception's hidden message ivar */

static VALUE record(VALUE exc)
{
    uint32_t n = ev_capture_current(0, exc_frames);
    ss_labels labels;
    ev_thread_labels(rb_thread_current(), ev_tid(), &labels);
    labels.exception_type = ev_class_label(rb_obj_class(exc));
    VALUE msg = exc_messages ? rb_attr_get(exc, id_mesg) : Qnil;   /* no user code runs */
    if (RB_TYPE_P(msg, T_STRING))
        labels.exception_message = ss_intern_label(RSTRING_PTR(msg), (size_t)(RSTRING_LEN(msg) > 200 ? 200 : RSTRING_LEN(msg)));
    ss_aggregator *agg = ss_core_aggregator();   /* nothing above gives up the GVL */
    if (exc_on && agg && n)
        ss_aggregator_add1(agg, exc_frames, n, &labels, SS_EXCEPTION_SAMPLES, (int64_t)(exc_mean + 0.5));
    return Qnil;
}

void ev_exceptions_pause(void);

static void on_raise(VALUE tpval, void *data)
{
    (void)data;
    if (!exc_on || --exc_countdown > 0)
        return;
    exc_countdown = ss_geometric_interval(exc_mean);
    rb_trace_arg_t *arg = rb_tracearg_from_tracepoint(tpval);
    int state = 0;
    rb_protect(record, rb_tracearg_raised_exception(arg), &state);
    if (state) {   /* our failure must not replace the application's exception */
        rb_set_errinfo(Qnil);
        ev_exceptions_pause();
        ev_fail("exception", "recording a sample raised an error");
    }
}

void ev_exceptions_init(VALUE mNative)
{
    (void)mNative;
    id_mesg = rb_intern("mesg");
    raise_hook = rb_tracepoint_new(Qnil, RUBY_EVENT_RAISE, on_raise, NULL);
    rb_gc_register_address(&raise_hook);
}

int ev_exceptions_start(const ss_config *cfg)
{
    if (!cfg->exception_enabled)
        return 0;
    double mean = cfg->exception_sample_interval >= 1 ? cfg->exception_sample_interval : 1;
    exc_messages = cfg->collect_exception_message;
    ss_frame *f = realloc(exc_frames, (size_t)ev_max_frames() * sizeof *f);
    if (!f) {
        ev_fail("exception", "out of memory");
        return -1;
    }
    exc_frames = f;
    exc_mean = mean;
    exc_countdown = ss_geometric_interval(mean);
    exc_on = 1;
    rb_tracepoint_enable(raise_hook);
    return 0;
}

void ev_exceptions_pause(void)
{
    exc_on = 0;
    if (!NIL_P(raise_hook))
        rb_tracepoint_disable(raise_hook);
}
