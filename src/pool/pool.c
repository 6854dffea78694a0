/* SPDX-License-Identifier: MIT */
/*
 * Thread pool of a loop (QEMU util/thread-pool.c's shape).  Submitters (any
 * thread) append requests to a mutex-protected FIFO; workers wait on a
 * condition variable, claim requests, run them and push finished ones on a
 * lock-free completion list; one BH per pool runs the completion callbacks
 * in the loop's home thread.  Workers are started by submitters on demand
 * and exit after idle_ns without work (beyond the minimum).
 *
 * A request leaves QUEUED exactly once, by a compare-and-swap: to RUNNING
 * by the worker that runs it, or to CANCELLED by loom_pool_cancel() (or by
 * the teardown).  A cancelled request stays on the queue (or in a worker's
 * claimed batch) until a worker reaches it and drops it, and is at the
 * same time on the completion list: both sides own it and the last of the
 * two to release it recycles it (req_release()).  A request that ran is
 * owned by the completion list alone once its worker pushed it.
 *
 * The queue is a ring of request pointers, so that claiming requests
 * touches no request under the lock.  Batching: when the queue is long, a
 * worker claims several requests per lock acquisition (guided
 * self-scheduling: the queue length divided by twice the maximum number of
 * workers, so that no worker hoards work others could take) and pushes
 * their completions in one step.  A worker gives back the rest of its
 * batch when it sees an idle worker and an empty queue.  A worker that
 * ran out of work busy-waits for SPIN_NS before it sleeps; submitters
 * count such spinners as workers about to look, so a stream of requests
 * neither wakes nor starts a worker per request.
 *
 * Teardown (pool_free(), from the loop's last unref): new submissions
 * fail, workers cancel what they claimed but did not start and exit once
 * their running request returns, the rest of the queue is cancelled, and
 * every completion callback still owed runs in the tearing-down thread.
 */
#include <loom/pool.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/bh.h>
#include <loom/co.h>
#include <loom/thread.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/compiler.h"
#include "base/lifo.h"
#include "base/list.h"
#include "base/thread-int.h"
#include "loop/loop-int.h"

/* Requests are allocated this many at a time (see req_alloc_locked()). */
#define REQ_BLOCK 128

/* Most requests a worker claims in one go. */
#define BATCH_MAX 64

/*
 * How long a worker that just finished work busy-waits for more before it
 * sleeps: about the cost of a futex wake-up between two CPUs, so that a
 * stream of requests does not pay one per request.
 */
#define SPIN_NS 20000

/* req->state: a state in the low bits, owner bits above. */
enum req_state {
    REQ_QUEUED = 0,
    REQ_RUNNING = 1,
    REQ_DONE = 2,
    REQ_CANCELLED = 3,
    REQ_STATE_MASK = 3,
};

/* Owners of a cancelled request (req->state bits). */
#define REL_QUEUE 4u /* dropped by the worker or teardown that dequeued it */
#define REL_DONE 8u  /* its completion callback has run */

struct loom_pool_req {
    /* Completion list link: written before the push. */
    struct loom_pool_req *done_next;

    /* Immutable after submit. */
    struct loom_pool *pool;
    loom_pool_fn *fn;
    void *arg;
    loom_pool_done_fn *done;
    void *opaque;

    /* Written by whoever moved the request out of QUEUED, before it is
     * pushed on the completion list. */
    int ret;
    /* Atomic: enum req_state and REL_* bits; see the file comment. */
    unsigned state;
};

struct req_block {
    struct req_block *next;
    struct loom_pool_req reqs[REQ_BLOCK];
};

struct LOOM_CACHE_ALIGNED worker {
    /* Immutable after creation. */
    struct loom_pool *pool;

    /* Protected by pool->lock. */
    struct loom_thread *thread; /* set by the spawner; NULL until then */
    struct loom_list link;      /* on pool->workers, then pool->zombies */

    /* Written by this worker only (relaxed atomics), read by stats. */
    uint64_t started, finished;
};

struct loom_pool {
    /* Immutable after creation. */
    struct loom_loop *loop;
    struct loom_bh *bh;

