/* SPDX-License-Identifier: MIT */
/*
 * Synchronisation primitives: mutex, recursive mutex, condition variable,
 * semaphore, event, spinlock, lock counter, seqlock.
 *
 * They are public structs meant to be embedded; initialise them with
 * their _init() (or a LOOM_*_INITIALIZER where one exists) and release
 * them with _destroy().  Their fields are private.
 *
 * Misuse that would corrupt state (unlocking a mutex that is not held,
 * destroying a locked one, a failing pthread call) is a contract violation:
 * the library panics with a message naming the object.
 */
#ifndef LOOM_SYNC_H
#define LOOM_SYNC_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <loom/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Mutexes                                                             */
/* ------------------------------------------------------------------ */

/**
 * struct loom_mutex - a non-recursive mutex (pthread_mutex_t).
 */
struct loom_mutex {
    /* private: */
    pthread_mutex_t m;
};

/** LOOM_MUTEX_INITIALIZER - static initialiser for struct loom_mutex. */
#define LOOM_MUTEX_INITIALIZER { PTHREAD_MUTEX_INITIALIZER }

/**
 * loom_mutex_init() - initialise an unlocked mutex.
 * @m: the mutex.
 * Context: any.
 */
LOOM_API void loom_mutex_init(struct loom_mutex *m);

/**
 * loom_mutex_destroy() - release a mutex.
 * @m: an initialised, unlocked mutex.
 * Context: any.  Panics if @m is locked.
 */
LOOM_API void loom_mutex_destroy(struct loom_mutex *m);

/**
 * loom_mutex_lock() - acquire @m, blocking.
 * @m: the mutex; the caller must not hold it (that deadlocks).
 * Context: any.
 */
LOOM_API void loom_mutex_lock(struct loom_mutex *m);

/**
 * loom_mutex_trylock() - acquire @m if it is free.
 * @m: the mutex.
 * Context: any.
 * Return: 0 when acquired, -EBUSY when another thread (or the caller)
 * holds it.
 */
LOOM_API int loom_mutex_trylock(struct loom_mutex *m);

/**
 * loom_mutex_unlock() - release @m.
 * @m: a mutex the caller holds.
 * Context: the thread holding @m.
 */
LOOM_API void loom_mutex_unlock(struct loom_mutex *m);

/**
 * struct loom_rec_mutex - a recursive mutex: the holder may lock it again
 * and must unlock it as many times.
 */
struct loom_rec_mutex {
    /* private: */
    pthread_mutex_t m;
};

/**
 * loom_rec_mutex_init() - initialise an unlocked recursive mutex.
 * @m: the mutex.
 * Context: any.
 */
LOOM_API void loom_rec_mutex_init(struct loom_rec_mutex *m);

/**
 * loom_rec_mutex_destroy() - release a recursive mutex.
 * @m: an initialised, unlocked mutex.
 * Context: any.  Panics if @m is locked.
 */
LOOM_API void loom_rec_mutex_destroy(struct loom_rec_mutex *m);

/**
 * loom_rec_mutex_lock() - acquire @m, or lock it once more if the caller
 * already holds it.
 * @m: the mutex.
 * Context: any.
 */
LOOM_API void loom_rec_mutex_lock(struct loom_rec_mutex *m);

/**
 * loom_rec_mutex_trylock() - as loom_rec_mutex_lock() without blocking.
 * @m: the mutex.
 * Context: any.
 * Return: 0 when acquired (or re-entered), -EBUSY when another thread
 * holds it.
 */
LOOM_API int loom_rec_mutex_trylock(struct loom_rec_mutex *m);

/**
 * loom_rec_mutex_unlock() - undo one lock of @m.
 * @m: a mutex the caller holds.
 * Context: the thread holding @m.  Panics if it does not hold @m.
 */
LOOM_API void loom_rec_mutex_unlock(struct loom_rec_mutex *m);

