/* SPDX-License-Identifier: MIT */
/*
 * The pool's request queue: the lock-free incoming LIFO that submitters
 * push on, and the FIFO under the pool's lock that workers move it to and
 * claim guided batches from (and give an unstarted batch back to); the
 * hints submitters read instead of taking the lock.  Entered by
 * submitters, workers and the teardown.
 */
#include "base/atomic.h"
#include "base/lifo.h"
#include "pool/pool-int.h"

/*
 * Push @req on incoming.  Context: any, p->sub_lock held (see
 * pool-int.h: workers leave only while incoming is empty).
 * Return: true if incoming was empty.
 */
bool loom__pool_push_incoming(struct loom_pool *p, struct loom_pool_req *req)
{
    /*
     * A seq_cst CAS: the request is published to the worker that takes
     * incoming, and the push is ordered before the submitter's reads of
     * the hints (pairs with loom__pool_hints_locked() and the worker's
     * look at incoming after it).
     */
    return !loom__lifo_push(&p->incoming, req, req, q_next);
}

/*
 * Move incoming to the tail of the FIFO, oldest first.  Context: p->lock
 * held.  Return: how many requests moved.
 */
size_t loom__pool_pull_locked(struct loom_pool *p)
{
    struct loom_pool_req *req, *next, *first = NULL, *last;
    size_t n = 0;

    /* A read first: an exchange on an empty list would still steal the
     * submitters' cache line. */
    if (!loom__atomic_read(&p->incoming)) {
        return 0;
    }
    /* Pairs with the CAS in loom__pool_push_incoming(). */
    req = loom__lifo_take(&p->incoming);
    last = req;
    for (; req; req = next) {
        next = req->q_next;
        req->q_next = first;
        first = req;
        n++;
    }
    if (p->q_tail) {
        p->q_tail->q_next = first;
    } else {
        p->q_head = first;
    }
    p->q_tail = last;
    loom__atomic_set(&p->qlen, p->qlen + n);
    return n;
}

/*
 * Take up to @max entries from the head of the FIFO into @out.  Context:
 * p->lock held.  Return: how many.
 */
size_t loom__pool_take_locked(struct loom_pool *p, struct loom_pool_req **out,
                              size_t max)
{
    size_t n = p->qlen < max ? p->qlen : max;
    struct loom_pool_req *req = p->q_head;

    for (size_t i = 0; i < n; i++) {
        out[i] = req;
        req = req->q_next;
    }
    p->q_head = req;
    if (!req) {
        p->q_tail = NULL;
    }
    loom__atomic_set(&p->qlen, p->qlen - n);
    return n;
}

/*
 * Claim a guided batch from the head of the FIFO.  Context: p->lock held,
 * queue not empty.  Return: how many (>= 1).
 */
size_t loom__pool_claim_locked(struct loom_pool *p,
                               struct loom_pool_req **batch)
{
    size_t k = p->qlen / (2 * (size_t)p->max);

    if (k < 1) {
        k = 1;
    }
    return loom__pool_take_locked(p, batch, k < BATCH_MAX ? k : BATCH_MAX);
}

/*
 * Put the unstarted rest of a batch back at the head of the FIFO, and
 * wake an idle worker for it.  Context: p->lock not held.
 */
void loom__pool_give_back(struct loom_pool *p, struct loom_pool_req **reqs,
                          size_t n)
{
    loom_mutex_lock(&p->lock);
    if (!p->q_head) {
        p->q_tail = reqs[n - 1];
        reqs[n - 1]->q_next = NULL;
    } else {
        reqs[n - 1]->q_next = p->q_head;
    }
    for (size_t i = n - 1; i-- > 0;) {
        reqs[i]->q_next = reqs[i + 1];
    }
    p->q_head = reqs[0];
    loom__atomic_set(&p->qlen, p->qlen + n);
    if (p->nidle > p->nwakes) {
        p->nwakes++;
        loom__pool_hints_locked(p);
        loom_cond_signal(&p->work_cond);
    }
    loom_mutex_unlock(&p->lock);
}

/* Store @v in the hint @h if it differs (a store dirties the line). */
#define HINT_SET(h, v)                                                        \
    do {                                                                      \
        __typeof__(h) hint_v_ = (v);                                          \
        if (loom__atomic_read(&(h)) != hint_v_) {                             \
            loom__atomic_store_seq(&(h), hint_v_);                            \
        }                                                                     \
    } while (0)

/*
 * Refresh the hints submitters read without the lock.  Context: p->lock
 * held, after any change of nspinning, nidle, nwakes, nworkers, max,
 * nspawning or stopping.
 */
void loom__pool_hints_locked(struct loom_pool *p)
{
    int sleepers = p->nidle - p->nwakes;

    HINT_SET(p->spin_hint, p->nspinning);
    HINT_SET(p->sleep_hint, sleepers > 0 ? sleepers : 0);
    HINT_SET(p->grow_hint,
             p->nworkers < p->max && !p->nspawning && !p->stopping);
    /*
     * Pairs with the submitter's CAS on incoming and its reads of the
     * hints: a worker that looks at incoming after this either sees the
     * request, or its submitter sees the new hints.
     */
    loom__smp_mb();
}
