/* SPDX-License-Identifier: MIT */
/*
 * IOThreads: lifecycle, loom_iothread_run() (result, thread, direct call
 * from the IOThread itself), free running the BHs scheduled before it,
 * the registry (find, foreach, duplicate names), options, the IOThread's
 * pool (completions in the IOThread, submit_co from another loop's
 * coroutine), statistics and bad input.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/co.h>
#include <loom/iothread.h>
#include <loom/loop.h>
#include <loom/pool.h>
#include <loom/thread.h>

static pthread_t g_main_thread;

static int count_cb(struct loom_iothread *io, void *opaque)
{
    (*(int *)opaque)++;
    return 0;
}

static int count_iothreads(void)
{
    int n = 0;

    g_assert_cmpint(loom_iothread_foreach(count_cb, &n), ==, 0);
    return n;
}

static void test_new_free(void)
{
    struct loom_iothread *io;
    int before = count_iothreads();

    g_assert_cmpint(loom_iothread_new("io-basic", NULL, &io), ==, 0);
    g_assert_nonnull(loom_iothread_loop(io));
    g_assert_cmpstr(loom_iothread_name(io), ==, "io-basic");
    g_assert_true(loom_iothread_find("io-basic") == io);
    g_assert_null(loom_iothread_find("io-other"));
    g_assert_cmpint(count_iothreads(), ==, before + 1);
    loom_iothread_free(io);
    g_assert_null(loom_iothread_find("io-basic"));
    g_assert_cmpint(count_iothreads(), ==, before);
    /* The name is free again. */
    g_assert_cmpint(loom_iothread_new("io-basic", NULL, &io), ==, 0);
    loom_iothread_free(io);
    loom_iothread_free(NULL);
}

struct run_arg {
    struct loom_iothread *io;
    pthread_t thread;
    int value;
    int nested;
};

static int nested_fn(void *arg)
{
    struct run_arg *a = arg;

    /* Direct call: same thread as the outer function. */
    g_assert_true(pthread_equal(pthread_self(), a->thread));
    return 5;
}

static int run_fn(void *arg)
{
    struct run_arg *a = arg;

    a->thread = pthread_self();
    g_assert_false(pthread_equal(a->thread, g_main_thread));
    g_assert_cmpstr(loom_thread_self_name(), ==, "io-run");
    a->nested = loom_iothread_run(a->io, nested_fn, a);
    return a->value + 1;
}

static void test_run(void)
{
    struct loom_iothread *io;
    struct run_arg a = {.value = 41};
    struct loom_iothread_stats st;

    g_assert_cmpint(loom_iothread_new("io-run", NULL, &io), ==, 0);
    a.io = io;
    g_assert_cmpint(loom_iothread_run(io, run_fn, &a), ==, 42);
    g_assert_cmpint(a.nested, ==, 5);
    a.value = -10;
    g_assert_cmpint(loom_iothread_run(io, run_fn, &a), ==, -9);
    loom_iothread_stats(io, &st);
    g_assert_cmpuint(st.run_calls, ==, 4);
    g_assert_cmpuint(st.loop.bh_runs, >=, 2);
    g_assert_false(st.has_pool);
    loom_iothread_free(io);
}

struct bh_count {
    int runs; /* home(io) only until free returns */
    bool wrong_thread;
    pthread_t io_thread;
};

static int get_thread(void *arg)
{
    *(pthread_t *)arg = pthread_self();
    return 0;
}

static void inc_bh(void *opaque)
{
    struct bh_count *c = opaque;

    if (!pthread_equal(pthread_self(), c->io_thread)) {
        c->wrong_thread = true;
    }
    c->runs++;
}

static void test_free_runs_bhs(void)
{
    enum { N = 500 };
    struct loom_iothread *io;
    struct bh_count c = {0};

    for (int round = 0; round < 5; round++) {
        c.runs = 0;
        g_assert_cmpint(loom_iothread_new("io-bhs", NULL, &io), ==, 0);
        g_assert_cmpint(loom_iothread_run(io, get_thread, &c.io_thread), ==, 0);
        for (int i = 0; i < N; i++) {
            g_assert_cmpint(loom_bh_oneshot(loom_iothread_loop(io), inc_bh, &c),
                            ==, 0);
        }
        loom_iothread_free(io);
        g_assert_cmpint(c.runs, ==, N);
        g_assert_false(c.wrong_thread);
    }
}

static void test_duplicate(void)
{
    struct loom_iothread *a, *b = NULL;

    g_assert_cmpint(loom_iothread_new("io-dup", NULL, &a), ==, 0);
    g_assert_cmpint(loom_iothread_new("io-dup", NULL, &b), ==, -EEXIST);
    g_assert_null(b);
    g_assert_true(loom_iothread_find("io-dup") == a);
    loom_iothread_free(a);
}

struct walk {
    const char *names[4];
    int n;
    int stop_at;
};

static int walk_cb(struct loom_iothread *io, void *opaque)
{
    struct walk *w = opaque;
    const char *name = loom_iothread_name(io);

    if (strncmp(name, "io-walk", 7) != 0) {
        return 0;
    }
    w->names[w->n++] = name;
    return w->n == w->stop_at ? 99 : 0;
}

