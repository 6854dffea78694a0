/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the vCPU layer's unit tests (tests/unit/cpu/): the
 * thread mode of a data-driven case, starting vCPUs, a spinning dummy
 * "guest" and a work item that records where it ran.
 */
#ifndef LOOM_TEST_CPU_TEST_H
#define LOOM_TEST_CPU_TEST_H

#include <loom/cpu.h>

#include <stdbool.h>
#include <stdint.h>

#include <loom/main.h>
#include <loom/thread.h>

#include "harness.h"

static __attribute__((unused)) int64_t aload(int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static __attribute__((unused)) const struct loom_accel_ops *mode_ops(const void *data)
{
    return GPOINTER_TO_INT(data) ? &loom_accel_dummy_rr : &loom_accel_dummy;
}

static __attribute__((unused)) struct loom_cpu *cpu_start(int index, const struct loom_accel_ops *ops)
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

static __attribute__((unused)) int spin_step(struct loom_cpu *cpu, void *opaque)
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
static __attribute__((unused)) struct loom_cpu *spin_start(int index,
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
static __attribute__((unused)) bool spin_frozen(struct spin *s)
{
    int64_t before = aload(&s->steps);
    int i;

    for (i = 0; i < 300; i++) {
        sched_yield();
    }
    return aload(&s->steps) == before;
}

/* Wait until @s made @n more steps. */
static __attribute__((unused)) void spin_wait_progress(struct spin *s, int64_t n)
{
    int64_t target = aload(&s->steps) + n;

    WAIT_UNTIL(aload(&s->steps) >= target);
}


/* What a work item saw about the thread it ran on. */
struct where {
    struct loom_cpu *current;
    char name[16];
    bool bql;
    int ran;
};

static __attribute__((unused)) void where_fn(struct loom_cpu *cpu, void *data)
{
    struct where *w = data;
    const char *name = loom_thread_self_name();

    w->current = loom_current_cpu();
    g_strlcpy(w->name, name ? name : "", sizeof(w->name));
    w->bql = loom_bql_locked();
    w->ran++;
}


static __attribute__((unused)) void nop_fn(struct loom_cpu *cpu, void *data)
{
    (void)cpu;
    (void)data;
}


#endif /* LOOM_TEST_CPU_TEST_H */
