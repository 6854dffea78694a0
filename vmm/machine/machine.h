/* SPDX-License-Identifier: MIT */
/*
 * The machine: the one place that knows everything.  vmm_machine_create()
 * builds a QEMU-microvm-shaped VM from a struct vmm_config in a fixed
 * order — guest RAM, KVM memory slots, the in-kernel irqchip (before any
 * vCPU: KVM refuses it afterwards), the buses and devices, IOThreads, the
 * kernel and its boot data, vCPUs — and vmm_machine_destroy() tears it
 * down in reverse.
 *
 * Threads (VMM.md, "Threads"): the main thread runs the main loop with the
 * BQL held around dispatch; it owns run control (stop, cont, reset, quit),
 * signals and every terminal or socket.  vCPU threads run KVM_RUN and take
 * the BQL only for BQL regions.  IOThreads serve virtqueues without it.
 * Everything here is called on the main thread with the BQL held unless
 * its comment says otherwise.
 *
 * libloom's vCPU layer is process-global (one CPU list, one run state), so
 * one process holds one machine at a time.
 */
#ifndef VMM_MACHINE_MACHINE_H
#define VMM_MACHINE_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct vmm_machine;
struct loom_iothread;

/**
 * enum vmm_runstate - QEMU's run states, as query-status names them.
 */
enum vmm_runstate {
    VMM_RUNSTATE_PRELAUNCH, /* -S, before the first cont */
    VMM_RUNSTATE_RUNNING,
    VMM_RUNSTATE_PAUSED,         /* stop */
    VMM_RUNSTATE_SHUTDOWN,       /* guest shut down, -no-shutdown given */
    VMM_RUNSTATE_INTERNAL_ERROR, /* KVM could not run the guest */
    VMM_RUNSTATE_IO_ERROR,       /* werror/rerror=stop hit an error */
    VMM_RUNSTATE_GUEST_PANICKED,
};

/** vmm_runstate_name() - QEMU's name ("running" ...).  Context: any. */
const char *vmm_runstate_name(enum vmm_runstate st);

/**
 * enum vmm_shutdown_cause - why the VM shut down or reset, with QEMU's
 * names (the SHUTDOWN and RESET events' "reason").
 */
enum vmm_shutdown_cause {
    VMM_SHUTDOWN_NONE,
    VMM_SHUTDOWN_HOST_ERROR,
    VMM_SHUTDOWN_HOST_QMP_QUIT,
    VMM_SHUTDOWN_HOST_QMP_SYSTEM_RESET,
    VMM_SHUTDOWN_HOST_SIGNAL,
    VMM_SHUTDOWN_HOST_UI, /* Ctrl-a x on a multiplexed console */
    VMM_SHUTDOWN_GUEST_SHUTDOWN,
    VMM_SHUTDOWN_GUEST_RESET,
    VMM_SHUTDOWN_GUEST_PANIC,
};

/** vmm_shutdown_cause_name() - QEMU's name ("guest-reset" ...).
 * Context: any. */
const char *vmm_shutdown_cause_name(enum vmm_shutdown_cause c);

/**
 * enum vmm_machine_event_kind - what the machine tells its listeners
 * (QMP turns them into events of the same names).
 */
enum vmm_machine_event_kind {
    VMM_EVENT_STOP,
    VMM_EVENT_RESUME,
    VMM_EVENT_SHUTDOWN,
    VMM_EVENT_RESET,
    VMM_EVENT_BLOCK_IO_ERROR,
};

/**
 * struct vmm_machine_event - one event.
 * @kind: which.
 * @guest: SHUTDOWN/RESET: whether the guest caused it.
 * @cause: SHUTDOWN/RESET: why.
 * @device: BLOCK_IO_ERROR: the device id ("" if none).
 * @node: BLOCK_IO_ERROR: the drive id.
 * @is_write: BLOCK_IO_ERROR: whether a write failed.
 * @action: BLOCK_IO_ERROR: "report", "ignore" or "stop".
 * @nospace: BLOCK_IO_ERROR: the error was ENOSPC.
 * @reason: BLOCK_IO_ERROR: strerror of the error.
 */
