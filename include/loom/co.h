/* SPDX-License-Identifier: MIT */
/*
 * Coroutines: stackful, cooperative functions that run inside a thread
 * (usually a loop's home thread) and give the thread back with
 * loom_co_yield() (QEMU's Coroutine, CoQueue, CoMutex, CoRwlock).
 *
 * A coroutine is created with an entry function, entered with
 * loom_co_enter() (it runs until it yields or its entry returns) and
 * re-entered after each yield.  When its entry returns, the coroutine is
 * finished: its stack goes back to a bounded per-thread pool (overflowing
 * into a bounded global one; beyond that the memory is returned to the
 * system) and the handle must not be used again.
 *
 * Enters never nest.  loom_co_enter() called outside any coroutine runs
 * the coroutine at once; called from inside a coroutine it only queues the
 * target, which runs (in this thread, first in first out) right after the
 * current coroutine yields or finishes, before control returns to the code
 * that entered the current one.  Two coroutines that enter each other any
 * number of times therefore never grow a stack.
 *
 * Each coroutine remembers the loop it last ran in: the loop whose home
 * thread entered it through loom_co_schedule(), loom_co_enter_in(),
 * loom_co_reschedule_self() or loom_co_sleep_ns().  A plain
 * loom_co_enter() (or loom_co_wake() of a coroutine without a loop) keeps
 * the remembered loop when it runs in the thread the coroutine last ran
 * in; otherwise, or when none is remembered, the coroutine takes the
 * entering thread's loom_loop_current() (QEMU's rule), which is NULL in
 * threads without a loop.  loom_co_wake() and the coroutine locks use the
 * loop to resume a waiter in its own thread; loom_co_sleep_ns() arms its
 * timer there.  A coroutine still without a loop when it sleeps or waits
 * on a lock takes its thread's loom_loop_current() at that point.
 *
 * Entering a coroutine that is running, queued, scheduled or finished (and
 * still in the pool), yielding outside a coroutine, and scheduling a
 * coroutine twice are contract violations: the library panics with a
 * message naming the coroutine.
 *
 * A coroutine may continue in another thread after any call that yields
 * (loom_co_yield(), loom_co_reschedule_self(), the locks, anything that
 * waits).  Compilers assume that the thread does not change within a
 * function: they may keep the address of a thread-local variable, or the
 * result of pthread_self() (declared const), across such a call.  Code
 * that migrates must read thread identity and thread-local state through
 * a function that is not inlined (and that the optimiser cannot see
 * through, e.g. with an empty asm statement).  libloom's own thread-local
 * state is safe in this respect.
 *
 * Floating-point control state (x86-64: the rounding mode and exception
 * masks in MXCSR and the x87 control word) travels with each coroutine
 * across yields and enters; the exception flags stay with the thread.  An
 * entry function must return with the control state it was started with,
 * as the ABI requires of any function (it is callee-saved): the switch
 * out of a finished coroutine does not read it.  Debug builds check this
 * and panic.
 */
#ifndef LOOM_CO_H
#define LOOM_CO_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/clock.h>
#include <loom/common.h>
#include <loom/thread.h>

