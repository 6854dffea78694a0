/* SPDX-License-Identifier: MIT */
/*
 * Bottom halves.  Any thread schedules and frees them; only the home
 * thread dequeues and runs them (loom__bh_poll(), called by every poll
 * level) and reclaims freed ones.
 *
 * Scheduling sets BH_PENDING|BH_SCHEDULED with one atomic RMW; the thread
 * that set BH_PENDING pushes the BH onto the loop's lock-free LIFO with a
 * CAS.  Each poll level takes the whole list with one xchg, reverses it
 * into FIFO order and appends it as a "slice" to the loop's slice list;
 * then it runs BHs from the oldest slice until every slice is empty, so a
 * nested poll finishes the slices of the levels above it.  A BH scheduled
 * while the slices run goes to the list, i.e. the next iteration: a
 * self-rescheduling BH runs once per poll.  Freeing marks BH_DELETED and
 * enqueues the BH; whoever dequeues it reclaims the memory, so memory is
 * never reclaimed while another thread may still push it.
 *
 * Memory of one-shots that ran is recycled rather than freed
 * (bh-recycle.c); BHs from loom_bh_new() are malloc()ed and free()d.
 */
#include <loom/bh.h>

#include <errno.h>
#include <stdlib.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/lifo.h"
#include "loop/loop-priv.h"

/* Every field of a BH that lives (not a one-shot's short block). */
static void bh_init(struct loom_bh *bh, struct loom_loop *l, loom_cb *cb,
                    void *opaque, const char *name, unsigned flags)
{
    bh->l = l;
    bh->cb = cb;
    bh->opaque = opaque;
    bh->name = name;
    bh->next = NULL;
    bh->flags = flags;
}

void loom__bh_init_embedded(struct loom_loop *l, struct loom_bh *bh,
                            loom_cb *cb, const char *name)
{
    bh_init(bh, l, cb, NULL, name, BH_INTERNAL);
}

int loom_bh_new(struct loom_loop *l, loom_cb *cb, void *opaque,
                const char *name, struct loom_bh **ret)
{
    struct loom_bh *bh;

    LOOM_CHECK(l && cb && ret, -EINVAL);
    /*
     * Not from the one-shots' recycler, whose blocks are smaller: a BH
     * that lives is created rarely, and its ->l and ->name need room.
     */
    bh = malloc(sizeof(*bh));
    if (!bh) {
        return -ENOMEM;
    }
    bh_init(bh, l, cb, opaque, name, 0);
    /*
     * A counter only: the final unref's refcount RMW orders the reads.
     * One-shots are not counted here (that would be two RMWs on a shared
     * line per post); loom__bh_live() counts those still queued.
     */
    loom__atomic_add_relaxed(&l->bh_live, 1);
    *ret = bh;
    return 0;
}

/* Called by the thread whose RMW set BH_PENDING: it owns bh->next. */
static void bh_push(struct loom_loop *l, struct loom_bh *bh)
{
    /*
     * The loop's thread reads this line while it busy-polls: take it
     * once, for the CAS, rather than for the head's load first.
     */
    loom__prefetch_w(&l->bh_head);
    /*
     * Pairs with the xchg in bh_take_slice() and the seq_cst load in
     * loom__bh_timeout_ns(): publishes bh->next, and is ordered before
     * the seq_cst load of l->wake in loom_loop_notify().
     */
    (void)loom__lifo_push(&l->bh_head, bh, bh, next);
}

/*
 * The loop this thread last scheduled a BH on, a guess at the next one:
 * see loom_bh_schedule().  Only ever prefetched, never dereferenced, so
 * that a loop freed since costs nothing but a wasted prefetch.
 */
static __thread struct loom_loop *t_sched_loop
    __attribute__((tls_model("initial-exec")));

void loom_bh_schedule(struct loom_bh *bh)
{
    struct loom_loop *l, *guess = t_sched_loop;
    unsigned old, new;

    if (!bh) {
        return;
    }
    /* The loop's thread wrote it last: one transfer for load and CAS. */
    loom__prefetch_w(&bh->flags);
    /*
     * bh_push() needs the loop's list line next, but which loop is on
     * the BH's line, which is on its way: ask for the line of the loop
     * this thread scheduled on last time now, so that the two transfers
     * overlap instead of following each other.  A thread usually
     * schedules on one loop (an IOThread's completions, a round trip
     * between two loops' threads), and a wrong guess costs one line.
     */
    if (guess) {
        loom__prefetch_w(&guess->bh_head);
    }
    old = loom__atomic_read(&bh->flags);
    do {
        new = (old | BH_PENDING | BH_SCHEDULED) & ~BH_IDLE;
        /*
         * Always an RMW, even when nothing changes, so that the loop's
         * fetch_and in loom__bh_poll() synchronizes with it: whatever the
         * caller wrote before scheduling is visible to the callback.
         */
    } while (!loom__atomic_cas(&bh->flags, &old, new));
    /* Read after the CAS: a load before it may take the line shared. */
    l = bh->l;
    if (LOOM_UNLIKELY(l != guess)) {
        t_sched_loop = l;
    }
    if (!(old & BH_PENDING)) {
        bh_push(l, bh);
    } else if ((old & (BH_SCHEDULED | BH_IDLE)) == BH_SCHEDULED) {
        /*
         * Already queued and scheduled: the thread that queued it
         * notifies, and the loop looks at the list (after announcing it
         * may sleep) before sleeping.
         */
        return;
    }
    /* Newly queued, or re-armed / upgraded from idle: wake the loop. */
    loom__loop_notify(l);
}