    struct loom_mutex lock;
    /* Protected by ->lock. */
    struct loom_cond work_cond;  /* workers wait for requests */
    struct loom_cond exit_cond;  /* teardown waits for workers */
    struct loom_pool_req **ring; /* the queue: qlen entries from ring_head */
    size_t ring_cap, ring_head;  /* ring_cap: 0 or a power of two */
    /* Entries on the queue, cancelled ones included; also read without
     * the lock by run_batch(), as a hint. */
    size_t qlen;
    int min, max;
    int64_t idle_ns;
    int nworkers;    /* alive or being spawned */
    int nidle;       /* waiting on work_cond */
    int nwakes;      /* signals sent and not yet consumed (lower bound) */
    int nspawning;   /* spawns between reservation and completion */
    int nspinning;   /* workers busy-waiting for requests (not idle) */
    int spin_claims; /* requests submitted for them, <= nspinning */
    bool stopping;   /* also read atomically by workers running a batch */
    struct loom_list workers, zombies;
    uint64_t submitted;
    uint64_t retired_started, retired_finished; /* of exited workers */
    struct loom_pool_req *free_reqs; /* recycled, linked by done_next */
    struct req_block *blocks;        /* every request's memory */

    /* Atomic. */
    int idle_hint;    /* copy of nidle, for the lock-free give-back test */
    uint64_t cancels; /* QUEUED -> CANCELLED transitions */
    uint64_t completed, cancelled; /* written by the completion side only */

    /*
     * Completion list: lock-free pushes by workers and cancel, taken whole
     * by the completion BH.
     */
    struct loom_pool_req *done_head LOOM_CACHE_ALIGNED;
};

static void *worker_main(void *arg);

/* ------------------------------------------------------------------ */
/* Completions.                                                        */

/*
 * Push the chain @first .. @last (linked by done_next) on the completion
 * list and schedule the BH on the empty -> non-empty edge: a push on a
 * non-empty list is covered by the BH that the first push scheduled, which
 * has not yet taken the list.  Context: any.
 */
static void push_done(struct loom_pool *p, struct loom_pool_req *first,
                      struct loom_pool_req *last)
{
    /* Pairs with the xchg in run_completions(): publishes the chain. */
    if (!loom__lifo_push(&p->done_head, first, last, done_next)) {
        loom_bh_schedule(p->bh);
    }
}

/*
 * Allocate a request.  They come in blocks of REQ_BLOCK and are recycled
 * through a free list, never returned to malloc before the pool goes: a
 * pool keeps the memory of its peak number of requests in flight (64
 * bytes each), which saves two malloc calls per request.
 * Context: p->lock held.  Return: the request, or NULL.
 */
static struct loom_pool_req *req_alloc_locked(struct loom_pool *p)
{
    struct loom_pool_req *req;

    if (!p->free_reqs) {
        struct req_block *b = malloc(sizeof(*b));

        if (!b) {
            return NULL;
        }
        b->next = p->blocks;
        p->blocks = b;
        for (size_t i = REQ_BLOCK; i-- > 0;) {
            b->reqs[i].done_next = p->free_reqs;
            p->free_reqs = &b->reqs[i];
        }
    }
    req = p->free_reqs;
    p->free_reqs = req->done_next;
    return req;
}

/* Recycle the chain @first .. @last (linked by done_next).  Context: any. */
static void req_free_chain(struct loom_pool *p, struct loom_pool_req *first,
                           struct loom_pool_req *last)
{
    loom_mutex_lock(&p->lock);
    last->done_next = p->free_reqs;
    p->free_reqs = first;
    loom_mutex_unlock(&p->lock);
}

/*
 * Drop one owner of a cancelled request.  Return: true for the last one,
 * which must recycle it.
 */