struct vmm_machine_event {
    enum vmm_machine_event_kind kind;
    bool guest;
    enum vmm_shutdown_cause cause;
    const char *device;
    const char *node;
    bool is_write;
    const char *action;
    bool nospace;
    const char *reason;
};

/**
 * typedef vmm_machine_listener_fn - receive machine events.
 * Callback: the main thread, BQL held.
 */
typedef void vmm_machine_listener_fn(void *opaque,
                                     const struct vmm_machine_event *ev);

/**
 * vmm_machine_create() - build the machine described by @cfg.
 * @cfg: a parsed configuration; it must outlive the machine.
 * @ret: receives the machine.
 * @errmsg: receives a malloc'ed one-line message on failure, or NULL.
 *
 * Nothing runs guest code yet: vmm_machine_start() does that.
 *
 * Context: main thread, BQL held, after loom_main_init().
 * Return: 0; -errno with @errmsg (a missing /dev/kvm, a bad kernel file,
 * a drive that cannot be opened ...).
 */
int vmm_machine_create(const struct vmm_config *cfg, struct vmm_machine **ret,
                       char **errmsg);

/**
 * vmm_machine_start() - start the vCPU threads: running, or in the
 * prelaunch state with -S (until vmm_machine_cont()).
 * Context: main thread, BQL held.
 * Return: 0 or -errno.
 */
int vmm_machine_start(struct vmm_machine *m);

/**
 * vmm_machine_destroy() - stop everything and free it, in reverse order of
 * creation: vCPUs, devices (in-flight I/O completed), IOThreads, KVM,
 * memory.  Serial output still buffered is flushed first.
 * @m: the machine, or NULL.
 * Context: main thread, BQL held.
 */
void vmm_machine_destroy(struct vmm_machine *m);

/**
 * vmm_machine_run() - run the main loop until the VM ends.
 * Context: main thread, BQL held.
 * Return: the process exit status (0 on power-off, quit or a signal;
 * (v << 1) | 1 for isa-debug-exit value v; 1 on error).
 */
int vmm_machine_run(struct vmm_machine *m);

/** vmm_machine_runstate() - the run state.  Context: main thread, bql. */
enum vmm_runstate vmm_machine_runstate(struct vmm_machine *m);

/**
 * vmm_machine_stop() - pause the VM (QMP stop): vCPUs stopped at a safe
 * point, devices drained (in-flight I/O completed), then STOP is emitted.
 * @state: VMM_RUNSTATE_PAUSED, or IO_ERROR / INTERNAL_ERROR /
 *     SHUTDOWN / GUEST_PANICKED for stops the machine decides.
 * Context: main thread, BQL held.
 * Return: 0 (also when already stopped: the state is updated).
 */
int vmm_machine_stop(struct vmm_machine *m, enum vmm_runstate state);

/**
 * vmm_machine_cont() - resume the VM (QMP cont); from shutdown or
 * internal-error the VM must be reset first (QEMU's rule).
 * Context: main thread, BQL held.
 * Return: 0; -EBUSY from a state that needs system_reset first.
 */
int vmm_machine_cont(struct vmm_machine *m);

/**
 * vmm_machine_reset() - reset the VM (QMP system_reset, or the guest's
 * reset when -no-reboot is not given): devices reset, the kernel and its
 * boot data reloaded, every vCPU back to its power-on state; a running VM
 * keeps running.  Emits RESET.
 * @cause: VMM_SHUTDOWN_HOST_QMP_SYSTEM_RESET or VMM_SHUTDOWN_GUEST_RESET.
 * Context: main thread, BQL held.
 * Return: 0 or -errno (the VM is then left stopped in internal-error).
 */
int vmm_machine_reset(struct vmm_machine *m, enum vmm_shutdown_cause cause);

/**
 * vmm_machine_quit() - end the VM: vmm_machine_run() returns @status.
 * Emits SHUTDOWN with @cause.
 * Context: main thread, BQL held.
 */
void vmm_machine_quit(struct vmm_machine *m, enum vmm_shutdown_cause cause,
                      int status);

