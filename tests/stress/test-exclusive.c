/* SPDX-License-Identifier: MIT */
/*
 * Stress: exclusive sections and loom_async_safe_run_on_cpu() against
 * vCPUs that spin inside exec.  The accelerator here is instrumented: it
 * counts the vCPUs between its loom_cpu_exec_start() and _end(), and every
 * exclusive section checks, all along, that the count is zero and that it
 * is the only section.  Sections come from two plain threads, from safe
 * work queued by a third, and from vCPU threads themselves (async work
 * that starts a section), 1,000 iterations each; all must complete (no
 * starvation) and the vCPUs must keep running in between.
 */
#include <loom/cpu.h>

#include <sched.h>
#include <stdint.h>

#include <loom/rcu.h>
#include <loom/thread.h>

#include "harness.h"

#define NCPUS 4
#define ITERS 1000

/* vCPUs inside the exec bracket, over all vCPUs. */
static int g_in_exec;
/* Exclusive sections in progress (must never exceed 1). */
static int g_in_section;
/* Violations seen (checked at the end, so a vCPU never asserts). */
static int g_bad;

struct inst {
    int kick;      /* atomic */
    int64_t execs; /* atomic */
};

static struct inst g_inst[NCPUS];
static struct loom_cpu *g_cpus[NCPUS];

static int inst_exec(struct loom_cpu *cpu)
{
    struct inst *in = loom_cpu_accel_state(cpu);

    loom_cpu_exec_start(cpu);
    __atomic_add_fetch(&g_in_exec, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&in->execs, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&g_in_section, __ATOMIC_SEQ_CST) != 0) {
        __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
    }
    while (!__atomic_exchange_n(&in->kick, 0, __ATOMIC_SEQ_CST)) {
        /* "Guest code". */
        if (__atomic_load_n(&g_in_section, __ATOMIC_SEQ_CST) != 0) {
            __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
        }
        sched_yield();
    }
    __atomic_sub_fetch(&g_in_exec, 1, __ATOMIC_SEQ_CST);
    loom_cpu_exec_end(cpu);
    return LOOM_EXIT_KICKED;
}

static void inst_kick(struct loom_cpu *cpu)
{
    struct inst *in = loom_cpu_accel_state(cpu);

    __atomic_store_n(&in->kick, 1, __ATOMIC_SEQ_CST);
}

static struct loom_accel_ops g_ops = {
    .exec = inst_exec,
    .kick = inst_kick,
};

/* Body of every exclusive section. */
static void section_body(void)
{
    int i;

    if (__atomic_add_fetch(&g_in_section, 1, __ATOMIC_SEQ_CST) != 1) {
        __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
    }
    for (i = 0; i < 3; i++) {
        if (__atomic_load_n(&g_in_exec, __ATOMIC_SEQ_CST) != 0) {
            __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
        }
        sched_yield();
    }
    __atomic_sub_fetch(&g_in_section, 1, __ATOMIC_SEQ_CST);
}

static int g_safe_ran;
static int g_vcpu_sections;

static void safe_fn(struct loom_cpu *cpu, void *data)
{
    if (loom_current_cpu() != cpu) {
        __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
    }
    section_body();
    __atomic_add_fetch(&g_safe_ran, 1, __ATOMIC_SEQ_CST);
}

/* Async work that opens a section from the vCPU thread itself. */
static void vcpu_section_fn(struct loom_cpu *cpu, void *data)
{
    loom_start_exclusive();
    section_body();
    loom_end_exclusive();
    __atomic_add_fetch(&g_vcpu_sections, 1, __ATOMIC_SEQ_CST);
}

static void nop_fn(struct loom_cpu *cpu, void *data)
{
}

static void *requester_fn(void *arg)
{
    int i;

    for (i = 0; i < ITERS; i++) {
        loom_start_exclusive();
        section_body();
        loom_end_exclusive();
    }
    return NULL;
}