static void test_foreach(void)
{
    struct loom_iothread *io[3];
    char name[16];
    struct walk w = {.stop_at = 0};

    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "io-walk%d", i);
        g_assert_cmpint(loom_iothread_new(name, NULL, &io[i]), ==, 0);
    }
    g_assert_cmpint(loom_iothread_foreach(walk_cb, &w), ==, 0);
    g_assert_cmpint(w.n, ==, 3);
    g_assert_cmpstr(w.names[0], ==, "io-walk0");
    g_assert_cmpstr(w.names[1], ==, "io-walk1");
    g_assert_cmpstr(w.names[2], ==, "io-walk2");
    memset(&w, 0, sizeof(w));
    w.stop_at = 2;
    g_assert_cmpint(loom_iothread_foreach(walk_cb, &w), ==, 99);
    g_assert_cmpint(w.n, ==, 2);
    for (int i = 0; i < 3; i++) {
        loom_iothread_free(io[i]);
    }
}

/* ------------------------------------------------------------------ */

struct pool_job {
    pthread_t io_thread;
    int done_ret;
    bool done_in_io; /* written in the IOThread, read after free */
    bool fn_in_io;
    int done_runs;
};

static int pool_fn(void *arg)
{
    struct pool_job *j = arg;

    j->fn_in_io = pthread_equal(pthread_self(), j->io_thread);
    return 77;
}

static void pool_done(void *opaque, int ret)
{
    struct pool_job *j = opaque;

    j->done_ret = ret;
    j->done_in_io = pthread_equal(pthread_self(), j->io_thread);
    j->done_runs++;
}

static int submit_in_io(void *arg)
{
    struct pool_job *j = arg;
    struct loom_iothread *io = loom_iothread_find("io-pool");

    return loom_pool_submit(loom_loop_pool(loom_iothread_loop(io)), pool_fn, j,
                            pool_done, j, NULL);
}

static int read_done_runs(void *arg)
{
    return ((struct pool_job *)arg)->done_runs;
}

static void test_opts_and_pool(void)
{
    struct loom_iothread_opts opts = {
        .poll_max_ns = 0,
        .pool_min = 1,
        .pool_max = 3,
    };
    struct loom_iothread *io;
    struct loom_iothread_stats st;
    struct pool_job j = {0};

    g_assert_cmpint(loom_iothread_new("io-pool", &opts, &io), ==, 0);
    loom_iothread_stats(io, &st);
    g_assert_true(st.has_pool);
    g_assert_cmpuint(st.pool.workers, ==, 1);
    g_assert_cmpint(st.pool.min_workers, ==, 1);
    g_assert_cmpint(st.pool.max_workers, ==, 3);

    g_assert_cmpint(loom_iothread_run(io, get_thread, &j.io_thread), ==, 0);
    g_assert_cmpint(loom_iothread_run(io, submit_in_io, &j), ==, 0);
    STEP_UNTIL(loom_iothread_run(io, read_done_runs, &j) != 0, sched_yield());
    loom_iothread_free(io);
    g_assert_cmpint(j.done_runs, ==, 1);
    g_assert_cmpint(j.done_ret, ==, 77);
    g_assert_true(j.done_in_io);
    g_assert_false(j.fn_in_io);
}

/* A coroutine of the test's loop waits for work on an IOThread's pool. */
struct co_ctx {
    struct loom_pool *p;
    int ret;
    bool finished;
    bool back_in_main;
};

static int co_fn(void *arg)
{
    return 1234;
}

static void co_entry(void *opaque)
{
    struct co_ctx *c = opaque;

    c->ret = loom_pool_submit_co(c->p, co_fn, NULL);
    c->back_in_main = pthread_equal(pthread_self(), g_main_thread);
    c->finished = true;
}

static int read_current(void *arg)
{
    *(struct loom_loop **)arg = loom_loop_current();
    return 0;
}

static void test_current(void)
{
    struct loom_iothread *io = NULL;
    struct loom_loop *seen = NULL;

    g_assert_cmpint(loom_iothread_new("io-current", NULL, &io), ==, 0);
    g_assert_cmpint(loom_iothread_run(io, read_current, &seen), ==, 0);
    g_assert_true(seen == loom_iothread_loop(io));
    /* This thread runs no loop. */
    g_assert_null(loom_loop_current());
    loom_iothread_free(io);
}

static int read_affinity(void *arg)
{
    harness_self_cpuset(arg);
    return 0;
}

