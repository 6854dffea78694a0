/* SPDX-License-Identifier: MIT */
/*
 * The QMP monitor: QEMU's machine protocol over UNIX sockets and stdio
 * (docs/design/vmm-qmp.md).  A struct vmm_monitor listens on the sockets
 * of -qmp / -mon, serves any number of clients at once (each its own
 * session: greeting, capabilities negotiation, commands, events) and
 * reaches the machine only through a struct vmm_monitor_ops, which
 * machine/qmp-glue.c implements for the real machine and the tests
 * implement with a fake one.
 *
 * Threads: everything here runs on the main thread with the BQL held —
 * the socket handlers are the main loop's legacy fd handlers (never
 * dispatched by a nested poll), and commands call the machine there.
 * Sockets are non-blocking; each session's output is bounded, and a
 * client that stops reading is dropped when its output reaches the bound.
 */
#ifndef VMM_MONITOR_MONITOR_H
#define VMM_MONITOR_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "machine/machine.h"

/* Limits (documented in docs/design/vmm-qmp.md). */
/* One message, from its first byte to its last. */
#define VMM_QMP_MAX_MSG (1024 * 1024)
/* Nesting of arrays and objects in one message. */
#define VMM_QMP_MAX_DEPTH 1024
/*
 * Output queued for one client: past this, the client is dropped.  Room
 * for the largest reply: one echoing a VMM_QMP_MAX_MSG id whose every
 * character is escaped (\uXXXX: at most 3 bytes out per byte in).
 */
#define VMM_QMP_OUT_MAX (4 * 1024 * 1024)
/* Output queued above which a client's further commands wait. */
#define VMM_QMP_OUT_PAUSE (64 * 1024)
/* Sessions at once, over every socket; more are accepted and closed. */
#define VMM_QMP_MAX_SESSIONS 256

struct vmm_monitor;

/**
 * struct vmm_monitor_ops - what the monitor asks of the machine.
 *
 * Every callback gets the ops' opaque pointer and runs on the main
 * thread with the BQL held.  Return values follow the -errno rule; the
 * monitor turns them into QMP errors.  machine/qmp-glue.c is the real
 * implementation (vmm_machine_monitor_new()).
 *
 * @config: the configuration (name, topology, iothread ids, drives).
 * @runstate: the run state.
 * @stop: QMP stop (a no-op unless running, as QEMU).
 * @cont: QMP cont; -EBUSY when the VM must be reset first.
 * @system_reset: QMP system_reset (with -no-reboot a shutdown, as QEMU).
 * @quit: QMP quit: the main loop ends after this command's reply.
 * @add_listener: be told of machine events; 0 or -errno.
 * @remove_listener: undo @add_listener.
 * @kvm: whether KVM is present and enabled (query-kvm).
 * @nr_cpus: number of vCPUs.
 * @cpu_info: vCPU @i's identity (query-cpus-fast); -EINVAL past the end.
 * @cpu_stats: vCPU @i's counters (x-loom-query-stats).
 * @kvm_stats: KVM's binary statistics of vCPU @cpu, or of the VM when
 *     @cpu is -1 (query-stats); *@ret is freed with vmm_kstats_free();
 *     -ENOTTY / -EINVAL when KVM has no binary statistics.
 * @nr_iothreads: number of IOThreads.
 * @iothread_info: IOThread @i (query-iothreads, qom-get).
 * @iothread_set_poll: set IOThread @i's polling parameters (qom-set);
 *     -EINVAL for a value the loop refuses.
 * @nr_drives: number of block devices.
 * @drive_info: block device @i (query-block).
 * @drive_stats: block device @i's counters (query-blockstats,
 *     x-loom-query-stats).
 * @set_vq_mapping: serve block device @i's queues from the IOThreads
 *     @iothread[q] (indices, one per queue, num_queues of them; the
 *     monitor checked them), moving the queues whose IOThread changes
 *     while the guest runs (x-loom-set-vq-mapping); 0 or -errno.
 */
