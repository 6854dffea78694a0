/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu internals shared between the layer's source files (not
 * installed).  "Context:" as in the public headers.
 */
#ifndef LOOM_QEMU_COMPAT_INT_H
#define LOOM_QEMU_COMPAT_INT_H

#include "block/aio.h"

struct loom_loop;

/*
 * loom_q_aio_context_wrap() - a new AioContext (one reference) on @l,
 * which it references.  Context: any.
 */
AioContext *loom_q_aio_context_wrap(struct loom_loop *l);

/*
 * loom_q_fail() - report "@what: strerror(-@err)" and abort: a call QEMU
 * declares infallible failed (out of memory, a closed fd).  Context: any.
 */
G_NORETURN void loom_q_fail(const char *what, int err);

/*
 * loom_q_timerlistgroup_init() - an empty group of @ctx's timers.
 * loom_q_timerlistgroup_deinit() - release the group's timers that are
 * not armed; abort on armed ones (QEMU asserts the same).
 * Context: any (deinit: the thread finalising @ctx).
 */
void loom_q_timerlistgroup_init(QEMUTimerListGroup *tlg, AioContext *ctx);
void loom_q_timerlistgroup_deinit(QEMUTimerListGroup *tlg);

/*
 * loom_q_thread_ctx() - the context set by qemu_set_current_aio_context()
 * in the calling thread, or NULL.  Context: any.
 */
AioContext *loom_q_thread_ctx(void);

/*
 * Coroutine bookkeeping (coroutine.c), for the lock implementations.
 * loom_q_co_self(): the running Coroutine, NULL outside one (aborts in a
 * coroutine the layer did not create).  loom_q_co_release_caller(): queue
 * the coroutine that entered @self with qemu_coroutine_enter(), which
 * must run as soon as @self gives the thread up; call it before anything
 * that may yield inside loom.  loom_q_co_resumed(): @self runs again
 * (after such a call returned).  loom_q_co_yield(): QEMU's yield of @self.
 * Context: co (@self is the running coroutine).
 */
Coroutine *loom_q_co_self(void);
/* loom_q_co_need_self(): loom_q_co_self(), aborting outside a coroutine. */
Coroutine *loom_q_co_need_self(const char *what);
void loom_q_co_release_caller(Coroutine *self);
void loom_q_co_resumed(Coroutine *self);
void loom_q_co_yield(Coroutine *self);

#endif /* LOOM_QEMU_COMPAT_INT_H */
