/* SPDX-License-Identifier: MIT */
/*
 * Timers: callbacks run by a loop's home thread once a clock reaches a
 * deadline (QEMU's QEMUTimer).
 *
 * A timer belongs to one loop and one clock.  It is armed with an absolute
 * deadline on that clock and may be armed, re-armed, deleted and freed from
 * any thread; its callback always runs in the loop's home thread, from
 * loom_loop_poll(), never before the clock has reached the deadline.
 * Timers with equal deadlines fire in the order they were (re-)armed.  A
 * timer fires once per arming; re-arm it from its callback for periodic
 * behaviour.
 *
 * LOOM_CLOCK_VIRTUAL timers wait while the virtual clock is stopped (only
 * those already due fire) and run once it starts again; in deterministic
 * mode they fire when loom_clock_virtual_step() moves the clock to or past
 * their deadline (a loop blocked in loom_loop_poll() is woken for them).
 */
#ifndef LOOM_TIMER_H
#define LOOM_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/clock.h>
#include <loom/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct loom_loop;

/**
 * struct loom_timer - a timer (opaque; allocated by loom_timer_new()).
 */
struct loom_timer;

/**
 * loom_timer_new() - create a timer, not armed.
 * @l: the loop whose home thread runs the callback.
 * @clock: the clock deadlines are measured on.
 * @cb: called with @opaque when the timer expires.
 *      Callback: home(l).  It may re-arm, delete or free this or any other
 *      timer, and may call loom_loop_poll(@l) (the nested poll does not run
 *      this timer again while its callback is running).
 * @opaque: passed to @cb.
 * @ret: receives the timer on success.
 *
 * The timer counts as live on @l until loom_timer_free(); a loop whose
 * last reference goes while it still has live timers panics.
 *
 * Context: any.
 * Return: 0; -EINVAL if @l, @cb or @ret is NULL or @clock is not a
 * &enum loom_clock value; -ENOMEM.
 */
LOOM_API int loom_timer_new(struct loom_loop *l, enum loom_clock clock,
                            loom_cb *cb, void *opaque, struct loom_timer **ret);

/**
 * loom_timer_free() - delete (if pending) and free a timer.
 * @t: the timer, or NULL (no-op).
 *
 * Allowed from the timer's own callback.  When another thread frees a timer
 * whose callback is running, the callback still completes; the caller must
 * make sure that the callback's @opaque outlives it.
 *
 * Context: any.
 */
LOOM_API void loom_timer_free(struct loom_timer *t);

/**
 * loom_timer_mod() - arm or re-arm a timer.
 * @t: the timer (NULL: no-op).
 * @expire_ns: absolute deadline on the timer's clock, in nanoseconds.  A
 *             deadline that has passed (a negative one is treated as 0)
 *             makes the timer due at once: it runs in the loop's next
 *             timer phase, and at most once per phase (a timer re-armed
 *             into the past from its own callback runs once per
 *             loom_loop_poll(), it does not spin).
 *
 * If the timer was pending, its previous deadline is forgotten and it goes
 * behind timers already armed with the same deadline.  The loop is woken
 * only when the new deadline is earlier than the one it may be sleeping
 * for.
 *
 * Context: any.
 */
LOOM_API void loom_timer_mod(struct loom_timer *t, int64_t expire_ns);

/**
 * loom_timer_mod_ns() - arm or re-arm a timer relative to now.
 * @t: the timer (NULL: no-op).
 * @delta_ns: the deadline is loom_clock_ns(clock) + @delta_ns (saturating;
 *            a negative delta means now).
 *
 * Context: any.
 */
LOOM_API void loom_timer_mod_ns(struct loom_timer *t, int64_t delta_ns);

/**
 * loom_timer_mod_anticipate() - arm a timer, or move it earlier.
 * @t: the timer (NULL: no-op).
 * @expire_ns: as for loom_timer_mod().
 *
 * Arms the timer if it is not pending; if it is pending, moves it only if
 * @expire_ns is earlier than its current deadline (an equal deadline keeps
 * its place).
 *
 * Context: any.
 */
LOOM_API void loom_timer_mod_anticipate(struct loom_timer *t,
                                        int64_t expire_ns);

/**
 * loom_timer_del() - disarm a timer; it will not fire until armed again.
 * @t: the timer (NULL: no-op).  Deleting a timer that is not pending does
 *     nothing.
 *
 * From another thread, the timer's callback may be running (or about to
 * start, if it was taken off the timer list just before) when this returns.
 *
 * Context: any.
 */
LOOM_API void loom_timer_del(struct loom_timer *t);

/**
 * loom_timer_pending() - whether a timer is armed and has not fired yet.
 * @t: the timer (NULL: false).
 *
 * Context: any (a snapshot when other threads arm it).
 * Return: true while armed; false once its callback has started, after
 * loom_timer_del(), or if never armed.
 */
LOOM_API bool loom_timer_pending(struct loom_timer *t);

/**
 * loom_timer_expire_ns() - a pending timer's deadline.
 * @t: the timer (NULL: -1).
 *
 * Context: any.
 * Return: the deadline given to the arming call (0 for a negative one), or
 * -1 if the timer is not pending.
 */
LOOM_API int64_t loom_timer_expire_ns(struct loom_timer *t);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_TIMER_H */
