/* SPDX-License-Identifier: MIT */
/*
 * vCPU layer unit tests, with the dummy accelerator in both thread modes:
 * objects and the CPU list, start/destroy, run_on_cpu and the async forms,
 * exclusive sections, kick, halt/wake, pause/resume, VM stop/start with the
 * virtual clock and notifiers, statistics, and every bad-input case
 * (defined errors, or panics checked in a subprocess).
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

#include "harness.h"

/* Spin (yielding) until @cond holds; fail after 10 s. */
#define WAIT_FOR(cond)                                                        \
    do {                                                                      \
        int64_t wait_deadline_ = harness_now_ns() + 10000000000LL;            \
        while (!(cond)) {                                                     \
            g_assert_cmpint(harness_now_ns(), <, wait_deadline_);             \
            sched_yield();                                                    \
        }                                                                     \
    } while (0)

static int64_t aload(int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static const struct loom_accel_ops *mode_ops(const void *data)
{
    return GPOINTER_TO_INT(data) ? &loom_accel_dummy_rr : &loom_accel_dummy;
}

static struct loom_cpu *cpu_start(int index, const struct loom_accel_ops *ops)
{
    struct loom_cpu *cpu = NULL;

    g_assert_cmpint(loom_cpu_new(index, ops, NULL, &cpu), ==, 0);
    g_assert_cmpint(loom_cpu_start(cpu), ==, 0);
    return cpu;
}

/* A spinning "guest": counts steps; returns what ->ret holds. */
struct spin {
    int64_t steps;
    int ret;      /* atomic: the next step's return value */
    int ret_once; /* atomic: returned once, then cleared */
};

/* Steps currently running (inside exec) over every vCPU. */
static int g_in_step;

static int spin_step(struct loom_cpu *cpu, void *opaque)
{
    struct spin *s = opaque;
    int once;
    int r;

    __atomic_add_fetch(&g_in_step, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&s->steps, 1, __ATOMIC_SEQ_CST);
    r = __atomic_load_n(&s->ret, __ATOMIC_SEQ_CST);
    once = __atomic_exchange_n(&s->ret_once, 0, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&g_in_step, 1, __ATOMIC_SEQ_CST);
    return once ? once : r;
}

/* Start a vCPU that spins in @s. */
static struct loom_cpu *spin_start(int index,
                                   const struct loom_accel_ops *ops,
                                   struct spin *s)
{
    struct loom_cpu *cpu = NULL;

    g_assert_cmpint(loom_cpu_new(index, ops, NULL, &cpu), ==, 0);
    loom_accel_dummy_set_step(cpu, spin_step, s);
    g_assert_cmpint(loom_cpu_start(cpu), ==, 0);
    return cpu;
}

/* True if @s makes no step over a few hundred yields. */
static bool spin_frozen(struct spin *s)
{
    int64_t before = aload(&s->steps);
    int i;

    for (i = 0; i < 300; i++) {
        sched_yield();
    }
    return aload(&s->steps) == before;
}

/* Wait until @s made @n more steps. */
static void spin_wait_progress(struct spin *s, int64_t n)
{
    int64_t target = aload(&s->steps) + n;

    WAIT_FOR(aload(&s->steps) >= target);
}

/* ------------------------------------------------------------------ */

static void test_new_bad_args(void)
{
    struct loom_accel_ops bad = loom_accel_dummy;
    struct loom_cpu *cpu = NULL, *dup = NULL;
    int tag;

    g_assert_cmpint(loom_cpu_new(0, &loom_accel_dummy, NULL, NULL), ==,
                    -EINVAL);
    g_assert_cmpint(loom_cpu_new(0, NULL, NULL, &cpu), ==, -EINVAL);
    g_assert_cmpint(loom_cpu_new(-1, &loom_accel_dummy, NULL, &cpu), ==,
                    -EINVAL);
    bad.exec = NULL;
    g_assert_cmpint(loom_cpu_new(0, &bad, NULL, &cpu), ==, -EINVAL);
    bad = loom_accel_dummy;
    bad.thread_mode = (enum loom_cpu_thread_mode)7;
    g_assert_cmpint(loom_cpu_new(0, &bad, NULL, &cpu), ==, -EINVAL);
    g_assert_null(cpu);

    g_assert_cmpint(loom_cpu_new(5, &loom_accel_dummy, &tag, &cpu), ==, 0);
    g_assert_cmpint(loom_cpu_new(5, &loom_accel_dummy, NULL, &dup), ==,
                    -EEXIST);
    g_assert_null(dup);
    g_assert_cmpint(loom_cpu_index(cpu), ==, 5);
    g_assert_true(loom_cpu_opaque(cpu) == &tag);
    g_assert_cmpint(loom_cpu_index(NULL), ==, -EINVAL);
    g_assert_null(loom_cpu_opaque(NULL));
    g_assert_null(loom_cpu_accel_state(cpu));
    loom_cpu_set_accel_state(cpu, &tag);
    g_assert_true(loom_cpu_accel_state(cpu) == &tag);
    loom_cpu_set_accel_state(NULL, &tag);
    g_assert_null(loom_cpu_accel_state(NULL));
    g_assert_cmpint(loom_cpu_start(NULL), ==, -EINVAL);
    g_assert_false(loom_cpu_is_halted(NULL));
    g_assert_false(loom_cpu_is_stopped(NULL));
    g_assert_cmpint(loom_cpu_rr_set_slice(0), ==, -EINVAL);
    g_assert_cmpint(loom_cpu_rr_set_slice(-5), ==, -EINVAL);

    /* Never started: destroy is fine; NULL is ignored. */
    loom_cpu_destroy(cpu);
    loom_cpu_destroy(NULL);
    loom_cpu_kick(NULL);
    loom_cpu_halt(NULL);
    loom_cpu_wake(NULL);
    loom_accel_dummy_set_step(NULL, spin_step, NULL);
}

static void test_list(void)
{
    struct loom_cpu *c[3], *cpu;
    int order[] = { 3, 1, 2 };
    int seen[4], n = 0, i;

    for (i = 0; i < 3; i++) {
        g_assert_cmpint(loom_cpu_new(order[i], &loom_accel_dummy, NULL,
                                     &c[i]), ==, 0);
    }
    loom_rcu_read_lock();
    LOOM_CPU_FOREACH(cpu) {
        seen[n++] = loom_cpu_index(cpu);
    }
    g_assert_cmpint(n, ==, 3);
    g_assert_cmpint(seen[0], ==, 1);
    g_assert_cmpint(seen[1], ==, 2);
    g_assert_cmpint(seen[2], ==, 3);
    g_assert_true(loom_cpu_by_index(2) == c[2]);
    g_assert_true(loom_cpu_by_index(3) == c[0]);
    g_assert_null(loom_cpu_by_index(7));
    g_assert_null(loom_cpu_next(NULL));
    loom_rcu_read_unlock();

    loom_cpu_destroy(c[2]);
    n = 0;
    loom_rcu_read_lock();
    LOOM_CPU_FOREACH(cpu) {
        seen[n++] = loom_cpu_index(cpu);
    }
    g_assert_null(loom_cpu_by_index(2));
    loom_rcu_read_unlock();
    g_assert_cmpint(n, ==, 2);
    g_assert_cmpint(seen[0], ==, 1);
    g_assert_cmpint(seen[1], ==, 3);
    loom_cpu_destroy(c[0]);
    loom_cpu_destroy(c[1]);
    g_assert_null(loom_cpu_first());
}

/* What a work item saw about the thread it ran on. */
struct where {
    struct loom_cpu *current;
    char name[16];
    bool bql;
    int ran;
};

static void where_fn(struct loom_cpu *cpu, void *data)
{
    struct where *w = data;
    const char *name = loom_thread_self_name();

    w->current = loom_current_cpu();
    g_strlcpy(w->name, name ? name : "", sizeof(w->name));
    w->bql = loom_bql_locked();
    w->ran++;
}

static void test_start(const void *data)
{
    bool rr = GPOINTER_TO_INT(data);
    struct loom_cpu *cpu = cpu_start(4, mode_ops(data));
    struct where w = { 0 };

    g_assert_null(loom_current_cpu());
    g_assert_cmpint(loom_cpu_start(cpu), ==, -EALREADY);
    g_assert_cmpint(loom_run_on_cpu(cpu, where_fn, &w), ==, 0);
    g_assert_cmpint(w.ran, ==, 1);
    g_assert_true(w.current == cpu);
    g_assert_cmpstr(w.name, ==, rr ? "vcpu-rr" : "vcpu-4");
    g_assert_false(w.bql);
    g_assert_false(loom_cpu_is_stopped(cpu));
    g_assert_false(loom_cpu_is_halted(cpu));
    loom_cpu_destroy(cpu);
}

/* init_vcpu fails while g_init_err is set. */
static int g_init_err;
static int g_init_calls;
static int g_destroy_calls;

static int failing_init(struct loom_cpu *cpu)
{
    __atomic_add_fetch(&g_init_calls, 1, __ATOMIC_SEQ_CST);
    g_assert_true(loom_current_cpu() == cpu);
    return __atomic_load_n(&g_init_err, __ATOMIC_SEQ_CST);
}

static void counting_destroy(struct loom_cpu *cpu)
{
    g_assert_true(loom_current_cpu() == cpu);
    __atomic_add_fetch(&g_destroy_calls, 1, __ATOMIC_SEQ_CST);
}

static void nop_fn(struct loom_cpu *cpu, void *data)
{
    (void)cpu;
    (void)data;
}

static void test_start_fail(const void *data)
{
    struct loom_accel_ops ops = *mode_ops(data);
    struct loom_cpu *cpu = NULL;
    struct where w = { 0 };

    ops.init_vcpu = failing_init;
    ops.destroy_vcpu = counting_destroy;
    g_init_calls = g_destroy_calls = 0;
    g_init_err = -EIO;
    g_assert_cmpint(loom_cpu_new(0, &ops, NULL, &cpu), ==, 0);
    g_assert_cmpint(loom_cpu_start(cpu), ==, -EIO);
    g_assert_cmpint(g_init_calls, ==, 1);
    /* Not started: every work form is refused. */
    g_assert_cmpint(loom_run_on_cpu(cpu, nop_fn, NULL), ==, -ESRCH);
    g_assert_cmpint(loom_async_run_on_cpu(cpu, nop_fn, NULL), ==, -ESRCH);
    g_assert_cmpint(loom_async_safe_run_on_cpu(cpu, nop_fn, NULL), ==,
                    -ESRCH);
    /* Back to "not started": a second start may succeed. */
    __atomic_store_n(&g_init_err, 0, __ATOMIC_SEQ_CST);
    g_assert_cmpint(loom_cpu_start(cpu), ==, 0);
    g_assert_cmpint(g_init_calls, ==, 2);
    g_assert_cmpint(loom_run_on_cpu(cpu, where_fn, &w), ==, 0);
    g_assert_true(w.current == cpu);
    loom_cpu_destroy(cpu);
    g_assert_cmpint(g_destroy_calls, ==, 1);
}

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

static void test_exclusive(const void *data)
{
    struct spin s[2] = { { 0 } };
    struct loom_cpu *a = spin_start(0, mode_ops(data), &s[0]);
    struct loom_cpu *b = spin_start(1, mode_ops(data), &s[1]);
    int round;

    for (round = 0; round < 20; round++) {
        spin_wait_progress(&s[0], 5);
        spin_wait_progress(&s[1], 5);
        loom_start_exclusive();
        g_assert_cmpint(__atomic_load_n(&g_in_step, __ATOMIC_SEQ_CST), ==, 0);
        g_assert_true(spin_frozen(&s[0]));
        g_assert_true(spin_frozen(&s[1]));
        loom_end_exclusive();
    }
    loom_cpu_destroy(a);
    loom_cpu_destroy(b);
}

static void test_kick(const void *data)
{
    struct loom_cpu *cpu = cpu_start(0, mode_ops(data));
    struct loom_cpu_stats st, st2;
    int i;

    g_assert_cmpint(loom_cpu_stats(cpu, &st), ==, 0);
    for (i = 0; i < 5; i++) {
        loom_cpu_kick(cpu);
        /* An idle dummy vCPU waits in exec: each kick gets it out. */
        WAIT_FOR(loom_cpu_stats(cpu, &st2) == 0 &&
                 st2.exec_count > st.exec_count);
        st = st2;
    }
    g_assert_cmpuint(st.kicks, >=, 5);
    loom_cpu_destroy(cpu);
}

/* loom_cpu_kick() from a signal handler (async-signal-safe). */
static struct loom_cpu *g_sig_cpu;

static void kick_handler(int signo)
{
    loom_cpu_kick(g_sig_cpu);
}

static void test_kick_from_signal(const void *data)
{
    struct sigaction sa, old;
    struct loom_cpu_stats st, st2;
    int i;

    g_sig_cpu = cpu_start(0, mode_ops(data));
    loom_rcu_register_thread();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    g_assert_cmpint(sigaction(SIGUSR1, &sa, &old), ==, 0);
    g_assert_cmpint(loom_cpu_stats(g_sig_cpu, &st), ==, 0);
    for (i = 0; i < 5; i++) {
        g_assert_cmpint(raise(SIGUSR1), ==, 0);
        WAIT_FOR(loom_cpu_stats(g_sig_cpu, &st2) == 0 &&
                 st2.exec_count > st.exec_count);
        st = st2;
    }
    g_assert_cmpint(sigaction(SIGUSR1, &old, NULL), ==, 0);
    loom_cpu_destroy(g_sig_cpu);
}

static void test_halt_wake(const void *data)
{
    struct spin s = { 0 };
    struct loom_cpu *cpu = spin_start(0, mode_ops(data), &s);
    struct where w = { 0 };
    struct loom_cpu_stats st;

    /* The guest halts. */
    spin_wait_progress(&s, 5);
    __atomic_store_n(&s.ret_once, LOOM_EXIT_HALTED, __ATOMIC_SEQ_CST);
    WAIT_FOR(loom_cpu_is_halted(cpu));
    g_assert_true(spin_frozen(&s));
    /* Kicks do not end a halt; work still runs. */
    loom_cpu_kick(cpu);
    g_assert_cmpint(loom_run_on_cpu(cpu, where_fn, &w), ==, 0);
    g_assert_true(w.current == cpu);
    g_assert_true(loom_cpu_is_halted(cpu));
    g_assert_true(spin_frozen(&s));
    loom_cpu_wake(cpu);
    spin_wait_progress(&s, 5);
    g_assert_false(loom_cpu_is_halted(cpu));

    /* Halted from outside. */
    loom_cpu_halt(cpu);
    g_assert_true(loom_cpu_is_halted(cpu));
    WAIT_FOR(spin_frozen(&s));
    loom_cpu_wake(cpu);
    spin_wait_progress(&s, 5);

    /*
     * A wake-up that comes before the halt is not lost: the next
     * LOOM_EXIT_HALTED returns to exec at once.
     */
    loom_cpu_wake(cpu);
    __atomic_store_n(&s.ret_once, LOOM_EXIT_HALTED, __ATOMIC_SEQ_CST);
    spin_wait_progress(&s, 20);
    g_assert_false(loom_cpu_is_halted(cpu));
    g_assert_cmpint(loom_cpu_stats(cpu, &st), ==, 0);
    g_assert_cmpuint(st.halts, ==, 2);
    loom_cpu_destroy(cpu);
}

static void test_pause_resume(const void *data)
{
    struct spin s[2] = { { 0 } };
    struct loom_cpu *a = spin_start(0, mode_ops(data), &s[0]);
    struct loom_cpu *b = spin_start(1, mode_ops(data), &s[1]);
    struct loom_cpu *late;
    struct loom_cpu_stats st;
    struct where w = { 0 };
    int i;

    for (i = 0; i < 10; i++) {
        spin_wait_progress(&s[0], 3);
        spin_wait_progress(&s[1], 3);
        loom_pause_all_vcpus();
        g_assert_true(loom_cpu_is_stopped(a));
        g_assert_true(loom_cpu_is_stopped(b));
        g_assert_true(spin_frozen(&s[0]));
        g_assert_true(spin_frozen(&s[1]));
        /* Stopped vCPUs still serve their queue. */
        g_assert_cmpint(loom_run_on_cpu(a, where_fn, &w), ==, 0);
        g_assert_true(w.current == a);
        loom_resume_all_vcpus();
    }
    spin_wait_progress(&s[0], 3);
    g_assert_false(loom_cpu_is_stopped(a));
    g_assert_cmpint(loom_cpu_stats(a, &st), ==, 0);
    g_assert_cmpuint(st.stops, ==, 10);

    /* A vCPU started while paused starts stopped; with the BQL held. */
    loom_bql_lock();
    loom_pause_all_vcpus();
    g_assert_true(loom_bql_locked());
    late = cpu_start(2, mode_ops(data));
    g_assert_true(loom_cpu_is_stopped(late));
    loom_resume_all_vcpus();
    loom_bql_unlock();
    WAIT_FOR(!loom_cpu_is_stopped(late));
    loom_cpu_destroy(late);
    loom_cpu_destroy(a);
    loom_cpu_destroy(b);
}

/* Records notifications: "<tag><running>:<reason>;". */
static char g_notes[256];

static void note_fn(void *opaque, bool running, int reason)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%s%d:%d;", (const char *)opaque, running,
             reason);
    g_strlcat(g_notes, buf, sizeof(g_notes));
}