/**
 * vmm_machine_add_listener() - be told of machine events.
 * Context: main thread, BQL held.
 * Return: 0; -ENOSPC past a small fixed number of listeners; -EINVAL.
 */
int vmm_machine_add_listener(struct vmm_machine *m, vmm_machine_listener_fn *fn,
                             void *opaque);

/**
 * vmm_machine_emit() - send @ev to every listener (devices' events, e.g.
 * BLOCK_IO_ERROR, go through here).
 * Context: main thread, BQL held.
 */
void vmm_machine_emit(struct vmm_machine *m,
                      const struct vmm_machine_event *ev);

/**
 * vmm_machine_summary() - print -x-loom-summary's report: the time from
 * @start_ns (LOOM_CLOCK_HOST, e.g. taken first thing in main()) to the
 * guest's first console byte, and every thread with its statistics.
 * Flushes the console first, so it follows the guest's output.
 * Context: main thread, BQL held.
 */
void vmm_machine_summary(struct vmm_machine *m, int64_t start_ns, FILE *f);

/** vmm_machine_config() - the configuration.  Context: any. */
const struct vmm_config *vmm_machine_config(struct vmm_machine *m);

/* ------------------------------------------------------------------ */
/* Queries and hooks for the monitor (machine/qmp-glue.c)              */
/* ------------------------------------------------------------------ */

/**
 * vmm_machine_remove_listener() - undo vmm_machine_add_listener() (the
 * same @fn and @opaque); nothing if not registered.
 * Context: main thread, BQL held.
 */
void vmm_machine_remove_listener(struct vmm_machine *m,
                                 vmm_machine_listener_fn *fn, void *opaque);

/**
 * struct vmm_machine_cpu_info - a vCPU's identity (QMP query-cpus-fast).
 * @index: its index (QEMU's cpu-index).
 * @thread_id: its thread's kernel id, 0 before it started.
 * @socket_id: its socket in the -smp topology.
 * @core_id: its core within the socket.
 * @thread_in_core: its thread within the core.
 */
struct vmm_machine_cpu_info {
    unsigned index;
    int thread_id;
    unsigned socket_id, core_id, thread_in_core;
};

/**
 * struct vmm_machine_cpu_stats - a vCPU's counters (monotonic), from the
 * library's vCPU layer and from the KVM accelerator.
 * @exec_count: accelerator exec calls.
 * @kicks: kicks delivered by the vCPU layer.
 * @work_items: run_on_cpu-family items run on its thread.
 * @safe_work_items: of those, "safe" (exclusive) ones.
 * @halts: times it slept halted.
 * @stops: times it acknowledged a stop.
 * @runs: KVM_RUN calls.
 * @exits_io: port I/O exits.
 * @exits_mmio: MMIO exits.
 * @exits_intr: KVM_RUN interrupted (kicks, immediate exits).
 * @exits_other: any other exit.
 * @signal_kicks: kicks delivered to KVM_RUN by signal.
 * @guest_ns: time inside KVM_RUN (CLOCK_MONOTONIC nanoseconds, added at
 *     each exit; halted time, which loom-vm spends outside KVM_RUN, is
 *     not in it).
 * @last_exit_reason: KVM_EXIT_* of the last exit.
 */
struct vmm_machine_cpu_stats {
    uint64_t exec_count, kicks, work_items, safe_work_items, halts, stops;
    uint64_t runs, exits_io, exits_mmio, exits_intr, exits_other;
    uint64_t signal_kicks, guest_ns;
    uint32_t last_exit_reason;
};

/**
 * vmm_machine_nr_cpus() - the number of vCPUs.
 * Context: any.
 */
unsigned vmm_machine_nr_cpus(struct vmm_machine *m);

/**
 * vmm_machine_cpu_info() - vCPU @i's identity.
 * Context: main thread, BQL held.
 * Return: 0; -EINVAL when @i is not a vCPU.
 */
int vmm_machine_cpu_info(struct vmm_machine *m, unsigned i,
                         struct vmm_machine_cpu_info *info);

