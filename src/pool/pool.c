/* SPDX-License-Identifier: MIT */
/*
 * Thread pool of a loop: the public API (creation through loom_loop_pool(),
 * sizes, submission, cancellation, submit_co, statistics), the completion
 * side (the lock-free completion list and the BH that runs the callbacks
 * in the loop's home thread), request memory, and the teardown.  See
 * pool-int.h for the design.
 */
#include <loom/pool.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <loom/bh.h>
#include <loom/co.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/lifo.h"
#include "loop/loop-int.h"
#include "pool/pool-int.h"

/* ------------------------------------------------------------------ */
/* Completions.                                                        */

/*
 * Push the chain @first .. @last (linked by done_next) on the completion
 * list and schedule the BH on the empty -> non-empty edge: a push on a
 * non-empty list is covered by the BH that the first push scheduled, which
 * has not yet taken the list.  Context: any.
 */
void loom__pool_push_done(struct loom_pool *p, struct loom_pool_req *first,
                          struct loom_pool_req *last)
{
    /* Pairs with the xchg in run_completions(): publishes the chain. */
    if (!loom__lifo_push(&p->done_head, first, last, done_next)) {
        loom_bh_schedule(p->bh);
    }
}

/*
 * A new block of requests, for p->free_reqs.  Blocks grow geometrically
 * (REQ_BLOCK requests, then twice as many each time) up to REQ_CHUNK
 * bytes; those are mapped REQ_CHUNK-aligned and advised as a huge page:
 * a burst of a million requests in flight (64 MiB) then costs 32 page
 * faults, not 16,000, which were a sixth of the submitting thread's time
 * (pool-throughput, perf).  A pool keeps at most twice the memory of its
 * peak number of requests in flight.  Context: p->sub_lock held.
 * Return: 0 or -ENOMEM.
 */
