/* SPDX-License-Identifier: MIT */
/*
 * loom_loop_poll(): one iteration of a loop, as a chain of phases, in the
 * home thread only (re-entrant: callbacks may nest another iteration).
 *
 *   prepare_wait  announce "I may block" (l->wake), choose the timeout
 *   busy_poll     adaptive polling: spin on the handlers' on_poll before
 *                 sleeping (only when the loop would sleep); hooked
 *                 handlers enter poll mode (poll_begin)
 *   poll_mode     leave poll mode before a wait that may sleep (poll_end,
 *                 then on_poll one last time), or poll once if work is due
 *   wait_fds      ask the fd monitor (skipped when there is nothing to
 *                 watch and no reason to sleep: the cheap BH-only path)
 *   finish_wait   withdraw the announcement, accept a notification, and
 *                 adapt the busy-poll window to how long the wait was
 *   BHs, fd handlers, timers   dispatch, in that order
 */
#include <loom/loop.h>

#include <sched.h>

#include <loom/clock.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/futex.h"
#include "loop/loop-priv.h"
#include "timer/timer-int.h"

struct poll_iter {
    struct loom_loop *l;
    bool blocking;
    bool toplevel;
    bool futex;  /* no fd to watch: sleep on l->wake */
    bool polled; /* busy-polling found work: no fd wait */
    bool swept;  /* the spin's last round polled every handler */
    int64_t timeout_ns;
    int64_t poll_start;     /* adaptive polling: when it began; 0 if off */
    int64_t poll_max;       /* adaptive polling: poll_max_ns read at start */
    int64_t window;         /* adaptive polling: this level's spin window */
    bool adaptive;          /* adaptive polling is on for this level */
    bool early;             /* our announce found NOTIFIED set */
    bool hint;              /* NOTIFIED is probably set (withdraw()) */
    uint32_t wake;          /* l->wake as we last wrote it, NOTIFIED clear */
    /*
     * This level's ready handlers, a local of loom__loop_poll_ex(): its
     * address goes to the monitor, and were the list a member the whole
     * iteration state would live in memory instead of registers.
     */
    struct loom__list *ready;
};

int64_t loom__loop_timeout_ns(struct loom_loop *l)
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
           !(it->toplevel && l->watched[LOOM__GROUP_TOPLEVEL]) &&
           !l->mon->ops->need_wait(l->mon);
}

/*
 * Adaptive polling: whether this level may busy-poll instead of sleeping
 * at once (if, once announced, it finds it would sleep: no BH or timer due
 * now).  Only a blocking poll, with polling configured, and only while
 * every handler this level watches has an on_poll: one without would be
 * missed by the spin.  Reads poll_max_ns once: the window and the SPIN
 * bit of the announce follow from this read.
 */
static bool poll_allowed(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    int64_t window;

    it->poll_max = loom__atomic_read(&l->poll_max_ns);
    if (LOOM_LIKELY(it->poll_max <= 0) || l->nopoll[LOOM__GROUP_DEFAULT] ||
        (it->toplevel && l->nopoll[LOOM__GROUP_TOPLEVEL])) {
        return false;
    }
    window = loom__atomic_read(&l->poll_ns);
    if (window > it->poll_max) {
        /* The maximum was lowered. */
        window = it->poll_max;
        loom__atomic_set(&l->poll_ns, window);
    }
    it->window = window;
    return true;
}

