/* SPDX-License-Identifier: MIT */
/*
 * Stress: vCPUs are created, started (both thread modes) and destroyed in
 * a loop while other threads walk the CPU list under RCU (queueing work,
 * kicking, reading stats on whatever they find, dead or alive), pause and
 * resume everything, and open exclusive sections.  The list must always
 * be in index order, work accepted by a vCPU must run exactly once, on
 * that vCPU's thread, and work refused must say -ESRCH.
 */
#include <loom/cpu.h>

#include <errno.h>
#include <sched.h>
#include <stdint.h>

#include <loom/rcu.h>
#include <loom/thread.h>

#include "harness.h"

#define SLOTS 6
#define CYCLES 3000
#define NWALKERS 2

static int g_stop;
static int64_t g_accepted;
static int64_t g_ran;
static int64_t g_refused;
static int64_t g_walks;
static int g_bad;

static void count_fn(struct loom_cpu *cpu, void *data)
{
    if (loom_current_cpu() != cpu) {
        __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&g_ran, 1, __ATOMIC_RELAXED);
}

static int spin_step(struct loom_cpu *cpu, void *opaque)
{
    sched_yield();
    return 0;
}

static void *walker_fn(void *arg)
{
    unsigned n = 0;

    while (!__atomic_load_n(&g_stop, __ATOMIC_SEQ_CST)) {
        struct loom_cpu *cpu;
        struct loom_cpu_stats st;
        int last = -1;

        loom_rcu_read_lock();
        LOOM_CPU_FOREACH(cpu) {
            int idx = loom_cpu_index(cpu);
            int ret;

            if (idx <= last) {
                __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
            }
            last = idx;
            ret = ++n % 3 ? loom_async_run_on_cpu(cpu, count_fn, NULL)
                          : loom_async_safe_run_on_cpu(cpu, count_fn, NULL);
            if (ret == 0) {
                __atomic_add_fetch(&g_accepted, 1, __ATOMIC_RELAXED);
            } else if (ret == -ESRCH) {
                __atomic_add_fetch(&g_refused, 1, __ATOMIC_RELAXED);
            } else {
                __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
            }
            loom_cpu_kick(cpu);
            if (loom_cpu_stats(cpu, &st) != 0) {
                __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
            }
        }
        loom_rcu_read_unlock();
        __atomic_add_fetch(&g_walks, 1, __ATOMIC_RELAXED);
        sched_yield();
    }
    return NULL;
}

static void *pauser_fn(void *arg)
{
    while (!__atomic_load_n(&g_stop, __ATOMIC_SEQ_CST)) {
        loom_pause_all_vcpus();
        loom_resume_all_vcpus();
        loom_start_exclusive();
        loom_end_exclusive();
        sched_yield();
    }
    return NULL;
}

static void test_lifecycle(void)
{
    struct loom_cpu *slot[SLOTS] = { NULL };
    struct loom_thread *walkers[NWALKERS], *pauser;
    int cycle, i;

    g_assert_cmpint(loom_cpu_rr_set_slice(1000000), ==, 0);
    for (i = 0; i < NWALKERS; i++) {
        g_assert_cmpint(loom_thread_create(&walkers[i], "walker", walker_fn,
                                           NULL, LOOM_THREAD_JOINABLE), ==, 0);
    }
    g_assert_cmpint(loom_thread_create(&pauser, "pauser", pauser_fn, NULL,
                                       LOOM_THREAD_JOINABLE), ==, 0);

    for (cycle = 0; cycle < CYCLES; cycle++) {
        int s = cycle % SLOTS;

        if (slot[s]) {
            loom_cpu_destroy(slot[s]);
            slot[s] = NULL;
        } else {
            const struct loom_accel_ops *ops =
                (cycle / SLOTS) % 2 ? &loom_accel_dummy_rr : &loom_accel_dummy;

            g_assert_cmpint(loom_cpu_new(s, ops, NULL, &slot[s]), ==, 0);
            if (cycle % 4 == 0) {
                loom_accel_dummy_set_step(slot[s], spin_step, NULL);
            }
            /* Some stay unstarted: walkers see them and get -ESRCH. */
            if (cycle % 5 != 0) {
                g_assert_cmpint(loom_cpu_start(slot[s]), ==, 0);
            }
        }
    }

    __atomic_store_n(&g_stop, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < NWALKERS; i++) {
        g_assert_cmpint(loom_thread_join(walkers[i], NULL), ==, 0);
    }
    g_assert_cmpint(loom_thread_join(pauser, NULL), ==, 0);
    /* Destroying runs every accepted item first. */
    for (i = 0; i < SLOTS; i++) {
        loom_cpu_destroy(slot[i]);
    }
    loom_rcu_read_lock();
    g_assert_null(loom_cpu_first());
    loom_rcu_read_unlock();
    g_assert_cmpint(g_bad, ==, 0);
    g_assert_cmpint(g_accepted, ==, g_ran);
    g_assert_cmpint(g_walks, >, 0);
    g_test_message("%" G_GINT64_FORMAT " walks, %" G_GINT64_FORMAT
                   " items run, %" G_GINT64_FORMAT " refused",
                   g_walks, g_ran, g_refused);
    g_assert_cmpint(loom_cpu_rr_set_slice(10000000), ==, 0);
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    g_test_add_func("/cpu-stress/lifecycle", test_lifecycle);
    ret = g_test_run();
    loom_drain_call_rcu();
    return ret;
}