/**
 * vmm_machine_cpu_stats() - vCPU @i's counters.
 * Context: main thread, BQL held.
 * Return: 0; -EINVAL when @i is not a vCPU.
 */
int vmm_machine_cpu_stats(struct vmm_machine *m, unsigned i,
                          struct vmm_machine_cpu_stats *st);

/** enum vmm_kstat_type - a KVM statistic's kind (KVM_STATS_TYPE_*). */
enum vmm_kstat_type {
    VMM_KSTAT_CUMULATIVE,
    VMM_KSTAT_INSTANT,
    VMM_KSTAT_PEAK,
    VMM_KSTAT_LINEAR_HIST,
    VMM_KSTAT_LOG_HIST,
};

/** enum vmm_kstat_unit - a KVM statistic's unit (KVM_STATS_UNIT_*). */
enum vmm_kstat_unit {
    VMM_KSTAT_UNIT_NONE,
    VMM_KSTAT_UNIT_BYTES,
    VMM_KSTAT_UNIT_SECONDS,
    VMM_KSTAT_UNIT_CYCLES,
    VMM_KSTAT_UNIT_BOOLEAN,
};

/**
 * struct vmm_kstat - one KVM statistic and its current value.
 * @name: its name, NUL-terminated.
 * @type: its kind.
 * @unit: its unit.
 * @base: 10 or 2: the value is in units of @base to the @exponent.
 * @exponent: see @base.
 * @bucket_size: linear histograms: the width of a bucket.
 * @nr_values: 1 for a scalar, the number of buckets for a histogram.
 * @values: the values.
 */
struct vmm_kstat {
    const char *name;
    enum vmm_kstat_type type;
    enum vmm_kstat_unit unit;
    unsigned base;
    int exponent;
    uint32_t bucket_size;
    unsigned nr_values;
    const uint64_t *values;
};

/**
 * struct vmm_kstats - a snapshot of one KVM statistics file.
 * @nr: number of statistics.
 * @stats: the statistics.
 */
struct vmm_kstats {
    unsigned nr;
    struct vmm_kstat *stats;
};

/* Most statistics and values in one file (KVM has under 100 of each). */
#define VMM_KSTATS_MAX_DESC 1024
#define VMM_KSTATS_MAX_VALUES 4096

/**
 * vmm_kstats_read() - read a KVM binary statistics file (the fd
 * KVM_GET_STATS_FD returns): header, descriptors and data, read with
 * pread, so any thread may call it and the fd's offset does not matter.
 * @fd: the statistics fd.
 * @ret: receives the snapshot (vmm_kstats_free()).
 *
 * The file is checked: offsets and sizes inside it, names terminated,
 * at most VMM_KSTATS_MAX_DESC descriptors and VMM_KSTATS_MAX_VALUES
 * values.  Statistics of a type, unit or base this reader does not know
 * (a newer kernel's) are left out.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @ret; -EBADMSG for a malformed file;
 * -ENOMEM; the negative errno of pread.
 */
int vmm_kstats_read(int fd, struct vmm_kstats **ret);

/** vmm_kstats_free() - free a snapshot (NULL is ignored).  Context: any. */
void vmm_kstats_free(struct vmm_kstats *st);

/**
 * vmm_machine_kvm_stats() - read KVM's binary statistics of vCPU @cpu, or
 * of the VM when @cpu is -1 (QMP query-stats).
 * @ret: receives the snapshot (vmm_kstats_free()).
 * Context: main thread, BQL held (a vCPU's file is opened on its thread).
 * Return: 0; -EINVAL for a bad @cpu; -ENOTTY or -EINVAL when KVM has no
 * binary statistics; as vmm_kstats_read().
 */
int vmm_machine_kvm_stats(struct vmm_machine *m, int cpu,
                          struct vmm_kstats **ret);

/**
 * struct vmm_machine_iothread_info - an IOThread (QMP query-iothreads).
 * @id: its -object id.
 * @thread_id: its thread's kernel id.
 * @poll_max_ns: the adaptive polling window's maximum (0: off).
 * @poll_grow: its growth factor (0: the loop's default).
 * @poll_shrink: its shrink divisor (0: the loop's default).
 * @aio_max_batch: most requests a device submits in one batch (0: the
 *     backend's default).
 * @io: the IOThread itself (its loop's and pool's statistics).
 */