static int g_reentry_ret;
static struct loom_vm_state_notifier *g_dummy_note;

static void reentry_fn(void *opaque, bool running, int reason)
{
    /* Run-state calls from a notifier are refused. */
    g_reentry_ret = running ? loom_vm_stop(9) : loom_vm_start();
    if (g_reentry_ret == -EDEADLK) {
        g_reentry_ret = loom_vm_add_state_notifier(note_fn, "x",
                                                   &g_dummy_note);
    }
}

static void test_vm_stop_start(const void *data)
{
    struct spin s = { 0 };
    struct loom_cpu *cpu = spin_start(0, mode_ops(data), &s);
    struct loom_vm_state_notifier *na = NULL, *nb = NULL, *nr = NULL;
    struct loom_cpu *late;
    int64_t v1, v2, h;

    g_assert_cmpint(loom_vm_add_state_notifier(NULL, NULL, &na), ==, -EINVAL);
    g_assert_cmpint(loom_vm_add_state_notifier(note_fn, "a", NULL), ==,
                    -EINVAL);
    g_assert_cmpint(loom_vm_add_state_notifier(note_fn, "a", &na), ==, 0);
    g_assert_cmpint(loom_vm_add_state_notifier(note_fn, "b", &nb), ==, 0);
    g_assert_cmpint(loom_vm_add_state_notifier(reentry_fn, NULL, &nr), ==,
                    0);
    g_notes[0] = '\0';

    g_assert_true(loom_vm_running());
    g_assert_cmpint(loom_vm_stop_reason(), ==, 0);
    spin_wait_progress(&s, 3);
    g_reentry_ret = 1;
    g_assert_cmpint(loom_vm_stop(42), ==, 0);
    g_assert_cmpint(g_reentry_ret, ==, -EDEADLK);
    g_assert_false(loom_vm_running());
    g_assert_cmpint(loom_vm_stop_reason(), ==, 42);
    g_assert_false(loom_clock_virtual_running());
    g_assert_true(loom_cpu_is_stopped(cpu));
    g_assert_cmpstr(g_notes, ==, "b0:42;a0:42;");
    g_assert_true(spin_frozen(&s));

    /* LOOM_CLOCK_VIRTUAL does not move while stopped. */
    v1 = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    h = loom_clock_ns(LOOM_CLOCK_HOST);
    WAIT_FOR(loom_clock_ns(LOOM_CLOCK_HOST) > h + 2000000);
    v2 = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    g_assert_cmpint(v1, ==, v2);

    /* Idempotent; a vCPU started now starts stopped and does not run. */
    g_assert_cmpint(loom_vm_stop(43), ==, 0);
    g_assert_cmpint(loom_vm_stop_reason(), ==, 42);
    g_assert_cmpstr(g_notes, ==, "b0:42;a0:42;");
    late = cpu_start(1, mode_ops(data));
    g_assert_true(loom_cpu_is_stopped(late));
    /* resume_all alone does not run vCPUs of a stopped VM. */
    loom_resume_all_vcpus();
    g_assert_true(spin_frozen(&s));
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v2);

    g_notes[0] = '\0';
    loom_bql_lock();
    g_assert_cmpint(loom_vm_start(), ==, 0);
    g_assert_true(loom_bql_locked());
    loom_bql_unlock();
    g_assert_cmpint(g_reentry_ret, ==, -EDEADLK);
    g_assert_cmpstr(g_notes, ==, "a1:0;b1:0;");
    g_assert_true(loom_vm_running());
    g_assert_true(loom_clock_virtual_running());
    g_assert_cmpint(loom_vm_stop_reason(), ==, 0);
    g_assert_cmpint(loom_vm_start(), ==, 0);
    g_assert_cmpstr(g_notes, ==, "a1:0;b1:0;");
    spin_wait_progress(&s, 3);
    WAIT_FOR(loom_clock_ns(LOOM_CLOCK_VIRTUAL) > v2);
    g_assert_false(loom_cpu_is_stopped(late));

    loom_vm_remove_state_notifier(na);
    loom_vm_remove_state_notifier(nb);
    loom_vm_remove_state_notifier(nr);
    loom_vm_remove_state_notifier(NULL);
    g_notes[0] = '\0';
    g_assert_cmpint(loom_vm_stop(1), ==, 0);
    g_assert_cmpint(loom_vm_start(), ==, 0);
    g_assert_cmpstr(g_notes, ==, "");
    loom_cpu_destroy(late);
    loom_cpu_destroy(cpu);
}

