/* SPDX-License-Identifier: MIT */
/*
 * The machine's side of the QMP monitor: the queries and hooks of
 * machine.h that the monitor's commands need (vCPUs, IOThreads, KVM
 * statistics, listeners), QEMU's run-control rules for QMP's stop and
 * system_reset, and the struct vmm_monitor_ops that hands all of it to
 * vmm/monitor.  Main thread, BQL held, except the functions run on a
 * vCPU's or an IOThread's thread, which say so.
 */
#include "machine/machine-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loom/cpu.h>
#include <loom/iothread.h>
#include <loom/loop.h>

#include "arch/x86_64/cpuid.h"
#include "monitor/monitor.h"

/* How long teardown waits for slow clients to take what they are owed. */
#define MONITOR_FLUSH_NS 1000000000ll

void vmm_machine_remove_listener(struct vmm_machine *m,
                                 vmm_machine_listener_fn *fn, void *opaque)
{
    unsigned i;

    for (i = 0; i < m->nr_listeners; i++) {
        if (m->listeners[i].fn == fn && m->listeners[i].opaque == opaque) {
            memmove(&m->listeners[i], &m->listeners[i + 1],
                    (m->nr_listeners - i - 1) * sizeof(m->listeners[0]));
            m->nr_listeners--;
            return;
        }
    }
}

/* ------------------------------------------------------------------ */
/* vCPUs                                                               */
/* ------------------------------------------------------------------ */

unsigned vmm_machine_nr_cpus(struct vmm_machine *m)
{
    return m->nr_vcpus;
}

int vmm_machine_cpu_info(struct vmm_machine *m, unsigned i,
                         struct vmm_machine_cpu_info *info)
{
    struct vmm_x86_topo t = vmm__machine_topo(m->cfg);

    if (i >= m->nr_vcpus || !info) {
        return -EINVAL;
    }
    /* The index runs threads fastest, then cores, then sockets (QEMU's
     * order, and the APIC IDs' in arch/x86_64/cpuid.c). */
    info->index = i;
    info->thread_id = vmm_kvm_vcpu_tid(m->vcpus[i]);
    info->thread_in_core = i % t.threads;
    info->core_id = (i / t.threads) % t.cores;
    info->socket_id = i / (t.threads * t.cores);
    return 0;
}

int vmm_machine_cpu_stats(struct vmm_machine *m, unsigned i,
                          struct vmm_machine_cpu_stats *st)
{
    struct vmm_kvm_vcpu_stats ks;
    struct loom_cpu_stats cs;
    int r;

    if (i >= m->nr_vcpus || !st) {
        return -EINVAL;
    }
    r = loom_cpu_stats(vmm_kvm_vcpu_cpu(m->vcpus[i]), &cs);
    if (r == 0) {
        r = vmm_kvm_vcpu_stats(m->vcpus[i], &ks);
    }
    if (r < 0) {
        return r;
    }
    st->exec_count = cs.exec_count;
    st->kicks = cs.kicks;
    st->work_items = cs.work_items;
    st->safe_work_items = cs.safe_work_items;
    st->halts = cs.halts;
    st->stops = cs.stops;
    st->runs = ks.runs;
    st->exits_io = ks.exits_io;
    st->exits_mmio = ks.exits_mmio;
    st->exits_intr = ks.exits_intr;
    st->exits_other = ks.exits_other;
    st->signal_kicks = ks.kicks;
    st->guest_ns = ks.guest_ns;
    st->last_exit_reason = ks.last_exit_reason;
    return 0;
}

struct stats_fd_req {
    struct vmm_kvm_vcpu *vcpu;
    int ret;
};

/* Callback: the vCPU's thread (vCPU ioctls are issued there only). */
static void stats_fd_fn(struct loom_cpu *cpu, void *data)
{
    struct stats_fd_req *q = data;
    int unused = 0;

    /* KVM_GET_STATS_FD takes no argument; the wrapper wants a pointer. */
    q->ret = vmm_kvm_vcpu_ioctl(q->vcpu, KVM_GET_STATS_FD, &unused);
}

int vmm_machine_kvm_stats(struct vmm_machine *m, int cpu,
                          struct vmm_kstats **ret)
{
    struct stats_fd_req q = {.ret = -EINVAL};
    int fd, r;