static bool req_release(struct loom_pool_req *req, unsigned who)
{
    unsigned other = who == REL_QUEUE ? REL_DONE : REL_QUEUE;

    /* Pairs with the same fetch_or by the other owner. */
    return loom_atomic_fetch_or(&req->state, who) & other;
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

    /* Pairs with the CAS in push_done(): makes the chains visible. */
    fifo = loom__lifo_take_fifo(&p->done_head, done_next);
    for (req = fifo; req; req = next) {
        next = req->done_next;
        if (req->done) {
            req->done(req->opaque, req->ret);
        }
        if ((loom_atomic_read(&req->state) & REQ_STATE_MASK) == REQ_CANCELLED) {
            cancelled++;
            recycle = req_release(req, REL_DONE);
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
        req_free_chain(p, dead, dead_last);
    }
    /* Single writer: the loop's home thread (or the teardown). */
    loom_atomic_set(&p->completed, loom_atomic_read(&p->completed) + ok);
    loom_atomic_set(&p->cancelled, loom_atomic_read(&p->cancelled) + cancelled);
    return ok + cancelled;
}

static void completion_bh(void *opaque)
{
    run_completions(opaque);
}

/* Move @req from QUEUED to CANCELLED; false if it already left QUEUED. */
static bool req_try_cancel(struct loom_pool *p, struct loom_pool_req *req)
{
    unsigned s = REQ_QUEUED;

    if (!loom_atomic_cas(&req->state, &s, REQ_CANCELLED)) {
        return false;
    }
    req->ret = -ECANCELED;
    loom_atomic_add_relaxed(&p->cancels, 1);
    return true;
}

/* ------------------------------------------------------------------ */
/* Workers: spawning and reaping.                                      */

/*
 * Reserve a worker slot.  Context: p->lock held.
 * Return: the new worker (on p->workers, thread not started), or NULL.
 */
static struct worker *spawn_reserve_locked(struct loom_pool *p)
{
    struct worker *w = aligned_alloc(LOOM_CACHELINE, sizeof(*w));

    if (!w) {
        return NULL;
    }
    memset(w, 0, sizeof(*w));
    w->pool = p;
    loom_list_add_tail(&p->workers, &w->link);
    p->nworkers++;
    p->nspawning++;
    return w;
}

/*
 * Start the thread of a reserved worker.  Context: p->lock not held.
 * Return: 0 or a negative errno (the reservation is undone).
 */
static int spawn_finish(struct loom_pool *p, struct worker *w)
{
    struct loom_thread *t = NULL;
    int err;

    err = loom__thread_create(&t, LOOM_THREAD_KIND_POOL, "loom-pool",
                              worker_main, w, LOOM_THREAD_JOINABLE, NULL);
    loom_mutex_lock(&p->lock);
    if (err < 0) {
        loom_list_del(&w->link);
        p->nworkers--;
    } else {
        w->thread = t;
    }
    p->nspawning--;
    if (p->stopping) {
        loom_cond_broadcast(&p->exit_cond);
    }
    loom_mutex_unlock(&p->lock);
    if (err < 0) {
        free(w);
    }
    return err;
}

/*
 * Take the exited workers whose handle is known, to join them outside the
 * lock.  Context: p->lock held.
 */
static void take_zombies_locked(struct loom_pool *p, struct loom_list *out)
{
    struct loom_list *n, *next;
    struct worker *w;

    loom_list_init(out);
    for (n = p->zombies.next; n != &p->zombies; n = next) {
        next = n->next;
        w = loom_list_entry(n, struct worker, link);
        if (w->thread) {
            loom_list_del(n);
            loom_list_add_tail(out, n);
        }
    }
}

static void join_zombies(struct loom_list *list)
{
    struct worker *w;

    while (!loom_list_empty(list)) {
        w = loom_list_entry(list->next, struct worker, link);
        loom_list_del(&w->link);
        (void)loom_thread_join(w->thread, NULL);
        free(w);
    }
}

/* ------------------------------------------------------------------ */
/* Workers: the thread.                                                */

/*
 * Make room for @n more entries in the ring.  Context: p->lock held.
 * Return: 0 or -ENOMEM.
 */
static int ring_reserve_locked(struct loom_pool *p, size_t n)
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

/*
 * Take up to @max entries from the queue head into @out.  Context:
 * p->lock held.  Return: how many.
 */
static size_t ring_take_locked(struct loom_pool *p, struct loom_pool_req **out,
                               size_t max)
{
    size_t n = p->qlen < max ? p->qlen : max;

    for (size_t i = 0; i < n; i++) {
        out[i] = p->ring[p->ring_head];
        p->ring_head = (p->ring_head + 1) & (p->ring_cap - 1);
    }
    loom_atomic_set(&p->qlen, p->qlen - n);
    return n;
}

/*
 * Claim a guided batch from the queue head.  Context: p->lock held, queue
 * not empty.  Return: how many (>= 1).
 */
static size_t claim_locked(struct loom_pool *p, struct loom_pool_req **batch)
{
    size_t k = p->qlen / (2 * (size_t)p->max);

    if (k < 1) {
        k = 1;
    }
    return ring_take_locked(p, batch, k < BATCH_MAX ? k : BATCH_MAX);
}

/*
 * Put the unstarted rest of a batch back at the queue head.
 * Return: false if there was no memory to do so (the caller keeps them).
 */
static bool give_back(struct loom_pool *p, struct loom_pool_req **reqs,
                      size_t n)
{
    loom_mutex_lock(&p->lock);
    if (ring_reserve_locked(p, n) < 0) {
        loom_mutex_unlock(&p->lock);
        return false;
    }
    for (size_t i = n; i-- > 0;) {
        p->ring_head = (p->ring_head - 1) & (p->ring_cap - 1);
        p->ring[p->ring_head] = reqs[i];
    }
    loom_atomic_set(&p->qlen, p->qlen + n);
    if (p->nidle > p->nwakes) {
        p->nwakes++;
        loom_cond_signal(&p->work_cond);
    }
    loom_mutex_unlock(&p->lock);
    return true;
}

/*
 * Cancel every dequeued request of @reqs that has not been cancelled yet,
 * and drop the queue's ownership of those that were.  Context: any, the
 * requests dequeued by the caller.
 */
static void cancel_dequeued(struct loom_pool *p, struct loom_pool_req **reqs,
                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct loom_pool_req *req = reqs[i];

        if (req_try_cancel(p, req)) {
            /* Owned by the completion list alone from now on. */
            loom_atomic_fetch_or(&req->state, REL_QUEUE);
            req->done_next = NULL;
            push_done(p, req, req);
        } else {
            if (req_release(req, REL_QUEUE)) {
                req_free_chain(p, req, req);
            }
        }
    }
}

