/* SPDX-License-Identifier: MIT */
/*
 * Internals of the thread pool of a loop (pool.c: API, completions and
 * teardown; pool-queue.c: the request ring; pool-worker.c: worker
 * threads).
 *
 * Thread pool of a loop (QEMU util/thread-pool.c's shape).  Submitters (any
 * thread) push requests on a lock-free LIFO (incoming) with one
 * compare-and-swap; workers move it whole, oldest first, to the tail of a
 * FIFO under the pool's lock, claim requests from there, run them and
 * push finished ones on a lock-free completion list; one BH per pool runs
 * the completion callbacks in the loop's home thread.  Workers are started
 * on demand and exit after idle_ns without work (beyond the minimum).
 *
 * A submission takes no lock the workers take: request memory and the
 * count of submissions are under a lock of their own (sub_lock), that
 * only submitters and an exiting worker take.  After its push, the
 * submitter reads the workers' state from hints (written under the pool
 * lock, read without it) and takes the pool lock only to wake a sleeping
 * worker or to start one.  Lost wake-ups are ruled out by pairs of
 * sequentially consistent accesses: a worker publishes that it spins or
 * sleeps and then looks at incoming; a submitter pushes and then reads
 * the hints.  A worker leaves only if incoming is empty, checked under
 * sub_lock, and a submitter pushes under sub_lock only while a worker
 * exists (starting one first, and failing if that fails): nothing is
 * left queued without a worker.
 *
 * A request leaves QUEUED exactly once, by a compare-and-swap: to RUNNING
 * by the worker that runs it, or to CANCELLED by loom_pool_cancel() (or by
 * the teardown).  A cancelled request stays on the queue (or in a worker's
 * claimed batch) until a worker reaches it and drops it, and is at the
 * same time on the completion list: both sides own it and the last of the
 * two to release it recycles it (loom__pool_req_release()).  A request that ran is
 * owned by the completion list alone once its worker pushed it.
 *
 * Batching: when the queue is long, a worker claims several requests per
 * lock acquisition (guided self-scheduling: the queue length divided by
 * twice the maximum number of workers, so that no worker hoards work
 * others could take) and pushes their completions in one step.  A worker
 * gives back the rest of its batch when it sees an idle worker and an
 * empty queue.  A worker that ran out of work busy-waits for SPIN_NS
 * before it sleeps; a submitter that finds incoming empty and a spinner
 * leaves the request to it, so a stream of requests neither wakes nor
 * starts a worker per request.
 *
 * A worker that leaves while the pool lives (idle beyond the minimum, or
 * the maximum lowered) puts itself on the zombie list and schedules the
 * completion BH, which joins it in the loop's home thread: an exited
 * worker's thread is reaped without waiting for another submission.
 *
 * Teardown (pool_free(), from the loop's last unref): new submissions
 * fail, workers cancel what they claimed but did not start and exit once
 * their running request returns, the rest of the queue is cancelled, and
 * every completion callback still owed runs in the tearing-down thread.
 */
#ifndef LOOM_POOL_INT_H
#define LOOM_POOL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <loom/pool.h>
#include <loom/sync.h>
#include <loom/thread.h>

#include "base/compiler.h"
#include "base/list.h"

/*
 * Request memory (see block_alloc()): the first block holds REQ_BLOCK
 * requests, each next one twice as many as the last, up to REQ_CHUNK
 * bytes, mapped huge-page aligned.
 */
#define REQ_BLOCK 128
#define REQ_CHUNK ((size_t)2 << 20)

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

/* One cache line: a request moves between threads whole. */
struct LOOM_CACHE_ALIGNED loom_pool_req {
    /* Completion list link: written before the push. */
    struct loom_pool_req *done_next;
    /* Queue link: incoming (by the submitter), then the FIFO (p->lock). */
    struct loom_pool_req *q_next;

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

struct loom__pool_req_block {
    struct loom__pool_req_block *next;
    size_t mapped; /* bytes mapped with mmap(), or 0: aligned_alloc() */
    struct loom_pool_req reqs[];
};

struct LOOM_CACHE_ALIGNED loom__pool_worker {
    /* Immutable after creation. */
    struct loom_pool *pool;

    /* Protected by pool->lock. */
    struct loom_thread *thread; /* set by the spawner; NULL until then */
    struct loom__list link;      /* on pool->workers, then pool->zombies */
    bool exited;                 /* on pool->zombies */

    /* Written by this worker only (relaxed atomics), read by stats. */
    uint64_t started, finished;
};

struct loom_pool {
    /* Immutable after creation. */
    struct loom_loop *loop;
    struct loom_bh *bh;

    /* Submission side: submitters (and exiting workers) only. */
    struct loom_mutex sub_lock LOOM_CACHE_ALIGNED;
    /* Protected by ->sub_lock. */
    struct loom_pool_req *free_reqs;     /* recycled, linked by done_next */
    struct loom__pool_req_block *blocks; /* every request's memory */
    size_t block_reqs;                   /* requests in the newest block */
    uint64_t submitted;
    int sub_workers;   /* nworkers, as submitters see it */
    bool sub_stopping; /* stopping, as submitters see it */
    /* Atomic: recycled requests pushed by the completion side (a LIFO
     * linked by done_next), taken whole under ->sub_lock. */
    struct loom_pool_req *free_lifo;

    /* Atomic: submitted requests, newest first (linked by q_next). */
    struct loom_pool_req *incoming LOOM_CACHE_ALIGNED;

    /*
     * Hints: written under ->lock (sequentially consistent), read by
     * submitters without it.  spin_hint: nspinning; sleep_hint: idle
     * workers not yet signalled (nidle - nwakes); grow_hint: a worker
     * may be started (nworkers < max, none spawning, not stopping).
     */
    int spin_hint LOOM_CACHE_ALIGNED;
    int sleep_hint;
    bool grow_hint;

