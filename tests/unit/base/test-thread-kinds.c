/* SPDX-License-Identifier: MIT */
/*
 * The thread-start hook sees every thread the library starts, with the
 * right kind and name: the call_rcu thread, IOThreads, pool workers and
 * vCPU threads (both thread modes); and a refusing hook makes each of
 * those creations fail cleanly with its error.  The hook is installed
 * before anything starts a thread, as the header asks.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <loom/cpu.h>
#include <loom/iothread.h>
#include <loom/loop.h>
#include <loom/pool.h>
#include <loom/rcu.h>
#include <loom/thread.h>

#include "harness.h"

#define MAX_SEEN 64

struct seen {
    enum loom_thread_kind kind;
    char name[32];
    bool all_signals_blocked;
};

static struct loom_mutex g_lock = LOOM_MUTEX_INITIALIZER;
static struct seen g_seen[MAX_SEEN];
static int g_nseen;
/* Kind the hook refuses with -EACCES, or -1. */
static int g_refuse = -1;

static int hook(enum loom_thread_kind kind, const char *name, void *opaque)
{
    sigset_t mask;
    struct seen *s;
    int ret = 0;

    g_assert_true(opaque == &g_seen);
    g_assert_cmpint(pthread_sigmask(SIG_BLOCK, NULL, &mask), ==, 0);
    loom_mutex_lock(&g_lock);
    g_assert_cmpint(g_nseen, <, MAX_SEEN);
    s = &g_seen[g_nseen++];
    s->kind = kind;
    g_strlcpy(s->name, name ? name : "", sizeof(s->name));
    s->all_signals_blocked = sigismember(&mask, SIGINT) &&
                             sigismember(&mask, SIGTERM);
    if ((int)kind == g_refuse) {
        ret = -EACCES;
    }
    loom_mutex_unlock(&g_lock);
    return ret;
}

/* How many threads of @kind named @name the hook saw; resets if asked. */
static int count_seen(enum loom_thread_kind kind, const char *name)
{
    int n = 0;

    loom_mutex_lock(&g_lock);
    for (int i = 0; i < g_nseen; i++) {
        if (g_seen[i].kind == kind && strcmp(g_seen[i].name, name) == 0) {
            n++;
        }
    }
    loom_mutex_unlock(&g_lock);
    return n;
}

static void reset_seen(int refuse)
{
    loom_mutex_lock(&g_lock);
    g_nseen = 0;
    g_refuse = refuse;
    loom_mutex_unlock(&g_lock);
}

struct cb_head {
    struct loom_rcu_head head;
    bool ran;
};

static void rcu_cb(struct loom_rcu_head *h)
{
    struct cb_head *c = (struct cb_head *)h;

    __atomic_store_n(&c->ran, true, __ATOMIC_SEQ_CST);
}

/* Runs first: the call_rcu thread starts with the first loom_call_rcu(). */
static void test_call_rcu(void)
{
    struct cb_head c = {0};
    bool blocked = false;

    reset_seen(-1);
    loom_call_rcu(&c.head, rcu_cb);
    loom_drain_call_rcu();
    g_assert_true(__atomic_load_n(&c.ran, __ATOMIC_SEQ_CST));
    g_assert_cmpint(count_seen(LOOM_THREAD_KIND_CALL_RCU, "loom-call-rcu"),
                    ==, 1);
    loom_mutex_lock(&g_lock);
    for (int i = 0; i < g_nseen; i++) {
        if (g_seen[i].kind == LOOM_THREAD_KIND_CALL_RCU) {
            blocked = g_seen[i].all_signals_blocked;
        }
    }
    loom_mutex_unlock(&g_lock);
    g_assert_true(blocked);
}

