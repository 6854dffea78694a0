/* SPDX-License-Identifier: MIT */
/*
 * struct loom_loop: creation, reference counting and teardown (with the
 * leak panic), the home-thread bookkeeping, statistics, and the notify
 * protocol that wakes a sleeping loop.  loom_loop_notify() and the stats
 * reader run in any thread; the rest in the home thread or at creation.
 *
 * Notify protocol (DESIGN.md "Notify").  A poll level that may block
 * announces itself (adds LOOP_WAKE_ONE to l->wake), then looks for pending
 * work (BH list, timers) to choose its timeout, then sleeps; afterwards it
 * withdraws (subtracts it again) and accepts the notification.  A thread
 * that publishes work then calls loom_loop_notify(), which loads l->wake:
 * all four are seq_cst, so either the loop's look sees the work, or the
 * notifier sees a level announced and wakes it.  A NOTIFIED bit coalesces
 * concurrent notifiers into one wake-up per sleep.  A level with no fd to
 * watch sleeps on "wake" as a futex (one syscall to sleep, none to drain);
 * otherwise the eventfd is watched with the fds and drained after waking.
 * A level that busy-polls before sleeping (adaptive polling) sets a SPIN
 * bit: notifiers then only set NOTIFIED, which the spin watches (poll.c).
 *
 * The count, the mode (FUTEX), SPIN and NOTIFIED share the word so that
 * a level's announce also sets its mode and SPIN and returns NOTIFIED
 * (one fetch_add), and its withdraw also clears SPIN and accepts NOTIFIED
 * (one cmpxchg): two locked operations per blocking iteration, and the
 * notifier's load and fetch_or touch one cache line.  Only the home
 * thread changes FUTEX and SPIN, so it computes the announce's addend
 * from a plain read of its own bits; the count may also drop under it
 * (an external poller withdrawing from another thread, external.c),
 * which an addition does not mind.  The futex wait compares the whole
 * word: a count change before it only makes it return early (the loop
 * then iterates again), never sleep past a wake-up (sleep_futex()).
 */
#include <loom/loop.h>
#include <loom/timer.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/futex.h"
#include "base/thread-int.h"
#include "loop/loop-priv.h"
#include "timer/timer-int.h"

/*
 * The calling thread's current loop (loop-int.h) and its default outside
 * polls.  loom__loop_poll_ex() saves, sets and restores loom__t_loop.
 */
__thread struct loom_loop *loom__t_loop
    __attribute__((tls_model("initial-exec")));
static __thread struct loom_loop *t_default_loop
    __attribute__((tls_model("initial-exec")));

struct loom_loop *loom_loop_current(void)
{
    return loom__t_loop;
}

void loom__loop_set_thread_default(struct loom_loop *l)
{
    /* Inside a poll of another loop, that poll's exit restores its own. */
    if (loom__t_loop == t_default_loop) {
        loom__t_loop = l;
    }
    t_default_loop = l;
}

static void nop_cb(void *opaque)
{
}

/* The timers' wake-up call (any thread). */
static void timers_notify(void *opaque)
{
    loom_loop_notify(opaque);
}

int loom_loop_new(struct loom_loop **ret)
{
    struct loom_loop *l;
    int err;

    LOOM_CHECK(ret, -EINVAL);
    l = aligned_alloc(LOOM_CACHELINE, sizeof(*l));
    if (!l) {
        return -ENOMEM;
    }
    memset(l, 0, sizeof(*l));
    l->refcnt = 1;
    l->home = loom__thread_id();
    l->mode = LOOM_FDMON_AUTO;
    loom__list_init(&l->slices);
    loom__list_init(&l->handlers);
    loom__list_init(&l->deleted);
    loom__list_init(&l->polling);
    loom__bh_init_embedded(l, &l->kick_bh, nop_cb, "wait-kick");
    l->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->notify_fd < 0) {
        err = -errno;
        goto fail_free;
    }
    err = loom__timers_new(timers_notify, l, &l->timers);
    if (err < 0) {
        goto fail_close;
    }
    err = loom__loop_mon_init(l);
    if (err < 0) {
        goto fail_timers;
    }
    *ret = l;
    return 0;

