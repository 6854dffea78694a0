/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's threads and synchronisation primitives
 * (<qemu/thread.h>) on loom's (<loom/thread.h>).
 *
 * Times are in milliseconds, as in QEMU; timed waits run on
 * CLOCK_MONOTONIC.  Misuse that would corrupt state (unlocking a mutex
 * that is not held ...) panics with a message, as loom does.
 */
#ifndef LOOM_QEMU_THREAD_H
#define LOOM_QEMU_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <loom/thread.h>

#include "qemu/atomic.h"
#include "qemu/compiler.h"

typedef struct QemuMutex {
    /* private: */
    struct loom_mutex impl;
} QemuMutex;

typedef struct QemuRecMutex {
    /* private: */
    struct loom_rec_mutex impl;
} QemuRecMutex;

typedef struct QemuCond {
    /* private: */
    struct loom_cond impl;
} QemuCond;

/*
 * A counting semaphore made of a mutex and a condition variable, as
 * QEMU's own: a thread may destroy it as soon as its wait returned, even
 * while the poster is still leaving qemu_sem_post().
 */
typedef struct QemuSemaphore {
    /* private: */
    struct loom_mutex lock;
    struct loom_cond cond;
    unsigned count; /* protected by lock */
} QemuSemaphore;

typedef struct QemuEvent {
    /* private: */
    struct loom_event impl;
} QemuEvent;

typedef struct QemuSpin {
    /* private: */
    struct loom_spin impl;
} QemuSpin;

typedef struct QemuThread {
    pthread_t thread;
    /* private: */
    struct loom_thread *impl;
} QemuThread;

#define QEMU_THREAD_JOINABLE 0
#define QEMU_THREAD_DETACHED 1

/* ---- mutexes ---- */

static inline void qemu_mutex_init(QemuMutex *mutex)
{
    loom_mutex_init(&mutex->impl);
}

static inline void qemu_mutex_destroy(QemuMutex *mutex)
{
    loom_mutex_destroy(&mutex->impl);
}

static inline void qemu_mutex_lock(QemuMutex *mutex)
{
    loom_mutex_lock(&mutex->impl);
}

/* Return: 0 when taken, -EBUSY when held (also by the caller). */
static inline int qemu_mutex_trylock(QemuMutex *mutex)
{
    return loom_mutex_trylock(&mutex->impl);
}

static inline void qemu_mutex_unlock(QemuMutex *mutex)
{
    loom_mutex_unlock(&mutex->impl);
}

static inline void qemu_rec_mutex_init(QemuRecMutex *mutex)
{
    loom_rec_mutex_init(&mutex->impl);
}

static inline void qemu_rec_mutex_destroy(QemuRecMutex *mutex)
{
    loom_rec_mutex_destroy(&mutex->impl);
}

static inline void qemu_rec_mutex_lock(QemuRecMutex *mutex)
{
    loom_rec_mutex_lock(&mutex->impl);
}

/* Return: 0 when taken or re-entered, -EBUSY when another thread holds it. */
static inline int qemu_rec_mutex_trylock(QemuRecMutex *mutex)
{
    return loom_rec_mutex_trylock(&mutex->impl);
}

static inline void qemu_rec_mutex_unlock(QemuRecMutex *mutex)
{
    loom_rec_mutex_unlock(&mutex->impl);
}

/* ---- condition variables ---- */

static inline void qemu_cond_init(QemuCond *cond)
{
    loom_cond_init(&cond->impl);
}

static inline void qemu_cond_destroy(QemuCond *cond)
{
    loom_cond_destroy(&cond->impl);
}

static inline void qemu_cond_signal(QemuCond *cond)
{
    loom_cond_signal(&cond->impl);
}

static inline void qemu_cond_broadcast(QemuCond *cond)
{
    loom_cond_broadcast(&cond->impl);
}

static inline void qemu_cond_wait(QemuCond *cond, QemuMutex *mutex)
{
    loom_cond_wait(&cond->impl, &mutex->impl);
}

/* Return: false if @ms milliseconds passed, true if woken (or spuriously). */
static inline bool qemu_cond_timedwait(QemuCond *cond, QemuMutex *mutex,
                                       int ms)
{
    return loom_cond_timedwait(&cond->impl, &mutex->impl,
                               (int64_t)ms * 1000000) == 0;
}

/* ---- semaphores ---- */

static inline void qemu_sem_init(QemuSemaphore *sem, int init)
{
    loom_mutex_init(&sem->lock);
    loom_cond_init(&sem->cond);
    sem->count = init < 0 ? 0 : (unsigned)init;
}