static void test_affinity(void)
{
    struct loom_cpuset one, seen, empty, before;
    struct loom_iothread_opts o = {0};
    struct loom_iothread *io = NULL;

    loom_cpuset_zero(&one);
    loom_cpuset_zero(&empty);
    g_assert_cmpint(loom_cpuset_set(&one, harness_last_cpu()), ==, 0);

    /* Pinned from the start. */
    o.affinity = &one;
    g_assert_cmpint(loom_iothread_new("io-pinned", &o, &io), ==, 0);
    g_assert_cmpint(loom_iothread_run(io, read_affinity, &seen), ==, 0);
    g_assert_true(memcmp(&seen, &one, sizeof(one)) == 0);

    /* Moved while running, and back. */
    harness_self_cpuset(&before);
    g_assert_cmpint(loom_iothread_set_affinity(io, &before), ==, 0);
    g_assert_cmpint(loom_iothread_run(io, read_affinity, &seen), ==, 0);
    g_assert_true(memcmp(&seen, &before, sizeof(before)) == 0);
    g_assert_cmpint(loom_iothread_set_affinity(io, &empty), ==, -EINVAL);
    g_assert_cmpint(loom_iothread_set_affinity(io, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_iothread_set_affinity(NULL, &one), ==, -EINVAL);
    loom_iothread_free(io);

    /* An empty set is refused, and leaves nothing behind. */
    o.affinity = &empty;
    io = NULL;
    g_assert_cmpint(loom_iothread_new("io-empty", &o, &io), ==, -EINVAL);
    g_assert_null(io);
    g_assert_null(loom_iothread_find("io-empty"));
}

static void test_submit_co_cross_loop(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_iothread *io;
    struct co_ctx c = {0};
    struct loom_co *co;

    g_assert_cmpint(loom_iothread_new("io-co", NULL, &io), ==, 0);
    c.p = loom_loop_pool(loom_iothread_loop(io));
    g_assert_nonnull(c.p);
    g_assert_cmpint(loom_co_create(co_entry, &c, &co), ==, 0);
    loom_co_schedule(l, co);
    POLL_UNTIL(l, c.finished);
    g_assert_cmpint(c.ret, ==, 1234);
    g_assert_true(c.back_in_main);
    loom_iothread_free(io);
    loom_loop_unref(l);
}

static int nop_fn(void *arg)
{
    return 0;
}

static void test_bad_input(void)
{
    struct loom_iothread *io = (struct loom_iothread *)&io;
    struct loom_iothread_opts bad_poll = {.poll_max_ns = -1};
    struct loom_iothread_opts bad_pool = {.pool_min = 4, .pool_max = 2};
    struct loom_iothread_opts bad_min = {.pool_min = -1};
    struct loom_iothread_stats st;
    int before = count_iothreads();

    g_assert_cmpint(loom_iothread_new(NULL, NULL, &io), ==, -EINVAL);
    g_assert_cmpint(loom_iothread_new("", NULL, &io), ==, -EINVAL);
    g_assert_cmpint(loom_iothread_new("io-bad", NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_iothread_new("io-bad", &bad_poll, &io), ==, -EINVAL);
    g_assert_cmpint(loom_iothread_new("io-bad", &bad_pool, &io), ==, -EINVAL);
    g_assert_cmpint(loom_iothread_new("io-bad", &bad_min, &io), ==, -EINVAL);
    g_assert_true(io == (struct loom_iothread *)&io); /* untouched */
    /* Failed creations leave nothing registered. */
    g_assert_null(loom_iothread_find("io-bad"));
    g_assert_cmpint(count_iothreads(), ==, before);
    g_assert_null(loom_iothread_find(NULL));
    g_assert_null(loom_iothread_loop(NULL));
    g_assert_null(loom_iothread_name(NULL));
    g_assert_cmpint(loom_iothread_run(NULL, nop_fn, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_iothread_foreach(NULL, NULL), ==, -EINVAL);
    loom_iothread_stats(NULL, &st);

    g_assert_cmpint(loom_iothread_new("io-bad", NULL, &io), ==, 0);
    g_assert_cmpint(loom_iothread_run(io, NULL, NULL), ==, -EINVAL);
    loom_iothread_stats(io, NULL);
    loom_iothread_free(io);
}

static int free_self_fn(void *arg)
{
    loom_iothread_free(arg);
    return 0;
}

static void test_free_self_panics(void)
{
    if (g_test_subprocess()) {
        struct loom_iothread *io;

        g_assert_cmpint(loom_iothread_new("io-self", NULL, &io), ==, 0);
        (void)loom_iothread_run(io, free_self_fn, io);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*io-self*own thread*");
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_main_thread = pthread_self();
    g_test_add_func("/iothread/new-free", test_new_free);
    g_test_add_func("/iothread/run", test_run);
    g_test_add_func("/iothread/free-runs-bhs", test_free_runs_bhs);
    g_test_add_func("/iothread/duplicate", test_duplicate);
    g_test_add_func("/iothread/foreach", test_foreach);
    g_test_add_func("/iothread/opts-and-pool", test_opts_and_pool);
    g_test_add_func("/iothread/affinity", test_affinity);
    g_test_add_func("/iothread/current", test_current);
    g_test_add_func("/iothread/submit-co-cross-loop",
                    test_submit_co_cross_loop);
    g_test_add_func("/iothread/bad-input", test_bad_input);
    g_test_add_func("/iothread/free-self-panics", test_free_self_panics);
    return g_test_run();
}