struct vmm_monitor_ops {
    const struct vmm_config *(*config)(void *opaque);
    enum vmm_runstate (*runstate)(void *opaque);
    int (*stop)(void *opaque);
    int (*cont)(void *opaque);
    int (*system_reset)(void *opaque);
    void (*quit)(void *opaque);
    int (*add_listener)(void *opaque, vmm_machine_listener_fn *fn,
                        void *fn_opaque);
    void (*remove_listener)(void *opaque, vmm_machine_listener_fn *fn,
                            void *fn_opaque);
    void (*kvm)(void *opaque, bool *present, bool *enabled);
    unsigned (*nr_cpus)(void *opaque);
    int (*cpu_info)(void *opaque, unsigned i,
                    struct vmm_machine_cpu_info *info);
    int (*cpu_stats)(void *opaque, unsigned i,
                     struct vmm_machine_cpu_stats *st);
    int (*kvm_stats)(void *opaque, int cpu, struct vmm_kstats **ret);
    unsigned (*nr_iothreads)(void *opaque);
    int (*iothread_info)(void *opaque, unsigned i,
                         struct vmm_machine_iothread_info *info);
    int (*iothread_set_poll)(void *opaque, unsigned i, int64_t max_ns,
                             int64_t grow, int64_t shrink);
    unsigned (*nr_drives)(void *opaque);
    int (*drive_info)(void *opaque, unsigned i,
                      struct vmm_machine_drive_info *info);
    int (*drive_stats)(void *opaque, unsigned i,
                       struct vmm_machine_drive_stats *st);
    int (*set_vq_mapping)(void *opaque, unsigned i, const unsigned *iothread);
};

/**
 * vmm_monitor_new() - a monitor with no socket yet.
 * @ops: the machine's side (must outlive the monitor).
 * @opaque: passed to @ops.
 * @ret: receives the monitor.
 *
 * Registers a machine listener (events go to every session in command
 * mode).
 *
 * Context: main thread, bql, after loom_main_init().
 * Return: 0; -EINVAL for NULL arguments; -ENOMEM; @ops->add_listener's
 * error.
 */
int vmm_monitor_new(const struct vmm_monitor_ops *ops, void *opaque,
                    struct vmm_monitor **ret);

/**
 * vmm_monitor_add() - serve one -qmp / -mon.
 * @mon: the monitor.
 * @cfg: UNIX (server: listen on the path, replacing a stale socket file;
 *     with wait the call runs the main loop until the first client
 *     connects or a shutdown is requested) or STDIO (one session on
 *     standard input and output).
 * @errmsg: receives a malloc'ed one-line message on failure, or NULL.
 *
 * Context: main thread, bql.
 * Return: 0; -EINVAL for another kind or a client (server=off) socket;
 * -ENAMETOOLONG; -EINTR if a shutdown came while waiting; -ENOSPC past
 * VMM_MAX_QMP; the negative errno of socket(), bind(), listen(), or of
 * the stdio backend (-EBUSY: stdio in use).
 */
int vmm_monitor_add(struct vmm_monitor *mon, const struct vmm_config_qmp *cfg,
                    char **errmsg);

/**
 * vmm_monitor_add_fd() - serve a connected stream socket as one session
 * (socketpair(); the tests use it).
 * @mon: the monitor.
 * @fd: the socket; the monitor owns it from now on (also on failure).
 * @pretty: indent replies (as -mon pretty=on).
 * Context: main thread, bql.
 * Return: 0; -EINVAL; -EMFILE past VMM_QMP_MAX_SESSIONS; -ENOMEM.
 */
int vmm_monitor_add_fd(struct vmm_monitor *mon, int fd, bool pretty);

/**
 * struct vmm_monitor_stats - counters of a monitor (monotonic except
 *     @sessions).
 * @sessions: sessions open now.
 * @accepted: sessions opened.
 * @refused: connections closed at once (VMM_QMP_MAX_SESSIONS reached).
 * @dropped: sessions closed because their output passed VMM_QMP_OUT_MAX
 *     or could not be written.
 * @commands: commands run.
 * @errors: error replies sent.
 * @events: events queued to sessions (one per session reached).
 */
struct vmm_monitor_stats {
    unsigned sessions;
    uint64_t accepted, refused, dropped, commands, errors, events;
};

/** vmm_monitor_stats() - read the counters.  Context: main thread, bql. */
void vmm_monitor_stats(struct vmm_monitor *mon, struct vmm_monitor_stats *st);

/**
 * vmm_monitor_flush() - write out every session's queued output (the
 * reply to quit, the last SHUTDOWN event), waiting at most @timeout_ns in
 * all for slow clients.
 * Context: main thread, bql; the main loop need not run.
 */
void vmm_monitor_flush(struct vmm_monitor *mon, int64_t timeout_ns);

/**
 * vmm_monitor_free() - close every session and socket (removing the
 * socket files) and the machine listener.  Output not yet written is
 * dropped: call vmm_monitor_flush() first.
 * @mon: the monitor, or NULL.
 * Context: main thread, bql.
 */
void vmm_monitor_free(struct vmm_monitor *mon);

#endif /* VMM_MONITOR_MONITOR_H */
