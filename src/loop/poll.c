/* SPDX-License-Identifier: MIT */
/*
 * loom_loop_poll(): one iteration of a loop, as a chain of phases, in the
 * home thread only (re-entrant: callbacks may nest another iteration).
 *
 *   prepare_wait  announce "I may block" (notify_me), choose the timeout
 *   wait_fds      ask the fd monitor (skipped when there is nothing to
 *                 watch and no reason to sleep: the cheap BH-only path)
 *   finish_wait   withdraw the announcement, accept a notification
 *   BHs, fd handlers, timers   dispatch, in that order
 */
#include <loom/loop.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/check.h"
#include "loop/loop-priv.h"
#include "timer/timer-int.h"

struct poll_iter {
    struct loom_loop *l;
    bool blocking;
    bool legacy;
    bool futex; /* no fd to watch: sleep on l->wake */
    int64_t timeout_ns;
    struct loom_list ready; /* this level's ready handlers */
};

static int64_t compute_timeout(struct loom_loop *l)
{
    int64_t t = loom__bh_timeout_ns(l);
    int64_t tt;

    if (t == 0) {
        return 0;
    }
    tt = loom__timers_timeout_ns(l->timers);
    if (tt >= 0 && (t < 0 || tt < t)) {
        t = tt;
    }
    return t;
}

/* True if this level has no fd to watch: it may sleep on a futex. */
static bool no_fds(const struct poll_iter *it)
{
    const struct loom_loop *l = it->l;

    return !l->watched[LOOM__GROUP_DEFAULT] &&
           !(it->legacy && l->watched[LOOM__GROUP_LEGACY]) &&
           !l->mon->ops->need_wait(l->mon);
}

/*
 * Record how this level would sleep.  Return: false if a notification
 * sent for the previous mode is pending (then the level must not sleep:
 * that wake-up went to the other mechanism).
 */
static bool set_wake_mode(struct loom_loop *l, bool futex)
{
    uint32_t old = loom_atomic_read(&l->wake);

    if (!(old & LOOP_WAKE_FUTEX) == !futex) {
        /* Unchanged: notifiers already wake this mode. */
        return true;
    }
    /* Pairs with the fetch_or in loom_loop_notify(). */
    if (futex) {
        old = loom_atomic_fetch_or(&l->wake, LOOP_WAKE_FUTEX);
    } else {
        old = loom_atomic_fetch_and(&l->wake, ~LOOP_WAKE_FUTEX);
    }
    return !(old & LOOP_WAKE_NOTIFIED);
}

static void prepare_wait(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    bool may_sleep;

    it->futex = no_fds(it);
    if (!it->blocking) {
        it->timeout_ns = 0;
        return;
    }
    may_sleep = set_wake_mode(l, it->futex);
    /*
     * Announce before looking for work.  Pairs with the seq_cst load in
     * loom_loop_notify(): a thread publishing work either is seen by
     * compute_timeout() or sees notify_me != 0 and wakes us.
     */
    loom_atomic_inc(&l->notify_me);
    it->timeout_ns = may_sleep ? compute_timeout(l) : 0;
}

static void sleep_futex(struct loom_loop *l, int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;

    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    /*
     * Sleeps only while the word is exactly FUTEX (not NOTIFIED): a
     * notifier's fetch_or before this call makes it return at once, one
     * after it is followed by its futex wake.  EINTR, EAGAIN and
     * ETIMEDOUT all just end the wait.
     */
    (void)syscall(SYS_futex, &l->wake, FUTEX_WAIT_PRIVATE, LOOP_WAKE_FUTEX, tsp,
                  NULL, 0);
}

static void wait_fds(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    bool sleep = it->timeout_ns != 0;
    struct loom__fdmon *m;
    bool hooks;

    if (!sleep && it->futex) {
        /* Nothing to look at: no syscall. */
        return;
    }
    /* Sleep hooks: only around a real sleep of the outermost level. */
    hooks = sleep && l->depth == 1;
    if (hooks && l->before_sleep) {
        l->before_sleep(l->sleep_opaque);
    }
    if (it->futex) {
        sleep_futex(l, it->timeout_ns);
    } else {
        m = l->mon;
        /* An error leaves the ready list empty; the caller retries. */
        (void)m->ops->wait(m, it->timeout_ns, it->legacy, &it->ready);
    }
    if (hooks && l->after_sleep) {
        l->after_sleep(l->sleep_opaque);
    }
}

static void finish_wait(struct poll_iter *it)
{
    struct loom_loop *l = it->l;

    if (it->blocking) {
        /*
         * Awake: notifiers may skip the wake-up from now on.  Pairs with
         * the seq_cst load in loom_loop_notify(); work published before
         * it is found by the dispatch phases that follow.
         */
        loom_atomic_dec(&l->notify_me);
    }
    if (loom_list_linked(&l->notify_h.ready_link)) {
        loom_list_del(&l->notify_h.ready_link);
        loom__loop_notify_accept(l, true);
    } else if (LOOM_UNLIKELY(loom_atomic_read(&l->wake) & LOOP_WAKE_NOTIFIED)) {
        /*
         * Woken by something else, did not sleep, or slept on the futex:
         * clear the flag.  The eventfd is drained only if it was watched
         * (a futex-mode wake-up never writes it; a stray write is drained
         * by the next fd wait that reports it).
         */
        loom__loop_notify_accept(l, !it->futex);
    }
}

static bool run_timers(struct loom_loop *l)
{
    unsigned n = loom__timers_run(l->timers);

    if (n) {
        LOOP_STAT_ADD(l, timer_runs, n);
    }
    return n > 0;
}

bool loom__loop_poll_ex(struct loom_loop *l, bool blocking, bool legacy)
{
    struct poll_iter it = {
        .l = l,
        .blocking = blocking,
        .legacy = legacy,
    };
    bool progress;

    loom__loop_claim_home(l);
    loom_list_init(&it.ready);
    if (l->depth++ && !loom_list_empty(&l->running)) {
        loom__fdh_mask_running(l);
    }
    prepare_wait(&it);
    wait_fds(&it);
    finish_wait(&it);
    progress = loom__bh_poll(l);
    progress |= loom__fdh_dispatch(l, &it.ready);
    progress |= run_timers(l);
    LOOP_STAT_ADD(l, iterations, 1);
    if (--l->depth == 0 && !loom_list_empty(&l->deleted)) {
        loom__fdh_reap(l);
    }
    return progress;
}

bool loom_loop_poll(struct loom_loop *l, bool blocking)
{
    return loom__loop_poll_ex(l, blocking, false);
}
