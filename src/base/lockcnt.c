/* SPDX-License-Identifier: MIT */
/*
 * Lock counters (QEMU's QemuLockCnt): an atomic count of visitors plus a
 * mutex.  Visitors enter and leave with lock-free compare-exchanges while
 * the count stays positive; the transitions through zero go through the
 * mutex, which is what lets the last visitor free unlinked elements
 * without racing with a new one.  Any thread.
 *
 * Invariant: the count moves 1 -> 0 only with the mutex held
 * (loom_lockcnt_dec_and_lock(), loom_lockcnt_dec_if_lock()), and 0 -> 1
 * only with the mutex held (loom_lockcnt_inc() from zero takes it first,
 * loom_lockcnt_inc_and_unlock() holds it), except for plain
 * loom_lockcnt_dec(), which the caller uses when it does not free.
 */
#include <loom/sync.h>

#include "base/atomic.h"
#include "base/check.h"

void loom_lockcnt_init(struct loom_lockcnt *c)
{
    loom_mutex_init(&c->mutex);
    loom__atomic_set(&c->count, 0);
}

void loom_lockcnt_destroy(struct loom_lockcnt *c)
{
    if (loom__atomic_load_acquire(&c->count) != 0) {
        loom__panic("lockcnt %p destroyed with %u visitors", (void *)c,
                   loom__atomic_read(&c->count));
    }
    loom_mutex_destroy(&c->mutex);
}

unsigned loom_lockcnt_get(struct loom_lockcnt *c)
{
    /* Pairs with the seq_cst updates below. */
    return loom__atomic_load_acquire(&c->count);
}

void loom_lockcnt_inc(struct loom_lockcnt *c)
{
    uint32_t n = loom__atomic_read(&c->count);

    for (;;) {
        if (n == 0) {
            /*
             * Zero: a last visitor may be freeing under the mutex.  Wait
             * for it, then enter with the mutex held.
             */
            loom_mutex_lock(&c->mutex);
            loom_lockcnt_inc_and_unlock(c);
            return;
        }
        /*
         * Pairs with the decrements in loom_lockcnt_dec_and_lock(): a
         * visitor that gets in here was counted before the last one left,
         * so that one sees a non-zero count and does not free.
         */
        if (loom__atomic_cas(&c->count, &n, n + 1)) {
            return;
        }
    }
}

void loom_lockcnt_dec(struct loom_lockcnt *c)
{
    /* Pairs with the loads and compare-exchanges of the other calls. */
    uint32_t old = loom__atomic_fetch_sub(&c->count, 1);

    if (LOOM_UNLIKELY(old == 0)) {
        loom__panic("lockcnt %p decremented below zero", (void *)c);
    }
}

bool loom_lockcnt_dec_and_lock(struct loom_lockcnt *c)
{
    uint32_t n = loom__atomic_read(&c->count);

    for (;;) {
        if (LOOM_UNLIKELY(n == 0)) {
            loom__panic("lockcnt %p decremented below zero", (void *)c);
        }
        if (n == 1) {
            break;
        }
        /* Not the last: leave without the mutex.  Pairs as in _inc(). */
        if (loom__atomic_cas(&c->count, &n, n - 1)) {
            return false;
        }
    }
    /*
     * Possibly the last one.  Take the mutex before dropping to zero, so
     * that a visitor arriving at zero waits for us to finish freeing.
     */
    loom_mutex_lock(&c->mutex);
    if (loom__atomic_sub_fetch(&c->count, 1) == 0) {
        return true;
    }
    /* Someone came in between: not the last after all. */
    loom_mutex_unlock(&c->mutex);
    return false;
}

bool loom_lockcnt_dec_if_lock(struct loom_lockcnt *c)
{
    uint32_t n = loom__atomic_read(&c->count);

    if (LOOM_UNLIKELY(n == 0)) {
        loom__panic("lockcnt %p decremented below zero", (void *)c);
    }
    if (n != 1) {
        return false;
    }
    loom_mutex_lock(&c->mutex);
    n = 1;
    /* Only 1 -> 0; pairs as in loom_lockcnt_dec_and_lock(). */
    if (loom__atomic_cas(&c->count, &n, 0)) {
        return true;
    }
    loom_mutex_unlock(&c->mutex);
    return false;
}

void loom_lockcnt_lock(struct loom_lockcnt *c)
{
    loom_mutex_lock(&c->mutex);
}

void loom_lockcnt_unlock(struct loom_lockcnt *c)
{
    loom_mutex_unlock(&c->mutex);
}

void loom_lockcnt_inc_and_unlock(struct loom_lockcnt *c)
{
    /* Counted before the mutex is released: see loom_lockcnt_inc(). */
    loom__atomic_inc(&c->count);
    loom_mutex_unlock(&c->mutex);
}
