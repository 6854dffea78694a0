/* SPDX-License-Identifier: MIT */
/*
 * The pool's worker threads: spawning (by submitters, on demand, outside
 * the lock) and reaping exited ones, and the worker loop: claim a batch,
 * run it, push its completions; spin briefly when work ran out, then
 * sleep, and exit after idle_ns beyond the minimum.  The loop runs in the
 * workers; spawning and reaping in submitters and the teardown.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <loom/bh.h>
#include <loom/clock.h>

#include "base/atomic.h"
#include "base/thread-int.h"
#include "pool/pool-int.h"

static void *worker_main(void *arg);

/*
 * Add @d to the number of workers, under sub_lock too: a submitter that
 * saw a worker there pushes its request before the count drops, and
 * reads its own copy, on a line the workers do not write.  Context:
 * p->lock held.
 */
void loom__pool_count_workers_locked(struct loom_pool *p, int d)
{
    loom_mutex_lock(&p->sub_lock);
    p->nworkers += d;
    p->sub_workers = p->nworkers;
    loom_mutex_unlock(&p->sub_lock);
}

/* ------------------------------------------------------------------ */
/* Workers: spawning and reaping.                                      */

/*
 * Reserve a worker slot.  Context: p->lock held.
 * Return: the new worker (on p->workers, thread not started), or NULL.
 */
struct loom__pool_worker *loom__pool_spawn_reserve_locked(struct loom_pool *p)
{
    struct loom__pool_worker *w = aligned_alloc(LOOM_CACHELINE, sizeof(*w));

    if (!w) {
        return NULL;
    }
    memset(w, 0, sizeof(*w));
    w->pool = p;
    loom__list_add_tail(&p->workers, &w->link);
    loom__pool_count_workers_locked(p, 1);
    p->nspawning++;
    loom__pool_hints_locked(p);
    return w;
}

/*
 * Start the thread of a reserved worker.  Context: p->lock not held.
 * Return: 0 or a negative errno (the reservation is undone).
 */