/* ------------------------------------------------------------------ */
/* Condition variables                                                 */
/* ------------------------------------------------------------------ */

/**
 * struct loom_cond - a condition variable used with a struct loom_mutex.
 * Timed waits are measured on CLOCK_MONOTONIC.
 */
struct loom_cond {
    /* private: */
    pthread_cond_t c;
};

/** LOOM_COND_INITIALIZER - static initialiser for struct loom_cond. */
#define LOOM_COND_INITIALIZER { PTHREAD_COND_INITIALIZER }

/**
 * loom_cond_init() - initialise a condition variable.
 * @c: the condition variable.
 * Context: any.
 */
LOOM_API void loom_cond_init(struct loom_cond *c);

/**
 * loom_cond_destroy() - release a condition variable nobody waits on.
 * @c: the condition variable.
 * Context: any.
 */
LOOM_API void loom_cond_destroy(struct loom_cond *c);

/**
 * loom_cond_signal() - wake at least one waiter of @c, if any.
 * @c: the condition variable.
 * Context: any (with or without the mutex held).
 */
LOOM_API void loom_cond_signal(struct loom_cond *c);

/**
 * loom_cond_broadcast() - wake every waiter of @c.
 * @c: the condition variable.
 * Context: any (with or without the mutex held).
 */
LOOM_API void loom_cond_broadcast(struct loom_cond *c);

/**
 * loom_cond_wait() - atomically release @m and wait for @c, then
 * re-acquire @m.
 * @c: the condition variable.
 * @m: a mutex the caller holds.
 *
 * May return spuriously: callers re-check their predicate in a loop.
 *
 * Context: the thread holding @m.
 */
LOOM_API void loom_cond_wait(struct loom_cond *c, struct loom_mutex *m);

/**
 * loom_cond_timedwait() - loom_cond_wait() with a timeout.
 * @c: the condition variable.
 * @m: a mutex the caller holds; held again on return in every case.
 * @timeout_ns: RELATIVE timeout in nanoseconds, measured on
 *              CLOCK_MONOTONIC; <= 0 only checks for the timeout.
 *
 * Context: the thread holding @m.
 * Return: 0 when woken (possibly spuriously), -ETIMEDOUT when at least
 * @timeout_ns elapsed.
 */
LOOM_API int loom_cond_timedwait(struct loom_cond *c, struct loom_mutex *m,
                                 int64_t timeout_ns);

/* ------------------------------------------------------------------ */
/* Semaphores                                                          */
/* ------------------------------------------------------------------ */

/**
 * struct loom_sem - a counting semaphore (futex-based; loom_sem_post() makes
 * no system call when nobody waits).
 */
struct loom_sem {
    /* private: */
    uint64_t state; /* count (low half, the futex word) and waiters */
};

/**
 * loom_sem_init() - initialise a semaphore.
 * @s: the semaphore.
 * @value: initial count (at most INT32_MAX; larger values are clamped).
 * Context: any.
 */
LOOM_API void loom_sem_init(struct loom_sem *s, unsigned value);

/**
 * loom_sem_destroy() - release a semaphore nobody waits on.
 * @s: the semaphore.
 * Context: any.  Panics if a thread still waits on @s.
 */
LOOM_API void loom_sem_destroy(struct loom_sem *s);

/**
 * loom_sem_post() - increment the count, waking one waiter if any.
 * @s: the semaphore.
 *
 * A waiter may destroy and free @s as soon as its wait returns: the post
 * reads and writes @s in one atomic operation, which is also what makes
 * the count visible, and never touches it afterwards.
 *
 * Context: any.  Panics if the count would exceed INT32_MAX.
 */
LOOM_API void loom_sem_post(struct loom_sem *s);

/**
 * loom_sem_wait() - wait until the count is positive, then decrement it.
 * @s: the semaphore.
 * Context: any.
 */
LOOM_API void loom_sem_wait(struct loom_sem *s);

