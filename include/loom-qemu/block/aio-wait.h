/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: waiting for a condition that another context's work makes
 * false (<block/aio-wait.h>).
 *
 * AIO_WAIT_WHILE(ctx, cond) polls until !cond: @ctx itself when called in
 * @ctx's home thread, otherwise the main context (the caller is then the
 * main loop's thread, waiting for an IOThread).  Whoever makes @cond
 * false from another thread calls aio_wait_kick() afterwards.  It
 * evaluates to true if it had to wait.
 */
#ifndef LOOM_QEMU_BLOCK_AIO_WAIT_H
#define LOOM_QEMU_BLOCK_AIO_WAIT_H

#include <stdbool.h>

#include <loom/loop.h>

#include "block/aio.h"

/* private: the loop AIO_WAIT_WHILE() hands to LOOM_WAIT_WHILE(). */
struct loom_loop *loom_q_wait_loop(AioContext *ctx);

#define AIO_WAIT_WHILE_UNLOCKED(ctx, cond)                                    \
    ({                                                                        \
        bool loom_q_waited_ = false;                                          \
        LOOM_WAIT_WHILE(loom_q_wait_loop(ctx),                                \
                        (cond) && (loom_q_waited_ = true));                   \
        loom_q_waited_;                                                       \
    })

/* Contexts have no lock on loom (nor in QEMU since 9.0): the same macro. */
#define AIO_WAIT_WHILE(ctx, cond) AIO_WAIT_WHILE_UNLOCKED(ctx, cond)

/** aio_wait_kick() - make AIO_WAIT_WHILE() waiters re-evaluate.  Any. */
void aio_wait_kick(void);

/**
 * aio_wait_bh_oneshot() - run @cb(@opaque) in @ctx's home thread and wait
 * for it (polling as AIO_WAIT_WHILE() does).  Context: the main loop's
 * thread or @ctx's home thread.
 */
void aio_wait_bh_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque);

/**
 * in_aio_context_home_thread() - whether the caller may act as @ctx's
 * home thread: @ctx is its current context, or @ctx is the main context
 * and the caller holds the BQL.
 */
bool in_aio_context_home_thread(AioContext *ctx);

#endif /* LOOM_QEMU_BLOCK_AIO_WAIT_H */