static void test_iothread(void)
{
    struct loom_iothread *io = NULL;

    reset_seen(-1);
    g_assert_cmpint(loom_iothread_new("io-kinds", NULL, &io), ==, 0);
    g_assert_cmpint(count_seen(LOOM_THREAD_KIND_IOTHREAD, "io-kinds"), ==, 1);
    loom_iothread_free(io);

    /* Refused: no IOThread, and the name is free again. */
    reset_seen(LOOM_THREAD_KIND_IOTHREAD);
    io = NULL;
    g_assert_cmpint(loom_iothread_new("io-refused", NULL, &io), ==, -EACCES);
    g_assert_null(io);
    g_assert_null(loom_iothread_find("io-refused"));
    reset_seen(-1);
    g_assert_cmpint(loom_iothread_new("io-refused", NULL, &io), ==, 0);
    loom_iothread_free(io);
}

static int job(void *arg)
{
    return 7;
}

static void job_done(void *opaque, int ret)
{
    *(int *)opaque = ret;
}

static void test_pool(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    int result = 0;

    g_assert_nonnull(p);
    /* Refused: the first submission has no worker and fails. */
    reset_seen(LOOM_THREAD_KIND_POOL);
    g_assert_cmpint(loom_pool_submit(p, job, NULL, job_done, &result, NULL),
                    ==, -EACCES);
    g_assert_cmpint(count_seen(LOOM_THREAD_KIND_POOL, "loom-pool"), >=, 1);

    reset_seen(-1);
    g_assert_cmpint(loom_pool_submit(p, job, NULL, job_done, &result, NULL),
                    ==, 0);
    while (result != 7) {
        loom_loop_poll(l, true);
    }
    g_assert_cmpint(count_seen(LOOM_THREAD_KIND_POOL, "loom-pool"), >=, 1);
    loom_loop_unref(l);
}

static void test_vcpu(void)
{
    struct loom_cpu *cpu = NULL, *rr = NULL;

    reset_seen(-1);
    g_assert_cmpint(loom_cpu_new(0, &loom_accel_dummy, NULL, &cpu), ==, 0);
    g_assert_cmpint(loom_cpu_start(cpu), ==, 0);
    g_assert_cmpint(count_seen(LOOM_THREAD_KIND_VCPU, "vcpu-0"), ==, 1);
    loom_cpu_destroy(cpu);

    g_assert_cmpint(loom_cpu_new(1, &loom_accel_dummy_rr, NULL, &rr), ==, 0);
    g_assert_cmpint(loom_cpu_start(rr), ==, 0);
    g_assert_cmpint(count_seen(LOOM_THREAD_KIND_VCPU, "vcpu-rr"), ==, 1);
    g_assert_cmpint(count_seen(LOOM_THREAD_KIND_VCPU_KICKER, "vcpu-rr-kick"),
                    ==, 1);
    loom_cpu_destroy(rr);

    /* Refused: the vCPU stays startable. */
    reset_seen(LOOM_THREAD_KIND_VCPU);
    g_assert_cmpint(loom_cpu_new(2, &loom_accel_dummy, NULL, &cpu), ==, 0);
    g_assert_cmpint(loom_cpu_start(cpu), ==, -EACCES);
    g_assert_cmpint(loom_cpu_new(3, &loom_accel_dummy_rr, NULL, &rr), ==, 0);
    g_assert_cmpint(loom_cpu_start(rr), ==, -EACCES);
    reset_seen(-1);
    g_assert_cmpint(loom_cpu_start(cpu), ==, 0);
    g_assert_cmpint(loom_cpu_start(rr), ==, 0);
    loom_cpu_destroy(cpu);
    loom_cpu_destroy(rr);
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    loom_thread_set_start_hook(hook, &g_seen);
    g_test_add_func("/thread-kinds/call-rcu", test_call_rcu);
    g_test_add_func("/thread-kinds/iothread", test_iothread);
    g_test_add_func("/thread-kinds/pool", test_pool);
    g_test_add_func("/thread-kinds/vcpu", test_vcpu);
    ret = g_test_run();
    loom_thread_set_start_hook(NULL, NULL);
    return ret;
}
