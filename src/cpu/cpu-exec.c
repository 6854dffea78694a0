/* SPDX-License-Identifier: MIT */
/*
 * The steps of the vCPU loop that both thread modes share (cpu-thread.c
 * for one thread per vCPU, cpu-rr.c for the round-robin thread): coming
 * up, acknowledging pause requests, deciding whether exec may run, running
 * it once and acting on the exit, and going away.  All run on the thread
 * serving the vCPU.
 */
#include <loom/cpu.h>

#include "base/atomic.h"
#include "cpu/cpu-int.h"

/*
 * The thread is up: accept work, and start stopped if every vCPU is
 * paused (so that a vCPU started during a pause does not run).
 */
void loom__cpu_mark_running(struct loom_cpu *cpu)
{
    loom_mutex_lock(&loom__cpu_list_lock);
    loom_mutex_lock(&cpu->lock);
    if (loom__cpu_paused()) {
        loom__atomic_store_seq(&cpu->stopped, true);
    }
    /* Pairs with the acquire load in loom__cpu_kick(). */
    loom__atomic_store_release(&cpu->state, CPU_RUNNING);
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
    if (!loom__atomic_load_seq(&cpu->stop)) {
        return;
    }
    loom_mutex_lock(&loom__cpu_list_lock);
    if (loom__atomic_read(&cpu->stop)) {
        loom__atomic_store_seq(&cpu->stop, false);
        loom__atomic_store_seq(&cpu->stopped, true);
        loom__atomic_add_relaxed(&cpu->stats.stops, 1);
        loom_cond_broadcast(&loom__cpu_pause_cond);
    }
    loom_mutex_unlock(&loom__cpu_list_lock);
}

/* The vCPU stops itself (LOOM_EXIT_STOPPED or an exec error). */
static void cpu_stop_self(struct loom_cpu *cpu)
{
    loom_mutex_lock(&loom__cpu_list_lock);
    loom__atomic_store_seq(&cpu->stopped, true);
    loom__atomic_add_relaxed(&cpu->stats.stops, 1);
    loom_cond_broadcast(&loom__cpu_pause_cond);
    loom_mutex_unlock(&loom__cpu_list_lock);
}

/* May the vCPU enter exec now? */
bool loom__cpu_can_run(struct loom_cpu *cpu)
{
    return !loom__atomic_load_seq(&cpu->stop) &&
           !loom__atomic_load_seq(&cpu->stopped) &&
           loom__atomic_load_seq(&cpu->halt_state) != CPU_HALT_HALTED &&
           !loom__atomic_load_seq(&cpu->unplug) && loom__cpu_vm_running();
}

/*
 * Has the thread nothing to do for @cpu?  Called after resetting
 * cpu->wake: every flag read here is written before loom_event_set() by
 * the thread that changes it.
 */
bool loom__cpu_idle(struct loom_cpu *cpu)
{
    if (loom__atomic_load_seq(&cpu->unplug) ||
        loom__atomic_load_seq(&cpu->stop) ||
        loom__atomic_load_seq(&cpu->queue_len) > 0) {
        return false;
    }
    return !loom__cpu_can_run(cpu);
}

/* Run guest code once and act on the exit. */
void loom__cpu_exec_once(struct loom_cpu *cpu)
{
    int r;

    loom__atomic_add_relaxed(&cpu->stats.exec_count, 1);
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
        if (loom__atomic_cas(&cpu->halt_state, &s, CPU_HALT_HALTED)) {
            loom__atomic_add_relaxed(&cpu->stats.halts, 1);
        } else if (s == CPU_HALT_WAKE_PENDING) {
            /* Only a halt or another exit can follow: no lost update. */
            (void)loom__atomic_cas(&cpu->halt_state, &s, CPU_HALT_RUNNING);
        }
        /* s == CPU_HALT_HALTED: loom_cpu_halt() got there first. */
    } else if (r == LOOM_EXIT_STOPPED) {
        cpu_stop_self(cpu);
    } else if (r < 0) {
        loom__atomic_set(&cpu->stats.last_error, r);
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
    loom__atomic_store_seq(&cpu->state, CPU_DEAD);
    loom_mutex_unlock(&cpu->lock);
    loom_cond_broadcast(&loom__cpu_pause_cond);
    loom_mutex_unlock(&loom__cpu_list_lock);

    loom__cpu_process_work(cpu);
    /*
     * Kickers call ops->kick inside an RCU read section and only after
     * seeing CPU_RUNNING (loom__cpu_kick()); after this grace
     * period none can still be in there.
     */
    loom_synchronize_rcu();
    if (cpu->ops->destroy_vcpu) {
        cpu->ops->destroy_vcpu(cpu);
    }
}
