/* SPDX-License-Identifier: MIT */
/*
 * loom threads on POSIX threads.  The creator allocates a struct
 * loom_thread and passes it to the new thread, whose start routine names
 * the thread, runs the thread-start hook (if one is installed), registers
 * it with RCU, runs the user's function and undoes the registration (also
 * on pthread_exit(), through a cleanup handler).  A joinable thread's
 * struct is freed by loom_thread_join() on the joining thread; a detached
 * one frees its own on exit.  CPU affinity is set through the creation
 * attributes, so the thread never runs elsewhere.
 *
 * Only when a hook is installed does the creator wait for the new thread:
 * it needs the hook's verdict to report it.  The hand-shake lives on the
 * creator's stack and is touched by the new thread only until it signals.
 */
#include <loom/thread.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/rcu.h>

#include "base/check.h"
#include "base/thread-int.h"

/* Linux limit for thread names, without the terminating NUL. */
#define THREAD_NAME_MAX 15

_Static_assert(sizeof(cpu_set_t) * 8 >= LOOM_CPUSET_SIZE,
               "cpu_set_t must hold every CPU of a struct loom_cpuset");

/* The creator's side of the start hand-shake (on its stack). */
struct start_sync {
    loom_thread_start_fn *hook;
    void *opaque;
    const char *name; /* the creator's string: valid while it waits */
    int err;          /* the hook's verdict, written before ->done */
    struct loom_event done;
};

struct loom_thread {
    /* Immutable after loom_thread_create(). */
    pthread_t tid;
    void *(*fn)(void *);
    void *arg;
    unsigned flags;
    enum loom_thread_kind kind;
    bool has_name;
    char name[THREAD_NAME_MAX + 1];
    /* Read once by the new thread, before it signals ->done. */
    struct start_sync *sync;
};

/* Its address is loom__thread_id() (thread-int.h). */
__thread char loom__thread_marker __attribute__((tls_model("initial-exec")));

/* The calling thread's own struct; NULL outside loom threads. */
static __thread struct loom_thread *t_self;

/* The thread-start hook and its argument, as one pair. */
static struct loom_mutex g_hook_lock = LOOM_MUTEX_INITIALIZER;
static loom_thread_start_fn *g_hook;
static void *g_hook_opaque;

void loom_thread_set_start_hook(loom_thread_start_fn *fn, void *opaque)
{
    loom_mutex_lock(&g_hook_lock);
    g_hook = fn;
    g_hook_opaque = opaque;
    loom_mutex_unlock(&g_hook_lock);
}

int loom__cpuset_check(const struct loom_cpuset *cpus)
{
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    unsigned i;

    if (conf < 1) {
        conf = 1;
    }
    if (loom_cpuset_count(cpus) == 0) {
        return -EINVAL;
    }
    for (i = (unsigned)conf; i < LOOM_CPUSET_SIZE; i++) {
        if (loom_cpuset_isset(cpus, i)) {
            return -EINVAL;
        }
    }
    return 0;
}

static void cpuset_to_native(const struct loom_cpuset *cpus, cpu_set_t *out)
{
    CPU_ZERO(out);
    for (unsigned i = 0; i < LOOM_CPUSET_SIZE; i++) {
        if (loom_cpuset_isset(cpus, i)) {
            CPU_SET(i, out);
        }
    }
}

static void thread_exit_cleanup(void *opaque)
{
    struct loom_thread *t = opaque;

    if (!(t->flags & LOOM__THREAD_NO_RCU)) {
        loom_rcu_unregister_thread();
    }
    t_self = NULL;
    if (t->flags & LOOM_THREAD_DETACHED) {
        free(t);
    }
}

/*
 * Run the hook and report to the creator.  Return: false if the thread
 * must exit at once; @t then belongs to the creator.
 */
static bool run_start_hook(struct loom_thread *t)
{
    struct start_sync *sync = t->sync;
    int err;

    err = sync->hook(t->kind, sync->name, sync->opaque);
    if (err > 0) {
        err = -EPERM;
    }
    if (err < 0) {
        t_self = NULL;
    }
    sync->err = err;
    /* Pairs with loom_event_wait() in loom__thread_create(). */
    loom_event_set(&sync->done);
    return err == 0;
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
    if (t->sync && !run_start_hook(t)) {
        return NULL;
    }
    if (!(t->flags & LOOM__THREAD_NO_RCU)) {
        loom_rcu_register_thread();
    }
    pthread_cleanup_push(thread_exit_cleanup, t);
    ret = t->fn(t->arg);
    pthread_cleanup_pop(1);
    return ret;
}