/* exec errors and LOOM_EXIT_STOPPED stop the vCPU until resumed. */
static void test_exec_exits(const void *data)
{
    struct spin s = { 0 };
    struct loom_cpu *cpu = spin_start(0, mode_ops(data), &s);
    struct loom_cpu_stats st;

    spin_wait_progress(&s, 3);
    __atomic_store_n(&s.ret_once, -EIO, __ATOMIC_SEQ_CST);
    WAIT_FOR(loom_cpu_is_stopped(cpu));
    g_assert_true(spin_frozen(&s));
    g_assert_cmpint(loom_cpu_stats(cpu, &st), ==, 0);
    g_assert_cmpint(st.last_error, ==, -EIO);
    loom_resume_all_vcpus();
    spin_wait_progress(&s, 3);

    __atomic_store_n(&s.ret_once, LOOM_EXIT_STOPPED, __ATOMIC_SEQ_CST);
    WAIT_FOR(loom_cpu_is_stopped(cpu));
    g_assert_true(spin_frozen(&s));
    loom_resume_all_vcpus();
    spin_wait_progress(&s, 3);

    /* KICKED (and other positive values) just loop. */
    __atomic_store_n(&s.ret_once, LOOM_EXIT_KICKED, __ATOMIC_SEQ_CST);
    spin_wait_progress(&s, 3);
    g_assert_false(loom_cpu_is_stopped(cpu));
    loom_cpu_destroy(cpu);
}

