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

#endif /* LOOM_QEMU_COMPAT_INT_H */
