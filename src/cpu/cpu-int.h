/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the vCPU layer's files: struct loom_cpu, the
 * round-robin group, work items and the per-thread state.
 *
 * Lock order (outermost first), see also include/loom/cpu.h:
 *   g_runstate_lock (runstate.c) -> BQL -> g_notifier_lock (runstate.c)
 *   -> loom__cpu_list_lock -> cpu->lock.
 * Leaf locks, never held while taking another: g_excl_lock
 * (exclusive.c), loom__cpu_done_lock, g_rr_lock, rr->lock and rr->klock
 * (cpu-rr.c).  Kicks take no lock at all.  Nothing waits for a vCPU
 * while holding a lock other than the run-state lock and the list lock
 * (pause, whose waiters the vCPUs answer without the BQL), and the BQL
 * is always dropped before such waits.
 */
#ifndef LOOM_CPU_INT_H
#define LOOM_CPU_INT_H

#include <loom/cpu.h>
#include <loom/rcu-list.h>
#include <loom/rcu.h>
#include <loom/thread.h>

#include "base/list.h"
#include "base/thread-int.h"

/* Life cycle of a vCPU (cpu->state); written under the list lock and
 * cpu->lock, read with atomics. */
enum {
    CPU_NEW,      /* created, no thread */
    CPU_STARTING, /* loom_cpu_start() in progress */
    CPU_RUNNING,  /* thread up; accepts work */
    CPU_DEAD,     /* unplugged: accepts nothing, thread finishing */
    CPU_DESTROYED /* loom_cpu_destroy() returned or is returning */
};

/* One queued piece of work. */
struct loom__cpu_work {
    struct loom__list link;
    loom_cpu_fn *fn;
    void *data;
    bool safe; /* run inside an exclusive section */
    bool sync; /* on the waiter's stack; signal ->done, do not free */
    bool done; /* sync only; protected by loom__cpu_done_lock */
};

struct loom__cpu_rr;

/*
 * How a thread mode serves its vCPUs (cpu-thread.c: one thread per vCPU;
 * cpu-rr.c: one round-robin thread for all).  cpu.c calls only these.
 *   start: loom_cpu_start()'s work, BQL not held; returns once the vCPU
 *          runs (0) or failed (-errno, the vCPU is back to CPU_NEW).
 *   stop: after cpu->unplug was set and the vCPU kicked, wait until its
 *         thread let go of it (loom__cpu_finish() ran).
 *   kick: make exec return soon; inside an RCU read section.
 *   is_self: is the caller the thread serving @cpu?
 *   set_affinity: loom_cpu_set_affinity() (@cpus not NULL).
 * Context: any, except as said.
 */
struct loom__cpu_mode_ops {
    int (*start)(struct loom_cpu *cpu);
    void (*stop)(struct loom_cpu *cpu);
    void (*kick)(struct loom_cpu *cpu);
    bool (*is_self)(struct loom_cpu *cpu);
    int (*set_affinity)(struct loom_cpu *cpu, const struct loom_cpuset *cpus);
};
extern const struct loom__cpu_mode_ops loom__cpu_mode_per_vcpu;
extern const struct loom__cpu_mode_ops loom__cpu_mode_rr;

/*
 * Halt states (struct loom_cpu.halt_state).  RUNNING: may enter exec.
 * HALTED: asleep until loom_cpu_wake().  WAKE_PENDING: a wake-up arrived
 * while the vCPU was not halted; its next LOOM_EXIT_HALTED returns to exec
 * at once instead of sleeping (an interrupt arriving just before HLT).
 */
enum {
    CPU_HALT_RUNNING,
    CPU_HALT_HALTED,
    CPU_HALT_WAKE_PENDING,
};

struct loom_cpu {
    /* Immutable after loom_cpu_new(). */
    int index;
    const struct loom_accel_ops *ops;
    void *opaque;
    const struct loom__cpu_mode_ops *mode; /* by ops->thread_mode */

    /* Round-robin group; written once by loom_cpu_start(), atomic. */
    struct loom__cpu_rr *rr;

    /* Before start, or the vCPU's own thread only. */
    void *accel_state;

    /*
     * Immutable after loom_cpu_new(): per-vCPU state of an accelerator of
     * the library itself (accel-dummy.c), malloc'ed by
     * loom__accel_lib_attach(); freed with the vCPU.
     */
    void *lib_accel;

    /* Protected by loom__cpu_list_lock (writers); RCU for readers. */
    struct loom_rcu_list_node node;

    /* Start handshake: written by the vCPU thread before created_ev. */
    int start_ret;
    struct loom_event created_ev;
    struct loom_event gone_ev;  /* round-robin: the thread let go of it */
    struct loom__list rr_link;   /* round-robin thread's lists */