/*
 * Announce "I may block" and record how this level would sleep, in one
 * RMW of l->wake: add one to the count, flip FUTEX to this level's mode,
 * and set SPIN if it will busy-poll.  Only the home thread changes FUTEX
 * and SPIN, so the addend follows from a plain read of them.  An outer
 * level's SPIN (this level nests in its on_poll) is cleared unless this
 * level spins too: a level must never sleep with SPIN set, and a level
 * leaves SPIN clear when it returns (finish_wait()), so the outer spin
 * only loses the syscalls SPIN saves.
 *
 * NOTIFIED in the old value: the level must not sleep (finish_wait()
 * accepts it and drains).  With the mode changed, a wake-up sent for the
 * previous mode went to the other mechanism.  With the mode unchanged,
 * NOTIFIED may be stale: a notifier set it just after our last accept
 * cleared it, and our drain, which follows the clear, read its eventfd
 * write.  Every later notifier then takes the bit for a wake-up on its way
 * and sends none, so sleeping on an empty eventfd would never end.  The
 * RMW reads the latest value, so it sees the bit (test-loop's
 * /loop/notify-stale).
 *
 * Pairs with the seq_cst load in loom_loop_notify(): a thread publishing
 * work either is seen by loom__loop_timeout_ns() or sees the count != 0
 * and wakes us.
 */
static void prepare_wait(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    uint32_t cur, add = LOOP_WAKE_ONE, old;

    it->futex = no_fds(it);
    if (!it->blocking) {
        it->timeout_ns = 0;
        return;
    }
    it->adaptive = poll_allowed(it);
    cur = loom__atomic_read(&l->wake);
    if (!(cur & LOOP_WAKE_FUTEX) != !it->futex) {
        add += it->futex ? LOOP_WAKE_FUTEX : -LOOP_WAKE_FUTEX;
    }
    if (it->adaptive && it->window) {
        add += (cur & LOOP_WAKE_SPIN) ? 0 : LOOP_WAKE_SPIN;
    } else if (LOOM_UNLIKELY(cur & LOOP_WAKE_SPIN)) {
        add -= LOOP_WAKE_SPIN;
    }
    old = loom__atomic_fetch_add(&l->wake, add);
    it->wake = (old + add) & ~LOOP_WAKE_NOTIFIED;
    if (old & LOOP_WAKE_NOTIFIED) {
        it->early = true;
        it->hint = true;
        it->timeout_ns = 0;
        return;
    }
    it->timeout_ns = loom__loop_timeout_ns(l);
}

/*
 * Spin for up to @window_ns: poll the handlers and watch for a
 * notification.  Return: true if work was found.
 *
 * The notify protocol while spinning.  The level stays announced (from
 * prepare_wait() until finish_wait()), so every loom_loop_notify() that
 * follows our loom__loop_timeout_ns() - a BH scheduled, a timer armed
 * earlier, a bare notify, from any thread - reaches its fetch_or of
 * NOTIFIED (or finds NOTIFIED set and knows a wake-up is on its way).
 * What SPIN changes is only whether that fetch_or is followed by a
 * syscall.  SPIN is set by the announce itself (prepare_wait()), so take
 * the order of the RMWs on l->wake (one word: one total order):
 *
 * (a) NOTIFIED set before our announce: the notifier saw no SPIN and
 *     sent the wake-up; the announce returns NOTIFIED, we do not spin
 *     and do not sleep; finish_wait() accepts it (and drains).
 * (b) set between our announce and the RMW that clears SPIN (the
 *     fetch_and below when the window ends with nothing found, else the
 *     withdraw in finish_wait(), and we do not sleep before it): the
 *     notifier saw SPIN and made no syscall; the spin sees NOTIFIED, or
 *     at the latest that RMW returns it, and we do not sleep.  Nothing
 *     was written to the eventfd, so it is accepted without draining.
 * (c) set after our fetch_and: the notifier sees no SPIN and sends the
 *     wake-up, which ends the wait that follows (the usual protocol).
 *
 * A notifier that skipped its fetch_or because NOTIFIED was already set
 * relies on that earlier setter's case; its work was published before its
 * seq_cst load of l->wake, so if this iteration's dispatch misses it the
 * next poll's loom__loop_timeout_ns() finds it (as without polling).  The
 * spin does not need to walk the BH list itself: every schedule that
 * needs a wake-up notifies, and NOTIFIED is one load.  When work is found
 * SPIN stays set until finish_wait()'s withdraw, which clears it, accepts
 * NOTIFIED and drops the count in one RMW.
 */
