/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's clocks and QEMUTimer (<qemu/timer.h>) on loom timers.
 *
 * The clock mapping is the point of this file: QEMU_CLOCK_REALTIME is
 * monotonic (loom's HOST) and QEMU_CLOCK_HOST is wall time (loom's
 * REALTIME).  Every QEMUTimer owns one loom timer on its context's loop
 * and sits on its group's list (under the group's lock, any thread) until
 * timer_deinit() or the context's end.
 */
#include "qemu/osdep.h"

#include <loom/clock.h>
#include <loom/timer.h>

#include "block/aio.h"
#include "compat-int.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"

static enum loom_clock to_loom_clock(QEMUClockType type)
{
    switch (type) {
    case QEMU_CLOCK_REALTIME:
        return LOOM_CLOCK_HOST;
    case QEMU_CLOCK_HOST:
        return LOOM_CLOCK_REALTIME;
    case QEMU_CLOCK_VIRTUAL:
    case QEMU_CLOCK_VIRTUAL_RT:
        return LOOM_CLOCK_VIRTUAL;
    default:
        break;
    }
    error_report("invalid QEMUClockType %d", (int)type);
    abort();
}

int64_t qemu_clock_get_ns(QEMUClockType type)
{
    return loom_clock_ns(to_loom_clock(type));
}

int64_t get_clock(void)
{
    return loom_clock_ns(LOOM_CLOCK_HOST);
}

int64_t get_clock_realtime(void)
{
    return loom_clock_ns(LOOM_CLOCK_REALTIME);
}

void loom_q_timerlistgroup_init(QEMUTimerListGroup *tlg, AioContext *ctx)
{
    qemu_mutex_init(&tlg->lock);
    QLIST_INIT(&tlg->timers);
    tlg->ctx = ctx;
}

void loom_q_timerlistgroup_deinit(QEMUTimerListGroup *tlg)
{
    QEMUTimer *ts, *next;

    qemu_mutex_lock(&tlg->lock);
    QLIST_FOREACH_SAFE(ts, &tlg->timers, link, next) {
        if (loom_timer_pending(ts->impl)) {
            error_report("AioContext destroyed with an armed timer");
            abort();
        }
        QLIST_REMOVE(ts, link);
        loom_timer_free(ts->impl);
        ts->impl = NULL;
        ts->tlg = NULL;
    }
    qemu_mutex_unlock(&tlg->lock);
    qemu_mutex_destroy(&tlg->lock);
}

void timer_init_full(QEMUTimer *ts, QEMUTimerListGroup *timer_list_group,
                     QEMUClockType type, int scale, int attributes,
                     QEMUTimerCB *cb, void *opaque)
{
    QEMUTimerListGroup *tlg = timer_list_group;
    int err;

    if (!tlg) {
        AioContext *main_ctx = qemu_get_aio_context();

        if (!main_ctx) {
            error_report("timer_new/timer_init before qemu_init_main_loop()");
            abort();
        }
        tlg = &main_ctx->tlg;
    }
    ts->cb = cb;
    ts->opaque = opaque;
    ts->scale = scale;
    ts->attributes = attributes;
    ts->type = type;
    ts->tlg = tlg;
    err = loom_timer_new(tlg->ctx->loop, to_loom_clock(type), cb, opaque,
                         &ts->impl);
    if (err < 0) {
        loom_q_fail("timer_init", err);
    }
    qemu_mutex_lock(&tlg->lock);
    QLIST_INSERT_HEAD(&tlg->timers, ts, link);
    qemu_mutex_unlock(&tlg->lock);
}

QEMUTimer *timer_new_full(QEMUTimerListGroup *timer_list_group,
                          QEMUClockType type, int scale, int attributes,
                          QEMUTimerCB *cb, void *opaque)
{
    QEMUTimer *ts = g_new0(QEMUTimer, 1);

    timer_init_full(ts, timer_list_group, type, scale, attributes, cb, opaque);
    return ts;
}

void aio_timer_init_with_attrs(AioContext *ctx, QEMUTimer *ts,
                               QEMUClockType type, int scale, int attributes,
                               QEMUTimerCB *cb, void *opaque)
{
    timer_init_full(ts, &ctx->tlg, type, scale, attributes, cb, opaque);
}

QEMUTimer *aio_timer_new_with_attrs(AioContext *ctx, QEMUClockType type,
                                    int scale, int attributes,
                                    QEMUTimerCB *cb, void *opaque)
{
    return timer_new_full(&ctx->tlg, type, scale, attributes, cb, opaque);
}

void timer_deinit(QEMUTimer *ts)
{
    QEMUTimerListGroup *tlg = ts->tlg;

    if (!tlg) {
        return; /* never initialised, or its context is gone */
    }
    qemu_mutex_lock(&tlg->lock);
    QLIST_REMOVE(ts, link);
    qemu_mutex_unlock(&tlg->lock);
    loom_timer_free(ts->impl);
    ts->impl = NULL;
    ts->tlg = NULL;
}

void timer_free(QEMUTimer *ts)
{
    if (ts) {
        timer_deinit(ts);
        g_free(ts);
    }
}

void timer_del(QEMUTimer *ts)
{
    loom_timer_del(ts->impl);
}

/* @t in the timer's scale, in ns, saturating. */
static int64_t scaled(QEMUTimer *ts, int64_t t)
{
    int64_t ns;

    if (__builtin_mul_overflow(t, (int64_t)ts->scale, &ns)) {
        return t < 0 ? 0 : INT64_MAX;
    }
    return ns;
}

void timer_mod_ns(QEMUTimer *ts, int64_t expire_time)
{
    loom_timer_mod(ts->impl, expire_time);
}

void timer_mod(QEMUTimer *ts, int64_t expire_time)
{
    timer_mod_ns(ts, scaled(ts, expire_time));
}

void timer_mod_anticipate_ns(QEMUTimer *ts, int64_t expire_time)
{
    loom_timer_mod_anticipate(ts->impl, expire_time);
}

void timer_mod_anticipate(QEMUTimer *ts, int64_t expire_time)
{
    timer_mod_anticipate_ns(ts, scaled(ts, expire_time));
}

bool timer_pending(QEMUTimer *ts)
{
    return loom_timer_pending(ts->impl);
}

bool timer_expired(QEMUTimer *timer_head, int64_t current_time)
{
    int64_t expire = loom_timer_expire_ns(timer_head->impl);

    return expire >= 0 && expire <= scaled(timer_head, current_time);
}

uint64_t timer_expire_time_ns(QEMUTimer *ts)
{
    return (uint64_t)loom_timer_expire_ns(ts->impl);
}
