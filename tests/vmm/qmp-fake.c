/* SPDX-License-Identifier: MIT */
/*
 * The fake machine of the QMP tests (qmp-fake.h): run control as
 * machine.c and qmp-glue.c do it (QEMU's rules), real IOThreads, KVM
 * statistics read by the real reader from files built here.
 */
#include "qmp-fake.h"

#include "harness.h"
#include "kstats-file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <loom/loop.h>
#include <loom/main.h>

static struct fake_machine *fm(void *opaque)
{
    return opaque;
}

void fake_emit(struct fake_machine *f, const struct vmm_machine_event *ev)
{
    if (f->listener) {
        f->listener(f->listener_opaque, ev);
    }
}

static void emit_kind(struct fake_machine *f, enum vmm_machine_event_kind k,
                      enum vmm_shutdown_cause cause)
{
    struct vmm_machine_event e = {.kind = k, .cause = cause};

    fake_emit(f, &e);
}

static const struct vmm_config *op_config(void *opaque)
{
    return &fm(opaque)->cfg;
}

static enum vmm_runstate op_runstate(void *opaque)
{
    return fm(opaque)->state;
}

static int op_stop(void *opaque)
{
    struct fake_machine *f = opaque;

    if (f->state == VMM_RUNSTATE_RUNNING) {
        f->state = VMM_RUNSTATE_PAUSED;
        f->stops++;
        emit_kind(f, VMM_EVENT_STOP, VMM_SHUTDOWN_NONE);
    }
    return 0;
}

static int op_cont(void *opaque)
{
    struct fake_machine *f = opaque;

    switch (f->state) {
    case VMM_RUNSTATE_RUNNING:
        return 0;
    case VMM_RUNSTATE_SHUTDOWN:
    case VMM_RUNSTATE_INTERNAL_ERROR:
    case VMM_RUNSTATE_GUEST_PANICKED:
        return -EBUSY;
    default:
        break;
    }
    f->state = VMM_RUNSTATE_RUNNING;
    f->conts++;
    emit_kind(f, VMM_EVENT_RESUME, VMM_SHUTDOWN_NONE);
    return 0;
}

static int op_system_reset(void *opaque)
{
    struct fake_machine *f = opaque;

    f->resets++;
    emit_kind(f, VMM_EVENT_RESET, VMM_SHUTDOWN_HOST_QMP_SYSTEM_RESET);
    return 0;
}

static void op_quit(void *opaque)
{
    struct fake_machine *f = opaque;

    f->quits++;
    emit_kind(f, VMM_EVENT_SHUTDOWN, VMM_SHUTDOWN_HOST_QMP_QUIT);
}

static int op_add_listener(void *opaque, vmm_machine_listener_fn *fn,
                           void *fn_opaque)
{
    struct fake_machine *f = opaque;

    if (f->listener) {
        return -ENOSPC;
    }
    f->listener = fn;
    f->listener_opaque = fn_opaque;
    return 0;
}

static void op_remove_listener(void *opaque, vmm_machine_listener_fn *fn,
                               void *fn_opaque)
{
    struct fake_machine *f = opaque;

    g_assert_true(f->listener == fn && f->listener_opaque == fn_opaque);
    f->listener = NULL;
    f->listener_opaque = NULL;
}

static void op_kvm(void *opaque, bool *present, bool *enabled)
{
    *present = true;
    *enabled = true;
}

static unsigned op_nr_cpus(void *opaque)
{
    return fm(opaque)->nr_cpus;
}

static int op_cpu_info(void *opaque, unsigned i,
                       struct vmm_machine_cpu_info *info)
{
    struct fake_machine *f = opaque;

    if (i >= f->nr_cpus) {
        return -EINVAL;
    }
    info->index = i;
    info->thread_id = 5000 + (int)i;
    info->thread_in_core = i % f->threads;
    info->core_id = (i / f->threads) % f->cores;
    info->socket_id = i / (f->threads * f->cores);
    return 0;
}

static int op_cpu_stats(void *opaque, unsigned i,
                        struct vmm_machine_cpu_stats *st)
{
    struct fake_machine *f = opaque;

    if (i >= f->nr_cpus) {
        return -EINVAL;
    }
    memset(st, 0, sizeof(*st));
    st->runs = 100 + i;
    st->exits_io = 10 + i;
    st->exec_count = 1;
    st->guest_ns = 1000000 * (i + 1);
    st->last_exit_reason = KVM_EXIT_IO;
    return 0;
}