struct vmm_machine_iothread_info {
    const char *id;
    int thread_id;
    int64_t poll_max_ns, poll_grow, poll_shrink, aio_max_batch;
    struct loom_iothread *io;
};

/** vmm_machine_nr_iothreads() - the number of IOThreads.  Context: any. */
unsigned vmm_machine_nr_iothreads(struct vmm_machine *m);

/**
 * vmm_machine_iothread_info() - IOThread @i, in -object order.
 * Context: main thread, BQL held.
 * Return: 0; -EINVAL when @i is not an IOThread; the error of running
 * gettid() in it.
 */
int vmm_machine_iothread_info(struct vmm_machine *m, unsigned i,
                              struct vmm_machine_iothread_info *info);

/**
 * vmm_machine_iothread_set_poll() - change IOThread @i's adaptive polling
 * (QMP qom-set of poll-max-ns, poll-grow, poll-shrink); the new values
 * take effect at its loop's next wait.
 * Context: main thread, BQL held.
 * Return: 0; -EINVAL for a bad @i or a negative value.
 */
int vmm_machine_iothread_set_poll(struct vmm_machine *m, unsigned i,
                                  int64_t max_ns, int64_t grow,
                                  int64_t shrink);

/**
 * struct vmm_machine_drive_info - one virtio-blk device and its drive
 * (QMP query-block).
 * @index: the device's index (-device order).
 * @id: the -device id, or NULL.
 * @drive: the -drive id.
 * @file: the image as given (an x-loom-fault: prefix included).
 * @size: the image's size in bytes.
 * @actual_size: bytes the image file occupies on disk.
 * @readonly: read-only.
 * @direct: cache=none (O_DIRECT).
 * @no_flush: cache=unsafe (FLUSH acknowledged without a sync).
 * @num_queues: request queues.
 * @queue_iothread: each queue's IOThread id, NULL for the main loop.
 * @io_status: 0, or the error (-ENOSPC ...) that stopped the VM through
 *     the stop policy, until cont or a reset.
 */
struct vmm_machine_drive_info {
    unsigned index;
    const char *id;
    const char *drive;
    const char *file;
    uint64_t size, actual_size;
    bool readonly, direct, no_flush;
    unsigned num_queues;
    const char *queue_iothread[VMM_MAX_QUEUES];
    int io_status;
};

/**
 * struct vmm_machine_vq_stats - one request queue's counters.
 * @kicks: guest notifications that reached the serving loop.
 * @kicks_ignored: of those, for a queue that did not run.
 * @poll_hits: times busy-polling found requests.
 * @processed: requests taken from the ring.
 * @irqs: interrupts raised.
 * @irqs_suppressed: interrupt decisions that found none was needed.
 * @broken: times the ring was found corrupted.
 * @notify_suppressed: times processing ended with notifications off.
 * @answered: used entries pushed.
 * @dropped: requests taken but discarded unanswered by a device reset.
 * @moves: times the queue moved to another IOThread.
 * @wait: per request taken, its time in the ring (log2 ns buckets, as
 *     struct vmm_blk_lat; adds up to @processed).
 * @service: per answer, pickup to used entry (adds up to @answered).
 * @wait_ns, @service_ns: the totals of those times.
 */
#define VMM_MACHINE_LAT_BUCKETS 32
struct vmm_machine_vq_stats {
    uint64_t kicks, kicks_ignored, poll_hits, processed;
    uint64_t irqs, irqs_suppressed, broken, notify_suppressed;
    uint64_t answered, dropped, moves;
    uint64_t wait[VMM_MACHINE_LAT_BUCKETS], service[VMM_MACHINE_LAT_BUCKETS];
    uint64_t wait_ns, service_ns;
};

