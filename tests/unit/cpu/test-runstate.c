/* SPDX-License-Identifier: MIT */
/*
 * Run state (src/cpu/runstate.c), in both thread modes: pause and resume
 * of every vCPU, VM stop/start with the virtual clock and the state
 * notifiers, the calls a vCPU thread may not make, and the contract
 * violations.
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
    WAIT_UNTIL(!loom_cpu_is_stopped(late));
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
    WAIT_UNTIL(loom_clock_ns(LOOM_CLOCK_HOST) > h + 2000000);
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
    WAIT_UNTIL(loom_clock_ns(LOOM_CLOCK_VIRTUAL) > v2);
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
    for (m = 0; m < 2; m++) {
        const void *d = GINT_TO_POINTER(m);
        static const struct {
            const char *name;
            GTestDataFunc fn;
        } cases[] = {
            { "pause-resume", test_pause_resume },
            { "vm-stop-start", test_vm_stop_start },
            { "vcpu-refusals", test_vcpu_refusals },
        };
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(cases); i++) {
            char *path = g_strdup_printf("/cpu/%s/%s", cases[i].name,
                                         modes[m]);

            g_test_add_data_func(path, d, cases[i].fn);
            g_free(path);
        }
    }
    g_test_add_func("/cpu/panic/pause-from-vcpu", test_panic_pause_from_vcpu);
    g_test_add_func("/cpu/panic/pause-in-notifier",
                    test_panic_pause_in_notifier);
    ret = g_test_run();
    /* Destroyed vCPUs are reclaimed through call_rcu. */
    loom_drain_call_rcu();
    return ret;
}