/**
 * loom_sem_timedwait() - loom_sem_wait() with a timeout.
 * @s: the semaphore.
 * @timeout_ns: RELATIVE timeout, CLOCK_MONOTONIC; <= 0 makes it a trywait.
 *
 * Context: any.
 * Return: 0 when the count was decremented, -ETIMEDOUT otherwise.
 */
LOOM_API int loom_sem_timedwait(struct loom_sem *s, int64_t timeout_ns);

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/**
 * struct loom_event - a manual-reset event (QEMU's QemuEvent).
 *
 * Two visible states, set and reset.  loom_event_wait() returns at once
 * while the event is set and otherwise blocks until loom_event_set();
 * setting wakes every waiter, and the event stays set (later waits return
 * at once) until loom_event_reset().  Typical use, free of lost wake-ups:
 *
 *   waiter:   loom_event_reset(e); if (!condition) loom_event_wait(e);
 *   notifier: make condition true; loom_event_set(e);
 *
 * loom_event_set() and loom_event_reset() are full barriers, so the
 * condition's accesses need no further ordering as long as they are
 * atomic.  Everything written before loom_event_set() is visible to a
 * thread after loom_event_wait() returns because of that set.
 * loom_event_set() is one atomic compare-exchange and makes a system call
 * only if a thread is (about to be) blocked in loom_event_wait().
 *
 * Every thread blocked in loom_event_wait() when loom_event_set() is
 * called returns, even if another thread resets the event before it gets
 * to run.  Still, when several threads wait on one event, have a single
 * thread (the one that sets, or one that knows everyone got past) reset
 * it: a waiter that resets a shared event can cancel a set that another
 * waiter, not yet blocked, has not seen.
 */
struct loom_event {
    /* private: */
    uint32_t value; /* futex word: generation << 2 | state */
};

/**
 * loom_event_init() - initialise an event.
 * @e: the event.
 * @set: initial state.
 * Context: any.
 */
LOOM_API void loom_event_init(struct loom_event *e, bool set);

/**
 * loom_event_destroy() - release an event nobody waits on.
 * @e: the event.
 * Context: any.
 */
LOOM_API void loom_event_destroy(struct loom_event *e);

/**
 * loom_event_set() - set @e and wake every thread waiting on it.
 * @e: the event.
 * Context: any.
 */
LOOM_API void loom_event_set(struct loom_event *e);

/**
 * loom_event_reset() - reset @e (no effect if it is already reset).
 * @e: the event.
 * Context: any.
 */
LOOM_API void loom_event_reset(struct loom_event *e);

/**
 * loom_event_wait() - wait until @e is set.
 * @e: the event.
 *
 * Returns at once if @e is set, otherwise after the next
 * loom_event_set() (even if @e was reset again meanwhile).  Does not reset
 * it.
 *
 * Context: any.
 */
LOOM_API void loom_event_wait(struct loom_event *e);

/**
 * loom_event_timedwait() - loom_event_wait() with a timeout.
 * @e: the event.
 * @timeout_ns: RELATIVE timeout, CLOCK_MONOTONIC; <= 0 only tests @e.
 *
 * Context: any.
 * Return: 0 if @e is set or was set while waiting, -ETIMEDOUT if no
 * loom_event_set() came before the timeout expired.
 */
LOOM_API int loom_event_timedwait(struct loom_event *e, int64_t timeout_ns);

/* ------------------------------------------------------------------ */
/* Spinlocks (inline)                                                  */
/* ------------------------------------------------------------------ */

/**
 * struct loom_spin - a test-and-test-and-set spinlock.  For critical
 * sections of a few instructions between threads that are not preempted;
 * prefer struct loom_mutex otherwise.
 */
struct loom_spin {
    /* private: */
    int locked;
};

/** LOOM_SPIN_INITIALIZER - static initialiser for struct loom_spin. */
#define LOOM_SPIN_INITIALIZER { 0 }