static int op_kvm_stats(void *opaque, int cpu, struct vmm_kstats **ret)
{
    static const struct kstats_desc vcpu[] = {
        {KVM_STATS_TYPE_CUMULATIVE, 0, 1, 0, 0, "exits"},
        {KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_BOOLEAN, 0, 1, 8, 0,
         "guest_mode"},
        {KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, -9, 4, 16, 0,
         "halt_wait_hist"},
        {KVM_STATS_TYPE_LINEAR_HIST, 0, 2, 48, 8, "lin_hist"},
    };
    static const struct kstats_desc vm[] = {
        {KVM_STATS_TYPE_CUMULATIVE, 0, 1, 0, 0, "remote_tlb_flush"},
        {KVM_STATS_TYPE_PEAK, 0, 1, 8, 0, "max_mmu_rmap_size"},
    };
    struct fake_machine *f = opaque;
    uint64_t data[8] = {1000 + (uint64_t)cpu, 1, 1, 2, 3, 4, 5, 6};
    int fd, r;

    f->kstats_reads++;
    if (f->kstats_err) {
        return f->kstats_err;
    }
    if (cpu >= (int)f->nr_cpus || cpu < -1) {
        return -EINVAL;
    }
    fd = cpu < 0 ? kstats_file(vm, G_N_ELEMENTS(vm), data, 2, 48)
                 : kstats_file(vcpu, G_N_ELEMENTS(vcpu), data, 8, 48);
    r = vmm_kstats_read(fd, ret);
    close(fd);
    return r;
}

static unsigned op_nr_iothreads(void *opaque)
{
    return fm(opaque)->cfg.nr_iothreads;
}

static int tid_fn(void *arg)
{
    return (int)gettid();
}

static int op_iothread_info(void *opaque, unsigned i,
                            struct vmm_machine_iothread_info *info)
{
    struct fake_machine *f = opaque;

    if (i >= f->cfg.nr_iothreads) {
        return -EINVAL;
    }
    info->id = f->cfg.iothreads[i].id;
    info->thread_id = loom_iothread_run(f->io[i], tid_fn, NULL);
    info->poll_max_ns = f->poll[i][0];
    info->poll_grow = f->poll[i][1];
    info->poll_shrink = f->poll[i][2];
    info->aio_max_batch = 0;
    info->io = f->io[i];
    return 0;
}

static int op_iothread_set_poll(void *opaque, unsigned i, int64_t max_ns,
                                int64_t grow, int64_t shrink)
{
    struct fake_machine *f = opaque;
    int r;

    if (f->set_poll_err) {
        return f->set_poll_err;
    }
    r = loom_loop_set_poll_params(loom_iothread_loop(f->io[i]), max_ns, grow,
                                  shrink);
    if (r == 0) {
        f->poll[i][0] = max_ns;
        f->poll[i][1] = grow;
        f->poll[i][2] = shrink;
    }
    return r;
}

static unsigned op_nr_drives(void *opaque)
{
    return fm(opaque)->nr_drives;
}

static int op_drive_info(void *opaque, unsigned i,
                         struct vmm_machine_drive_info *info)
{
    struct fake_machine *f = opaque;

    if (i >= f->nr_drives) {
        return -EINVAL;
    }
    memset(info, 0, sizeof(*info));
    info->index = i;
    info->id = i ? NULL : "vda";
    info->drive = i ? "d1" : "d0";
    info->file = i ? "/images/d1.img" : "/images/d0.img";
    info->size = (i + 1) << 20;
    info->actual_size = 4096;
    info->readonly = i == 1;
    info->direct = i == 0;
    info->num_queues = 2;
    for (unsigned q = 0; q < 2; q++) {
        int io = f->vq_io[i][q];

        info->queue_iothread[q] = io < 0 ? NULL : f->cfg.iothreads[io].id;
    }
    info->io_status = f->io_status[i];
    return 0;
}

static int op_drive_stats(void *opaque, unsigned i,
                          struct vmm_machine_drive_stats *st)
{
    struct fake_machine *f = opaque;

