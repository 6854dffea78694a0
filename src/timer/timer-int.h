/* SPDX-License-Identifier: MIT */
/*
 * Interface between a loop (src/loop/) and its timers (src/timer/).
 *
 * Each loop owns one struct loom__timers, created with the loop and freed
 * with it.  The loop's poll phases ask it for the next deadline (to bound
 * the blocking wait) and let it run what expired.  Everything here is
 * home(loop) unless stated; arming from other threads goes through the
 * public loom_timer_* calls, which lock internally and wake the loop
 * through the notify callback it gave (QEMU's timerlistgroup_init()).  The
 * timers know nothing else about loops: loom_timer_new(), which takes a
 * loop, lives in the loop module and calls loom__timer_new().
 */
#ifndef LOOM_TIMER_INT_H
#define LOOM_TIMER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/atomic.h"
#include "base/compiler.h"

#include <loom/clock.h>
#include <loom/common.h>

struct loom__timers;
struct loom_timer;

/*
 * The first member of struct loom__timers (timer.c), so that the loop's
 * per-iteration checks below are inline loads.  @pending: bit c set while
 * clock c has an armed timer; set and cleared under clock c's lock with
 * seq_cst RMWs, read without any lock.
 */
struct loom__timers_head {
    unsigned pending;
};

/*
 * loom__timers_new() - create the timer state of a loop.
 * @notify: called with @opaque, from any thread, when arming a timer moved
 *          the deadline the loop may be sleeping for (or the virtual clock
 *          made one due): the loop must wake and recompute its timeout.
 * Context: any (called by loom_loop_new()).
 * Return: 0, or -ENOMEM.
 */
int loom__timers_new(loom_cb *notify, void *opaque, struct loom__timers **ret);

/*
 * loom__timers_set_home() - the loop's home thread is now the thread whose
 * loom__thread_id() is @id (the timers start with their creator).  Ends
 * the home thread's lock-free path for good if another thread was home.
 * Context: the new home thread, before it polls.
 */
void loom__timers_set_home(struct loom__timers *ts, uintptr_t id);

/*
 * loom__timers_set_precise() - loom_loop_set_precise_timers() on the
 * loop's timers: while on, the thread that sleeps for them or runs them
 * gets the least timer slack (timer.c).
 * Context: any.
 */
void loom__timers_set_precise(struct loom__timers *ts, bool precise);

/*
 * loom__timers_precise_here() - with precise timers on, lower the calling
 * thread's timer slack now rather than at its first wait for a timer (the
 * main loop's initialisation: its thread is home, and may later be
 * confined by a seccomp filter that refuses prctl()).
 * Context: the loop's home thread.
 */
void loom__timers_precise_here(struct loom__timers *ts);

/*
 * loom__timers_private() - true while only the home thread has used these
 * timers, so that it takes no lock (for tests).  Context: any.
 */
bool loom__timers_private(struct loom__timers *ts);

/*
 * loom__timer_new() - loom_timer_new() on the timer state @ts (the loop
 * module's wrapper checks the loop).
 * Context: any.
 * Return: as loom_timer_new().
 */
int loom__timer_new(struct loom__timers *ts, enum loom_clock clock,
                    loom_cb *cb, void *opaque, struct loom_timer **ret);

/*
 * loom__timers_live() - timers created on this loop and not yet freed
 * (armed or not).  loom_loop_unref() panics when the last reference goes
 * while this is non-zero.
 * Context: any.
 */
size_t loom__timers_live(struct loom__timers *t);

/* Context: the loop's teardown; requires loom__timers_live() == 0. */
void loom__timers_free(struct loom__timers *t);

/*
 * loom__timers_timeout_ns() - how long the loop may sleep for its timers.
 * Return: -1 when no timer is pending on a clock that advances by itself
 * (a stopped or deterministic LOOM_CLOCK_VIRTUAL does not), 0 when one is
 * already due, otherwise nanoseconds until the earliest deadline, rounded
 * up so that the wake-up is never early.
 * Context: home(loop), after announcing that the poll may block.
 */
int64_t loom__timers_timeout_slow(struct loom__timers *t, unsigned pending);

static inline int64_t loom__timers_timeout_ns(struct loom__timers *t)
{
    /*
     * Pairs with the seq_cst fetch_or in pending_inc() (timer.c): after
     * the loop's seq_cst announce (the count in l->wake), either this load
     * sees a clock's first armed timer, or the arming thread's
     * loom_loop_notify() (which follows its fetch_or) sees the count != 0
     * and wakes us.
     */
    unsigned pending =
        loom__atomic_load_seq(&((struct loom__timers_head *)t)->pending);

    return LOOM_LIKELY(!pending) ? -1 : loom__timers_timeout_slow(t, pending);
}

/*
 * loom__timers_run() - run every expired timer once, earliest first and
 * equal deadlines in arming order.  Re-entrant: a callback may call
 * loom_loop_poll() on the same loop; the nested call runs other expired
 * timers, never the one already running.
 * Context: home(loop).
 * Return: the number of callbacks run.
 */
unsigned loom__timers_run_slow(struct loom__timers *t, unsigned pending);

static inline unsigned loom__timers_run(struct loom__timers *t)
{
    /*
     * Relaxed: a timer armed concurrently and missed here is seen by the
     * next loom__timers_timeout_ns(), which orders properly.
     */
    unsigned pending =
        loom__atomic_read(&((struct loom__timers_head *)t)->pending);

    return LOOM_LIKELY(!pending) ? 0 : loom__timers_run_slow(t, pending);
}

#endif /* LOOM_TIMER_INT_H */
