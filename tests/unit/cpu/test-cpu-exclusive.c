/* SPDX-License-Identifier: MIT */
/*
 * Exclusive sections (src/cpu/exclusive.c), in both thread modes: no vCPU
 * is in exec while one is open, and the contract violations around them.
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


/* ------------------------------------------------------------------ */
/* Contract violations (each in a subprocess)                          */
/* ------------------------------------------------------------------ */

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


int main(int argc, char **argv)
{
    static const char *const modes[] = { "per-vcpu", "rr" };
    int ret;
    int m;

    harness_init(&argc, &argv);
    for (m = 0; m < 2; m++) {
        const void *d = GINT_TO_POINTER(m);
        static const struct {
            const char *name;
            GTestDataFunc fn;
        } cases[] = {
            { "exclusive", test_exclusive },
        };
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(cases); i++) {
            char *path = g_strdup_printf("/cpu/%s/%s", cases[i].name,
                                         modes[m]);

            g_test_add_data_func(path, d, cases[i].fn);
            g_free(path);
        }
    }
    g_test_add_func("/cpu/panic/nested-exclusive", test_panic_nested_exclusive);
    g_test_add_func("/cpu/panic/end-exclusive", test_panic_end_exclusive);
    g_test_add_func("/cpu/panic/run-in-exclusive", test_panic_run_in_exclusive);
    g_test_add_func("/cpu/panic/pause-in-exclusive",
                    test_panic_pause_in_exclusive);
    g_test_add_func("/cpu/panic/exclusive-in-exec",
                    test_panic_exclusive_in_exec);
    ret = g_test_run();
    /* Destroyed vCPUs are reclaimed through call_rcu. */
    loom_drain_call_rcu();
    return ret;
}