/* Move @req from QUEUED to RUNNING; false if it was cancelled. */
static bool req_try_start(struct loom_pool_req *req)
{
    unsigned s = REQ_QUEUED;

    /* Pairs with the CAS in req_try_cancel(): exactly one of them wins. */
    return loom_atomic_cas(&req->state, &s, REQ_RUNNING);
}

/* Run a claimed batch and push its completions.  Context: worker. */
static void run_batch(struct loom_pool *p, struct worker *w,
                      struct loom_pool_req **batch, size_t n)
{
    struct loom_pool_req *top = NULL, *bottom = NULL, *req;

    for (size_t i = 0; i < n; i++) {
        req = batch[i];
        if (loom_atomic_read(&p->stopping)) {
            /* Teardown: what has not started is cancelled. */
            cancel_dequeued(p, batch + i, n - i);
            break;
        }
        if (top && loom_atomic_read(&p->idle_hint) > 0 &&
            !loom_atomic_read(&p->qlen) && give_back(p, batch + i, n - i)) {
            /* Someone is idle with nothing to do: they take the rest. */
            break;
        }
        if (!req_try_start(req)) {
            /* Cancelled while queued: already on the completion list. */
            if (req_release(req, REL_QUEUE)) {
                req_free_chain(p, req, req);
            }
            continue;
        }
        loom_atomic_set(&w->started, w->started + 1);
        req->ret = req->fn(req->arg);
        loom_atomic_set(&req->state, REQ_DONE);
        loom_atomic_set(&w->finished, w->finished + 1);
        /* Newest on top, like the completion list itself. */
        req->done_next = top;
        if (!top) {
            bottom = req;
        }
        top = req;
    }
    if (top) {
        push_done(p, top, bottom);
    }
}

/*
 * Wait for work.  A worker beyond the minimum waits for what is left of
 * the idle time, one kept by the minimum until it is woken.  Context:
 * p->lock held (it is released while waiting).  Return: true when the
 * worker should exit (idle for idle_ns and beyond the minimum).
 */
static bool wait_for_work_locked(struct loom_pool *p, int64_t *idle_since)
{
    int64_t now = loom_clock_ns(LOOM_CLOCK_HOST);
    int64_t left;

    if (*idle_since < 0) {
        *idle_since = now;
    }
    /* The idle time is re-read on every wake-up: changes apply at once. */
    left = p->idle_ns - (now - *idle_since);
    if (left <= 0 && p->nworkers > p->min) {
        return true;
    }
    p->nidle++;
    loom_atomic_set(&p->idle_hint, p->nidle);
    if (left > 0) {
        (void)loom_cond_timedwait(&p->work_cond, &p->lock, left);
    } else {
        loom_cond_wait(&p->work_cond, &p->lock);
    }
    p->nidle--;
    loom_atomic_set(&p->idle_hint, p->nidle);
    if (p->nwakes > 0) {
        p->nwakes--;
    }
    return false;
}

