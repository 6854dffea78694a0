/* SPDX-License-Identifier: MIT */
/*
 * LOOM_WAIT_WHILE() support and the process's main-loop pointer.  Waiters
 * run in a loop's home thread or in the main loop's; loom_wait_kick()
 * runs in any thread.
 *
 * A waiter outside the waited loop's thread polls the main loop, so it
 * only re-evaluates its condition when the main loop has something to do.
 * It counts itself in g_waiters; a thread that changes a waited-for
 * condition calls loom_wait_kick(), which schedules the main loop's
 * internal kick BH when someone waits.  A BH (not a bare notify) is what
 * makes this race-free: a waiter about to sleep looks at the BH list
 * after announcing itself (see poll.c).
 */
#include <loom/loop.h>

#include "base/atomic.h"
#include "base/check.h"
#include "loop/loop-priv.h"

/* Atomic; set at main-loop init and teardown. */
static struct loom_loop *g_main_loop;
/* Atomic; LOOM_WAIT_WHILE() callers polling the main loop. */
static unsigned g_waiters;

void loom__loop_set_main(struct loom_loop *l)
{
    /* Pairs with the acquire loads below. */
    loom__atomic_store_release(&g_main_loop, l);
}

struct loom_loop *loom__wait_begin(struct loom_loop *l)
{
    /* Pairs with the release store in loom__loop_set_main(). */
    struct loom_loop *main_loop = loom__atomic_load_acquire(&g_main_loop);
    struct loom_loop *polled;

    if (!l) {
        loom__panic("LOOM_WAIT_WHILE: NULL loop");
    }
    polled = loom__loop_is_home(l) ? l : main_loop;
    if (!polled) {
        loom__panic("LOOM_WAIT_WHILE: loop %p waited on outside its home "
                   "thread and no main loop is set",
                   (void *)l);
    }
    if (polled == main_loop) {
        /*
         * Register before the first evaluation of the condition.  Pairs
         * with the fetch_add in loom_wait_kick(): either the kicker sees
         * us, or we see what it wrote before kicking.
         */
        loom__atomic_inc(&g_waiters);
    }
    return polled;
}

void loom__wait_end(struct loom_loop *polled)
{
    /* Pairs with the release store in loom__loop_set_main(). */
    if (polled == loom__atomic_load_acquire(&g_main_loop)) {
        /* Pairs with the fetch_add in loom_wait_kick(). */
        loom__atomic_dec(&g_waiters);
    }
}

void loom_wait_kick(void)
{
    struct loom_loop *main_loop;

    /*
     * An RMW rather than a load, so that it is ordered after the caller's
     * (possibly plain) writes that changed a waited-for condition.  Pairs
     * with the fetch_add in loom__wait_begin().
     */
    if (!loom__atomic_fetch_add(&g_waiters, 0)) {
        return;
    }
    /* Pairs with the release store in loom__loop_set_main(). */
    main_loop = loom__atomic_load_acquire(&g_main_loop);
    if (main_loop) {
        loom__loop_kick(main_loop);
    }
}

void loom__loop_kick(struct loom_loop *l)
{
    /*
     * The BH's push is what a poll about to sleep looks for (after
     * announcing itself in l->wake), so the wake-up cannot be missed.
     */
    loom_bh_schedule(&l->kick_bh);
}
