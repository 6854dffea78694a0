/* SPDX-License-Identifier: MIT */
/*
 * The pool's request queue: a ring of request pointers under the pool's
 * lock (claiming touches no request), grown by doubling, with guided
 * batch claims and the give-back of an unstarted batch.  Entered by
 * submitters, workers and the teardown.
 */
#include <stdlib.h>

#include "base/atomic.h"
#include "pool/pool-int.h"

/*
 * Make room for @n more entries in the ring.  Context: p->lock held.
 * Return: 0 or -ENOMEM.
 */
int loom__pool_ring_reserve_locked(struct loom_pool *p, size_t n)
{
    struct loom_pool_req **ring;
    size_t cap = p->ring_cap ? p->ring_cap : 256;

    if (p->qlen + n <= p->ring_cap) {
        return 0;
    }
    while (cap < p->qlen + n) {
        cap *= 2;
    }
    ring = malloc(cap * sizeof(*ring));
    if (!ring) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->qlen; i++) {
        ring[i] = p->ring[(p->ring_head + i) & (p->ring_cap - 1)];
    }
    free(p->ring);
    p->ring = ring;
    p->ring_cap = cap;
    p->ring_head = 0;
    return 0;
}

void loom__pool_ring_push_locked(struct loom_pool *p, struct loom_pool_req *req)
{
    p->ring[(p->ring_head + p->qlen) & (p->ring_cap - 1)] = req;
    loom__atomic_set(&p->qlen, p->qlen + 1);
}

/*
 * Take up to @max entries from the queue head into @out.  Context:
 * p->lock held.  Return: how many.
 */
size_t loom__pool_ring_take_locked(struct loom_pool *p,
                                   struct loom_pool_req **out, size_t max)
{
    size_t n = p->qlen < max ? p->qlen : max;

    for (size_t i = 0; i < n; i++) {
        out[i] = p->ring[p->ring_head];
        p->ring_head = (p->ring_head + 1) & (p->ring_cap - 1);
    }
    loom__atomic_set(&p->qlen, p->qlen - n);
    return n;
}

/*
 * Claim a guided batch from the queue head.  Context: p->lock held, queue
 * not empty.  Return: how many (>= 1).
 */
size_t loom__pool_claim_locked(struct loom_pool *p,
                               struct loom_pool_req **batch)
{
    size_t k = p->qlen / (2 * (size_t)p->max);

    if (k < 1) {
        k = 1;
    }
    return loom__pool_ring_take_locked(p, batch, k < BATCH_MAX ? k : BATCH_MAX);
}

/*
 * Put the unstarted rest of a batch back at the queue head.
 * Return: false if there was no memory to do so (the caller keeps them).
 */
bool loom__pool_give_back(struct loom_pool *p, struct loom_pool_req **reqs,
                          size_t n)
{
    loom_mutex_lock(&p->lock);
    if (loom__pool_ring_reserve_locked(p, n) < 0) {
        loom_mutex_unlock(&p->lock);
        return false;
    }
    for (size_t i = n; i-- > 0;) {
        p->ring_head = (p->ring_head - 1) & (p->ring_cap - 1);
        p->ring[p->ring_head] = reqs[i];
    }
    loom__atomic_set(&p->qlen, p->qlen + n);
    if (p->nidle > p->nwakes) {
        p->nwakes++;
        loom_cond_signal(&p->work_cond);
    }
    loom_mutex_unlock(&p->lock);
    return true;
}
