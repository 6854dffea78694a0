/* SPDX-License-Identifier: MIT */
/*
 * loom_cpu_set_affinity(): a vCPU thread pinned before it starts runs on
 * the set from the start; a running one moves; round-robin vCPUs refuse;
 * bad sets are -EINVAL.  The thread's affinity is read on the vCPU thread
 * itself, through loom_run_on_cpu().
 */
#include <loom/cpu.h>

#include <errno.h>
#include <string.h>

#include <loom/thread.h>

#include "harness.h"

static void read_affinity(struct loom_cpu *cpu, void *data)
{
    harness_self_cpuset(data);
}

static void test_pinned_start(void)
{
    struct loom_cpuset one, seen, all;
    struct loom_cpu *cpu = NULL;

    loom_cpuset_zero(&one);
    g_assert_cmpint(loom_cpuset_set(&one, harness_last_cpu()), ==, 0);
    g_assert_cmpint(loom_cpu_new(0, &loom_accel_dummy, NULL, &cpu), ==, 0);
    g_assert_cmpint(loom_cpu_set_affinity(cpu, &one), ==, 0);
    g_assert_cmpint(loom_cpu_start(cpu), ==, 0);
    g_assert_cmpint(loom_run_on_cpu(cpu, read_affinity, &seen), ==, 0);
    g_assert_true(memcmp(&seen, &one, sizeof(one)) == 0);

    /* Running: it moves now. */
    harness_self_cpuset(&all);
    g_assert_cmpint(loom_cpu_set_affinity(cpu, &all), ==, 0);
    g_assert_cmpint(loom_run_on_cpu(cpu, read_affinity, &seen), ==, 0);
    g_assert_true(memcmp(&seen, &all, sizeof(all)) == 0);
    loom_cpu_destroy(cpu);
}

static void test_unpinned_inherits(void)
{
    struct loom_cpuset seen, mine;
    struct loom_cpu *cpu = NULL;

    harness_self_cpuset(&mine);
    g_assert_cmpint(loom_cpu_new(1, &loom_accel_dummy, NULL, &cpu), ==, 0);
    g_assert_cmpint(loom_cpu_start(cpu), ==, 0);
    g_assert_cmpint(loom_run_on_cpu(cpu, read_affinity, &seen), ==, 0);
    g_assert_true(memcmp(&seen, &mine, sizeof(mine)) == 0);
    loom_cpu_destroy(cpu);
}

static void test_bad(void)
{
    struct loom_cpuset one, empty;
    struct loom_cpu *cpu = NULL, *rr = NULL;

    loom_cpuset_zero(&one);
    loom_cpuset_zero(&empty);
    g_assert_cmpint(loom_cpuset_set(&one, 0), ==, 0);
    g_assert_cmpint(loom_cpu_new(2, &loom_accel_dummy, NULL, &cpu), ==, 0);
    g_assert_cmpint(loom_cpu_set_affinity(cpu, &empty), ==, -EINVAL);
    g_assert_cmpint(loom_cpu_set_affinity(cpu, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_cpu_set_affinity(NULL, &one), ==, -EINVAL);
    g_assert_cmpint(loom_cpu_new(3, &loom_accel_dummy_rr, NULL, &rr), ==, 0);
    g_assert_cmpint(loom_cpu_set_affinity(rr, &one), ==, -ENOTSUP);
    loom_cpu_destroy(cpu);
    loom_cpu_destroy(rr);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/cpu-affinity/pinned-start", test_pinned_start);
    g_test_add_func("/cpu-affinity/unpinned-inherits", test_unpinned_inherits);
    g_test_add_func("/cpu-affinity/bad", test_bad);
    return g_test_run();
}