#ifdef __cplusplus
extern "C" {
#endif

struct loom_loop;

/**
 * struct loom_co - a coroutine (opaque; created by loom_co_create()).
 */
struct loom_co;

/**
 * loom_co_create() - create a coroutine that has not run yet.
 * @entry: the function the coroutine runs; called with @opaque on the
 *         coroutine's own stack.  The coroutine is finished when it
 *         returns.
 * @opaque: passed to @entry.
 * @ret: receives the coroutine on success.
 *
 * Takes a stack from the calling thread's pool, the global pool, or maps
 * a new one (1 MiB, with an inaccessible guard page below it so that an
 * overflow faults instead of corrupting memory).  A libloom built with
 * Valgrind's header (-Dvalgrind, on when it is found) registers the stacks
 * it maps with Valgrind, so that memcheck follows switches between them.
 * Under AddressSanitizer, switches are announced to it (fiber switches)
 * and each stack's shadow is cleared when it is mapped and unmapped, so
 * that stacks other code unmapped at the same addresses do not matter.
 *
 * Context: any.
 * Return: 0; -EINVAL if @entry or @ret is NULL; -ENOMEM when no stack can
 * be mapped.
 */
LOOM_API int loom_co_create(void (*entry)(void *), void *opaque,
                            struct loom_co **ret);

/**
 * loom_co_enter() - run a coroutine until it yields or finishes.
 * @co: a coroutine that was created and not entered yet, or that yielded.
 *
 * Outside a coroutine, @co runs now, on this thread, and this returns when
 * it yields or finishes, after everything it queued has run too.  Inside a
 * coroutine, @co is queued and runs after the current coroutine yields (see
 * the file comment).  A coroutine that finishes is released; its handle is
 * dead.
 *
 * Context: any thread; the caller must make sure that no other thread
 * runs or enters @co at the same time.
 * Panics if @co is running, already queued, scheduled with
 * loom_co_schedule() and not yet dispatched, or finished.  NULL is ignored.
 */
LOOM_API void loom_co_enter(struct loom_co *co);

/**
 * loom_co_yield() - give the thread back to whoever entered the running
 * coroutine.
 *
 * Returns when someone enters the coroutine again (possibly in another
 * thread).
 *
 * Context: co.  Panics when called outside a coroutine.
 */
LOOM_API void loom_co_yield(void);

/**
 * loom_co_self() - the running coroutine.
 *
 * Context: any.
 * Return: the coroutine running on this thread, or NULL outside one.
 */
LOOM_API struct loom_co *loom_co_self(void);

/**
 * loom_in_co() - whether the caller runs inside a coroutine.
 *
 * Context: any.
 * Return: true inside a coroutine.
 */
LOOM_API bool loom_in_co(void);

/**
 * loom_co_schedule() - enter a coroutine in a loop's home thread.
 * @l: the loop; its home thread enters @co from loom_loop_poll() soon.
 * @co: a coroutine that is not running (or that is about to yield: it may
 *      be scheduled by another thread while it finishes yielding only if
 *      it runs in @l's home thread; see loom_co_reschedule_self()).
 *
 * Context: any.  Panics if @co is already scheduled and has not been
 * entered yet ("never scheduled twice"), or if the scheduling message
 * cannot be allocated.  NULL @l or @co is ignored.
 */
LOOM_API void loom_co_schedule(struct loom_loop *l, struct loom_co *co);

/**
 * loom_co_enter_in() - enter a coroutine in a loop (QEMU's aio_co_enter).
 * @l: the loop the coroutine is to run in.
 * @co: as for loom_co_enter().
 *
 * From @l's home thread this is loom_co_enter() (immediate outside a
 * coroutine, queued inside one) that also records @l as the coroutine's
 * loop; use it instead of a plain loom_co_enter() in loop callbacks so
 * that loom_co_sleep_ns() and wake-ups from other threads know where the
 * coroutine runs.  From any other thread it is loom_co_schedule(@l, @co).
 * "@l's home thread" is as loom_loop_poll() defines it: the first thread
 * that polled @l, or its creator before any poll.
 *
 * Context: any.  Panics as loom_co_enter() and loom_co_schedule() do.
 * NULL @l or @co is ignored.
 */
LOOM_API void loom_co_enter_in(struct loom_loop *l, struct loom_co *co);

/**
 * loom_co_wake() - re-enter a coroutine in the loop it last ran in.
 * @co: a coroutine that yielded (or is about to yield in its own thread).
 *
 * If @co last ran on the calling thread (which then runs its loop, if it
 * has one) or never ran, this is loom_co_enter(): immediate outside a
 * coroutine, queued inside one.  Otherwise it is loom_co_schedule() to
 * the loop @co last ran in, so a waker in another thread never races with
 * the end of @co's yield.
 *
 * Context: any.  Panics if @co has no loop and last ran in another
 * thread (there is nowhere safe to resume it), and in the cases listed for
 * loom_co_enter() and loom_co_schedule().  NULL is ignored.
 */
LOOM_API void loom_co_wake(struct loom_co *co);

/**
 * loom_co_reschedule_self() - move the running coroutine to a loop.
 * @l: the loop whose home thread continues the coroutine.
 *
 * The coroutine yields; it is scheduled on @l only once it has completely
 * left this thread, so @l's thread can never enter it before the yield is
 * over.  Returns in @l's home thread.  If @l is the loop the coroutine is
 * running in, returns at once.
 *
 * Context: co.  Panics outside a coroutine.  NULL @l is ignored.
 */
LOOM_API void loom_co_reschedule_self(struct loom_loop *l);

/**
 * loom_co_sleep_ns() - suspend the running coroutine for a while.
 * @clock: the clock @ns is measured on.
 * @ns: how long to sleep; <= 0 still yields once to the loop.
 *
 * Arms a timer on the coroutine's loop and yields; the timer's callback
 * wakes the coroutine, never before loom_clock_ns(@clock) reached the
 * deadline.
 *
 * Context: co, running in a loop (see the file comment).  Panics outside a
 * coroutine, when the coroutine has no loop and loom_loop_current() is
 * NULL, or when the timer cannot be allocated.
 */
LOOM_API void loom_co_sleep_ns(enum loom_clock clock, int64_t ns);

/* ------------------------------------------------------------------ */

/**
 * struct loom_co_queue - a FIFO of coroutines waiting for something
 * (QEMU's CoQueue).  Embed it and initialise it with loom_co_queue_init().
 *
 * The queue is not thread-safe by itself: either every user runs in one
 * thread, or all of them hold the same struct loom_mutex (passed to
 * loom_co_queue_wait()).
 */
struct loom_co_queue {
    /* private: */
    struct loom_co *head, *tail;
};

/**
 * loom_co_queue_init() - initialise an empty queue.
 * @q: the queue.
 * Context: any.
 */
LOOM_API void loom_co_queue_init(struct loom_co_queue *q);

/**
 * loom_co_queue_wait() - wait in @q until woken by loom_co_queue_next()
 * or loom_co_queue_restart_all().
 * @q: the queue.
 * @unlock: a mutex held by the caller that protects @q, or NULL.  It is
 *          released after the coroutine joined @q and taken again before
 *          this returns.
 *
 * Context: co.  Panics outside a coroutine.
 */
LOOM_API void loom_co_queue_wait(struct loom_co_queue *q,
                                 struct loom_mutex *unlock);

/**
 * loom_co_queue_next() - wake the first waiter of @q, if any.
 * @q: the queue.
 *
 * The waiter is removed now and resumed with loom_co_wake(): called
 * outside a coroutine on the waiter's thread, it runs before this returns,
 * so the caller must not hold the queue's mutex then (the waiter takes it
 * again); other callers only queue or schedule it.
 *
 * Context: any (holding @q's mutex if it has one).
 * Return: true if a coroutine was woken.
 */
LOOM_API bool loom_co_queue_next(struct loom_co_queue *q);

/**
 * loom_co_queue_restart_all() - wake every waiter of @q, in order.
 * @q: the queue.
 * Context: any (holding @q's mutex if it has one).
 */
LOOM_API void loom_co_queue_restart_all(struct loom_co_queue *q);

/**
 * loom_co_queue_empty() - whether nobody waits in @q.
 * @q: the queue.
 * Context: any (holding @q's mutex if it has one).
 * Return: true when @q has no waiter.
 */
LOOM_API bool loom_co_queue_empty(const struct loom_co_queue *q);

/* ------------------------------------------------------------------ */

/**
 * struct loom_co_mutex - a mutex for coroutines (QEMU's CoMutex).
 *
 * A coroutine that finds it taken yields (the thread stays free) and is
 * resumed, in the loop it last ran in, when the lock is handed to it.
 * Waiters get the lock in arrival order: unlocking hands it directly to
 * the first waiter.  Coroutines in different threads may share it.
 * Needs no destruction; it must be unlocked when its memory goes.
 */
struct loom_co_mutex {
    /* private: */
    struct loom_spin spin;
    struct loom_co *holder; /* NULL when unlocked */
    struct loom_co *head, *tail;
};

/**
 * loom_co_mutex_init() - initialise an unlocked coroutine mutex.
 * @m: the mutex.
 * Context: any.
 */
LOOM_API void loom_co_mutex_init(struct loom_co_mutex *m);

/**
 * loom_co_mutex_lock() - take @m, yielding while another coroutine holds
 * it.
 * @m: the mutex.
 *
 * Context: co.  Panics outside a coroutine and when the running coroutine
 * already holds @m.
 */
LOOM_API void loom_co_mutex_lock(struct loom_co_mutex *m);

/**
 * loom_co_mutex_trylock() - take @m if it is free.
 * @m: the mutex.
 * Context: co.  Panics outside a coroutine.
 * Return: 0 when taken; -EBUSY when held (by anyone, the caller included).
 */
LOOM_API int loom_co_mutex_trylock(struct loom_co_mutex *m);

/**
 * loom_co_mutex_unlock() - release @m, handing it to the first waiter.
 * @m: the mutex.
 *
 * Context: co, the coroutine that holds @m.  Panics otherwise.
 */
LOOM_API void loom_co_mutex_unlock(struct loom_co_mutex *m);

/* ------------------------------------------------------------------ */

/**
 * struct loom_co_rwlock - a readers/writer lock for coroutines (QEMU's
 * CoRwlock).
 *
 * Fair: requests are granted in arrival order, so a waiting writer holds
 * back readers that come after it, and consecutive waiting readers are
 * admitted together.  Works across threads like struct loom_co_mutex.
 * Needs no destruction.
 */
struct loom_co_rwlock {
    /* private: */
    struct loom_spin spin;
    unsigned readers; /* holders in read mode */
    bool writer;      /* held in write mode */
    struct loom_co *head, *tail;
};

/**
 * loom_co_rwlock_init() - initialise an unlocked readers/writer lock.
 * @l: the lock.
 * Context: any.
 */
LOOM_API void loom_co_rwlock_init(struct loom_co_rwlock *l);

/**
 * loom_co_rwlock_rdlock() - take @l for reading, yielding while a writer
 * holds it or waits ahead of the caller.
 * @l: the lock.
 * Context: co.  Panics outside a coroutine.
 */
LOOM_API void loom_co_rwlock_rdlock(struct loom_co_rwlock *l);

/**
 * loom_co_rwlock_wrlock() - take @l for writing, yielding while anybody
 * holds it or waits ahead of the caller.
 * @l: the lock.
 * Context: co.  Panics outside a coroutine.
 */
LOOM_API void loom_co_rwlock_wrlock(struct loom_co_rwlock *l);

/**
 * loom_co_rwlock_unlock() - release a read or write hold of @l, admitting
 * the waiters now allowed in.
 * @l: the lock.
 * Context: co.  Panics outside a coroutine and when @l is not held.
 */
LOOM_API void loom_co_rwlock_unlock(struct loom_co_rwlock *l);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_CO_H */