/*
 * While spinning, give the CPU away this often: a peer thread on the same
 * CPU (under load, or pinned there) could otherwise only run once the
 * window ends, and every round trip would cost a window.  Longer than a
 * cross-CPU hand-off, so that a peer on another CPU is caught first.
 * The spin yields even after a yield kept it off the CPU for longer than
 * the whole window (a vCPU spinning in its guest on the ring we serve):
 * not yielding for a second after such a yield was tried, and made the
 * virtio-blk dataplane slower on a shared CPU (bench-blk, 18 runs: loom's
 * 4 KiB reads took ~45 us instead of ~6 at QD1, 70-200 us instead of ~4
 * at QD4, in about half the runs).
 */
#define LOOP_SPIN_YIELD_NS ((int64_t)1000)

static bool spin(struct poll_iter *it, int64_t window_ns)
{
    struct loom_loop *l = it->l;
    int64_t now, next_yield = it->poll_start + LOOP_SPIN_YIELD_NS;
    uint32_t last;

    for (;;) {
        bool notified = false;

        if (loom__fdh_poll(l, it->toplevel, it->ready) ||
            (notified = loom__atomic_read(&l->wake) & LOOP_WAKE_NOTIFIED)) {
            struct loom_bh *h = loom__atomic_read(&l->bh_head);

            if (h) {
                loom__prefetch_w(&h->flags);
            }
            it->hint = notified;
            it->swept = true;
            /* Case (b): finish_wait() withdraws, clears SPIN, accepts. */
            return true;
        }
        now = loom_clock_ns(LOOM_CLOCK_HOST);
        if (now - it->poll_start >= window_ns) {
            break;
        }
        if (now >= next_yield) {
            /*
             * Let a thread waiting for this CPU run: often it is the one
             * that will send us work (the two threads share a CPU).
             */
            sched_yield();
            next_yield = now + LOOP_SPIN_YIELD_NS;
        } else {
            loom__cpu_relax();
        }
    }
    it->swept = true;
    /*
     * The window ended: clear SPIN before a sleep.  Case (b) is accepted
     * in the same RMW: no syscall was made, there is nothing to drain.
     * Pairs with the fetch_or in loom_loop_notify().
     */
    last =
        loom__atomic_fetch_and(&l->wake,
                               ~(LOOP_WAKE_SPIN | LOOP_WAKE_NOTIFIED));
    it->wake = last & ~(LOOP_WAKE_SPIN | LOOP_WAKE_NOTIFIED);
    return last & LOOP_WAKE_NOTIFIED;
}

/*
 * Adaptive polling (QEMU's poll-max-ns / poll-grow / poll-shrink): before
 * sleeping, spin for the current window (it->window, from l->poll_ns).
 * finish_wait() then adapts the window (adapt_window()).  A window of 0
 * does not spin but still measures the wait, so that it can grow.
 */
static void busy_poll(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    int64_t window = it->window, elapsed;

    if (LOOM_LIKELY(!it->adaptive) || it->timeout_ns == 0) {
        /* Off, or not about to sleep (a set SPIN is cleared later). */
        return;
    }
    it->poll_start = loom_clock_ns(LOOM_CLOCK_HOST);
    if (!window) {
        return;
    }
    /* Never spin past the next timer. */
    if (it->timeout_ns >= 0 && it->timeout_ns < window) {
        window = it->timeout_ns;
    }
    if (l->nhooked) {
        /* Handlers may now turn their notifications off. */
        loom__fdh_poll_begin(l, it->toplevel);
    }
    if (spin(it, window)) {
        LOOP_STAT_ADD(l, poll_hits, 1);
        it->polled = true;
        it->timeout_ns = 0;
        return;
    }
    LOOP_STAT_ADD(l, poll_misses, 1);
    if (it->timeout_ns > 0) {
        elapsed = loom_clock_ns(LOOM_CLOCK_HOST) - it->poll_start;
        it->timeout_ns =
            elapsed < it->timeout_ns ? it->timeout_ns - elapsed : 0;
    }
}

