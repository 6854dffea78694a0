/* SPDX-License-Identifier: MIT */
/*
 * loom_thread_create()/loom_thread_join(): return values, names, RCU
 * registration, detached threads, pthread_exit(), bad arguments.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <loom/rcu.h>
#include <loom/thread.h>

#include "harness.h"

static void *return_arg(void *arg)
{
    return arg;
}

static void test_create_join(void)
{
    struct loom_thread *t = NULL;
    void *val = NULL;

    g_assert_cmpint(loom_thread_create(&t, "t-join", return_arg,
                                       (void *)0x1234,
                                       LOOM_THREAD_JOINABLE), ==, 0);
    g_assert_nonnull(t);
    g_assert_cmpint(loom_thread_join(t, &val), ==, 0);
    g_assert(val == (void *)0x1234);

    /* ret_val may be NULL. */
    g_assert_cmpint(loom_thread_create(&t, NULL, return_arg, NULL, 0), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
}

static void test_many(void)
{
    struct loom_thread *t[32];
    uintptr_t sum = 0;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(t); i++) {
        g_assert_cmpint(loom_thread_create(&t[i], "t-many", return_arg,
                                           (void *)(i + 1), 0), ==, 0);
    }
    for (i = 0; i < G_N_ELEMENTS(t); i++) {
        void *v;

        g_assert_cmpint(loom_thread_join(t[i], &v), ==, 0);
        sum += (uintptr_t)v;
    }
    g_assert_cmpuint(sum, ==, 32 * 33 / 2);
}

struct name_result {
    char pthread_name[32];
    char self_name[32];
    bool self_name_null;
    unsigned registered;
};

static void *get_names(void *arg)
{
    struct name_result *r = arg;
    const char *self = loom_thread_self_name();

    g_assert_cmpint(pthread_getname_np(pthread_self(), r->pthread_name,
                                       sizeof(r->pthread_name)), ==, 0);
    /* Valid only until the thread exits: copy it. */
    r->self_name_null = self == NULL;
    if (self) {
        g_strlcpy(r->self_name, self, sizeof(r->self_name));
    }
    /* Private RCU state: registered by the thread wrapper before fn. */
    r->registered = loom__rcu_reader.registered;
    return NULL;
}

static void test_name(void)
{
    struct name_result r;
    struct loom_thread *t;

    memset(&r, 0, sizeof(r));
    g_assert_cmpint(loom_thread_create(&t, "loom-worker-with-a-long-name",
                                       get_names, &r, 0), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    /* Truncated to 15 characters. */
    g_assert_cmpstr(r.pthread_name, ==, "loom-worker-wit");
    g_assert_cmpstr(r.self_name, ==, "loom-worker-wit");
    g_assert_cmpuint(r.registered, !=, 0);

    memset(&r, 0, sizeof(r));
    g_assert_cmpint(loom_thread_create(&t, "short", get_names, &r, 0), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    g_assert_cmpstr(r.pthread_name, ==, "short");
    g_assert_cmpstr(r.self_name, ==, "short");

    /* No name: self_name is NULL. */
    memset(&r, 0, sizeof(r));
    g_assert_cmpint(loom_thread_create(&t, NULL, get_names, &r, 0), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    g_assert_true(r.self_name_null);

    /* Not a loom thread. */
    g_assert_null(loom_thread_self_name());
}

static void *exit_early(void *arg)
{
    pthread_exit(arg);
    return NULL;
}

static void test_pthread_exit(void)
{
    struct loom_thread *t;
    void *val = NULL;

    g_assert_cmpint(loom_thread_create(&t, "t-exit", exit_early,
                                       (void *)0x42, 0), ==, 0);
    g_assert_cmpint(loom_thread_join(t, &val), ==, 0);
    g_assert(val == (void *)0x42);
}

static void *set_event(void *arg)
{
    loom_event_set(arg);
    return NULL;
}

static void test_detached(void)
{
    struct loom_thread *t = (struct loom_thread *)&t;
    struct loom_event ev;
    int i;

    loom_event_init(&ev, false);
    g_assert_cmpint(loom_thread_create(&t, "t-detached", set_event, &ev,
                                       LOOM_THREAD_DETACHED), ==, 0);
    /* A detached thread's handle is not given out. */
    g_assert_null(t);
    loom_event_wait(&ev);

    /* ret may be NULL for detached threads. */
    for (i = 0; i < 8; i++) {
        loom_event_reset(&ev);
        g_assert_cmpint(loom_thread_create(NULL, NULL, set_event, &ev,
                                           LOOM_THREAD_DETACHED), ==, 0);
        g_assert_cmpint(loom_event_timedwait(&ev, 10 * 1000000000LL), ==, 0);
    }
    loom_event_destroy(&ev);
}

struct self_join {
    struct loom_thread *self;
    struct loom_event ready;
    int err;
};

static void *join_self(void *arg)
{
    struct self_join *sj = arg;

    loom_event_wait(&sj->ready);
    sj->err = loom_thread_join(sj->self, NULL);
    return NULL;
}

static void test_bad_args(void)
{
    struct loom_thread *t = (struct loom_thread *)&t;
    struct self_join sj;

    g_assert_cmpint(loom_thread_create(&t, "x", NULL, NULL, 0), ==, -EINVAL);
    g_assert_cmpint(loom_thread_create(&t, "x", return_arg, NULL, 0x100), ==,
                    -EINVAL);
    g_assert_cmpint(loom_thread_create(NULL, "x", return_arg, NULL,
                                       LOOM_THREAD_JOINABLE), ==, -EINVAL);
    /* Out-parameter untouched on failure. */
    g_assert(t == (struct loom_thread *)&t);
    g_assert_cmpint(loom_thread_join(NULL, NULL), ==, -EINVAL);

    /* Joining oneself fails and leaves the thread joinable. */
    loom_event_init(&sj.ready, false);
    sj.err = 0;
    g_assert_cmpint(loom_thread_create(&sj.self, "t-self", join_self, &sj, 0),
                    ==, 0);
    loom_event_set(&sj.ready);
    g_assert_cmpint(loom_thread_join(sj.self, NULL), ==, 0);
    g_assert_cmpint(sj.err, ==, -EDEADLK);
    loom_event_destroy(&sj.ready);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/thread/create-join", test_create_join);
    g_test_add_func("/thread/many", test_many);
    g_test_add_func("/thread/name", test_name);
    g_test_add_func("/thread/pthread-exit", test_pthread_exit);
    g_test_add_func("/thread/detached", test_detached);
    g_test_add_func("/thread/bad-args", test_bad_args);
    return g_test_run();
}