/**
 * loom_spin_init() - initialise an unlocked spinlock.
 * @s: the spinlock.
 * Context: any.
 */
static inline void loom_spin_init(struct loom_spin *s)
{
    __atomic_store_n(&s->locked, 0, __ATOMIC_RELAXED);
}

/**
 * loom_spin_destroy() - release an unlocked spinlock (nothing to free).
 * @s: the spinlock.
 * Context: any.
 */
static inline void loom_spin_destroy(struct loom_spin *s)
{
    (void)s;
}

/**
 * loom_spin_trylock() - acquire @s if it is free.
 * @s: the spinlock.
 * Context: any.
 * Return: 0 when acquired, -EBUSY when held.
 */
static inline int loom_spin_trylock(struct loom_spin *s)
{
    /* Acquire pairs with the release store in loom_spin_unlock(). */
    if (__atomic_load_n(&s->locked, __ATOMIC_RELAXED) ||
        __atomic_exchange_n(&s->locked, 1, __ATOMIC_ACQUIRE)) {
        return -EBUSY;
    }
    return 0;
}

/**
 * loom_spin_lock() - acquire @s, spinning.
 * @s: the spinlock; the caller must not hold it.
 * Context: any.
 */
static inline void loom_spin_lock(struct loom_spin *s)
{
    /* Acquire pairs with the release store in loom_spin_unlock(). */
    while (__atomic_exchange_n(&s->locked, 1, __ATOMIC_ACQUIRE)) {
        /* Spin on a shared read so that waiters do not bounce the line. */
        while (__atomic_load_n(&s->locked, __ATOMIC_RELAXED)) {
            loom__cpu_relax();
        }
    }
}

/**
 * loom_spin_unlock() - release @s.
 * @s: a spinlock the caller holds.
 * Context: the holder.
 */