/* Runs on a vCPU: the run-state calls that must be refused there. */
static void vcpu_refusals_fn(struct loom_cpu *cpu, void *data)
{
    int *ret = data;

    ret[0] = loom_vm_stop(1);
    ret[1] = loom_vm_start();
}

static void start_other_fn(struct loom_cpu *cpu, void *data)
{
    int *ret = data;
    struct loom_cpu *other = NULL;

    g_assert_cmpint(loom_cpu_new(9, &loom_accel_dummy_rr, NULL, &other), ==,
                    0);
    *ret = loom_cpu_start(other);
    loom_cpu_destroy(other);
}

static void test_vcpu_refusals(const void *data)
{
    struct loom_cpu *cpu = cpu_start(0, mode_ops(data));
    int ret[2] = { 1, 1 };
    int start_ret = 1;

    g_assert_cmpint(loom_run_on_cpu(cpu, vcpu_refusals_fn, ret), ==, 0);
    g_assert_cmpint(ret[0], ==, -EDEADLK);
    g_assert_cmpint(ret[1], ==, -EDEADLK);
    g_assert_true(loom_vm_running());
    if (GPOINTER_TO_INT(data)) {
        /* The round-robin thread cannot wait for itself. */
        g_assert_cmpint(loom_run_on_cpu(cpu, start_other_fn, &start_ret), ==,
                        0);
        g_assert_cmpint(start_ret, ==, -EDEADLK);
    }
    loom_cpu_destroy(cpu);
}

