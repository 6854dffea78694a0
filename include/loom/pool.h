/* SPDX-License-Identifier: MIT */
/*
 * Thread pool (QEMU's ThreadPool): worker threads for work that must
 * block (file I/O, slow system calls).  Every loop owns one pool, created
 * lazily by loom_loop_pool(); a request's function runs on a worker and its
 * completion callback runs back in the loop's home thread, from a BH.
 * Workers are started on demand up to a maximum, and those beyond the
 * minimum exit after being idle for a while (10 s by default).
 *
 * Life of a request: queued -> running -> finished -> done called, or
 * queued -> cancelled -> done called with -ECANCELED.  The function runs
 * at most once; the completion callback runs exactly once, always in the
 * loop's home thread, never from inside loom_pool_submit() or
 * loom_pool_cancel().  The request handle is valid until its completion
 * callback has returned.
 *
 * Teardown: the pool goes with its loop's last reference.  Queued requests
 * are cancelled, running ones are waited for, and every completion
 * callback still owed then runs in the thread dropping that reference
 * (with -ECANCELED or the function's result) before the loop is freed;
 * such late callbacks must not use the loop.
 *
 * Throughput: workers take several requests at once when the queue is
 * long and busy-wait briefly (tens of microseconds) for more before they
 * sleep; request memory is recycled within the pool (it keeps what its
 * peak number of requests in flight needed) and released with it.
 */
#ifndef LOOM_POOL_H
#define LOOM_POOL_H

#include <stdint.h>

#include <loom/common.h>
#include <loom/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/** struct loom_pool - a loop's thread pool (opaque). */
struct loom_pool;

/** struct loom_pool_req - a submitted request (opaque). */
struct loom_pool_req;

/** LOOM_POOL_DEFAULT_MAX - default maximum number of workers. */
#define LOOM_POOL_DEFAULT_MAX 64
/** LOOM_POOL_DEFAULT_IDLE_NS - default idle time before a worker exits. */
#define LOOM_POOL_DEFAULT_IDLE_NS 10000000000LL

/**
 * typedef loom_pool_fn - the work of a request.
 * @arg: the pointer given to loom_pool_submit().
 *
 * Callback: a worker thread (any thread but the loop's); may block.
 * Return: a result handed to the completion callback (by convention 0 or
 * a negative errno, but any int is passed through).
 */
typedef int loom_pool_fn(void *arg);

/**
 * typedef loom_pool_done_fn - completion of a request.
 * @opaque: the pointer given to loom_pool_submit().
 * @ret: the function's result, or -ECANCELED if it was cancelled before
 *       it started.
 *
 * Callback: home(the pool's loop) (at teardown: the thread dropping the
 * loop's last reference).
 */
typedef void loom_pool_done_fn(void *opaque, int ret);

/**
 * loom_loop_pool() - the thread pool of a loop, created on first use.
 * @l: the loop.
 *
 * Creating the pool starts no thread (the default minimum is 0).
 *
 * Context: any.
 * Return: the pool, owned by @l and freed with it; NULL if @l is NULL or
 * memory ran out.
 */
LOOM_API struct loom_pool *loom_loop_pool(struct loom_loop *l);

/**
 * loom_pool_set_size() - set the minimum and maximum number of workers.
 * @p: the pool.
 * @min: workers kept alive even when idle (>= 0); started at once.
 * @max: most workers running at the same time (>= 1, >= @min).
 *
 * Defaults: 0 and LOOM_POOL_DEFAULT_MAX.  Workers beyond a lowered
 * maximum exit once their current request is finished.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @p or a bad range; -EAGAIN (or another
 * negative errno from thread creation) if the minimum could not be
 * started (the new sizes are kept; workers start on demand later).
 */
LOOM_API int loom_pool_set_size(struct loom_pool *p, int min, int max);

