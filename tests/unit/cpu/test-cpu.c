/* SPDX-License-Identifier: MIT */
/*
 * vCPU objects and their life (src/cpu/cpu.c and the thread modes), with
 * the dummy accelerator in both thread modes: creation and the CPU list,
 * start (and a failing init_vcpu), kick (also from a signal handler),
 * halt/wake, exec exits, destruction while walked, round-robin slices, a
 * hand-written accelerator, and the contract violations.
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


static void test_kick(const void *data)
{
    struct loom_cpu *cpu = cpu_start(0, mode_ops(data));
    struct loom_cpu_stats st, st2;
    int i;

    g_assert_cmpint(loom_cpu_stats(cpu, &st), ==, 0);
    for (i = 0; i < 5; i++) {
        loom_cpu_kick(cpu);
        /* An idle dummy vCPU waits in exec: each kick gets it out. */
        WAIT_UNTIL(loom_cpu_stats(cpu, &st2) == 0 &&
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
        WAIT_UNTIL(loom_cpu_stats(g_sig_cpu, &st2) == 0 &&
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
    WAIT_UNTIL(loom_cpu_is_halted(cpu));
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
    WAIT_UNTIL(spin_frozen(&s));
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


/* exec errors and LOOM_EXIT_STOPPED stop the vCPU until resumed. */
static void test_exec_exits(const void *data)
{
    struct spin s = { 0 };
    struct loom_cpu *cpu = spin_start(0, mode_ops(data), &s);
    struct loom_cpu_stats st;

    spin_wait_progress(&s, 3);
    __atomic_store_n(&s.ret_once, -EIO, __ATOMIC_SEQ_CST);
    WAIT_UNTIL(loom_cpu_is_stopped(cpu));
    g_assert_true(spin_frozen(&s));
    g_assert_cmpint(loom_cpu_stats(cpu, &st), ==, 0);
    g_assert_cmpint(st.last_error, ==, -EIO);
    loom_resume_all_vcpus();
    spin_wait_progress(&s, 3);

    __atomic_store_n(&s.ret_once, LOOM_EXIT_STOPPED, __ATOMIC_SEQ_CST);
    WAIT_UNTIL(loom_cpu_is_stopped(cpu));
    g_assert_true(spin_frozen(&s));
    loom_resume_all_vcpus();
    spin_wait_progress(&s, 3);

    /* KICKED (and other positive values) just loop. */
    __atomic_store_n(&s.ret_once, LOOM_EXIT_KICKED, __ATOMIC_SEQ_CST);
    spin_wait_progress(&s, 3);
    g_assert_false(loom_cpu_is_stopped(cpu));
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
    int64_t deadline = harness_now_ns() + HARNESS_WATCHDOG_NS;
    int ret;

    loom_rcu_read_lock();
    found = loom_cpu_by_index(3);
    g_assert_true(found == cpu);
    g_assert_cmpint(loom_thread_create(&t, "destroyer", destroy_thread_fn,
                                       cpu, LOOM_THREAD_JOINABLE), ==, 0);
    /* Accepted items run until the vCPU dies; then -ESRCH. */
    do {
        harness_watchdog(deadline, "the dying vCPU refuses work");
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


int main(int argc, char **argv)
{
    static const char *const modes[] = { "per-vcpu", "rr" };
    int ret;
    int m;

    harness_init(&argc, &argv);
    g_test_add_func("/cpu/new-bad-args", test_new_bad_args);
    g_test_add_func("/cpu/list", test_list);
    for (m = 0; m < 2; m++) {
        const void *d = GINT_TO_POINTER(m);
        static const struct {
            const char *name;
            GTestDataFunc fn;
        } cases[] = {
            { "start", test_start },
            { "start-fail", test_start_fail },
            { "kick", test_kick },
            { "kick-from-signal", test_kick_from_signal },
            { "halt-wake", test_halt_wake },
            { "exec-exits", test_exec_exits },
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
    g_test_add_func("/cpu/panic/exec-start-outside",
                    test_panic_exec_start_outside);
    g_test_add_func("/cpu/panic/destroy-self", test_panic_destroy_self);
    g_test_add_func("/cpu/panic/destroy-twice", test_panic_destroy_twice);
    ret = g_test_run();
    /* Destroyed vCPUs are reclaimed through call_rcu. */
    loom_drain_call_rcu();
    return ret;
}