void loom_bh_schedule_idle(struct loom_bh *bh)
{
    unsigned old, new;

    if (!bh) {
        return;
    }
    old = loom__atomic_read(&bh->flags);
    do {
        new = old | BH_PENDING | BH_SCHEDULED;
        if (!(old & BH_SCHEDULED)) {
            new |= BH_IDLE;
        }
        /* An RMW for the same reason as in loom_bh_schedule(). */
    } while (!loom__atomic_cas(&bh->flags, &old, new));
    if (!(old & BH_PENDING)) {
        bh_push(bh->l, bh);
    }
}

void loom_bh_cancel(struct loom_bh *bh)
{
    if (bh) {
        /*
         * Stays queued if pending; dequeuing it then runs nothing.  Pairs
         * with the fetch_and in loom__bh_poll().
         */
        loom__atomic_fetch_and(&bh->flags, ~(BH_SCHEDULED | BH_IDLE));
    }
}

void loom_bh_free(struct loom_bh *bh)
{
    struct loom_loop *l;
    unsigned old, new;

    if (!bh) {
        return;
    }
    l = bh->l;
    old = loom__atomic_read(&bh->flags);
    do {
        if (old & (BH_DELETED | BH_INTERNAL | BH_ONESHOT)) {
            loom__panic("loom_bh_free: BH %p (%s) freed twice or not freeable",
                       (void *)bh, bh->name ? bh->name : "unnamed");
        }
        /* Cancel and mark in one step: a freed BH never runs again. */
        new = (old | BH_DELETED | BH_PENDING) & ~(BH_SCHEDULED | BH_IDLE);
        /*
         * Pairs with the fetch_and in loom__bh_poll(); once this lands
         * the loop may free @bh if it was queued, so it is not touched
         * again unless we queue it ourselves.
         */
    } while (!loom__atomic_cas(&bh->flags, &old, new));
    loom__atomic_add_relaxed(&l->bh_live, (size_t)-1);
    if (!(old & BH_PENDING)) {
        /* Hand the memory to the loop, which frees it when dequeued. */
        bh_push(l, bh);
    }
}

int loom_bh_oneshot(struct loom_loop *l, loom_cb *cb, void *opaque)
{
    struct loom_bh *bh;

    LOOM_CHECK(l && cb, -EINVAL);
    /* A short block: no ->l or ->name (loop-priv.h). */
    bh = loom__bh_mem_alloc(l);
    if (!bh) {
        return -ENOMEM;
    }
    bh->cb = cb;
    bh->opaque = opaque;
    bh->flags = BH_ONESHOT | BH_PENDING | BH_SCHEDULED;
    bh_push(l, bh);
    loom__loop_notify(l);
    return 0;
}

/*
 * How long pending BHs let the loop sleep: 0 if any is scheduled (or a
 * slice of an outer level is unfinished), LOOP_IDLE_BH_NS if only idle
 * ones are, -1 if none.  Walking the list is safe: only the home thread
 * removes entries, others only push in front of the head we read.
 */
int64_t loom__bh_timeout_slow(struct loom_loop *l)
{
    int64_t timeout = -1;
    struct loom_bh *bh;

    if (!loom__list_empty(&l->slices)) {
        return 0;
    }
    /*
     * Pairs with the CAS in bh_push(): after our seq_cst announce (the
     * count in l->wake), either we see the BH or its pusher sees the
     * count != 0.
     */
    for (bh = loom__atomic_load_seq(&l->bh_head); bh; bh = bh->next) {
        unsigned f = loom__atomic_read(&bh->flags);

        if (f & BH_SCHEDULED) {
            if (!(f & BH_IDLE)) {
                return 0;
            }
            timeout = LOOP_IDLE_BH_NS;
        }
    }
    return timeout;
}

/*
 * Dequeue and run @bh, taken off the list or a slice; its ->next has been
 * read.  Counted in l->bh_runs before its callback, so that whoever sees
 * the callback's effects also sees it counted.
 * Return: true if it ran and counts as progress (not an idle BH).
 */
