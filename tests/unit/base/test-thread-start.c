/* SPDX-License-Identifier: MIT */
/*
 * What happens when a loom thread starts: the thread-start hook (its
 * kind, name, thread, order before the function, failure) and CPU
 * affinity (struct loom_cpuset, creation on a set, moving a thread).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <loom/rcu.h>
#include <loom/thread.h>

#include "harness.h"

/* ------------------------------------------------------------------ */
/* The hook.                                                          */

struct hook_log {
    int calls;
    enum loom_thread_kind kind;
    char name[64];
    bool name_null;
    pthread_t tid;
    unsigned registered; /* RCU registration seen by the hook */
    char pthread_name[32];
    int ret;             /* what the hook returns */
};

static __thread bool t_hook_ran;

static int hook(enum loom_thread_kind kind, const char *name, void *opaque)
{
    struct hook_log *log = opaque;

    log->calls++;
    log->kind = kind;
    log->name_null = name == NULL;
    if (name) {
        g_strlcpy(log->name, name, sizeof(log->name));
    }
    log->tid = pthread_self();
    log->registered = loom__rcu_reader.registered;
    g_assert_cmpint(pthread_getname_np(pthread_self(), log->pthread_name,
                                       sizeof(log->pthread_name)), ==, 0);
    t_hook_ran = true;
    return log->ret;
}

struct fn_seen {
    bool hook_ran;
    pthread_t tid;
    bool ran;
};

static void *record_fn(void *arg)
{
    struct fn_seen *s = arg;

    s->ran = true;
    s->hook_ran = t_hook_ran;
    s->tid = pthread_self();
    return NULL;
}