static void *queuer_fn(void *arg)
{
    loom_cpu_fn *fn = arg;
    int i;

    for (i = 0; i < ITERS; i++) {
        int ret = fn == safe_fn
                      ? loom_async_safe_run_on_cpu(g_cpus[i % NCPUS], fn,
                                                   NULL)
                      : loom_async_run_on_cpu(g_cpus[i % NCPUS], fn, NULL);

        g_assert_cmpint(ret, ==, 0);
        if (i % 16 == 0) {
            sched_yield();
        }
    }
    return NULL;
}

static void run(enum loom_cpu_thread_mode mode)
{
    struct loom_thread *t[4];
    int64_t before[NCPUS];
    int i;

    g_ops.thread_mode = mode;
    g_in_exec = g_in_section = g_bad = 0;
    g_safe_ran = g_vcpu_sections = 0;
    for (i = 0; i < NCPUS; i++) {
        g_inst[i].kick = 0;
        g_inst[i].execs = 0;
        g_assert_cmpint(loom_cpu_new(i, &g_ops, NULL, &g_cpus[i]), ==, 0);
        loom_cpu_set_accel_state(g_cpus[i], &g_inst[i]);
        g_assert_cmpint(loom_cpu_start(g_cpus[i]), ==, 0);
    }
    g_assert_cmpint(loom_thread_create(&t[0], "req-a", requester_fn, NULL,
                                       LOOM_THREAD_JOINABLE), ==, 0);
    g_assert_cmpint(loom_thread_create(&t[1], "req-b", requester_fn, NULL,
                                       LOOM_THREAD_JOINABLE), ==, 0);
    g_assert_cmpint(loom_thread_create(&t[2], "safe", queuer_fn, safe_fn,
                                       LOOM_THREAD_JOINABLE), ==, 0);
    g_assert_cmpint(loom_thread_create(&t[3], "vcpu-sect", queuer_fn,
                                       vcpu_section_fn,
                                       LOOM_THREAD_JOINABLE), ==, 0);
    for (i = 0; i < 4; i++) {
        g_assert_cmpint(loom_thread_join(t[i], NULL), ==, 0);
    }
    /* Queued work is done once a synchronous item behind it ran. */
    for (i = 0; i < NCPUS; i++) {
        g_assert_cmpint(loom_run_on_cpu(g_cpus[i], nop_fn, NULL), ==, 0);
    }
    g_assert_cmpint(g_safe_ran, ==, ITERS);
    g_assert_cmpint(g_vcpu_sections, ==, ITERS);
    g_assert_cmpint(g_bad, ==, 0);
    g_assert_cmpint(g_in_section, ==, 0);

    /* Not starved either way: every vCPU still enters exec. */
    for (i = 0; i < NCPUS; i++) {
        before[i] = __atomic_load_n(&g_inst[i].execs, __ATOMIC_SEQ_CST);
        loom_cpu_kick(g_cpus[i]);
    }
    for (i = 0; i < NCPUS; i++) {
        STEP_UNTIL(__atomic_load_n(&g_inst[i].execs, __ATOMIC_SEQ_CST) >
                       before[i],
                   (loom_cpu_kick(g_cpus[i]), sched_yield()));
    }
    for (i = 0; i < NCPUS; i++) {
        loom_cpu_destroy(g_cpus[i]);
    }
}

static void test_per_vcpu(void)
{
    run(LOOM_THREAD_PER_VCPU);
}

static void test_round_robin(void)
{
    g_assert_cmpint(loom_cpu_rr_set_slice(1000000), ==, 0);
    run(LOOM_THREAD_ROUND_ROBIN);
    g_assert_cmpint(loom_cpu_rr_set_slice(10000000), ==, 0);
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    g_test_add_func("/exclusive/per-vcpu", test_per_vcpu);
    g_test_add_func("/exclusive/rr", test_round_robin);
    ret = g_test_run();
    loom_drain_call_rcu();
    return ret;
}