/* Create the pthread for @t; 0 or a positive errno. */
static int spawn(struct loom_thread *t, pthread_t *tid,
                 const struct loom_cpuset *cpus)
{
    /* Read now: a detached thread may free @t once it is created. */
    bool detached = t->flags & LOOM_THREAD_DETACHED;
    bool no_signals = t->flags & LOOM__THREAD_NO_SIGNALS;
    sigset_t all, old;
    pthread_attr_t attr;
    cpu_set_t native;
    int err;

    err = pthread_attr_init(&attr);
    if (err) {
        return err;
    }
    err = pthread_attr_setdetachstate(&attr, detached
                                                 ? PTHREAD_CREATE_DETACHED
                                                 : PTHREAD_CREATE_JOINABLE);
    if (!err && cpus) {
        cpuset_to_native(cpus, &native);
        err = pthread_attr_setaffinity_np(&attr, sizeof(native), &native);
    }
    if (!err) {
        if (no_signals) {
            /* The new thread inherits the mask in force at creation. */
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &old);
        }
        /*
         * A detached thread may run and free @t before pthread_create()
         * returns, so its tid is never read through @t.
         */
        err = pthread_create(tid, &attr, thread_start, t);
        if (no_signals) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
    }
    pthread_attr_destroy(&attr);
    return err;
}

int loom__thread_create(struct loom_thread **ret, enum loom_thread_kind kind,
                        const char *name, void *(*fn)(void *), void *arg,
                        unsigned flags, const struct loom_cpuset *cpus)
{
    const unsigned known = LOOM_THREAD_DETACHED | LOOM__THREAD_NO_RCU |
                           LOOM__THREAD_NO_SIGNALS;
    bool detached = flags & LOOM_THREAD_DETACHED;
    struct start_sync sync = {.name = name};
    struct loom_thread *t;
    pthread_t tid;
    int err;

    LOOM_CHECK(fn != NULL, -EINVAL);
    LOOM_CHECK((flags & ~known) == 0, -EINVAL);
    LOOM_CHECK(detached || ret != NULL, -EINVAL);
    if (cpus) {
        err = loom__cpuset_check(cpus);
        if (err < 0) {
            return err;
        }
    }

    t = calloc(1, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    t->fn = fn;
    t->arg = arg;
    t->flags = flags;
    t->kind = kind;
    if (name) {
        t->has_name = true;
        strncpy(t->name, name, THREAD_NAME_MAX);
        t->name[THREAD_NAME_MAX] = '\0';
    }
    loom_mutex_lock(&g_hook_lock);
    sync.hook = g_hook;
    sync.opaque = g_hook_opaque;
    loom_mutex_unlock(&g_hook_lock);
    if (sync.hook) {
        loom_event_init(&sync.done, false);
        t->sync = &sync;
    }

    err = spawn(t, &tid, cpus);
    if (err) {
        free(t);
        return -err;
    }
    if (sync.hook) {
        loom_event_wait(&sync.done);
        loom_event_destroy(&sync.done);
        if (sync.err < 0) {
            /* The thread left without touching @t again. */
            if (!detached) {
                (void)pthread_join(tid, NULL);
            }
            free(t);
            return sync.err;
        }
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

int loom_thread_create(struct loom_thread **ret, const char *name,
                       void *(*fn)(void *), void *arg, unsigned flags)
{
    LOOM_CHECK((flags & ~LOOM_THREAD_DETACHED) == 0, -EINVAL);
    return loom__thread_create(ret, LOOM_THREAD_KIND_USER, name, fn, arg,
                               flags, NULL);
}

int loom_thread_create_affinity(struct loom_thread **ret, const char *name,
                                void *(*fn)(void *), void *arg,
                                unsigned flags,
                                const struct loom_cpuset *cpus)
{
    LOOM_CHECK((flags & ~LOOM_THREAD_DETACHED) == 0, -EINVAL);
    return loom__thread_create(ret, LOOM_THREAD_KIND_USER, name, fn, arg,
                               flags, cpus);
}

static int set_affinity(pthread_t tid, const struct loom_cpuset *cpus)
{
    cpu_set_t native;
    int err;

    err = loom__cpuset_check(cpus);
    if (err < 0) {
        return err;
    }
    cpuset_to_native(cpus, &native);
    return -pthread_setaffinity_np(tid, sizeof(native), &native);
}

int loom_thread_set_affinity(struct loom_thread *t,
                             const struct loom_cpuset *cpus)
{
    LOOM_CHECK(t != NULL && cpus != NULL, -EINVAL);
    LOOM_CHECK(!(t->flags & LOOM_THREAD_DETACHED), -EINVAL);
    return set_affinity(t->tid, cpus);
}

int loom_thread_self_set_affinity(const struct loom_cpuset *cpus)
{
    LOOM_CHECK(cpus != NULL, -EINVAL);
    return set_affinity(pthread_self(), cpus);
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
        loom__panic("thread %p (%s) is detached and cannot be joined",
                   (void *)t, t->has_name ? t->name : "unnamed");
    }
    err = pthread_join(t->tid, &val);
    if (err) {
        /* ESRCH/EINVAL: not a joinable live thread: a double join. */
        loom__panic("thread %p (%s) join failed: %s", (void *)t,
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