static inline void qemu_sem_destroy(QemuSemaphore *sem)
{
    loom_cond_destroy(&sem->cond);
    loom_mutex_destroy(&sem->lock);
}

static inline void qemu_sem_post(QemuSemaphore *sem)
{
    loom_mutex_lock(&sem->lock);
    sem->count++;
    loom_cond_signal(&sem->cond);
    loom_mutex_unlock(&sem->lock);
}

static inline void qemu_sem_wait(QemuSemaphore *sem)
{
    loom_mutex_lock(&sem->lock);
    while (sem->count == 0) {
        loom_cond_wait(&sem->cond, &sem->lock);
    }
    sem->count--;
    loom_mutex_unlock(&sem->lock);
}

/**
 * qemu_sem_timedwait() - qemu_sem_wait() for at most @ms milliseconds.
 * Return: 0 when the count was taken, -1 on timeout.
 */
int qemu_sem_timedwait(QemuSemaphore *sem, int ms);

/* ---- events ---- */

static inline void qemu_event_init(QemuEvent *ev, bool init)
{
    loom_event_init(&ev->impl, init);
}

static inline void qemu_event_destroy(QemuEvent *ev)
{
    loom_event_destroy(&ev->impl);
}

static inline void qemu_event_set(QemuEvent *ev)
{
    loom_event_set(&ev->impl);
}

static inline void qemu_event_reset(QemuEvent *ev)
{
    loom_event_reset(&ev->impl);
}

static inline void qemu_event_wait(QemuEvent *ev)
{
    loom_event_wait(&ev->impl);
}

/* Return: true if set (before or during the wait), false after @ms ms. */
static inline bool qemu_event_timedwait(QemuEvent *ev, int ms)
{
    return loom_event_timedwait(&ev->impl, (int64_t)ms * 1000000) == 0;
}

/* ---- spinlocks ---- */

static inline void qemu_spin_init(QemuSpin *spin)
{
    loom_spin_init(&spin->impl);
}

static inline void qemu_spin_destroy(QemuSpin *spin)
{
    loom_spin_destroy(&spin->impl);
}

static inline void qemu_spin_lock(QemuSpin *spin)
{
    loom_spin_lock(&spin->impl);
}

/* Return: false when taken, true when it was held (QEMU's convention). */
static inline bool qemu_spin_trylock(QemuSpin *spin)
{
    return loom_spin_trylock(&spin->impl) != 0;
}

static inline bool qemu_spin_locked(QemuSpin *spin)
{
    return __atomic_load_n(&spin->impl.locked, __ATOMIC_RELAXED) != 0;
}

static inline void qemu_spin_unlock(QemuSpin *spin)
{
    loom_spin_unlock(&spin->impl);
}

/* ---- threads ---- */

/**
 * qemu_thread_create() - start a thread.
 * @thread: receives the thread (thread->thread is valid on return).
 * @name: its name (truncated to 15 characters), or NULL.
 * @start_routine: the thread function.
 * @arg: passed to @start_routine.
 * @mode: QEMU_THREAD_JOINABLE or QEMU_THREAD_DETACHED.
 *
 * The thread is registered with RCU while it runs.  Aborts with a message
 * when the thread cannot be created, as QEMU does.
 *
 * Context: any.
 */
void qemu_thread_create(QemuThread *thread, const char *name,
                        void *(*start_routine)(void *), void *arg, int mode);

/**
 * qemu_thread_join() - wait for a joinable thread and return its result.
 * @thread: a joinable thread not joined yet.
 *
 * Context: any thread but @thread.
 * Return: what the thread function returned (or passed to
 * qemu_thread_exit()); NULL for a detached thread, which is not waited for.
 */
void *qemu_thread_join(QemuThread *thread);

/** qemu_thread_get_self() - describe the calling thread in @thread. */
void qemu_thread_get_self(QemuThread *thread);

/** qemu_thread_is_self() - whether @thread is the calling thread. */
bool qemu_thread_is_self(QemuThread *thread);

/** qemu_thread_exit() - end the calling thread with @retval. */
QEMU_NORETURN void qemu_thread_exit(void *retval);

/** qemu_thread_naming() - threads are always named on loom; no-op. */
static inline void qemu_thread_naming(bool enable)
{
    (void)enable;
}

#include "qemu/lockable.h"

#endif /* LOOM_QEMU_THREAD_H */