/*
 * Poll mode (loom_set_fd_poll_hooks()).  Handlers enter it when a window
 * starts (busy_poll()) and stay in it while the loop keeps busy-polling
 * or has work due, so that a busy source runs without notifications.
 * Before a wait that may sleep (or in a non-blocking poll, after which
 * the caller may block elsewhere) they leave it: poll_end turns their
 * notifications back on, and on_poll runs once more, because work that
 * arrived just before that sent no notification; found, it is dispatched
 * in this iteration and the wait does not sleep.  An iteration that will
 * not sleep (a BH or timer is due) and did not spin calls each on_poll
 * once instead: with notifications off, nothing else would find that
 * work while the loop stays busy.
 */
static void poll_mode(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    bool found;

    if (LOOM_LIKELY(loom__list_empty(&l->polling)) ||
        (it->polled && it->swept)) {
        /* Nothing in poll mode, or the spin just polled everything. */
        return;
    }
    if (!it->blocking || it->timeout_ns != 0) {
        found = loom__fdh_poll_end(l, it->toplevel, it->ready);
    } else {
        found = loom__fdh_poll_round(l, it->toplevel, it->ready);
    }
    if (found) {
        it->timeout_ns = 0;
    }
}

/*
 * After a wait that busy-polling did not avoid: if the loop slept longer
 * than poll_max_ns, polling would not have helped (shrink the window);
 * if the event came within poll_max_ns but after the window, a longer
 * window would have caught it (grow).
 *
 * Unlike QEMU's algorithm, a window at 0 is tried again: every
 * LOOP_POLL_PROBE_MISSES-th long wait in a row at 0 sets the initial
 * window for the next one.  The window learns only from waits that
 * polling did not avoid, so at 0 it would never learn that a short spin
 * catches the next event where waking the sleeping thread itself takes
 * longer than poll_max_ns.  That is a guest's I/O at queue depth 1 on a
 * busy host with slow cross-CPU wake-ups: after one preemption had reset
 * the window, each 4 KiB read took 57 us instead of 3 for the rest of the
 * run (bench-blk's guest on AMD EPYC under KVM with one busy process
 * beside it, loom's IOThread with the default 32 us maximum: half the
 * boots).  A probe that misses costs one spin of 4 us.
 */
static void adapt_window(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    int64_t block = loom_clock_ns(LOOM_CLOCK_HOST) - it->poll_start;
    int64_t cur = loom__atomic_read(&l->poll_ns), next = cur;
    int64_t max = it->poll_max, f;

    if (block > max) {
        f = loom__atomic_read(&l->poll_shrink);
        next = f ? cur / f : 0;
        /* Too short to catch anything: grow from the start again. */
        next = next < LOOP_POLL_INITIAL_NS ? 0 : next;
        if (!cur && ++l->poll_probe >= LOOP_POLL_PROBE_MISSES) {
            l->poll_probe = 0;
            next = LOOP_POLL_INITIAL_NS < max ? LOOP_POLL_INITIAL_NS : max;
        }
    } else if (block > cur && cur < max) {
        l->poll_probe = 0;
        f = loom__atomic_read(&l->poll_grow);
        f = f ? f : 2;
        if (!cur) {
            next = LOOP_POLL_INITIAL_NS;
        } else {
            next = cur > max / f ? max : cur * f;
        }
        next = next < max ? next : max;
    }
    if (next != cur) {
        loom__atomic_set(&l->poll_ns, next);
    }
}

static void sleep_futex(struct loom_loop *l, int64_t timeout_ns)
{
    uint32_t w = loom__atomic_read(&l->wake);

    /*
     * The futex word is all of l->wake: sleep only while it is exactly
     * what we read, FUTEX set, NOTIFIED and SPIN clear.  A notifier sends
     * its futex wake after its fetch_or of NOTIFIED: if that RMW comes
     * before the kernel's compare, the wait returns at once; after, the
     * wake ends it.  Any other change of the word (a count change by an
     * external poller's withdraw, external.c) before the compare only
     * ends the wait early.  EINTR, EAGAIN and ETIMEDOUT all just end it.
     */
    if ((w & (LOOP_WAKE_NOTIFIED | LOOP_WAKE_FUTEX | LOOP_WAKE_SPIN)) !=
        LOOP_WAKE_FUTEX) {
        return;
    }
    (void)loom__futex_wait_ns(&l->wake, w, timeout_ns);
}