/*
 * A walker keeps a vCPU found under RCU while another thread destroys
 * it: the vCPU stays valid and refuses work with -ESRCH.
 */
static void *destroy_thread_fn(void *arg)
{
    loom_cpu_destroy(arg);
    return NULL;
}

static void test_destroy_while_walked(const void *data)
{
    struct loom_cpu *cpu = cpu_start(3, mode_ops(data));
    struct loom_cpu *found;
    struct loom_thread *t = NULL;
    int64_t deadline = harness_now_ns() + 10000000000LL;
    int ret;

    loom_rcu_read_lock();
    found = loom_cpu_by_index(3);
    g_assert_true(found == cpu);
    g_assert_cmpint(loom_thread_create(&t, "destroyer", destroy_thread_fn,
                                       cpu, LOOM_THREAD_JOINABLE), ==, 0);
    /* Accepted items run until the vCPU dies; then -ESRCH. */
    do {
        g_assert_cmpint(harness_now_ns(), <, deadline);
        ret = loom_async_run_on_cpu(found, nop_fn, NULL);
        g_assert_true(ret == 0 || ret == -ESRCH);
        sched_yield();
    } while (ret == 0);
    g_assert_cmpint(loom_run_on_cpu(found, nop_fn, NULL), ==, -ESRCH);
    g_assert_cmpint(loom_async_safe_run_on_cpu(found, nop_fn, NULL), ==,
                    -ESRCH);
    loom_cpu_kick(found);
    loom_cpu_wake(found);
    g_assert_cmpint(loom_cpu_index(found), ==, 3);
    loom_rcu_read_unlock();
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    loom_rcu_read_lock();
    g_assert_null(loom_cpu_by_index(3));
    loom_rcu_read_unlock();
}