/*
 * Busy-wait up to SPIN_NS for a request.  Context: p->lock held (released
 * while spinning).  Submitters count spinners as workers about to look
 * (spin_claims) instead of waking or starting one.
 */
static void spin_for_work_locked(struct loom_pool *p)
{
    int64_t t0 = loom_clock_ns(LOOM_CLOCK_HOST);
    unsigned i = 0;

    p->nspinning++;
    loom_mutex_unlock(&p->lock);
    while (!loom_atomic_read(&p->qlen) && !loom_atomic_read(&p->stopping)) {
        loom__cpu_relax();
        if (++i % 64 == 0 && loom_clock_ns(LOOM_CLOCK_HOST) - t0 > SPIN_NS) {
            break;
        }
    }
    loom_mutex_lock(&p->lock);
    /* The caller re-checks the queue under the lock: nothing is missed. */
    p->nspinning--;
    if (p->spin_claims > p->nspinning) {
        p->spin_claims = p->nspinning;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct loom_pool *p = w->pool;
    struct loom_pool_req *batch[BATCH_MAX];
    int64_t idle_since = -1; /* start of the idle period; -1: busy */
    bool worked = false;     /* ran requests since it last spun */
    size_t n;

    loom_mutex_lock(&p->lock);
    for (;;) {
        if (p->nworkers > p->max) {
            break; /* the maximum was lowered */
        }
        if (p->qlen && !p->stopping) {
            n = claim_locked(p, batch);
            loom_mutex_unlock(&p->lock);
            run_batch(p, w, batch, n);
            loom_mutex_lock(&p->lock);
            idle_since = -1;
            worked = true;
            continue;
        }
        if (p->stopping) {
            break;
        }
        if (worked) {
            worked = false;
            spin_for_work_locked(p);
            continue;
        }
        if (wait_for_work_locked(p, &idle_since)) {
            break;
        }
    }
    p->nworkers--;
    p->retired_started += loom_atomic_read(&w->started);
    p->retired_finished += loom_atomic_read(&w->finished);
    loom_list_del(&w->link);
    loom_list_add_tail(&p->zombies, &w->link);
    if (p->stopping) {
        loom_cond_broadcast(&p->exit_cond);
    }
    loom_mutex_unlock(&p->lock);
    return NULL;
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
    struct loom_list zombies;

    loom_mutex_lock(&p->lock);
    /*
     * Also read without the lock by run_batch(), as a hint: a worker that
     * sees it cancels the rest of its batch instead of running it.
     */
    loom_atomic_set(&p->stopping, true);
    loom_cond_broadcast(&p->work_cond);
    while (p->nworkers > 0 || p->nspawning > 0) {
        loom_cond_wait(&p->exit_cond, &p->lock);
    }
    take_zombies_locked(p, &zombies);
    assert(loom_list_empty(&p->zombies));
    loom_mutex_unlock(&p->lock);
    join_zombies(&zombies);

    /*
     * No worker is left and submissions are refused: the queue (with what
     * workers gave back while stopping) is ours without the lock.
     */
    while (p->qlen) {
        struct loom_pool_req *req;

        (void)ring_take_locked(p, &req, 1);
        cancel_dequeued(p, &req, 1);
    }
    /* Callbacks may cancel other requests: loop until none is left. */
    while (run_completions(p)) {
    }
    loom_bh_free(p->bh);
    while (p->blocks) {
        struct req_block *b = p->blocks;

        p->blocks = b->next;
        free(b);
    }
    free(p->ring);
    loom_cond_destroy(&p->work_cond);
    loom_cond_destroy(&p->exit_cond);
    loom_mutex_destroy(&p->lock);
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
    loom_cond_init(&p->work_cond);
    loom_cond_init(&p->exit_cond);
    p->min = 0;
    p->max = LOOM_POOL_DEFAULT_MAX;
    p->idle_ns = LOOM_POOL_DEFAULT_IDLE_NS;
    loom_list_init(&p->workers);
    loom_list_init(&p->zombies);
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
    struct worker *w;
    int err = 0;

    LOOM_CHECK(p, -EINVAL);
    LOOM_CHECK(min >= 0 && max >= 1 && min <= max, -EINVAL);
    loom_mutex_lock(&p->lock);
    p->min = min;
    p->max = max;
    /* Idle workers re-check the limits. */
    loom_cond_broadcast(&p->work_cond);
    while (!err && !p->stopping && p->nworkers < p->min) {
        w = spawn_reserve_locked(p);
        if (!w) {
            err = -ENOMEM;
            break;
        }
        loom_mutex_unlock(&p->lock);
        err = spawn_finish(p, w);
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

int loom_pool_submit(struct loom_pool *p, loom_pool_fn *fn, void *arg,
                     loom_pool_done_fn *done, void *opaque,
                     struct loom_pool_req **ret_req)
{
    struct loom_pool_req *req;
    struct loom_list zombies;
    struct worker *w;
    int err;

    LOOM_CHECK(p && fn, -EINVAL);
    loom_mutex_lock(&p->lock);
    if (p->nspinning <= p->spin_claims && p->nidle <= p->nwakes &&
        p->nworkers < p->max && !p->nspawning && !p->stopping) {
        /* Nobody can take it soon: start a worker (outside the lock). */
        w = spawn_reserve_locked(p);
        if (w) {
            loom_mutex_unlock(&p->lock);
            err = spawn_finish(p, w);
            loom_mutex_lock(&p->lock);
            if (err < 0 && p->nworkers == 0) {
                loom_mutex_unlock(&p->lock);
                return err;
            }
        }
    }
    if (p->stopping) {
        loom_mutex_unlock(&p->lock);
        return -ESHUTDOWN;
    }
    if (ring_reserve_locked(p, 1) < 0 || !(req = req_alloc_locked(p))) {
        loom_mutex_unlock(&p->lock);
        return -ENOMEM;
    }
    req->done_next = NULL;
    req->pool = p;
    req->fn = fn;
    req->arg = arg;
    req->done = done;
    req->opaque = opaque;
    req->ret = 0;
    req->state = REQ_QUEUED;
    p->ring[(p->ring_head + p->qlen) & (p->ring_cap - 1)] = req;
    loom_atomic_set(&p->qlen, p->qlen + 1);
    p->submitted++;
    if (p->nspinning > p->spin_claims) {
        p->spin_claims++; /* a spinning worker sees it */
    } else if (p->nidle > p->nwakes) {
        p->nwakes++;
        loom_cond_signal(&p->work_cond);
    }
    take_zombies_locked(p, &zombies);
    /*
     * The request may already be running, and even completed, once the
     * lock is dropped; the handle stays valid until its callback ran in
     * the home thread (this one, or a caller that knows).
     */
    if (ret_req) {
        *ret_req = req;
    }
    loom_mutex_unlock(&p->lock);
    join_zombies(&zombies);
    return 0;
}

int loom_pool_cancel(struct loom_pool_req *req)
{
    struct loom_pool *p;

    LOOM_CHECK(req, -EINVAL);
    p = req->pool;
    if (req_try_cancel(p, req)) {
        req->done_next = NULL;
        push_done(p, req, req);
        return 0;
    }
    return (loom_atomic_read(&req->state) & REQ_STATE_MASK) == REQ_CANCELLED
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
        loom_panic("loom_pool_submit_co: pool %p: called outside a coroutine",
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
    struct loom_list *n;
    struct worker *w;

    if (!p || !st) {
        return;
    }
    memset(st, 0, sizeof(*st));
    loom_mutex_lock(&p->lock);
    started = p->retired_started;
    finished = p->retired_finished;
    for (n = p->workers.next; n != &p->workers; n = n->next) {
        w = loom_list_entry(n, struct worker, link);
        finished += loom_atomic_read(&w->finished);
        started += loom_atomic_read(&w->started);
    }
    cancels = loom_atomic_read(&p->cancels);
    queued = p->submitted - started;
    st->queued = queued > cancels ? queued - cancels : 0;
    st->running = started > finished ? started - finished : 0;
    st->submitted = p->submitted;
    st->workers = (uint64_t)(p->nworkers - p->nspawning);
    st->idle_workers = (uint64_t)p->nidle;
    st->min_workers = p->min;
    st->max_workers = p->max;
    st->idle_ns = p->idle_ns;
    loom_mutex_unlock(&p->lock);
    st->completed = loom_atomic_read(&p->completed);
    st->cancelled = loom_atomic_read(&p->cancelled);
}
