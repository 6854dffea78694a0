/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the main loop and the big lock (<qemu/main-loop.h>) on
 * loom's main loop (<loom/main.h>).
 *
 * qemu_init_main_loop() creates the main context (qemu_get_aio_context()),
 * makes it the calling thread's current context and, as QEMU does,
 * attaches it to GLib's default GMainContext; main_loop_wait() also runs
 * GLib's default context, so GSources that QEMU code attaches there (and
 * g_timeout_add(), g_idle_add() ...) are dispatched.  The handlers of
 * qemu_set_fd_handler() and event_notifier_set_handler() form a group that
 * only main_loop_wait() dispatches, never a nested aio_poll() (QEMU's
 * iohandler context).  main_loop_wait() releases the BQL while it sleeps
 * if the caller holds it.
 */
#ifndef LOOM_QEMU_MAIN_LOOP_H
#define LOOM_QEMU_MAIN_LOOP_H

#include <stdbool.h>

#include "block/aio.h"
#include "qemu/thread.h"
#include "qemu/typedefs.h"

/**
 * qemu_init_main_loop() - set up the main loop in the calling thread.
 * @errp: receives the error.
 *
 * Blocks SIGINT and SIGTERM in the caller (loom receives them through a
 * signalfd); call it before creating threads.  Calling it again returns 0.
 *
 * Context: the thread that will run the main loop.
 * Return: 0, or a negative errno with @errp set.
 */
int qemu_init_main_loop(Error **errp);

/**
 * main_loop_wait() - one iteration of the main loop (main context, its
 * fd-handler group, GLib's default context).
 * @nonblocking: non-zero to only dispatch what is ready.
 * Context: the main loop's thread.
 */
void main_loop_wait(int nonblocking);

/** qemu_get_aio_context() - the main context (NULL before init). */
AioContext *qemu_get_aio_context(void);

/** qemu_notify_event() - wake the main loop.  Context: any. */
void qemu_notify_event(void);

/**
 * qemu_set_fd_handler() - add, change or remove (both NULL) a handler in
 * the main loop's group that nested aio_poll() calls never dispatch.
 * Context: the main loop's thread.
 */
void qemu_set_fd_handler(int fd, IOHandler *fd_read, IOHandler *fd_write,
                         void *opaque);

/** qemu_bh_new_full() - aio_bh_new_full() on the main context. */
QEMUBH *qemu_bh_new_full(QEMUBHFunc *cb, void *opaque, const char *name,
                         MemReentrancyGuard *reentrancy_guard);

#define qemu_bh_new(cb, opaque)                                               \
    qemu_bh_new_full((cb), (opaque), (stringify(cb)), NULL)
#define qemu_bh_new_guarded(cb, opaque, guard)                                \
    qemu_bh_new_full((cb), (opaque), (stringify(cb)), (guard))

/* ---- the BQL ---- */

/** bql_locked() - whether the calling thread holds the BQL. */
bool bql_locked(void);

/** bql_lock() - take the BQL (not recursive: twice aborts). */
void bql_lock(void);

/** bql_unlock() - release the BQL. */
void bql_unlock(void);

/** qemu_cond_wait_bql() - wait on @cond, releasing the BQL meanwhile. */
void qemu_cond_wait_bql(QemuCond *cond);

/** qemu_cond_timedwait_bql() - the same with a timeout in ms; false on it. */
bool qemu_cond_timedwait_bql(QemuCond *cond, int ms);

/* private: BQL_LOCK_GUARD()'s state: whether this guard took the lock. */
static inline bool loom_q_bql_auto_lock(void)
{
    if (bql_locked()) {
        return false;
    }
    bql_lock();
    return true;
}

static inline void loom_q_bql_auto_unlock(bool *taken)
{
    if (*taken) {
        bql_unlock();
    }
}

#define LOOM_Q_BQL_GUARD(var)                                                 \
    bool var __attribute__((cleanup(loom_q_bql_auto_unlock), unused)) =       \
        loom_q_bql_auto_lock()

/**
 * BQL_LOCK_GUARD() - hold the BQL to the end of the scope; does nothing if
 * the caller already holds it.
 */
#define BQL_LOCK_GUARD() LOOM_Q_BQL_GUARD(QEMU_UNIQUE_ID(bql_guard))

/* The names QEMU used before 9.0. */
#define qemu_mutex_lock_iothread() bql_lock()
#define qemu_mutex_unlock_iothread() bql_unlock()
#define qemu_mutex_iothread_locked() bql_locked()
#define QEMU_IOTHREAD_LOCK_GUARD() BQL_LOCK_GUARD()
#define qemu_cond_wait_iothread(cond) qemu_cond_wait_bql(cond)
#define qemu_cond_timedwait_iothread(cond, ms) qemu_cond_timedwait_bql(cond, ms)

#endif /* LOOM_QEMU_MAIN_LOOP_H */