    if (!ret || cpu < -1 || (cpu >= 0 && (unsigned)cpu >= m->nr_vcpus)) {
        return -EINVAL;
    }
    if (cpu < 0) {
        fd = vmm_kvm_vm_ioctl(m->vm, KVM_GET_STATS_FD, NULL);
    } else {
        q.vcpu = m->vcpus[cpu];
        r = loom_run_on_cpu(vmm_kvm_vcpu_cpu(q.vcpu), stats_fd_fn, &q);
        fd = r < 0 ? r : q.ret;
    }
    if (fd < 0) {
        return fd;
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    r = vmm_kstats_read(fd, ret);
    close(fd);
    return r;
}

/* ------------------------------------------------------------------ */
/* IOThreads                                                           */
/* ------------------------------------------------------------------ */

unsigned vmm_machine_nr_iothreads(struct vmm_machine *m)
{
    return m->nr_iothreads;
}

/* The settings machine.c gave the IOThread, as the monitor last saw or
 * changed them. */
static struct vmm_machine_io_state *io_state(struct vmm_machine *m, unsigned i)
{
    const struct vmm_config_iothread *c = &m->cfg->iothreads[i];
    struct vmm_machine_io_state *s = &m->io_state[i];

    if (!s->known) {
        /* The defaults create_iothreads() applies (QEMU's). */
        s->poll_max_ns = c->poll_max_ns >= 0
                             ? c->poll_max_ns
                             : LOOM_IOTHREAD_POLL_MAX_NS_DEFAULT;
        s->poll_grow = c->poll_grow >= 0 ? c->poll_grow : 0;
        s->poll_shrink = c->poll_shrink >= 0 ? c->poll_shrink : 0;
        s->known = true;
    }
    return s;
}

/* Callback: the IOThread's own thread. */
static int tid_fn(void *arg)
{
    return (int)gettid();
}

int vmm_machine_iothread_info(struct vmm_machine *m, unsigned i,
                              struct vmm_machine_iothread_info *info)
{
    struct vmm_machine_io_state *s;
    int64_t batch;

