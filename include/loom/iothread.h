/* SPDX-License-Identifier: MIT */
/*
 * IOThreads: named threads that do nothing but run their own loop, for
 * device dataplanes and other work that must not wait on the main loop or
 * the big lock (QEMU's IOThread).  Other threads hand them work with BHs
 * on loom_iothread_loop(), or synchronously with loom_iothread_run().
 * Every IOThread is in a process-wide registry (loom_iothread_find(),
 * loom_iothread_foreach()) from creation until it is freed.
 */
#ifndef LOOM_IOTHREAD_H
#define LOOM_IOTHREAD_H

#include <stdint.h>

#include <loom/common.h>
#include <loom/loop.h>
#include <loom/pool.h>
#include <loom/thread.h>

#ifdef __cplusplus
extern "C" {
#endif

/** struct loom_iothread - an IOThread (opaque). */
struct loom_iothread;

/** LOOM_IOTHREAD_POLL_MAX_NS_DEFAULT - busy-poll window without opts. */
#define LOOM_IOTHREAD_POLL_MAX_NS_DEFAULT 32768

/**
 * struct loom_iothread_opts - IOThread options.
 * @poll_max_ns: adaptive polling window (loom_loop_set_poll_params());
 *               0 turns polling off.
 * @poll_grow: growth factor (0: the loop's default).
 * @poll_shrink: shrink divisor (0: the loop's default).
 * @pool_min: minimum workers of the IOThread's loop's pool.
 * @pool_max: maximum workers; with @pool_min also 0 the pool keeps its
 *            defaults (and is created lazily), otherwise it is created
 *            with these sizes (loom_pool_set_size()).
 * @affinity: the CPUs the IOThread's thread runs on from its start
 *            (QEMU's thread-context objects, Cloud Hypervisor's
 *            queue_affinity); NULL inherits the creator's affinity.  The
 *            set is copied.  Pool workers take the affinity of the
 *            thread that starts them: the IOThread's when it submits to
 *            its own pool, the caller's for the @pool_min workers that
 *            loom_iothread_new() starts.
 */
struct loom_iothread_opts {
    int64_t poll_max_ns, poll_grow, poll_shrink;
    int pool_min, pool_max;
    const struct loom_cpuset *affinity;
};

/**
 * loom_iothread_new() - start an IOThread.
 * @name: its unique name (copied; also the thread's name, truncated).
 * @opts_or_NULL: options; NULL means poll_max_ns =
 *                LOOM_IOTHREAD_POLL_MAX_NS_DEFAULT and defaults for the
 *                rest.
 * @ret: receives the IOThread.
 *
 * Returns once the thread runs its loop.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL or empty @name, a NULL @ret or bad
 * options (negative values, @pool_min > @pool_max, an empty or
 * out-of-range @affinity: see loom_thread_set_affinity()); -EEXIST when
 * an IOThread of that name exists; -ENOMEM; -EAGAIN or another negative
 * errno from creating the loop or the thread, or the thread-start hook's
 * error (loom_thread_set_start_hook(), kind LOOM_THREAD_KIND_IOTHREAD).
 */
LOOM_API int loom_iothread_new(const char *name,
                               const struct loom_iothread_opts *opts_or_NULL,
                               struct loom_iothread **ret);

/**
 * loom_iothread_loop() - the loop an IOThread runs.
 * @io: the IOThread.
 *
 * The loop lives as long as @io (take a reference to keep it longer; its
 * home thread is gone after loom_iothread_free()).
 *
 * Context: any.
 * Return: the loop; NULL for a NULL @io.
 */
LOOM_API struct loom_loop *loom_iothread_loop(struct loom_iothread *io);

/**
 * loom_iothread_name() - the name of an IOThread.
 * @io: the IOThread.
 *
 * Context: any.
 * Return: the name, valid until loom_iothread_free(); NULL for NULL @io.
 */
LOOM_API const char *loom_iothread_name(struct loom_iothread *io);

/**
 * loom_iothread_set_affinity() - move a running IOThread to other CPUs.
 * @io: the IOThread.
 * @cpus: the CPUs it may run on from now on (copied).
 *
 * Workers its pool already started keep theirs; new ones inherit the new
 * set.
 *
 * Context: any, while @io is not being freed.
 * Return: 0; -EINVAL for a NULL @io or @cpus, or an invalid set (see
 * loom_thread_set_affinity()).
 */
LOOM_API int loom_iothread_set_affinity(struct loom_iothread *io,
                                        const struct loom_cpuset *cpus);

/**
 * loom_iothread_run() - run a function in an IOThread and wait for it.
 * @io: the IOThread.
 * @fn: the function; runs in @io's thread, from a BH (or directly when
 *      the caller is @io's thread).
 * @arg: passed to @fn.
 *
 * Blocks the calling thread (a coroutine included) until @fn returned.
 * @fn must not wait for the caller.
 *
 * Context: any, while @io is not being freed.
 * Return: @fn's result; -EINVAL for a NULL @io or @fn; -ENOMEM.
 */
LOOM_API int loom_iothread_run(struct loom_iothread *io, int (*fn)(void *),
                               void *arg);

/**
 * loom_iothread_free() - stop an IOThread and free it.
 * @io: the IOThread (NULL is ignored).
 *
 * BHs scheduled on its loop before this call run first; then the thread
 * leaves its loop and is joined, @io leaves the registry, and the
 * IOThread's reference to the loop is dropped (the last one frees the
 * loop, its pool included: see <loom/pool.h> on teardown).
 *
 * Context: any thread but @io's own.  Panics when called from @io's
 * thread (it would wait for itself).
 */
LOOM_API void loom_iothread_free(struct loom_iothread *io);

/**
 * loom_iothread_find() - look an IOThread up by name.
 * @name: the name.
 *
 * Context: any.
 * Return: the IOThread, or NULL (also for a NULL @name).  The caller must
 * know it is not being freed concurrently.
 */
LOOM_API struct loom_iothread *loom_iothread_find(const char *name);

/**
 * typedef loom_iothread_foreach_fn - visitor of loom_iothread_foreach().
 * @io: one IOThread.
 * @opaque: the pointer given to loom_iothread_foreach().
 *
 * Callback: the thread calling loom_iothread_foreach(), with the registry
 * locked: must not create or free IOThreads.
 * Return: 0 to continue, anything else to stop the walk.
 */
typedef int loom_iothread_foreach_fn(struct loom_iothread *io, void *opaque);

/**
 * loom_iothread_foreach() - visit every IOThread, in creation order.
 * @fn: the visitor.
 * @opaque: passed to @fn.
 *
 * Context: any.
 * Return: 0 after visiting all, or the first non-zero result of @fn;
 * -EINVAL for a NULL @fn.
 */
LOOM_API int loom_iothread_foreach(loom_iothread_foreach_fn *fn, void *opaque);

/**
 * struct loom_iothread_stats - state of an IOThread.
 * @loop: its loop's counters (loom_loop_stats()).
 * @pool: its loop's pool (loom_pool_stats()); all zero while no pool
 *        exists.
 * @run_calls: functions run with loom_iothread_run().
 * @has_pool: whether the loop's pool was created.
 */
struct loom_iothread_stats {
    struct loom_loop_stats loop;
    struct loom_pool_stats pool;
    uint64_t run_calls;
    bool has_pool;
};

/**
 * loom_iothread_stats() - read an IOThread's state and counters.
 * @io: the IOThread.
 * @st: receives them.
 *
 * Does not create the pool.
 *
 * Context: any.  A NULL @io or @st is ignored.
 */
LOOM_API void loom_iothread_stats(struct loom_iothread *io,
                                  struct loom_iothread_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_IOTHREAD_H */
