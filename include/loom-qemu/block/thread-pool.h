/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's block-layer thread pool (<block/thread-pool.h>, QEMU
 * 10.x names) on the thread pool of the current context's loom loop.
 *
 * thread_pool_submit_aio() runs @func(@arg) on a worker and then @cb in
 * the submitting thread's current AioContext; the returned BlockAIOCB can
 * be cancelled with bdrv_aio_cancel_async() (a request that has not
 * started never runs and completes with -ECANCELED; a running one
 * completes normally) or bdrv_aio_cancel() (the same, then waits for the
 * completion).  thread_pool_submit_co() is the coroutine form.
 *
 * The generic pool of QEMU 10 (ThreadPool: work without completion
 * callbacks, waited for as a whole) has worker threads of its own.
 */
#ifndef LOOM_QEMU_BLOCK_THREAD_POOL_H
#define LOOM_QEMU_BLOCK_THREAD_POOL_H

#include <glib.h>
#include <stdbool.h>

#include "block/aio.h"
#include "qemu/coroutine-core.h"

#define THREAD_POOL_MAX_THREADS_DEFAULT 64

typedef int ThreadPoolFunc(void *opaque);

/**
 * thread_pool_submit_aio() - run @func(@arg) on a worker of the current
 * context's pool, then @cb(@opaque, result) in that context.
 *
 * Context: a thread with a current AioContext (its home thread).  Aborts
 * when there is none, or out of memory.
 * Return: the request, valid until @cb has returned.
 */
BlockAIOCB *thread_pool_submit_aio(ThreadPoolFunc *func, void *arg,
                                   BlockCompletionFunc *cb, void *opaque);

/**
 * thread_pool_submit_co() - run @func(@arg) on a worker; the coroutine
 * yields meanwhile.  Context: coroutine, in a thread with a current
 * AioContext.  Return: @func's result.
 */
int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg);

/* ---- the generic pool ---- */

typedef struct ThreadPool ThreadPool;

/** thread_pool_new() - a pool with THREAD_POOL_MAX_THREADS_DEFAULT. */
ThreadPool *thread_pool_new(void);

/** thread_pool_free() - wait for the work submitted, then free @pool. */
void thread_pool_free(ThreadPool *pool);

/**
 * thread_pool_submit() - run @func(@opaque) on a worker, then
 * @opaque_destroy(@opaque) if not NULL.  A non-zero result of @func is
 * ignored.  Context: any.
 */
void thread_pool_submit(ThreadPool *pool, ThreadPoolFunc *func, void *opaque,
                        GDestroyNotify opaque_destroy);

/**
 * thread_pool_submit_immediate() - thread_pool_submit(), raising the
 * worker limit if needed so that the work starts without waiting for
 * other work to finish.
 */
void thread_pool_submit_immediate(ThreadPool *pool, ThreadPoolFunc *func,
                                  void *opaque, GDestroyNotify opaque_destroy);

/** thread_pool_wait() - wait until all work submitted so far is done. */
void thread_pool_wait(ThreadPool *pool);

/** thread_pool_set_max_threads() - set the worker limit (>= 1). */
bool thread_pool_set_max_threads(ThreadPool *pool, int max_threads);

/**
 * thread_pool_adjust_max_threads_to_work() - set the worker limit to the
 * number of work items submitted and not finished (at least 1).
 */
bool thread_pool_adjust_max_threads_to_work(ThreadPool *pool);

#endif /* LOOM_QEMU_BLOCK_THREAD_POOL_H */
