/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's thread pool (<block/thread-pool.h>).
 *
 * The AIO pool is the loom pool of the current context's loop: a request
 * is a BlockAIOCB whose completion runs in that context's home thread
 * (from the pool's BH), where cancellation is also asked for.  The
 * generic pool is a work queue under a mutex served by joinable worker
 * threads started on demand (not GLib's GThreadPool: its locks are
 * invisible to ThreadSanitizer); any thread may use it.
 */
#include "qemu/osdep.h"

#include <loom/co.h>
#include <loom/pool.h>

#include "block/aio-wait.h"
#include "block/aio.h"
#include "block/block.h"
#include "block/thread-pool.h"
#include "compat-int.h"
#include "qemu/coroutine_int.h"
#include "qemu/error-report.h"
#include "qemu/thread.h"

typedef struct ThreadPoolElementAio {
    BlockAIOCB common;
    AioContext *ctx;
    /* Home thread of ctx only: NULL once the completion has started. */
    struct loom_pool_req *req;
} ThreadPoolElementAio;

static void tp_cancel_async(BlockAIOCB *acb)
{
    ThreadPoolElementAio *elem = container_of(acb, ThreadPoolElementAio,
                                              common);

    if (elem->req) {
        /* -EBUSY (already started) and -EALREADY change nothing. */
        (void)loom_pool_cancel(elem->req);
    }
}

static AioContext *tp_get_aio_context(BlockAIOCB *acb)
{
    return container_of(acb, ThreadPoolElementAio, common)->ctx;
}

static const AIOCBInfo thread_pool_aiocb_info = {
    .aiocb_size = sizeof(ThreadPoolElementAio),
    .cancel_async = tp_cancel_async,
    .get_aio_context = tp_get_aio_context,
};

/* Completion, in the context's home thread (loom's pool BH). */
static void tp_done(void *opaque, int ret)
{
    ThreadPoolElementAio *elem = opaque;

    elem->req = NULL; /* loom's handle dies when we return */
    if (elem->common.cb) {
        elem->common.cb(elem->common.opaque, ret);
    }
    qemu_aio_unref(elem);
    /* bdrv_aio_cancel() may wait for this from the main thread. */
    aio_wait_kick();
}

static AioContext *need_ctx(const char *what)
{
    AioContext *ctx = qemu_get_current_aio_context();

    if (!ctx) {
        error_report("%s: the calling thread has no AioContext", what);
        abort();
    }
    return ctx;
}

static struct loom_pool *ctx_pool(AioContext *ctx, const char *what)
{
    struct loom_pool *pool = loom_loop_pool(ctx->loop);

    if (!pool) {
        loom_q_fail(what, -ENOMEM);
    }
    return pool;
}

BlockAIOCB *thread_pool_submit_aio(ThreadPoolFunc *func, void *arg,
                                   BlockCompletionFunc *cb, void *opaque)
{
    AioContext *ctx = need_ctx("thread_pool_submit_aio");
    struct loom_pool *pool = ctx_pool(ctx, "thread_pool_submit_aio");
    ThreadPoolElementAio *elem;
    int err;

    elem = qemu_aio_get(&thread_pool_aiocb_info, NULL, cb, opaque);
    elem->ctx = ctx;
    err = loom_pool_submit(pool, func, arg, tp_done, elem, &elem->req);
    if (err < 0) {
        loom_q_fail("thread_pool_submit_aio", err);
    }
    return &elem->common;
}

int thread_pool_submit_co(ThreadPoolFunc *func, void *arg)
{
    Coroutine *self = loom_q_co_need_self("thread_pool_submit_co");
    AioContext *ctx = need_ctx("thread_pool_submit_co");
    int ret;

    loom_q_co_release_caller(self);
    self->entered = false;
    ret = loom_pool_submit_co(ctx_pool(ctx, "thread_pool_submit_co"), func,
                              arg);
    loom_q_co_resumed(self);
    /* loom's own failures (-ENOMEM, -ESHUTDOWN) come back as results. */
    return ret;
}

/* ---- the generic pool ---- */

typedef struct GenericWork {
    ThreadPoolFunc *func;
    void *opaque;
    GDestroyNotify destroy;
    QSIMPLEQ_ENTRY(GenericWork) next;
} GenericWork;

struct ThreadPool {
    QemuMutex lock;
    QemuCond work_ready; /* work queued, or stopping */
    QemuCond all_done;   /* pending dropped to 0 */
    /* Protected by lock. */
    QSIMPLEQ_HEAD(, GenericWork) queue;
    unsigned pending; /* submitted, not finished */
    int max_threads;
    int nthreads; /* started and not exited */
    int idle;     /* waiting for work */
    bool stopping;
    GPtrArray *threads; /* QemuThread *, joined by thread_pool_free() */
};

static void *generic_worker(void *opaque)
{
    ThreadPool *pool = opaque;
    GenericWork *w;

    qemu_mutex_lock(&pool->lock);
    for (;;) {
        while (QSIMPLEQ_EMPTY(&pool->queue) && !pool->stopping) {
            pool->idle++;
            qemu_cond_wait(&pool->work_ready, &pool->lock);
            pool->idle--;
        }
        if (QSIMPLEQ_EMPTY(&pool->queue) || pool->nthreads > pool->max_threads) {
            break; /* stopping, or beyond a lowered limit */
        }
        w = QSIMPLEQ_FIRST(&pool->queue);
        QSIMPLEQ_REMOVE_HEAD(&pool->queue, next);
        qemu_mutex_unlock(&pool->lock);
        (void)w->func(w->opaque);
        if (w->destroy) {
            w->destroy(w->opaque);
        }
        g_free(w);
        qemu_mutex_lock(&pool->lock);
        if (--pool->pending == 0) {
            qemu_cond_broadcast(&pool->all_done);
        }
    }
    pool->nthreads--;
    /* Another worker may have to take over what this one leaves. */
    qemu_cond_signal(&pool->work_ready);
    qemu_mutex_unlock(&pool->lock);
    return NULL;
}

ThreadPool *thread_pool_new(void)
{
    ThreadPool *pool = g_new0(ThreadPool, 1);

    qemu_mutex_init(&pool->lock);
    qemu_cond_init(&pool->work_ready);
    qemu_cond_init(&pool->all_done);
    QSIMPLEQ_INIT(&pool->queue);
    pool->max_threads = THREAD_POOL_MAX_THREADS_DEFAULT;
    pool->threads = g_ptr_array_new();
    return pool;
}

void thread_pool_free(ThreadPool *pool)
{
    if (!pool) {
        return;
    }
    thread_pool_wait(pool);
    qemu_mutex_lock(&pool->lock);
    pool->stopping = true;
    qemu_cond_broadcast(&pool->work_ready);
    qemu_mutex_unlock(&pool->lock);
    for (guint i = 0; i < pool->threads->len; i++) {
        QemuThread *t = g_ptr_array_index(pool->threads, i);

        qemu_thread_join(t);
        g_free(t);
    }
    g_ptr_array_free(pool->threads, TRUE);
    qemu_cond_destroy(&pool->all_done);
    qemu_cond_destroy(&pool->work_ready);
    qemu_mutex_destroy(&pool->lock);
    g_free(pool);
}

/* Start a worker if work waits, nobody is idle and the limit allows. */
static void maybe_spawn_locked(ThreadPool *pool)
{
    QemuThread *t;

    if (pool->idle >= (int)pool->pending || pool->nthreads >= pool->max_threads) {
        qemu_cond_signal(&pool->work_ready);
        return;
    }
    t = g_new(QemuThread, 1);
    pool->nthreads++;
    g_ptr_array_add(pool->threads, t);
    qemu_thread_create(t, "qemu-pool", generic_worker, pool,
                       QEMU_THREAD_JOINABLE);
}

static void generic_submit(ThreadPool *pool, ThreadPoolFunc *func,
                           void *opaque, GDestroyNotify opaque_destroy,
                           bool immediate)
{
    GenericWork *w = g_new(GenericWork, 1);

    w->func = func;
    w->opaque = opaque;
    w->destroy = opaque_destroy;
    qemu_mutex_lock(&pool->lock);
    QSIMPLEQ_INSERT_TAIL(&pool->queue, w, next);
    pool->pending++;
    if (immediate && (int)pool->pending > pool->max_threads) {
        pool->max_threads = (int)pool->pending;
    }
    maybe_spawn_locked(pool);
    qemu_mutex_unlock(&pool->lock);
}

void thread_pool_submit(ThreadPool *pool, ThreadPoolFunc *func, void *opaque,
                        GDestroyNotify opaque_destroy)
{
    generic_submit(pool, func, opaque, opaque_destroy, false);
}

void thread_pool_submit_immediate(ThreadPool *pool, ThreadPoolFunc *func,
                                  void *opaque, GDestroyNotify opaque_destroy)
{
    generic_submit(pool, func, opaque, opaque_destroy, true);
}

void thread_pool_wait(ThreadPool *pool)
{
    qemu_mutex_lock(&pool->lock);
    while (pool->pending) {
        qemu_cond_wait(&pool->all_done, &pool->lock);
    }
    qemu_mutex_unlock(&pool->lock);
}

bool thread_pool_set_max_threads(ThreadPool *pool, int max_threads)
{
    if (max_threads < 1) {
        return false;
    }
    qemu_mutex_lock(&pool->lock);
    pool->max_threads = max_threads;
    /* Raised: start workers for queued work; lowered: extras exit. */
    while (pool->nthreads < pool->max_threads &&
           pool->idle + pool->nthreads < (int)pool->pending) {
        maybe_spawn_locked(pool);
    }
    qemu_cond_broadcast(&pool->work_ready);
    qemu_mutex_unlock(&pool->lock);
    return true;
}

bool thread_pool_adjust_max_threads_to_work(ThreadPool *pool)
{
    unsigned pending;

    qemu_mutex_lock(&pool->lock);
    pending = pool->pending;
    qemu_mutex_unlock(&pool->lock);
    return thread_pool_set_max_threads(pool, pending ? (int)pending : 1);
}