    if (i >= m->nr_iothreads || !info) {
        return -EINVAL;
    }
    s = io_state(m, i);
    if (s->tid == 0) {
        int tid = loom_iothread_run(m->iothreads[i], tid_fn, NULL);

        if (tid < 0) {
            return tid;
        }
        s->tid = tid;
    }
    batch = m->cfg->iothreads[i].aio_max_batch;
    info->id = m->cfg->iothreads[i].id;
    info->thread_id = s->tid;
    info->poll_max_ns = s->poll_max_ns;
    info->poll_grow = s->poll_grow;
    info->poll_shrink = s->poll_shrink;
    info->aio_max_batch = batch >= 0 ? batch : 0;
    info->io = m->iothreads[i];
    return 0;
}

int vmm_machine_iothread_set_poll(struct vmm_machine *m, unsigned i,
                                  int64_t max_ns, int64_t grow, int64_t shrink)
{
    struct vmm_machine_io_state *s;
    int r;

    if (i >= m->nr_iothreads) {
        return -EINVAL;
    }
    s = io_state(m, i);
    r = loom_loop_set_poll_params(loom_iothread_loop(m->iothreads[i]), max_ns,
                                  grow, shrink);
    if (r < 0) {
        return r;
    }
    s->poll_max_ns = max_ns;
    s->poll_grow = grow;
    s->poll_shrink = shrink;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Block devices                                                       */
/* ------------------------------------------------------------------ */

unsigned vmm_machine_nr_drives(struct vmm_machine *m)
{
    return m->nr_virtio;
}

/* The image file behind a drive's file= (x-loom-fault:SPEC:IMAGE too). */
static const char *image_path(const char *file)
{
    const char *p;

    if (strncmp(file, "x-loom-fault:", 13) == 0 &&
        (p = strchr(file + 13, ':'))) {
        return p + 1;
    }
    return file;
}

int vmm_machine_drive_info(struct vmm_machine *m, unsigned i,
                           struct vmm_machine_drive_info *info)
{
    struct vmm_blk_info bi;
    struct stat st;
    unsigned q;

    if (i >= m->nr_virtio || !info) {
        return -EINVAL;
    }
    vmm_machine_blk_info(m->virtio[i].blk, &bi);
    memset(info, 0, sizeof(*info));
    info->index = i;
    info->id = bi.id;
    info->drive = bi.drive;
    info->file = bi.file;
    info->size = bi.size;
    if (stat(image_path(bi.file), &st) == 0) {
        info->actual_size = (uint64_t)st.st_blocks * 512;
    }
    info->readonly = bi.readonly;
    info->direct = bi.cache == VMM_CACHE_NONE;
    info->no_flush = bi.cache == VMM_CACHE_UNSAFE;
    info->num_queues = bi.num_queues;
    for (q = 0; q < bi.num_queues && q < VMM_MAX_QUEUES; q++) {
        info->queue_iothread[q] = bi.queue_iothread[q];
    }
    info->io_status = m->virtio[i].io_status;
    return 0;
}

int vmm_machine_drive_stats(struct vmm_machine *m, unsigned i,
                            struct vmm_machine_drive_stats *st)
{
    const struct vmm_virtio_blk_stats *d;
    struct vmm_blk_stats *bs;
    struct vmm_blk_info bi;
    unsigned q;

    if (i >= m->nr_virtio || !st) {
        return -EINVAL;
    }
    bs = malloc(sizeof(*bs));
    if (!bs) {
        return -ENOMEM;
    }
    vmm_machine_blk_stats(m->virtio[i].blk, bs);
    vmm_machine_blk_info(m->virtio[i].blk, &bi);
    d = &bs->dev;
    memset(st, 0, sizeof(*st));
    st->rd_ops = d->rd_ops;
    st->wr_ops = d->wr_ops;
    st->flush_ops = d->flush_ops;
    st->unmap_ops = d->discard_ops;
    st->rd_bytes = d->rd_bytes;
    st->wr_bytes = d->wr_bytes;
    st->unmap_bytes = d->unmap_bytes;
    st->rd_ns = d->rd_ns;
    st->wr_ns = d->wr_ns;
    st->flush_ns = d->flush_ns;
    st->unmap_ns = d->unmap_ns;
    st->failed_rd = d->failed_rd;
    st->failed_wr = d->failed_wr;
    st->failed_flush = d->failed_flush;
    st->failed_unmap = d->failed_unmap;
    st->invalid_rd = d->invalid_rd;
    st->invalid_wr = d->invalid_wr;
    st->invalid_flush = d->invalid_flush;
    st->invalid_unmap = d->invalid_unmap;
    st->wr_highest_offset = d->wr_highest_offset;
    st->retried = d->retried;
    st->syncs = bs->backend.syncs;
    for (q = 0; q < bi.num_queues && q < VMM_MAX_QUEUES; q++) {
        const struct vmm_blk_queue_stats *s = &bs->queue[q];

        struct vmm_machine_vq_stats *v = &st->queue[q];

        *v = (struct vmm_machine_vq_stats){
            s->kicks, s->kicks_ignored,   s->poll_hits, s->processed,
            s->irqs,  s->irqs_suppressed, s->broken,    s->notify_suppressed,
        };
        v->answered = s->lat.answered;
        v->dropped = s->dropped;
        v->moves = s->moves;
        memcpy(v->wait, s->wait.bucket, sizeof(v->wait));
        memcpy(v->service, s->lat.service.bucket, sizeof(v->service));
        v->wait_ns = s->wait.sum_ns;
        v->service_ns = s->lat.service.sum_ns;
    }
    free(bs);
    return 0;
}

_Static_assert(VMM_MACHINE_LAT_BUCKETS == VMM_BLK_LAT_BUCKETS,
               "one histogram layout");

int vmm_machine_set_vq_mapping(struct vmm_machine *m, unsigned i,
                               const unsigned *iothread)
{
    struct vmm_blk_info bi;
    unsigned q;
    int r;

    if (i >= m->nr_virtio || !iothread) {
        return -EINVAL;
    }
    vmm_machine_blk_info(m->virtio[i].blk, &bi);
    for (q = 0; q < bi.num_queues; q++) {
        if (iothread[q] >= m->nr_iothreads) {
            return -EINVAL;
        }
    }
    for (q = 0; q < bi.num_queues; q++) {
        unsigned io = iothread[q];

        r = vmm_machine_blk_move_queue(m->virtio[i].blk, q,
                                       &m->cfg->iothreads[io],
                                       loom_iothread_loop(m->iothreads[io]));
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

/* QEMU clears a device's io-status at cont and at a reset. */
static void clear_io_status(struct vmm_machine *m)
{
    unsigned i;

    for (i = 0; i < m->nr_virtio; i++) {
        m->virtio[i].io_status = 0;
    }
}

/* ------------------------------------------------------------------ */
/* The monitor's operations                                            */
/* ------------------------------------------------------------------ */

static const struct vmm_config *op_config(void *opaque)
{
    return vmm_machine_config(opaque);
}

static enum vmm_runstate op_runstate(void *opaque)
{
    return vmm_machine_runstate(opaque);
}

/* QEMU's stop only stops a running VM: prelaunch stays prelaunch. */
static int op_stop(void *opaque)
{
    struct vmm_machine *m = opaque;

    if (m->state != VMM_RUNSTATE_RUNNING) {
        return 0;
    }
    return vmm_machine_stop(m, VMM_RUNSTATE_PAUSED);
}

static int op_cont(void *opaque)
{
    int r = vmm_machine_cont(opaque);

    if (r == 0) {
        clear_io_status(opaque);
    }
    return r;
}

/*
 * QEMU's system_reset under -no-reboot is a shutdown (reason
 * host-qmp-system-reset): the process ends, or with -no-shutdown the VM
 * stops in the shutdown state.
 */
static int op_system_reset(void *opaque)
{
    struct vmm_machine *m = opaque;
    struct vmm_machine_event e = {
        .kind = VMM_EVENT_SHUTDOWN,
        .cause = VMM_SHUTDOWN_HOST_QMP_SYSTEM_RESET,
    };

    if (!m->cfg->no_reboot) {
        clear_io_status(m);
        return vmm_machine_reset(m, VMM_SHUTDOWN_HOST_QMP_SYSTEM_RESET);
    }
    if (!m->cfg->no_shutdown) {
        vmm_machine_quit(m, VMM_SHUTDOWN_HOST_QMP_SYSTEM_RESET, 0);
        return 0;
    }
    vmm_machine_emit(m, &e);
    return vmm_machine_stop(m, VMM_RUNSTATE_SHUTDOWN);
}

static void op_quit(void *opaque)
{
    vmm_machine_quit(opaque, VMM_SHUTDOWN_HOST_QMP_QUIT, 0);
}

static int op_add_listener(void *opaque, vmm_machine_listener_fn *fn,
                           void *fn_opaque)
{
    return vmm_machine_add_listener(opaque, fn, fn_opaque);
}

static void op_remove_listener(void *opaque, vmm_machine_listener_fn *fn,
                               void *fn_opaque)
{
    vmm_machine_remove_listener(opaque, fn, fn_opaque);
}

static void op_kvm(void *opaque, bool *present, bool *enabled)
{
    struct stat st;

    /*
     * The machine runs on KVM: it is enabled, and present unless
     * /dev/kvm went away since.  Looked at, not opened: under -sandbox on
     * the main thread may not open files any more.
     */
    *enabled = true;
    *present = stat("/dev/kvm", &st) == 0 && S_ISCHR(st.st_mode);
}

static unsigned op_nr_cpus(void *opaque)
{
    return vmm_machine_nr_cpus(opaque);
}

static int op_cpu_info(void *opaque, unsigned i,
                       struct vmm_machine_cpu_info *info)
{
    return vmm_machine_cpu_info(opaque, i, info);
}

static int op_cpu_stats(void *opaque, unsigned i,
                        struct vmm_machine_cpu_stats *st)
{
    return vmm_machine_cpu_stats(opaque, i, st);
}

static int op_kvm_stats(void *opaque, int cpu, struct vmm_kstats **ret)
{
    return vmm_machine_kvm_stats(opaque, cpu, ret);
}

static unsigned op_nr_iothreads(void *opaque)
{
    return vmm_machine_nr_iothreads(opaque);
}

static int op_iothread_info(void *opaque, unsigned i,
                            struct vmm_machine_iothread_info *info)
{
    return vmm_machine_iothread_info(opaque, i, info);
}

static int op_iothread_set_poll(void *opaque, unsigned i, int64_t max_ns,
                                int64_t grow, int64_t shrink)
{
    return vmm_machine_iothread_set_poll(opaque, i, max_ns, grow, shrink);
}

static unsigned op_nr_drives(void *opaque)
{
    return vmm_machine_nr_drives(opaque);
}

static int op_drive_info(void *opaque, unsigned i,
                         struct vmm_machine_drive_info *info)
{
    return vmm_machine_drive_info(opaque, i, info);
}

static int op_drive_stats(void *opaque, unsigned i,
                          struct vmm_machine_drive_stats *st)
{
    return vmm_machine_drive_stats(opaque, i, st);
}

static int op_set_vq_mapping(void *opaque, unsigned i, const unsigned *iothread)
{
    return vmm_machine_set_vq_mapping(opaque, i, iothread);
}

static const struct vmm_monitor_ops g_monitor_ops = {
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

int vmm_machine_monitor_new(struct vmm_machine *m, struct vmm_monitor **ret,
                            char **errmsg)
{
    struct vmm_monitor *mon;
    unsigned i;
    int r;

    if (m->cfg->nr_qmp == 0) {
        *ret = NULL;
        return 0;
    }
    r = vmm_monitor_new(&g_monitor_ops, m, &mon);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "QMP: %s", strerror(-r));
    }
    for (i = 0; i < m->cfg->nr_qmp; i++) {
        r = vmm_monitor_add(mon, &m->cfg->qmp[i], errmsg);
        if (r < 0) {
            vmm_monitor_free(mon);
            return r;
        }
    }
    *ret = mon;
    return 0;
}

void vmm_machine_monitor_free(struct vmm_monitor *mon)
{
    vmm_monitor_flush(mon, MONITOR_FLUSH_NS);
    vmm_monitor_free(mon);
}
