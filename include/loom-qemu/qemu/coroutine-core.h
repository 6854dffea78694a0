/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's coroutines (<qemu/coroutine-core.h>) on loom's.
 *
 * A Coroutine is created with qemu_coroutine_create(), runs when entered
 * and gives control back with qemu_coroutine_yield().  As in QEMU,
 * qemu_coroutine_enter() from inside a coroutine transfers control at
 * once: the entered coroutine runs until it yields or ends, then the
 * caller goes on.  aio_co_enter()/aio_co_wake() from inside a coroutine
 * instead queue the target to run right after the current one yields.
 * Coroutines migrate between threads through aio_co_schedule() and
 * aio_co_reschedule_self(); CoMutex, CoQueue and CoRwlock work across
 * threads.  Misuse (entering a running or scheduled coroutine, yielding
 * outside one) aborts with a message.
 *
 * coroutine_fn and the other annotations are empty, as in QEMU without
 * its static analysers.
 */
#ifndef LOOM_QEMU_COROUTINE_CORE_H
#define LOOM_QEMU_COROUTINE_CORE_H

#include <stdbool.h>
#include <stddef.h>

#include <loom/co.h>

#include "qemu/lockable.h"
#include "qemu/queue.h"
#include "qemu/typedefs.h"

#define coroutine_fn
#define coroutine_mixed_fn
#define no_coroutine_fn
#define co_wrapper
#define co_wrapper_mixed
#define co_wrapper_bdrv_rdlock
#define co_wrapper_mixed_bdrv_rdlock

typedef void coroutine_fn CoroutineEntry(void *opaque);

/**
 * qemu_coroutine_create() - a new coroutine that runs @entry(@opaque)
 * when first entered.  Context: any.  Aborts when out of memory.
 */
Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);

/**
 * qemu_coroutine_enter() - run @co until it yields or ends, in the
 * calling thread (its context becomes the caller's current context).
 * Context: any; @co must be neither running nor scheduled.
 */
void qemu_coroutine_enter(Coroutine *co);

/** qemu_aio_coroutine_enter() - qemu_coroutine_enter() with context @ctx. */
void qemu_aio_coroutine_enter(AioContext *ctx, Coroutine *co);

/** qemu_coroutine_enter_if_inactive() - enter @co unless it is running. */
void qemu_coroutine_enter_if_inactive(Coroutine *co);

/**
 * qemu_coroutine_yield() - give control back to whoever entered the
 * running coroutine.  Context: coroutine.
 */
void coroutine_fn qemu_coroutine_yield(void);

/** qemu_coroutine_get_aio_context() - the context @co runs (or ran) in. */
AioContext *qemu_coroutine_get_aio_context(Coroutine *co);

/** qemu_coroutine_self() - the running coroutine (NULL outside one). */
Coroutine *qemu_coroutine_self(void);

/** qemu_in_coroutine() - whether the caller runs in a coroutine. */
bool qemu_in_coroutine(void);

/**
 * qemu_coroutine_entered() - whether @co is running, or has entered
 * another coroutine that has not yielded back yet.
 */
bool qemu_coroutine_entered(Coroutine *co);

/** qemu_coroutine_inc_pool_size() - keep more finished coroutines. */
void qemu_coroutine_inc_pool_size(unsigned int additional_pool_size);
/** qemu_coroutine_dec_pool_size() - undo qemu_coroutine_inc_pool_size(). */
void qemu_coroutine_dec_pool_size(unsigned int additional_pool_size);

/* ---- CoMutex ---- */

/*
 * A mutex for coroutines: a coroutine that finds it held yields and gets
 * it, in arrival order, when it is handed over; works across threads.
 */
struct CoMutex {
    /* private: */
    struct loom_co_mutex impl;
    Coroutine *holder;
};

void qemu_co_mutex_init(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex);
/** qemu_co_mutex_assert_locked() - abort unless the caller holds @mutex. */
void coroutine_fn qemu_co_mutex_assert_locked(CoMutex *mutex);

/* ---- CoQueue ---- */

/*
 * A FIFO of coroutines waiting for something.  Protected by the lock
 * passed to qemu_co_queue_wait() (any QemuLockable: QemuMutex, CoMutex,
 * QemuSpin ...), or used from one thread only.
 */
typedef struct CoQueue {
    QSIMPLEQ_HEAD(, Coroutine) entries;
} CoQueue;

typedef enum {
    /* Wait at the front of the queue (woken before the others). */
    CO_QUEUE_WAIT_FRONT = 0x1,
} CoQueueWaitFlags;

void qemu_co_queue_init(CoQueue *queue);

void coroutine_fn qemu_co_queue_wait_impl(CoQueue *queue, QemuLockable *lock,
                                          CoQueueWaitFlags flags);

/**
 * qemu_co_queue_wait() - join @queue and yield, releasing @lock (or
 * NULL) meanwhile; @lock is held again on return.
 */
#define qemu_co_queue_wait(queue, lock)                                       \
    qemu_co_queue_wait_impl(queue, QEMU_MAKE_LOCKABLE(lock), 0)
#define qemu_co_queue_wait_flags(queue, lock, flags)                          \
    qemu_co_queue_wait_impl(queue, QEMU_MAKE_LOCKABLE(lock), (flags))

/** qemu_co_queue_next() - wake the first waiter.  Return: one was woken. */
bool coroutine_fn qemu_co_queue_next(CoQueue *queue);

/** qemu_co_queue_restart_all() - wake every waiter, in order. */
void coroutine_fn qemu_co_queue_restart_all(CoQueue *queue);

bool qemu_co_enter_next_impl(CoQueue *queue, QemuLockable *lock);
void qemu_co_enter_all_impl(CoQueue *queue, QemuLockable *lock);

/**
 * qemu_co_enter_next() - wake the first waiter from outside (or inside) a
 * coroutine, releasing @lock around the wake-up.
 */
#define qemu_co_enter_next(queue, lock)                                       \
    qemu_co_enter_next_impl(queue, QEMU_MAKE_LOCKABLE(lock))
#define qemu_co_enter_all(queue, lock)                                        \
    qemu_co_enter_all_impl(queue, QEMU_MAKE_LOCKABLE(lock))

/** qemu_co_queue_empty() - whether nobody waits in @queue. */
bool qemu_co_queue_empty(CoQueue *queue);

/* ---- CoRwlock ---- */

typedef struct CoRwTicket CoRwTicket;

/*
 * A fair readers/writer lock for coroutines: requests are granted in
 * arrival order (a waiting writer holds back later readers); works across
 * threads.
 */
typedef struct CoRwlock {
    /* private: */
    QemuSpin spin;
    int owners; /* > 0: readers; -1: a writer */
    QSIMPLEQ_HEAD(, CoRwTicket) tickets;
} CoRwlock;

void qemu_co_rwlock_init(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *lock);
/**
 * qemu_co_rwlock_upgrade() - turn the caller's read hold into a write
 * hold: at once if the caller is the only holder and nobody waits;
 * otherwise it gives up its read hold and waits behind the requests
 * already queued (a waiting writer goes first).
 */
void coroutine_fn qemu_co_rwlock_upgrade(CoRwlock *lock);
/**
 * qemu_co_rwlock_downgrade() - turn the caller's write hold into a read
 * hold without blocking; waiting readers that may now enter are woken.
 */
void coroutine_fn qemu_co_rwlock_downgrade(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *lock);

#endif /* LOOM_QEMU_COROUTINE_CORE_H */