    if (i >= f->nr_drives) {
        return -EINVAL;
    }
    memset(st, 0, sizeof(*st));
    st->rd_ops = 10 + i;
    st->wr_ops = 20;
    st->wr_bytes = 81920;
    st->unmap_ops = 3;
    st->failed_unmap = 1;
    st->unmap_bytes = 8192;
    st->failed_wr = 2;
    st->invalid_rd = 4;
    st->wr_highest_offset = 1ull << 20;
    st->flush_ops = 6;
    st->syncs = 5 + i;
    st->queue[1].processed = 7;
    st->queue[1].kicks = 5;
    st->queue[1].answered = 5;
    st->queue[1].dropped = 1;
    st->queue[1].wait[0] = 6;
    st->queue[1].wait[20] = 1;
    st->queue[1].service[12] = 5;
    st->queue[1].service_ns = 5 * 5000;
    return 0;
}

static int op_set_vq_mapping(void *opaque, unsigned i, const unsigned *io)
{
    struct fake_machine *f = opaque;

    g_assert_cmpuint(i, <, f->nr_drives);
    if (f->set_vq_map_err) {
        return f->set_vq_map_err;
    }
    for (unsigned q = 0; q < 2; q++) {
        g_assert_cmpuint(io[q], <, f->cfg.nr_iothreads);
        f->vq_io[i][q] = (int)io[q];
    }
    f->vq_moves++;
    return 0;
}

const struct vmm_monitor_ops fake_ops = {
    .config = op_config,
    .runstate = op_runstate,
    .stop = op_stop,
    .cont = op_cont,
    .system_reset = op_system_reset,
    .quit = op_quit,
    .add_listener = op_add_listener,
    .remove_listener = op_remove_listener,
    .kvm = op_kvm,
    .nr_cpus = op_nr_cpus,
    .cpu_info = op_cpu_info,
    .cpu_stats = op_cpu_stats,
    .kvm_stats = op_kvm_stats,
    .nr_iothreads = op_nr_iothreads,
    .iothread_info = op_iothread_info,
    .iothread_set_poll = op_iothread_set_poll,
    .nr_drives = op_nr_drives,
    .drive_info = op_drive_info,
    .drive_stats = op_drive_stats,
    .set_vq_mapping = op_set_vq_mapping,
};

void fake_init(struct fake_machine *f, unsigned cpus, const char *name)
{
    memset(f, 0, sizeof(*f));
    g_assert_cmpuint(cpus, <=, FAKE_MAX_CPUS);
    f->state = VMM_RUNSTATE_RUNNING;
    f->nr_cpus = cpus;
    f->sockets = cpus % 2 == 0 ? 2 : 1;
    f->threads = 1;
    f->cores = cpus / f->sockets;
    f->cfg.name = name ? g_strdup(name) : NULL;
    f->cfg.nr_iothreads = FAKE_IOTHREADS;
    f->vq_io[1][0] = f->vq_io[1][1] = -1;
    for (unsigned i = 0; i < FAKE_IOTHREADS; i++) {
        f->cfg.iothreads[i].id = g_strdup_printf("io%u", i);
        g_assert_cmpint(
            loom_iothread_new(f->cfg.iothreads[i].id, NULL, &f->io[i]), ==, 0);
        f->poll[i][0] = LOOM_IOTHREAD_POLL_MAX_NS_DEFAULT;
    }
}

void fake_destroy(struct fake_machine *f)
{
    g_assert_null(f->listener);
    for (unsigned i = 0; i < FAKE_IOTHREADS; i++) {
        loom_iothread_free(f->io[i]);
        g_free(f->cfg.iothreads[i].id);
    }
    g_free(f->cfg.name);
}

void qmp_test_main_init(void)
{
    g_assert_cmpint(loom_main_init(), ==, 0);
    loom_bql_lock();
    qclient_pump = harness_main_loop_step;
}

void qmp_test_main_cleanup(void)
{
    qclient_pump = NULL;
    loom_bql_unlock();
    loom_main_cleanup();
}

void qmp_spin(int n)
{
    while (n-- > 0) {
        harness_main_loop_step();
    }
}

void qclient_pair(struct qclient *c, struct vmm_monitor *mon, bool pretty)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==,
                    0);
    g_assert_cmpint(vmm_monitor_add_fd(mon, sv[1], pretty), ==, 0);
    qclient_init(c, sv[0], sv[0]);
}
