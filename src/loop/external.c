/* SPDX-License-Identifier: MIT */
/*
 * Driving a loop from another event loop (GLib's GMainContext, through
 * the GSource in src/glib/glib.c): the prepare and check halves of the
 * notify protocol for a poller that is not loom_loop_poll().  The outside
 * loop waits on the loop's epoll fd, which polls readable when a handler
 * or the loop's eventfd is ready; BHs and timers reach it as a timeout or
 * as a notification (an eventfd write).  Everything here runs in the
 * loop's home thread, except loom__loop_ext_withdraw() and
 * loom__loop_ext_detach(), which any thread may call.
 */
#include <loom/loop.h>

#include <errno.h>

#include "base/atomic.h"
#include "fdmon/fdmon.h"
#include "loop/loop-priv.h"
#include "timer/timer-int.h"

/* Move the loop to epoll (remembering the mode to restore) if needed. */
static int ext_pin(struct loom_loop *l, struct loom__ext_poll *ep)
{
    int mode = (int)l->mode;
    int ret;

    if (l->mon->ops == &loom__fdmon_epoll_ops && l->mode == LOOM_FDMON_EPOLL) {
        return 0;
    }
    /* Setting the mode, not only the monitor, stops automatic switches. */
    ret = loom_loop_set_fdmon(l, LOOM_FDMON_EPOLL);
    if (ret < 0) {
        return ret;
    }
    if (!ep->pinned) {
        ep->saved_mode = mode;
        ep->pinned = true;
    }
    return 0;
}

int loom__loop_ext_prepare(struct loom_loop *l, struct loom__ext_poll *ep,
                           int64_t *ret_timeout_ns)
{
    uint32_t cur, add, old;
    int64_t timeout;
    int ret;

    loom__loop_claim_home(l);
    ret = ext_pin(l, ep);
    if (ret < 0) {
        return ret;
    }
    /*
     * Notifications must come as eventfd writes, which the epoll fd
     * reports: clear FUTEX (and a SPIN no level here needs: the caller
     * will sleep).  If one was already sent as a futex wake (the loop
     * last slept with no fd to watch), it is not on the eventfd: do not
     * block.  Announce in the same RMW, before looking for work, as
     * prepare_wait() in poll.c; only the home thread changes FUTEX and
     * SPIN.  Pairs with the seq_cst load and the fetch_or in
     * loom_loop_notify(): a thread publishing work either is seen by
     * loom__loop_timeout_ns() or sees the count != 0 and writes the
     * eventfd.
     */
    cur = loom__atomic_read(&l->wake);
    add = ep->announced ? 0 : LOOP_WAKE_ONE;
    add -= cur & (LOOP_WAKE_FUTEX | LOOP_WAKE_SPIN);
    old = loom__atomic_fetch_add(&l->wake, add);
    ep->announced = true;
    /*
     * A handler left in poll mode by an earlier loom_loop_poll() may have
     * its notifications off: do not block; the caller's dispatch (a
     * non-blocking poll) takes it out of poll mode and polls it.
     *
     * NOTIFIED set: a wake-up sent as a futex wake, or a stale bit whose
     * eventfd write an earlier accept drained (see prepare_wait() in
     * poll.c).  Either way the eventfd may stay quiet: do not block; the
     * caller's dispatch accepts it.
     */
    timeout = ((old & LOOP_WAKE_NOTIFIED) ||
               l->npolling[LOOM__GROUP_DEFAULT])
                  ? 0
                  : loom__loop_timeout_ns(l);
    if (timeout == 0) {
        /* The caller will not block (nor, with GLib, call check). */
        loom__loop_ext_withdraw(l, ep);
    }
    *ret_timeout_ns = timeout;
    return loom__fdmon_epoll_fd(l->mon);
}

void loom__loop_ext_withdraw(struct loom_loop *l, struct loom__ext_poll *ep)
{
    if (ep->announced) {
        ep->announced = false;
        /*
         * Pairs with the seq_cst load in loom_loop_notify().  The count
         * is part of the futex word: a loop about to sleep on it at most
         * returns early (sleep_futex() in poll.c).
         */
        (void)loom__atomic_fetch_sub(&l->wake, LOOP_WAKE_ONE);
    }
}

bool loom__loop_ext_check(struct loom_loop *l, struct loom__ext_poll *ep,
                          bool fd_ready)
{
    LOOM_ASSERT_HOME(l, "loom loop GSource check");
    loom__loop_ext_withdraw(l, ep);
    /*
     * Drain whenever the fd fired, even with NOTIFIED clear: a notifier
     * that set NOTIFIED before our last accept may write the eventfd after
     * it, and with no handler fd watched loom_loop_poll(l, false) never
     * reads the eventfd, so the epoll fd would stay readable for good.
     */
    if (fd_ready || (loom__atomic_read(&l->wake) & LOOP_WAKE_NOTIFIED)) {
        loom__loop_notify_accept(l, true);
    }
    return fd_ready || loom__loop_timeout_ns(l) == 0;
}

void loom__loop_ext_detach(struct loom_loop *l, struct loom__ext_poll *ep)
{
    loom__loop_ext_withdraw(l, ep);
    if (ep->pinned && loom__loop_is_home(l)) {
        /* Best effort: on failure the loop simply stays on epoll. */
        (void)loom_loop_set_fdmon(l, (enum loom_fdmon)ep->saved_mode);
    }
    ep->pinned = false;
}
