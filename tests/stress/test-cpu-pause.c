/* SPDX-License-Identifier: MIT */
/*
 * Stress: 4 vCPUs spin in exec (dummy accelerator, each thread mode in
 * turn) while the main thread pauses and resumes them 1,000 times and then
 * stops and starts the VM 1,000 times, and a helper thread keeps queueing
 * work.  After each pause every vCPU reports stopped and makes no step;
 * while the VM is stopped LOOM_CLOCK_VIRTUAL does not move; after each
 * resume the vCPUs run again.
 */
#include <loom/cpu.h>

#include <sched.h>
#include <stdint.h>

#include <loom/clock.h>
#include <loom/main.h>
#include <loom/rcu.h>
#include <loom/thread.h>

#include "harness.h"

#define NCPUS 4
#define ITERS 1000

static struct loom_cpu *g_cpus[NCPUS];
static int64_t g_steps[NCPUS];
static int g_stop_helper;
static int64_t g_helper_items;
static int g_bad;

static int step_fn(struct loom_cpu *cpu, void *opaque)
{
    int64_t *steps = opaque;

    /* Guest code never runs while the VM is stopped. */
    if (!loom_vm_running()) {
        __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
    }
    /* Spin politely: on few cores the pausing thread needs its turn. */
    if (__atomic_add_fetch(steps, 1, __ATOMIC_SEQ_CST) % 16 == 0) {
        sched_yield();
    }
    return 0;
}

static void count_fn(struct loom_cpu *cpu, void *data)
{
    __atomic_add_fetch(&g_helper_items, 1, __ATOMIC_RELAXED);
}

static void *helper_fn(void *arg)
{
    unsigned i = 0;

    while (!__atomic_load_n(&g_stop_helper, __ATOMIC_SEQ_CST)) {
        g_assert_cmpint(loom_run_on_cpu(g_cpus[i++ % NCPUS], count_fn, NULL),
                        ==, 0);
        if (i % 8 == 0) {
            sched_yield();
        }
    }
    return NULL;
}

static int64_t steps_sum(void)
{
    int64_t sum = 0;
    int i;

    for (i = 0; i < NCPUS; i++) {
        sum += __atomic_load_n(&g_steps[i], __ATOMIC_SEQ_CST);
    }
    return sum;
}

/* Wait until every vCPU made a step (they do run between pauses). */
static void wait_all_step(void)
{
    int64_t before[NCPUS];
    int i;

    for (i = 0; i < NCPUS; i++) {
        before[i] = __atomic_load_n(&g_steps[i], __ATOMIC_SEQ_CST);
    }
    for (i = 0; i < NCPUS; i++) {
        WAIT_UNTIL(__atomic_load_n(&g_steps[i], __ATOMIC_SEQ_CST) != before[i]);
    }
}

static void check_stopped(void)
{
    int64_t s;
    int i;

    for (i = 0; i < NCPUS; i++) {
        g_assert_true(loom_cpu_is_stopped(g_cpus[i]));
    }
    s = steps_sum();
    for (i = 0; i < 5; i++) {
        sched_yield();
    }
    g_assert_cmpint(steps_sum(), ==, s);
}

static void run(const struct loom_accel_ops *ops)
{
    struct loom_thread *helper;
    int i, it;

    g_stop_helper = 0;
    g_bad = 0;
    for (i = 0; i < NCPUS; i++) {
        g_steps[i] = 0;
        g_assert_cmpint(loom_cpu_new(i, ops, NULL, &g_cpus[i]), ==, 0);
        loom_accel_dummy_set_step(g_cpus[i], step_fn, &g_steps[i]);
        g_assert_cmpint(loom_cpu_start(g_cpus[i]), ==, 0);
    }
    g_assert_cmpint(loom_thread_create(&helper, "helper", helper_fn, NULL,
                                       LOOM_THREAD_JOINABLE), ==, 0);

    for (it = 0; it < ITERS; it++) {
        if (it % 50 == 0) {
            wait_all_step();
        }
        if (it % 2) {
            loom_bql_lock();
        }
        loom_pause_all_vcpus();
        check_stopped();
        loom_resume_all_vcpus();
        if (it % 2) {
            loom_bql_unlock();
        }
    }
    for (it = 0; it < ITERS; it++) {
        int64_t v1, v2;

        if (it % 50 == 0) {
            wait_all_step();
        }
        g_assert_cmpint(loom_vm_stop(it + 1), ==, 0);
        check_stopped();
        v1 = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
        sched_yield();
        v2 = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
        g_assert_cmpint(v1, ==, v2);
        g_assert_cmpint(loom_vm_start(), ==, 0);
    }
    wait_all_step();

    __atomic_store_n(&g_stop_helper, 1, __ATOMIC_SEQ_CST);
    g_assert_cmpint(loom_thread_join(helper, NULL), ==, 0);
    g_assert_cmpint(g_bad, ==, 0);
    g_assert_cmpint(g_helper_items, >, 0);
    for (i = 0; i < NCPUS; i++) {
        struct loom_cpu_stats st;

        g_assert_cmpint(loom_cpu_stats(g_cpus[i], &st), ==, 0);
        g_assert_cmpuint(st.stops, ==, 2 * ITERS);
        loom_cpu_destroy(g_cpus[i]);
    }
}

static void test_per_vcpu(void)
{
    run(&loom_accel_dummy);
}

static void test_round_robin(void)
{
    g_assert_cmpint(loom_cpu_rr_set_slice(1000000), ==, 0);
    run(&loom_accel_dummy_rr);
    g_assert_cmpint(loom_cpu_rr_set_slice(10000000), ==, 0);
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    g_test_add_func("/cpu-stress/pause/per-vcpu", test_per_vcpu);
    g_test_add_func("/cpu-stress/pause/rr", test_round_robin);
    ret = g_test_run();
    loom_drain_call_rcu();
    return ret;
}
