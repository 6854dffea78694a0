/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: AioContext on a loom loop (<block/aio.h>): creation and
 * lifetime, bottom halves, fd handlers, event notifiers, the thread's
 * current context and AIO_WAIT_WHILE() helpers.
 *
 * An AioContext is a GSource whose only job is to carry a child source,
 * loom_loop_gsource(loop), so that attaching the context to a GMainContext
 * runs the loop there.  The context's references are the GSource's; its
 * finalize (in the thread dropping the last one) releases the compat
 * state and its loop reference, and GLib then drops the child, whose
 * finalize drops the loop's last reference.
 */
#include "qemu/osdep.h"

#include <sys/eventfd.h>

#include <loom/bh.h>
#include <loom/glib.h>
#include <loom/loop.h>
#include <loom/main.h>
#include <loom/notifier.h>
#include <loom/pool.h>

#include "block/aio-wait.h"
#include "block/aio.h"
#include "block/block.h"
#include "compat-int.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"

struct QEMUBH {
    struct loom_bh *bh;
    AioContext *ctx;
    QEMUBHFunc *cb;
    void *opaque;
    MemReentrancyGuard *guard;
};

/* The context set by qemu_set_current_aio_context() in this thread. */
static __thread AioContext *t_current_ctx;

/*
 * Every live context by its loop, for qemu_get_current_aio_context() in
 * a thread that polls a context it never declared its own.
 */
static GMutex g_ctx_lock;
static GHashTable *g_ctx_by_loop; /* protected by g_ctx_lock */

static void ctx_register(AioContext *ctx)
{
    g_mutex_lock(&g_ctx_lock);
    if (!g_ctx_by_loop) {
        g_ctx_by_loop = g_hash_table_new(NULL, NULL);
    }
    g_hash_table_insert(g_ctx_by_loop, ctx->loop, ctx);
    g_mutex_unlock(&g_ctx_lock);
}

static void ctx_unregister(AioContext *ctx)
{
    g_mutex_lock(&g_ctx_lock);
    g_hash_table_remove(g_ctx_by_loop, ctx->loop);
    g_mutex_unlock(&g_ctx_lock);
}

/* The context of loop @l, or NULL. */
static AioContext *ctx_lookup(struct loom_loop *l)
{
    AioContext *ctx = NULL;

    if (!l) {
        return NULL;
    }
    g_mutex_lock(&g_ctx_lock);
    if (g_ctx_by_loop) {
        ctx = g_hash_table_lookup(g_ctx_by_loop, l);
    }
    g_mutex_unlock(&g_ctx_lock);
    return ctx;
}

/*
 * The child source runs the loop; this one is ready only while an
 * aio_notify() is pending, and dispatching it consumes the notification
 * (QEMU's context source does the same with its notified flag).  A
 * notification from another thread reaches a sleeping GMainContext
 * through the child's fd (loom_loop_notify()).  GLib also dispatches a
 * parent whose child is ready: only a notification seen by prepare or
 * check is consumed, not one raised by the child's dispatch just before.
 */
static gboolean ctx_prepare(GSource *src, gint *timeout)
{
    AioContext *ctx = (AioContext *)src;

    ctx->source_notified = __atomic_load_n(&ctx->notified, __ATOMIC_ACQUIRE);
    *timeout = ctx->source_notified ? 0 : -1;
    return ctx->source_notified;
}

static gboolean ctx_check(GSource *src)
{
    AioContext *ctx = (AioContext *)src;

    ctx->source_notified = __atomic_load_n(&ctx->notified, __ATOMIC_ACQUIRE);
    return ctx->source_notified;
}

static gboolean ctx_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
    AioContext *ctx = (AioContext *)src;

    if (ctx->source_notified) {
        ctx->source_notified = false;
        __atomic_store_n(&ctx->notified, false, __ATOMIC_RELAXED);
    }
    return G_SOURCE_CONTINUE;
}

static void ctx_finalize(GSource *src)
{
    AioContext *ctx = (AioContext *)src;

    ctx_unregister(ctx);
    loom_q_timerlistgroup_deinit(&ctx->tlg);
    loom_loop_unref(ctx->loop);
    ctx->loop = NULL;
}

static GSourceFuncs ctx_source_funcs = {
    .prepare = ctx_prepare,
    .check = ctx_check,
    .dispatch = ctx_dispatch,
    .finalize = ctx_finalize,
};

