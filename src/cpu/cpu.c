/* SPDX-License-Identifier: MIT */
/*
 * vCPU objects: creation, the RCU-protected CPU list, the thread of a
 * LOOM_THREAD_PER_VCPU vCPU and the parts of the vCPU loop shared with the
 * round-robin thread (cpu-rr.c): stop acknowledgement, exec, halt, death.
 * Kick, halt and wake come from any thread; the loop runs on the vCPU's
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
    return n ? loom_container_of(n, struct loom_cpu, node) : NULL;
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
    cpu->rr_mode = ops->thread_mode == LOOM_THREAD_ROUND_ROBIN;
    cpu->state = CPU_NEW;
    loom_event_init(&cpu->created_ev, false);
    loom_event_init(&cpu->gone_ev, false);
    loom_event_init(&cpu->own_ev, false);
    loom_event_init(&cpu->dummy_ev, false);
    cpu->wake = &cpu->own_ev;
    loom_mutex_init(&cpu->lock);
    loom_list_init(&cpu->work);
    loom_list_init(&cpu->rr_link);

    /* Keep the list sorted by index: insert before the first larger one. */
    loom_mutex_lock(&loom__cpu_list_lock);
    LOOM_RCU_LIST_FOREACH(pos, &loom__cpu_list, node) {
        if (pos->index == index) {
            loom_mutex_unlock(&loom__cpu_list_lock);
            loom_mutex_destroy(&cpu->lock);
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
    if (cpu->rr_mode) {
        return loom__current_rr != NULL &&
               loom__current_rr == loom_atomic_load_acquire(&cpu->rr);
    }
    return loom__current_cpu == cpu;
}

/* ------------------------------------------------------------------ */
/* The vCPU loop's building blocks (both thread modes)                 */
/* ------------------------------------------------------------------ */

/*
 * The thread is up: accept work, and start stopped if every vCPU is
 * paused (so that a vCPU started during a pause does not run).
 */
void loom__cpu_mark_running(struct loom_cpu *cpu)
{
    loom_mutex_lock(&loom__cpu_list_lock);
    loom_mutex_lock(&cpu->lock);
    if (loom__cpu_paused()) {
        loom_atomic_store_seq(&cpu->stopped, true);
    }
    /* Pairs with the acquire load in loom__cpu_kick_internal(). */
    loom_atomic_store_release(&cpu->state, CPU_RUNNING);
    loom_mutex_unlock(&cpu->lock);
    loom_mutex_unlock(&loom__cpu_list_lock);
}

/*
 * Acknowledge a pause request.  stop and stopped change together under the
 * list lock, which loom_pause_all_vcpus() holds while it checks them, so
 * it never sees a vCPU that is neither asked to stop nor stopped.
 */
void loom__cpu_handle_stop(struct loom_cpu *cpu)
{
    if (!loom_atomic_load_seq(&cpu->stop)) {
        return;
    }
    loom_mutex_lock(&loom__cpu_list_lock);
    if (loom_atomic_read(&cpu->stop)) {
        loom_atomic_store_seq(&cpu->stop, false);
        loom_atomic_store_seq(&cpu->stopped, true);
        loom_atomic_add_relaxed(&cpu->stats.stops, 1);
        loom_cond_broadcast(&loom__cpu_pause_cond);
    }
    loom_mutex_unlock(&loom__cpu_list_lock);
}

/* The vCPU stops itself (LOOM_EXIT_STOPPED or an exec error). */
static void cpu_stop_self(struct loom_cpu *cpu)
{
    loom_mutex_lock(&loom__cpu_list_lock);
    loom_atomic_store_seq(&cpu->stopped, true);
    loom_atomic_add_relaxed(&cpu->stats.stops, 1);
    loom_cond_broadcast(&loom__cpu_pause_cond);
    loom_mutex_unlock(&loom__cpu_list_lock);
}

/* May the vCPU enter exec now? */
bool loom__cpu_can_run(struct loom_cpu *cpu)
{
    return !loom_atomic_load_seq(&cpu->stop) &&
           !loom_atomic_load_seq(&cpu->stopped) &&
           loom_atomic_load_seq(&cpu->halt_state) != CPU_HALT_HALTED &&
           !loom_atomic_load_seq(&cpu->unplug) && loom__cpu_vm_running();
}

/*
 * Has the thread nothing to do for @cpu?  Called after resetting
 * cpu->wake: every flag read here is written before loom_event_set() by
 * the thread that changes it.
 */
bool loom__cpu_idle(struct loom_cpu *cpu)
{
    if (loom_atomic_load_seq(&cpu->unplug) ||
        loom_atomic_load_seq(&cpu->stop) ||
        loom_atomic_load_seq(&cpu->queue_len) > 0) {
        return false;
    }
    return !loom__cpu_can_run(cpu);
}

/* Run guest code once and act on the exit. */
void loom__cpu_exec_once(struct loom_cpu *cpu)
{
    int r;

    loom_atomic_add_relaxed(&cpu->stats.exec_count, 1);
    r = cpu->ops->exec(cpu);
    if (r == LOOM_EXIT_HALTED) {
        int s = CPU_HALT_RUNNING;

        /*
         * Halt unless a wake-up came first.  Every transition is a CAS on
         * the one word, so a wake-up either finds RUNNING (and leaves
         * WAKE_PENDING, which we consume here instead of halting) or finds
         * HALTED (and ends the halt, leaving nothing behind).  Pairs with
         * the CAS loop in loom_cpu_wake().
         */
        if (loom_atomic_cas(&cpu->halt_state, &s, CPU_HALT_HALTED)) {
            loom_atomic_add_relaxed(&cpu->stats.halts, 1);
        } else if (s == CPU_HALT_WAKE_PENDING) {
            /* Only a halt or another exit can follow: no lost update. */
            (void)loom_atomic_cas(&cpu->halt_state, &s, CPU_HALT_RUNNING);
        }
        /* s == CPU_HALT_HALTED: loom_cpu_halt() got there first. */
    } else if (r == LOOM_EXIT_STOPPED) {
        cpu_stop_self(cpu);
    } else if (r < 0) {
        loom_atomic_set(&cpu->stats.last_error, r);
        cpu_stop_self(cpu);
    }
    /* LOOM_EXIT_KICKED (and anything else): back to the loop. */
}

/*
 * The vCPU is being destroyed: refuse new work, run what was accepted,
 * make sure no kicker is still inside ops->kick, then let the accelerator
 * tear down.  Pause waiters ignore dead vCPUs, hence the broadcast.
 */
void loom__cpu_finish(struct loom_cpu *cpu)
{
    loom_mutex_lock(&loom__cpu_list_lock);
    loom_mutex_lock(&cpu->lock);
    loom_atomic_store_seq(&cpu->state, CPU_DEAD);
    loom_mutex_unlock(&cpu->lock);
    loom_cond_broadcast(&loom__cpu_pause_cond);
    loom_mutex_unlock(&loom__cpu_list_lock);

    loom__cpu_process_work(cpu);
    /*
     * Kickers call ops->kick inside an RCU read section and only after
     * seeing CPU_RUNNING (loom__cpu_kick_internal()); after this grace
     * period none can still be in there.
     */
    loom_synchronize_rcu();
    if (cpu->ops->destroy_vcpu) {
        cpu->ops->destroy_vcpu(cpu);
    }
}

/* ------------------------------------------------------------------ */
/* LOOM_THREAD_PER_VCPU                                                */
/* ------------------------------------------------------------------ */

/* Sleep until there is something to do; true once unplugged. */
static bool vcpu_wait_io(struct loom_cpu *cpu)
{
    for (;;) {
        loom__cpu_handle_stop(cpu);
        loom__cpu_process_work(cpu);
        if (loom_atomic_load_seq(&cpu->unplug)) {
            return true;
        }
        loom_event_reset(cpu->wake);
        if (!loom__cpu_idle(cpu)) {
            return false;
        }
        loom_event_wait(cpu->wake);
    }
}

static void *vcpu_thread_fn(void *arg)
{
    struct loom_cpu *cpu = arg;
    int ret = 0;

    loom__current_cpu = cpu;
    if (cpu->ops->init_vcpu) {
        ret = cpu->ops->init_vcpu(cpu);
    }
    cpu->start_ret = ret < 0 ? ret : 0;
    if (ret < 0) {
        loom__current_cpu = NULL;
        /* Pairs with loom_event_wait() in loom_cpu_start(). */
        loom_event_set(&cpu->created_ev);
        return NULL;
    }
    loom__cpu_mark_running(cpu);
    loom_event_set(&cpu->created_ev);

    for (;;) {
        if (loom__cpu_can_run(cpu)) {
            loom__cpu_exec_once(cpu);
        }
        if (vcpu_wait_io(cpu)) {
            break;
        }
    }
    loom__cpu_finish(cpu);
    loom__current_cpu = NULL;
    return NULL;
}

static int vcpu_thread_start(struct loom_cpu *cpu)
{
    struct loom_cpuset cpus;
    struct loom_thread *t;
    bool pinned;
    unsigned gen;
    char name[16];
    int ret;

    snprintf(name, sizeof(name), "vcpu-%d", cpu->index);
    loom_mutex_lock(&cpu->lock);
    pinned = cpu->has_affinity;
    cpus = cpu->affinity;
    gen = cpu->affinity_gen;
    loom_mutex_unlock(&cpu->lock);
    ret = loom__thread_create(&t, LOOM_THREAD_KIND_VCPU, name, vcpu_thread_fn,
                              cpu, LOOM_THREAD_JOINABLE,
                              pinned ? &cpus : NULL);
    if (ret < 0) {
        return ret;
    }
    loom_mutex_lock(&cpu->lock);
    cpu->thread = t;
    if (cpu->affinity_gen != gen) {
        /* Changed while the thread was being created: best effort. */
        (void)loom_thread_set_affinity(t, &cpu->affinity);
    }
    loom_mutex_unlock(&cpu->lock);
    /* The "created" handshake: start_ret is written before the set. */
    loom_event_wait(&cpu->created_ev);
    ret = cpu->start_ret;
    if (ret < 0) {
        (void)loom_thread_join(t, NULL);
        loom_mutex_lock(&cpu->lock);
        cpu->thread = NULL;
        loom_mutex_unlock(&cpu->lock);
        loom_event_reset(&cpu->created_ev);
    }
    return ret;
}

int loom_cpu_set_affinity(struct loom_cpu *cpu,
                          const struct loom_cpuset *cpus)
{
    int ret;

    LOOM_CHECK(cpu != NULL && cpus != NULL, -EINVAL);
    if (cpu->rr_mode) {
        return -ENOTSUP;
    }
    ret = loom__cpuset_check(cpus);
    if (ret < 0) {
        return ret;
    }
    loom_mutex_lock(&cpu->lock);
    if (cpu->thread) {
        ret = loom_thread_set_affinity(cpu->thread, cpus);
    }
    if (ret == 0) {
        cpu->affinity = *cpus;
        cpu->has_affinity = true;
        cpu->affinity_gen++;
    }
    loom_mutex_unlock(&cpu->lock);
    return ret;
}

int loom_cpu_start(struct loom_cpu *cpu)
{
    int expected = CPU_NEW;
    bool bql;
    int ret;

    LOOM_CHECK(cpu != NULL, -EINVAL);
    if (cpu->rr_mode && loom__current_rr != NULL) {
        return -EDEADLK;
    }
    if (!loom_atomic_cas(&cpu->state, &expected, CPU_STARTING)) {
        return -EALREADY;
    }
    bql = loom_bql_locked();
    if (bql) {
        loom_bql_unlock();
    }
    if (cpu->rr_mode) {
        ret = loom__cpu_rr_start(cpu);
    } else {
        ret = vcpu_thread_start(cpu);
    }
    if (ret < 0) {
        loom_atomic_store_seq(&cpu->state, CPU_NEW);
    }
    if (bql) {
        loom_bql_lock();
    }
    return ret;
}

static void cpu_free_rcu(struct loom_rcu_head *head)
{
    struct loom_cpu *cpu = loom_container_of(head, struct loom_cpu, rcu);

    loom_mutex_destroy(&cpu->lock);
    loom_event_destroy(&cpu->created_ev);
    loom_event_destroy(&cpu->gone_ev);
    loom_event_destroy(&cpu->own_ev);
    loom_event_destroy(&cpu->dummy_ev);
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
        loom_panic("loom_cpu_destroy: vcpu %d called from its own thread",
                   cpu->index);
    }
    if (loom__in_exclusive()) {
        loom_panic("loom_cpu_destroy: vcpu %d destroyed inside an "
                   "exclusive section", cpu->index);
    }
    if (loom_atomic_xchg(&cpu->destroying, true)) {
        loom_panic("loom_cpu_destroy: vcpu %d destroyed twice", cpu->index);
    }
    state = loom_atomic_load_seq(&cpu->state);
    if (state == CPU_RUNNING && loom_rcu_read_locked()) {
        /* Its thread waits for a grace period before it lets go. */
        loom_panic("loom_cpu_destroy: vcpu %d destroyed inside an RCU "
                   "read section would deadlock", cpu->index);
    }
    if (state == CPU_STARTING) {
        loom_panic("loom_cpu_destroy: vcpu %d is being started",
                   cpu->index);
    }

    bql = loom_bql_locked();
    if (bql) {
        loom_bql_unlock();
    }
    if (state == CPU_RUNNING) {
        /* The thread sees unplug in its loop; see loom__cpu_finish(). */
        loom_atomic_store_seq(&cpu->unplug, true);
        loom__cpu_kick_internal(cpu);
        if (cpu->rr_mode) {
            loom__cpu_rr_destroy(cpu);
        } else {
            struct loom_thread *t;

            loom_mutex_lock(&cpu->lock);
            t = cpu->thread;
            cpu->thread = NULL;
            loom_mutex_unlock(&cpu->lock);
            (void)loom_thread_join(t, NULL);
        }
    }

    loom_mutex_lock(&loom__cpu_list_lock);
    loom_rcu_list_remove(&cpu->node);
    loom_atomic_store_seq(&cpu->state, CPU_DESTROYED);
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

void loom__cpu_kick_internal(struct loom_cpu *cpu)
{
    loom_atomic_add_relaxed(&cpu->stats.kicks, 1);
    /*
     * ops->kick must not run once destroy_vcpu has begun: the thread sets
     * CPU_DEAD and then waits for a grace period (loom__cpu_finish()), so
     * a kicker that saw CPU_RUNNING is still inside this read section.
     * The section also keeps a round-robin group alive (cpu-rr.c).
     */
    loom_rcu_read_lock();
    loom__cpu_wake_thread(cpu);
    if (cpu->rr_mode) {
        loom__cpu_rr_kick(cpu);
    } else if (cpu->ops->kick &&
               /* Pairs with the release store in mark_running(). */
               loom_atomic_load_acquire(&cpu->state) == CPU_RUNNING) {
        cpu->ops->kick(cpu);
    }
    loom_rcu_read_unlock();
}

void loom_cpu_kick(struct loom_cpu *cpu)
{
    if (cpu) {
        loom__cpu_kick_internal(cpu);
    }
}

void loom_cpu_halt(struct loom_cpu *cpu)
{
    if (!cpu) {
        return;
    }
    /* Also forgets a pending wake-up. */
    loom_atomic_store_seq(&cpu->halt_state, CPU_HALT_HALTED);
    loom_atomic_add_relaxed(&cpu->stats.halts, 1);
    loom__cpu_kick_internal(cpu);
}

void loom_cpu_wake(struct loom_cpu *cpu)
{
    if (!cpu) {
        return;
    }
    int s = loom_atomic_load_seq(&cpu->halt_state);

    /*
     * HALTED -> RUNNING ends a halt and leaves nothing pending; RUNNING ->
     * WAKE_PENDING is remembered for the next LOOM_EXIT_HALTED.  Pairs
     * with the CAS in loom__cpu_exec_once().
     */
    while (s != CPU_HALT_WAKE_PENDING &&
           !loom_atomic_cas(&cpu->halt_state, &s,
                            s == CPU_HALT_HALTED ? CPU_HALT_RUNNING
                                                 : CPU_HALT_WAKE_PENDING)) {
    }
    loom__cpu_wake_thread(cpu);
}

bool loom_cpu_is_halted(struct loom_cpu *cpu)
{
    return cpu ? loom_atomic_load_seq(&cpu->halt_state) == CPU_HALT_HALTED
               : false;
}

bool loom_cpu_is_stopped(struct loom_cpu *cpu)
{
    return cpu ? loom_atomic_load_seq(&cpu->stopped) : false;
}

int loom_cpu_stats(struct loom_cpu *cpu, struct loom_cpu_stats *st)
{
    LOOM_CHECK(cpu != NULL && st != NULL, -EINVAL);
    st->exec_count = loom_atomic_read(&cpu->stats.exec_count);
    st->kicks = loom_atomic_read(&cpu->stats.kicks);
    st->work_items = loom_atomic_read(&cpu->stats.work_items);
    st->safe_work_items = loom_atomic_read(&cpu->stats.safe_work_items);
    st->halts = loom_atomic_read(&cpu->stats.halts);
    st->stops = loom_atomic_read(&cpu->stats.stops);
    st->last_error = loom_atomic_read(&cpu->stats.last_error);
    return 0;
}