    /* Life cycle, CPU_*; see the enum. */
    int state;

    /* Atomic flags; writers then loom_event_set(cpu->wake). */
    bool destroying;   /* loom_cpu_destroy() was called */
    bool stop;         /* pause requested (list lock for writers) */
    bool stopped;      /* at a safe point (list lock for writers) */
    int halt_state;    /* CPU_HALT_*; see loom_cpu_wake() */
    bool unplug;       /* loom_cpu_destroy() asked the thread to let go */
    int queue_len;     /* items in ->work, read without the lock */
    struct loom_event *wake; /* own_ev or the rr group's; atomic */
    struct loom_event own_ev;

    /* Protected by ->lock. */
    struct loom_mutex lock;
    struct loom__list work;
    struct loom_thread *thread; /* per-vCPU mode; set by start, destroy */
    struct loom_cpuset affinity; /* per-vCPU mode; see has_affinity */
    bool has_affinity;           /* loom_cpu_set_affinity() was called */
    unsigned affinity_gen;       /* bumped by loom_cpu_set_affinity() */

    /* Exclusive-section protocol, see exclusive.c.  ->running is atomic;
     * ->has_waiter is protected by g_excl_lock. */
    bool running;
    bool has_waiter;

    /* Statistics: relaxed atomics. */
    struct loom_cpu_stats stats;

    struct loom_rcu_head rcu;
};

/* The CPU list and its writers' lock (cpu.c). */
extern struct loom_mutex loom__cpu_list_lock;
extern struct loom_rcu_list loom__cpu_list;

/* Broadcast (under the list lock) when a vCPU stops or dies (cpu.c). */
extern struct loom_cond loom__cpu_pause_cond;

/* Completion of synchronous work (run-on-cpu.c). */
extern struct loom_mutex loom__cpu_done_lock;
extern struct loom_cond loom__cpu_done_cond;

/* Per-thread state (cpu.c). */
extern __thread struct loom_cpu *loom__current_cpu;
extern __thread struct loom__cpu_rr *loom__current_rr;

/*
 * loom__cpu_is_self() - is the caller @cpu's thread?
 * Context: any.
 */
bool loom__cpu_is_self(struct loom_cpu *cpu);

/*
 * loom__cpu_process_work() - run every queued item of @cpu.
 * Context: vcpu(cpu), outside exec.
 */
void loom__cpu_process_work(struct loom_cpu *cpu);

/*
 * loom__cpu_queue_work() - queue @w on @cpu and kick it if the queue was
 * empty.  Return: 0, or -ESRCH if @cpu does not accept work.
 * Context: any.
 */
int loom__cpu_queue_work(struct loom_cpu *cpu, struct loom__cpu_work *w);

/*
 * loom__cpu_kick() - loom_cpu_kick() without the public NULL
 * check.  Context: any.
 */
void loom__cpu_kick(struct loom_cpu *cpu);

/*
 * loom__in_exclusive() - whether the caller is inside an exclusive
 * section.  Context: any.
 */
bool loom__in_exclusive(void);

/*
 * loom__cpu_paused() - whether loom_pause_all_vcpus() is in effect (new
 * vCPUs start stopped).  Context: loom__cpu_list_lock held.
 */
bool loom__cpu_paused(void);

/*
 * loom__cpu_vm_running() - the run state, for the vCPU loops.
 * Context: any.
 */
bool loom__cpu_vm_running(void);

/*
 * loom__accel_lib_attach() - give a new vCPU the per-vCPU state of the
 * library's own accelerator it uses, if any (accel-dummy.c).
 * Context: loom_cpu_new().  Return: 0 or -ENOMEM.
 */
int loom__accel_lib_attach(struct loom_cpu *cpu);

/* Thread-side helpers shared by the two thread modes (cpu-exec.c). */
void loom__cpu_handle_stop(struct loom_cpu *cpu);
bool loom__cpu_can_run(struct loom_cpu *cpu);
bool loom__cpu_idle(struct loom_cpu *cpu);
void loom__cpu_exec_once(struct loom_cpu *cpu);
void loom__cpu_mark_running(struct loom_cpu *cpu);
void loom__cpu_finish(struct loom_cpu *cpu);

/*
 * Wake the thread serving @cpu.  cpu->wake may point into the round-robin
 * group, which is reclaimed after a grace period: hence the read section.
 * Context: any.
 */
static inline void loom__cpu_wake_thread(struct loom_cpu *cpu)
{
    loom_rcu_read_lock();
    loom_event_set(__atomic_load_n(&cpu->wake, __ATOMIC_ACQUIRE));
    loom_rcu_read_unlock();
}

#endif /* LOOM_CPU_INT_H */
