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

#include "qemu/thread.h"

struct start_args {
    void *(*fn)(void *);
    void *arg;
    QemuThread *thread;
    struct loom_sem started;
};

static void *thread_start(void *opaque)
{
    struct start_args *sa = opaque;
    void *(*fn)(void *) = sa->fn;
    void *arg = sa->arg;

    sa->thread->thread = pthread_self();
    /* After this post the creator frees sa: do not touch it again. */
    loom_sem_post(&sa->started);
    return fn(arg);
}

void qemu_thread_create(QemuThread *thread, const char *name,
                        void *(*start_routine)(void *), void *arg, int mode)
{
    struct start_args sa = {.fn = start_routine, .arg = arg, .thread = thread};
    unsigned flags = mode == QEMU_THREAD_DETACHED ? LOOM_THREAD_DETACHED
                                                  : LOOM_THREAD_JOINABLE;
    struct loom_thread *t = NULL;
    int err;

    loom_sem_init(&sa.started, 0);
    err = loom_thread_create(&t, name, thread_start, &sa, flags);
    if (err < 0) {
        fprintf(stderr, "qemu_thread_create: %s\n", g_strerror(-err));
        abort();
    }
    loom_sem_wait(&sa.started);
    loom_sem_destroy(&sa.started);
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