static void test_rr_slice(void)
{
    struct spin s[3] = { { 0 } };
    struct loom_cpu *c[3];
    int i;

    g_assert_cmpint(loom_cpu_rr_set_slice(1000000), ==, 0);
    for (i = 0; i < 3; i++) {
        c[i] = spin_start(i, &loom_accel_dummy_rr, &s[i]);
    }
    /* Spinning vCPUs share the thread: each one gets slices. */
    for (i = 0; i < 3; i++) {
        spin_wait_progress(&s[i], 1000);
    }
    for (i = 0; i < 3; i++) {
        loom_cpu_destroy(c[i]);
    }
    g_assert_cmpint(loom_cpu_rr_set_slice(10000000), ==, 0);
}

static void test_rr_kick_moves_on(void)
{
    struct spin s = { 0 };
    struct loom_cpu *busy, *idle;
    struct where w = { 0 };
    int64_t t0;
    int i;

    /* A slice far longer than the test: only kicks can move it on. */
    g_assert_cmpint(loom_cpu_rr_set_slice(60000000000LL), ==, 0);
    busy = spin_start(0, &loom_accel_dummy_rr, &s);
    idle = cpu_start(1, &loom_accel_dummy_rr);
    spin_wait_progress(&s, 10);
    t0 = harness_now_ns();
    for (i = 0; i < 20; i++) {
        g_assert_cmpint(loom_run_on_cpu(idle, where_fn, &w), ==, 0);
        g_assert_true(w.current == idle);
    }
    g_assert_cmpint(harness_now_ns() - t0, <, 30000000000LL);
    loom_cpu_destroy(busy);
    loom_cpu_destroy(idle);
    g_assert_cmpint(loom_cpu_rr_set_slice(10000000), ==, 0);
}