static int block_alloc(struct loom_pool *p)
{
    const size_t hdr = offsetof(struct loom__pool_req_block, reqs);
    size_t n = p->block_reqs ? p->block_reqs * 2 : REQ_BLOCK;
    size_t bytes = hdr + n * sizeof(struct loom_pool_req);
    struct loom__pool_req_block *b;

    if (bytes >= REQ_CHUNK) {
        /* Twice the size, then the aligned chunk is kept. */
        uintptr_t base, start;
        void *m = mmap(NULL, 2 * REQ_CHUNK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (m == MAP_FAILED) {
            return -ENOMEM;
        }
        base = (uintptr_t)m;
        start = (base + REQ_CHUNK - 1) & ~(uintptr_t)(REQ_CHUNK - 1);
        if (start > base) {
            (void)munmap(m, start - base);
        }
        (void)munmap((void *)(start + REQ_CHUNK), base + REQ_CHUNK - start);
        /* Advice only: without transparent huge pages, 4 KiB pages. */
        (void)madvise((void *)start, REQ_CHUNK, MADV_HUGEPAGE);
        b = (void *)start;
        b->mapped = REQ_CHUNK;
        n = (REQ_CHUNK - hdr) / sizeof(struct loom_pool_req);
    } else {
        b = aligned_alloc(LOOM_CACHELINE, bytes);
        if (!b) {
            return -ENOMEM;
        }
        b->mapped = 0;
    }
    p->block_reqs = n;
    b->next = p->blocks;
    p->blocks = b;
    for (size_t i = n; i-- > 0;) {
        b->reqs[i].done_next = p->free_reqs;
        p->free_reqs = &b->reqs[i];
    }
    return 0;
}

/*
 * Allocate a request.  Requests come in blocks (block_alloc()) and are
 * recycled through a free list, never returned before the pool goes,
 * which saves two malloc calls per request.  Recycled ones come back on
 * free_lifo, taken whole when the private list runs out.
 * Context: p->sub_lock held.  Return: the request, or NULL.
 */
static struct loom_pool_req *req_alloc_locked(struct loom_pool *p)
{
    struct loom_pool_req *req;

    if (!p->free_reqs) {
        /* Pairs with the CAS in loom__pool_req_free_chain(). */
        p->free_reqs = loom__lifo_take(&p->free_lifo);
    }
    if (!p->free_reqs && block_alloc(p) < 0) {
        return NULL;
    }
    req = p->free_reqs;
    p->free_reqs = req->done_next;
    return req;
}

/*
 * Recycle the chain @first .. @last (linked by done_next), lock-free.
 * Context: any.
 */
void loom__pool_req_free_chain(struct loom_pool *p, struct loom_pool_req *first,
                               struct loom_pool_req *last)
{
    (void)loom__lifo_push(&p->free_lifo, first, last, done_next);
}

/*
 * Drop one owner of a cancelled request.  Return: true for the last one,
 * which must recycle it.
 */
bool loom__pool_req_release(struct loom_pool_req *req, unsigned who)
{
    unsigned other = who == REL_QUEUE ? REL_DONE : REL_QUEUE;

    /* Pairs with the same fetch_or by the other owner. */
    return loom__atomic_fetch_or(&req->state, who) & other;
}

/*
 * Run the completion callbacks of everything on the completion list, in
 * completion order.  Context: home(loop), or the teardown's thread.
 * Return: how many callbacks ran.
 */
static size_t run_completions(struct loom_pool *p)
{
    struct loom_pool_req *req, *next, *fifo;
    struct loom_pool_req *dead = NULL, *dead_last = NULL;
    uint64_t ok = 0, cancelled = 0;
    bool recycle;

    /* Pairs with the CAS in loom__pool_push_done(): publishes the chains. */
    fifo = loom__lifo_take_fifo(&p->done_head, done_next);
    for (req = fifo; req; req = next) {
        next = req->done_next;
        if (req->done) {
            req->done(req->opaque, req->ret);
        }
        if ((loom__atomic_read(&req->state) & REQ_STATE_MASK) ==
            REQ_CANCELLED) {
            cancelled++;
            recycle = loom__pool_req_release(req, REL_DONE);
        } else {
            ok++;
            recycle = true;
        }
        if (recycle) {
            req->done_next = dead;
            dead = req;
            if (!dead_last) {
                dead_last = req;
            }
        }
    }
    if (dead) {
        loom__pool_req_free_chain(p, dead, dead_last);
    }
    /* Single writer: the loop's home thread (or the teardown). */
    loom__atomic_set(&p->completed, loom__atomic_read(&p->completed) + ok);
    loom__atomic_set(&p->cancelled,
                     loom__atomic_read(&p->cancelled) + cancelled);
    return ok + cancelled;
}

/* The completion BH: callbacks, then the workers that left. */
static void completion_bh(void *opaque)
{
    run_completions(opaque);
    loom__pool_reap(opaque);
}

/* Move @req from QUEUED to CANCELLED; false if it already left QUEUED. */
static bool req_try_cancel(struct loom_pool *p, struct loom_pool_req *req)
{
    unsigned s = REQ_QUEUED;

    if (!loom__atomic_cas(&req->state, &s, REQ_CANCELLED)) {
        return false;
    }
    req->ret = -ECANCELED;
    loom__atomic_add_relaxed(&p->cancels, 1);
    return true;
}

/*
 * Cancel every dequeued request of @reqs that has not been cancelled yet,
 * and drop the queue's ownership of those that were.  Context: any, the
 * requests dequeued by the caller.
 */
void loom__pool_cancel_dequeued(struct loom_pool *p,
                                struct loom_pool_req **reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct loom_pool_req *req = reqs[i];

        if (req_try_cancel(p, req)) {
            /* Owned by the completion list alone from now on. */
            loom__atomic_fetch_or(&req->state, REL_QUEUE);
            req->done_next = NULL;
            loom__pool_push_done(p, req, req);
        } else {
            if (loom__pool_req_release(req, REL_QUEUE)) {
                loom__pool_req_free_chain(p, req, req);
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* Creation and teardown.                                              */

/*
 * Tear down a pool: cancel what is queued, wait for running requests and
 * the workers, run every completion callback still owed, free.  Called by
 * the loop's teardown (or by loom_loop_pool() that lost the install race).
 * Context: the thread dropping the loop's last reference.
 */
static void pool_free(struct loom_pool *p)
{
    struct loom__list zombies;

    loom_mutex_lock(&p->lock);
    /*
     * Also read without the lock by run_batch(), as a hint: a worker that
     * sees it cancels the rest of its batch instead of running it.
     */
    loom__atomic_set(&p->stopping, true);
    loom_mutex_lock(&p->sub_lock);
    p->sub_stopping = true;
    loom_mutex_unlock(&p->sub_lock);
    loom__pool_hints_locked(p);
    loom_cond_broadcast(&p->work_cond);
    while (p->nworkers > 0 || p->nspawning > 0) {
        loom_cond_wait(&p->exit_cond, &p->lock);
    }
    loom__pool_take_zombies_locked(p, &zombies);
    assert(loom__list_empty(&p->zombies));
    loom_mutex_unlock(&p->lock);
    loom__pool_join_zombies(&zombies);

    /*
     * No worker is left and submissions are refused: the queue (with what
     * workers gave back while stopping) and incoming are ours without the
     * locks.
     */
    (void)loom__pool_pull_locked(p);
    while (p->qlen) {
        struct loom_pool_req *req;

        (void)loom__pool_take_locked(p, &req, 1);
        loom__pool_cancel_dequeued(p, &req, 1);
    }
    /* Callbacks may cancel other requests: loop until none is left. */
    while (run_completions(p)) {
    }
    loom_bh_free(p->bh);
    while (p->blocks) {
        struct loom__pool_req_block *b = p->blocks;

        p->blocks = b->next;
        if (b->mapped) {
            (void)munmap(b, b->mapped);
        } else {
            free(b);
        }
    }
    loom_cond_destroy(&p->work_cond);
    loom_cond_destroy(&p->exit_cond);
    loom_mutex_destroy(&p->lock);
    loom_mutex_destroy(&p->sub_lock);
    free(p);
}

struct loom_pool *loom_loop_pool(struct loom_loop *l)
{
    struct loom_pool *p, *installed;

    if (!l) {
        return NULL;
    }
    p = loom__loop_get_pool(l);
    if (LOOM_LIKELY(p)) {
        return p;
    }
    p = aligned_alloc(LOOM_CACHELINE, sizeof(*p));
    if (!p) {
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    if (loom_bh_new(l, completion_bh, p, "pool-completion", &p->bh) < 0) {
        free(p);
        return NULL;
    }
    p->loop = l;
    loom_mutex_init(&p->lock);
    loom_mutex_init(&p->sub_lock);
    loom_cond_init(&p->work_cond);
    loom_cond_init(&p->exit_cond);
    p->min = 0;
    p->max = LOOM_POOL_DEFAULT_MAX;
    p->idle_ns = LOOM_POOL_DEFAULT_IDLE_NS;
    loom__list_init(&p->workers);
    loom__list_init(&p->zombies);
    p->grow_hint = true;
    installed = loom__loop_install_pool(l, p, pool_free);
    if (installed != p) {
        pool_free(p);
    }
    return installed;
}

/* ------------------------------------------------------------------ */
/* Configuration and requests.                                         */

int loom_pool_set_size(struct loom_pool *p, int min, int max)
{
    struct loom__pool_worker *w;
    int err = 0;

    LOOM_CHECK(p, -EINVAL);
    LOOM_CHECK(min >= 0 && max >= 1 && min <= max, -EINVAL);
    loom_mutex_lock(&p->lock);
    p->min = min;
    p->max = max;
    loom__pool_hints_locked(p);
    /* Idle workers re-check the limits. */
    loom_cond_broadcast(&p->work_cond);
    while (!err && !p->stopping && p->nworkers < p->min) {
        w = loom__pool_spawn_reserve_locked(p);
        if (!w) {
            err = -ENOMEM;
            break;
        }
        loom_mutex_unlock(&p->lock);
        err = loom__pool_spawn_finish(p, w);
        loom_mutex_lock(&p->lock);
    }
    loom_mutex_unlock(&p->lock);
    return err;
}

int loom_pool_set_idle_ns(struct loom_pool *p, int64_t ns)
{
    LOOM_CHECK(p, -EINVAL);
    LOOM_CHECK(ns >= 0, -EINVAL);
    loom_mutex_lock(&p->lock);
    p->idle_ns = ns;
    /* Waiting workers start a new idle period with the new length. */
    loom_cond_broadcast(&p->work_cond);
    loom_mutex_unlock(&p->lock);
    return 0;
}

/*
 * Reserve the first worker, so that a request can be queued for it.
 * Context: no pool lock held.  Return: 0 with *@ret_w the reservation
 * (NULL if a worker appeared meanwhile), or a negative errno.
 */
static int reserve_first(struct loom_pool *p, struct loom__pool_worker **ret_w)
{
    struct loom__pool_worker *w = NULL;
    int err = 0;

    loom_mutex_lock(&p->lock);
    if (p->stopping) {
        err = -ESHUTDOWN;
    } else if (!p->nworkers) {
        w = loom__pool_spawn_reserve_locked(p);
        if (!w) {
            err = -ENOMEM;
        }
    }
    loom_mutex_unlock(&p->lock);
    if (!err) {
        *ret_w = w;
    }
    return err;
}

/*
 * Take back @req, queued for a worker that could not be started, if no
 * worker is left to run it.  Context: no pool lock held.  Return: true if
 * it was taken back (and recycled).
 */
static bool retract(struct loom_pool *p, struct loom_pool_req *req)
{
    struct loom_pool_req **pp, *prev = NULL;
    bool found = false;

    loom_mutex_lock(&p->lock);
    loom_mutex_lock(&p->sub_lock);
    if (!p->sub_workers) {
        (void)loom__pool_pull_locked(p);
        for (pp = &p->q_head; *pp; prev = *pp, pp = &(*pp)->q_next) {
            if (*pp == req) {
                *pp = req->q_next;
                if (p->q_tail == req) {
                    p->q_tail = prev;
                }
                loom__atomic_set(&p->qlen, p->qlen - 1);
                p->submitted--;
                found = true;
                break;
            }
        }
    }
    loom_mutex_unlock(&p->sub_lock);
    loom_mutex_unlock(&p->lock);
    if (found) {
        loom__pool_req_free_chain(p, req, req);
    }
    return found;
}

/*
 * After a push: wake a sleeping worker or start one unless a spinning
 * worker will see the request (@was_empty: incoming was empty before the
 * push).  Context: no pool lock held.
 */
static void submit_kick(struct loom_pool *p, bool was_empty)
{
    struct loom__pool_worker *w = NULL;

    /* Pairs with loom__pool_hints_locked(): seq_cst after the push. */
    if (was_empty && loom__atomic_load_seq(&p->spin_hint) > 0) {
        return;
    }
    if (!loom__atomic_load_seq(&p->sleep_hint) &&
        !loom__atomic_read(&p->grow_hint)) {
        return;
    }
    loom_mutex_lock(&p->lock);
    if (p->nidle > p->nwakes) {
        p->nwakes++;
        loom__pool_hints_locked(p);
        loom_cond_signal(&p->work_cond);
    } else if (!(was_empty && p->nspinning) && p->nworkers < p->max &&
               !p->nspawning && !p->stopping) {
        /* Nobody can take it soon: start a worker (outside the lock). */
        w = loom__pool_spawn_reserve_locked(p);
    }
    loom_mutex_unlock(&p->lock);
    if (w) {
        /* Other workers exist: a failure leaves the request to them. */
        (void)loom__pool_spawn_finish(p, w);
    }
}

int loom_pool_submit(struct loom_pool *p, loom_pool_fn *fn, void *arg,
                     loom_pool_done_fn *done, void *opaque,
                     struct loom_pool_req **ret_req)
{
    struct loom__pool_worker *w = NULL;
    struct loom_pool_req *req;
    bool was_empty;
    int err;

    LOOM_CHECK(p && fn, -EINVAL);
    loom_mutex_lock(&p->sub_lock);
    /*
     * Push only while a worker exists, or is reserved by this call
     * (workers leave under sub_lock, and only with nothing incoming).
     */
    if (!p->sub_workers || p->sub_stopping) {
        loom_mutex_unlock(&p->sub_lock);
        err = reserve_first(p, &w);
        if (err < 0) {
            return err;
        }
        loom_mutex_lock(&p->sub_lock);
    }
    req = req_alloc_locked(p);
    if (!req) {
        loom_mutex_unlock(&p->sub_lock);
        if (w) {
            (void)loom__pool_spawn_finish(p, w);
        }
        return -ENOMEM;
    }
    req->pool = p;
    req->fn = fn;
    req->arg = arg;
    req->done = done;
    req->opaque = opaque;
    req->ret = 0;
    req->state = REQ_QUEUED;
    p->submitted++;
    was_empty = loom__pool_push_incoming(p, req);
    loom_mutex_unlock(&p->sub_lock);
    if (w) {
        /* The worker reserved for it; if it cannot start, take it back. */
        err = loom__pool_spawn_finish(p, w);
        if (err < 0 && retract(p, req)) {
            return err;
        }
    } else {
        submit_kick(p, was_empty);
    }
    /*
     * The request may already be running, and even completed, once it is
     * pushed; the handle stays valid until its callback ran in the home
     * thread (this one, or a caller that knows).
     */
    if (ret_req) {
        *ret_req = req;
    }
    loom__pool_reap(p);
    return 0;
}

int loom_pool_cancel(struct loom_pool_req *req)
{
    struct loom_pool *p;

    LOOM_CHECK(req, -EINVAL);
    p = req->pool;
    if (req_try_cancel(p, req)) {
        req->done_next = NULL;
        loom__pool_push_done(p, req, req);
        return 0;
    }
    return (loom__atomic_read(&req->state) & REQ_STATE_MASK) == REQ_CANCELLED
               ? -EALREADY
               : -EBUSY;
}

struct co_wait {
    struct loom_co *co;
    int ret;
};

/*
 * Completion of loom_pool_submit_co(): in the pool's loop, which may be
 * another thread than the coroutine's, possibly before the coroutine has
 * finished yielding (loom_co_wake() allows that).
 */
static void co_done(void *opaque, int ret)
{
    struct co_wait *cw = opaque;

    cw->ret = ret;
    loom_co_wake(cw->co);
}

int loom_pool_submit_co(struct loom_pool *p, loom_pool_fn *fn, void *arg)
{
    struct co_wait cw = {.co = loom_co_self()};
    int err;

    if (!cw.co) {
        loom__panic("loom_pool_submit_co: pool %p: called outside a coroutine",
                   (void *)p);
    }
    LOOM_CHECK(p && fn, -EINVAL);
    err = loom_pool_submit(p, fn, arg, co_done, &cw, NULL);
    if (err < 0) {
        return err;
    }
    /*
     * Exactly one yield for exactly one wake: testing a "done" flag first
     * would let the coroutine run on (and end) while the wake-up is
     * already on its way.
     */
    loom_co_yield();
    return cw.ret;
}

void loom_pool_stats(struct loom_pool *p, struct loom_pool_stats *st)
{
    uint64_t started, finished, cancels, queued;
    struct loom__list *n;
    struct loom__pool_worker *w;

    if (!p || !st) {
        return;
    }
    memset(st, 0, sizeof(*st));
    loom_mutex_lock(&p->lock);
    loom_mutex_lock(&p->sub_lock);
    st->submitted = p->submitted;
    loom_mutex_unlock(&p->sub_lock);
    started = p->retired_started;
    finished = p->retired_finished;
    for (n = p->workers.next; n != &p->workers; n = n->next) {
        w = loom__list_entry(n, struct loom__pool_worker, link);
        finished += loom__atomic_read(&w->finished);
        started += loom__atomic_read(&w->started);
    }
    cancels = loom__atomic_read(&p->cancels);
    queued = st->submitted - started;
    st->queued = queued > cancels ? queued - cancels : 0;
    st->running = started > finished ? started - finished : 0;
    st->workers = (uint64_t)(p->nworkers - p->nspawning);
    st->idle_workers = (uint64_t)p->nidle;
    st->min_workers = p->min;
    st->max_workers = p->max;
    st->idle_ns = p->idle_ns;
    loom_mutex_unlock(&p->lock);
    st->completed = loom__atomic_read(&p->completed);
    st->cancelled = loom__atomic_read(&p->cancelled);
}