static void wait_fds(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    bool sleep = it->timeout_ns != 0;
    struct loom__fdmon *m;
    bool hooks;

    if (!sleep &&
        (it->futex || (it->polled && !l->mon->ops->need_wait(l->mon)))) {
        /*
         * Nothing to look at, or busy-polling just looked at every
         * handler (all have on_poll): no syscall.
         */
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
        (void)m->ops->wait(m, it->timeout_ns, it->toplevel, it->ready);
    }
    if (hooks && l->after_sleep) {
        l->after_sleep(l->sleep_opaque);
    }
}

/*
 * Withdraw this blocking level's announce, clear SPIN and accept NOTIFIED
 * in one RMW.  The first try's expected value is a guess, so that a
 * wake-up costs no load of the line before the locked operation: the
 * word as this level last wrote it, with NOTIFIED if the level was
 * probably woken by a notification.  A wrong guess costs a retry.  Only
 * the home thread changes FUTEX and SPIN; the count can drop under us
 * (an external poller's withdraw) and NOTIFIED can be set, which the
 * retry absorbs.
 * Return: the word before the withdraw.
 */
static uint32_t withdraw(struct poll_iter *it, bool fd_notified)
{
    struct loom_loop *l = it->l;
    uint32_t expect, old;
    bool woke = it->hint || fd_notified || (it->futex && it->timeout_ns);

    expect = woke ? it->wake | LOOP_WAKE_NOTIFIED : it->wake;
    for (;;) {
        uint32_t next = (expect - LOOP_WAKE_ONE) &
                        ~(LOOP_WAKE_SPIN | LOOP_WAKE_NOTIFIED);

        /*
         * Awake: notifiers may skip the wake-up from now on.  Pairs with
         * the seq_cst load in loom_loop_notify(); work published before
         * it is found by the dispatch phases that follow.  Clearing
         * NOTIFIED before draining: a notifier that sets it after this
         * sends another wake-up, which the next wait reports.
         */
        old = loom__atomic_cmpxchg(&l->wake, expect, next);
        if (LOOM_LIKELY(old == expect)) {
            return old;
        }
        expect = old;
    }
}

static void finish_wait(struct poll_iter *it)
{
    struct loom_loop *l = it->l;
    bool fd_notified = loom__list_linked(&l->notify_h.ready_link);
    uint32_t old;

    if (fd_notified) {
        loom__list_del(&l->notify_h.ready_link);
    }
    if (LOOM_LIKELY(it->blocking)) {
        old = withdraw(it, fd_notified);
        /*
         * Drain if the eventfd reported the wake-up, or if NOTIFIED may
         * have come with an eventfd write: set before our announce, or
         * while SPIN was clear.  A futex-mode wake-up never writes it (a
         * stray write is drained by the next fd wait that reports it).
         */
        if (fd_notified ||
            ((old & LOOP_WAKE_NOTIFIED) && !it->futex &&
             (it->early || !(old & LOOP_WAKE_SPIN)))) {
            loom__loop_notify_drain(l);
        }
    } else if (fd_notified) {
        loom__loop_notify_accept(l, true);
    } else if (LOOM_UNLIKELY(loom__atomic_read(&l->wake) &
                             LOOP_WAKE_NOTIFIED)) {
        /*
         * Woken by something else or did not sleep: clear the flag.  The
         * eventfd is drained only if it was watched (as above).
         */
        loom__loop_notify_accept(l, !it->futex);
    }
    if (LOOM_UNLIKELY(it->poll_start) && !it->polled) {
        adapt_window(it);
    }
}

