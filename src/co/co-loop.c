/* SPDX-License-Identifier: MIT */
/*
 * Coroutines meet loops: loom_co_schedule() (enter in a loop's home
 * thread, through a one-shot BH), loom_co_wake() (enter here, or schedule
 * in the loop the coroutine last ran in), loom_co_enter_in() (enter now
 * when already there), loom_co_reschedule_self() and loom_co_sleep_ns()
 * (a timer on the coroutine's loop).  Scheduling is called from any thread;
 * the BH and timer callbacks run in the target loop's home thread and
 * enter the coroutine there, which records that loop as its own.
 */
#include "co/co-int.h"

#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/timer.h>

#include "base/atomic.h"
#include "base/check.h"
#include "loop/loop-int.h"

/* BH callback: home(co->sched_loop). */
static void schedule_bh(void *opaque)
{
    struct loom_co *co = opaque;
    struct loom_loop *l = co->sched_loop;

    /*
     * Clear before entering: the coroutine may schedule itself again
     * while it runs.  Pairs with the exchange in loom_co_schedule().
     */
    loom__atomic_store_release(&co->scheduled, 0);
    loom__co_enter_loop(l, co);
}

void loom_co_schedule(struct loom_loop *l, struct loom_co *co)
{
    int r;

    if (l == NULL || co == NULL) {
        return;
    }
    /* Pairs with the release store in schedule_bh(). */
    if (loom__atomic_xchg(&co->scheduled, 1) != 0) {
        loom__panic("loom_co_schedule: coroutine %p scheduled twice (it is "
                   "already scheduled and has not run yet)",
                   (void *)co);
    }
    co->sched_loop = l;
    r = loom_bh_oneshot(l, schedule_bh, co);
    if (r < 0) {
        loom__panic("loom_co_schedule: cannot schedule coroutine %p: %s",
                   (void *)co, loom_strerror(r));
    }
}

void loom_co_enter_in(struct loom_loop *l, struct loom_co *co)
{
    if (l == NULL || co == NULL) {
        return;
    }
    if (loom__loop_is_home(l)) {
        loom__co_enter_loop(l, co);
    } else {
        loom_co_schedule(l, co);
    }
}

void loom_co_wake(struct loom_co *co)
{
    if (co == NULL || loom__co_wake_here(co)) {
        return;
    }
    if (co->loop == NULL) {
        loom__panic("loom_co_wake: coroutine %p last ran outside any loop in "
                   "another thread; it cannot be resumed from here",
                   (void *)co);
    }
    loom_co_schedule(co->loop, co);
}

/* Dispatcher, once the coroutine has fully yielded. */
static void reschedule_after_yield(struct loom_co *co, void *arg)
{
    loom_co_schedule(arg, co);
}

void loom_co_reschedule_self(struct loom_loop *l)
{
    struct loom_co *co = loom_co_self();

    if (co == NULL) {
        loom__panic("loom_co_reschedule_self: called outside a coroutine");
    }
    if (l == NULL || l == co->loop) {
        return;
    }
    co->after_yield = reschedule_after_yield;
    co->after_arg = l;
    loom_co_yield();
}

/* Timer callback: home(co->loop). */
static void sleep_timer_cb(void *opaque)
{
    struct loom_co *co = opaque;

    loom__co_enter_loop(co->loop, co);
}

void loom_co_sleep_ns(enum loom_clock clock, int64_t ns)
{
    struct loom_co *co = loom_co_self();
    struct loom_timer *timer;
    int64_t now, deadline;
    int r;

    if (co == NULL) {
        loom__panic("loom_co_sleep_ns: called outside a coroutine");
    }
    if (loom__co_bind_loop(co) == NULL) {
        loom__panic("loom_co_sleep_ns: coroutine %p does not run in a loop "
                   "(enter it with loom_co_schedule() or from a loop "
                   "dispatcher, or in a thread with a loop)",
                   (void *)co);
    }
    r = loom_timer_new(co->loop, clock, sleep_timer_cb, co, &timer);
    if (r < 0) {
        loom__panic("loom_co_sleep_ns: cannot create a timer for coroutine "
                   "%p: %s",
                   (void *)co, loom_strerror(r));
    }
    now = loom_clock_ns(clock);
    if (ns < 0) {
        ns = 0;
    }
    deadline = ns > INT64_MAX - now ? INT64_MAX : now + ns;
    loom_timer_mod(timer, deadline);
    loom_co_yield();
    loom_timer_free(timer);
}
