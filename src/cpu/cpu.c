/* SPDX-License-Identifier: MIT */
/*
 * vCPU objects: creation, the RCU-protected CPU list, start and destroy
 * (through the thread mode's ops: cpu-thread.c or cpu-rr.c), kick, halt,
 * wake and statistics.  Everything here is entered from any thread; the
 * vCPU loop itself (cpu-exec.c and the thread modes) runs on the vCPU's
 * thread only.  The thread sleeps on one event (cpu->wake) whenever it has
 * nothing to do; every state change that may give it something to do is
 * written first and followed by loom_event_set(cpu->wake), and the thread
 * resets the event before re-checking its state, so no wake-up is lost.
 */
#include <loom/cpu.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <loom/main.h>

#include "base/atomic.h"
#include "base/check.h"
#include "cpu/cpu-int.h"

/* Writers of the CPU list, stop/stopped and life-cycle transitions. */
struct loom_mutex loom__cpu_list_lock = LOOM_MUTEX_INITIALIZER;
/* Every vCPU, in index order.  Guarded by loom__cpu_list_lock; RCU. */
struct loom_rcu_list loom__cpu_list = LOOM_RCU_LIST_INIT(loom__cpu_list);
/* Signalled under loom__cpu_list_lock when a vCPU stops or dies. */
struct loom_cond loom__cpu_pause_cond = LOOM_COND_INITIALIZER;

/* The vCPU the calling thread serves (NULL elsewhere). */
__thread struct loom_cpu *loom__current_cpu;
/* The round-robin group whose thread is calling (NULL elsewhere). */
__thread struct loom__cpu_rr *loom__current_rr;

static struct loom_cpu *cpu_of(struct loom_rcu_list_node *n)
{
    return n ? loom__container_of(n, struct loom_cpu, node) : NULL;
}

int loom_cpu_new(int index, const struct loom_accel_ops *ops, void *opaque,
                 struct loom_cpu **ret)
{
    struct loom_cpu *cpu, *pos;

    LOOM_CHECK(ret != NULL && ops != NULL && ops->exec != NULL, -EINVAL);
    LOOM_CHECK(index >= 0, -EINVAL);
    LOOM_CHECK(ops->thread_mode == LOOM_THREAD_PER_VCPU ||
               ops->thread_mode == LOOM_THREAD_ROUND_ROBIN, -EINVAL);

    cpu = calloc(1, sizeof(*cpu));
    if (!cpu) {
        return -ENOMEM;
    }
    cpu->index = index;
    cpu->ops = ops;
    cpu->opaque = opaque;
    cpu->mode = ops->thread_mode == LOOM_THREAD_ROUND_ROBIN
                    ? &loom__cpu_mode_rr
                    : &loom__cpu_mode_per_vcpu;
    cpu->state = CPU_NEW;
    loom_event_init(&cpu->created_ev, false);
    loom_event_init(&cpu->gone_ev, false);
    loom_event_init(&cpu->own_ev, false);
    cpu->wake = &cpu->own_ev;
    loom_mutex_init(&cpu->lock);
    loom__list_init(&cpu->work);
    loom__list_init(&cpu->rr_link);
    if (loom__accel_lib_attach(cpu) < 0) {
        loom_mutex_destroy(&cpu->lock);
        free(cpu);
        return -ENOMEM;
    }

    /* Keep the list sorted by index: insert before the first larger one. */
    loom_mutex_lock(&loom__cpu_list_lock);
    LOOM_RCU_LIST_FOREACH(pos, &loom__cpu_list, node) {
        if (pos->index == index) {
            loom_mutex_unlock(&loom__cpu_list_lock);
            loom_mutex_destroy(&cpu->lock);
            free(cpu->lib_accel);
            free(cpu);
            return -EEXIST;
        }
        if (pos->index > index) {
            break;
        }
    }
    /* @pos is the first larger element or the head's container. */
    loom_rcu_list_insert_before(&pos->node, &cpu->node);
    loom_mutex_unlock(&loom__cpu_list_lock);

    *ret = cpu;
    return 0;
}

