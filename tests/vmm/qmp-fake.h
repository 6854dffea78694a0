/* SPDX-License-Identifier: MIT */
/*
 * What the QMP tests share (tests/vmm/test-qmp*.c): a fake machine behind
 * struct vmm_monitor_ops — run states and events as the real machine
 * has them, vCPUs with a topology, real IOThreads, KVM statistics from a
 * file built in memory — and a QMP client that talks to the monitor from
 * the test's own thread (qmp-client.h), running the main loop while it
 * waits.
 */
#ifndef LOOM_TEST_QMP_FAKE_H
#define LOOM_TEST_QMP_FAKE_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

#include <loom/iothread.h>

#include "monitor/monitor.h"
#include "qmp-client.h"

#define FAKE_MAX_CPUS 8
#define FAKE_IOTHREADS 2

struct fake_machine {
    struct vmm_config cfg;
    enum vmm_runstate state;
    unsigned nr_cpus;
    unsigned sockets, cores, threads;
    struct loom_iothread *io[FAKE_IOTHREADS];
    int64_t poll[FAKE_IOTHREADS][3];
    int set_poll_err; /* returned by iothread_set_poll when non-zero */
    int kstats_err;   /* returned by kvm_stats when non-zero */
    unsigned kstats_reads;
    unsigned stops, conts, resets, quits;
    unsigned nr_drives; /* block devices: "vda" on d0, anonymous on d1 */
    int io_status[2];   /* their io-status (0, -ENOSPC, -EIO) */
    /* Each queue's IOThread (index; -1: the main loop): vda's both on
     * io0, d1's in the main loop; x-loom-set-vq-mapping changes them. */
    int vq_io[2][2];
    unsigned vq_moves;  /* set_vq_mapping calls that succeeded */
    int set_vq_map_err; /* returned by set_vq_mapping when non-zero */
    vmm_machine_listener_fn *listener;
    void *listener_opaque;
};

/* The fake's operations (opaque: a struct fake_machine). */
extern const struct vmm_monitor_ops fake_ops;

/* A running fake with @cpus vCPUs (2 sockets x cores x 1 thread when
 * @cpus is even) and FAKE_IOTHREADS IOThreads "io0", "io1". */
void fake_init(struct fake_machine *f, unsigned cpus, const char *name);
void fake_destroy(struct fake_machine *f);
/* Emit an event as the machine would. */
void fake_emit(struct fake_machine *f, const struct vmm_machine_event *ev);

/* Main-loop set-up shared by the test programs: init, BQL, and the
 * QMP client's pump (the main loop runs while a client waits). */
void qmp_test_main_init(void);
void qmp_test_main_cleanup(void);

/* Run the main loop for a few non-blocking iterations. */
void qmp_spin(int n);

/* A client on a socketpair served by @mon (nothing read yet). */
void qclient_pair(struct qclient *c, struct vmm_monitor *mon, bool pretty);

#endif /* LOOM_TEST_QMP_FAKE_H */