static bool bh_dispatch(struct loom_loop *l, struct loom_bh *bh)
{
    unsigned flags = loom__atomic_read(&bh->flags);

    if (LOOM_LIKELY(flags & BH_ONESHOT)) {
        /*
         * Nobody holds a handle to a one-shot, so it is never cancelled,
         * idle or freed, and no other thread writes its flags after the
         * push; the xchg that took the list made the pusher's writes
         * visible.  No RMW needed.
         */
        LOOP_STAT_ADD(l, bh_runs, 1);
        bh->cb(bh->opaque);
        loom__bh_mem_release(l, bh);
        return true;
    }
    /*
     * Read bh->next before clearing BH_PENDING: from then on another
     * thread may push the BH again.  Pairs with the CAS in
     * loom_bh_schedule() and the fetch_or in loom_bh_free().
     */
    flags = loom__atomic_fetch_and(&bh->flags,
                                   ~(BH_PENDING | BH_SCHEDULED | BH_IDLE));
    if (flags & BH_DELETED) {
        /* Only loom_bh_new() BHs are freed (loom_bh_free()). */
        free(bh);
        return false;
    }
    if (!(flags & BH_SCHEDULED)) {
        return false;
    }
    LOOP_STAT_ADD(l, bh_runs, 1);
    bh->cb(bh->opaque);
    return !(flags & BH_IDLE);
}

/*
 * Run the slices, oldest first, until none is left.  A callback may poll
 * the loop again: that nested level runs the rest of every slice,
 * ours included, and drops a slice when it takes its last BH.  So before
 * each callback the slice's head is stored, and after it a head other
 * than the one stored means a nested level ran this slice (or all of it):
 * look at the list again.  Return: true if a non-idle BH ran.
 */
static bool bh_run_slices(struct loom_loop *l)
{
    bool progress = false;

    while (!loom__list_empty(&l->slices)) {
        struct loom__bh_slice *s =
            loom__list_entry(l->slices.next, struct loom__bh_slice, link);
        struct loom_bh *bh = s->head, *next;

        if (LOOM_UNLIKELY(!bh)) {
            loom__list_del(&s->link);
            continue;
        }
        for (; bh; bh = next) {
            next = bh->next;
            s->head = next;
            if (!next) {
                /* Drop it now so that nested polls do not see it. */
                loom__list_del(&s->link);
            }
            progress |= bh_dispatch(l, bh);
            if (next && LOOM_UNLIKELY(s->head != next)) {
                break;
            }
        }
    }
    return progress;
}

bool loom__bh_poll_slow(struct loom_loop *l)
{
    struct loom__bh_slice slice;
    struct loom_bh *bh;

    /* Acquire pairs with the CAS in bh_push(). */
    bh = loom__atomic_load_acquire(&l->bh_head);
    if (bh) {
        /* Its pusher wrote it last; we read ->next, then RMW ->flags. */
        loom__prefetch_w(&bh->flags);
        /* Pairs with the CAS in bh_push(): makes every bh->next visible. */
        bh = loom__lifo_take(&l->bh_head);
        if (!bh->next && loom__list_empty(&l->slices)) {
            /*
             * The common hand-off, one BH and no unfinished slice of an
             * outer level: its slice would be dropped before it runs.
             */
            return bh_dispatch(l, bh);
        }
        slice.head = loom__lifo_reverse(bh, next);
        loom__list_add_tail(&l->slices, &slice.link);
    } else if (loom__list_empty(&l->slices)) {
        return false;
    }
    return bh_run_slices(l);
}

size_t loom__bh_live(struct loom_loop *l)
{
    size_t n = loom__atomic_read(&l->bh_live);
    struct loom_bh *bh;

    /*
     * Teardown, at depth 0: every slice is finished, so a one-shot that
     * did not run is still on the list.  Freed BHs on it are not counted.
     */
    for (bh = loom__atomic_load_acquire(&l->bh_head); bh; bh = bh->next) {
        if (loom__atomic_read(&bh->flags) & BH_ONESHOT) {
            n++;
        }
    }
    return n;
}

/*
 * Free everything still queued (freed BHs) and the recycled memory at the
 * loop's teardown.
 * Return: how many queued BHs were reclaimed.
 */
size_t loom__bh_reclaim_all(struct loom_loop *l)
{
    struct loom_bh *bh, *next;
    size_t n = 0;

    /* Teardown: no other thread may push any more. */
    for (bh = loom__lifo_take(&l->bh_head); bh; bh = next) {
        unsigned flags = loom__atomic_read(&bh->flags);

        next = bh->next;
        if (flags & BH_ONESHOT) {
            loom__bh_mem_free(bh);
            n++;
        } else if (!(flags & BH_INTERNAL)) {
            free(bh);
            n++;
        }
    }
    loom__bh_mem_teardown(l);
    return n;
}
