/* SPDX-License-Identifier: MIT */
/*
 * IOThreads: a thread that claims a loop as its home and polls it until a
 * stop BH (QEMU's iothread_stop_bh) sets its stop flag.  Creation, free,
 * lookup and loom_iothread_run() are entered from any thread; the thread
 * function and the BHs from the IOThread itself.  The registry of every
 * IOThread is a list under a global mutex.
 *
 * Stopping by a BH rather than a flag written from outside means that BHs
 * scheduled before loom_iothread_free() run before the thread leaves its
 * loop: they sit ahead of the stop BH, and one iteration runs every BH
 * that was scheduled when it started.
 */
#include <loom/iothread.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/bh.h>
#include <loom/pool.h>
#include <loom/thread.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/list.h"
#include "base/thread-int.h"
#include "loop/loop-int.h"

struct loom_iothread {
    /* Immutable after creation. */
    char *name;
    struct loom_loop *loop;
    struct loom_bh *stop_bh;
    struct loom_thread *thread;
    struct loom_event started;

    /* Protected by g_registry_lock. */
    struct loom__list link;
    bool ready; /* the thread runs: visible to find and foreach */

    /* home(loop) only. */
    bool stopping;

    /* Atomic (statistics). */
    uint64_t run_calls;
};

/* Every IOThread, in creation order.  Guarded by g_registry_lock. */
static struct loom_mutex g_registry_lock = LOOM_MUTEX_INITIALIZER;
static struct loom__list g_registry = LOOM__LIST_INIT(g_registry);

/* Context: g_registry_lock held. */
static struct loom_iothread *find_locked(const char *name)
{
    struct loom__list *n;
    struct loom_iothread *io;

    for (n = g_registry.next; n != &g_registry; n = n->next) {
        io = loom__list_entry(n, struct loom_iothread, link);
        if (strcmp(io->name, name) == 0) {
            return io;
        }
    }
    return NULL;
}

static void stop_bh(void *opaque)
{
    struct loom_iothread *io = opaque;

    io->stopping = true;
}

static void *iothread_main(void *arg)
{
    struct loom_iothread *io = arg;

    loom__loop_set_home(io->loop);
    loom__loop_set_thread_default(io->loop);
    /* Pairs with loom_event_wait() in loom_iothread_new(). */
    loom_event_set(&io->started);
    while (!io->stopping) {
        loom_loop_poll(io->loop, true);
    }
    loom__loop_set_thread_default(NULL);
    return NULL;
}

/* Check the options and apply them to the new loop (not running yet). */
static int apply_opts(struct loom_loop *l,
                      const struct loom_iothread_opts *opts)
{
    struct loom_iothread_opts def = {
        .poll_max_ns = LOOM_IOTHREAD_POLL_MAX_NS_DEFAULT,
    };
    int max;

    if (!opts) {
        opts = &def;
    }
    LOOM_CHECK(opts->poll_max_ns >= 0 && opts->poll_grow >= 0 &&
                   opts->poll_shrink >= 0,
               -EINVAL);
    LOOM_CHECK(opts->pool_min >= 0 && opts->pool_max >= 0, -EINVAL);
    if (opts->affinity && loom__cpuset_check(opts->affinity) < 0) {
        return -EINVAL;
    }
    max = opts->pool_max ? opts->pool_max : LOOM_POOL_DEFAULT_MAX;
    LOOM_CHECK(opts->pool_min <= max, -EINVAL);
    if (loom_loop_set_poll_params(l, opts->poll_max_ns, opts->poll_grow,
                                  opts->poll_shrink) < 0) {
        return -EINVAL;
    }
    if (opts->pool_min || opts->pool_max) {
        struct loom_pool *p = loom_loop_pool(l);

        if (!p) {
            return -ENOMEM;
        }
        return loom_pool_set_size(p, opts->pool_min, max);
    }
    return 0;
}

static void unregister(struct loom_iothread *io)
{
    loom_mutex_lock(&g_registry_lock);
    loom__list_del(&io->link);
    loom_mutex_unlock(&g_registry_lock);
}

int loom_iothread_new(const char *name,
                      const struct loom_iothread_opts *opts_or_NULL,
                      struct loom_iothread **ret)
{
    struct loom_iothread *io;
    int err;

    LOOM_CHECK(name && name[0] && ret, -EINVAL);
    io = calloc(1, sizeof(*io));
    if (!io) {
        return -ENOMEM;
    }
    io->name = strdup(name);
    if (!io->name) {
        free(io);
        return -ENOMEM;
    }
    loom_event_init(&io->started, false);
    loom__list_init(&io->link);

    /* Reserve the name. */
    loom_mutex_lock(&g_registry_lock);
    if (find_locked(name)) {
        loom_mutex_unlock(&g_registry_lock);
        err = -EEXIST;
        goto fail_free;
    }
    loom__list_add_tail(&g_registry, &io->link);
    loom_mutex_unlock(&g_registry_lock);