AioContext *loom_q_aio_context_wrap(struct loom_loop *l)
{
    AioContext *ctx;
    GSource *child;

    ctx = (AioContext *)g_source_new(&ctx_source_funcs, sizeof(AioContext));
    g_source_set_name(&ctx->source, "aio-context");
    loom_loop_ref(l);
    ctx->loop = l;
    loom_q_timerlistgroup_init(&ctx->tlg, ctx);
    ctx_register(ctx);
    child = loom_loop_gsource(l);
    g_source_add_child_source(&ctx->source, child);
    g_source_unref(child);
    return ctx;
}

AioContext *aio_context_new(Error **errp)
{
    struct loom_loop *l;
    AioContext *ctx;
    int err = loom_loop_new(&l);

    if (err < 0) {
        error_setg_errno(errp, -err, "Failed to create an AioContext");
        return NULL;
    }
    ctx = loom_q_aio_context_wrap(l);
    loom_loop_unref(l); /* the context holds its own reference */
    return ctx;
}

void aio_context_ref(AioContext *ctx)
{
    g_source_ref(&ctx->source);
}

void aio_context_unref(AioContext *ctx)
{
    g_source_unref(&ctx->source);
}

struct loom_loop *aio_context_loom_loop(AioContext *ctx)
{
    return ctx->loop;
}

/*
 * QEMU's aio_notify() is remembered until a poll consumes it, whereas
 * loom_loop_notify() only ends a wait that is (about to be) in progress:
 * the notified flag bridges the two.  Any poll consumes it; a blocking
 * one then does not sleep.
 */
bool aio_poll(AioContext *ctx, bool blocking)
{
    bool progress;

    if (__atomic_exchange_n(&ctx->notified, false, __ATOMIC_ACQUIRE)) {
        blocking = false; /* a notification is pending: do not sleep */
    }
    progress = loom_loop_poll(ctx->loop, blocking);
    if (blocking) {
        /* Whatever woke us consumed the notifications so far. */
        __atomic_store_n(&ctx->notified, false, __ATOMIC_RELAXED);
    }
    return progress;
}

void aio_notify(AioContext *ctx)
{
    /* Pairs with the exchange in aio_poll(). */
    __atomic_store_n(&ctx->notified, true, __ATOMIC_RELEASE);
    loom_loop_notify(ctx->loop);
}

GSource *aio_get_g_source(AioContext *ctx)
{
    g_source_ref(&ctx->source);
    return &ctx->source;
}

void loom_q_fail(const char *what, int err)
{
    error_report("%s: %s", what, g_strerror(-err));
    abort();
}

/* ---- bottom halves ---- */

static void bh_run(void *opaque)
{
    QEMUBH *bh = opaque;
    /* The callback may delete the BH: read what we need first. */
    MemReentrancyGuard *guard = bh->guard;
    bool was_engaged = false;

    if (guard) {
        was_engaged = guard->engaged_in_io;
        guard->engaged_in_io = true;
    }
    bh->cb(bh->opaque);
    if (guard) {
        guard->engaged_in_io = was_engaged;
    }
}

QEMUBH *aio_bh_new_full(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                        const char *name, MemReentrancyGuard *reentrancy_guard)
{
    QEMUBH *bh = g_new0(QEMUBH, 1);
    int err;

    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    bh->guard = reentrancy_guard;
    err = loom_bh_new(ctx->loop, bh_run, bh, name, &bh->bh);
    if (err < 0) {
        loom_q_fail("aio_bh_new", err);
    }
    return bh;
}

void aio_bh_schedule_oneshot_full(AioContext *ctx, QEMUBHFunc *cb,
                                  void *opaque, const char *name)
{
    int err = loom_bh_oneshot(ctx->loop, cb, opaque);

    if (err < 0) {
        loom_q_fail("aio_bh_schedule_oneshot", err);
    }
}

void qemu_bh_schedule(QEMUBH *bh)
{
    loom_bh_schedule(bh->bh);
}

void qemu_bh_schedule_idle(QEMUBH *bh)
{
    loom_bh_schedule_idle(bh->bh);
}

void qemu_bh_cancel(QEMUBH *bh)
{
    loom_bh_cancel(bh->bh);
}

