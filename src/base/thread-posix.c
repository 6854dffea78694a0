/* SPDX-License-Identifier: MIT */
/*
 * loom threads on POSIX threads.  The creator allocates a struct
 * loom_thread and passes it to the new thread, whose start routine names
 * the thread, registers it with RCU, runs the user's function and undoes
 * the registration (also on pthread_exit(), through a cleanup handler).
 * A joinable thread's struct is freed by loom_thread_join() on the joining
 * thread; a detached one frees its own on exit.
 */
#include <loom/thread.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/rcu.h>

#include "base/check.h"

/* Linux limit for thread names, without the terminating NUL. */
#define THREAD_NAME_MAX 15

struct loom_thread {
    /* Immutable after loom_thread_create(). */
    pthread_t tid;
    void *(*fn)(void *);
    void *arg;
    unsigned flags;
    bool has_name;
    char name[THREAD_NAME_MAX + 1];
};

/* The calling thread's own struct; NULL outside loom threads. */
static __thread struct loom_thread *t_self;

static void thread_exit_cleanup(void *opaque)
{
    struct loom_thread *t = opaque;

    loom_rcu_unregister_thread();
    t_self = NULL;
    if (t->flags & LOOM_THREAD_DETACHED) {
        free(t);
    }
}

static void *thread_start(void *opaque)
{
    struct loom_thread *t = opaque;
    void *ret;

    t_self = t;
    if (t->has_name) {
        /* Best effort: a name is a debugging aid, not a requirement. */
        (void)pthread_setname_np(pthread_self(), t->name);
    }
    loom_rcu_register_thread();
    pthread_cleanup_push(thread_exit_cleanup, t);
    ret = t->fn(t->arg);
    pthread_cleanup_pop(1);
    return ret;
}

int loom_thread_create(struct loom_thread **ret, const char *name,
                       void *(*fn)(void *), void *arg, unsigned flags)
{
    bool detached = flags & LOOM_THREAD_DETACHED;
    struct loom_thread *t;
    pthread_attr_t attr;
    pthread_t tid;
    int err;

    LOOM_CHECK(fn != NULL, -EINVAL);
    LOOM_CHECK((flags & ~LOOM_THREAD_DETACHED) == 0, -EINVAL);
    LOOM_CHECK(detached || ret != NULL, -EINVAL);

    t = calloc(1, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    t->fn = fn;
    t->arg = arg;
    t->flags = flags;
    if (name) {
        t->has_name = true;
        strncpy(t->name, name, THREAD_NAME_MAX);
        t->name[THREAD_NAME_MAX] = '\0';
    }

    err = pthread_attr_init(&attr);
    if (err) {
        free(t);
        return -err;
    }
    err = pthread_attr_setdetachstate(&attr, detached
                                                 ? PTHREAD_CREATE_DETACHED
                                                 : PTHREAD_CREATE_JOINABLE);
    if (!err) {
        /*
         * A detached thread may run and free @t before pthread_create()
         * returns, so its tid is never read through @t.
         */
        err = pthread_create(&tid, &attr, thread_start, t);
    }
    pthread_attr_destroy(&attr);
    if (err) {
        free(t);
        return -err;
    }
    if (detached) {
        if (ret) {
            *ret = NULL;
        }
    } else {
        t->tid = tid;
        *ret = t;
    }
    return 0;
}

int loom_thread_join(struct loom_thread *t, void **ret_val)
{
    void *val;
    int err;

    LOOM_CHECK(t != NULL, -EINVAL);
    if (t == t_self) {
        return -EDEADLK;
    }
    if (t->flags & LOOM_THREAD_DETACHED) {
        loom_panic("thread %p (%s) is detached and cannot be joined",
                   (void *)t, t->has_name ? t->name : "unnamed");
    }
    err = pthread_join(t->tid, &val);
    if (err) {
        /* ESRCH/EINVAL: not a joinable live thread: a double join. */
        loom_panic("thread %p (%s) join failed: %s", (void *)t,
                   t->has_name ? t->name : "unnamed", loom_strerror(err));
    }
    free(t);
    if (ret_val) {
        *ret_val = val;
    }
    return 0;
}

const char *loom_thread_self_name(void)
{
    struct loom_thread *t = t_self;

    return t && t->has_name ? t->name : NULL;
}