static inline void loom_spin_unlock(struct loom_spin *s)
{
    /* Pairs with the acquire exchange in loom_spin_lock()/trylock(). */
    __atomic_store_n(&s->locked, 0, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ */
/* Lock counters                                                       */
/* ------------------------------------------------------------------ */

/**
 * struct loom_lockcnt - a counter of "visitors" plus a mutex (QEMU's
 * QemuLockCnt).
 *
 * Protects a structure (typically a list) that visitors walk without the
 * mutex while they hold a count, and that is modified under the mutex.
 * Elements may be unlinked at any time under the mutex, but freed only
 * when no visitor is active: the thread that brings the count to zero
 * (loom_lockcnt_dec_and_lock()) does the freeing while holding the mutex,
 * and a new visitor arriving when the count is zero first waits for that
 * mutex (loom_lockcnt_inc()), so it never sees an element being freed.
 *
 *   loom_lockcnt_inc(&c);                    visit without the mutex
 *   walk the list;
 *   if (loom_lockcnt_dec_and_lock(&c)) {     last visitor out
 *       free the unlinked elements;
 *       loom_lockcnt_unlock(&c);
 *   }
 */
struct loom_lockcnt {
    /* private: */
    struct loom_mutex mutex;
    uint32_t count; /* atomic */
};

/**
 * loom_lockcnt_init() - zero count, unlocked mutex.
 * @c: the lock counter.
 * Context: any.
 */
LOOM_API void loom_lockcnt_init(struct loom_lockcnt *c);

/**
 * loom_lockcnt_destroy() - release a lock counter.
 * @c: a lock counter with zero count and unlocked mutex.
 * Context: any.  Panics if the count is not zero or the mutex is held.
 */
LOOM_API void loom_lockcnt_destroy(struct loom_lockcnt *c);

/**
 * loom_lockcnt_get() - the current number of visitors.
 * @c: the lock counter.
 * Context: any.  Return: the count (a snapshot, unless the caller holds
 * the mutex and knows no one calls loom_lockcnt_inc() concurrently).
 */
LOOM_API unsigned loom_lockcnt_get(struct loom_lockcnt *c);

/**
 * loom_lockcnt_inc() - become a visitor.
 * @c: the lock counter.
 *
 * If the count is non-zero it is incremented at once, even while another
 * thread holds the mutex.  If it is zero, waits for the mutex first, so
 * that a thread freeing elements after loom_lockcnt_dec_and_lock() has
 * finished before the new visitor looks.
 *
 * Context: any; not while holding @c's mutex (use
 * loom_lockcnt_inc_and_unlock() for that).
 */
LOOM_API void loom_lockcnt_inc(struct loom_lockcnt *c);

/**
 * loom_lockcnt_dec() - stop being a visitor.
 * @c: the lock counter; its count must be positive.
 * Context: any.  Panics if the count is zero.
 */
LOOM_API void loom_lockcnt_dec(struct loom_lockcnt *c);

/**
 * loom_lockcnt_dec_and_lock() - stop being a visitor; if that was the last
 * one, take the mutex.
 * @c: the lock counter; its count must be positive.
 *
 * Context: any; not while holding @c's mutex.  Panics if the count is zero.
 * Return: true when the count dropped to zero: the caller then holds the
 * mutex (and the count stays zero until it is released, except for
 * loom_lockcnt_inc_and_unlock()); false after a plain decrement.
 */
LOOM_API bool loom_lockcnt_dec_and_lock(struct loom_lockcnt *c);

/**
 * loom_lockcnt_dec_if_lock() - if the caller is the last visitor, stop
 * being one and take the mutex; otherwise do nothing.
 * @c: the lock counter; its count must be positive.
 *
 * Context: any; not while holding @c's mutex.
 * Return: true when the count was one: it is now zero and the caller holds
 * the mutex; false when other visitors remain (the count is unchanged and
 * the caller is still a visitor).
 */
LOOM_API bool loom_lockcnt_dec_if_lock(struct loom_lockcnt *c);

/**
 * loom_lockcnt_lock() - take the mutex (visitors may still come and go
 * while the count is non-zero).
 * @c: the lock counter.
 * Context: any; not while holding @c's mutex.
 */
LOOM_API void loom_lockcnt_lock(struct loom_lockcnt *c);

/**
 * loom_lockcnt_unlock() - release the mutex.
 * @c: the lock counter whose mutex the caller holds.
 * Context: the holder.
 */
LOOM_API void loom_lockcnt_unlock(struct loom_lockcnt *c);

/**
 * loom_lockcnt_inc_and_unlock() - become a visitor and release the mutex,
 * as one step (no other thread can take the mutex and see the old count in
 * between).
 * @c: the lock counter whose mutex the caller holds.
 * Context: the holder.
 */
LOOM_API void loom_lockcnt_inc_and_unlock(struct loom_lockcnt *c);

/* ------------------------------------------------------------------ */
/* Sequence locks (inline)                                             */
/* ------------------------------------------------------------------ */

/**
 * struct loom_seqlock - lets readers read a multi-word value without
 * locking and detect that a writer changed it meanwhile.
 *
 * Writers are serialised by the caller (a mutex of its own) and bracket
 * their updates with loom_seqlock_write_begin()/_end().  Readers loop:
 *
 *   do {
 *       seq = loom_seqlock_read_begin(&sl);
 *       copy the fields;
 *   } while (loom_seqlock_read_retry(&sl, seq));
 *
 * Readers may observe a torn value inside the loop and must not act on it
 * before read_retry() returns false.  To be free of data races (and clean
 * under ThreadSanitizer) the protected fields should be read and written
 * with relaxed atomics (__atomic_load_n(p, __ATOMIC_RELAXED)).
 */
struct loom_seqlock {
    /* private: */
    unsigned sequence; /* odd while a writer is inside */
};

/*
 * ThreadSanitizer does not model fences (and gcc warns about them); its
 * builds order the seqlock with read-modify-writes instead.
 */
#ifdef LOOM__TSAN
#define LOOM__SEQLOCK_TSAN 1
#endif

/** LOOM_SEQLOCK_INITIALIZER - static initialiser for struct loom_seqlock. */
#define LOOM_SEQLOCK_INITIALIZER { 0 }

/**
 * loom_seqlock_init() - initialise a seqlock.
 * @sl: the seqlock.
 * Context: any.
 */
static inline void loom_seqlock_init(struct loom_seqlock *sl)
{
    __atomic_store_n(&sl->sequence, 0, __ATOMIC_RELAXED);
}

/**
 * loom_seqlock_destroy() - release a seqlock (nothing to free).
 * @sl: the seqlock.
 * Context: any.
 */
static inline void loom_seqlock_destroy(struct loom_seqlock *sl)
{
    (void)sl;
}

/**
 * loom_seqlock_write_begin() - start an update.
 * @sl: the seqlock.
 * Context: any, holding the caller's writer lock.
 */
static inline void loom_seqlock_write_begin(struct loom_seqlock *sl)
{
#ifdef LOOM__SEQLOCK_TSAN
    /* Pairs with the read-modify-write in loom_seqlock_read_retry(). */
    __atomic_fetch_add(&sl->sequence, 1, __ATOMIC_SEQ_CST);
#else
    unsigned s = __atomic_load_n(&sl->sequence, __ATOMIC_RELAXED);

    __atomic_store_n(&sl->sequence, s + 1, __ATOMIC_RELAXED);
    /*
     * Orders the odd sequence before the data stores that follow.  Pairs
     * with the acquire fence in loom_seqlock_read_retry().
     */
    __atomic_thread_fence(__ATOMIC_RELEASE);
#endif
}

/**
 * loom_seqlock_write_end() - finish an update.
 * @sl: the seqlock.
 * Context: any, holding the caller's writer lock.
 */
static inline void loom_seqlock_write_end(struct loom_seqlock *sl)
{
    unsigned s = __atomic_load_n(&sl->sequence, __ATOMIC_RELAXED);

    /* Pairs with the acquire load in loom_seqlock_read_begin(). */
    __atomic_store_n(&sl->sequence, s + 1, __ATOMIC_RELEASE);
}

/**
 * loom_seqlock_read_begin() - start a read attempt.
 * @sl: the seqlock.
 * Context: any (lock-free).
 * Return: a token for loom_seqlock_read_retry().
 */
static inline unsigned loom_seqlock_read_begin(const struct loom_seqlock *sl)
{
    unsigned s;

    /* Pairs with the release store in loom_seqlock_write_end(). */
    while ((s = __atomic_load_n(&sl->sequence, __ATOMIC_ACQUIRE)) & 1) {
        loom__cpu_relax();
    }
    return s;
}

/**
 * loom_seqlock_read_retry() - end a read attempt.
 * @sl: the seqlock.
 * @start: the token from loom_seqlock_read_begin().
 * Context: any (lock-free).
 * Return: true if a writer intervened and the values read must be
 * discarded and read again.
 */
static inline bool loom_seqlock_read_retry(const struct loom_seqlock *sl,
                                           unsigned start)
{
#ifdef LOOM__SEQLOCK_TSAN
    /*
     * A release read-modify-write that changes nothing also keeps the data
     * loads before the re-read.  Pairs with the increment in
     * loom_seqlock_write_begin().
     */
    return __atomic_fetch_add((unsigned *)&sl->sequence, 0,
                              __ATOMIC_SEQ_CST) != start;
#else
    /*
     * Orders the data loads before the sequence re-read.  Pairs with the
     * release fence in loom_seqlock_write_begin().
     */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&sl->sequence, __ATOMIC_RELAXED) != start;
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* LOOM_SYNC_H */
