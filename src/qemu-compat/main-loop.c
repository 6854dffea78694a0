/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the main loop and the BQL (<qemu/main-loop.h>) on loom's
 * main loop.  Set up and run in the main loop's thread; bql_* and
 * qemu_notify_event() from any thread.
 *
 * The main AioContext wraps loom_main_loop().  As in QEMU it is attached
 * to GLib's default GMainContext, so g_main_context_iteration(NULL, ...)
 * runs it; main_loop_wait() runs loom's main loop with GLib's default
 * context in the same sleep (loom_main_use_glib()).
 */
#include "qemu/osdep.h"

#include <loom/glib.h>
#include <loom/main.h>

#include "block/aio.h"
#include "compat-int.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"

/* Written once by qemu_init_main_loop(), read by any thread. */
static AioContext *g_main_ctx;

int qemu_init_main_loop(Error **errp)
{
    AioContext *ctx;
    int err;

    if (__atomic_load_n(&g_main_ctx, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    err = loom_main_init();
    if (err < 0 && err != -EALREADY) {
        error_setg_errno(errp, -err, "Failed to initialize the main loop");
        return err;
    }
    err = loom_main_use_glib(g_main_context_default());
    if (err < 0) {
        error_setg_errno(errp, -err, "Failed to poll GLib's main context");
        return err;
    }
    ctx = loom_q_aio_context_wrap(loom_main_loop());
    g_source_attach(&ctx->source, NULL);
    /* Pairs with the acquire loads of qemu_get_aio_context(). */
    __atomic_store_n(&g_main_ctx, ctx, __ATOMIC_RELEASE);
    qemu_set_current_aio_context(ctx);
    return 0;
}

AioContext *qemu_get_aio_context(void)
{
    return __atomic_load_n(&g_main_ctx, __ATOMIC_ACQUIRE);
}

void main_loop_wait(int nonblocking)
{
    (void)loom_main_loop_wait(nonblocking != 0);
}

void qemu_notify_event(void)
{
    AioContext *ctx = qemu_get_aio_context();

    if (ctx) {
        aio_notify(ctx);
    }
}

void qemu_set_fd_handler(int fd, IOHandler *fd_read, IOHandler *fd_write,
                         void *opaque)
{
    int err = loom_main_set_fd_handler(fd, fd_read, fd_write, opaque);

    if (err == -ENOENT && !fd_read && !fd_write) {
        return; /* removing a handler that is not there */
    }
    if (err < 0) {
        loom_q_fail("qemu_set_fd_handler", err);
    }
}

QEMUBH *qemu_bh_new_full(QEMUBHFunc *cb, void *opaque, const char *name,
                         MemReentrancyGuard *reentrancy_guard)
{
    AioContext *ctx = qemu_get_aio_context();

    if (!ctx) {
        error_report("qemu_bh_new before qemu_init_main_loop()");
        abort();
    }
    return aio_bh_new_full(ctx, cb, opaque, name, reentrancy_guard);
}

bool bql_locked(void)
{
    return loom_bql_locked();
}

void bql_lock(void)
{
    loom_bql_lock();
}

void bql_unlock(void)
{
    loom_bql_unlock();
}

void qemu_cond_wait_bql(QemuCond *cond)
{
    loom_bql_cond_wait(&cond->impl);
}

bool qemu_cond_timedwait_bql(QemuCond *cond, int ms)
{
    return loom_bql_cond_timedwait(&cond->impl, (int64_t)ms * 1000000) == 0;
}
