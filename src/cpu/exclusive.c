/* SPDX-License-Identifier: MIT */
/*
 * Exclusive sections: a thread (a vCPU outside exec, or any other thread)
 * waits until no vCPU is inside exec and keeps them out until it ends the
 * section.  vCPUs bracket guest code with loom_cpu_exec_start()/_end(),
 * which cost two seq_cst accesses when no section is pending.
 *
 * State: g_pending (atomic, written under g_excl_lock) is 0 when no section
 * is pending or active; while a requester waits it is 1 + the number of
 * vCPUs it still waits for, and 1 once they are all out (the section is
 * active).  cpu->running (atomic) is true inside the bracket;
 * cpu->has_waiter (under g_excl_lock) marks vCPUs the requester counted.
 *
 * The fast paths rely on a store-load (Dekker) pairing, both sides seq_cst:
 *   exec_start: running = true;  then read g_pending
 *   requester:  g_pending = 1;   then read every cpu->running
 * At least one side sees the other's store:
 *  - the requester sees running: it counts the vCPU (has_waiter) and kicks
 *    it.  If the vCPU also saw g_pending it takes the lock, finds
 *    has_waiter and goes on into exec (the kick makes exec return), else
 *    it went on anyway; either way its exec_end reports to the requester.
 *  - the vCPU sees g_pending != 0 but was not counted (the requester read
 *    running before our store): under the lock, which the requester holds
 *    while counting, has_waiter is false, so it clears running and waits
 *    for the section to end before setting running again (still under the
 *    lock, so the next requester's count sees it).
 * exec_end: running = false; then read g_pending.  If the requester
 * counted us it read running == true before our store, and set g_pending
 * before that read: so we read g_pending != 0, take the lock (waiting for
 * the count to finish) and, finding has_waiter, report that we left.  If
 * we read g_pending == 0, we were not counted and owe nothing.
 */
#include <loom/cpu.h>

#include "base/atomic.h"
#include "base/check.h"
#include "cpu/cpu-int.h"

static struct loom_mutex g_excl_lock = LOOM_MUTEX_INITIALIZER;
/* The requester waits here for counted vCPUs to leave exec. */
static struct loom_cond g_excl_cond = LOOM_COND_INITIALIZER;
/* vCPUs entering exec and further requesters wait here for the end. */
static struct loom_cond g_excl_resume = LOOM_COND_INITIALIZER;
/* See the file comment.  Atomic; written under g_excl_lock. */
static int g_pending;

/* Whether the calling thread holds an exclusive section. */
static __thread bool t_in_exclusive;

bool loom__in_exclusive(void)
{
    return t_in_exclusive;
}

/* Wait until no section is pending or active.  g_excl_lock held. */
static void exclusive_idle(void)
{
    while (loom__atomic_read(&g_pending) != 0) {
        loom_cond_wait(&g_excl_resume, &g_excl_lock);
    }
}

void loom_start_exclusive(void)
{
    struct loom_cpu *self = loom__current_cpu;
    struct loom_cpu *cpu;
    int waiting = 0;

    if (t_in_exclusive) {
        loom__panic("loom_start_exclusive: nested exclusive section");
    }
    if (self && loom__atomic_read(&self->running)) {
        loom__panic("loom_start_exclusive: vcpu %d is inside exec "
                   "(between loom_cpu_exec_start and _end)", self->index);
    }

    loom_mutex_lock(&g_excl_lock);
    /* Nested requests from other threads are serialised here. */
    exclusive_idle();
    /* Pairs with the seq_cst load in loom_cpu_exec_start()/_end(). */
    loom__atomic_store_seq(&g_pending, 1);

    loom_rcu_read_lock();
    LOOM_CPU_FOREACH(cpu) {
        /* Pairs with the seq_cst store in loom_cpu_exec_start(). */
        if (loom__atomic_load_seq(&cpu->running)) {
            cpu->has_waiter = true;
            waiting++;
            loom__cpu_kick(cpu);
        }
    }
    loom_rcu_read_unlock();

    loom__atomic_store_seq(&g_pending, waiting + 1);
    while (loom__atomic_read(&g_pending) > 1) {
        loom_cond_wait(&g_excl_cond, &g_excl_lock);
    }
    loom_mutex_unlock(&g_excl_lock);
    t_in_exclusive = true;
}

void loom_end_exclusive(void)
{
    if (!t_in_exclusive) {
        loom__panic("loom_end_exclusive: not inside an exclusive section");
    }
    t_in_exclusive = false;
    loom_mutex_lock(&g_excl_lock);
    loom__atomic_store_seq(&g_pending, 0);
    loom_cond_broadcast(&g_excl_resume);
    loom_mutex_unlock(&g_excl_lock);
}

void loom_cpu_exec_start(struct loom_cpu *cpu)
{
    if (!cpu || cpu != loom__current_cpu) {
        loom__panic("loom_cpu_exec_start: not called on vcpu %d's thread",
                   cpu ? cpu->index : -1);
    }
    if (t_in_exclusive) {
        loom__panic("loom_cpu_exec_start: vcpu %d enters exec inside an "
                   "exclusive section", cpu->index);
    }
    if (loom__atomic_read(&cpu->running)) {
        loom__panic("loom_cpu_exec_start: vcpu %d is already inside exec",
                   cpu->index);
    }
    /* Pairs with the seq_cst store of 1 in loom_start_exclusive(). */
    loom__atomic_store_seq(&cpu->running, true);
    if (LOOM_LIKELY(loom__atomic_load_seq(&g_pending) == 0)) {
        return;
    }
    loom_mutex_lock(&g_excl_lock);
    if (!cpu->has_waiter) {
        /* Not counted: stay out until the section ends. */
        loom__atomic_store_seq(&cpu->running, false);
        exclusive_idle();
        loom__atomic_store_seq(&cpu->running, true);
    }
    loom_mutex_unlock(&g_excl_lock);
}

void loom_cpu_exec_end(struct loom_cpu *cpu)
{
    int pending;

    if (!cpu || cpu != loom__current_cpu) {
        loom__panic("loom_cpu_exec_end: not called on vcpu %d's thread",
                   cpu ? cpu->index : -1);
    }
    if (!loom__atomic_read(&cpu->running)) {
        loom__panic("loom_cpu_exec_end: vcpu %d is not inside exec",
                   cpu->index);
    }
    /* Pairs with the seq_cst load in loom_start_exclusive(). */
    loom__atomic_store_seq(&cpu->running, false);
    if (LOOM_LIKELY(loom__atomic_load_seq(&g_pending) == 0)) {
        return;
    }
    loom_mutex_lock(&g_excl_lock);
    if (cpu->has_waiter) {
        cpu->has_waiter = false;
        pending = loom__atomic_read(&g_pending) - 1;
        loom__atomic_store_seq(&g_pending, pending);
        if (pending == 1) {
            loom_cond_signal(&g_excl_cond);
        }
    }
    loom_mutex_unlock(&g_excl_lock);
}
