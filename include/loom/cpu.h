/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads: CPU objects, their threads, work on a vCPU (run_on_cpu,
 * async, "safe" while no vCPU runs guest code), exclusive sections, kick,
 * halt and wake, pause/resume of every vCPU and the VM run state.
 *
 * A struct loom_cpu is driven by an accelerator (struct loom_accel_ops):
 * KVM in loom-vm, or loom_accel_dummy in tests.  Each vCPU runs on its own
 * thread ("vcpu-N", LOOM_THREAD_PER_VCPU) or shares one thread with every
 * other round-robin vCPU ("vcpu-rr", LOOM_THREAD_ROUND_ROBIN), which gives
 * each runnable vCPU a time slice in turn.  vCPU threads run guest code and
 * queued work WITHOUT the big lock; code that needs it takes it.
 *
 * Lock order (outermost first): the run-state lock of loom_vm_stop() and
 * friends (never taken with the BQL held: those functions drop the BQL
 * first), the BQL, the CPU list lock, a CPU's queue lock.  Every function
 * here that waits for a vCPU drops the BQL while waiting if the caller
 * holds it and takes it back before returning.
 */
#ifndef LOOM_CPU_H
#define LOOM_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/common.h>
#include <loom/thread.h>

#ifdef __cplusplus
extern "C" {
#endif

struct loom_cpu;

/* Values returned by struct loom_accel_ops.exec (negative: -errno). */
/** LOOM_EXIT_HALTED - the guest halted; sleep until loom_cpu_wake(). */
#define LOOM_EXIT_HALTED 1
/** LOOM_EXIT_KICKED - exec returned because of a kick (or a time slice). */
#define LOOM_EXIT_KICKED 2
/** LOOM_EXIT_STOPPED - the vCPU stops itself until the next resume. */
#define LOOM_EXIT_STOPPED 3

/**
 * enum loom_cpu_thread_mode - how vCPUs map to threads.
 * @LOOM_THREAD_PER_VCPU: one thread per vCPU, named "vcpu-<index>".
 * @LOOM_THREAD_ROUND_ROBIN: one thread, "vcpu-rr", runs every vCPU of
 *     this mode in turn; each gets a time slice (loom_cpu_rr_set_slice())
 *     and a kick of any of them moves the thread on.
 */
enum loom_cpu_thread_mode {
    LOOM_THREAD_PER_VCPU,
    LOOM_THREAD_ROUND_ROBIN,
};

/**
 * struct loom_accel_ops - an accelerator: how a vCPU runs guest code.
 * @thread_mode: see enum loom_cpu_thread_mode.
 * @init_vcpu: optional; called on the vCPU's thread by loom_cpu_start()
 *     before the thread is reported running; a negative errno fails the
 *     start (and loom_cpu_start() returns it).
 * @exec: run guest code until something needs the vCPU thread: return
 *     LOOM_EXIT_HALTED, LOOM_EXIT_KICKED, LOOM_EXIT_STOPPED, or a negative
 *     errno (recorded in the stats; the vCPU then stops as for
 *     LOOM_EXIT_STOPPED).  The accelerator brackets the part that runs
 *     guest code with loom_cpu_exec_start() / loom_cpu_exec_end().
 *     Called on the vCPU's thread, without the BQL.
 * @kick: make a running @exec return soon (idempotent; a kick that comes
 *     before @exec starts must make the next @exec return promptly).
 *     Called from any thread, possibly from a signal handler, never after
 *     @destroy_vcpu has begun.  May be NULL if @exec never blocks.
 * @destroy_vcpu: optional; called on the vCPU's thread when it is
 *     destroyed, after the last @exec.
 *
 * The ops must stay valid as long as any vCPU uses them.
 */
struct loom_accel_ops {
    enum loom_cpu_thread_mode thread_mode;
    int (*init_vcpu)(struct loom_cpu *cpu);
    int (*exec)(struct loom_cpu *cpu);
    void (*kick)(struct loom_cpu *cpu);
    void (*destroy_vcpu)(struct loom_cpu *cpu);
};

/**
 * loom_cpu_new() - create a vCPU object (not yet running).
 * @index: its index, >= 0, unique among existing vCPUs.
 * @ops: its accelerator; @ops->exec is required.
 * @opaque: the caller's pointer, see loom_cpu_opaque().
 * @ret: receives the vCPU.
 *
 * The vCPU is added to the CPU list (LOOM_CPU_FOREACH) at once, in index
 * order.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @ret, @ops or @ops->exec, a negative
 * @index or an unknown thread mode; -EEXIST if @index is taken; -ENOMEM.
 */
LOOM_API int loom_cpu_new(int index, const struct loom_accel_ops *ops,
                          void *opaque, struct loom_cpu **ret);

/**
 * loom_cpu_start() - start the vCPU's thread (or join the round-robin one).
 * @cpu: a vCPU from loom_cpu_new().
 *
 * Returns once the thread runs and @ops->init_vcpu succeeded.  If the VM
 * is stopped or the vCPUs are paused, the vCPU starts stopped.  The BQL is
 * dropped while waiting if the caller holds it.
 *
 * Context: any but the round-robin thread (for a round-robin vCPU).
 * Return: 0; -EINVAL for NULL; -EALREADY if it was started already (or is
 * starting); -EDEADLK when called on the round-robin thread for a
 * round-robin vCPU; -ENOMEM, -EAGAIN (no thread), -EINVAL (the kernel
 * refused the set given to loom_cpu_set_affinity()), the thread-start
 * hook's error (kind LOOM_THREAD_KIND_VCPU) or @init_vcpu's error (the
 * vCPU is then back to "not started").
 */
LOOM_API int loom_cpu_start(struct loom_cpu *cpu);

/**
 * loom_cpu_set_affinity() - choose the CPUs a vCPU's thread runs on.
 * @cpu: a LOOM_THREAD_PER_VCPU vCPU.
 * @cpus: the host CPUs (copied).
 *
 * Before loom_cpu_start(), the thread will start on @cpus; on a running
 * vCPU, its thread moves now.  A vCPU started again after an
 * loom_cpu_start() failure keeps the set.
 *
 * Context: any, while @cpu is not being destroyed.
 * Return: 0; -EINVAL for a NULL argument or an invalid set (empty, or
 * naming a CPU the system does not have: see loom_thread_set_affinity());
 * -ENOTSUP for a round-robin vCPU (its thread serves every round-robin
 * vCPU).
 */
LOOM_API int loom_cpu_set_affinity(struct loom_cpu *cpu,
                                   const struct loom_cpuset *cpus);

/**
 * loom_cpu_destroy() - stop the vCPU's thread and free the vCPU.
 * @cpu: the vCPU, or NULL (ignored).
 *
 * Work accepted before the call still runs.  The vCPU leaves the CPU list
 * and its memory is reclaimed after an RCU grace period, so a walker that
 * found it inside a read section may still use it: the run_on_cpu family
 * then returns -ESRCH.  Destroying a vCPU twice is a contract violation
 * (panic while it can still be detected).
 *
 * Context: any but @cpu's own thread (the round-robin thread for a
 * round-robin vCPU), !rcu for a started vCPU, not inside an exclusive
 * section (each a contract violation: panic); drops the BQL while
 * waiting.
 */
LOOM_API void loom_cpu_destroy(struct loom_cpu *cpu);

/**
 * loom_cpu_index() - the index given to loom_cpu_new().
 * Context: any.  Return: the index, or -EINVAL for NULL.
 */
LOOM_API int loom_cpu_index(const struct loom_cpu *cpu);

/**
 * loom_cpu_opaque() - the opaque pointer given to loom_cpu_new().
 * Context: any.  Return: it, or NULL for a NULL @cpu.
 */
LOOM_API void *loom_cpu_opaque(const struct loom_cpu *cpu);

/**
 * loom_cpu_accel_state() - the accelerator's per-vCPU pointer.
 * Context: any.  Return: what loom_cpu_set_accel_state() stored (NULL
 * initially or for a NULL @cpu).
 */
LOOM_API void *loom_cpu_accel_state(const struct loom_cpu *cpu);

/**
 * loom_cpu_set_accel_state() - store the accelerator's per-vCPU pointer.
 * @cpu: the vCPU (NULL is ignored).
 * @state: anything; the layer never dereferences it.
 * Context: before loom_cpu_start(), or vcpu(cpu) (e.g. in @init_vcpu).
 */
LOOM_API void loom_cpu_set_accel_state(struct loom_cpu *cpu, void *state);

/**
 * loom_cpu_first() - first vCPU of the CPU list (lowest index).
 * Context: rcu (inside loom_rcu_read_lock()).
 * Return: the vCPU or NULL if there is none.
 */
LOOM_API struct loom_cpu *loom_cpu_first(void);

/**
 * loom_cpu_next() - the vCPU after @cpu on the CPU list.
 * @cpu: a vCPU found in the same read section.
 * Context: rcu.  Return: the next vCPU, or NULL at the end (or for NULL).
 */
LOOM_API struct loom_cpu *loom_cpu_next(struct loom_cpu *cpu);

/**
 * LOOM_CPU_FOREACH() - walk every vCPU in index order.
 * @cpu: a struct loom_cpu pointer, the cursor.
 *
 * Safe against concurrent creation and destruction: a vCPU destroyed
 * meanwhile may still be visited and stays valid until the read section
 * ends.
 *
 * Context: rcu (inside loom_rcu_read_lock()).
 */
#define LOOM_CPU_FOREACH(cpu)                                                 \
    for ((cpu) = loom_cpu_first(); (cpu) != NULL; (cpu) = loom_cpu_next(cpu))

/**
 * loom_cpu_by_index() - look a vCPU up by index.
 * @index: the index.
 * Context: rcu; the result is valid until the read section ends.
 * Return: the vCPU, or NULL if none has @index.
 */
LOOM_API struct loom_cpu *loom_cpu_by_index(int index);

/**
 * loom_current_cpu() - the vCPU whose thread is calling.
 *
 * On the round-robin thread, the vCPU it is currently serving.
 *
 * Context: any.
 * Return: the vCPU, or NULL outside vCPU threads.
 */
LOOM_API struct loom_cpu *loom_current_cpu(void);

/**
 * typedef loom_cpu_fn - work to run on a vCPU's thread.
 * @cpu: the vCPU.
 * @data: the pointer given with the work.
 *
 * Callback: vcpu(cpu), outside exec, without the BQL (take it if needed).
 */
typedef void loom_cpu_fn(struct loom_cpu *cpu, void *data);

/**
 * loom_run_on_cpu() - run @fn on @cpu's thread and wait for it.
 * @cpu: a started vCPU.
 * @fn: the work.
 * @data: passed to @fn.
 *
 * Called on @cpu's thread it runs @fn at once.  Otherwise it queues @fn,
 * kicks @cpu out of guest code and waits; a stopped or halted vCPU still
 * runs its queue.  If the caller holds the BQL it is released while
 * waiting and taken back before returning.  Called from another vCPU's
 * thread it waits without serving that vCPU's own queue: two vCPUs doing
 * this to each other deadlock (use loom_async_run_on_cpu()).
 *
 * Context: any; not inside an exclusive section (panic: the vCPU could
 * not leave exec_start to run it).
 * Return: 0 once @fn ran; -EINVAL for a NULL @cpu or @fn; -ESRCH if @cpu
 * has not been started or is being destroyed (@fn does not run).
 */
LOOM_API int loom_run_on_cpu(struct loom_cpu *cpu, loom_cpu_fn *fn,
                             void *data);

/**
 * loom_async_run_on_cpu() - queue @fn to run on @cpu's thread.
 * @cpu: a started vCPU.
 * @fn: the work; items run in the order they were queued.
 * @data: passed to @fn.
 *
 * Does not wait; kicks @cpu if its queue was empty.  Accepted work runs
 * exactly once, also if @cpu is destroyed meanwhile.
 *
 * Context: any (also @cpu's own thread: it runs after the work being
 * run now).
 * Return: 0; -EINVAL for NULL @cpu or @fn; -ESRCH if @cpu has not been
 * started or is being destroyed; -ENOMEM.
 */
LOOM_API int loom_async_run_on_cpu(struct loom_cpu *cpu, loom_cpu_fn *fn,
                                   void *data);

/**
 * loom_async_safe_run_on_cpu() - queue @fn to run on @cpu's thread while
 * no vCPU is inside exec.
 * @cpu: a started vCPU.
 * @fn: the work; it runs inside an exclusive section
 *      (loom_start_exclusive()), so it must not start another one nor wait
 *      for a vCPU.
 * @data: passed to @fn.
 *
 * Context: any.
 * Return: as loom_async_run_on_cpu().
 */
LOOM_API int loom_async_safe_run_on_cpu(struct loom_cpu *cpu,
                                        loom_cpu_fn *fn, void *data);

/**
 * loom_start_exclusive() - wait until no vCPU is inside exec and keep
 * them out until loom_end_exclusive().
 *
 * vCPUs inside exec are kicked and waited for; vCPUs that try to enter
 * exec meanwhile wait in loom_cpu_exec_start().  Concurrent requests (from
 * vCPUs or other threads) are serialised.  Do not wait for a vCPU
 * (loom_run_on_cpu(), pause) inside the section.
 *
 * Context: any thread not inside exec (between loom_cpu_exec_start() and
 * _end()) and not already inside an exclusive section: both are contract
 * violations (panic).  Does not touch the BQL; do not call it holding the
 * BQL if vCPUs take the BQL inside exec.
 */
LOOM_API void loom_start_exclusive(void);

/**
 * loom_end_exclusive() - end the caller's exclusive section.
 * Context: the thread that called loom_start_exclusive() (panic
 * otherwise).
 */
LOOM_API void loom_end_exclusive(void);

/**
 * loom_cpu_exec_start() - the accelerator enters guest code.
 * @cpu: the calling vCPU.
 *
 * Waits while an exclusive section is pending or active.
 *
 * Context: vcpu(cpu), outside exec and outside an exclusive section
 * (panic otherwise).
 */
LOOM_API void loom_cpu_exec_start(struct loom_cpu *cpu);

/**
 * loom_cpu_exec_end() - the accelerator left guest code.
 * @cpu: the calling vCPU.
 * Context: vcpu(cpu), after loom_cpu_exec_start() (panic otherwise).
 */
LOOM_API void loom_cpu_exec_end(struct loom_cpu *cpu);

/**
 * loom_cpu_kick() - make @cpu's thread look at its state soon.
 * @cpu: the vCPU (NULL is ignored).
 *
 * Makes exec return (accelerator kick) and wakes the thread if it sleeps;
 * a halted vCPU goes back to sleep unless it was woken or got work.  On
 * the round-robin thread the vCPU in exec is kicked, whichever it is.
 *
 * Context: any; async-signal-safe (atomic stores, an RCU read section and
 * a futex wake) when the calling thread is registered with RCU, which
 * every loom thread is; a plain thread registers on its first
 * loom_rcu_read_lock().
 */
LOOM_API void loom_cpu_kick(struct loom_cpu *cpu);

/**
 * loom_cpu_halt() - put @cpu to sleep until loom_cpu_wake().
 * @cpu: the vCPU (NULL is ignored).
 *
 * The vCPU leaves exec and sleeps; it still runs queued work, stops and
 * resumes, but does not enter exec again until woken.  Clears a wake-up
 * that was pending.
 *
 * Context: any.
 */
LOOM_API void loom_cpu_halt(struct loom_cpu *cpu);

/**
 * loom_cpu_wake() - end @cpu's halt.
 * @cpu: the vCPU (NULL is ignored).
 *
 * If @cpu is halted, the halt ends and nothing else is remembered.  If it
 * is not, the wake-up is remembered until the vCPU's next
 * LOOM_EXIT_HALTED, which then returns to exec at once (like an interrupt
 * that arrives just before HLT), so a wake-up racing with a halt is never
 * lost.  loom_cpu_halt() forgets a remembered wake-up.
 *
 * Context: any.
 */
LOOM_API void loom_cpu_wake(struct loom_cpu *cpu);

/**
 * loom_cpu_is_halted() - whether @cpu is halted.
 * Context: any.  Return: the flag (false for NULL).
 */
LOOM_API bool loom_cpu_is_halted(struct loom_cpu *cpu);

/**
 * loom_cpu_is_stopped() - whether @cpu is stopped at a safe point.
 * Context: any.  Return: the flag (false for NULL).
 */
LOOM_API bool loom_cpu_is_stopped(struct loom_cpu *cpu);

/**
 * struct loom_cpu_stats - per-vCPU counters (monotonic).
 * @exec_count: calls of the accelerator's exec.
 * @kicks: kicks delivered to the vCPU (loom_cpu_kick() and the kicks
 *         issued by work, pause and exclusive sections).
 * @work_items: run_on_cpu-family items run on its thread (including the
 *              ones run at once by loom_run_on_cpu() on its own thread).
 * @safe_work_items: of those, loom_async_safe_run_on_cpu() items.
 * @halts: times the vCPU went to sleep halted.
 * @stops: times it acknowledged a stop.
 * @last_error: the last negative errno exec returned, 0 if none.
 */
struct loom_cpu_stats {
    uint64_t exec_count;
    uint64_t kicks;
    uint64_t work_items;
    uint64_t safe_work_items;
    uint64_t halts;
    uint64_t stops;
    int last_error;
};

/**
 * loom_cpu_stats() - read @cpu's counters.
 * @cpu: the vCPU.
 * @st: receives them (each counter is read atomically; the set is not a
 *      snapshot).
 * Context: any.  Return: 0, or -EINVAL for NULL arguments.
 */
LOOM_API int loom_cpu_stats(struct loom_cpu *cpu, struct loom_cpu_stats *st);

/**
 * loom_cpu_rr_set_slice() - time slice of the round-robin thread.
 * @ns: nanoseconds a vCPU may run before the thread moves on, > 0;
 *      default 10 ms.  Takes effect from the next slice.
 * Context: any.  Return: 0, or -EINVAL for @ns <= 0.
 */
LOOM_API int loom_cpu_rr_set_slice(int64_t ns);

/**
 * loom_pause_all_vcpus() - stop every started vCPU at a safe point.
 *
 * Asks each vCPU to stop, kicks it and waits until every one reports
 * stopped (outside exec, between work items).  Stopped vCPUs still run
 * queued work.  vCPUs started meanwhile start stopped.
 *
 * Context: any thread but a vCPU thread, a state-change notifier and an
 * exclusive section (each a contract violation: panic).  Drops the BQL
 * while waiting.
 */
LOOM_API void loom_pause_all_vcpus(void);

/**
 * loom_resume_all_vcpus() - let every vCPU run again.
 *
 * vCPUs run guest code only while the VM is running (loom_vm_start()).
 *
 * Context: as loom_pause_all_vcpus().
 */
LOOM_API void loom_resume_all_vcpus(void);

/**
 * typedef loom_vm_state_fn - run-state change notification.
 * @opaque: the registration's pointer.
 * @running: the new state.
 * @reason: loom_vm_stop()'s reason when stopping, 0 when starting.
 *
 * Callback: on the thread calling loom_vm_stop() / loom_vm_start(), with
 * the BQL held iff that caller held it, vCPUs already stopped (when
 * stopping) or not yet resumed (when starting).  It must not call
 * loom_vm_stop(), loom_vm_start(), pause/resume, nor add or remove
 * notifiers.
 */
typedef void loom_vm_state_fn(void *opaque, bool running, int reason);

struct loom_vm_state_notifier;

/**
 * loom_vm_add_state_notifier() - be told of run-state changes.
 * @fn: the callback.
 * @opaque: passed to it.
 * @ret: receives the registration.
 *
 * Notifiers run in registration order when the VM starts and in reverse
 * order when it stops.
 *
 * Context: any but a notifier (-EDEADLK).
 * Return: 0; -EINVAL for NULL; -EDEADLK; -ENOMEM.
 */
LOOM_API int loom_vm_add_state_notifier(loom_vm_state_fn *fn, void *opaque,
                                        struct loom_vm_state_notifier **ret);

/**
 * loom_vm_remove_state_notifier() - unregister and free @n.
 * @n: the registration (NULL is ignored).
 *
 * Once it returns @n's callback is not running and will not run.
 *
 * Context: any but a notifier (panic).
 */
LOOM_API void loom_vm_remove_state_notifier(struct loom_vm_state_notifier *n);

/**
 * loom_vm_stop() - stop the VM.
 * @reason: any int, passed to the notifiers and kept for
 *          loom_vm_stop_reason().
 *
 * Stops LOOM_CLOCK_VIRTUAL, pauses every vCPU (as loom_pause_all_vcpus())
 * and calls the notifiers.  No-op if the VM is already stopped.
 *
 * Context: any thread but vCPU threads and notifiers; drops the BQL while
 * waiting for the vCPUs.
 * Return: 0; -EDEADLK from a vCPU thread, a notifier or an exclusive
 * section (nothing changes).
 */
LOOM_API int loom_vm_stop(int reason);

/**
 * loom_vm_start() - run the VM.
 *
 * Starts LOOM_CLOCK_VIRTUAL, calls the notifiers and resumes every vCPU.
 * No-op if it runs already.  The VM runs initially.
 *
 * Context: as loom_vm_stop().
 * Return: 0, or -EDEADLK as loom_vm_stop().
 */
LOOM_API int loom_vm_start(void);

/**
 * loom_vm_running() - whether the VM runs.
 * Context: any.  Return: false between loom_vm_stop() and loom_vm_start().
 */
LOOM_API bool loom_vm_running(void);

/**
 * loom_vm_stop_reason() - the reason of the last loom_vm_stop().
 * Context: any.  Return: it, or 0 while the VM runs.
 */
LOOM_API int loom_vm_stop_reason(void);

/**
 * loom_accel_dummy - an accelerator for tests (thread per vCPU).
 *
 * Its exec either waits for a kick (returning LOOM_EXIT_KICKED) or, once
 * a step function is set (loom_accel_dummy_set_step()), calls it in a loop
 * inside the exec bracket until it returns non-zero (which exec returns)
 * or a kick arrives.  Copy it and change thread_mode for round-robin, or
 * use loom_accel_dummy_rr.
 */
LOOM_API extern const struct loom_accel_ops loom_accel_dummy;

/** loom_accel_dummy_rr - loom_accel_dummy with LOOM_THREAD_ROUND_ROBIN. */
LOOM_API extern const struct loom_accel_ops loom_accel_dummy_rr;

/**
 * typedef loom_dummy_step_fn - one step of dummy guest code.
 * @cpu: the vCPU.
 * @opaque: the pointer given to loom_accel_dummy_set_step().
 *
 * Callback: vcpu(cpu), inside exec, without the BQL.
 * Return: 0 to go on; LOOM_EXIT_* or a negative errno to leave exec.
 */
typedef int loom_dummy_step_fn(struct loom_cpu *cpu, void *opaque);

/**
 * loom_accel_dummy_set_step() - set or clear the dummy's step function.
 * @cpu: a vCPU using a dummy accelerator (NULL is ignored).
 * @fn: the step, or NULL to wait for kicks again.
 * @opaque: passed to @fn.
 *
 * Context: before loom_cpu_start(), or vcpu(cpu) (e.g. from
 * loom_run_on_cpu()).
 */
LOOM_API void loom_accel_dummy_set_step(struct loom_cpu *cpu,
                                        loom_dummy_step_fn *fn, void *opaque);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_CPU_H */