fail_timers:
    loom__timers_free(l->timers);
fail_close:
    close(l->notify_fd);
fail_free:
    free(l);
    return err;
}

void loom_loop_ref(struct loom_loop *l)
{
    if (l) {
        /* Pairs with the fetch_sub in loom_loop_unref(). */
        loom__atomic_inc(&l->refcnt);
    }
}

static void loop_destroy(struct loom_loop *l)
{
    size_t bhs, timers;

    if (l->depth) {
        loom__panic("loom_loop_unref: loop %p freed inside its own poll",
                   (void *)l);
    }
    /* The pool owns a BH on this loop: it goes first. */
    if (l->pool) {
        l->pool_free(l->pool);
        l->pool = NULL;
    }
    bhs = loom__bh_live(l);
    timers = loom__timers_live(l->timers);
    if (bhs || l->nhandlers || timers) {
        loom__panic("loom_loop_unref: loop %p freed with %zu BH(s) not freed "
                   "or not run, %zu fd handler(s) and %zu notifier "
                   "handler(s) still set, %zu timer(s) not freed",
                   (void *)l, bhs, l->nhandlers - l->nnotifiers, l->nnotifiers,
                   timers);
    }
    loom__bh_reclaim_all(l);
    loom__fdh_reap(l);
    loom__loop_mon_destroy(l);
    loom__timers_free(l->timers);
    close(l->notify_fd);
    free(l->fds);
    free(l);
}

void loom_loop_unref(struct loom_loop *l)
{
    if (!l) {
        return;
    }
    /* Pairs with itself in other unrefs: the last one sees every use. */
    if (loom__atomic_fetch_sub(&l->refcnt, 1) == 1) {
        loop_destroy(l);
    }
}

struct loom_pool *loom__loop_get_pool(struct loom_loop *l)
{
    /* Pairs with the cmpxchg in loom__loop_install_pool(). */
    return loom__atomic_load_acquire(&l->pool);
}

struct loom_pool *loom__loop_install_pool(struct loom_loop *l,
                                          struct loom_pool *p,
                                          void (*free_fn)(struct loom_pool *))
{
    struct loom_pool *old;

    /*
     * pool_free is written before the pool is published and read only by
     * the loop's teardown, after the last reference is gone.
     */
    loom__atomic_set(&l->pool_free, free_fn);
    old = loom__atomic_cmpxchg(&l->pool, (struct loom_pool *)NULL, p);
    return old ? old : p;
}

struct loom__timers *loom__loop_timers(struct loom_loop *l)
{
    return l->timers;
}

int loom_timer_new(struct loom_loop *l, enum loom_clock clock, loom_cb *cb,
                   void *opaque, struct loom_timer **ret)
{
    LOOM_CHECK(l, -EINVAL);
    return loom__timer_new(l->timers, clock, cb, opaque, ret);
}

int loom_loop_set_precise_timers(struct loom_loop *l, bool precise)
{
    LOOM_CHECK(l, -EINVAL);
    loom__timers_set_precise(l->timers, precise);
    return 0;
}

bool loom__loop_is_home(struct loom_loop *l)
{
    return loom__atomic_read(&l->home) == loom__thread_id();
}

void loom__loop_set_home(struct loom_loop *l)
{
    loom__atomic_set(&l->home, loom__thread_id());
    loom__atomic_set(&l->home_claimed, true);
    /* The timers' lock-free path follows the home thread. */
    loom__timers_set_home(l->timers, loom__thread_id());
}

void loom__loop_claim_home(struct loom_loop *l)
{
    /* The first poller becomes home; later ones are checked. */
    if (LOOM_UNLIKELY(!loom__atomic_read(&l->home_claimed))) {
        loom__loop_set_home(l);
    }
    LOOM_ASSERT_HOME(l, "loom_loop_poll");
}

