/* SPDX-License-Identifier: MIT */
/*
 * loom_run_on_cpu() and its asynchronous forms (src/cpu/run-on-cpu.c), in
 * both thread modes: results, the thread the work runs on, nesting, the
 * BQL dropped while waiting, ordering, safe work, and bad arguments.
 */
#include <loom/cpu.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>
#include <loom/main.h>
#include <loom/rcu.h>
#include <loom/thread.h>

#include "cpu-test.h"
#include "harness.h"

static void test_bad_work_args(void)
{
    struct loom_cpu *cpu = NULL;
    struct loom_cpu_stats st;

    g_assert_cmpint(loom_cpu_new(0, &loom_accel_dummy, NULL, &cpu), ==, 0);
    g_assert_cmpint(loom_run_on_cpu(NULL, nop_fn, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_run_on_cpu(cpu, NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_async_run_on_cpu(NULL, nop_fn, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_async_run_on_cpu(cpu, NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_async_safe_run_on_cpu(NULL, nop_fn, NULL), ==,
                    -EINVAL);
    g_assert_cmpint(loom_async_safe_run_on_cpu(cpu, NULL, NULL), ==,
                    -EINVAL);
    /* Not started. */
    g_assert_cmpint(loom_run_on_cpu(cpu, nop_fn, NULL), ==, -ESRCH);
    g_assert_cmpint(loom_async_run_on_cpu(cpu, nop_fn, NULL), ==, -ESRCH);
    g_assert_cmpint(loom_async_safe_run_on_cpu(cpu, nop_fn, NULL), ==,
                    -ESRCH);
    g_assert_cmpint(loom_cpu_stats(NULL, &st), ==, -EINVAL);
    g_assert_cmpint(loom_cpu_stats(cpu, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_cpu_stats(cpu, &st), ==, 0);
    g_assert_cmpuint(st.exec_count, ==, 0);
    g_assert_cmpuint(st.work_items, ==, 0);
    loom_cpu_destroy(cpu);
}


/* Inside a work item: a nested run_on_cpu on the same vCPU runs at once. */
struct nested {
    int step;
    int inner_at;
    int ret;
};

static void nested_inner(struct loom_cpu *cpu, void *data)
{
    struct nested *n = data;

    n->inner_at = ++n->step;
}

static void nested_outer(struct loom_cpu *cpu, void *data)
{
    struct nested *n = data;

    n->ret = loom_run_on_cpu(cpu, nested_inner, n);
    ++n->step;
}

/* Takes the BQL on the vCPU thread: the waiter must have dropped it. */
static void bql_fn(struct loom_cpu *cpu, void *data)
{
    int *count = data;

    loom_bql_lock();
    (*count)++;
    loom_bql_unlock();
}

static void test_run_on_cpu(const void *data)
{
    struct spin s = { 0 };
    struct loom_cpu *cpu = spin_start(0, mode_ops(data), &s);
    struct loom_cpu *idle = cpu_start(1, mode_ops(data));
    struct loom_cpu_stats st;
    struct nested n = { 0 };
    int count = 0, i;

    spin_wait_progress(&s, 10);
    g_assert_cmpint(loom_run_on_cpu(cpu, nested_outer, &n), ==, 0);
    g_assert_cmpint(n.ret, ==, 0);
    g_assert_cmpint(n.inner_at, ==, 1);
    g_assert_cmpint(n.step, ==, 2);

    /* With the BQL held, while the vCPUs themselves take it. */
    loom_bql_lock();
    for (i = 0; i < 50; i++) {
        g_assert_cmpint(loom_run_on_cpu(i % 2 ? cpu : idle, bql_fn, &count),
                        ==, 0);
        g_assert_true(loom_bql_locked());
    }
    loom_bql_unlock();
    g_assert_cmpint(count, ==, 50);

    g_assert_cmpint(loom_cpu_stats(cpu, &st), ==, 0);
    /* nested_outer, nested_inner (run at once) and 25 bql_fn. */
    g_assert_cmpuint(st.work_items, ==, 27);
    g_assert_cmpuint(st.exec_count, >=, 1);
    g_assert_cmpuint(st.kicks, >=, 1);
    loom_cpu_destroy(cpu);
    loom_cpu_destroy(idle);
}

/* Async items record their order and thread. */
struct order {
    struct loom_cpu *cpu;
    int next;
    int seen[100];
    bool wrong_thread;
};

struct order_item {
    struct order *o;
    int id;
};

static void order_fn(struct loom_cpu *cpu, void *data)
{
    struct order_item *it = data;

    if (loom_current_cpu() != it->o->cpu || cpu != it->o->cpu) {
        it->o->wrong_thread = true;
    }
    it->o->seen[it->o->next++] = it->id;
}

static void test_async(const void *data)
{
    struct loom_cpu *cpu = cpu_start(0, mode_ops(data));
    struct order o = { .cpu = cpu };
    struct order_item items[100];
    struct loom_cpu_stats st;
    int i;

    for (i = 0; i < 100; i++) {
        items[i].o = &o;
        items[i].id = i;
        g_assert_cmpint(loom_async_run_on_cpu(cpu, order_fn, &items[i]), ==,
                        0);
    }
    /* A synchronous item queued last runs last: a barrier. */
    g_assert_cmpint(loom_run_on_cpu(cpu, nop_fn, NULL), ==, 0);
    g_assert_cmpint(o.next, ==, 100);
    g_assert_false(o.wrong_thread);
    for (i = 0; i < 100; i++) {
        g_assert_cmpint(o.seen[i], ==, i);
    }
    g_assert_cmpint(loom_cpu_stats(cpu, &st), ==, 0);
    g_assert_cmpuint(st.work_items, ==, 101);
    g_assert_cmpuint(st.safe_work_items, ==, 0);
    loom_cpu_destroy(cpu);
}

/* Safe work: no vCPU is inside a step while it runs. */
struct safe_ctx {
    int ran;
    int in_step_seen;
    struct loom_cpu *expect;
    bool wrong_thread;
};

static void safe_fn(struct loom_cpu *cpu, void *data)
{
    struct safe_ctx *c = data;
    int i;

    if (loom_current_cpu() != c->expect) {
        c->wrong_thread = true;
    }
    /* Stay a while: vCPUs must keep out all along. */
    for (i = 0; i < 200; i++) {
        c->in_step_seen += __atomic_load_n(&g_in_step, __ATOMIC_SEQ_CST);
        sched_yield();
    }
    c->ran++;
}

static void test_async_safe(const void *data)
{
    struct spin s[2] = { { 0 } };
    struct loom_cpu *a = spin_start(0, mode_ops(data), &s[0]);
    struct loom_cpu *b = spin_start(1, mode_ops(data), &s[1]);
    struct safe_ctx c = { .expect = b };
    struct loom_cpu_stats st;
    int i;

    spin_wait_progress(&s[0], 10);
    spin_wait_progress(&s[1], 10);
    for (i = 0; i < 20; i++) {
        g_assert_cmpint(loom_async_safe_run_on_cpu(b, safe_fn, &c), ==, 0);
    }
    g_assert_cmpint(loom_run_on_cpu(b, nop_fn, NULL), ==, 0);
    g_assert_cmpint(c.ran, ==, 20);
    g_assert_cmpint(c.in_step_seen, ==, 0);
    g_assert_false(c.wrong_thread);
    g_assert_cmpint(loom_cpu_stats(b, &st), ==, 0);
    g_assert_cmpuint(st.safe_work_items, ==, 20);
    /* And the vCPUs run again afterwards. */
    spin_wait_progress(&s[0], 10);
    spin_wait_progress(&s[1], 10);
    loom_cpu_destroy(a);
    loom_cpu_destroy(b);
}

int main(int argc, char **argv)
{
    static const char *const modes[] = { "per-vcpu", "rr" };
    int ret;
    int m;

    harness_init(&argc, &argv);
    g_test_add_func("/cpu/bad-work-args", test_bad_work_args);
    for (m = 0; m < 2; m++) {
        const void *d = GINT_TO_POINTER(m);
        static const struct {
            const char *name;
            GTestDataFunc fn;
        } cases[] = {
            { "run-on-cpu", test_run_on_cpu },
            { "async", test_async },
            { "async-safe", test_async_safe },
        };
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(cases); i++) {
            char *path = g_strdup_printf("/cpu/%s/%s", cases[i].name,
                                         modes[m]);

            g_test_add_data_func(path, d, cases[i].fn);
            g_free(path);
        }
    }
    ret = g_test_run();
    /* Destroyed vCPUs are reclaimed through call_rcu. */
    loom_drain_call_rcu();
    return ret;
}