int loom__pool_spawn_finish(struct loom_pool *p, struct loom__pool_worker *w)
{
    struct loom_thread *t = NULL;
    int err;

    err = loom__thread_create(&t, LOOM_THREAD_KIND_POOL, "loom-pool",
                              worker_main, w, LOOM_THREAD_JOINABLE, NULL);
    loom_mutex_lock(&p->lock);
    if (err < 0) {
        loom__list_del(&w->link);
        loom__pool_count_workers_locked(p, -1);
    } else {
        w->thread = t;
        if (w->exited && !p->stopping) {
            /* It left already: the completion BH joins it. */
            loom__atomic_set(&p->reap_hint, true);
            loom_bh_schedule(p->bh);
        }
    }
    p->nspawning--;
    loom__pool_hints_locked(p);
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
void loom__pool_take_zombies_locked(struct loom_pool *p,
                                    struct loom__list *out)
{
    struct loom__list *n, *next;
    struct loom__pool_worker *w;

    loom__list_init(out);
    for (n = p->zombies.next; n != &p->zombies; n = next) {
        next = n->next;
        w = loom__list_entry(n, struct loom__pool_worker, link);
        if (w->thread) {
            loom__list_del(n);
            loom__list_add_tail(out, n);
        }
    }
}

/*
 * Join the exited workers whose handle is known.  Context: p->lock not
 * held; the completion BH (home(loop)).
 */
void loom__pool_reap(struct loom_pool *p)
{
    struct loom__list zombies;

    if (!loom__atomic_read(&p->reap_hint)) {
        return;
    }
    loom_mutex_lock(&p->lock);
    loom__atomic_set(&p->reap_hint, false);
    loom__pool_take_zombies_locked(p, &zombies);
    loom_mutex_unlock(&p->lock);
    loom__pool_join_zombies(&zombies);
}

void loom__pool_join_zombies(struct loom__list *list)
{
    struct loom__pool_worker *w;

    while (!loom__list_empty(list)) {
        w = loom__list_entry(list->next, struct loom__pool_worker, link);
        loom__list_del(&w->link);
        (void)loom_thread_join(w->thread, NULL);
        free(w);
    }
}

/* Move @req from QUEUED to RUNNING; false if it was cancelled. */
static bool req_try_start(struct loom_pool_req *req)
{
    unsigned s = REQ_QUEUED;

    /* Pairs with the CAS in req_try_cancel(): exactly one of them wins. */
    return loom__atomic_cas(&req->state, &s, REQ_RUNNING);
}

/* Run a claimed batch and push its completions.  Context: worker. */
static void run_batch(struct loom_pool *p, struct loom__pool_worker *w,
                      struct loom_pool_req **batch, size_t n)
{
    struct loom_pool_req *top = NULL, *bottom = NULL, *req;

    for (size_t i = 0; i < n; i++) {
        req = batch[i];
        if (loom__atomic_read(&p->stopping)) {
            /* Teardown: what has not started is cancelled. */
            loom__pool_cancel_dequeued(p, batch + i, n - i);
            break;
        }
        if (top && loom__atomic_read(&p->idle_hint) > 0 &&
            !loom__atomic_read(&p->qlen)) {
            /* Someone is idle with nothing to do: they take the rest. */
            loom__pool_give_back(p, batch + i, n - i);
            break;
        }
        if (!req_try_start(req)) {
            /* Cancelled while queued: already on the completion list. */
            if (loom__pool_req_release(req, REL_QUEUE)) {
                loom__pool_req_free_chain(p, req, req);
            }
            continue;
        }
        loom__atomic_set(&w->started, w->started + 1);
        req->ret = req->fn(req->arg);
        loom__atomic_set(&req->state, REQ_DONE);
        loom__atomic_set(&w->finished, w->finished + 1);
        /* Newest on top, like the completion list itself. */
        req->done_next = top;
        if (!top) {
            bottom = req;
        }
        top = req;
    }
    if (top) {
        loom__pool_push_done(p, top, bottom);
    }
}

/*
 * Wait for work.  A worker beyond the minimum waits for what is left of
 * the idle time, one kept by the minimum until it is woken.  Context:
 * p->lock held (it is released while waiting).  Return: true when the
 * worker has left (idle for idle_ns and beyond the minimum, nothing
 * incoming): it is counted out already.
 */
static bool wait_for_work_locked(struct loom_pool *p, int64_t *idle_since)
{
    int64_t now = loom_clock_ns(LOOM_CLOCK_HOST);
    int64_t left;
    bool leave;

    if (*idle_since < 0) {
        *idle_since = now;
    }
    /* The idle time is re-read on every wake-up: changes apply at once. */
    left = p->idle_ns - (now - *idle_since);
    if (left <= 0 && p->nworkers > p->min) {
        /* Leave only with nothing incoming, checked against submitters. */
        loom_mutex_lock(&p->sub_lock);
        leave = !loom__atomic_read(&p->incoming);
        if (leave) {
            p->nworkers--;
            p->sub_workers = p->nworkers;
        }
        loom_mutex_unlock(&p->sub_lock);
        if (leave) {
            loom__pool_hints_locked(p);
        }
        return leave;
    }
    p->nidle++;
    loom__atomic_set(&p->idle_hint, p->nidle);
    loom__pool_hints_locked(p);
    /* Pairs with the submitter's push, then its read of the hints. */
    if (!loom__atomic_load_seq(&p->incoming)) {
        if (left > 0) {
            (void)loom_cond_timedwait(&p->work_cond, &p->lock, left);
        } else {
            loom_cond_wait(&p->work_cond, &p->lock);
        }
    }
    p->nidle--;
    loom__atomic_set(&p->idle_hint, p->nidle);
    if (p->nwakes > 0) {
        p->nwakes--;
    }
    loom__pool_hints_locked(p);
    return false;
}

/*
 * Busy-wait up to SPIN_NS for a request.  Context: p->lock held (released
 * while spinning).  A submitter that finds incoming empty and a spinner
 * leaves its request to it instead of waking or starting a worker.
 */
static void spin_for_work_locked(struct loom_pool *p)
{
    int64_t t0 = loom_clock_ns(LOOM_CLOCK_HOST);
    unsigned i = 0;

    p->nspinning++;
    loom__pool_hints_locked(p);
    loom_mutex_unlock(&p->lock);
    /* Pairs with the submitter's push, then its read of spin_hint. */
    while (!loom__atomic_read(&p->incoming) && !loom__atomic_read(&p->qlen) &&
           !loom__atomic_read(&p->stopping)) {
        loom__cpu_relax();
        if (++i % 64 == 0) {
            if (loom_clock_ns(LOOM_CLOCK_HOST) - t0 > SPIN_NS) {
                break;
            }
            /*
             * Let a thread that shares this CPU (the submitter, on a
             * loaded machine) run: spinning on its time would delay the
             * very requests waited for.  Returns at once otherwise.
             */
            sched_yield();
        }
    }
    loom_mutex_lock(&p->lock);
    /* The caller looks at the queue and incoming again: nothing is missed. */
    p->nspinning--;
    loom__pool_hints_locked(p);
}

static void *worker_main(void *arg)
{
    struct loom__pool_worker *w = arg;
    struct loom_pool *p = w->pool;
    struct loom_pool_req *batch[BATCH_MAX];
    int64_t idle_since = -1; /* start of the idle period; -1: busy */
    bool worked = false;     /* ran requests since it last spun */
    bool counted_out = false;
    size_t n;

    loom_mutex_lock(&p->lock);
    for (;;) {
        if (p->nworkers > p->max) {
            break; /* the maximum was lowered */
        }
        if (!p->qlen && !p->stopping) {
            (void)loom__pool_pull_locked(p);
        }
        if (p->qlen && !p->stopping) {
            n = loom__pool_claim_locked(p, batch);
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
            counted_out = true;
            break;
        }
    }
    if (!counted_out) {
        loom__pool_count_workers_locked(p, -1);
        loom__pool_hints_locked(p);
    }
    p->retired_started += loom__atomic_read(&w->started);
    p->retired_finished += loom__atomic_read(&w->finished);
    loom__list_del(&w->link);
    loom__list_add_tail(&p->zombies, &w->link);
    w->exited = true;
    if (p->stopping) {
        loom_cond_broadcast(&p->exit_cond);
    } else if (w->thread) {
        /*
         * Leaving a live pool: be joined by the completion BH in the
         * loop's home thread rather than at the next submission, which
         * may never come.  (A worker whose spawner has not recorded its
         * handle yet is scheduled for by the spawner.)
         */
        loom__atomic_set(&p->reap_hint, true);
        loom_bh_schedule(p->bh);
    }
    loom_mutex_unlock(&p->lock);
    return NULL;
}