void qemu_bh_delete(QEMUBH *bh)
{
    AioContext *ctx;

    if (!bh) {
        return;
    }
    ctx = bh->ctx;
    loom_bh_free(bh->bh);
    g_free(bh);
    /*
     * QEMU notifies the context when a BH is deleted (its memory is
     * reclaimed by the next iteration); code and tests that iterate a
     * GMainContext count on that extra dispatch.
     */
    aio_notify(ctx);
}

/* ---- fd handlers and notifiers ---- */

void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, AioPollFn *io_poll,
                        IOHandler *io_poll_ready, void *opaque)
{
    bool removing = !io_read && !io_write && !io_poll;
    int err;

    if (removing) {
        io_poll_ready = NULL;
    } else if (!io_poll) {
        io_poll_ready = NULL; /* never called without io_poll */
    }
    err = loom_set_fd_handler(ctx->loop, fd, io_read, io_write, io_poll,
                              io_poll_ready, opaque);
    if (err == -ENOENT && removing) {
        return; /* removing a handler that is not there: nothing to do */
    }
    if (err < 0) {
        loom_q_fail("aio_set_fd_handler", err);
    }
}

static void notifier_read(void *opaque)
{
    EventNotifier *e = opaque;

    e->io_read(e);
}

static void notifier_poll_ready(void *opaque)
{
    EventNotifier *e = opaque;

    e->io_poll_ready(e);
}

void aio_set_event_notifier(AioContext *ctx, EventNotifier *notifier,
                            EventNotifierHandler *io_read, AioPollFn *io_poll,
                            EventNotifierHandler *io_poll_ready)
{
    notifier->io_read = io_read;
    notifier->io_poll_ready = io_poll_ready;
    if (!io_read) {
        aio_set_fd_handler(ctx, notifier->rfd, NULL, NULL, NULL, NULL, NULL);
        return;
    }
    aio_set_fd_handler(ctx, notifier->rfd, notifier_read, NULL, io_poll,
                       io_poll_ready ? notifier_poll_ready : NULL, notifier);
}

int event_notifier_init(EventNotifier *e, int active)
{
    int fd = eventfd(active ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);

    if (fd < 0) {
        return -errno;
    }
    e->rfd = e->wfd = fd;
    e->initialized = true;
    e->io_read = e->io_poll_ready = NULL;
    return 0;
}

void event_notifier_init_fd(EventNotifier *e, int fd)
{
    e->rfd = e->wfd = fd;
    e->initialized = false; /* not ours to close */
    e->io_read = e->io_poll_ready = NULL;
}

void event_notifier_cleanup(EventNotifier *e)
{
    if (!e->initialized) {
        return;
    }
    close(e->rfd);
    e->rfd = e->wfd = -1;
    e->initialized = false;
}

int event_notifier_get_fd(const EventNotifier *e)
{
    return e->rfd;
}

int event_notifier_get_wfd(const EventNotifier *e)
{
    return e->wfd;
}

