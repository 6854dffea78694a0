/* SPDX-License-Identifier: MIT */
/*
 * Manual-reset events on a futex.  The word holds a state in its low two
 * bits and a generation above them:
 *   EV_SET    set; waits return at once;
 *   EV_FREE   reset, nobody sleeping;
 *   EV_BUSY   reset, some thread is in (or about to enter) FUTEX_WAIT.
 * loom_event_set() is one compare-exchange to SET and skips the wake-up
 * system call unless it replaced BUSY; then it also bumps the generation,
 * so a sleeper that is woken (or had not yet entered the kernel) sees that
 * a set happened even if the event was reset again before it ran.  Any
 * thread.
 */
#include <loom/sync.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>

#include "base/atomic.h"
#include "base/timeout.h"
#include "base/futex.h"

enum {
    EV_SET = 0,
    EV_FREE = 1,
    EV_BUSY = 2,
    EV_STATE_MASK = 3,
    EV_GEN_ONE = 4,
};

static inline uint32_t ev_state(uint32_t v)
{
    return v & EV_STATE_MASK;
}

static inline uint32_t ev_gen(uint32_t v)
{
    return v & ~(uint32_t)EV_STATE_MASK;
}

void loom_event_init(struct loom_event *e, bool set)
{
    loom__atomic_set(&e->value, set ? EV_SET : EV_FREE);
}

void loom_event_destroy(struct loom_event *e)
{
    (void)e;
}

void loom_event_set(struct loom_event *e)
{
    uint32_t v = loom__atomic_read(&e->value);
    uint32_t nv;

    /*
     * A full barrier even when already set: the caller's earlier writes
     * (the condition) are ordered before it.  Pairs with the acquire load
     * and the compare-exchange in event_wait_until(): if a waiter's
     * FREE -> BUSY came first we see BUSY and wake it; otherwise it sees
     * SET.
     */
    do {
        nv = ev_gen(v) + (ev_state(v) == EV_BUSY ? EV_GEN_ONE : 0) + EV_SET;
    } while (!loom__atomic_cas(&e->value, &v, nv));
    if (ev_state(v) == EV_BUSY) {
        loom__futex_wake(&e->value, INT_MAX);
    }
}

void loom_event_reset(struct loom_event *e)
{
    uint32_t v = loom__atomic_read(&e->value);

    /*
     * Only SET -> FREE, keeping the generation; FREE and BUSY already mean
     * "reset" (and BUSY must stay, or a sleeping waiter would be missed by
     * the next set).  The compare-exchange is seq_cst: ordered before the
     * caller's subsequent check of its condition.  Pairs with the
     * compare-exchange in loom_event_set().
     */
    if (ev_state(v) == EV_SET) {
        (void)loom__atomic_cas(&e->value, &v, ev_gen(v) + EV_FREE);
    }
}

/* 0 once set, or -ETIMEDOUT when @deadline (NULL: never) passed. */
static int event_wait_until(struct loom_event *e,
                            const struct timespec *deadline)
{
    /* Pairs with the compare-exchange in loom_event_set(). */
    uint32_t v = loom__atomic_load_acquire(&e->value);
    uint32_t gen = ev_gen(v);

    for (;;) {
        if (ev_state(v) == EV_SET || ev_gen(v) != gen) {
            return 0;
        }
        if (ev_state(v) == EV_FREE) {
            /*
             * Announce the sleeper.  Pairs with the compare-exchange in
             * loom_event_set(): whichever comes first, either set sees
             * BUSY (and bumps the generation, failing our futex wait or
             * waking it), or we fail here and look again.
             */
            if (!loom__atomic_cas(&e->value, &v, gen + EV_BUSY)) {
                continue;
            }
        }
        if (loom__futex_wait(&e->value, gen + EV_BUSY, deadline) ==
            -ETIMEDOUT) {
            /* Pairs with the compare-exchange in loom_event_set(). */
            v = loom__atomic_load_acquire(&e->value);
            return ev_state(v) == EV_SET || ev_gen(v) != gen ? 0
                                                             : -ETIMEDOUT;
        }
        /* Pairs with the compare-exchange in loom_event_set(). */
        v = loom__atomic_load_acquire(&e->value);
    }
}

void loom_event_wait(struct loom_event *e)
{
    (void)event_wait_until(e, NULL);
}

int loom_event_timedwait(struct loom_event *e, int64_t timeout_ns)
{
    struct timespec deadline;

    /* Pairs with the compare-exchange in loom_event_set(). */
    if (ev_state(loom__atomic_load_acquire(&e->value)) == EV_SET) {
        return 0;
    }
    if (timeout_ns <= 0) {
        return -ETIMEDOUT;
    }
    loom__deadline(&deadline, timeout_ns);
    return event_wait_until(e, &deadline);
}