struct loom_cpu *loom_cpu_first(void)
{
    return cpu_of(loom_rcu_list_first(&loom__cpu_list));
}

struct loom_cpu *loom_cpu_next(struct loom_cpu *cpu)
{
    if (!cpu) {
        return NULL;
    }
    return cpu_of(loom_rcu_list_next(&loom__cpu_list, &cpu->node));
}

struct loom_cpu *loom_cpu_by_index(int index)
{
    struct loom_cpu *cpu;

    LOOM_CPU_FOREACH(cpu) {
        if (cpu->index == index) {
            return cpu;
        }
        if (cpu->index > index) {
            break;
        }
    }
    return NULL;
}

struct loom_cpu *loom_current_cpu(void)
{
    return loom__current_cpu;
}

int loom_cpu_index(const struct loom_cpu *cpu)
{
    LOOM_CHECK(cpu != NULL, -EINVAL);
    return cpu->index;
}

void *loom_cpu_opaque(const struct loom_cpu *cpu)
{
    return cpu ? cpu->opaque : NULL;
}

void *loom_cpu_accel_state(const struct loom_cpu *cpu)
{
    return cpu ? cpu->accel_state : NULL;
}

void loom_cpu_set_accel_state(struct loom_cpu *cpu, void *state)
{
    if (cpu) {
        cpu->accel_state = state;
    }
}

bool loom__cpu_is_self(struct loom_cpu *cpu)
{
    return cpu->mode->is_self(cpu);
}

int loom_cpu_set_affinity(struct loom_cpu *cpu,
                          const struct loom_cpuset *cpus)
{
    LOOM_CHECK(cpu != NULL && cpus != NULL, -EINVAL);
    return cpu->mode->set_affinity(cpu, cpus);
}

int loom_cpu_start(struct loom_cpu *cpu)
{
    int expected = CPU_NEW;
    bool bql;
    int ret;

    LOOM_CHECK(cpu != NULL, -EINVAL);
    if (cpu->mode == &loom__cpu_mode_rr && loom__current_rr != NULL) {
        return -EDEADLK;
    }
    if (!loom__atomic_cas(&cpu->state, &expected, CPU_STARTING)) {
        return -EALREADY;
    }
    bql = loom_bql_locked();
    if (bql) {
        loom_bql_unlock();
    }
    ret = cpu->mode->start(cpu);
    if (ret < 0) {
        loom__atomic_store_seq(&cpu->state, CPU_NEW);
    }
    if (bql) {
        loom_bql_lock();
    }
    return ret;
}

static void cpu_free_rcu(struct loom_rcu_head *head)
{
    struct loom_cpu *cpu = loom__container_of(head, struct loom_cpu, rcu);

    loom_mutex_destroy(&cpu->lock);
    loom_event_destroy(&cpu->created_ev);
    loom_event_destroy(&cpu->gone_ev);
    loom_event_destroy(&cpu->own_ev);
    free(cpu->lib_accel);
    free(cpu);
}

void loom_cpu_destroy(struct loom_cpu *cpu)
{
    bool bql;
    int state;

    if (!cpu) {
        return;
    }
    if (loom__cpu_is_self(cpu)) {
        loom__panic("loom_cpu_destroy: vcpu %d called from its own thread",
                   cpu->index);
    }
    if (loom__in_exclusive()) {
        loom__panic("loom_cpu_destroy: vcpu %d destroyed inside an "
                   "exclusive section", cpu->index);
    }
    if (loom__atomic_xchg(&cpu->destroying, true)) {
        loom__panic("loom_cpu_destroy: vcpu %d destroyed twice", cpu->index);
    }
    state = loom__atomic_load_seq(&cpu->state);
    if (state == CPU_RUNNING && loom_rcu_read_locked()) {
        /* Its thread waits for a grace period before it lets go. */
        loom__panic("loom_cpu_destroy: vcpu %d destroyed inside an RCU "
                   "read section would deadlock", cpu->index);
    }
    if (state == CPU_STARTING) {
        loom__panic("loom_cpu_destroy: vcpu %d is being started",
                   cpu->index);
    }

    bql = loom_bql_locked();
    if (bql) {
        loom_bql_unlock();
    }
    if (state == CPU_RUNNING) {
        /* The thread sees unplug in its loop; see loom__cpu_finish(). */
        loom__atomic_store_seq(&cpu->unplug, true);
        loom__cpu_kick(cpu);
        cpu->mode->stop(cpu);
    }

    loom_mutex_lock(&loom__cpu_list_lock);
    loom_rcu_list_remove(&cpu->node);
    loom__atomic_store_seq(&cpu->state, CPU_DESTROYED);
    loom_mutex_unlock(&loom__cpu_list_lock);
    if (bql) {
        loom_bql_lock();
    }
    /* Walkers that found it keep a valid (dead) vCPU until they leave. */
    loom_call_rcu(&cpu->rcu, cpu_free_rcu);
}