int event_notifier_set(EventNotifier *e)
{
    uint64_t one = 1;
    ssize_t n;

    do {
        n = write(e->wfd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is saturated, i.e. it is set already. */
    if (n < 0 && errno != EAGAIN) {
        return -errno;
    }
    return 0;
}

int event_notifier_test_and_clear(EventNotifier *e)
{
    uint64_t value = 0;
    ssize_t n;

    do {
        n = read(e->rfd, &value, sizeof(value));
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(value) && value != 0;
}

void event_notifier_set_handler(EventNotifier *e, EventNotifierHandler *handler)
{
    e->io_read = handler;
    qemu_set_fd_handler(e->rfd, handler ? notifier_read : NULL, NULL, e);
}

/* ---- parameters, thread pool ---- */

void aio_context_set_poll_params(AioContext *ctx, int64_t max_ns,
                                 int64_t grow, int64_t shrink, Error **errp)
{
    int err = loom_loop_set_poll_params(ctx->loop, max_ns, grow, shrink);

    if (err < 0) {
        error_setg_errno(errp, -err, "Invalid polling parameters");
    }
}

void aio_context_set_thread_pool_params(AioContext *ctx, int64_t min,
                                        int64_t max, Error **errp)
{
    struct loom_pool *pool = loom_loop_pool(ctx->loop);
    int err;

    if (!pool) {
        error_setg(errp, "Out of memory for the thread pool");
        return;
    }
    if (min < 0 || max < 1 || min > max || max > INT_MAX) {
        error_setg(errp, "Invalid thread pool size %" PRId64 "-%" PRId64,
                   min, max);
        return;
    }
    err = loom_pool_set_size(pool, (int)min, (int)max);
    if (err < 0) {
        error_setg_errno(errp, -err, "Cannot start the thread pool minimum");
    }
}

ThreadPoolAio *aio_get_thread_pool(AioContext *ctx)
{
    return (ThreadPoolAio *)loom_loop_pool(ctx->loop);
}

/* ---- the current context ---- */

AioContext *qemu_get_current_aio_context(void)
{
    AioContext *ctx = t_current_ctx;

    if (ctx) {
        return ctx;
    }
    /* Inside aio_poll() of a context, in a thread that set none. */
    ctx = ctx_lookup(loom_loop_current());
    if (ctx) {
        return ctx;
    }
    if (loom_bql_locked()) {
        /* A vCPU thread, or another thread acting for the main loop. */
        return qemu_get_aio_context();
    }
    return NULL;
}

AioContext *loom_q_thread_ctx(void)
{
    return t_current_ctx;
}

void qemu_set_current_aio_context(AioContext *ctx)
{
    if (t_current_ctx) {
        error_report("qemu_set_current_aio_context: this thread has one");
        abort();
    }
    t_current_ctx = ctx;
}

bool in_aio_context_home_thread(AioContext *ctx)
{
    if (ctx == qemu_get_current_aio_context()) {
        return true;
    }
    return ctx == qemu_get_aio_context() && loom_bql_locked();
}

/* ---- waiting ---- */

struct loom_loop *loom_q_wait_loop(AioContext *ctx)
{
    if (!ctx) {
        ctx = qemu_get_aio_context();
    }
    return ctx ? ctx->loop : loom_main_loop();
}

void aio_wait_kick(void)
{
    loom_wait_kick();
}

struct wait_oneshot {
    QEMUBHFunc *cb;
    void *opaque;
    bool done;
};

static void wait_oneshot_bh(void *opaque)
{
    struct wait_oneshot *w = opaque;

    w->cb(w->opaque);
    /* Pairs with the load in AIO_WAIT_WHILE() below. */
    __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
    aio_wait_kick();
}

void aio_wait_bh_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    struct wait_oneshot w = {.cb = cb, .opaque = opaque};

    aio_bh_schedule_oneshot(ctx, wait_oneshot_bh, &w);
    AIO_WAIT_WHILE(ctx, !__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
}

/* ---- block-layer requests ---- */

void *qemu_aio_get(const AIOCBInfo *aiocb_info, BlockDriverState *bs,
                   BlockCompletionFunc *cb, void *opaque)
{
    BlockAIOCB *acb = g_malloc0(aiocb_info->aiocb_size);

    acb->aiocb_info = aiocb_info;
    acb->bs = bs;
    acb->cb = cb;
    acb->opaque = opaque;
    acb->refcnt = 1;
    return acb;
}

void qemu_aio_ref(void *p)
{
    BlockAIOCB *acb = p;

    __atomic_add_fetch(&acb->refcnt, 1, __ATOMIC_RELAXED);
}

void qemu_aio_unref(void *p)
{
    BlockAIOCB *acb = p;

    /* Pairs with itself: the last one sees every earlier use. */
    if (__atomic_sub_fetch(&acb->refcnt, 1, __ATOMIC_ACQ_REL) == 0) {
        g_free(acb);
    }
}

void bdrv_aio_cancel_async(BlockAIOCB *acb)
{
    if (acb->aiocb_info->cancel_async) {
        acb->aiocb_info->cancel_async(acb);
    }
}

void bdrv_aio_cancel(BlockAIOCB *acb)
{
    AioContext *ctx = acb->aiocb_info->get_aio_context
                          ? acb->aiocb_info->get_aio_context(acb)
                          : NULL;

    qemu_aio_ref(acb);
    bdrv_aio_cancel_async(acb);
    /* The completion drops its reference and kicks waiters. */
    AIO_WAIT_WHILE(ctx, __atomic_load_n(&acb->refcnt, __ATOMIC_ACQUIRE) > 1);
    qemu_aio_unref(acb);
}