/* A hand-written accelerator that brackets exec itself (as KVM will). */
static int g_custom_kick;

static int custom_exec(struct loom_cpu *cpu)
{
    loom_cpu_exec_start(cpu);
    while (!__atomic_exchange_n(&g_custom_kick, 0, __ATOMIC_SEQ_CST)) {
        sched_yield();
    }
    loom_cpu_exec_end(cpu);
    return LOOM_EXIT_KICKED;
}

static void custom_kick(struct loom_cpu *cpu)
{
    __atomic_store_n(&g_custom_kick, 1, __ATOMIC_SEQ_CST);
}

static void test_custom_accel(void)
{
    static const struct loom_accel_ops ops = {
        .thread_mode = LOOM_THREAD_PER_VCPU,
        .exec = custom_exec,
        .kick = custom_kick,
    };
    struct loom_cpu *cpu = cpu_start(0, &ops);
    struct where w = { 0 };

    g_assert_cmpint(loom_run_on_cpu(cpu, where_fn, &w), ==, 0);
    loom_start_exclusive();
    loom_end_exclusive();
    loom_pause_all_vcpus();
    loom_resume_all_vcpus();
    loom_cpu_destroy(cpu);
}

/* ------------------------------------------------------------------ */
/* Contract violations (each in a subprocess)                          */
/* ------------------------------------------------------------------ */

static void pause_fn(struct loom_cpu *cpu, void *data)
{
    loom_pause_all_vcpus();
}