/**
 * loom_pool_set_idle_ns() - set how long a worker beyond the minimum may
 * stay idle before it exits.
 * @p: the pool.
 * @ns: idle time in nanoseconds (>= 0; 0 exits as soon as idle).
 *
 * Applies to workers already waiting too.  Default:
 * LOOM_POOL_DEFAULT_IDLE_NS.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @p or a negative @ns.
 */
LOOM_API int loom_pool_set_idle_ns(struct loom_pool *p, int64_t ns);

/**
 * loom_pool_submit() - run @fn(@arg) on a worker, then @done in the loop.
 * @p: the pool.
 * @fn: the work.
 * @arg: passed to @fn.
 * @done: completion callback, or NULL for none.
 * @opaque: passed to @done.
 * @ret_req: receives the request handle (for loom_pool_cancel()), or
 *           NULL.  The handle is valid until @done has returned.
 *
 * Starts a worker if none is idle and the maximum allows it.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @p or @fn; -ENOMEM; -EAGAIN (or another
 * error of thread creation) when the pool has no worker and none can be
 * started: the request is not queued; -ESHUTDOWN while the pool is being
 * torn down (e.g. from a completion callback run by the teardown).
 */
LOOM_API int loom_pool_submit(struct loom_pool *p, loom_pool_fn *fn, void *arg,
                              loom_pool_done_fn *done, void *opaque,
                              struct loom_pool_req **ret_req);

/**
 * loom_pool_cancel() - cancel a request that has not started.
 * @req: a request whose completion callback has not run yet.
 *
 * If the function has not started, it never will, and the completion
 * callback runs (later, from the pool's BH) with -ECANCELED.  Otherwise
 * nothing changes: the callback runs with the function's result.
 *
 * Context: home(the pool's loop), or any thread that knows the completion
 * callback has not run yet.
 * Return: 0 when cancelled; -EBUSY when the function has started (running
 * or finished); -EALREADY when it was already cancelled; -EINVAL for a
 * NULL @req.
 */
LOOM_API int loom_pool_cancel(struct loom_pool_req *req);

/**
 * loom_pool_submit_co() - run @fn(@arg) on a worker from a coroutine.
 * @p: the pool.
 * @fn: the work.
 * @arg: passed to @fn.
 *
 * The calling coroutine yields until @fn has returned, then continues in
 * the loop it was running in (which need not be @p's loop).
 *
 * Context: co, running in a loop (see <loom/co.h>).  Panics outside a
 * coroutine.
 * Return: @fn's result; -EINVAL for a NULL @p or @fn; -ENOMEM, -EAGAIN
 * or -ESHUTDOWN as loom_pool_submit().
 */
LOOM_API int loom_pool_submit_co(struct loom_pool *p, loom_pool_fn *fn,
                                 void *arg);

/**
 * struct loom_pool_stats - state and counters of a pool.
 * @submitted: requests accepted since the pool was created.
 * @completed: completion callbacks run with the function's result.
 * @cancelled: completion callbacks run with -ECANCELED.
 * @queued: requests waiting for a worker (not cancelled).
 * @running: functions running now.
 * @workers: worker threads alive.
 * @idle_workers: workers waiting for a request.
 * @min_workers: the configured minimum.
 * @max_workers: the configured maximum.
 * @idle_ns: the configured idle time.
 */
struct loom_pool_stats {
    uint64_t submitted, completed, cancelled;
    uint64_t queued, running, workers, idle_workers;
    int min_workers, max_workers;
    int64_t idle_ns;
};

/**
 * loom_pool_stats() - read the pool's state and counters.
 * @p: the pool.
 * @st: receives them.  Every field is read atomically and the gauges
 *      under the pool's lock, but workers update their counts without it,
 *      so while requests run the figures are a close approximation.
 *
 * Context: any.  A NULL @p or @st is ignored.
 */
LOOM_API void loom_pool_stats(struct loom_pool *p, struct loom_pool_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_POOL_H */
