/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: AioContext, QEMU's event-loop context (<block/aio.h>), on a
 * loom loop (struct loom_loop).
 *
 * An AioContext is polled by one home thread with aio_poll() (re-entrant:
 * callbacks may poll again) and watches fd handlers, event notifiers,
 * bottom halves and timers.  As in QEMU it is also a GSource
 * (aio_get_g_source()): attached to a GMainContext, iterating that
 * context runs it.  References: aio_context_new() returns one;
 * aio_context_ref()/aio_context_unref() are the GSource's references.
 * When the last one goes, every BH must have been deleted and every fd
 * handler removed (otherwise loom aborts with a message counting the
 * leaks, as QEMU aborts on a leaked BH); timers that are not armed are
 * released with it.
 *
 * Differences from QEMU, listed in docs/qemu-compat.md: a nested
 * aio_poll() does not re-enter an fd handler or timer whose callback is
 * running further up the stack.
 */
#ifndef LOOM_QEMU_BLOCK_AIO_H
#define LOOM_QEMU_BLOCK_AIO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "qemu/compiler.h"
#include "qemu/event_notifier.h"
#include "qemu/queue.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "qemu/typedefs.h"

struct loom_loop;

typedef void QEMUBHFunc(void *opaque);
typedef bool AioPollFn(void *opaque);

/*
 * A device's "in I/O" flag: a BH created with it marks it engaged while it
 * runs (QEMU traces, but does not stop, re-entrancy through it).
 */
typedef struct MemReentrancyGuard {
    bool engaged_in_io;
} MemReentrancyGuard;

/* The thread pool of a context (see <block/thread-pool.h>). */
typedef struct ThreadPoolAio ThreadPoolAio;

struct AioContext {
    /* The GSource comes first: an AioContext is a GSource. */
    GSource source;
    /* private: */
    struct loom_loop *loop;
    QEMUTimerListGroup tlg;
    bool notified; /* atomic: aio_notify() since the last aio_poll() */
    bool source_notified; /* GSource: notified when last prepared/checked */
};

/* ---- block-layer asynchronous requests (the thread pool's handles) ---- */

typedef void BlockCompletionFunc(void *opaque, int ret);

typedef struct AIOCBInfo {
    /* Ask for cancellation; the request still completes, maybe with
     * -ECANCELED.  NULL: requests of this kind cannot be cancelled. */
    void (*cancel_async)(BlockAIOCB *acb);
    /* The context the request completes in (what bdrv_aio_cancel polls). */
    AioContext *(*get_aio_context)(BlockAIOCB *acb);
    /* Size of the request structure, which begins with a BlockAIOCB. */
    size_t aiocb_size;
} AIOCBInfo;

struct BlockAIOCB {
    const AIOCBInfo *aiocb_info;
    BlockDriverState *bs;
    BlockCompletionFunc *cb;
    void *opaque;
    int refcnt;
};

/**
 * qemu_aio_get() - allocate a request of @aiocb_info->aiocb_size bytes,
 * zeroed, with one reference and @cb/@opaque filled in.  The reference
 * count is atomic (bdrv_aio_cancel() may watch it from another thread).
 */
void *qemu_aio_get(const AIOCBInfo *aiocb_info, BlockDriverState *bs,
                   BlockCompletionFunc *cb, void *opaque);
void qemu_aio_ref(void *p);
void qemu_aio_unref(void *p);

/* ---- contexts ---- */

/**
 * aio_context_new() - create a context (QEMU's AioContext).
 * @errp: receives the error.
 *
 * The creating thread is the home thread until another thread polls it
 * first.
 *
 * Context: any.
 * Return: the context with one reference, or NULL with @errp set.
 */
AioContext *aio_context_new(Error **errp);

/** aio_context_ref() - take a reference.  Context: any. */
void aio_context_ref(AioContext *ctx);

/**
 * aio_context_unref() - drop a reference; the last one destroys @ctx
 * (see the file comment).  Context: any; the last one not inside
 * aio_poll(@ctx).
 */
void aio_context_unref(AioContext *ctx);