static void test_hook_called_first(void)
{
    struct hook_log log = {0};
    struct fn_seen seen = {0};
    struct loom_thread *t;

    loom_thread_set_start_hook(hook, &log);
    g_assert_cmpint(loom_thread_create(&t, "hooked-thread-long-name",
                                       record_fn, &seen, 0), ==, 0);
    /* The creator waited for the hook. */
    g_assert_cmpint(log.calls, ==, 1);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    loom_thread_set_start_hook(NULL, NULL);

    g_assert_cmpint(log.kind, ==, LOOM_THREAD_KIND_USER);
    /* The full name, while the kernel keeps 15 characters. */
    g_assert_cmpstr(log.name, ==, "hooked-thread-long-name");
    g_assert_cmpstr(log.pthread_name, ==, "hooked-thread-l");
    /* In the new thread, before RCU registration and the function. */
    g_assert_true(pthread_equal(log.tid, seen.tid));
    g_assert_cmpuint(log.registered, ==, 0);
    g_assert_true(seen.ran);
    g_assert_true(seen.hook_ran);
    g_assert_false(t_hook_ran);

    /* Unnamed thread: NULL name. */
    memset(&log, 0, sizeof(log));
    loom_thread_set_start_hook(hook, &log);
    g_assert_cmpint(loom_thread_create(&t, NULL, record_fn, &seen, 0), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    loom_thread_set_start_hook(NULL, NULL);
    g_assert_cmpint(log.calls, ==, 1);
    g_assert_true(log.name_null);

    /* Removed: not called any more. */
    memset(&seen, 0, sizeof(seen));
    g_assert_cmpint(loom_thread_create(&t, "x", record_fn, &seen, 0), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    g_assert_cmpint(log.calls, ==, 1);
    g_assert_true(seen.ran);
    g_assert_false(seen.hook_ran);
}

static void test_hook_failure(void)
{
    struct hook_log log = {.ret = -EACCES};
    struct fn_seen seen = {0};
    struct loom_thread *t = (struct loom_thread *)&t;

    loom_thread_set_start_hook(hook, &log);
    g_assert_cmpint(loom_thread_create(&t, "refused", record_fn, &seen, 0),
                    ==, -EACCES);
    g_assert(t == (struct loom_thread *)&t);
    /* Detached: same verdict, nothing leaks (ASan checks). */
    g_assert_cmpint(loom_thread_create(NULL, "refused-d", record_fn, &seen,
                                       LOOM_THREAD_DETACHED), ==, -EACCES);
    /* A positive return is not an errno: -EPERM. */
    log.ret = 1;
    g_assert_cmpint(loom_thread_create(&t, "refused", record_fn, &seen, 0),
                    ==, -EPERM);
    loom_thread_set_start_hook(NULL, NULL);
    g_assert_cmpint(log.calls, ==, 3);
    g_assert_false(seen.ran);
}

static void *signal_event(void *arg)
{
    loom_event_set(arg);
    return NULL;
}

static void test_hook_detached_success(void)
{
    struct hook_log log = {0};
    struct loom_event ev;

    loom_event_init(&ev, false);
    loom_thread_set_start_hook(hook, &log);
    g_assert_cmpint(loom_thread_create(NULL, "ok-d", signal_event, &ev,
                                       LOOM_THREAD_DETACHED), ==, 0);
    loom_thread_set_start_hook(NULL, NULL);
    g_assert_cmpint(log.calls, ==, 1);
    g_assert_cmpstr(log.name, ==, "ok-d");
    g_assert_cmpint(loom_event_timedwait(&ev, 10 * 1000000000LL), ==, 0);
    loom_event_destroy(&ev);
}

/* ------------------------------------------------------------------ */
/* CPU sets.                                                          */

static void test_cpuset_helpers(void)
{
    struct loom_cpuset s;

    memset(&s, 0xff, sizeof(s));
    loom_cpuset_zero(&s);
    g_assert_cmpuint(loom_cpuset_count(&s), ==, 0);
    g_assert_cmpint(loom_cpuset_set(&s, 0), ==, 0);
    g_assert_cmpint(loom_cpuset_set(&s, 63), ==, 0);
    g_assert_cmpint(loom_cpuset_set(&s, 64), ==, 0);
    g_assert_cmpint(loom_cpuset_set(&s, LOOM_CPUSET_SIZE - 1), ==, 0);
    g_assert_cmpint(loom_cpuset_set(&s, 64), ==, 0); /* idempotent */
    g_assert_cmpuint(loom_cpuset_count(&s), ==, 4);
    g_assert_true(loom_cpuset_isset(&s, 63));
    g_assert_true(loom_cpuset_isset(&s, 64));
    g_assert_false(loom_cpuset_isset(&s, 65));
    g_assert_cmpint(loom_cpuset_set(&s, LOOM_CPUSET_SIZE), ==, -EINVAL);
    g_assert_false(loom_cpuset_isset(&s, LOOM_CPUSET_SIZE));
    loom_cpuset_clear(&s, 63);
    loom_cpuset_clear(&s, LOOM_CPUSET_SIZE + 5);
    g_assert_false(loom_cpuset_isset(&s, 63));
    g_assert_cmpuint(loom_cpuset_count(&s), ==, 3);
}

struct aff_result {
    struct loom_cpuset seen;
    struct loom_cpuset hook_seen;
    struct loom_event go;
    bool wait;
};

static void *report_affinity(void *arg)
{
    struct aff_result *r = arg;

    if (r->wait) {
        loom_event_wait(&r->go);
    }
    harness_self_cpuset(&r->seen);
    return NULL;
}

static int affinity_hook(enum loom_thread_kind kind, const char *name,
                         void *opaque)
{
    harness_self_cpuset(opaque);
    return 0;
}

static void test_create_affinity(void)
{
    unsigned cpu = harness_last_cpu();
    struct aff_result r = {0};
    struct loom_cpuset one, before, after;
    struct loom_thread *t;

    loom_cpuset_zero(&one);
    g_assert_cmpint(loom_cpuset_set(&one, cpu), ==, 0);
    loom_thread_set_start_hook(affinity_hook, &r.hook_seen);
    g_assert_cmpint(loom_thread_create_affinity(&t, "pinned", report_affinity,
                                                &r, 0, &one), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    loom_thread_set_start_hook(NULL, NULL);
    /* Pinned from the start: the hook already sees it. */
    g_assert_true(memcmp(&r.seen, &one, sizeof(one)) == 0);
    g_assert_true(memcmp(&r.hook_seen, &one, sizeof(one)) == 0);

    /* NULL: inherits the creator's. */
    harness_self_cpuset(&before);
    g_assert_cmpint(loom_thread_create_affinity(&t, "free", report_affinity,
                                                &r, 0, NULL), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    g_assert_true(memcmp(&r.seen, &before, sizeof(before)) == 0);

    /* The creator itself is untouched. */
    harness_self_cpuset(&after);
    g_assert_true(memcmp(&before, &after, sizeof(after)) == 0);
}

static void test_bad_sets(void)
{
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    struct loom_thread *t = (struct loom_thread *)&t;
    struct aff_result r = {0};
    struct loom_cpuset empty, far;

    loom_cpuset_zero(&empty);
    loom_cpuset_zero(&far);
    g_assert_cmpint(conf, >=, 1);
    if ((unsigned long)conf < LOOM_CPUSET_SIZE) {
        /* A CPU this machine does not have. */
        g_assert_cmpint(loom_cpuset_set(&far, (unsigned)conf), ==, 0);
    } else {
        g_test_message("every CPU number is configured here");
        g_assert_cmpint(loom_cpuset_set(&far, 0), ==, 0);
        loom_cpuset_clear(&far, 0);
    }
    g_assert_cmpint(loom_thread_create_affinity(&t, "x", report_affinity, &r,
                                                0, &empty), ==, -EINVAL);
    g_assert_cmpint(loom_thread_create_affinity(&t, "x", report_affinity, &r,
                                                0, &far), ==, -EINVAL);
    g_assert_cmpint(loom_thread_create_affinity(&t, "x", report_affinity, &r,
                                                0x100, NULL), ==, -EINVAL);
    g_assert(t == (struct loom_thread *)&t);
    g_assert_cmpint(loom_thread_self_set_affinity(&empty), ==, -EINVAL);
    g_assert_cmpint(loom_thread_self_set_affinity(&far), ==, -EINVAL);
    g_assert_cmpint(loom_thread_self_set_affinity(NULL), ==, -EINVAL);
    g_assert_cmpint(loom_thread_set_affinity(NULL, &empty), ==, -EINVAL);
}

static void test_set_affinity(void)
{
    unsigned cpu = harness_last_cpu();
    struct aff_result r = {.wait = true};
    struct loom_cpuset one, before, now;
    struct loom_thread *t;

    loom_cpuset_zero(&one);
    g_assert_cmpint(loom_cpuset_set(&one, cpu), ==, 0);
    loom_event_init(&r.go, false);
    g_assert_cmpint(loom_thread_create(&t, "movable", report_affinity, &r, 0),
                    ==, 0);
    g_assert_cmpint(loom_thread_set_affinity(t, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_thread_set_affinity(t, &one), ==, 0);
    loom_event_set(&r.go);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    g_assert_true(memcmp(&r.seen, &one, sizeof(one)) == 0);
    loom_event_destroy(&r.go);

    /* The calling thread, and back. */
    harness_self_cpuset(&before);
    g_assert_cmpint(loom_thread_self_set_affinity(&one), ==, 0);
    harness_self_cpuset(&now);
    g_assert_true(memcmp(&now, &one, sizeof(one)) == 0);
    g_assert_cmpint(loom_thread_self_set_affinity(&before), ==, 0);
    harness_self_cpuset(&now);
    g_assert_true(memcmp(&now, &before, sizeof(before)) == 0);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/thread-start/hook/called-first", test_hook_called_first);
    g_test_add_func("/thread-start/hook/failure", test_hook_failure);
    g_test_add_func("/thread-start/hook/detached", test_hook_detached_success);
    g_test_add_func("/thread-start/cpuset/helpers", test_cpuset_helpers);
    g_test_add_func("/thread-start/affinity/create", test_create_affinity);
    g_test_add_func("/thread-start/affinity/bad-sets", test_bad_sets);
    g_test_add_func("/thread-start/affinity/set", test_set_affinity);
    return g_test_run();
}