static void test_panic_pause_from_vcpu(void)
{
    if (g_test_subprocess()) {
        struct loom_cpu *cpu = cpu_start(0, &loom_accel_dummy);

        loom_run_on_cpu(cpu, pause_fn, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*loom_pause_all_vcpus*vCPU "
                              "thread*");
}

static void test_panic_nested_exclusive(void)
{
    if (g_test_subprocess()) {
        loom_start_exclusive();
        loom_start_exclusive();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*nested exclusive*");
}

static void test_panic_end_exclusive(void)
{
    if (g_test_subprocess()) {
        loom_end_exclusive();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*not inside an exclusive*");
}

static void test_panic_run_in_exclusive(void)
{
    if (g_test_subprocess()) {
        struct loom_cpu *cpu = cpu_start(0, &loom_accel_dummy);

        loom_start_exclusive();
        loom_run_on_cpu(cpu, nop_fn, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*loom_run_on_cpu*exclusive*");
}

static void test_panic_pause_in_exclusive(void)
{
    if (g_test_subprocess()) {
        loom_start_exclusive();
        loom_pause_all_vcpus();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*exclusive section*");
}

static void test_panic_exec_start_outside(void)
{
    if (g_test_subprocess()) {
        struct loom_cpu *cpu = NULL;

        g_assert_cmpint(loom_cpu_new(0, &loom_accel_dummy, NULL, &cpu), ==,
                        0);
        loom_cpu_exec_start(cpu);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*loom_cpu_exec_start*not called "
                              "on vcpu 0*");
}

static void exclusive_in_exec_step(struct loom_cpu *cpu, void *data)
{
    loom_cpu_exec_start(cpu);
    loom_start_exclusive();
}

static void test_panic_exclusive_in_exec(void)
{
    if (g_test_subprocess()) {
        struct loom_cpu *cpu = cpu_start(0, &loom_accel_dummy);

        loom_run_on_cpu(cpu, exclusive_in_exec_step, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*vcpu 0 is inside exec*");
}

static void destroy_self_fn(struct loom_cpu *cpu, void *data)
{
    loom_cpu_destroy(cpu);
}

static void test_panic_destroy_self(void)
{
    if (g_test_subprocess()) {
        struct loom_cpu *cpu = cpu_start(0, &loom_accel_dummy);

        loom_run_on_cpu(cpu, destroy_self_fn, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*vcpu 0*own thread*");
}

static void test_panic_destroy_twice(void)
{
    if (g_test_subprocess()) {
        struct loom_cpu *cpu = NULL;

        g_assert_cmpint(loom_cpu_new(0, &loom_accel_dummy, NULL, &cpu), ==,
                        0);
        /* The read section keeps the memory valid for the second call. */
        loom_rcu_read_lock();
        loom_cpu_destroy(cpu);
        loom_cpu_destroy(cpu);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*vcpu 0 destroyed twice*");
}

static void pause_note_fn(void *opaque, bool running, int reason)
{
    loom_pause_all_vcpus();
}

static void test_panic_pause_in_notifier(void)
{
    if (g_test_subprocess()) {
        struct loom_vm_state_notifier *n = NULL;

        g_assert_cmpint(loom_vm_add_state_notifier(pause_note_fn, NULL, &n),
                        ==, 0);
        loom_vm_stop(1);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*state-change notifier*");
}

int main(int argc, char **argv)
{
    static const char *const modes[] = { "per-vcpu", "rr" };
    int ret;
    int m;

    harness_init(&argc, &argv);
    g_test_add_func("/cpu/new-bad-args", test_new_bad_args);
    g_test_add_func("/cpu/list", test_list);
    g_test_add_func("/cpu/bad-work-args", test_bad_work_args);
    for (m = 0; m < 2; m++) {
        const void *d = GINT_TO_POINTER(m);
        static const struct {
            const char *name;
            GTestDataFunc fn;
        } cases[] = {
            { "start", test_start },
            { "start-fail", test_start_fail },
            { "run-on-cpu", test_run_on_cpu },
            { "async", test_async },
            { "async-safe", test_async_safe },
            { "exclusive", test_exclusive },
            { "kick", test_kick },
            { "kick-from-signal", test_kick_from_signal },
            { "halt-wake", test_halt_wake },
            { "pause-resume", test_pause_resume },
            { "vm-stop-start", test_vm_stop_start },
            { "exec-exits", test_exec_exits },
            { "vcpu-refusals", test_vcpu_refusals },
            { "destroy-while-walked", test_destroy_while_walked },
        };
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(cases); i++) {
            char *path = g_strdup_printf("/cpu/%s/%s", cases[i].name,
                                         modes[m]);

            g_test_add_data_func(path, d, cases[i].fn);
            g_free(path);
        }
    }
    g_test_add_func("/cpu/rr/slice", test_rr_slice);
    g_test_add_func("/cpu/rr/kick-moves-on", test_rr_kick_moves_on);
    g_test_add_func("/cpu/custom-accel", test_custom_accel);
    g_test_add_func("/cpu/panic/pause-from-vcpu", test_panic_pause_from_vcpu);
    g_test_add_func("/cpu/panic/nested-exclusive",
                    test_panic_nested_exclusive);
    g_test_add_func("/cpu/panic/end-exclusive", test_panic_end_exclusive);
    g_test_add_func("/cpu/panic/run-in-exclusive",
                    test_panic_run_in_exclusive);
    g_test_add_func("/cpu/panic/pause-in-exclusive",
                    test_panic_pause_in_exclusive);
    g_test_add_func("/cpu/panic/exec-start-outside",
                    test_panic_exec_start_outside);
    g_test_add_func("/cpu/panic/exclusive-in-exec",
                    test_panic_exclusive_in_exec);
    g_test_add_func("/cpu/panic/destroy-self", test_panic_destroy_self);
    g_test_add_func("/cpu/panic/destroy-twice", test_panic_destroy_twice);
    g_test_add_func("/cpu/panic/pause-in-notifier",
                    test_panic_pause_in_notifier);
    ret = g_test_run();
    /* Destroyed vCPUs are reclaimed through call_rcu. */
    loom_drain_call_rcu();
    return ret;
}