    err = loom_loop_new(&io->loop);
    if (err < 0) {
        goto fail_unregister;
    }
    err = loom_bh_new(io->loop, stop_bh, io, "iothread-stop", &io->stop_bh);
    if (err < 0) {
        goto fail_loop;
    }
    err = apply_opts(io->loop, opts_or_NULL);
    if (err < 0) {
        goto fail_bh;
    }
    err = loom__thread_create(&io->thread, LOOM_THREAD_KIND_IOTHREAD, name,
                              iothread_main, io, LOOM_THREAD_JOINABLE,
                              opts_or_NULL ? opts_or_NULL->affinity : NULL);
    if (err < 0) {
        goto fail_bh;
    }
    loom_event_wait(&io->started);

    loom_mutex_lock(&g_registry_lock);
    io->ready = true;
    loom_mutex_unlock(&g_registry_lock);
    *ret = io;
    return 0;

fail_bh:
    loom_bh_free(io->stop_bh);
fail_loop:
    loom_loop_unref(io->loop);
fail_unregister:
    unregister(io);
fail_free:
    loom_event_destroy(&io->started);
    free(io->name);
    free(io);
    return err;
}

struct loom_loop *loom_iothread_loop(struct loom_iothread *io)
{
    return io ? io->loop : NULL;
}

const char *loom_iothread_name(struct loom_iothread *io)
{
    return io ? io->name : NULL;
}

int loom_iothread_set_affinity(struct loom_iothread *io,
                               const struct loom_cpuset *cpus)
{
    LOOM_CHECK(io && cpus, -EINVAL);
    return loom_thread_set_affinity(io->thread, cpus);
}

struct run_req {
    struct loom_iothread *io;
    int (*fn)(void *);
    void *arg;
    int ret;
    struct loom_event done;
};

static void run_bh(void *opaque)
{
    struct run_req *r = opaque;

    r->ret = r->fn(r->arg);
    loom__atomic_add_relaxed(&r->io->run_calls, 1);
    /* Pairs with loom_event_wait() in loom_iothread_run(); @r dies then. */
    loom_event_set(&r->done);
}

int loom_iothread_run(struct loom_iothread *io, int (*fn)(void *), void *arg)
{
    struct run_req r = {.io = io, .fn = fn, .arg = arg};
    int err;

    LOOM_CHECK(io && fn, -EINVAL);
    if (loom__loop_is_home(io->loop)) {
        loom__atomic_add_relaxed(&io->run_calls, 1);
        return fn(arg);
    }
    loom_event_init(&r.done, false);
    err = loom_bh_oneshot(io->loop, run_bh, &r);
    if (err < 0) {
        loom_event_destroy(&r.done);
        return err;
    }
    loom_event_wait(&r.done);
    loom_event_destroy(&r.done);
    return r.ret;
}

void loom_iothread_free(struct loom_iothread *io)
{
    if (!io) {
        return;
    }
    if (loom__loop_is_home(io->loop)) {
        loom__panic("loom_iothread_free: IOThread '%s' freed from its own "
                   "thread",
                   io->name);
    }
    /* Not findable any more while it stops. */
    unregister(io);
    loom_bh_schedule(io->stop_bh);
    (void)loom_thread_join(io->thread, NULL);
    loom_bh_free(io->stop_bh);
    loom_loop_unref(io->loop);
    loom_event_destroy(&io->started);
    free(io->name);
    free(io);
}

struct loom_iothread *loom_iothread_find(const char *name)
{
    struct loom_iothread *io;

    if (!name) {
        return NULL;
    }
    loom_mutex_lock(&g_registry_lock);
    io = find_locked(name);
    if (io && !io->ready) {
        io = NULL;
    }
    loom_mutex_unlock(&g_registry_lock);
    return io;
}

int loom_iothread_foreach(loom_iothread_foreach_fn *fn, void *opaque)
{
    struct loom__list *n;
    struct loom_iothread *io;
    int rc = 0;

    LOOM_CHECK(fn, -EINVAL);
    loom_mutex_lock(&g_registry_lock);
    for (n = g_registry.next; n != &g_registry && !rc; n = n->next) {
        io = loom__list_entry(n, struct loom_iothread, link);
        if (io->ready) {
            rc = fn(io, opaque);
        }
    }
    loom_mutex_unlock(&g_registry_lock);
    return rc;
}

void loom_iothread_stats(struct loom_iothread *io,
                         struct loom_iothread_stats *st)
{
    struct loom_pool *p;

    if (!io || !st) {
        return;
    }
    memset(st, 0, sizeof(*st));
    loom_loop_stats(io->loop, &st->loop);
    p = loom__loop_get_pool(io->loop);
    if (p) {
        st->has_pool = true;
        loom_pool_stats(p, &st->pool);
    }
    st->run_calls = loom__atomic_read(&io->run_calls);
}
