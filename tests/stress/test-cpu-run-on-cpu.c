/* SPDX-License-Identifier: MIT */
/*
 * Stress: 8 vCPUs (dummy accelerator, each thread mode in turn) spinning in
 * exec and taking the BQL now and then, while 3 producer threads queue
 * loom_async_run_on_cpu() items on every vCPU and the main thread keeps
 * calling loom_run_on_cpu() with the BQL held.  Every item must run exactly
 * once, on its vCPU's thread, and nothing may deadlock.
 */
#include <loom/cpu.h>

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include <loom/main.h>
#include <loom/rcu.h>
#include <loom/thread.h>

#include "harness.h"

#define NCPUS 8
#define NPRODUCERS 3
#define PER_PRODUCER_PER_CPU 100000
#define NITEMS ((uint64_t)NCPUS * NPRODUCERS * PER_PRODUCER_PER_CPU)

static struct loom_cpu *g_cpus[NCPUS];
static uint8_t *g_counts; /* one per item, relaxed atomics */
static int g_wrong;       /* items that ran on the wrong thread */
static int g_producers_done;
static int64_t g_steps[NCPUS];
static int g_bql_count; /* protected by the BQL */

static void item_fn(struct loom_cpu *cpu, void *data)
{
    uint64_t id = (uintptr_t)data;
    int want = (int)(id % NCPUS);

    if (loom_current_cpu() != cpu || loom_cpu_index(cpu) != want) {
        __atomic_add_fetch(&g_wrong, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&g_counts[id], 1, __ATOMIC_RELAXED);
}

/* The vCPUs take the BQL now and then, inside exec. */
static int step_fn(struct loom_cpu *cpu, void *opaque)
{
    int64_t *steps = opaque;
    int64_t n = __atomic_add_fetch(steps, 1, __ATOMIC_RELAXED);

    if (n % 256 == 0) {
        loom_bql_lock();
        g_bql_count++;
        loom_bql_unlock();
    }
    if (n % 4096 == 0) {
        sched_yield();
    }
    return 0;
}

static void *producer_fn(void *arg)
{
    uint64_t first = (uintptr_t)arg * NCPUS * PER_PRODUCER_PER_CPU;
    uint64_t i;

    for (i = 0; i < (uint64_t)NCPUS * PER_PRODUCER_PER_CPU; i++) {
        uint64_t id = first + i;

        g_assert_cmpint(loom_async_run_on_cpu(g_cpus[id % NCPUS], item_fn,
                                              (void *)(uintptr_t)id), ==, 0);
    }
    __atomic_add_fetch(&g_producers_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Synchronous work that needs the BQL its caller held. */
static void bql_fn(struct loom_cpu *cpu, void *data)
{
    int *n = data;

    loom_bql_lock();
    (*n)++;
    g_bql_count++;
    loom_bql_unlock();
}

static void nop_fn(struct loom_cpu *cpu, void *data)
{
}

static void run(const struct loom_accel_ops *ops)
{
    struct loom_thread *prod[NPRODUCERS];
    uint64_t id, total = 0;
    int sync_runs = 0, sync_done = 0;
    int i;

    g_counts = calloc(NITEMS, 1);
    g_assert_nonnull(g_counts);
    g_wrong = 0;
    g_producers_done = 0;
    for (i = 0; i < NCPUS; i++) {
        g_steps[i] = 0;
        g_assert_cmpint(loom_cpu_new(i, ops, NULL, &g_cpus[i]), ==, 0);
        loom_accel_dummy_set_step(g_cpus[i], step_fn, &g_steps[i]);
        g_assert_cmpint(loom_cpu_start(g_cpus[i]), ==, 0);
    }
    for (i = 0; i < NPRODUCERS; i++) {
        g_assert_cmpint(loom_thread_create(&prod[i], "producer", producer_fn,
                                           (void *)(uintptr_t)i,
                                           LOOM_THREAD_JOINABLE), ==, 0);
    }
    /* Meanwhile: synchronous work with the BQL held. */
    while (__atomic_load_n(&g_producers_done, __ATOMIC_SEQ_CST) <
           NPRODUCERS) {
        loom_bql_lock();
        g_assert_cmpint(loom_run_on_cpu(g_cpus[sync_runs % NCPUS], bql_fn,
                                        &sync_done), ==, 0);
        g_assert_true(loom_bql_locked());
        loom_bql_unlock();
        sync_runs++;
    }
    for (i = 0; i < NPRODUCERS; i++) {
        g_assert_cmpint(loom_thread_join(prod[i], NULL), ==, 0);
    }
    /* Each queue is FIFO: a synchronous item after them is a barrier. */
    for (i = 0; i < NCPUS; i++) {
        g_assert_cmpint(loom_run_on_cpu(g_cpus[i], nop_fn, NULL), ==, 0);
    }
    g_assert_cmpint(sync_done, ==, sync_runs);
    g_assert_cmpint(g_wrong, ==, 0);
    for (id = 0; id < NITEMS; id++) {
        if (g_counts[id] != 1) {
            g_error("item %" G_GUINT64_FORMAT " ran %d times", id,
                    g_counts[id]);
        }
    }
    for (i = 0; i < NCPUS; i++) {
        struct loom_cpu_stats st;

        g_assert_cmpint(loom_cpu_stats(g_cpus[i], &st), ==, 0);
        total += st.work_items;
        loom_cpu_destroy(g_cpus[i]);
    }
    g_assert_cmpuint(total, ==, NITEMS + (uint64_t)sync_runs + NCPUS);
    free(g_counts);
    g_test_message("%d synchronous runs, %d BQL sections", sync_runs,
                   g_bql_count);
}

static void test_per_vcpu(void)
{
    run(&loom_accel_dummy);
}

static void test_round_robin(void)
{
    /* Short slices so that spinning vCPUs share the thread briskly. */
    g_assert_cmpint(loom_cpu_rr_set_slice(1000000), ==, 0);
    run(&loom_accel_dummy_rr);
    g_assert_cmpint(loom_cpu_rr_set_slice(10000000), ==, 0);
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    g_test_add_func("/cpu-stress/run-on-cpu/per-vcpu", test_per_vcpu);
    g_test_add_func("/cpu-stress/run-on-cpu/rr", test_round_robin);
    ret = g_test_run();
    loom_drain_call_rcu();
    return ret;
}