/**
 * struct vmm_machine_drive_stats - a device's I/O counters (QMP
 * query-blockstats; monotonic).  Times are nanoseconds from submission
 * to completion; "unmap" is DISCARD.
 * @rd_ops, @wr_ops, @flush_ops, @unmap_ops: requests by kind.
 * @rd_bytes, @wr_bytes, @unmap_bytes: bytes of the successful ones.
 * @rd_ns, @wr_ns, @flush_ns, @unmap_ns: their total time.
 * @failed_rd, @failed_wr, @failed_flush, @failed_unmap: failed by the
 *     backend.
 * @invalid_rd, @invalid_wr, @invalid_flush, @invalid_unmap: refused as
 *     malformed without I/O.
 * @wr_highest_offset: the end of the highest successful write.
 * @retried: requests held by the stop policy and submitted again.
 * @syncs: syncs the backend completed.
 * @queue: each request queue's (num_queues of them).
 */
struct vmm_machine_drive_stats {
    uint64_t rd_ops, wr_ops, flush_ops, unmap_ops;
    uint64_t rd_bytes, wr_bytes, unmap_bytes;
    uint64_t rd_ns, wr_ns, flush_ns, unmap_ns;
    uint64_t failed_rd, failed_wr, failed_flush, failed_unmap;
    uint64_t invalid_rd, invalid_wr, invalid_flush, invalid_unmap;
    uint64_t wr_highest_offset, retried, syncs;
    struct vmm_machine_vq_stats queue[VMM_MAX_QUEUES];
};

/** vmm_machine_nr_drives() - the number of virtio-blk devices.
 * Context: any. */
unsigned vmm_machine_nr_drives(struct vmm_machine *m);

/**
 * vmm_machine_drive_info() - device @i.
 * Context: main thread, BQL held.  Strings live as long as @m.
 * Return: 0; -EINVAL when @i is not a device.
 */
int vmm_machine_drive_info(struct vmm_machine *m, unsigned i,
                           struct vmm_machine_drive_info *info);

/**
 * vmm_machine_drive_stats() - device @i's counters (each read
 * atomically, not as a snapshot).
 * Context: main thread, BQL held.
 * Return: 0; -EINVAL when @i is not a device.
 */
int vmm_machine_drive_stats(struct vmm_machine *m, unsigned i,
                            struct vmm_machine_drive_stats *st);

/**
 * vmm_machine_set_vq_mapping() - serve block device @i's queues from
 * other IOThreads, while the guest runs (QMP x-loom-set-vq-mapping).
 * @m: the machine.
 * @i: the device.
 * @iothread: for each of its queues, the index of its IOThread from now
 *     on (-object order).
 *
 * Queues whose IOThread changes move one by one; on an error the queues
 * moved so far stay moved (vmm_machine_drive_info() tells).
 *
 * Context: main thread, BQL held.
 * Return: 0; -EINVAL for a bad @i or IOThread index, or a device the main
 * loop serves; the error of moving a queue.
 */
int vmm_machine_set_vq_mapping(struct vmm_machine *m, unsigned i,
                               const unsigned *iothread);

struct vmm_monitor;

/**
 * vmm_machine_monitor_new() - the QMP monitor of @m, serving every -qmp
 * and -mon of its configuration (vmm/monitor/monitor.h).
 * @m: the machine; it must outlive the monitor.
 * @ret: receives the monitor (free it with vmm_machine_monitor_free()
 *     before destroying @m).  With no -qmp or -mon, *@ret is NULL.
 * @errmsg: receives a malloc'ed one-line message on failure, or NULL.
 * Context: main thread, BQL held.
 * Return: 0; -errno with @errmsg (a socket that cannot be bound ...).
 */
int vmm_machine_monitor_new(struct vmm_machine *m, struct vmm_monitor **ret,
                            char **errmsg);

/**
 * vmm_machine_monitor_free() - write out what the clients are still owed
 * (the reply to quit, the last SHUTDOWN event; at most one second for
 * slow clients), then close the monitor.
 * @mon: the monitor, or NULL.
 * Context: main thread, BQL held.
 */
void vmm_machine_monitor_free(struct vmm_monitor *mon);

#endif /* VMM_MACHINE_MACHINE_H */
