/* SPDX-License-Identifier: MIT */
/*
 * The big lock (BQL): one process-wide, non-recursive mutex plus a
 * per-thread flag so that any thread can ask whether it holds it.  Any
 * thread may take it; the main loop drops it while it sleeps (main-loop.c).
 */
#include <loom/main.h>

#include <errno.h>
#include <pthread.h>

#include "base/check.h"

/* The lock itself; initialised once, on first use (no constructors). */
static struct loom_mutex g_bql;
static pthread_once_t g_bql_once = PTHREAD_ONCE_INIT;

/* Whether this thread holds g_bql.  Thread-local: no synchronisation. */
static __thread bool t_bql_locked;

static void bql_init_once(void)
{
    loom_mutex_init(&g_bql);
}

static struct loom_mutex *bql(void)
{
    pthread_once(&g_bql_once, bql_init_once);
    return &g_bql;
}

void loom_bql_lock(void)
{
    if (t_bql_locked) {
        loom__panic("loom_bql_lock: the BQL is already held by this thread");
    }
    loom_mutex_lock(bql());
    t_bql_locked = true;
}

void loom_bql_unlock(void)
{
    if (!t_bql_locked) {
        loom__panic("loom_bql_unlock: the BQL is not held by this thread");
    }
    t_bql_locked = false;
    loom_mutex_unlock(bql());
}

bool loom_bql_locked(void)
{
    return t_bql_locked;
}

void loom_bql_cond_wait(struct loom_cond *c)
{
    if (!t_bql_locked) {
        loom__panic("loom_bql_cond_wait: the BQL is not held by this thread");
    }
    t_bql_locked = false;
    loom_cond_wait(c, bql());
    t_bql_locked = true;
}

int loom_bql_cond_timedwait(struct loom_cond *c, int64_t timeout_ns)
{
    int ret;

    if (!t_bql_locked) {
        loom__panic("loom_bql_cond_timedwait: the BQL is not held by this "
                   "thread");
    }
    t_bql_locked = false;
    ret = loom_cond_timedwait(c, bql(), timeout_ns);
    t_bql_locked = true;
    return ret;
}