/**
 * aio_poll() - run one iteration: BHs, ready fd handlers, expired timers.
 * @ctx: the context.
 * @blocking: wait for an event when nothing is ready.
 *
 * Re-entrant.  A blocking poll returns after one wake-up even when
 * nothing made progress (after a bare aio_notify()).
 *
 * Context: home(@ctx).
 * Return: true if a callback made progress.
 */
bool aio_poll(AioContext *ctx, bool blocking);

/**
 * aio_notify() - make @ctx's aio_poll() return: the one sleeping now, or
 * else the next blocking one (which then does not sleep).  Context: any.
 */
void aio_notify(AioContext *ctx);

/**
 * aio_get_g_source() - the context as a GSource (a new reference).
 *
 * Attach it to a GMainContext iterated in @ctx's home thread.
 *
 * Context: any.
 */
GSource *aio_get_g_source(AioContext *ctx);

/**
 * aio_context_loom_loop() - the loom loop behind @ctx (loom extension),
 * for code that mixes the QEMU and loom APIs.  Context: any.
 */
struct loom_loop *aio_context_loom_loop(AioContext *ctx);

/* ---- bottom halves ---- */

/**
 * aio_bh_new_full() - create a bottom half (not scheduled).
 * @ctx: the context that runs it.
 * @cb: the callback; runs in @ctx's home thread.
 * @opaque: passed to @cb.
 * @name: a label for leak reports (aio_bh_new() passes the callback's
 *        name); must outlive the BH.
 * @reentrancy_guard: NULL, or a guard marked engaged while @cb runs.
 *
 * Context: any.  Aborts when out of memory.
 */
QEMUBH *aio_bh_new_full(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                        const char *name, MemReentrancyGuard *reentrancy_guard);

#define aio_bh_new(ctx, cb, opaque)                                           \
    aio_bh_new_full((ctx), (cb), (opaque), (stringify(cb)), NULL)
#define aio_bh_new_guarded(ctx, cb, opaque, guard)                            \
    aio_bh_new_full((ctx), (cb), (opaque), (stringify(cb)), (guard))

/**
 * aio_bh_schedule_oneshot_full() - run @cb(@opaque) once, soon, in @ctx.
 * Context: any.  Aborts when out of memory.
 */
void aio_bh_schedule_oneshot_full(AioContext *ctx, QEMUBHFunc *cb,
                                  void *opaque, const char *name);

#define aio_bh_schedule_oneshot(ctx, cb, opaque)                              \
    aio_bh_schedule_oneshot_full((ctx), (cb), (opaque), (stringify(cb)))

/**
 * qemu_bh_schedule() - run @bh in its context's next iteration.
 *
 * Scheduling again before it ran runs it once; a BH that schedules itself
 * runs once per aio_poll().  Wakes the context.  Context: any.
 */
void qemu_bh_schedule(QEMUBH *bh);

/** qemu_bh_schedule_idle() - schedule without waking (runs within 10 ms). */
void qemu_bh_schedule_idle(QEMUBH *bh);

/** qemu_bh_cancel() - unschedule @bh if it has not started.  Context: any. */
void qemu_bh_cancel(QEMUBH *bh);

/**
 * qemu_bh_delete() - cancel and free @bh (also from its own callback).
 * Context: any.
 */
void qemu_bh_delete(QEMUBH *bh);

/* ---- fd handlers and event notifiers ---- */

/**
 * aio_set_fd_handler() - add, change or remove the handler of @fd.
 * @ctx: the context.
 * @fd: the file descriptor.
 * @io_read: called while @fd is readable, or NULL.
 * @io_write: called while @fd is writable, or NULL.
 * @io_poll: busy-poll callback for adaptive polling, or NULL.
 * @io_poll_ready: called when @io_poll found work, or NULL.
 * @opaque: passed to every callback.
 *
 * With @io_read, @io_write and @io_poll all NULL the handler is removed
 * (a no-op if there is none).  Aborts with a message if @fd cannot be
 * watched (closed, or refused by the fd monitor).
 *
 * Context: home(@ctx).
 */
void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, AioPollFn *io_poll,
                        IOHandler *io_poll_ready, void *opaque);