    struct loom_mutex lock LOOM_CACHE_ALIGNED;
    /* Protected by ->lock. */
    struct loom_cond work_cond; /* workers wait for requests */
    struct loom_cond exit_cond; /* teardown waits for workers */
    /* The queue: a FIFO linked by q_next, oldest at q_head. */
    struct loom_pool_req *q_head, *q_tail;
    /* Entries on the queue, cancelled ones included; also read without
     * the lock by workers, as a hint. */
    size_t qlen;
    int min, max;
    int64_t idle_ns;
    /* Alive or being spawned; changed under both locks (the copy
     * sub_workers is the submitters'). */
    int nworkers;
    int nidle;     /* waiting on work_cond */
    int nwakes;    /* signals sent and not yet consumed (lower bound) */
    int nspawning; /* spawns between reservation and completion */
    int nspinning; /* workers busy-waiting for requests (not idle) */
    bool stopping; /* also read atomically by workers and submitters */
    struct loom__list workers, zombies;
    uint64_t retired_started, retired_finished; /* of exited workers */

    /* Atomic. */
    int idle_hint;    /* copy of nidle, for the lock-free give-back test */
    bool reap_hint;   /* p->zombies may hold a worker to join */
    uint64_t cancels; /* QUEUED -> CANCELLED transitions */
    uint64_t completed, cancelled; /* written by the completion side only */

    /*
     * Completion list: lock-free pushes by workers and cancel, taken whole
     * by the completion BH.
     */
    struct loom_pool_req *done_head LOOM_CACHE_ALIGNED;
};

/* ------------------------------------------------------------------ */
/* pool.c: completions.                                                */

/*
 * loom__pool_push_done() - push the chain @first .. @last (linked by
 * done_next) on the completion list, scheduling the completion BH on the
 * empty -> non-empty edge.  Context: any.
 */
void loom__pool_push_done(struct loom_pool *p, struct loom_pool_req *first,
                          struct loom_pool_req *last);

/*
 * loom__pool_req_free_chain() - recycle the chain @first .. @last.
 * Context: any, p->lock not held.
 */
void loom__pool_req_free_chain(struct loom_pool *p, struct loom_pool_req *first,
                               struct loom_pool_req *last);

/*
 * loom__pool_req_release() - drop owner @who (REL_QUEUE or REL_DONE) of a
 * cancelled request.  Context: any.  Return: true for the last owner,
 * which must recycle it.
 */
bool loom__pool_req_release(struct loom_pool_req *req, unsigned who);

/*
 * loom__pool_cancel_dequeued() - cancel the dequeued requests @reqs[0..n)
 * not cancelled yet, and drop the queue's ownership of those that were.
 * Context: any, p->lock not held, the requests dequeued by the caller.
 */
void loom__pool_cancel_dequeued(struct loom_pool *p,
                                struct loom_pool_req **reqs, size_t n);

/* ------------------------------------------------------------------ */
/* pool-queue.c: the queue.  Context: p->lock held unless said.         */

/*
 * loom__pool_push_incoming() - push @req on incoming.  Context: any,
 * p->sub_lock held.  Return: true if incoming was empty.
 */
bool loom__pool_push_incoming(struct loom_pool *p, struct loom_pool_req *req);
/* Move incoming to the FIFO's tail, oldest first.  Return: how many. */
size_t loom__pool_pull_locked(struct loom_pool *p);
/* Take up to @max entries from the FIFO's head into @out.  Return: how many. */
size_t loom__pool_take_locked(struct loom_pool *p, struct loom_pool_req **out,
                              size_t max);
/* Claim a guided batch (queue not empty).  Return: how many (>= 1). */
size_t loom__pool_claim_locked(struct loom_pool *p,
                               struct loom_pool_req **batch);
/* Put the unstarted rest of a batch back at the head.  Context: p->lock
 * not held. */
void loom__pool_give_back(struct loom_pool *p, struct loom_pool_req **reqs,
                          size_t n);
/* Refresh the hints from the locked state. */
void loom__pool_hints_locked(struct loom_pool *p);

/* ------------------------------------------------------------------ */
/* pool-worker.c: worker threads.                                      */

/*
 * loom__pool_count_workers_locked() - add @d to the number of workers.
 * Context: p->lock held, p->sub_lock not held.
 */
void loom__pool_count_workers_locked(struct loom_pool *p, int d);

/*
 * loom__pool_spawn_reserve_locked() - reserve a worker slot.  Context:
 * p->lock held.  Return: the new worker (thread not started), or NULL.
 */
struct loom__pool_worker *loom__pool_spawn_reserve_locked(struct loom_pool *p);

/*
 * loom__pool_spawn_finish() - start the thread of a reserved worker.
 * Context: p->lock not held.  Return: 0 or a negative errno (the
 * reservation is undone).
 */
int loom__pool_spawn_finish(struct loom_pool *p, struct loom__pool_worker *w);

/*
 * loom__pool_take_zombies_locked() - move the exited workers whose handle
 * is known to @out.  Context: p->lock held.
 * loom__pool_join_zombies() - join and free them.  Context: p->lock not
 * held.
 */
void loom__pool_take_zombies_locked(struct loom_pool *p,
                                    struct loom__list *out);
void loom__pool_join_zombies(struct loom__list *list);

/*
 * loom__pool_reap() - join the workers that exited, if any.  Context:
 * p->lock not held; home(loop) (the completion BH) or a submitter.
 */
void loom__pool_reap(struct loom_pool *p);

#endif /* LOOM_POOL_INT_H */