void loom_loop_notify(struct loom_loop *l)
{
    loom__loop_notify(l);
}

void loom__loop_notify_slow(struct loom_loop *l)
{
    uint64_t one = 1;
    uint32_t old;

    /*
     * loom__loop_notify()'s seq_cst load of l->wake saw a level announced
     * and no wake-up on its way: set NOTIFIED, and send the wake-up if
     * this RMW set it and the loop is not busy-polling.
     */
    old = loom__atomic_fetch_or(&l->wake, LOOP_WAKE_NOTIFIED);
    if (old & (LOOP_WAKE_NOTIFIED | LOOP_WAKE_SPIN)) {
        /*
         * A wake-up is on its way, or the loop is busy-polling and will
         * see NOTIFIED before it sleeps (spin() in poll.c).
         */
        loom__loop_notify_skipped_inc(l);
        return;
    }
    if (old & LOOP_WAKE_FUTEX) {
        loom__futex_wake(&l->wake, 1);
    } else {
        /* EAGAIN: the counter is saturated, the loop is awake anyway. */
        (void)!write(l->notify_fd, &one, sizeof(one));
    }
    loom__atomic_add_relaxed(&l->notify_sent, 1);
}

void loom__loop_notify_drain(struct loom_loop *l)
{
    uint64_t val;

    /* EAGAIN: nothing was written (or another drain read it). */
    (void)!read(l->notify_fd, &val, sizeof(val));
}

void loom__loop_notify_accept(struct loom_loop *l, bool drain)
{
    /*
     * Clear the flag before draining: a notifier that sets it after this
     * sends another wake-up, which the next wait reports, so none is lost.
     * Pairs with the fetch_or in loom_loop_notify().
     */
    loom__atomic_fetch_and(&l->wake, ~LOOP_WAKE_NOTIFIED);
    if (drain) {
        loom__loop_notify_drain(l);
    }
}

void loom_loop_stats(struct loom_loop *l, struct loom_loop_stats *st)
{
    if (!l || !st) {
        return;
    }
    memset(st, 0, sizeof(*st));
    st->iterations = loom__atomic_read(&l->iterations);
    st->bh_runs = loom__atomic_read(&l->bh_runs);
    st->fd_events = loom__atomic_read(&l->fd_events);
    st->timer_runs = loom__atomic_read(&l->timer_runs);
    st->notify_sent = loom__atomic_read(&l->notify_sent);
    st->notify_skipped = loom__atomic_read(&l->notify_skipped);
    st->poll_hits = loom__atomic_read(&l->poll_hits);
    st->poll_misses = loom__atomic_read(&l->poll_misses);
    /* The loop applies a lowered maximum at its next blocking poll. */
    st->poll_ns = loom__atomic_read(&l->poll_ns);
    if (st->poll_ns > loom__atomic_read(&l->poll_max_ns)) {
        st->poll_ns = loom__atomic_read(&l->poll_max_ns);
    }
    st->fdmon = (enum loom_fdmon)loom__atomic_read(&l->fdmon_kind);
}

int loom_loop_set_poll_params(struct loom_loop *l, int64_t max_ns, int64_t grow,
                              int64_t shrink)
{
    LOOM_CHECK(l, -EINVAL);
    LOOM_CHECK(max_ns >= 0 && grow >= 0 && shrink >= 0, -EINVAL);
    loom__atomic_set(&l->poll_max_ns, max_ns);
    loom__atomic_set(&l->poll_grow, grow);
    loom__atomic_set(&l->poll_shrink, shrink);
    return 0;
}

void loom__loop_set_sleep_hooks(struct loom_loop *l, loom_cb *before_sleep,
                                loom_cb *after_sleep, void *opaque)
{
    LOOM_ASSERT_HOME(l, "loom__loop_set_sleep_hooks");
    l->before_sleep = before_sleep;
    l->after_sleep = after_sleep;
    l->sleep_opaque = opaque;
}