/* ------------------------------------------------------------------ */
/* Kick, halt, wake, statistics                                        */
/* ------------------------------------------------------------------ */

void loom__cpu_kick(struct loom_cpu *cpu)
{
    loom__atomic_add_relaxed(&cpu->stats.kicks, 1);
    /*
     * ops->kick must not run once destroy_vcpu has begun: the thread sets
     * CPU_DEAD and then waits for a grace period (loom__cpu_finish()), so
     * a kicker that saw CPU_RUNNING is still inside this read section.
     * The section also keeps a round-robin group alive (cpu-rr.c).
     */
    loom_rcu_read_lock();
    loom__cpu_wake_thread(cpu);
    cpu->mode->kick(cpu);
    loom_rcu_read_unlock();
}

void loom_cpu_kick(struct loom_cpu *cpu)
{
    if (cpu) {
        loom__cpu_kick(cpu);
    }
}

void loom_cpu_halt(struct loom_cpu *cpu)
{
    if (!cpu) {
        return;
    }
    /* Also forgets a pending wake-up. */
    loom__atomic_store_seq(&cpu->halt_state, CPU_HALT_HALTED);
    loom__atomic_add_relaxed(&cpu->stats.halts, 1);
    loom__cpu_kick(cpu);
}

void loom_cpu_wake(struct loom_cpu *cpu)
{
    if (!cpu) {
        return;
    }
    int s = loom__atomic_load_seq(&cpu->halt_state);

    /*
     * HALTED -> RUNNING ends a halt and leaves nothing pending; RUNNING ->
     * WAKE_PENDING is remembered for the next LOOM_EXIT_HALTED.  Pairs
     * with the CAS in loom__cpu_exec_once().
     */
    while (s != CPU_HALT_WAKE_PENDING &&
           !loom__atomic_cas(&cpu->halt_state, &s,
                            s == CPU_HALT_HALTED ? CPU_HALT_RUNNING
                                                 : CPU_HALT_WAKE_PENDING)) {
    }
    loom__cpu_wake_thread(cpu);
}

bool loom_cpu_is_halted(struct loom_cpu *cpu)
{
    return cpu ? loom__atomic_load_seq(&cpu->halt_state) == CPU_HALT_HALTED
               : false;
}

bool loom_cpu_is_stopped(struct loom_cpu *cpu)
{
    return cpu ? loom__atomic_load_seq(&cpu->stopped) : false;
}

int loom_cpu_stats(struct loom_cpu *cpu, struct loom_cpu_stats *st)
{
    LOOM_CHECK(cpu != NULL && st != NULL, -EINVAL);
    st->exec_count = loom__atomic_read(&cpu->stats.exec_count);
    st->kicks = loom__atomic_read(&cpu->stats.kicks);
    st->work_items = loom__atomic_read(&cpu->stats.work_items);
    st->safe_work_items = loom__atomic_read(&cpu->stats.safe_work_items);
    st->halts = loom__atomic_read(&cpu->stats.halts);
    st->stops = loom__atomic_read(&cpu->stats.stops);
    st->last_error = loom__atomic_read(&cpu->stats.last_error);
    return 0;
}

