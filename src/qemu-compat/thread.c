/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QemuThread on loom threads (<qemu/thread.h>) and
 * qemu_get_thread_id().
 *
 * qemu_thread_create() waits until the new thread has published its
 * pthread_t, so that qemu_thread_is_self() is right as soon as it
 * returns.  Any thread may call everything here.
 */
#include "qemu/osdep.h"

#include <sys/syscall.h>

#include <loom/clock.h>

#include "qemu/thread.h"

struct start_args {
    void *(*fn)(void *);
    void *arg;
    QemuThread *thread;
    /*
     * Events, not semaphores: loom_sem_post() may still read the
     * semaphore after the waiter has returned and freed it, while
     * loom_event_set() touches user memory only in its atomic update.
     */
    struct loom_event started;
    struct loom_event created; /* detached threads only: see below */
    bool detached;
};

static void *thread_start(void *opaque)
{
    struct start_args *sa = opaque;
    void *(*fn)(void *) = sa->fn;
    void *arg = sa->arg;
    bool detached = sa->detached;

    sa->thread->thread = pthread_self();
    if (detached) {
        /*
         * libloom reads its thread handle after pthread_create() returns,
         * and a detached thread frees that handle when it exits: do not
         * run (and so exit) before loom_thread_create() has returned.
         */
        loom_event_wait(&sa->created);
    }
    /* After this post the creator frees sa: do not touch it again. */
    loom_event_set(&sa->started);
    return fn(arg);
}

void qemu_thread_create(QemuThread *thread, const char *name,
                        void *(*start_routine)(void *), void *arg, int mode)
{
    struct start_args sa = {.fn = start_routine, .arg = arg, .thread = thread,
                            .detached = mode == QEMU_THREAD_DETACHED};
    unsigned flags = mode == QEMU_THREAD_DETACHED ? LOOM_THREAD_DETACHED
                                                  : LOOM_THREAD_JOINABLE;
    struct loom_thread *t = NULL;
    int err;

    loom_event_init(&sa.started, false);
    loom_event_init(&sa.created, false);
    err = loom_thread_create(&t, name, thread_start, &sa, flags);
    if (err < 0) {
        fprintf(stderr, "qemu_thread_create: %s\n", g_strerror(-err));
        abort();
    }
    if (sa.detached) {
        loom_event_set(&sa.created);
    }
    loom_event_wait(&sa.started);
    loom_event_destroy(&sa.started);
    loom_event_destroy(&sa.created);
    thread->impl = mode == QEMU_THREAD_DETACHED ? NULL : t;
}

void *qemu_thread_join(QemuThread *thread)
{
    void *ret = NULL;
    int err;

    if (!thread->impl) {
        return NULL;
    }
    err = loom_thread_join(thread->impl, &ret);
    if (err < 0) {
        fprintf(stderr, "qemu_thread_join: %s\n", g_strerror(-err));
        abort();
    }
    thread->impl = NULL;
    return ret;
}

void qemu_thread_get_self(QemuThread *thread)
{
    thread->thread = pthread_self();
    thread->impl = NULL;
}

bool qemu_thread_is_self(QemuThread *thread)
{
    return pthread_equal(pthread_self(), thread->thread);
}

void qemu_thread_exit(void *retval)
{
    pthread_exit(retval);
}

int qemu_get_thread_id(void)
{
    return (int)syscall(SYS_gettid);
}

int qemu_sem_timedwait(QemuSemaphore *sem, int ms)
{
    int64_t deadline = loom_clock_ns(LOOM_CLOCK_HOST) + (int64_t)ms * 1000000;
    int ret = 0;

    loom_mutex_lock(&sem->lock);
    while (sem->count == 0) {
        int64_t left = deadline - loom_clock_ns(LOOM_CLOCK_HOST);

        if (left <= 0) {
            ret = -1;
            break;
        }
        (void)loom_cond_timedwait(&sem->cond, &sem->lock, left);
    }
    if (ret == 0) {
        sem->count--;
    }
    loom_mutex_unlock(&sem->lock);
    return ret;
}