/*
 * A nested level takes over the handlers that an outer level's polling
 * found ready (LOOP_EV_POLLED) but has not dispatched yet.  Their
 * notification may be gone: a poll_end hook clears what polled reaps left
 * in an eventfd, then on_poll finds work that arrived meanwhile, so no
 * wait of this level reports it.  The outer level dispatches its BHs
 * before its fd handlers, and a BH that polls the loop until that work is
 * done (a caller waiting for in-flight requests to complete) would
 * otherwise sleep for good.  As with a handler a nested wait finds again
 * (loom__fdmon_add_ready()), it moves to this level and is dispatched
 * once, here.  Handlers on the stack or of the top-level group (outside
 * the main loop's own iteration) stay where they are.
 */
static void adopt_polled(struct poll_iter *it, struct loom__poll_level *outer)
{
    bool found = false;

    for (; outer; outer = outer->outer) {
        struct loom__list *pos, *next;

        for (pos = outer->ready->next; pos != outer->ready; pos = next) {
            struct loom__fdh *h =
                loom__list_entry(pos, struct loom__fdh, ready_link);

            next = pos->next;
            if ((h->revents & LOOP_EV_POLLED) && !h->running && !h->deleted &&
                (h->cold->group != LOOM__GROUP_TOPLEVEL || it->toplevel)) {
                loom__fdmon_add_ready(it->ready, h, h->revents);
                found = true;
            }
        }
    }
    if (found) {
        it->timeout_ns = 0;
    }
}

/*
 * Leave the loop's chain of running levels.  Levels end innermost first,
 * except that a poll made in a coroutine whose callback yielded ends
 * after the levels it nests in (test-fd's /fd/running-out-of-order): a
 * level is unlinked wherever it sits, so that the chain never points at a
 * frame that has returned.
 */
static void level_leave(struct loom_loop *l, struct loom__poll_level *level)
{
    struct loom__poll_level **pp = &l->level;

    while (*pp != level) {
        pp = &(*pp)->outer;
    }
    *pp = level->outer;
}

static bool run_timers(struct loom_loop *l)
{
    unsigned n = loom__timers_run(l->timers);

    if (n) {
        LOOP_STAT_ADD(l, timer_runs, n);
    }
    return n > 0;
}

LOOM__FD_HOT bool loom__loop_poll_ex(struct loom_loop *l, bool blocking,
                                     bool toplevel)
{
    struct loom__list ready;
    struct poll_iter it = {
        .l = l,
        .blocking = blocking,
        .toplevel = toplevel,
        .ready = &ready,
    };
    struct loom_loop *outer = loom__t_loop;
    struct loom__poll_level level = {.ready = &ready};
    bool progress;

    if (LOOM_UNLIKELY(!loom__atomic_read(&l->home_claimed))) {
        /* The first poller becomes home. */
        loom__loop_claim_home(l);
    }
    LOOM_ASSERT_HOME(l, "loom_loop_poll");
    loom__t_loop = l;
    loom__list_init(&ready);
    if (l->depth++ && l->running) {
        loom__fdh_mask_running(l);
    }
    level.outer = l->level;
    l->level = &level;
    prepare_wait(&it);
    busy_poll(&it);
    poll_mode(&it);
    if (LOOM_UNLIKELY(level.outer != NULL)) {
        adopt_polled(&it, level.outer);
    }
    wait_fds(&it);
    finish_wait(&it);
    progress = loom__bh_poll(l);
    progress |= loom__fdh_dispatch(l, &ready);
    progress |= run_timers(l);
    LOOP_STAT_ADD(l, iterations, 1);
    level_leave(l, &level);
    if (--l->depth == 0 && !loom__list_empty(&l->deleted)) {
        loom__fdh_reap(l);
    }
    loom__t_loop = outer;
    return progress;
}

LOOM__FD_HOT bool loom_loop_poll(struct loom_loop *l, bool blocking)
{
    return loom__loop_poll_ex(l, blocking, false);
}