/**
 * aio_set_event_notifier() - watch @notifier in @ctx.
 * @io_read: called when it is set (it should test_and_clear it), or NULL
 *           to stop watching.
 * @io_poll: busy-poll callback (called with @notifier as opaque), or NULL.
 * @io_poll_ready: called when @io_poll found work, or NULL.
 *
 * One handler per notifier at a time.  Context: home(@ctx).
 */
void aio_set_event_notifier(AioContext *ctx, EventNotifier *notifier,
                            EventNotifierHandler *io_read, AioPollFn *io_poll,
                            EventNotifierHandler *io_poll_ready);

/* ---- polling parameters, thread pool ---- */

/**
 * aio_context_set_poll_params() - adaptive polling: the longest busy-poll
 * window @max_ns (0: off), its growth factor and shrink divisor.
 * Context: any.  Negative values set @errp.
 */
void aio_context_set_poll_params(AioContext *ctx, int64_t max_ns,
                                 int64_t grow, int64_t shrink, Error **errp);

/**
 * aio_context_set_thread_pool_params() - minimum and maximum workers of
 * @ctx's thread pool.  A bad range sets @errp.  Context: any.
 */
void aio_context_set_thread_pool_params(AioContext *ctx, int64_t min,
                                        int64_t max, Error **errp);

/** aio_get_thread_pool() - @ctx's thread pool (created on first use). */
ThreadPoolAio *aio_get_thread_pool(AioContext *ctx);

/* ---- timers in a context ---- */

void aio_timer_init_with_attrs(AioContext *ctx, QEMUTimer *ts,
                               QEMUClockType type, int scale, int attributes,
                               QEMUTimerCB *cb, void *opaque);

static inline void aio_timer_init(AioContext *ctx, QEMUTimer *ts,
                                  QEMUClockType type, int scale,
                                  QEMUTimerCB *cb, void *opaque)
{
    aio_timer_init_with_attrs(ctx, ts, type, scale, 0, cb, opaque);
}

QEMUTimer *aio_timer_new_with_attrs(AioContext *ctx, QEMUClockType type,
                                    int scale, int attributes,
                                    QEMUTimerCB *cb, void *opaque);

static inline QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type,
                                       int scale, QEMUTimerCB *cb,
                                       void *opaque)
{
    return aio_timer_new_with_attrs(ctx, type, scale, 0, cb, opaque);
}

/* ---- coroutines in contexts (implemented with <qemu/coroutine.h>) ---- */

/**
 * aio_co_schedule() - enter @co from @ctx's home thread, soon.
 * Context: any; @co must not be running or scheduled already.
 */
void aio_co_schedule(AioContext *ctx, Coroutine *co);

/**
 * aio_co_reschedule_self() - move the running coroutine to @new_ctx's
 * home thread; returns there.  Context: coroutine.
 */
void aio_co_reschedule_self(AioContext *new_ctx);

/**
 * aio_co_wake() - enter @co in the context it last ran in: now if that is
 * the caller's and the caller is not a coroutine, after the current
 * coroutine yields if it is, else through aio_co_schedule().
 */
void aio_co_wake(Coroutine *co);

/** aio_co_enter() - as aio_co_wake(), in @ctx. */
void aio_co_enter(AioContext *ctx, Coroutine *co);

/* ---- the current context ---- */

/**
 * qemu_get_current_aio_context() - the context of the calling thread:
 * the one set with qemu_set_current_aio_context() (an IOThread's, or the
 * main context in the main thread after qemu_init_main_loop()); otherwise
 * the context whose aio_poll() the thread is in (loom_loop_current()),
 * or the main context if the caller holds the BQL (a vCPU thread); else
 * NULL.  Context: any.
 */
AioContext *qemu_get_current_aio_context(void);

/**
 * qemu_set_current_aio_context() - make @ctx the calling thread's context
 * (an event-loop thread calls it once, before polling @ctx).  Setting a
 * second one aborts.  Context: the thread that will run @ctx.
 */
void qemu_set_current_aio_context(AioContext *ctx);

#endif /* LOOM_QEMU_BLOCK_AIO_H */
